"""The notation students type, for gated/TOML scalar answers: every everyday form the lecture's scalar reader
(texinput) accepts for an Elman answer (docs/verify-notation.md), written for a GRU, LSTM or mgu answer.

Each row is a correct answer in that notation plus the same answer in plain SymPy syntax; the plain one is
checked here against central differences of test_verify_gated's own forward pass (independent of symrnn),
and symrnn must call the notated one correct. So a form that is misread fails here, not only one that is
refused.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

import symrnn
from symrnn import cli
from symrnn.errors import SymrnnError
from symrnn.model import cells
from test_verify_gated import (GRU_B_IU, GRU_HOP, GRU_W_HN, LSTM_B_IO, LSTM_C0, MGU_B_N, SPECS, central, forward, point,
                               value_of, ROOT)

ROOT_DOCS = ROOT / "docs" / "examples"

# γ_t = ∂L/∂h_t of the GRU at T = 2, written out (for the Leibniz-factor rows)
GRU_GAMMA1 = f"((Y1 - z1)*V + (Y2 - z2)*V*{GRU_HOP})"
GRU_GAMMA2 = "((Y2 - z2)*V)"
HOP_TEX = (r"\left[ u_2 + (h_1 - n_2) u_2 (1 - u_2) W_{hu} + (1 - u_2)(1 - n_2^2)\left(W_{hn} r_2 + (W_{hn} h_1 "
           r"+ b_{hn}) r_2 (1 - r_2) W_{hr}\right) \right]")
LSTM_HOP_TEX = (r"\Big( \tanh(c_2) o_2 (1 - o_2) W_{ho} + o_2 (1 - \tanh^2(c_2)) \big( g_2 i_2 (1 - i_2) W_{hi} "
                r"+ c_1 f_2 (1 - f_2) W_{hf} + i_2 (1 - g_2^2) W_{hg} \big) \Big)")

# (the Elman form it mirrors, cell, param, the answer as typed, latex?, the same answer in plain SymPy syntax)
ROWS = [
    (r"\left[ \right], \Big( \Big)", "gru", "b_iu",
     r"(Y_1 - z_1) V (h_0 - n_1) u_1 (1 - u_1) + (Y_2 - z_2) V (h_1 - n_2) u_2 (1 - u_2) + (Y_2 - z_2) V "
     + HOP_TEX + r" \Big( h_0 - n_1 \Big) u_1 (1 - u_1)", True, GRU_B_IU),
    (r"\cdot \times \{ \} \bigl( \bigr)", "gru", "W_hn",
     r"(1 - u_1) \cdot (1 - n_1^2) \times r_1 h_0 \bigl( (Y_1 - z_1) V + (Y_2 - z_2) V " + HOP_TEX + r" \bigr) "
     r"+ \{ Y_2 - z_2 \} V (1 - u_2)(1 - n_2^2) r_2 h_1", True, GRU_W_HN),
    (r"\operatorname{sech}^2, \text{sech}(x)^2", "gru", "W_hn",
     r"(1 - u_1) \operatorname{sech}^2(a^n_1) r_1 h_0 ((Y_1 - z_1) V + (Y_2 - z_2) V " + HOP_TEX + r") "
     r"+ (Y_2 - z_2) V (1 - u_2) \text{sech}(a^n_2)^2 r_2 h_1", True, GRU_W_HN),
    (r"\mathrm{sech}^{2}, \tanh^2", "lstm", "c0",
     r"f_1 ((Y_1 - z_1) V o_1 \mathrm{sech}^{2}(c_1) + (Y_2 - z_2) V (o_2 (1 - \tanh^2(c_2)) f_2 + " + LSTM_HOP_TEX
     + r" o_1 (1 - \tanh^{2}(c_1))))", True, LSTM_C0),
    (r"\tanh'(x), \tanh^{\prime}(x)", "lstm", "c0",
     r"f_1 ((Y_1 - z_1) V o_1 \tanh'(c_1) + (Y_2 - z_2) V (o_2 \tanh^{\prime}(c_2) f_2 + " + LSTM_HOP_TEX
     + r" o_1 \tanh'(c_1)))", True, LSTM_C0),
    (r"\sigma'(a)", "gru", "b_iu",
     r"(Y_1 - z_1) V (h_0 - n_1) \sigma'(a^u_1) + (Y_2 - z_2) V (h_1 - n_2) \sigma'(a^u_2) + (Y_2 - z_2) V "
     + HOP_TEX + r" (h_0 - n_1) \sigma^{\prime}(a^u_1)", True, GRU_B_IU),
    (r"e^{…}: σ'(a) = e^{-a} σ(a)²", "gru", "b_iu",
     r"(Y_1 - z_1) V (h_0 - n_1) e^{-a^u_1} u_1^2 + (Y_2 - z_2) V (h_1 - n_2) e^{-a^u_2} u_2^{2} + (Y_2 - z_2) V "
     + HOP_TEX + r" (h_0 - n_1) \exp(-a^u_1) u_1^2", True, GRU_B_IU),
    (r"\frac12, \dfrac{1}{2}, h^2_1", "gru", "W_hn",
     r"\frac12 (2 - 2 u_1)(1 - n^2_1) r_1 h_0 ((Y_1 - z_1) V + (Y_2 - z_2) V " + HOP_TEX + r") "
     r"+ \dfrac{1}{2} \cdot 2 (Y_2 - z_2) V (1 - u_2)(1 - n^2_2) r_2 h_1", True, GRU_W_HN),
    (r"\frac{\partial L}{\partial W} =", "gru", "b_iu",
     r"\frac{\partial L}{\partial b_{iu}} = (h_0 - n_1) u_1 (1 - u_1) ((Y_1 - z_1) V + (Y_2 - z_2) V " + HOP_TEX
     + r") + (Y_2 - z_2) V (h_1 - n_2) u_2 (1 - u_2)", True, GRU_B_IU),
    (r"\nabla_{W} L =", "gru", "b_iu",
     r"\nabla_{b_{iu}} L = (h_0 - n_1) u_1 (1 - u_1) ((Y_1 - z_1) V + (Y_2 - z_2) V " + HOP_TEX
     + r") + (Y_2 - z_2) V (h_1 - n_2) u_2 (1 - u_2)", True, GRU_B_IU),
    (r"\frac{\partial L}{\partial h_1}: an unevaluated Leibniz factor naming γ_t", "gru", "b_iu",
     r"\frac{\partial L}{\partial h_1} (h_0 - n_1) u_1 (1 - u_1) + \frac{\partial L}{\partial h_2} (h_1 - n_2) "
     r"u_2 (1 - u_2)", True,
     f"{GRU_GAMMA1}*(h0 - n1)*u1*(1 - u1) + {GRU_GAMMA2}*(h1 - n2)*u2*(1 - u2)"),
    (r"\frac{\partial L_t}{\partial Y_t}", "gru", "V",
     r"\frac{\partial L_1}{\partial Y_1} h_1 + \frac{\partial L_2}{\partial Y_2} h_2", True,
     "(Y1 - z1)*h1 + (Y2 - z2)*h2"),
    ("implicit multiplication, ^ for a power", "gru", "W_hn",
     f"(1 - u1)(1 - n1^2) r1 h0 ((Y1 - z1) V + (Y2 - z2) V {GRU_HOP}) + (Y2 - z2) V (1 - u2)(1 - n2^2) r2 h1",
     False, GRU_W_HN),
    ("run-together names Vr2 (one split only)", "gru", "W_hn",
     f"(1 - u1)(1 - n1^2) r1 h0 ((Y1 - z1) V + (Y2 - z2) V {GRU_HOP}) + (Y2 - z2) (1 - u2)(1 - n2^2) Vr2 h1",
     False, GRU_W_HN),
    ("unicode − ² ·, σ'(a), tanh'(x), sech(x)**2", "gru", "W_hn",
     f"(1 − u1)·sech(a_n1)**2·r1·h0·((Y1 − z1)·V + (Y2 − z2)·V·{GRU_HOP}) + (Y2 − z2)·V·(1 − u2)·tanh'(a_n2)·r2·h1",
     False, GRU_W_HN),
    ("x**3: any integer power at sizes 1 ((1 − u)³ + u(1 − u)(2 − u) = 1 − u)", "gru", "W_hn",
     f"((1 - u1)**3 + u1*(1 - u1)*(2 - u1))*(1 - n1**2)*r1*h0*((Y1 - z1)*V + (Y2 - z2)*V*{GRU_HOP}) "
     f"+ (Y2 - z2)*V*(1 - u2)*(1 - n2**2)*r2*h1", False, GRU_W_HN),
    ("e**-x, sigmoid'(x), u**2", "gru", "b_iu",
     f"(Y1 - z1)*V*(h0 - n1)*e**-a_u1*u1**2 + (Y2 - z2)*V*(h1 - n2)*sigmoid'(a_u2) "
     f"+ (Y2 - z2)*V*{GRU_HOP}*(h0 - n1)*(u1 - u1**2)", False, GRU_B_IU),
    ("x^3 in LaTeX, \\left( \\right)", "gru", "W_hn",
     r"\left((1 - u_1)^3 + u_1 (1 - u_1)(2 - u_1)\right) (1 - n_1^2) r_1 h_0 ((Y_1 - z_1) V + (Y_2 - z_2) V "
     + HOP_TEX + r") + (Y_2 - z_2) V (1 - u_2)(1 - n_2^{2}) r_2 h_1", True, GRU_W_HN),
]


@pytest.mark.parametrize("form, cell, param, typed, latex, plain", ROWS, ids=[r[0] for r in ROWS])
def test_everyday_notation_of_a_gated_scalar_answer(form, cell, param, typed, latex, plain):
    p = point(cell, seed=7)
    _, values = forward(cell, p)
    assert value_of(plain, values) == pytest.approx(central(cell, p, param), rel=1e-6, abs=1e-8)
    v = symrnn.verify(SPECS[cell](), param, **({"latex": typed} if latex else {"text": typed}), steps=2)
    assert v.ok, (form, v.report)


# malformed or ambiguous input: one line with the position and what was expected
REFUSED = [
    ({"text": "x1**"}, "gru", "V", "expected a whole-number exponent after '**', found the end"),
    ({"text": "h1 ** h0"}, "gru", "V", "expected a whole-number exponent after '**', found 'h0' at position"),
    ({"latex": r"\text{sech}(a^n_1) h_1"}, "gru", "V", "sech is read in an even power only"),
    ({"latex": r"\log(h_1)"}, "gru", "V", "log is not read for this cell"),
    ({"text": "cosh(h1)"}, "gru", "V", "cosh is not read for this cell"),
    ({"latex": r"\tanh^{x}(h_1)"}, "gru", "V", "expected a whole-number power of tanh"),
    ({"latex": r"h_1^{-2}"}, "gru", "V", "a negative power (a quotient) is not read for this cell"),
    ({"latex": "h_1^23"}, "gru", "V", "write ^{23} for a multi-digit exponent"),
    ({"latex": "h_1^{65}"}, "gru", "V", "exponent 65 is larger than 64"),
    ({"latex": "(Y_1 - z_1) h_1 + (Y_2 - z_2 h_2"}, "gru", "V", "expected ')' to close the '(' at position 19, found the end"),
    ({"text": "h1 + * h0"}, "gru", "V", "expected a name, a number or '(', found '*' at position 6"),
    ({"latex": r"\frac{\partial h_2}{\partial h_1}"}, "gru", "V", "a Leibniz factor of 'h' (∂h_2/∂h_1, ∂⁺h/∂θ) is read "
                                                                "for the lecture's cell only"),
    ({"latex": r"\frac{\partial^+ h_1}{\partial W_{hn}}"}, "gru", "W_hn", "∂⁺ (the immediate partial) is read for the "
                                                                      "lecture's cell only"),
    ({"text": "h1/h2"}, "gru", "V", "only division by a nonzero number is read (a gradient of this cell is a product"),
]


@pytest.mark.parametrize("given, cell, param, message", REFUSED, ids=[r[3][:40] for r in REFUSED])
def test_malformed_gated_scalar_answers_are_refused_in_one_line(given, cell, param, message):
    with pytest.raises(SymrnnError) as e:
        symrnn.verify(SPECS[cell](), param, **given, steps=2)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_vector_power_other_than_the_square_stays_refused_in_matrix_form():
    with pytest.raises(SymrnnError, match="a power 3 of a vector or matrix is ambiguous in matrix form"):
        symrnn.verify(SPECS["gru"](), "V", text="h1**3", steps=2, dims=(2, 3, 2))
    with pytest.raises(SymrnnError, match="ambiguous in matrix form"):
        symrnn.verify(SPECS["gru"](), "V", latex=r"\sum_t (Y_t - z_t) (h_t^3)^\top", steps=2, dims=(2, 3, 2))


# -- scalar ce for gated/TOML cells: the lecture's −z log σ(Y) − (1 − z) log(1 − σ(Y)), checked by central differences
# of test_verify_gated's forward pass with L_t = log(1 + e^Y) − zY (the same function of Y and z)

def _ce(answer: str) -> str:
    return answer.replace("(Y1 - z1)", "(sigmoid(Y1) - z1)").replace("(Y2 - z2)", "(sigmoid(Y2) - z2)")


def _ce_loss_is_the_lecture_form(Y: float, z: float) -> bool:
    lecture = -z * math.log(1 / (1 + math.exp(-Y))) - (1 - z) * math.log(1 - 1 / (1 + math.exp(-Y)))
    return math.isclose(lecture, math.log1p(math.exp(Y)) - z * Y, rel_tol=1e-12)


CE_CORRECT = [
    ("gru", "b_iu", _ce(GRU_B_IU), "every", None),
    ("lstm", "b_io", _ce(LSTM_B_IO), "every", None),
    ("mgu", "b_n", _ce(MGU_B_N), "every", None),
    ("gru", "V", "(sigmoid(Y2) - z2)*h2", "last", None),
    ("gru", "V", "(sigmoid(Y1) - z1)*h1 + (sigmoid(Y2) - z2)*h2", "every",
     r"(\sigma(Y_1) - z_1) h_1 + \left(e^{Y_2} \cdot \sigma(-Y_2) - z_2\right) h_2"),
]


@pytest.mark.parametrize("cell, param, answer, output, tex", CE_CORRECT, ids=[f"{r[0]}-{r[1]}-{r[3]}" for r in CE_CORRECT])
def test_gated_scalar_ce_answers_are_checked_as_the_lecture_ce(cell, param, answer, output, tex):
    assert _ce_loss_is_the_lecture_form(0.7, 1.0) and _ce_loss_is_the_lecture_form(-1.3, 0.0)
    p = point(cell, seed=11)
    _, values = forward(cell, p, loss="bce", output=output)
    assert value_of(answer, values) == pytest.approx(central(cell, p, param, loss="bce", output=output), rel=1e-6)
    spec = replace(SPECS[cell](), loss="ce", output=output)
    v = symrnn.verify(spec, param, **({"latex": tex} if tex else {"text": answer}), steps=2)
    assert v.ok and "scalar ce is the lecture's two-class softmax" in v.report, v.report


def test_a_gated_scalar_ce_answer_with_mse_s_loss_derivative_is_wrong_and_named():
    v = symrnn.verify(cells.gru(loss="ce"), "V", "(Y1 - z1)*h1 + (sigmoid(Y2) - z2)*h2", steps=2)
    assert not v.ok and "Y1 - z1 is the mse loss's ∂L/∂Y, not this model's (ce)" in v.report, v.report


# -- relu in a gated/TOML scalar answer: decided at a placed point in every sign pattern ---------------------
# an independent GRU forward pass with n_t = relu(aⁿ_t), T = 2, and ∂L/∂b_in = Σ_t (1 − u_t) H(aⁿ_t) γ_t written out

def _relu_gru(p: dict) -> tuple[float, dict]:
    values, h, total = dict(p), p["h0"], 0.0
    for t in (1, 2):
        x = p[f"x{t}"]
        r = 1 / (1 + math.exp(-(p["W_ir"] * x + p["b_ir"] + p["W_hr"] * h + p["b_hr"])))
        u = 1 / (1 + math.exp(-(p["W_iu"] * x + p["b_iu"] + p["W_hu"] * h + p["b_hu"])))
        a_n = p["W_in"] * x + p["b_in"] + r * (p["W_hn"] * h + p["b_hn"])
        n = max(a_n, 0.0)
        h = (1 - u) * n + u * h
        Y = p["V"] * h + p["c"]
        values.update({f"r{t}": r, f"u{t}": u, f"a_n{t}": a_n, f"Hn{t}": float(a_n > 0), f"n{t}": n, f"h{t}": h,
                       f"Y{t}": Y})
        total += 0.5 * (Y - p[f"z{t}"]) ** 2
    return total, values


RELU_HOP = "(u2 + (h1 - n2)*u2*(1 - u2)*W_hu + (1 - u2)*Hn2*(W_hn*r2 + (W_hn*h1 + b_hn)*r2*(1 - r2)*W_hr))"
RELU_B_IN = f"(1 - u1)*Hn1*((Y1 - z1)*V + (Y2 - z2)*V*{RELU_HOP}) + (Y2 - z2)*V*(1 - u2)*Hn2"


def _typed(answer: str) -> str:
    return answer.replace("Hn1", "H(a_n1)").replace("Hn2", "relu'(a_n2)")


def _points_in_every_pattern() -> dict:
    """Random points (names of test_verify_gated's GRU), one with each sign pattern of (aⁿ1, aⁿ2), |aⁿ| > 0.05."""
    found, seed = {}, 0
    while len(found) < 4:
        seed += 1
        p = point("gru", seed)
        p["x1"], p["x2"] = 3 * p["x1"], 3 * p["x2"]
        _, v = _relu_gru(p)
        if min(abs(v["a_n1"]), abs(v["a_n2"])) > 0.05:
            found.setdefault((v["a_n1"] > 0, v["a_n2"] > 0), p)
    return found


def _central_relu(p: dict, param: str, eps: float = 1e-7) -> float:
    up, down = dict(p), dict(p)
    up[param] += eps
    down[param] -= eps
    return (_relu_gru(up)[0] - _relu_gru(down)[0]) / (2 * eps)


def test_a_relu_gru_scalar_answer_is_decided_in_every_sign_pattern():
    spec = cells.gru(activation="relu")
    for p in _points_in_every_pattern().values():
        assert value_of(RELU_B_IN, _relu_gru(p)[1]) == pytest.approx(_central_relu(p, "b_in"), rel=1e-5, abs=1e-8)
    v = symrnn.verify(spec, "b_in", _typed(RELU_B_IN), steps=2)
    assert v.ok and "one in each of 4 sign patterns of the relu arguments aⁿ_t, placed there" in v.report, v.report


def test_a_relu_slip_that_shows_only_where_a_pre_activation_is_negative_is_caught():
    wrong = RELU_B_IN.replace("(1 - u1)*Hn1*", "(1 - u1)*", 1)        # H(aⁿ1) dropped
    differs = [pattern for pattern, p in _points_in_every_pattern().items()
               if abs(value_of(wrong, _relu_gru(p)[1]) - _central_relu(p, "b_in")) > 1e-4]
    assert differs and all(not a1 for a1, _ in differs)                 # wrong only where aⁿ1 < 0
    v = symrnn.verify(cells.gru(activation="relu"), "b_in", _typed(wrong), steps=2)
    assert not v.ok and "in the sign pattern aⁿ_1 = (−)" in v.report, v.report


def test_mgu_toml_with_relu_is_decided_per_pattern_too():
    mgu = symrnn.load_spec(str(ROOT_DOCS / "mgu.toml"), activation="relu")
    assert not symrnn.verify(mgu, "b_n", "(Y1 - z1)*V*f1", steps=1).ok             # H(aⁿ1) missing
    v = symrnn.verify(mgu, "b_n", "(Y1 - z1)*V*f1*H(a_n1)", steps=1)
    assert v.ok and "one in each of 2 sign patterns" in v.report, v.report


def test_an_lstm_relu_scalar_answer_is_not_called_correct_on_drawn_patterns():
    """relu(g_t) and relu(c_t) need two inputs to place; drawn points miss some patterns, so a right answer is refused
    (as the matrix form refuses the cell) while a wrong one is still wrong, at a point that shows it."""
    lstm = cells.lstm(activation="relu")
    with pytest.raises(SymrnnError, match=r"lstm with relu: no mismatch in the \d+ of 16 sign patterns"):
        symrnn.verify(lstm, "V", "(Y1 - z1)*h1 + (Y2 - z2)*h2", steps=2)
    v = symrnn.verify(lstm, "V", "(Y1 - z1)*h1", steps=2)
    assert not v.ok and "of the 16 sign patterns" in v.report, v.report


# -- relu in a TOML output map: certification and verify would decide it at random points only, so it is refused

@pytest.mark.parametrize("argv", [
    ["derive", "--dims", "2,2,2", "--param", "V"],
    ["verify", "--steps", "1", "--param", "V", "--expr", "(Y1 - z1)*h1"],
    ["verify", "--dims", "2,2,2", "--param", "V", "--latex", r"\sum_t (Y_t - z_t) h_t^\top"],
    ["codegen", "-o", "OUT"],
])
def test_a_relu_in_a_toml_output_map_is_refused_in_one_line(argv, tmp_path, capsys):
    spec = tmp_path / "mgu_relu_out.toml"
    spec.write_text((ROOT_DOCS / "mgu.toml").read_text().replace('output_map = "V @ h + c"',
                                                                 'output_map = "V @ relu(h) + c"'))
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    assert cli.main([argv[0], "--cell", str(spec), *argv[1:]]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not (tmp_path / "out").exists()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "the output map applies relu, which is piecewise" in err[0], err
