"""relu in matrix form is decided per sign pattern of the pre-activations, at real points.

A corpus of relu answers (mse/ce/bce × every/last, general and written-out T): correct ones in varied
notations stay accepted; slips that show only in some sign patterns are rejected. Points that all lie in
one region (every a_t > 0, as after a positive bias init, or every a_t < 0) accept all but one of them, and
seven are right in both regions (only mixed patterns show them) — the former procedure's random points
could miss the pattern a slip needs in the same way. The placed points are checked from
outside: their pre-activations computed here with NumPy lie in the pattern, and the checker's truth at
them is the independent BPTT's (tests/numpy_gated.py).
"""
import random

import numpy as np
import pytest

import symrnn
from conftest import ROOT
from numpy_gated import column_forward_backward, sigmoid
from symrnn import cli
from symrnn.errors import SymrnnError
from symrnn.verification import matrixcheck
from symrnn.verification.matrixcheck import Truth, truth, value
from symrnn.verification.signs import inputs_needed, place, sign_patterns


def relu(loss="mse", output="every"):
    return symrnn.cells.elman(activation="relu", loss=loss, output=output)


def dims_for(loss):
    return (2, 3, 3) if loss == "ce" else (2, 3, 2)


def check(loss, output, steps, param, answer):
    return symrnn.verify(relu(loss, output), param, latex=answer, steps=steps, dims=dims_for(loss))


GRAD_W = r"\nabla_W L = \sum_t \delta_t h_{t-1}^\top"
BRACKET = r"(V^\top (Y_t - z_t) + W^\top \delta_{t+1})"

# (loss, output, T, param, answer)
CORRECT = [
    ("mse", "every", 2, "W", rf"\delta_t = H(a_t) \odot {BRACKET}" "\n" + GRAD_W),
    ("mse", "every", 2, "W", rf"\delta_t = \operatorname{{relu}}'(a_t) \odot {BRACKET}" "\n" + GRAD_W),
    ("mse", "every", 2, "W", rf"\delta_t = \operatorname{{diag}}(\mathbb{{1}}[a_t > 0]) {BRACKET}" "\n" + GRAD_W),
    ("mse", "every", 2, "W", rf"\delta_t = \mathbb{{1}}[a_t \geq 0] \odot {BRACKET}" "\n" + GRAD_W),  # = off 0
    ("mse", "every", 2, "W", rf"\delta_t = H(h_t) \odot {BRACKET}" "\n" + GRAD_W),      # h_t > 0 iff a_t > 0
    ("mse", "every", 3, "W", r"\gamma_t = W^\top \operatorname{diag}(H(a_{t+1})) \gamma_{t+1} + V^\top (Y_t - z_t)"
                             "\n" r"\nabla_W L = \sum_t (H(a_t) \odot \gamma_t) h_{t-1}^\top"),
    ("mse", "every", 2, "V", r"\sum_t (Y_t - z_t) \max(0, a_t)^\top"),
    ("mse", "every", 2, "U", r"\sum_t \operatorname{diag}([a_t > 0]) \frac{\partial L}{\partial h_t} x_t^\top"),
    ("mse", "every", 2, "W", r"\operatorname{diag}(H(a_2)) V^\top (Y_2 - z_2) h_1^\top + \operatorname{diag}(H(a_1)) "
                             r"(V^\top (Y_1 - z_1) + W^\top \operatorname{diag}(H(a_2)) V^\top (Y_2 - z_2)) h_0^\top"),
    ("mse", "every", 2, "h0", r"W^\top \operatorname{diag}(H(a_1)) (V^\top (Y_1 - z_1) + W^\top "
                              r"\operatorname{diag}(H(a_2)) V^\top (Y_2 - z_2))"),
    ("ce", "every", 2, "U", r"\delta_t = H(a_t) \odot (V^\top (\operatorname{softmax}(Y_t) - z_t) + W^\top "
                            r"\delta_{t+1})" "\n" r"\nabla_U L = \sum_t \delta_t x_t^\top"),
    ("bce", "every", 2, "b", r"\delta_t = H(a_t) \odot (V^\top (\sigma(Y_t) - z_t) + W^\top \delta_{t+1})"
                             "\n" r"\nabla_b L = \sum_t \delta_t"),
    ("mse", "last", 3, "b", r"\delta_T = H(a_T) \odot V^\top (Y_T - z_T)" "\n"
                            r"\delta_t = H(a_t) \odot W^\top \delta_{t+1}" "\n" r"\nabla_b L = \sum_t \delta_t"),
    ("ce", "last", 2, "W", r"\operatorname{diag}(H(a_2)) V^\top (\operatorname{softmax}(Y_2) - z_2) h_1^\top + "
                           r"\operatorname{diag}(H(a_1)) W^\top \operatorname{diag}(H(a_2)) V^\top "
                           r"(\operatorname{softmax}(Y_2) - z_2) h_0^\top"),
    ("bce", "last", 2, "h0", r"W^\top \operatorname{diag}(H(a_1)) W^\top \operatorname{diag}(H(a_2)) V^\top "
                             r"(\sigma(Y_2) - z_2)"),
    ("mse", "every", 2, "W", r"\delta_t = H(a_t) \odot (V^\top (Y_t - z_t) + W^\top \operatorname{diag}(H(a_{t+1})) "
                             r"\delta_{t+1})" "\n" + GRAD_W),                   # H twice: right, as H² = H
    ("mse", "every", 2, "W", "delta[t] = H(a[t]) * (V.T @ (Y[t] - z[t]) + W.T @ delta[t+1])\n"
                             "Sum(delta[t] @ h[t-1].T, (t, 1, T))"),
]

