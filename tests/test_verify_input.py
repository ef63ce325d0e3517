"""verify's input and soundness: the notation students type, hostile answers (one line, exit 2, or a clean
verdict — never a traceback, never a hang), and piecewise answers decided per sign pattern."""
import os
import subprocess
import sys
import time

import pytest
import sympy as sp

import symrnn
from symrnn import cli
from symrnn.errors import SymrnnError
from symrnn.verification.model import model
from symrnn.verification.reading import read
from symrnn.verification.sympyinput import parse_sympy

LECTURE = symrnn.cells.elman()
RELU = symrnn.cells.elman(activation="relu")
NAMES = model(LECTURE, 2).names


@pytest.mark.parametrize("text,expected", [
    ("(Y1 - z1) V (1 - h1^2) h0", "(Y1 - z1)*V*(1 - h1**2)*h0"),
    ("2 h1 + 2h1", "4*h1"),
    ("Vh1 Wh0", "V*h1*W*h0"),
    ("(Y1 − z1)·V×(1 − h1²)", "(Y1 - z1)*V*(1 - h1**2)"),
    ("σ(Y1) - z1", "sigmoid(Y1) - z1"),
    ("[1 - h1^2] h0", "(1 - h1**2)*h0"),
    ("tanh'(a1) sigmoid'(a2)", "(1 - tanh(a1)**2)*sigmoid(a2)*(1 - sigmoid(a2))"),
    ("relu'(a1) + H(a2) + step(a1)", "2*Heaviside(a1, 0) + Heaviside(a2, 0)"),
    ("e^(Y1) + e**-Y2", "exp(Y1) + exp(-Y2)"),
    ("- - h1", "h1"),
    ("½ (Y1 - z1)", "(Y1 - z1)/2"),
])
def test_sympy_syntax_as_students_type_it(text, expected):
    from symrnn.model.parsing import parse_expr
    assert sp.expand(parse_sympy(text, NAMES) - parse_expr(expected, NAMES)) == 0


@pytest.mark.parametrize("text,message", [
    ("(h1", "expected ')' at the end, to close the bracket at position 1"),
    ("h1 + * h0", "expected a number, a name or '(' after '+', found '*' at position 6"),
    ("h1 +", "after '+' at the end"),
    ("h1)", "unexpected ')' (no bracket to close) at position 3"),
    ("tanh h1", "expected '(' after the function tanh at position 1"),
    ("h1 h5", "unknown name 'h5' (known: U, V, W, Y1, Y2, a1, a2, b, c, h0, h1, h2, x1, x2, z1, z2) at position 4"),
    ("foo(h1)", "unknown function 'foo'"),
    ("h1 \\cdot h0", "looks like LaTeX"),
    ("2**2**2**2**2", "exponent '2**2**2**2' (= 65536) is larger than 64"),
    ("tanh(tanh(tanh(tanh(tanh(h1)))))", "functions nested more than 4 deep"),
])
def test_sympy_syntax_errors_give_position_and_expected_token(text, message):
    with pytest.raises(SymrnnError) as e:
        parse_sympy(text, NAMES)
    assert message in str(e.value)


def verdict(param, text=None, spec=LECTURE, steps=2, **kw):
    return symrnn.verify(spec, param, text, steps=steps, **kw)


