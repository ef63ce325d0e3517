"""verify on gated and user cells (GRU, LSTM, leaky.toml, mgu.toml), scalar form: a hand-written corpus.

Every answer below was written by hand, as a student would. The correct ones are checked here
independently of symrnn: each is evaluated at a random point of a forward pass written out in this
file and compared with central differences of the loss (float64). The wrong ones are each one named
slip of issue 9 item 6 and must be rejected with the diagnosis given.
"""
from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import sympy as sp

import symrnn
from symrnn.model import cells
from symrnn.verification.cellcheck import CellVerdict
from symrnn.verification.cellpaths import MAX_PATHS, graph
from symrnn.verification.grade import grade_file

ROOT = Path(__file__).resolve().parents[1]
T = 2


def _sig(x):
    return 1 / (1 + math.exp(-x))


# -- an independent forward pass per cell (sizes 1), the quantities named as the answers name them --------

def gru_step(p, h, x):
    a_r = p["W_ir"] * x + p["b_ir"] + p["W_hr"] * h + p["b_hr"]
    a_u = p["W_iu"] * x + p["b_iu"] + p["W_hu"] * h + p["b_hu"]
    r, u = _sig(a_r), _sig(a_u)
    a_n = p["W_in"] * x + p["b_in"] + r * (p["W_hn"] * h + p["b_hn"])
    n = math.tanh(a_n)
    return {"r": r, "u": u, "n": n, "h": (1 - u) * n + u * h}


def lstm_step(p, h, c, x):
    gate = {g: p[f"W_i{g}"] * x + p[f"b_i{g}"] + p[f"W_h{g}"] * h + p[f"b_h{g}"] for g in "ifgo"}
    i, f, o = _sig(gate["i"]), _sig(gate["f"]), _sig(gate["o"])
    g = math.tanh(gate["g"])
    c_new = f * c + i * g
    return {"i": i, "f": f, "g": g, "o": o, "c": c_new, "h": o * math.tanh(c_new)}


def leaky_step(p, h, x):
    a = p["W"] * h + p["U"] * x + p["b"]
    return {"a": a, "h": (1 - p["alpha"]) * h + p["alpha"] * math.tanh(a)}


def mgu_step(p, h, x):
    f = _sig(p["W_f"] * h + p["U_f"] * x + p["b_f"])
    n = math.tanh(p["W_n"] * (f * h) + p["U_n"] * x + p["b_n"])
    return {"f": f, "n": n, "h": (1 - f) * h + f * n}


PARAMS = {
    "gru": [f"{w}_{s}{g}" for g in "run" for w, s in (("W", "i"), ("W", "h"), ("b", "i"), ("b", "h"))] + ["V", "c"],
    "lstm": [f"{w}_{s}{g}" for g in "ifgo" for w, s in (("W", "i"), ("W", "h"), ("b", "i"), ("b", "h"))] + ["V", "c"],
    "leaky": ["W", "U", "b", "alpha", "V", "c"],
    "mgu": ["W_f", "U_f", "b_f", "W_n", "U_n", "b_n", "V", "c"],
}


def forward(cell: str, p: dict, loss: str = "mse", output: str = "every") -> tuple[float, dict]:
    """L = Σ_t L_t (mse: ½(Y_t − z_t)², bce: log(1 + e^{Y_t}) − z_t Y_t; `last`: L_T only) and every named
    value (h0, x1, u1, Y1, …) at the point p."""
    values = dict(p)
    h, c, total = p["h0"], p.get("c0", 0.0), 0.0
    for t in range(1, T + 1):
        x = p[f"x{t}"]
        if cell == "gru":
            q = gru_step(p, h, x)
        elif cell == "lstm":
            q = lstm_step(p, h, c, x)
            c = q["c"]
        elif cell == "leaky":
            q = leaky_step(p, h, x)
        else:
            q = mgu_step(p, h, x)
        h = q["h"]
        values.update({f"{k}{t}": v for k, v in q.items()})
        Y = p["V"] * h + p["c"]
        values[f"Y{t}"] = Y
        if output == "every" or t == T:
            z = p[f"z{t}"]
            total += 0.5 * (Y - z) ** 2 if loss == "mse" else math.log1p(math.exp(Y)) - z * Y
    return total, values