# (loss, output, T, param, answer, diagnosis, the regions where it is right: every a_t > 0 (+), every a_t < 0 (−);
#  '+−': right in both, wrong only where the signs are mixed)
SLIPS = [
    ("mse", "every", 2, "W", r"\delta_t = H(a_t) \odot V^\top (Y_t - z_t) + W^\top \delta_{t+1}" "\n" + GRAD_W,
     "⊙ on the wrong side of the sum", "+−"),
    ("mse", "every", 2, "V", r"\sum_t (Y_t - z_t) a_t^\top", "differs from the true value", "+"),
    ("mse", "every", 3, "W", r"\delta_3 = H(a_3) \odot V^\top (Y_3 - z_3)" "\n"
                             r"\delta_2 = H(a_3) \odot (V^\top (Y_2 - z_2) + W^\top \delta_3)" "\n"
                             r"\delta_1 = H(a_1) \odot (V^\top (Y_1 - z_1) + W^\top \delta_2)" "\n"
                             r"\nabla_W L = \delta_1 h_0^\top + \delta_2 h_1^\top + \delta_3 h_2^\top",
     "line 2 (δ2): the wrong step: a3 where a2 belongs", "+−"),
    ("mse", "every", 2, "W", r"\operatorname{diag}(H(a_2)) V^\top (Y_2 - z_2) h_1^\top + (V^\top (Y_1 - z_1) + "
                             r"W^\top \operatorname{diag}(H(a_2)) V^\top (Y_2 - z_2)) h_0^\top",
     "differs from the true value", "+"),
    ("mse", "every", 3, "W", r"\gamma_t = W^\top \operatorname{diag}(H(a_t)) \gamma_{t+1} + V^\top (Y_t - z_t)"
                             "\n" r"\nabla_W L = \sum_t (H(a_t) \odot \gamma_t) h_{t-1}^\top",
     "line 1 (γ_t): the wrong step: a_t where a_{t+1} belongs", "+−"),
    ("mse", "every", 2, "W", rf"\delta_t = \mathbb{{1}}[h_t \geq 0] \odot {BRACKET}" "\n" + GRAD_W,
     "a factor left out: H(h_t)", "+"),                                        # 1[h ≥ 0] is always 1
    ("mse", "every", 2, "W", r"\delta_2 = H(a_1) \odot V^\top (Y_2 - z_2)" "\n"
                             r"\delta_1 = H(a_1) \odot (V^\top (Y_1 - z_1) + W^\top \delta_2)" "\n"
                             r"\nabla_W L = \delta_1 h_0^\top + \delta_2 h_1^\top",
     "line 1 (δ2): the wrong step: a1 where a2 belongs", "+−"),                  # H(a_{t-1}) for H(a_t)
    ("mse", "every", 2, "W", rf"\delta_t = H(a_t) \odot {BRACKET} + (1 - H(a_t)) \odot V^\top (Y_t - z_t)" "\n"
     + GRAD_W, "an extra term: (1 - H(a_t)) ⊙ Vᵀ(Y_t - z_t)", "+"),            # vanishes where every a_t > 0
    ("mse", "every", 2, "W", rf"\delta_t = H(-a_t) \odot {BRACKET}" "\n" + GRAD_W, "differs from the true value",
     ""),
    ("mse", "every", 2, "W", rf"\delta_t = \operatorname{{relu}}(a_t) \odot {BRACKET}" "\n" + GRAD_W,
     "differs from the true value", "−"),                    # relu for relu′: right only where every a_t < 0
    ("ce", "every", 2, "U", r"\delta_t = H(a_t) \odot V^\top (\operatorname{softmax}(Y_t) - z_t) + W^\top "
                            r"\delta_{t+1}" "\n" r"\nabla_U L = \sum_t \delta_t x_t^\top",
     "⊙ on the wrong side of the sum", "+−"),
    ("bce", "every", 2, "V", r"\sum_t (\sigma(Y_t) - z_t) a_t^\top", "differs from the true value", "+"),
    ("mse", "last", 3, "b", r"\delta_T = V^\top (Y_T - z_T)" "\n" r"\delta_t = H(a_t) \odot W^\top \delta_{t+1}"
                            "\n" r"\nabla_b L = \sum_t \delta_t", "line 1 (δ_T)", "+"),
    ("ce", "last", 2, "W", r"\operatorname{diag}(H(a_2)) V^\top (\operatorname{softmax}(Y_2) - z_2) h_1^\top + "
                           r"W^\top \operatorname{diag}(H(a_2)) V^\top (\operatorname{softmax}(Y_2) - z_2) h_0^\top",
     "differs from the true value", "+−"),
    ("bce", "last", 2, "h0", r"W^\top W^\top \operatorname{diag}(H(a_2)) V^\top (\sigma(Y_2) - z_2)",
     "differs from the true value", "+−"),
    ("mse", "every", 2, "h0", r"W^\top (V^\top (Y_1 - z_1) + W^\top \operatorname{diag}(H(a_2)) V^\top (Y_2 - z_2))",
     "differs from the true value", "+"),
]


