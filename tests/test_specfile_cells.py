"""TOML cells in the equation format: the examples derive and certify, an equation list equal to a catalogue
cell gives its gradients, and every bad file is one line naming the file, the key and the problem (exit 2)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symrnn
from symrnn.errors import SymrnnError
from symrnn.printers.lecture import text

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
HEAD = '''name = "t"
activation = "tanh"
output_map = "V @ h + c"
'''
PARAMS = '''
[params.W]
shape = ["k", "k"]
[params.U]
shape = ["k", "m"]
[params.b]
shape = ["k"]
[params.V]
shape = ["o", "k"]
[params.c]
shape = ["o"]
'''
ELMAN = '[equations]\nh = "tanh(W @ h_prev + U @ x + b)"\n'


def cell(equations: str, head: str = HEAD, params: str = PARAMS) -> str:
    return head + equations + params


@pytest.mark.parametrize("example", ["leaky", "mgu"])
@pytest.mark.parametrize("dims,steps", [("scalar", 2), ((3, 2, 2), 3)])
def test_examples_derive_and_certify(example, dims, steps):
    d = symrnn.derive(symrnn.load_spec(EXAMPLES / f"{example}.toml"), steps=steps, dims=dims)
    assert d.certified, d.text()


def test_leaky_alpha_is_a_learned_scalar():
    """∂L/∂α at T = 1 is (Y1 − z1) V (tanh(a1) − h0): the leak's own chain rule, checked by sympy.diff."""
    d = symrnn.derive(symrnn.load_spec(EXAMPLES / "leaky.toml"), steps=1, params=["alpha"])
    Y1, z1, V, h0, a1 = sp.symbols("Y1 z1 V h0 a1")
    expected = (Y1 - z1) * V * (sp.tanh(a1) - h0)
    got = d.gradient("alpha")
    # the derivation writes tanh(a1) either as it is or through the step's own names; compare at a point
    point = {Y1: 0.3, z1: -0.2, V: 0.7, h0: 0.1, a1: 0.4, sp.Symbol("alpha"): 0.25,
             sp.Symbol("W"): 0.5, sp.Symbol("U"): -0.6, sp.Symbol("b"): 0.2, sp.Symbol("x1"): 0.9}
    h1 = (1 - 0.25) * 0.1 + 0.25 * np.tanh(0.4)
    point[sp.Symbol("h1")] = h1
    assert abs(float(got.subs(point)) - float(expected.subs(point))) < 1e-12


def test_an_equation_list_equal_to_elman_gives_elman_gradients(tmp_path):
    """h = tanh(W h_prev + U x + b) written as one equation is the lecture's cell: equal scalar gradients
    (expanded difference 0) and the same matrix forms, though its pre-activation is named by the engine."""
    f = tmp_path / "mine.toml"
    f.write_text(cell(ELMAN))
    mine = symrnn.derive(symrnn.load_spec(f), steps=3, certify=False)
    ref = symrnn.derive(symrnn.cells.elman(), steps=3, certify=False)
    for name in ("W", "U", "b", "V", "c", "h0"):
        assert sp.expand(mine.gradient(name) - ref.gradient(name)) == 0
    mine = symrnn.derive(symrnn.load_spec(f), steps=3, dims=(3, 2, 2), certify=False)
    ref = symrnn.derive(symrnn.cells.elman(), steps=3, dims=(3, 2, 2), certify=False)
    for name in ("W", "U", "b", "V", "c", "h0"):
        assert text(mine.get(name).at_T) == text(ref.get(name).at_T)
        assert text(mine.get(name).general) == text(ref.get(name).general)