def point(cell: str, seed: int) -> dict:
    rng = random.Random(seed)
    names = PARAMS[cell] + ["h0"] + (["c0"] if cell == "lstm" else []) + \
        [f"{v}{t}" for t in range(1, T + 1) for v in "xz"]
    p = {n: rng.uniform(-1, 1) for n in names}
    if cell == "leaky":
        p["alpha"] = rng.uniform(0.2, 0.8)
    return p


def central(cell: str, p: dict, param: str, eps: float = 1e-6, **model) -> float:
    up, down = dict(p), dict(p)
    up[param] += eps
    down[param] -= eps
    return (forward(cell, up, **model)[0] - forward(cell, down, **model)[0]) / (2 * eps)


def value_of(answer: str, values: dict) -> float:
    """A SymPy-syntax answer at the forward values (sympify of this file's own strings, never user input)."""
    expr = sp.sympify(answer, locals={**{n: sp.Symbol(n) for n in values}, "sigmoid": lambda x: 1 / (1 + sp.exp(-x))})
    return float(expr.xreplace({sp.Symbol(k): v for k, v in values.items()}))


# -- the corpus -----------------------------------------------------------------------------------------

SPECS = {"gru": cells.gru, "lstm": cells.lstm,
         "leaky": lambda: symrnn.load_spec(str(ROOT / "docs/examples/leaky.toml")),
         "mgu": lambda: symrnn.load_spec(str(ROOT / "docs/examples/mgu.toml"))}

# GRU, T = 2: ∂h2/∂h1 through u2 directly, through u2's gate, through n2, through r2 and n2
GRU_HOP = "(u2 + (h1 - n2)*u2*(1 - u2)*W_hu + (1 - u2)*(1 - n2**2)*(W_hn*r2 + (W_hn*h1 + b_hn)*r2*(1 - r2)*W_hr))"
GRU_B_IU = f"(h0 - n1)*u1*(1 - u1)*((Y1 - z1)*V + (Y2 - z2)*V*{GRU_HOP}) + (Y2 - z2)*V*(h1 - n2)*u2*(1 - u2)"
GRU_W_HN = (f"(1 - u1)*(1 - n1**2)*r1*h0*((Y1 - z1)*V + (Y2 - z2)*V*{GRU_HOP}) "
            f"+ (Y2 - z2)*V*(1 - u2)*(1 - n2**2)*r2*h1")
GRU_W_HU = f"(h0 - n1)*u1*(1 - u1)*h0*((Y1 - z1)*V + (Y2 - z2)*V*{GRU_HOP}) + (Y2 - z2)*V*(h1 - n2)*u2*(1 - u2)*h1"
# LSTM, T = 2: ∂h2/∂h1 through o2 and through c2 (i2, f2, g2)
LSTM_HOP = ("(tanh(c2)*o2*(1 - o2)*W_ho + o2*(1 - tanh(c2)**2)*(g2*i2*(1 - i2)*W_hi + c1*f2*(1 - f2)*W_hf "
            "+ i2*(1 - g2**2)*W_hg))")
LSTM_B_IF = (f"c0*f1*(1 - f1)*((Y1 - z1)*V*o1*(1 - tanh(c1)**2) + (Y2 - z2)*V*o2*(1 - tanh(c2)**2)*f2 "
             f"+ (Y2 - z2)*V*{LSTM_HOP}*o1*(1 - tanh(c1)**2)) + (Y2 - z2)*V*o2*(1 - tanh(c2)**2)*c1*f2*(1 - f2)")
LSTM_B_IO = (f"tanh(c1)*o1*(1 - o1)*((Y1 - z1)*V + (Y2 - z2)*V*{LSTM_HOP}) "
             f"+ (Y2 - z2)*V*tanh(c2)*o2*(1 - o2)")
LSTM_C0 = (f"f1*((Y1 - z1)*V*o1*(1 - tanh(c1)**2) + (Y2 - z2)*V*(o2*(1 - tanh(c2)**2)*f2 "
           f"+ {LSTM_HOP}*o1*(1 - tanh(c1)**2)))")
