"""User cells from TOML: derived and certified like the catalogue; bad files are one-line errors, never run."""
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import symrnn
from symrnn.errors import SymrnnError
from symrnn.model.parsing import parse_expr

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "scaled_tanh.toml"
GOOD = '''
name = "mine"
activation = "sigmoid"
preactivation = "W*h_prev + U*x^2 + b"
output_map = "V*h + c"
[params.W]
[params.U]
[params.b]
[params.V]
[params.c]
'''


def test_example_cell_certified():
    spec = symrnn.load_spec(EXAMPLE)
    assert spec.params == ("W", "g", "U", "b", "V", "c")
    d = symrnn.derive(spec, steps=3)
    assert d.certified
    assert len(d.expansion("g")) == 6


def test_user_cell_matches_elman_when_it_is_elman(tmp_path):
    f = tmp_path / "cell.toml"
    f.write_text(GOOD.replace("x^2", "x").replace("sigmoid", "tanh"))
    mine = symrnn.derive(symrnn.load_spec(f), steps=2, certify=False)
    lecture = symrnn.derive(symrnn.cells.elman(), steps=2, certify=False)
    for name in ("W", "U", "b", "V", "c", "h0"):
        assert sp.expand(mine.gradient(name) - lecture.gradient(name)) == 0


def test_nonlinear_input_term(tmp_path):
    f = tmp_path / "cell.toml"
    f.write_text(GOOD)
    d = symrnn.derive(symrnn.load_spec(f, loss="bce", output="last"), steps=2)
    assert d.certified
    x1 = sp.Symbol("x1")
    assert d.gradient("U").has(x1**2)


@pytest.mark.parametrize("text,culprit", [
    ("not toml [", "not valid TOML"),
    (GOOD + 'extra = 1\n', "extra"),
    (GOOD.replace("V*h + c", "V*h + q"), "'q'"),
    (GOOD.replace("V*h + c", "__import__('os').system('touch /tmp/pwned')"), "not allowed"),
    (GOOD.replace("V*h + c", "V*h + open('x')"), "open"),
    (GOOD.replace("[params.c]", "[params.h1]"), "h1"),
    (GOOD.replace('activation = "sigmoid"', 'activation = "swish"'), "swish"),
    (GOOD.replace('preactivation = "W*h_prev + U*x^2 + b"\n', ""), "preactivation"),
    (GOOD.replace("x^2", "x**100000"), "exponent"),
])
def test_bad_spec_files(tmp_path, text, culprit):
    f = tmp_path / "cell.toml"
    f.write_text(text)
    with pytest.raises(SymrnnError, match=culprit):
        symrnn.load_spec(f)
    r = subprocess.run([sys.executable, "-m", "symrnn", "derive", "--cell", str(f)], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not Path("/tmp/pwned").exists()


def test_missing_file():
    with pytest.raises(SymrnnError, match="cannot read"):
        symrnn.load_spec("/nonexistent/cell.toml")


def test_parser_never_evaluates_python():
    names = {"W": sp.Symbol("W")}
    for text in ["W.__class__", "[W]", "W if W else W", "(lambda: W)()", "W @ W", "globals()"]:
        with pytest.raises(SymrnnError):
            parse_expr(text, names)
    assert parse_expr("tanh(W)^2 - 1/2", names) == sp.tanh(sp.Symbol("W")) ** 2 - sp.Rational(1, 2)
