"""`symrnn flow`: the derived Jacobian products against central differences of the independent NumPy
forward pass (tests/numpy_gated.py), the bound, the verdicts, the lecture's stability, bad input."""
import json
import math

import numpy as np
import pytest

import numpy_gated
import symrnn
from symrnn import cli, naming
from symrnn.analysis import dynamics
from symrnn.analysis import flow as gradient_flow
from symrnn.derivation.matrix import jacobian_product
from symrnn.ir.evaluate import evaluate, float_backend


def main(capsys, *args):
    code = cli.main(["flow", *args])
    out, err = capsys.readouterr()
    return code, out, err


# -- the numbers: derived Jacobian products = central differences of an independent forward pass -------

def independent_run(cell, p, xs, activation, state):
    """The states after running xs from `state` (a tuple of (k,) arrays), by tests/numpy_gated.py's step functions."""
    step, phi = getattr(numpy_gated, f"_{cell}_step"), numpy_gated.ACT[activation]
    state = tuple(s[None, :] for s in state)
    for x in xs:
        state, _ = step(p, x[None, :], state, phi)
    return tuple(s[0] for s in state)


def central_jacobian(cell, p, xs, activation, state, eps=1e-6):
    """∂(h_T, c_T)/∂(h_s, c_s) stacked, by central differences in float64."""
    flat = np.concatenate(state)
    k = len(state[0])
    cols = []
    for j in range(len(flat)):
        d = np.zeros_like(flat)
        d[j] = eps
        plus = np.concatenate(independent_run(cell, p, xs, activation, tuple(np.split(flat + d, len(state)))))
        minus = np.concatenate(independent_run(cell, p, xs, activation, tuple(np.split(flat - d, len(state)))))
        cols.append((plus - minus) / (2 * eps))
    assert len(flat) == k * len(state)
    return np.stack(cols, axis=1)


CASES = [("elman", "tanh"), ("elman", "sigmoid"), ("elman", "relu"), ("elman", "identity"), ("gru", "tanh"),
         ("lstm", "tanh")]