# leaky, T = 2: ∂h2/∂h1 = (1 − α) + α tanh'(a2) W
LEAKY_HOP = "(1 - alpha + alpha*(1 - tanh(a2)**2)*W)"
LEAKY_ALPHA = f"(tanh(a1) - h0)*((Y1 - z1)*V + (Y2 - z2)*V*{LEAKY_HOP}) + (Y2 - z2)*V*(tanh(a2) - h1)"
LEAKY_W = (f"alpha*(1 - tanh(a1)**2)*h0*((Y1 - z1)*V + (Y2 - z2)*V*{LEAKY_HOP}) "
           f"+ (Y2 - z2)*V*alpha*(1 - tanh(a2)**2)*h1")
# mgu, T = 2: ∂h2/∂h1 = (1 − f2) + (n2 − h1) σ'(·) W_f + f2 tanh'(·) W_n (f2 + h1 σ'(·) W_f)
MGU_HOP = "(1 - f2 + (n2 - h1)*f2*(1 - f2)*W_f + f2*(1 - n2**2)*W_n*(f2 + h1*f2*(1 - f2)*W_f))"
MGU_B_N = f"f1*(1 - n1**2)*((Y1 - z1)*V + (Y2 - z2)*V*{MGU_HOP}) + (Y2 - z2)*V*f2*(1 - n2**2)"
MGU_B_F = (f"f1*(1 - f1)*(n1 - h0 + f1*(1 - n1**2)*W_n*h0)*((Y1 - z1)*V + (Y2 - z2)*V*{MGU_HOP}) "
           f"+ (Y2 - z2)*V*f2*(1 - f2)*(n2 - h1 + f2*(1 - n2**2)*W_n*h1)")

# (cell, param, answer in SymPy syntax, LaTeX form given to verify or None)
CORRECT = [
    ("gru", "b_iu", GRU_B_IU, None),
    ("gru", "b_iu", "(Y1 - z1)*V*(h0 - n1)*u1*(1 - u1) + (Y2 - z2)*V*(h1 - n2)*u2*(1 - u2) "
                    f"+ (Y2 - z2)*V*{GRU_HOP}*(h0 - n1)*u1*(1 - u1)", None),
    ("gru", "b_iu", GRU_B_IU,
     r"(Y_1 - z_1) V (h_0 - n_1) \sigma'(a^u_1) + (Y_2 - z_2) V (h_1 - n_2) \sigma'(a^u_2) + (Y_2 - z_2) V "
     r"\left[ u_2 + (h_1 - n_2) u_2 (1 - u_2) W_{hu} + (1 - u_2)(1 - n_2^2)\left(W_{hn} r_2 + (W_{hn} h_1 + b_{hn}) "
     r"r_2 (1 - r_2) W_{hr}\right) \right] (h_0 - n_1) u_1 (1 - u_1)"),
    ("gru", "W_hn", GRU_W_HN, None),
    ("gru", "W_hu", GRU_W_HU, None),
    ("lstm", "b_if", LSTM_B_IF, None),
    ("lstm", "b_io", LSTM_B_IO, None),
    ("lstm", "c0", LSTM_C0, None),
    ("leaky", "alpha", LEAKY_ALPHA, None),
    ("leaky", "W", LEAKY_W, None),
    ("mgu", "b_n", MGU_B_N, None),
    ("mgu", "b_f", MGU_B_F, None),
]


def _drop(answer: str, part: str, by: str = "") -> str:
    assert part in answer, part
    return answer.replace(part, by, 1)