HOSTILE = [  # (arguments, a phrase of the one-line error; None: a clean verdict)
    (["--expr", "log(0)"], "'log(0)' is undefined or infinite"),
    (["--expr", "0**-1"], "'0**-1' divides by zero"),
    (["--expr", "sqrt(-1)*h1"], "'sqrt(-1)' is not a real number"),
    (["--expr", "log(-1)*h1"], "'log(-1)' is not a real number"),
    (["--expr", "exp(exp(exp(100)))"], "'exp(exp(100))' is larger than 10^400"),
    (["--latex", r"\log(0)"], "'log(0)' is undefined or infinite (SymPy makes it -oo) at position 1"),
    (["--latex", r"\exp(\exp(\exp(100)))"], "'exp(exp(100))' is larger than 10^400 at position 6"),
    (["--expr", "h1/(cosh(1)**2 - sinh(1)**2 - 1)"],
     "division by zero: the denominator '(cosh(1)**2 - sinh(1)**2 - 1)' is 0"),
    (["--latex", r"h_1/(\cosh(1)^2 - \sinh(1)^2 - 1)"], "division by zero: the denominator 'cosh(1)² - sinh(1)² - 1' is 0"),
    (["--expr", "((2**64)**64)**64"], "digits"),
    (["--expr", "(((((2**64)**64)**64)**64)**64)**64"], "digits"),
    (["--latex", r"((2^{64})^{64})^{64}"], "digits"),
    (["--expr", "Max(exp(exp(exp(100))), 1)"], "'exp(exp(100))' is larger than 10^400"),
    (["--latex", r"\mathbb{1}[e^{e^{e^{9}}} > 5]"], "'exp(exp(9))' is larger than 10^400 at position 15"),
    (["--expr", "(" * 3000 + "h1" + ")" * 3000], "nested more than 200 deep"),
    (["--latex", "{" * 3000 + "h_1" + "}" * 3000], "nested more than 200 deep"),
    (["--expr", "tanh(" * 3000 + "h1" + ")" * 3000], "nested more than 200 deep"),
    (["--expr", "+".join(["h1"] * 3000)], "a sum of more than 1000 terms at position 3000"),
    (["--expr", "+".join(["h1"] * 4900)], "a sum of more than 1000 terms"),
    (["--latex", "+".join(["h_1"] * 4900)], None),
    (["--expr", " + ".join(f"{k}*h1*h0" for k in range(2400))], "characters, more than the limit 20000"),
    (["--expr", "*".join(["h1"] * 3000)], "has the factor 'h1' more than 64 times"),
    (["--expr=" + "-" * 3000 + "h1"], None),
    (["--latex", "h_{" + "9" * 5000 + "}"], "step index of 5000 digits"),
    (["--expr", "h" + "9" * 5000], "unknown name 'h9999"),
    (["--expr", "__import__('os').system('echo pwned')"], "unknown function '__import__'"),
    (["--expr", "1e400*h1"], None),                       # 10^400 exactly: a number symrnn can read
    (["--expr", "1e401*h1"], "number '1e401' is too long"),
    (["--expr", "h1**h1**h1**h1**h1"], None),
    (["--expr", "log(h1)"], None),
    (["--expr", "1/(h1 - tanh(a1))"], "no value at any point"),
    (["--expr", "Heaviside(x1)*h1"], None),
]


