"""verify in matrix form (--dims K,M,O), answers with definitions, and verify for gated and user cells.

Correct answers in many notations are accepted; each slip is caught and named; shape errors name the
factor and both shapes; hostile input is one line, exit 2. The truth the checker evaluates is compared
with the independent NumPy BPTT (tests/numpy_gated.py), so a wrong truth cannot pass these tests.
"""
import random
import re
import shlex

import numpy as np
import pytest

import symrnn
from conftest import ROOT
from numpy_gated import column_forward_backward
from symrnn import cli
from symrnn.errors import SymrnnError
from symrnn.printers.lecture import text
from symrnn.verification.matrixcheck import Config, names_for, truth, value
from symrnn.verification.grade import grade_file
from symrnn.verification.matrixinput import parse_answer

ELMAN = symrnn.cells.elman()
GRU = symrnn.cells.gru()
LSTM = symrnn.cells.lstm()
DIMS = (2, 3, 2)


def check(param, answer, spec=ELMAN, latex=True, steps=2, dims=DIMS):
    if latex:
        return symrnn.verify(spec, param, latex=answer, steps=steps, dims=dims)
    return symrnn.verify(spec, param, answer, steps=steps, dims=dims)


# -- the truth is the independent BPTT's ---------------------------------------------------------------

@pytest.mark.parametrize("spec,cell", [(ELMAN, "elman"), (GRU, "gru"), (LSTM, "lstm")])
def test_the_checkers_truth_is_the_independent_bptts(spec, cell):
    tr = truth(spec, 3, DIMS)
    env = tr.env((3, 2, 4), 3, random.Random(1))
    cfg = Config((3, 2, 4), 3, env)
    p = {n: np.asarray(env[n], dtype=float) for n in spec.params}
    p.update({n: np.asarray(env[n], dtype=float) for n in spec.cell.initial})
    X = {t: env[("x", t)] for t in range(1, 4)}
    Z = {t: env[("z", t)] for t in range(1, 4)}
    _, grads = column_forward_backward(cell, p, X, Z)
    for name in tr.derivation.names:
        ours = np.asarray(value(tr.gradient_form(name), cfg), dtype=float)
        assert np.allclose(np.broadcast_to(ours, grads[name].shape), grads[name], rtol=1e-10, atol=1e-12), name


# -- correct answers, many notations ---------------------------------------------------------------------

CORRECT = [
    ("W", r"\sum_{t=1}^{T} \delta_t h_{t-1}^\top"),
    ("W", r"\frac{\partial L}{\partial W} = \sum_{t=1}^{T} \delta_t h_{t-1}^{T}"),
    ("W", r"\nabla_{\mathbf{W}} L = \sum_t \boldsymbol{\delta}_t \mathbf{h}_{t-1}^\intercal"),
    ("W", r"\sum\limits_{t=1}^{T} \delta^{(t)} {h^{(t-1)}}^\top"),
    ("W", r"\sum_t \operatorname{diag}(1 - (h^{(t)})^2) \nabla_{h^{(t)}} L \, h^{(t-1)\top}"),
    ("W", r"\sum_t \left( (1 - h_t \odot h_t) \circ \gamma_t \right) h_{t-1}^\top"),
    ("W", r"\sum_t \mathrm{diag}(1 - h_t^2) \frac{\partial L}{\partial h_t} h_{t-1}^T"),
    ("W", r"\delta_1 h_0^\top + \delta_2 h_1^\top"),
    ("W", "Σ_{t=1}^{T} δ_t h_{t-1}ᵀ"),
    ("W", "Sum(delta[t] @ h[t-1].T, (t, 1, T))"),
    ("W", "delta1 @ h0.T + delta2 @ h1.T"),
    ("W", "Sum(((1 - h[t]**2) * gamma[t]) @ h[t-1].T, (t, 1, T))"),
    ("U", r"\sum_{t=1}^{T} \delta_t x_t^\top"),
    ("U", r"\sum_t \operatorname{diag}(1 - h_t^2) \gamma_t x_t^\top"),
    ("b", r"\sum_t \delta_t"),
    ("b", r"\nabla_{b} L = \sum_t \text{diag}(1 - h_t^{2}) \nabla_{h_t} L"),
    ("V", r"\sum_t (Y_t - z_t) h_t^\top"),
    ("V", r"\sum_t \nabla_{Y_t} L \; h_t^\top"),
    ("V", "Sum((Y[t] - z[t]) @ h[t].T, (t, 1, T))"),
    ("c", r"\sum_{t=1}^T (\mathbf{Y}_t - \mathbf{z}_t)"),
    ("c", r"\sum_t \frac{\partial L_t}{\partial Y_t}"),
    ("h0", r"W^\top \delta_1"),
    ("h0", r"\frac{\partial L}{\partial h_0} = W^\top \operatorname{diag}(1 - h_1^2) \gamma_1"),
    ("h0", "W.T @ delta1"),
    ("W", r"\sum_{t=1}^{T} \sum_{s=1}^{t} \operatorname{diag}(1 - h_s^2) \left( \prod_{i=s+1}^{t} "
          r"\operatorname{diag}(1 - h_i^2) W \right)^\top V^\top (Y_t - z_t) h_{s-1}^\top"),    # Jacobian products
]