# (cell, param, answer, a phrase the diagnosis must contain)
WRONG = [
    # a gate's σ' missing, inside a factored group
    ("gru", "b_iu", _drop(GRU_B_IU, "u1*(1 - u1)*"), "the gate's σ' is missing: ∂u1/∂aᵘ1"),
    ("lstm", "b_if", _drop(LSTM_B_IF, "f1*(1 - f1)*"), "the gate's σ' is missing: ∂f1/∂aᶠ1"),
    ("mgu", "b_f", _drop(MGU_B_F, "f1*(1 - f1)*"), "the gate's σ' is missing: ∂f1/∂aᶠ1"),
    # the candidate's tanh' missing
    ("gru", "W_hn", _drop(GRU_W_HN, "(1 - n1**2)*"), "tanh' is missing: ∂n1/∂aⁿ1"),
    ("mgu", "b_n", _drop(MGU_B_N, "f2*(1 - n2**2)*W_n", "f2*W_n"), "tanh' is missing: ∂n2/∂aⁿ2"),
    # the (1 − u) branch dropped
    ("gru", "b_iu", _drop(GRU_B_IU, " + (1 - u2)*(1 - n2**2)*(W_hn*r2 + (W_hn*h1 + b_hn)*r2*(1 - r2)*W_hr)"),
     "the branch through n2 is missing"),
    ("gru", "W_hn", _drop(GRU_W_HN, " + (1 - u2)*(1 - n2**2)*(W_hn*r2 + (W_hn*h1 + b_hn)*r2*(1 - r2)*W_hr)"),
     "the branch through n2 is missing"),
    ("leaky", "W", _drop(LEAKY_W, "1 - alpha + "), "the branch through h1 is missing"),
    # u and 1 − u swapped
    ("gru", "b_iu", "(n1 - h0)*u1*(1 - u1)*((Y1 - z1)*V + (Y2 - z2)*V*((1 - u2) + (n2 - h1)*u2*(1 - u2)*W_hu "
                    "+ u2*(1 - n2**2)*(W_hn*r2 + (W_hn*h1 + b_hn)*r2*(1 - r2)*W_hr))) "
                    "+ (Y2 - z2)*V*(n2 - h1)*u2*(1 - u2)",
     "swapped"),
    ("mgu", "b_n", "(1 - f1)*(1 - n1**2)*((Y1 - z1)*V + (Y2 - z2)*V*(f2 + (h1 - n2)*f2*(1 - f2)*W_f + (1 - f2)*"
                   "(1 - n2**2)*W_n*(f2 + h1*f2*(1 - f2)*W_f))) + (Y2 - z2)*V*(1 - f2)*(1 - n2**2)", "swapped"),
    # c_{t−1} for c_t, f_t for f_{t+1} in the c̄ recursion, h for tanh(c), a missing path through c
    ("lstm", "b_if", _drop(LSTM_B_IF, "(Y2 - z2)*V*o2*(1 - tanh(c2)**2)*c1*f2*(1 - f2)",
                           "(Y2 - z2)*V*o2*(1 - tanh(c1)**2)*c1*f2*(1 - f2)"), "c1 where c2 belongs"),
    ("lstm", "b_if", _drop(LSTM_B_IF, "*o2*(1 - tanh(c2)**2)*f2 ", "*o2*(1 - tanh(c2)**2)*f1 "),
     "f1 where f2 belongs in ∂c2/∂c1 = f2"),
    ("lstm", "b_if", LSTM_B_IF.replace("tanh(c1)**2", "h1**2").replace("tanh(c2)**2", "h2**2"),
     "where tanh(c2) belongs"),
    ("lstm", "b_io", _drop(LSTM_B_IO, "tanh(c1)*o1*(1 - o1)*", "h1*o1*(1 - o1)*"), "h1 where tanh(c1) belongs"),
    ("lstm", "b_io", _drop(LSTM_B_IO, "tanh(c1)*o1*(1 - o1)*", "g1*o1*(1 - o1)*"), "g1 where tanh(c1) belongs"),
    ("lstm", "b_if", _drop(LSTM_B_IF, " + (Y2 - z2)*V*o2*(1 - tanh(c2)**2)*f2 "), "the branch through c1 is missing"),
    ("lstm", "c0", _drop(LSTM_C0, "o2*(1 - tanh(c2)**2)*f2 + "), "the branch through c1 is missing"),
    # leaky: 1 − h² where tanh'(a) = 1 − tanh²(a) belongs (h is not tanh(a) there); −h_{t−1} dropped
    ("leaky", "W", LEAKY_W.replace("tanh(a1)**2", "h1**2").replace("tanh(a2)**2", "h2**2"), "where tanh(a1) belongs"),
    ("leaky", "alpha", LEAKY_ALPHA.replace("(tanh(a1) - h0)", "tanh(a1)").replace("(tanh(a2) - h1)", "tanh(a2)"),
     "is missing from ∂h"),
    # a term copied from another gate's parameter
    ("gru", "W_hu", _drop(GRU_W_HU, "(h0 - n1)*u1*(1 - u1)*h0*((Y1 - z1)*V + ",
                          "(1 - u1)*(1 - n1**2)*(W_hn*h0 + b_hn)*r1*(1 - r1)*h0*(Y1 - z1)*V "
                          "+ (h0 - n1)*u1*(1 - u1)*h0*("),
     "a term copied from ∂L/∂W_hr"),
    # a recurrent path missing; r dropped from the entry factor; the sign
    ("gru", "b_iu", "(Y1 - z1)*V*(h0 - n1)*u1*(1 - u1) + (Y2 - z2)*V*(h1 - n2)*u2*(1 - u2)",
     "every path from L2 back through h1 is missing"),
    ("gru", "W_hn", _drop(GRU_W_HN, "r1*h0*", "h0*"), "r1 is missing from ∂aⁿ1/∂W_hn"),
    ("mgu", "b_n", MGU_B_N.replace("(Y1 - z1)", "(z1 - Y1)").replace("(Y2 - z2)", "(z2 - Y2)"), "the sign is flipped"),
    # two slips at once
    ("gru", "b_iu", GRU_B_IU.replace("u1*(1 - u1)", "u1").replace("(1 - n2**2)", "(1 - n2)"),
     "two slips: u1 where ∂u1/∂aᵘ1 = u1 (1 - u1) belongs"),
    ("lstm", "b_if", _drop(_drop(LSTM_B_IF, "*o2*(1 - tanh(c2)**2)*f2 ", "*o2*(1 - tanh(c2)**2)*f1 "),
                           "c0*f1*(1 - f1)*", "c0*f1*"), "; and f1 where f2 belongs in ∂c2/∂c1 = f2"),
]


