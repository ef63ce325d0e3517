"""symrnn verify: the lecture's gradients accepted in SymPy syntax and LaTeX, classic mistakes localised
to the chain-rule term that is wrong, bad input refused in one line with exit 2."""
import subprocess
import sys

import pytest
import sympy as sp

import symrnn
from symrnn import cli
from symrnn.errors import SymrnnError
from symrnn.verification.verify import TRAPS

LECTURE = symrnn.cells.elman()

# The lecture's T = 2 gradients, term by term as written there.
W1, W2, W3 = "(Y1 - z1)*V*(1 - h1**2)*h0", "(Y2 - z2)*V*(1 - h2**2)*W*(1 - h1**2)*h0", "(Y2 - z2)*V*(1 - h2**2)*h1"
SYMPY = {
    "W": f"{W1} + {W2} + {W3}",
    "U": "(Y1 - z1)*V*(1 - h1**2)*x1 + (Y2 - z2)*V*(1 - h2**2)*W*(1 - h1**2)*x1 + (Y2 - z2)*V*(1 - h2**2)*x2",
    "b": "(Y1 - z1)*V*(1 - h1**2) + (Y2 - z2)*V*(1 - h2**2)*W*(1 - h1**2) + (Y2 - z2)*V*(1 - h2**2)",
    "V": "(Y1 - z1)*h1 + (Y2 - z2)*h2",
    "c": "(Y1 - z1) + (Y2 - z2)",
}
LATEX = {
    "W": r"\frac{\partial L}{\partial W} = (Y_1 - z_1) V \left(1 - h_1^2\right) h_0 "
         r"+ (Y_2 - z_2) V (1 - h_2^{2}) W (1 - h_{1}^2) h_0 + (Y_2 - z_2) \cdot V (1 - h_2^2) h_1",
    "U": r"(Y_1 - z_1) V (1 - h_1^2) x_1 + (Y_2 - z_2) V (1 - h_2^2) W (1 - h_1^2) x_1 + (Y_2 - z_2) V (1 - h_2^2) x_2",
    "b": r"(Y_1 - z_1) V (1 - h_1^2) + (Y_2 - z_2) V (1 - h_2^2) W (1 - h_1^2) + (Y_2 - z_2) V (1 - h_2^2)",
    "V": r"\frac{\partial L}{\partial V} = (Y_1 - z_1) h_1 + (Y_2 - z_2) \times h_2",
    "c": r"\left(Y_1 - z_1\right) + \left(Y_2 - z_2\right)",
}


def verdict(param, text=None, **kw):
    steps = kw.pop("steps", 2)
    return symrnn.verify(kw.pop("spec", LECTURE), param, text, steps=steps, **kw)


@pytest.mark.parametrize("param", list(SYMPY))
def test_the_lecture_is_correct_in_sympy_syntax_and_latex(param):
    for v in (verdict(param, SYMPY[param]), verdict(param, latex=LATEX[param])):
        assert v.ok and v.exact, v.report
        assert v.report.startswith(f"∂L/∂{param}: correct")
        assert not (v.missing or v.extra or v.wrong)


@pytest.mark.parametrize("text", [
    "(Y1 - z1)*V*(1 - tanh(a1)**2)*h0 + (Y2 - z2)*V*sech(a2)**2*(W*(1 - h1**2)*h0 + h1)",   # factored, tanh' as sech²
    "V*((Y1 - z1)*(1 - h1**2)*h0 + (Y2 - z2)*(1 - h2**2)*(W*(1 - h1**2)*h0 + h1))",
    "dL/dW = " + SYMPY["W"],
])
def test_equivalent_forms_are_accepted(text):
    v = verdict("W", text)
    assert v.ok, v.report


def test_equivalent_latex_form_with_sech_and_tanh():
    v = verdict("W", latex=r"(Y_1 - z_1) V \operatorname{sech}^2(a_1) h_0 + (Y_2 - z_2) V (1 - \tanh(a_2)^2)"
                           r" \left(W \mathrm{sech}(a_1)^{2} h_0 + h_1\right)")
    assert v.ok, v.report


def test_missing_recurrent_term_is_named():
    v = verdict("W", f"{W1} + {W3}")
    assert not v.ok
    assert [str(t.leibniz) for t in v.missing] == [str(symrnn.derive(LECTURE, certify=False).expansion("W")[1].leibniz)]
    assert "missing: ∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W = (Y2 - z2) V (1 - h2²) W (1 - h1²) h0" in v.report
    assert "recurrent path" in v.report
    assert not v.extra and not v.wrong
    assert v.counterexample and v.difference != 0


def test_wrong_time_index():
    v = verdict("W", f"(Y1 - z1)*V*(1 - h1**2)*h1 + {W2} + {W3}")
    (w,) = v.wrong
    assert "wrong time index in ∂⁺h1/∂W: h1 where the chain rule has h0" in w.diagnosis
    assert w.term.loss_step == 1 and not v.missing and not v.extra