@pytest.mark.parametrize("param,answer", CORRECT)
def test_correct_matrix_answers_are_accepted(param, answer):
    v = check(param, answer, latex="\\" in answer or "^" in answer or "{" in answer)
    assert v.ok, v.report
    assert "T in 1, 2, 3, 4" in v.how or "T in 2" in v.how


def test_a_general_answer_is_checked_at_several_T_and_sizes():
    v = check("W", r"\sum_t \delta_t h_{t-1}^\top")
    assert "T in 1, 2, 3, 4" in v.how and "(2, 3, 2)" in v.how and "(3, 2, 4)" in v.how
    written_out = check("W", r"\delta_1 h_0^\top + \delta_2 h_1^\top")
    assert "T in 2" in written_out.how          # an answer at T = 2 is right at T = 2 only
    assert check("W", r"\delta_1 h_0^\top + \delta_2 h_1^\top + \delta_3 h_2^\top", steps=3).ok


@pytest.mark.parametrize("spec,param,answer", [
    (GRU, "W_hr", r"\sum_t \delta^{r}_t h_{t-1}^\top"),
    (GRU, "W_hn", r"\sum_t (r_t \odot \delta^n_t) h_{t-1}^\top"),
    (GRU, "W_in", r"\sum_t \delta^n_t x_t^\top"),
    (GRU, "h0", r"W_{hr}^\top \delta^r_1 + W_{hu}^\top \delta^u_1 + W_{hn}^\top (r_1 \odot \delta^n_1) + u_1 \odot \bar{h}_1"),
    (LSTM, "W_hf", r"\sum_t \delta^f_t h_{t-1}^\top"),
    (LSTM, "c0", r"f_1 \odot \bar{c}_1"),
    (LSTM, "b_hg", r"\sum_t \delta^{g}_t"),
    (symrnn.cells.elman(loss="ce"), "V", r"\sum_t (\operatorname{softmax}(Y_t) - z_t) h_t^\top"),
    (symrnn.cells.elman(loss="bce", activation="sigmoid"), "c", r"\sum_t (\sigma(Y_t) - z_t)"),
    (symrnn.cells.elman(output="last"), "V", r"(Y_T - z_T) h_T^\top"),
    (symrnn.cells.elman(activation="relu"), "W", r"\sum_t \delta_t h_{t-1}^\top"),
])
def test_other_cells_losses_and_outputs(spec, param, answer):
    dims = (2, 3, 3) if spec.loss == "ce" else DIMS
    v = check(param, answer, spec=spec, dims=dims)
    assert v.ok, v.report


# -- slips, each caught and named ------------------------------------------------------------------------