@pytest.mark.parametrize("cell,activation", CASES)
def test_products_are_central_differences(cell, activation):
    spec = symrnn.cells.build(cell, activation=activation)
    dims, steps = (3, 2, 2), 6
    p = numpy_gated.init(cell, 2, 3, 2, seed=4)
    p = {name: 1.3 * v for name, v in p.items()}           # larger weights: saturation and gates away from ½
    xs = np.random.default_rng(5).standard_normal((steps, 2))
    env = gradient_flow.run(spec, p, dims, steps, xs)
    start = tuple(np.zeros(3) for _ in spec.cell.states)
    states = [start]
    for t in range(steps):
        states.append(independent_run(cell, p, xs[t:t + 1], activation, states[-1]))
    # the forward passes agree (so the Jacobians are taken at the same points)
    np.testing.assert_allclose(env[("h", steps)].ravel(), states[-1][0], rtol=1e-12, atol=1e-12)
    for lag, J, P in gradient_flow.products(spec, env, 3, steps):
        s = steps - lag
        numeric = central_jacobian(cell, p, xs[s:], activation, states[s])
        np.testing.assert_allclose(P, numeric, rtol=1e-6, atol=1e-8, err_msg=f"lag {lag}")
    # the running product is the derived Π evaluated whole
    whole = evaluate(jacobian_product(spec)[1], env, float_backend(), 3, {naming.t: steps, naming.s: 0})
    np.testing.assert_allclose(P, whole, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell,activation", CASES)
def test_norms_are_the_products_norms_and_the_bounds_hold(cell, activation):
    spec = symrnn.cells.build(cell, activation=activation)
    f = symrnn.flow(spec, steps=25, dims=(4, 3, 2), radius=1.2, seed=3)
    env = gradient_flow.run(spec, gradient_flow.random_params(spec, (4, 3, 2), 1.2, 3), (4, 3, 2), 25, seed=3)
    k = 4
    for lag, J, P in gradient_flow.products(spec, env, k, 25):
        for j, state in enumerate(spec.cell.states):
            block = P[j * k:(j + 1) * k, j * k:(j + 1) * k]
            assert math.isclose(f.norms[state][lag - 1], np.linalg.svd(block, compute_uv=False)[0], rel_tol=1e-12)
    top = f.norms[naming.STATE]
    assert np.all(top <= f.run_bound * (1 + 1e-12))
    if cell == "elman":
        assert f.bound is not None and np.all(top <= f.bound * (1 + 1e-12))
        assert np.all(f.run_bound <= f.bound * (1 + 1e-12))
    else:
        assert f.bound is None      # no weight-only bound is claimed for a gated hop


def test_random_weights_have_the_radius():
    spec = symrnn.cells.lstm()
    p = gradient_flow.random_params(spec, (5, 3, 2), 0.7, seed=1)
    for name in ("W_hi", "W_hf", "W_hg", "W_ho"):
        assert np.isclose(np.max(np.abs(np.linalg.eigvals(p[name]))), 0.7)
        assert np.isclose(np.linalg.norm(p[name], 2), 0.7)
    assert p["W_ii"].shape == (5, 3) and p["b_ii"].shape == (5,) and p["V"].shape == (2, 5)


# -- the "done when" ---------------------------------------------------------------------------

@pytest.mark.parametrize("radius,word", [(0.5, "vanishing"), (1.5, "exploding")])
def test_linear_elman_follows_the_bound(radius, word, capsys):
    spec = symrnn.cells.elman(activation="identity")
    f = symrnn.flow(spec, steps=40, dims=(4, 3, 2), radius=radius)
    assert f.verdict == word and math.isclose(f.rate, radius, rel_tol=1e-9)
    assert math.isclose(f.bound_rate, radius, rel_tol=1e-12)
    np.testing.assert_allclose(f.norms["h"], radius ** f.lags, rtol=1e-9)    # W = R·Q: the bound is attained
    code, out, err = main(capsys, "--activation", "identity", "--dims", "4,3,2", "--radius", str(radius),
                          "--steps", "40")
    assert code == 0 and err == ""
    assert f"verdict: {word}" in out and f"×{radius:.4g} per step" in out


def test_tanh_report_explains_saturation(capsys):
    code, out, _ = main(capsys, "--dims", "8,4,1", "--radius", "1.5", "--steps", "60")
    assert code == 0
    f = symrnn.flow(symrnn.cells.elman(), steps=60, dims=(8, 4, 1), radius=1.5)
    assert f.rate <= f.saturated_rate < f.bound_rate    # the run's f' ≤ γ: the bound tightens, the norm sits below
    assert "saturation:" in out and f"×{f.saturated_rate:.4g} per step instead of ×{f.bound_rate:.4g}" in out


def test_lecture_flow_and_dynamics_agree(tmp_path, capsys):
    """h_t = σ(θ h_{t−1}), θ = 0.5, h0 = 2: the state system's f'(h*) is the per-step factor of ∂h_T/∂h_s."""
    a = dynamics.analyse(dynamics.system(dynamics.LECTURE_F, dynamics.LECTURE_THETA), dynamics.LECTURE_H0, 100)
    (point,) = a.points
    fprime = point.derivative[0][0]
    assert point.stability == "stable" and abs(fprime) < 1
    weights = tmp_path / "lecture.npz"
    np.savez(weights, W=np.array([[0.5]]), U=np.zeros((1, 1)), b=np.zeros(1), V=np.ones((1, 1)), c=np.zeros(1),
             h0=np.array([2.0]))
    code, out, _ = main(capsys, "--activation", "sigmoid", "--weights", str(weights), "--steps", "100",
                        "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["verdict"]["h"] == "vanishing"
    assert math.isclose(data["norms"]["h"][0], abs(fprime), rel_tol=1e-12)      # lag 1: |σ'(θ h*) θ| at h_T = h*
    assert math.isclose(data["rate"]["h"], abs(fprime), rel_tol=1e-2)
    assert data["bound"]["rate"] == 0.25 * 0.5 and abs(fprime) <= data["bound"]["rate"]


def test_lstm_reports_the_cell_path(capsys):
    code, out, _ = main(capsys, "--cell", "lstm", "--dims", "3,2,1", "--steps", "20", "--format", "json")
    data = json.loads(out)
    assert code == 0 and set(data["norms"]) == {"h", "c"} and set(data["verdict"]) == {"h", "c"}
    assert data["paths"]["c"]["block"] == "diag(f_j)" and len(data["paths"]["c"]["max_per_step"]) == 20
    code, out, _ = main(capsys, "--cell", "lstm", "--dims", "3,2,1", "--steps", "20")
    assert "‖∂c_T/∂c_s‖₂" in out and "additive path" in out


def test_toml_cells(capsys):
    code, out, _ = main(capsys, "--cell", "docs/examples/leaky.toml", "--dims", "3,2,1", "--steps", "10")
    assert code == 0 and "Π_{i=s+1..t}" in out and "β^(T−s), β = " in out
    code, out, _ = main(capsys, "--cell", "docs/examples/mgu.toml", "--dims", "3,2,1", "--steps", "10")
    assert code == 0 and "no bound in the weights alone" in out


def test_structural_bound_of_a_leaky_cell():
    """h_t = (1 − α) h_{t−1} + α tanh(W h_{t−1} + …): the hop (1 − α) I + α diag(1 − tanh²) W, so β = |1 − α| + |α| σ_max(W)."""
    spec = symrnn.load_spec("docs/examples/leaky.toml")
    for seed, radius in [(0, 0.5), (1, 1.3), (2, 3.0)]:
        p = gradient_flow.random_params(spec, (4, 3, 2), radius, seed)
        f = symrnn.flow(spec, p, steps=30, seed=seed)
        alpha = float(p["alpha"])
        assert math.isclose(f.beta, abs(1 - alpha) + abs(alpha) * radius, rel_tol=1e-12)
        assert np.all(f.norms["h"] <= f.bound * (1 + 1e-12)) and np.all(f.run_bound <= f.bound * (1 + 1e-12))
    scaled = symrnn.load_spec("docs/examples/scaled_tanh.toml")
    f = symrnn.flow(scaled, steps=30, dims=(4, 3, 2), radius=2.0)
    assert f.beta is not None and np.all(f.norms["h"] <= f.bound * (1 + 1e-12))


def test_overflow_is_reported_not_nan(capsys):
    code, out, err = main(capsys, "--activation", "identity", "--radius", "1.5", "--steps", "2000", "--format", "json")
    assert code == 0 and err == ""
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert data["overflow"]["message"] == "exploding beyond float64 at lag 1751"
    assert len(data["norms"]["h"]) == 1750 and data["verdict"]["h"] == "exploding"
    code, out, _ = main(capsys, "--activation", "identity", "--radius", "1.5", "--steps", "2000")
    assert "exploding beyond float64 at lag 1751" in out and "nan" not in out.lower()


def test_weights_round_trip_through_a_kernel_layout(tmp_path, capsys):
    """A kernel's params (np.savez of init_params' layout) give the same numbers as the API."""
    p = numpy_gated.init("gru", 2, 3, 2, seed=2)
    path = tmp_path / "gru.npz"
    np.savez(path, **p)
    code, out, _ = main(capsys, "--cell", "gru", "--weights", str(path), "--steps", "12", "--format", "json")
    f = symrnn.flow(symrnn.cells.gru(), p, steps=12)
    assert code == 0 and json.loads(out)["norms"]["h"] == pytest.approx(list(f.norms["h"]), rel=1e-15)


# -- bad input: one line, exit 2, nothing written ------------------------------------------------------

def _weights(tmp_path, **changes):
    p = numpy_gated.init("elman", 2, 3, 1, seed=0)
    p.update(changes)
    p = {k: v for k, v in p.items() if v is not None}
    path = tmp_path / "w.npz"
    np.savez(path, **p)
    return str(path)


@pytest.mark.parametrize("make,culprit", [
    (lambda d: ["--weights", _weights(d, U=None)], "missing U"),
    (lambda d: ["--weights", _weights(d, W=np.zeros((3, 4)))], "W has shape (3, 4), expected (3, 3)"),
    (lambda d: ["--weights", _weights(d, b=np.zeros((3, 1)))], "b has shape (3, 1), expected (3,)"),
    (lambda d: ["--weights", _weights(d, Q=np.zeros(2))], "unknown key 'Q'"),
    (lambda d: ["--weights", _weights(d, W=np.full((3, 3), np.nan))], "W has entries that are not finite"),
    (lambda d: ["--weights", str(d / "missing.npz")], "missing.npz"),
    (lambda d: ["--weights", str(d)], "directory"),
    (lambda d: ["--weights", _weights(d), "--radius", "2"], "--radius"),
    (lambda d: ["--radius", "0"], "--radius"),
    (lambda d: ["--radius", "-1"], "--radius"),
    (lambda d: ["--radius", "nan"], "--radius"),
    (lambda d: ["--radius", "inf"], "--radius"),
    (lambda d: ["--steps", "1"], "--steps 1"),
    (lambda d: ["--steps", "0"], "--steps 0"),
    (lambda d: ["--dims", "2,x,1"], "--dims"),
    (lambda d: ["--dims", "300,1,1"], "--dims 300,1,1"),
    (lambda d: ["--steps", "20000"], "--steps 20000"),
    (lambda d: ["--seed", "-1"], "--seed"),
    (lambda d: ["--seed", "1e30"], "--seed"),
    (lambda d: ["--plot", str(d / "flow.jpg")], "unknown extension '.jpg'"),
    (lambda d: ["--plot", str(d / "flow")], "unknown extension"),
    (lambda d: ["--cell", "rnn"], "rnn"),
])
def test_bad_input_is_one_line_exit_2(make, culprit, tmp_path, capsys):
    args = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = main(capsys, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and culprit in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_not_an_npz(tmp_path, capsys):
    path = tmp_path / "w.npz"
    path.write_text("W = 1")
    code, out, err = main(capsys, "--weights", str(path))
    assert code == 2 and "not a NumPy .npz" in err and str(path) in err and len(err.strip().splitlines()) == 1


def test_api_refuses_bad_steps_and_radius():
    with pytest.raises(symrnn.SymrnnError, match="steps"):
        symrnn.flow(symrnn.cells.elman(), steps=1)
    with pytest.raises(symrnn.SymrnnError, match="radius"):
        symrnn.flow(symrnn.cells.elman(), radius=float("inf"))


# -- PyTorch as the oracle: weights from torch modules, Jacobians by torch.autograd -------------------------

@pytest.mark.parametrize("cell", ["elman", "gru", "lstm"])
def test_norms_match_torch_autograd(cell, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    k, m, steps = 4, 3, 8
    rnn = {"elman": lambda: torch.nn.RNN(m, k), "gru": lambda: torch.nn.GRU(m, k),
           "lstm": lambda: torch.nn.LSTM(m, k)}[cell]().double()
    with torch.no_grad():        # larger recurrent weights than torch's default, so the norms move
        rnn.weight_hh_l0.mul_(3.0)
    head = torch.nn.Linear(k, 2).double()
    p = numpy_gated.from_torch_state(cell, rnn.state_dict(), head.state_dict())
    path = tmp_path / "torch.npz"        # the route a user takes: from_torch, np.savez, --weights
    np.savez(path, **p)
    xs = np.random.default_rng(7).standard_normal((steps, m))
    f = symrnn.flow(symrnn.cells.build(cell), gradient_flow.load_weights(path), steps=steps, inputs=xs)
    x = torch.tensor(xs).reshape(steps, 1, m)
    states = ("h", "c") if cell == "lstm" else ("h",)

    def run(start, x_part):
        hc = tuple(s.reshape(1, 1, k) for s in start)
        _, out = rnn(x_part, hc if cell == "lstm" else hc[0])
        return out if cell == "lstm" else (out,)

    zero = tuple(torch.zeros(k, dtype=torch.float64) for _ in states)
    for s in range(steps):
        at_s = tuple(v.reshape(k) for v in run(zero, x[:s])) if s else zero
        for j, state in enumerate(states):
            def final(v, j=j):
                start = list(at_s)
                start[j] = v
                return run(tuple(start), x[s:])[j].reshape(k)
            J = torch.autograd.functional.jacobian(final, at_s[j]).numpy()
            assert math.isclose(f.norms[state][steps - s - 1], np.linalg.norm(J, 2), rel_tol=1e-9), (state, s)