@pytest.mark.parametrize("cell, param, answer, latex", CORRECT)
def test_correct_answers_hold_independently_and_are_accepted(cell, param, answer, latex):
    for seed in (1, 2):
        p = point(cell, seed)
        _, values = forward(cell, p)
        assert value_of(answer, values) == pytest.approx(central(cell, p, param), rel=1e-6, abs=1e-9)
    v = symrnn.verify(SPECS[cell](), param, latex=latex, steps=T) if latex else \
        symrnn.verify(SPECS[cell](), param, answer, steps=T)
    assert v.ok, v.report


@pytest.mark.parametrize("cell, param, answer, diagnosis", WRONG)
def test_wrong_answers_are_rejected_with_the_slip_named(cell, param, answer, diagnosis):
    p = point(cell, 3)
    _, values = forward(cell, p)
    assert value_of(answer, values) != pytest.approx(central(cell, p, param), rel=1e-4)   # really wrong
    v = symrnn.verify(SPECS[cell](), param, answer, steps=T)
    assert not v.ok
    assert isinstance(v, CellVerdict) and v.paths is not None and v.paths.found is not None, v.report
    assert diagnosis in v.paths.summary and v.summary.startswith(v.paths.summary), v.report
    assert "the slip: " + v.paths.summary in v.report
    assert "**" not in v.report and "*" not in v.summary     # the lecture's notation, never SymPy's


def test_corpus_size():
    assert len(CORRECT) + len(WRONG) >= 30


# -- other losses and outputs, LaTeX, the bound ------------------------------------------------------------

GRU_LAST = f"(Y2 - z2)*V*((h1 - n2)*u2*(1 - u2) + {GRU_HOP}*(h0 - n1)*u1*(1 - u1))"
GRU_BCE = GRU_B_IU.replace("(Y1 - z1)", "(sigmoid(Y1) - z1)").replace("(Y2 - z2)", "(sigmoid(Y2) - z2)")

# (cell, model options, param, answer checked independently, answer given to verify (LaTeX when it has a \))
MORE_CORRECT = [
    ("gru", {"output": "last"}, "b_iu", GRU_LAST, GRU_LAST),
    ("gru", {"loss": "bce"}, "b_iu", GRU_BCE, GRU_BCE),
    ("lstm", {}, "b_io", LSTM_B_IO,
     r"\tanh(c_1)\, \sigma'(a^o_1) \Big[(Y_1 - z_1) V + (Y_2 - z_2) V \big(\tanh(c_2) o_2 (1 - o_2) W_{ho} + o_2 "
     r"(1 - \tanh(c_2)^2) (g_2 i_2 (1 - i_2) W_{hi} + c_1 f_2 (1 - f_2) W_{hf} + i_2 (1 - g_2^2) W_{hg})\big)\Big] "
     r"+ (Y_2 - z_2) V \tanh(c_2) \sigma'(a^o_2)"),
    ("leaky", {}, "W", LEAKY_W,
     r"\alpha \tanh'(a_1) h_0 \left[(Y_1 - z_1) V + (Y_2 - z_2) V \left(1 - \alpha + \alpha \tanh'(a_2) W"
     r"\right)\right] + (Y_2 - z_2) V \alpha (1 - \tanh(a_2)^2) h_1"),
]