SLIPS = [
    ("h0", r"W \delta_1", ELMAN, "missing transpose: W where Wᵀ belongs"),
    ("W", r"\sum_t \delta_t h_{t-1}", ELMAN, "missing transpose: h_{t-1} where h_{t-1}ᵀ belongs"),
    ("W", r"\sum_t \delta_t h_t^\top", ELMAN, "the wrong state in the outer product: h_t where h_{t-1} belongs"),
    ("W", r"\sum_t \delta_{t+1} h_{t-1}^\top", ELMAN, "off by one: δ_{t+1} where δ_t belongs"),
    ("W", r"\delta_t h_{t-1}^\top", ELMAN, "missing Σ_t"),
    ("W", r"\sum_t \gamma_t \operatorname{diag}(1 - h_t^2) h_{t-1}^\top", ELMAN,
     "diag(1 - h_t²) on the wrong side"),
    ("W", r"\sum_t \operatorname{diag}(1 - h_t^2) \odot \gamma_t h_{t-1}^\top", ELMAN, "⊙ where a matrix product belongs"),
    ("V", r"\sum_t (Y_t - z_t) \odot h_t", ELMAN, "⊙ where the outer product belongs"),
    ("U", r"\sum_t (1 - h_t \odot h_t) \odot \gamma_t x_t^\top", ELMAN, "brackets: ⊙ binds looser"),
    ("W", r"\sum_{t=2}^{T} \delta_t h_{t-1}^\top", ELMAN, "the sum's limits"),
    ("W", r"\sum_t \sum_{s=1}^{t} \operatorname{diag}(1 - h_s^2) (\prod_{i=s+1}^{t} \operatorname{diag}(1 - h_i^2) W) "
          r"V^\top (Y_t - z_t) h_{s-1}^\top", ELMAN, "missing transpose: (Π_{i=s+1..t} diag(1 - h_i²) W)"),
    ("W", r"\sum_t \sum_{s=1}^{t} \operatorname{diag}(1 - h_s^2) (\prod_{i=s}^{t} \operatorname{diag}(1 - h_i^2) W)^T "
          r"V^\top (Y_t - z_t) h_{s-1}^\top", ELMAN, "the product's limits: i = s … t where i = s + 1 … t belongs"),
    ("c", r"\sum_t (z_t - Y_t)", ELMAN, "the sign is flipped"),
    ("W", r"\sum_t \delta_t h_{t-1}^\top + \sum_t \delta_t x_t^\top", ELMAN, "an extra term"),
    ("W_hn", r"\sum_t \delta^n_t h_{t-1}^\top", GRU, "a factor left out: δⁿ_t where r_t ⊙ δⁿ_t belongs"),
    ("W", r"\delta_t = (1 - h_t \odot h_t) \odot V^\top (Y_t - z_t) + W^\top \delta_{t+1}" "\n"
          r"\nabla_W L = \sum_t \delta_t h_{t-1}^\top", ELMAN, "⊙ on the wrong side of the sum"),
    ("W_hr", r"\sum_t \delta^{r}_t h_t^\top", GRU, "the wrong state in the outer product"),
]


@pytest.mark.parametrize("param,answer,spec,slip", SLIPS)
def test_each_slip_is_caught_and_named(param, answer, spec, slip):
    v = check(param, answer, spec=spec)
    assert not v.ok
    assert slip in v.summary and slip in v.report, v.report


def test_a_loss_slip_is_named():
    v = check("V", r"\sum_t (Y_t - z_t) h_t^\top", spec=symrnn.cells.elman(loss="ce"), dims=(2, 3, 3))
    assert not v.ok and "for this loss it is softmax(Y_t) - onehot(z_t)" in v.summary


# -- shapes ----------------------------------------------------------------------------------------------

GOODFELLOW_21_MISPRINT = (r"\gamma_t = W^\top (\nabla_{h^{(t+1)}} L) \operatorname{diag}(1 - (h^{(t+1)})^2) "
                          r"+ V^\top \nabla_{Y_t} L")


def test_goodfellows_misprinted_10_21_is_non_conformable():
    v = check("W", GOODFELLOW_21_MISPRINT + "\n" + r"\nabla_W L = \sum_t \operatorname{diag}(1 - h_t^2) \gamma_t "
                                                    r"h_{t-1}^\top")
    assert not v.ok
    bad = v.wrong[0]
    assert bad.line.number == 1 and bad.what == "γ_t"
    assert "not conformable: Wᵀ γ_{t+1} is k×1 and diag(1 - h_{t+1}²) is k×k" in bad.problem
    assert "diag(1 - h_{t+1}²) on the wrong side" in v.summary
    assert "line 2, ∂L/∂W = Σ_{t=1..T} diag(1 - h_t²) γ_t h_{t-1}ᵀ: right" in v.report