@pytest.mark.parametrize("args,phrase", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_answers_never_traceback_nor_hang(args, phrase, capsys):
    start = time.perf_counter()
    code = cli.main(["verify", "--param", "W", *args])
    out, err = capsys.readouterr()
    assert time.perf_counter() - start < 30
    if phrase is None:
        assert code == 1 and out.startswith("∂L/∂W: wrong") and err == ""
    else:
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and phrase in err, err
        assert len(err) < 400


def test_files_are_read_with_a_size_limit_and_never_block(tmp_path, capsys):
    sparse = tmp_path / "big.txt"
    with open(sparse, "wb") as f:
        f.truncate(3 * 1024 ** 3)                  # 3 GB, sparse: never read
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, phrase in ((sparse, "3.2 GB is larger than the limit of 1.0 MB"),
                         (fifo, "it is a named pipe (FIFO), not a regular file"),
                         ("/dev/zero", "it is a character device, not a regular file"),
                         (tmp_path, "it is a directory, not a regular file"),
                         (tmp_path / "none", "No such file or directory")):
        start = time.perf_counter()
        assert cli.main(["verify", "--param", "W", "--file", str(path)]) == 2
        assert time.perf_counter() - start < 10
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and phrase in err, err


def test_the_answer_is_never_evaluated(tmp_path):
    flag = tmp_path / "pwned"
    for text in (f"__import__('os').system('touch {flag}')", f"(lambda: open('{flag}', 'w'))()",
                 "h1.__class__"):
        r = subprocess.run([sys.executable, "-m", "symrnn", "verify", "--param", "W", "--expr", text],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not flag.exists()


# -- piecewise answers: decided per sign pattern -----------------------------------------------

RELU_W3 = ("(Y1 - z1) V H(a1) h0 + (Y2 - z2) V H(a2) (W H(a1) h0 + h1) + "
           "(Y3 - z3) V H(a3) (W H(a2) (W H(a1) h0 + h1) + h2)")


def test_relu_is_decided_per_sign_pattern():
    v = verdict("W", RELU_W3, spec=RELU, steps=3)
    assert v.ok and v.exact and "decided per sign pattern of a1, a2, a3" in v.report and "all 8 patterns" in v.report
    # the miss: H(a1) dropped in a factored group; only points with a1 < 0 < a2 can see it
    v = verdict("W", RELU_W3.replace("(W H(a1) h0 + h1)", "(W h0 + h1)", 1), spec=RELU, steps=3)
    assert not v.ok and "a1 < 0" in v.report and "H(h1) is missing" in v.report


def test_a_slip_visible_in_one_pattern_of_sixteen_is_caught():
    m = model(RELU, 4)
    right = " + ".join(str(p.value) for p in m.gradient("b").paths)
    assert verdict("b", right, spec=RELU, steps=4).ok
    # wrong only where a1 < 0 < a2, a3, a4 hold together with a4 > 0 ... (one region of 16)
    slip = "(1 - Heaviside(a1, 0))*Heaviside(a2, 0)*Heaviside(a3, 0)*Heaviside(a4, 0)*V*(Y4 - z4)*W**3"
    v = verdict("b", f"{right} + {slip}", spec=RELU, steps=4)
    assert not v.ok and "a1 < 0, a2 > 0, a3 > 0, a4 > 0" in v.report


def test_a_correct_relu_answer_without_a_proof_is_checked_in_every_pattern():
    v = verdict("V", "(Y1 - z1) a1 H(a1) + (Y2 - z2) relu(W h1 + U x2 + b)", spec=RELU, steps=2)
    assert v.ok and not v.exact and "in each of the 4 patterns" in v.report


def test_piecewise_in_something_else_cannot_be_accepted_on_numbers():
    # wrong where x1 > 9, a region no random point reaches: not 'correct', but 'cannot decide'
    with pytest.raises(SymrnnError, match="cannot decide: Heaviside"):
        verdict("V", "(Y1 - z1) h1 + (Y2 - z2) h2 + Heaviside(x1 - 9)*h1")
    assert not verdict("V", "(Y1 - z1) h1 + (Y2 - z2) h2 + Heaviside(x1)*h1").ok   # a counterexample is proof


def test_leibniz_factors_are_replaced_and_said_so():
    v = verdict("W", latex=r"\frac{\partial L}{\partial a_1} h_0 + \frac{\partial L_2}{\partial h_2} "
                           r"\frac{\partial^+ h_2}{\partial W}")
    assert v.ok and "read ∂L/∂a1 = " in v.report and "replaced by its true value" in v.report
    with pytest.raises(SymrnnError, match="ambiguous"):
        verdict("W", latex=r"\frac{\partial L_2}{\partial h_2} \frac{\partial h_2}{\partial W}")


def test_reports_print_the_lecture_notation():
    v = verdict("W", "2*(Y1 - z1)*V*(1 - h1**2)*h0 + (Y2 - z2)*V*(1 - h2**2)*(W*(1 - h1**2)*h0 + h1)")
    assert "*" not in v.report and "2 (Y1 - z1) V (1 - h1²) h0" in v.report


def test_limits_before_parsing():
    m = model(LECTURE, 2)
    with pytest.raises(SymrnnError, match="more than the limit 20000"):
        read(m, "W", text="h1 + " * 5000)
    with pytest.raises(SymrnnError, match="nested more than 200 deep at position 201"):
        read(m, "W", latex="(" * 201 + "h_1" + ")" * 201)