def _call(case):
    loss, output, steps, param, answer = case[:5]
    if "\\" in answer:
        return check(loss, output, steps, param, answer)
    return symrnn.verify(relu(loss, output), param, answer, steps=steps, dims=dims_for(loss))


@pytest.mark.parametrize("case", CORRECT, ids=lambda c: f"{c[0]}-{c[1]}-T{c[2]}-{c[3]}")
def test_correct_relu_answers_are_accepted_in_every_sign_pattern(case):
    v = _call(case)
    assert v.ok, v.report
    assert "sign patterns of the pre-activations a_t" in v.how


@pytest.mark.parametrize("case", SLIPS, ids=lambda c: f"{c[0]}-{c[1]}-T{c[2]}-{c[3]}-{c[5][:20]}")
def test_relu_slips_are_rejected_and_named(case):
    v = _call(case)
    assert not v.ok
    assert case[5] in v.summary, v.report
    assert "in the sign pattern a_1 = (" in v.report       # the mismatch names the region it lies in


PER_PATTERN = Truth.configs


def one_region(positive: bool):
    """What points that all lie in one region see: at each size and T one real point with every a_t > 0 (or < 0)."""
    def points(tr: Truth, general: bool):
        rng = random.Random(0)
        out = []
        for cfg in {(c.sizes, c.T): c for c in PER_PATTERN(tr, general)}.values():
            region = next(p for p in sign_patterns(tr.spec, cfg.sizes[0], cfg.T, rng)
                          if all(s == positive for row in p.signs for s in row))
            out.append(matrixcheck.point_in_pattern(tr, cfg.sizes, region, rng))
        return tuple(out)
    return points


@pytest.mark.parametrize("region", ["+", "−"])
def test_points_in_one_region_would_accept_the_slips(region, monkeypatch):
    """The slips are the kind random points can miss: at points that all lie where every a_t > 0 (or every
    a_t < 0) each slip right there is accepted — the per-pattern check above rejects every one."""
    monkeypatch.setattr(Truth, "configs", one_region(region == "+"))
    for case in SLIPS:
        v = _call(case)
        assert v.ok == (region in case[6]), (case, v.report)
    assert sum("+" in case[6] for case in SLIPS) >= 12 and sum(case[6] == "+−" for case in SLIPS) >= 5