def test_one_minus_h_instead_of_one_minus_h_squared():
    v = verdict("W", f"(Y1 - z1)*V*(1 - h1)*h0 + {W2} + {W3}")
    (w,) = v.wrong
    assert "tanh' written as 1 - h1 instead of 1 - h1²" in w.diagnosis


def test_missing_sum_over_t():
    v = verdict("W", W3)   # only the last step's direct term
    assert {str(t.leibniz) for t in v.missing} == {"Chain(Partial(L1, h1, False), Partial(h1, W, True))",
                                                   "Chain(Partial(L2, h2, False), Partial(h2, h1, False), Partial(h1, W, True))"}
    v = verdict("V", "(Y2 - z2)*h2")
    assert "missing Σ_t: only the terms of L2 are present" in v.report
    assert "missing: ∂L1/∂Y1 ∂Y1/∂V = (Y1 - z1) h1" in v.report


def test_extra_term():
    v = verdict("W", SYMPY["W"] + " + (Y2 - z2)*V*h2")
    assert not v.ok and not v.missing and not v.wrong
    assert [sp.srepr(e) for e in v.extra] == [sp.srepr(sp.sympify("(Y2 - z2)*V*h2"))]
    assert "extra: " in v.report


def test_lost_factors_and_sign():
    v = verdict("W", f"(Y1 - z1)*V*h0 + (Y2 - z2)*V*(1 - h2**2)*(1 - h1**2)*h0 + {W3}")
    diagnoses = [w.diagnosis for w in v.wrong]
    assert diagnoses == ["the activation's derivative 1 - h1² is missing from ∂⁺h1/∂W",
                         "the recurrent factor ∂h2/∂h1 lost its W"]
    v = verdict("c", "Y1 - z1 + z2 - Y2")
    assert [w.diagnosis for w in v.wrong] == ["the sign is flipped"]


def test_trap_registry_is_open():
    assert {"time index", "lost factor", "tanh' as 1 - h", "sign"} <= set(TRAPS)


def test_three_steps():
    d = symrnn.derive(LECTURE, steps=3, certify=False)
    terms = d.expansion("b")
    assert len(terms) == 6
    right = " + ".join(str(t.value) for t in terms)
    assert verdict("b", right, steps=3).ok
    v = verdict("b", " + ".join(str(t.value) for t in terms if len(t.factors) < 4), steps=3)
    assert [str(t.loss_step) for t in v.missing] == ["3"]
    assert "the path from L3 back through h1 (the recurrent path)" in v.report


def test_sigmoid_bce():
    spec = symrnn.cells.elman(activation="sigmoid", loss="bce")
    true = "(sigmoid(Y1) - z1)*V*h1*(1 - h1)*h0 + (sigmoid(Y2) - z2)*V*h2*(1 - h2)*W*h1*(1 - h1)*h0 " \
           "+ (sigmoid(Y2) - z2)*V*h2*(1 - h2)*h1"
    assert verdict("W", true, spec=spec).ok
    assert verdict("W", latex=r"(\sigma(Y_1) - z_1) V \sigma(a_1)(1 - \sigma(a_1)) h_0 + (\sigma(Y_2) - z_2) V h_2 "
                              r"(1 - h_2) (W h_1 (1 - h_1) h_0 + h_1)", spec=spec).ok
    v = verdict("W", true.replace("V*h1*(1 - h1)*h0 +", "V*h0 +", 1), spec=spec)
    assert [w.diagnosis for w in v.wrong] == ["the activation's derivative h1 (1 - h1) is missing from ∂⁺h1/∂W"]


def test_file_input(tmp_path):
    tex, py = tmp_path / "w.tex", tmp_path / "w.txt"
    tex.write_text("% my answer\n" + LATEX["W"] + "\n")
    py.write_text("# my answer\ndL/dW = " + SYMPY["W"] + "\n")
    assert verdict("W", file=str(tex)).ok and verdict("W", file=str(py)).ok


def run(*args):
    return subprocess.run([sys.executable, "-m", "symrnn", "verify", *args], capture_output=True, text=True, timeout=120)


def test_cli_exit_codes():
    ok = run("--param", "W", "--latex", LATEX["W"])
    assert ok.returncode == 0 and ok.stdout.startswith("∂L/∂W: correct"), ok.stderr
    bad = run("--param", "W", "--expr", f"{W1} + {W3}")
    assert bad.returncode == 1 and "missing: ∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W" in bad.stdout