@pytest.mark.parametrize("param,answer,words", [
    ("W", r"\sum_t \delta_t", "the answer is k×1, but ∂L/∂W has the shape of W: k×k"),
    ("U", r"\sum_t \delta_t h_{t-1}^\top", None),                      # k×k where k×m belongs
    ("V", r"\sum_t (Y_t - z_t) \odot h_t", "⊙ of o×1 and h_t (k×1)"),
    ("W", r"\sum_t \operatorname{diag}(W) \delta_t", "diag takes a column vector, not k×k"),
    ("b", r"\sum_t \delta_t + Y_t", "cannot add Y_t (o×1)"),
])
def test_shape_errors_name_the_factor_and_both_shapes(param, answer, words):
    v = check(param, answer)
    assert not v.ok
    if words:
        assert words in v.report, v.report
    else:
        assert "k×k" in v.report and "k×m" in v.report, v.report


def test_star_reads_as_numpy_does():
    assert check("W", "Sum(((1 - h[t]**2) * gamma[t]) @ h[t-1].T, (t, 1, T))", latex=False).ok
    with pytest.raises(SymrnnError, match=r"'\*' between k×k and k×1.*write '@'"):
        check("h0", "W.T * delta1", latex=False)


# -- answers with definitions ----------------------------------------------------------------------------

GOODFELLOW = {   # eqs. 10.22–10.28 (in the lecture's letters), with γ_t = ∇_{h_t} L defined as in 10.21
    "c": r"\nabla_{c} L = \sum_t \nabla_{Y_t} L",
    "b": r"\nabla_{b} L = \sum_t \operatorname{diag}(1 - (h^{(t)})^2) \nabla_{h^{(t)}} L",
    "V": r"\nabla_{V} L = \sum_t (\nabla_{Y_t} L) {h^{(t)}}^\top",
    "W": r"\nabla_{W} L = \sum_t \operatorname{diag}(1 - (h^{(t)})^2) (\nabla_{h^{(t)}} L) h^{(t-1)\top}",
    "U": r"\nabla_{U} L = \sum_t \operatorname{diag}(1 - (h^{(t)})^2) (\nabla_{h^{(t)}} L) x^{(t)\top}",
}
GAMMA = r"\gamma_t = W^\top \operatorname{diag}(1 - (h^{(t+1)})^2) \gamma_{t+1} + V^\top (Y_t - z_t)"


@pytest.mark.parametrize("param", sorted(GOODFELLOW))
def test_goodfellows_10_22_to_10_28_are_accepted(param):
    v = check(param, GAMMA + "\n" + GOODFELLOW[param])
    assert v.ok, v.report
    assert [lv.ok for lv in v.lines] == [True, True]


def test_the_wrong_definition_is_named_by_its_line(tmp_path, capsys):
    answer = tmp_path / "answer.tex"
    answer.write_text("% my derivation\n"
                      r"\delta_t = (1 - h_t \odot h_t) \odot (V^\top (Y_t - z_t) + W \delta_{t+1})" "\n"
                      r"\frac{\partial L}{\partial W} = \sum_{t=1}^{T} \delta_t h_{t-1}^\top" "\n", encoding="utf-8")
    assert cli.main(["verify", "--dims", "2,3,2", "--param", "W", "--file", str(answer)]) == 1
    out = capsys.readouterr().out
    assert "line 2, δ_t = (1 - h_t ⊙ h_t) ⊙ (Vᵀ(Y_t - z_t) + W δ_{t+1}): wrong" in out
    assert "missing transpose: W where Wᵀ belongs" in out
    assert "line 3, ∂L/∂W = Σ_{t=1..T} δ_t h_{t-1}ᵀ: right" in out


def test_definitions_in_sympy_style_and_a_start_for_many_to_one():
    assert check("W", "delta[t] = (1 - h[t]**2) * (V.T @ (Y[t] - z[t]) + W.T @ delta[t+1])\n"
                      "dL/dW = Sum(delta[t] @ h[t-1].T, (t, 1, T))", latex=False).ok
    last = symrnn.cells.elman(output="last")
    with_start = (r"\delta_t = (1 - h_t^2) \odot W^\top \delta_{t+1}" "\n"
                  r"\delta_T = (1 - h_T^2) \odot V^\top (Y_T - z_T)" "\n"
                  r"\partial L / \partial W = \sum_{t=1}^{T} \delta_t h_{t-1}^\top")
    assert check("W", with_start, spec=last, steps=3).ok
    every_step = (r"\delta_t = (1 - h_t^2) \odot (V^\top (Y_t - z_t) + W^\top \delta_{t+1})" "\n"
                  r"\partial L / \partial W = \sum_{t=1}^{T} \delta_t h_{t-1}^\top")
    v = check("W", every_step, spec=last, steps=3)
    assert not v.ok and v.wrong[0].line.number == 1