def test_every_pattern_is_checked_when_there_are_few_entries():
    tr = truth(relu(), 2, (2, 3, 2))
    cfgs = tr.configs(True)
    by_size = {}
    for c in cfgs:
        by_size.setdefault((c.sizes, c.T), set()).add(c.pattern.signs)
    # k = 2: 2^(2T) patterns at T = 1 … 4 at (2, 4, 3); at T = 2 also at (2, 3, 2) and (3, 3, 4) (m raised from 2)
    assert {key: len(p) for key, p in by_size.items()} == {
        ((2, 3, 2), 2): 16, ((2, 4, 3), 2): 16, ((3, 3, 4), 2): 64,
        ((2, 4, 3), 1): 4, ((2, 4, 3), 3): 64, ((2, 4, 3), 4): 256}
    v = symrnn.verify(relu(), "W", latex=r"\sum_t \delta_t h_{t-1}^\top", steps=2, dims=(2, 3, 2))
    assert "one point in each of 420 sign patterns of the pre-activations a_t (every pattern at each size and T)" \
        in v.how


def test_many_entries_get_random_and_adversarial_patterns():
    steps = 5                                   # k = 2: 10 entries, 1024 patterns
    tr = truth(relu(), steps, (2, 3, 2))
    got = {c.pattern.signs for c in tr.configs(False) if c.sizes == (2, 3, 2)}
    assert len(got) == 14 + 64
    by_step = [[True] * steps, [False] * steps, [t % 2 == 0 for t in range(steps)], [t % 2 == 1 for t in range(steps)]]
    by_step += [[u != t for u in range(steps)] for t in range(steps)] + [[u == t for u in range(steps)]
                                                                          for t in range(steps)]
    for row in by_step:                          # every entry of a step has the step's sign
        assert tuple((s, s) for s in row) in got, row
    v = symrnn.verify(relu(), "W", latex=r"\sum_t \delta_t h_{t-1}^\top", steps=steps, dims=(2, 3, 2))
    assert v.ok
    assert "14 adversarial and 64 random sign patterns of 10 entries at (k, m, o) = (2, 3, 2), T = 5" in v.how


@pytest.mark.parametrize("loss,output", [("mse", "every"), ("ce", "last"), ("bce", "every")])
def test_placed_points_lie_in_their_pattern_and_the_truth_there_is_the_independent_bptts(loss, output):
    spec = relu(loss, output)
    tr = truth(spec, 3, dims_for(loss))
    for cfg in tr.configs(False)[::7]:
        env = cfg.env
        p = {n: np.asarray(env[n], dtype=float) for n in ("W", "U", "b", "V", "c", "h0")}
        h = p["h0"]
        X = {t: env[("x", t)] for t in range(1, cfg.T + 1)}
        for t in range(1, cfg.T + 1):
            a = p["W"] @ h + p["U"] @ X[t] + p["b"]        # NumPy, not symrnn's evaluator
            assert np.array_equal(a.ravel() > 0, np.array(cfg.pattern.signs[t - 1])), (cfg.pattern.text, a)
            assert np.min(np.abs(a)) >= 0.1
            h = np.maximum(a, 0)
        _, grads = column_forward_backward("elman", p, X, {t: env[("z", t)] for t in X}, loss=loss, output=output,
                                           activation="relu")
        for name in ("W", "U", "b", "V", "c", "h0"):
            ours = np.asarray(value(tr.gradient_form(name), cfg), dtype=float)
            assert np.allclose(np.broadcast_to(ours, grads[name].shape), grads[name], rtol=1e-10, atol=1e-12), name


def test_too_few_inputs_raise_m_and_say_so():
    v = symrnn.verify(relu(), "W", latex=r"\sum_t \delta_t h_{t-1}^\top", steps=2, dims=(3, 2, 2))
    assert v.ok and "(3, 3, 2)" in v.how and "m raised from the requested 2" in v.how
    assert inputs_needed(relu(), 3) == 3


