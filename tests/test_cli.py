"""The command line: the lecture by default, JSON that parses back, one-line errors with exit 2."""
import json
import subprocess
import sys

import pytest
import sympy as sp

import symrnn


def run(*args):
    return subprocess.run([sys.executable, "-m", "symrnn", *args], capture_output=True, text=True, timeout=300)


def test_default_is_the_lecture():
    r = run("derive")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "∂L/∂W = ∂L1/∂h1 ∂⁺h1/∂W + ∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W + ∂L2/∂h2 ∂⁺h2/∂W" in out
    assert "∂⁺h1/∂W = ∂/∂W tanh(a1) = sech(a1)² ∂a1/∂W = (1 - tanh(a1)²) h0 = (1 - h1²) h0" in out
    assert "∂L/∂V = (Y1 - z1) h1 + (Y2 - z2) h2" in out
    assert "L1 depends on W only through h1; L2 through h1 and h2" in out
    assert out.rstrip().endswith("every result certified")


@pytest.mark.parametrize("options", [[], ["--loss", "bce", "--activation", "sigmoid", "--output", "last", "--steps", "3"],
                                     ["--activation", "relu", "--loss", "ce"]])
def test_json_parses_back(options):
    r = run("derive", "--format", "json", *options)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["certified"] is True
    spec = symrnn.cells.elman(**{k.lstrip("-"): v for k, v in zip(options[::2], options[1::2]) if k != "--steps"})
    d = symrnn.derive(spec, steps=data["steps"], certify=False)
    assert set(data["gradients"]) == {"W", "U", "b", "V", "c", "h0"}
    for name, g in data["gradients"].items():
        expr = sp.sympify(g["expr"])
        assert sp.expand(expr - d.gradient(name).rewrite(sp.exp)) == 0 or \
            sp.simplify(expr - d.gradient(name)) == 0
        assert sp.expand(sum(map(sp.sympify, g["terms"])) - expr) == 0
        assert g["latex"] and g["certificate"]


def test_param_selects():
    data = json.loads(run("derive", "--format", "json", "--param", "V").stdout)
    assert list(data["gradients"]) == ["V"]


def test_latex_fragments():
    r = run("derive", "--format", "latex", "--param", "W")
    assert r.returncode == 0
    assert r"\frac{\partial L_{1}}{\partial h_{1}}" in r.stdout


@pytest.mark.parametrize("args,culprit", [
    (["--steps", "0"], "steps"),
    (["--steps", "1.5"], "--steps"),
    (["--steps", "61"], "61"),      # the scalar δ-recursion is written out up to T = 60
    (["--steps", "1000000000"], "1000000000"),
    (["--activation", "swish"], "swish"),
    (["--loss", "hinge"], "hinge"),
    (["--output", "all"], "all"),
    (["--cell", "nope"], "nope"),
    (["--param", "Q"], "Q"),
    (["--dims", "2,x,3"], "--dims"),
    (["--dims", "0,1,1"], "--dims"),
    (["--format", "xml"], "xml"),
    (["--bogus"], "--bogus"),
])
def test_bad_input_is_one_line_exit_2(args, culprit):
    r = run("derive", *args)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert culprit in lines[0]


def test_help():
    assert run("derive", "--help").returncode == 0
    assert run("--help").returncode == 0