@pytest.mark.parametrize("args,culprit", [
    (["--param", "W", "--expr", "h5 + h1"], "h5"),
    (["--param", "W", "--latex", "h_5"], "h5"),
    (["--param", "W", "--expr", "__import__('os').system('true')"], "__import__"),
    (["--param", "W", "--expr", "(h1"], "(h1"),
    (["--param", "W", "--latex", r"\left(h_1"], "right"),
    (["--param", "W", "--latex", r"h_1 \odot W"], r"\odot"),
    (["--param", "W", "--latex", r"W^\top h_1"], "transpose"),
    (["--param", "W", "--latex", r"\sum_t h_t"], r"\sum"),
    (["--param", "W", "--latex", r"\foo{h_1}"], r"\foo"),
    (["--expr", "h1"], "--param"),
    (["--param", "Q", "--expr", "h1"], "Q"),
    (["--param", "W"], "--expr"),
    (["--param", "W", "--expr", "h1", "--latex", "h_1"], "--latex"),
    (["--param", "W", "--expr", "h1", "--dims", "2,x,2"], "--dims"),
    (["--param", "W", "--expr", "dL/dV = h1"], "∂L/∂V"),
    (["--param", "W", "--file", "/nonexistent/answer.tex"], "/nonexistent/answer.tex"),
])
def test_bad_input_is_one_line_exit_2(args, culprit, capsys):
    assert cli.main(["verify", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0], err


def test_bad_input_in_the_api_raises():
    with pytest.raises(SymrnnError, match="h5"):
        verdict("W", "h5")
    with pytest.raises(SymrnnError, match="dims"):
        symrnn.verify(LECTURE, "W", "h1", dims=(2, 0, 2))
    assert not symrnn.verify(LECTURE, "W", "h1", dims=(2, 2, 2)).ok     # matrix form: h1 is no k×k matrix


def test_a_term_counted_twice():
    v = verdict("W", f"{SYMPY['W']} + {W1}")   # SymPy merges the copies: 2 (Y1 - z1) V (1 - h1²) h0
    assert [w.diagnosis.split(":")[0] for w in v.wrong] == ["a factor 2 too many"]
    assert not v.missing and not v.extra and "missing Σ_t" not in v.report
    v = verdict("W", f"{SYMPY['W']} + 2*(Y1 - z1)*(1 - h1**2)*h0*V/2")
    assert [str(t.loss_step) for t in v.matched] == ["1", "2", "2"]


NAMES = {n: sp.Symbol(n) for n in "W U V b c h0 h1 h2 x1 x2 a1 a2 Y1 Y2 z1 z2".split()}


@pytest.mark.parametrize("tex,expected", [
    (r"2h_1", "2*h1"),
    (r"h_{1} h_0", "h0*h1"),
    (r"\tanh^2(a_1) + \tanh(a_2)^{2}", "tanh(a1)**2 + tanh(a2)**2"),
    (r"\operatorname{sech}(a_1)^2 - \mathrm{sech}^{2}(a_2)", "sech(a1)**2 - sech(a2)**2"),
    (r"\dfrac{1}{2}\left(Y_1 - z_1\right)^2", "(Y1 - z1)**2/2"),
    (r"- W \times h_0 \cdot V / 2", "-W*h0*V/2"),
    (r"\frac{dL}{dW} = \sigma(Y_1)\,(1 - h_1)", "sigmoid(Y1)*(1 - h1)"),
    (r"\sigma'(a_1)", "sigmoid(a1)*(1 - sigmoid(a1))"),   # a prime on a known function is its derivative
])
def test_latex_grammar(tex, expected):
    from symrnn.verification.texinput import parse_latex
    from symrnn.model.parsing import parse_expr
    assert sp.expand(parse_latex(tex, NAMES)[1] - parse_expr(expected, NAMES)) == 0


@pytest.mark.parametrize("tex,culprit", [
    (r"h_1^23", "^{23}"), (r"h_{12}", "h12"), (r"h_t", "'t'"), (r"h_1'(a_1)", "\"'\""),
    (r"\operatorname{diag}(h_1)", "diag"), (r"\frac{1}{0}", "division by zero"), (r"W = h_1", r"\frac"),
    (r"h_1 h_1^{100}", "100"), (r"{h_1", "'}'"),
])
def test_latex_grammar_fails_loudly(tex, culprit):
    from symrnn.verification.texinput import parse_latex
    with pytest.raises(SymrnnError) as e:
        parse_latex(tex, NAMES)
    assert culprit in str(e.value) and "\n" not in str(e.value)


def test_a_factored_answer_is_split_into_terms():
    v = verdict("W", "V*((Y1 - z1)*(1 - h1)*h0 + (Y2 - z2)*(1 - h2**2)*(W*(1 - h1**2)*h0 + h1))")
    assert len(v.matched) == 2 and not v.missing and not v.extra
    (w,) = v.wrong
    assert w.term.loss_step == 1 and "1 - h1 instead of 1 - h1²" in w.diagnosis
    assert sp.expand(w.yours - sp.sympify("V*(Y1 - z1)*(1 - h1)*h0")) == 0


def test_help():
    r = run("--help")
    assert r.returncode == 0 and "--latex" in r.stdout and "Traceback" not in r.stderr


def test_many_to_one_terms_of_a_step_without_a_loss_are_extra():
    spec = symrnn.cells.elman(output="last")
    assert verdict("V", "(Y2 - z2)*h2", spec=spec).ok
    v = verdict("V", "(Y1 - z1)*h1 + (Y2 - z2)*h2", spec=spec)
    assert len(v.extra) == 1 and "many-to-one (--output last): only L2 is a loss, L1 is not" in v.report