def gru_relu_arguments(p, x, h):
    """aⁿ_t and h_t of torch's GRU with relu for tanh, written here from its equations (no symrnn)."""
    r = sigmoid(p["W_ir"] @ x + p["b_ir"] + p["W_hr"] @ h + p["b_hr"])
    u = sigmoid(p["W_iu"] @ x + p["b_iu"] + p["W_hu"] @ h + p["b_hu"])
    a = p["W_in"] @ x + p["b_in"] + r * (p["W_hn"] @ h + p["b_hn"])
    return a, (1 - u) * np.maximum(a, 0) + u * h


def mgu_relu_arguments(p, x, h):
    """aⁿ_t and h_t of docs/examples/mgu.toml with relu: f = σ(W_f h + U_f x + b_f), n = relu(W_n (f ⊙ h) + U_n x
    + b_n), h' = (1 − f) ⊙ h + f ⊙ n."""
    f = sigmoid(p["W_f"] @ h + p["U_f"] @ x + p["b_f"])
    a = p["W_n"] @ (f * h) + p["U_n"] @ x + p["b_n"]
    return a, (1 - f) * h + f * np.maximum(a, 0)


@pytest.mark.parametrize("cell,step", [("gru", gru_relu_arguments), ("mgu", mgu_relu_arguments)])
def test_gated_cells_reach_every_pattern_through_their_gates(cell, step):
    """The relu argument is nonlinear in x_t there (through σ of a gate): the damped steps and restarts still
    place every pattern, as a NumPy forward pass written from the equations confirms."""
    spec = symrnn.cells.gru(activation="relu") if cell == "gru" else \
        symrnn.load_spec(str(ROOT / "docs" / "examples" / "mgu.toml"), activation="relu")
    for sizes, steps in [((3, 3, 2), 2), ((2, 2, 2), 4), ((4, 4, 2), 5)]:
        rng = random.Random(f"{cell}{sizes}")
        for pattern in sign_patterns(spec, sizes[0], steps, rng)[:60]:
            point = place(spec, sizes, pattern, rng)
            p = {n: np.asarray(point[n], dtype=float) for n in spec.params}
            h = np.asarray(point["h0"], dtype=float)
            for t in range(1, steps + 1):
                a, h = step(p, point[("x", t)], h)
                assert np.array_equal(a.ravel() > 0, np.array(pattern.signs[t - 1])), (pattern.text, a)
                assert np.min(np.abs(a)) >= 0.1


def test_gru_with_relu_is_placed_through_its_gate():
    gru = symrnn.cells.gru(activation="relu")
    v = symrnn.verify(gru, "W_in", latex=r"\sum_t \delta^n_t x_t^\top", steps=2, dims=(2, 3, 2))
    assert v.ok and "sign patterns of the relu arguments aⁿ_t" in v.how, v.report
    v = symrnn.verify(gru, "W_in", latex=r"\sum_t \delta^n_t x_{t-1}^\top", steps=2, dims=(2, 3, 2))
    assert not v.ok


def test_a_cell_whose_inputs_cannot_place_a_pattern_is_refused(tmp_path, capsys):
    """relu of the previous state alone: no x_t moves its argument, so the checker refuses (exit 2, one line,
    the pattern named) instead of deciding on the patterns it happened to reach."""
    cell = tmp_path / "stuck.toml"
    cell.write_text('name = "stuck"\nactivation = "relu"\noutput_map = "V @ h + c"\n[equations]\n'
                    'h = "act(W @ h_prev) + U @ x + b"\n'
                    '[params.W]\nshape = ["k", "k"]\n[params.U]\nshape = ["k", "m"]\n[params.b]\nshape = ["k"]\n'
                    '[params.V]\nshape = ["o", "k"]\n[params.c]\nshape = ["o"]\n')
    assert cli.main(["verify", "--cell", str(cell), "--dims", "2,3,2", "--param", "V", "--latex",
                     r"\sum_t (Y_t - z_t) h_t^\top"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "no input x_1 places the sign pattern" in err and "cannot decide this cell" in err


def test_an_indicator_without_a_condition_is_refused():
    with pytest.raises(SymrnnError, match=r"an indicator needs a condition such as \[a > 0\]"):
        check("mse", "every", 2, "W", r"\sum_t (\mathbb{1}[a_t] \odot \gamma_t) h_{t-1}^\top")