MORE_WRONG = [
    ("gru", {"output": "last"}, "b_iu", GRU_LAST + " + (Y1 - z1)*V*(h0 - n1)*u1*(1 - u1)",
     "this sums the terms of every step (L = Σ_t L_t), but the model is many-to-one"),
    ("gru", {"loss": "bce"}, "b_iu", GRU_B_IU, "the mse loss's ∂L_t/∂Y_t = Y_t - z_t where this model's (bce)"),
]


def _spec(cell, model):
    return cells.build(cell, **model) if cell in ("gru", "lstm") else SPECS[cell]()


@pytest.mark.parametrize("cell, model, param, answer, given", MORE_CORRECT)
def test_more_correct_answers(cell, model, param, answer, given):
    p = point(cell, 4)
    _, values = forward(cell, p, **model)
    if model.get("loss") == "bce":
        values.update({f"z{t}": float(t % 2) for t in range(1, T + 1)})
        p.update({f"z{t}": float(t % 2) for t in range(1, T + 1)})
        _, values = forward(cell, p, **model)
    assert value_of(answer, values) == pytest.approx(central(cell, p, param, **model), rel=1e-6, abs=1e-9)
    v = symrnn.verify(_spec(cell, model), param, latex=given, steps=T) if "\\" in given else \
        symrnn.verify(_spec(cell, model), param, given, steps=T)
    assert v.ok, v.report


@pytest.mark.parametrize("cell, model, param, answer, diagnosis", MORE_WRONG)
def test_more_wrong_answers(cell, model, param, answer, diagnosis):
    v = symrnn.verify(_spec(cell, model), param, answer, steps=T)
    assert not v.ok and diagnosis in v.summary, v.report


def test_too_many_paths_is_said_not_hidden():
    """A GRU's recurrent weight has 453 paths at T = 5: no listing, an honest note, the matrix form's search."""
    assert graph(cells.gru(), 5).count("W_hr") > MAX_PATHS
    v = symrnn.verify(cells.gru(), "W_hr", "(Y1 - z1)*V*(1 - u1)*(1 - n1**2)*(W_hn*h0 + b_hn)*r1*(1 - r1)*h0", steps=5)
    assert not v.ok and v.paths.found is None
    assert "not localised: 453 chain-rule paths at T = 5" in v.report and "not localised" in v.summary


def test_grade_localises_gated_answers(tmp_path):
    rows = tmp_path / "class.csv"
    rows.write_text("student,param,answer\n"
                    f"ada,b_iu,\"{GRU_B_IU}\"\n"
                    f"bob,b_iu,\"{_drop(GRU_B_IU, 'u1*(1 - u1)*')}\"\n", encoding="utf-8")
    grade_file(str(rows), str(tmp_path / "out"), defaults={"cell": "gru"})
    summary = (tmp_path / "out" / "summary.csv").read_text(encoding="utf-8")
    assert "ada,b_iu,correct" in summary
    assert "bob,b_iu,wrong,the gate's σ' is missing: ∂u1/∂aᵘ1" in summary


def test_an_answer_no_slip_explains_lists_the_paths_not_found():
    v = symrnn.verify(cells.gru(), "b_iu", "(Y1 - z1)*V*(h0 - n1)*u1*(1 - u1) + x2*W_hu", steps=T)
    assert not v.ok and v.paths.found is None
    assert "no single slip of one factor, one path or one branch explains the difference" in v.report
    assert "paths found in your expanded answer: 1 of 6" in v.report
    assert "not found: L2 → Y2 → h2 → h1 → u1 → aᵘ1 → b_iu: (Y2 - z2) V u2 (h0 - n1) u1 (1 - u1)" \
        in v.report