def test_gated_definitions_and_their_traps():
    gru_lines = [
        r"\bar{h}_t = V^\top (Y_t - z_t) + W_{hr}^\top \delta^r_{t+1} + W_{hu}^\top \delta^u_{t+1} "
        r"+ W_{hn}^\top (r_{t+1} \odot \delta^n_{t+1}) + u_{t+1} \odot \bar{h}_{t+1}",
        r"\delta^n_t = (1 - n_t^2) \odot (1 - u_t) \odot \bar{h}_t",
        r"\delta^u_t = u_t \odot (1 - u_t) \odot (h_{t-1} - n_t) \odot \bar{h}_t",
        r"\delta^r_t = r_t \odot (1 - r_t) \odot (W_{hn} h_{t-1} + b_{hn}) \odot \delta^n_t",
        r"\nabla_{W_{hr}} L = \sum_t \delta^r_t h_{t-1}^\top",
    ]
    assert check("W_hr", "\n".join(gru_lines), spec=GRU).ok
    dropped = gru_lines.copy()
    dropped[1] = r"\delta^n_t = (1 - n_t^2) \odot u_t \odot \bar{h}_t"            # the (1 − u) branch dropped
    v = check("W_hr", "\n".join(dropped), spec=GRU)
    assert [lv.line.number for lv in v.wrong] == [2] and "u_t where 1 - u_t belongs" in v.summary
    v = check("W_hf", r"\delta^f_t = f_t \odot (1 - f_t) \odot c_t \odot \bar{c}_t" "\n"
                      r"\nabla_{W_{hf}} L = \sum_t \delta^f_t h_{t-1}^\top", spec=LSTM)
    assert "c_t where c_{t-1} belongs" in v.summary                                  # c_t for c_{t−1}
    v = check("W_hf", r"\delta^f_t = (1 - f_t) \odot c_{t-1} \odot \bar{c}_t" "\n"
                      r"\nabla_{W_{hf}} L = \sum_t \delta^f_t h_{t-1}^\top", spec=LSTM)
    assert "a factor left out: f_t" in v.summary                                     # a gate's σ′ half missing


def test_scalar_answers_with_definitions():
    answer = (r"\delta_2 = (Y_2 - z_2) V (1 - h_2^2)" "\n"
              r"\delta_1 = (1 - h_1^2)(V (Y_1 - z_1) + W \delta_2)" "\n"
              r"\frac{\partial L}{\partial W} = \delta_1 h_0 + \delta_2 h_1")
    assert symrnn.verify(ELMAN, "W", latex=answer).ok
    v = symrnn.verify(ELMAN, "W", latex=answer.replace(r"(1 - h_1^2)", "(1 - h_1)").replace("h_1\n", "h_2"))
    assert [lv.line.number for lv in v.wrong] == [2] and "1 - h1 where 1 - h1² belongs" in v.summary
    v = symrnn.verify(ELMAN, "W", "delta2 = (Y2 - z2)*V*(1 - h2**2); delta1 = (1 - h1**2)*(V*(Y1 - z1) + W*delta2); "
                                  "dL/dW = delta1*h0 + delta2*h2")
    assert [lv.line.label for lv in v.wrong] == ["equation 3"] and "h2 where h1 belongs" in v.summary


# -- scalar verify for cells that are not the lecture's ----------------------------------------------------

@pytest.mark.parametrize("spec,param", [
    (GRU, "W_hr"), (LSTM, "W_hf"), (LSTM, "c0"),
    (symrnn.load_spec(str(ROOT / "docs" / "examples" / "leaky.toml")), "alpha"),
    (symrnn.load_spec(str(ROOT / "docs" / "examples" / "mgu.toml")), "W_f"),
])
def test_scalar_verify_for_gated_and_user_cells(spec, param):
    true = str(symrnn.derive(spec, steps=2).gradient(param))
    assert symrnn.verify(spec, param, true).ok
    v = symrnn.verify(spec, param, f"{true} + h1*x1")
    assert not v.ok and "an extra term: h1 x1" in v.summary, v.report