BAD = [
    ("unknown name", cell('[equations]\nh = "tanh(W @ h_prev + U @ x + q)"\n'), "equation h: 'q': unknown name"),
    ("shape", cell('[equations]\nh = "tanh(W @ x + U @ x + b)"\n'),
     "'W @ x': a k×k matrix @ a m-vector is not a matrix product of conformable shapes"),
    ("sum of shapes", cell('[equations]\nh = "tanh(W @ h_prev + U + b)"\n'), "cannot add"),
    ("cycle", cell('[equations]\na = "W @ g + U @ x + b"\ng = "tanh(a)"\nh = "g + 0 * h_prev"\n'),
     "equation a: 'g': g is defined by this equation or one below it"),
    ("later", cell('[equations]\nh = "tanh(W @ h_prev + U @ x + b) + g"\ng = "tanh(b)"\n'),
     "equation h: 'g': g is defined by this equation or one below it"),
    ("state never updated", cell('[equations]\nh = "tanh(W @ h_prev + U @ x + b)"\n',
                                 head=HEAD + 'states = ["h", "c"]\n'), "the state 'c' is never updated"),
    ("no state", cell('[equations]\na = "tanh(W @ h_prev + U @ x + b)"\n'), "the state 'h' is never updated"),
    ("no recurrence", cell('[equations]\nh = "tanh(U @ x + b + 0 * W @ x)"\n'), "m-vector"),
    ("unused parameter", cell('[equations]\nh = "tanh(W @ h_prev + U @ x)"\n'),
     "parameter 'b' is declared but no equation uses it"),
    ("no derivative", cell('[equations]\nh = "heaviside(W @ h_prev + U @ x + b)"\n'),
     "equation h applies heaviside, which has no derivative"),
    ("python", cell('[equations]\nh = "__import__(\'os\').system(\'touch /tmp/pwned\')"\n'), "equation h: "),
    ("lambda", cell('[equations]\nh = "(lambda: W)()"\n'), "not allowed"),
    ("attribute", cell('[equations]\nh = "W.__class__"\n'), "not allowed"),
    ("unknown function", cell('[equations]\nh = "log(W @ h_prev + U @ x + b)"\n'), "unknown function 'log'"),
    ("power", cell('[equations]\nh = "tanh(W @ h_prev + U @ x + b) ** 64"\n'), "exponent 64"),
    ("reserved name", cell(ELMAN, params=PARAMS.replace("[params.c]", "[params.E]").replace(" + c", " + E")),
     "'E'"),
    ("parameter not a table", cell(ELMAN, params=PARAMS + "Q = 5\n"), "Q"),
    ("equations not a table", HEAD + 'equations = "h = tanh(W h_prev)"\n' + PARAMS, "equations"),
    ("unknown key", cell(ELMAN, head=HEAD + "gates = 3\n"), "unknown key(s) gates"),
    ("unknown activation", cell(ELMAN, head=HEAD.replace('"tanh"', '"swish"')), "swish"),
    ("bad shape letter", cell(ELMAN, params=PARAMS.replace('shape = ["k", "m"]', 'shape = ["k", "q"]')), "q"),
]


@pytest.mark.parametrize("why,text,culprit", BAD, ids=[b[0] for b in BAD])
def test_bad_cells_are_one_line_naming_file_and_key(tmp_path, why, text, culprit):
    f = tmp_path / "cell.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(SymrnnError) as err:
        spec = symrnn.load_spec(f)
        symrnn.derive(spec, steps=2, dims=(2, 2, 2), certify=False)   # shapes are checked at sizes
    assert culprit in str(err.value) and "cell.toml" in str(err.value), str(err.value)
    out = tmp_path / "out.tex"
    r = subprocess.run([sys.executable, "-m", "symrnn", "derive", "--cell", str(f), "--dims", "2,2,2",
                        "--tex", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and not out.exists() and not Path("/tmp/pwned").exists()


def test_old_format_still_loads(tmp_path):
    f = tmp_path / "old.toml"
    f.write_text('activation = "tanh"\npreactivation = "W*h_prev + U*x + b"\noutput_map = "V*h + c"\n'
                 '[params.W]\n[params.U]\n[params.b]\n[params.V]\n[params.c]\n')
    assert symrnn.derive(symrnn.load_spec(f), steps=2).certified