def test_scalar_gru_trap_the_update_branch():
    true = str(symrnn.derive(GRU, steps=2).gradient("W_hr"))
    v = symrnn.verify(GRU, "W_hr", true.replace("(1 - u2)", "u2", 1))
    assert not v.ok and "u2 where 1 - u2 belongs" in v.summary


# -- bad input: one line, exit 2 ------------------------------------------------------------------------

@pytest.mark.parametrize("args,culprit", [
    (["--latex", r"\sum_t \delta_t \foo"], r"\foo"),
    (["--latex", r"\sum_t Q_t h_{t-1}^\top"], "unknown name 'Q'"),
    (["--latex", r"\sum_t (\delta_t h_{t-1}^\top"], "')'"),
    (["--latex", r"\sum_q \delta_q"], "index variable"),
    (["--latex", r"W^{-1} \delta_1"], "inverse"),
    (["--latex", r"h \delta_1"], "needs a step"),
    (["--latex", r"\delta_{t+1000} h_0^\top"], "too large"),
    (["--latex", r"\sum_t \delta_t h_{t-1}^\top = 1 = 2"], "second '='"),
    (["--latex", r"\frac{\partial L}{\partial V} = \sum_t \delta_t h_{t-1}^\top"], "∂L/∂V but --param is W"),
    (["--latex", r"\frac{\partial L}{\partial W} = \frac{\partial L}{\partial W}"], "the answer has to work out"),
    (["--latex", r"\delta_t = W^\top \delta_{t+1}"], "no line gives ∂L/∂W"),
    (["--latex", "\\sum_t \\delta_t h_{t-1}^T \n \\sum_t \\delta_t h_{t-1}^T"], "both give the gradient"),
    (["--latex", "(" * 300 + "W" + ")" * 300], "nested"),
    (["--latex", "W" * 20001], "20000"),
    (["--latex", "   "], "empty"),
    (["--expr", "W.T * delta1"], "'*' between"),
    (["--expr", "__import__('os')"], "__import__"),
    (["--latex", r"\sum_t \delta_s h_{t-1}^\top"], "not bound"),
])
def test_hostile_matrix_answers_are_one_line_exit_2(args, culprit, capsys):
    assert cli.main(["verify", "--dims", "2,3,2", "--param", "W", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0], err


@pytest.mark.parametrize("args,culprit", [
    (["--dims", "2,3,1", "--loss", "ce", "--param", "V", "--latex", "V"], "O ≥ 2"),
    (["--dims", "0,3,2", "--param", "W", "--latex", "W"], "--dims"),
    (["--cell", "gru", "--loss", "ce", "--param", "V", "--expr", "V", "--dims", "2,3,1"], "O ≥ 2"),
    (["--dims", "2,3,2", "--param", "Q", "--latex", "W"], "'Q'"),
])
def test_bad_models_are_one_line_exit_2(args, culprit, capsys):
    assert cli.main(["verify", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and culprit in err, err


def test_a_step_that_does_not_exist_is_a_wrong_answer_not_a_crash():
    v = check("W", r"\delta_1 h_0^\top + \delta_2 h_3^\top")
    assert not v.ok and "h3 does not exist at T = 2" in v.report


def test_grade_takes_matrix_rows(tmp_path):
    cls = tmp_path / "class.csv"
    cls.write_text("student,param,answer,dims\n"
                   "ann,W,\\sum_t \\delta_t h_{t-1}^\\top,\"2,3,2\"\n"
                   "bob,W,\\sum_t \\delta_t h_t^\\top,\"2,3,2\"\n", encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["grade", str(cls), "-o", str(out)]) == 0
    summary = (out / "summary.csv").read_text(encoding="utf-8")
    assert "ann,W,correct" in summary and "bob,W,wrong" in summary and "wrong state in the outer product" in summary
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Σ_{t=1..T} δ_t h_{t-1}ᵀ" in page


# -- docs/verify-notation.md holds ------------------------------------------------------------------------

GUIDE = (ROOT / "docs" / "verify-notation.md").read_text(encoding="utf-8")
MATRIX_SECTION = GUIDE.split("## Matrix form (`--dims K,M,O`)\n", 1)[1].split("\n## ", 1)[0]
LATEX_PART, SYMPY_PART = MATRIX_SECTION.split("SymPy style (`--expr`, or an answer", 1)
ROW = r"^\| `(.+?)` \| `(.+?)` \|$"


@pytest.mark.parametrize("latex,typed,reads", [(True, *r) for r in re.findall(ROW, LATEX_PART, flags=re.M)] +
                         [(False, *r) for r in re.findall(ROW, SYMPY_PART, flags=re.M)])
def test_every_matrix_example_is_read_as_the_guide_says(latex, typed, reads):
    (line,) = parse_answer(typed, names_for(ELMAN), "--latex" if latex else "--expr", latex)
    assert text(line.rhs) == reads


MATRIX_REFUSALS = re.findall(r"^\| `((?:--dims|--cell) .+?)` \| `(.+?)` \|$",
                             GUIDE.split("### Matrix refusals", 1)[1].split("\n## ", 1)[0], flags=re.M)


def test_the_guide_lists_matrix_rows_and_refusals():
    assert len(re.findall(ROW, LATEX_PART, flags=re.M)) >= 15 and len(re.findall(ROW, SYMPY_PART, flags=re.M)) >= 5
    assert len(MATRIX_REFUSALS) >= 8


@pytest.mark.parametrize("args,message", MATRIX_REFUSALS)
def test_every_matrix_refusal_is_as_the_guide_says(args, message, capsys):
    assert cli.main(["verify", *shlex.split(args)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_a_start_written_out_is_a_definition_too():
    answer = (r"\delta_t = (1 - h_t \odot h_t) \odot (V^\top (Y_t - z_t) + W^\top \delta_{t+1})" "\n"
              r"\delta_{T+1} = 0" "\n"
              r"\frac{\partial L}{\partial W} = \sum_{t=1}^{T} \delta_t h_{t-1}^\top")
    assert check("W", answer).ok
    v = check("W", answer.replace(r"\delta_{T+1} = 0", r"\delta_{T+1} = h_T"))
    assert [lv.line.number for lv in v.wrong] == [2]


def test_the_example_class_file_grades_as_the_readme_says(tmp_path):
    results, _ = grade_file(str(ROOT / "docs" / "examples" / "class_matrix.csv"), str(tmp_path / "out"))
    assert [r.verdict for r in results] == ["correct", "correct", "wrong", "wrong", "wrong", "unreadable", "correct",
                                            "wrong"]
    assert "diag(1 - h_t²) on the wrong side" in results[2].diagnosis
    assert "missing transpose: W where Wᵀ belongs" in results[4].diagnosis
    assert "unknown command '\\otimes'" in results[5].diagnosis


def test_relu_in_scalar_form_is_checked_in_every_sign_pattern():
    relu = symrnn.cells.elman(activation="relu")
    good = (r"\delta_3 = H(a_3) (Y_3 - z_3) V" "\n"
            r"\delta_2 = H(a_2) (V (Y_2 - z_2) + W \delta_3)" "\n"
            r"\delta_1 = H(a_1) (V (Y_1 - z_1) + W \delta_2)" "\n"
            r"\frac{\partial L}{\partial W} = \delta_1 h_0 + \delta_2 h_1 + \delta_3 h_2")
    v = symrnn.verify(relu, "W", latex=good, steps=3)
    assert v.ok and "one in each of 8 sign patterns" in v.how
    # H(a1) for H(a2) differs only where a1 and a2 have different signs: found there
    v = symrnn.verify(relu, "W", latex=good.replace(r"\delta_2 = H(a_2)", r"\delta_2 = H(a_1)"), steps=3)
    assert [lv.line.number for lv in v.wrong] == [2] and "a1 where a2 belongs" in v.summary


def test_a_definition_of_another_quantity_under_a_known_name_is_explained():
    v = check("W", r"\delta_t = W^\top \operatorname{diag}(1 - h_{t+1}^2) \delta_{t+1} + V^\top (Y_t - z_t)" "\n"
                   r"\nabla_W L = \sum_t \operatorname{diag}(1 - h_t^2) \delta_t h_{t-1}^\top")
    assert not v.ok
    assert "this defines γ_t = ∂L/∂h_t under the name δ_t, which is ∂L/∂a_t here" in v.report
    assert "right with δ_t as line 1 defines it (∂L/∂h_t)" in v.report
