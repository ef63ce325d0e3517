"""`symrnn dynamics`: the lecture's state system, fixed points and stability against hand computations."""
import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from symrnn import cli
from symrnn.analysis import dynamics, dynamics_report
from symrnn.errors import SymrnnError


def sigma(a):
    return 1 / (1 + math.exp(-a))


def bisect(g, a, b, iterations=200):
    """A root of g in [a, b], where g changes sign (written here, independent of symrnn)."""
    ga = g(a)
    for _ in range(iterations):
        m = 0.5 * (a + b)
        if m in (a, b):
            break
        if (g(m) > 0) == (ga > 0):
            a, ga = m, g(m)
        else:
            b = m
    return 0.5 * (a + b)


def analyse(f, theta=(), h0=(2.0,), steps=100, xs=None, starts=None):
    m = 1 if xs is None else len(xs[0])
    return dynamics.analyse(dynamics.system(f, theta, k=len(h0), m=m), h0, steps, xs, starts)


def main(capsys, *args):
    code = cli.main(["dynamics", *args])
    out, err = capsys.readouterr()
    return code, out, err


# -- the lecture -------------------------------------------------------------------------------

def test_lecture_numbers():
    a = analyse("sigmoid(theta*h)", (0.5,), (2.0,), 100)
    h = [2.0]
    for _ in range(100):
        h.append(sigma(0.5 * h[-1]))
    assert a.main.at(1)[0] == pytest.approx(sigma(1), abs=1e-12)
    assert a.main.at(2)[0] == pytest.approx(sigma(sigma(1) / 2), abs=1e-12)
    assert np.allclose(a.main.states[:, 0], h, rtol=0, atol=1e-12)
    assert round(a.main.at(100)[0], 4) == 0.5709        # the notes' h100 ≈ 0.5708 is the same number, truncated
    star = bisect(lambda v: sigma(0.5 * v) - v, 0.0, 1.0)
    (fp,) = a.points
    assert fp.value[0] == pytest.approx(star, abs=1e-12)
    assert a.main.at(100)[0] == pytest.approx(star, abs=1e-9)
    with mpmath.workdps(40):
        exact = mpmath.findroot(lambda v: 1 / (1 + mpmath.exp(-v / 2)) - v, 0.57)
        assert abs(mpmath.mpf(fp.digits[0]) - exact) < mpmath.mpf(10) ** -18
    assert fp.derivative[0][0] == pytest.approx(0.5 * star * (1 - star), abs=1e-12)   # f' = θσ(1 − σ)
    assert fp.rho == pytest.approx(0.1225, abs=1e-4) and fp.stability == "stable"
    assert a.main_limit.kind == "fixed point" and a.main_limit.target == 0
    assert a.independent_of_h0 is True
    assert sp.simplify(a.derivative[0, 0] - sp.diff(a.system.f[0], a.system.state[0])) == 0


@pytest.mark.parametrize("h0", [-50.0, -3.0, 0.0, 0.3, 7.0, 1000.0])
def test_limit_does_not_depend_on_h0(h0):
    a = analyse("sigmoid(theta*h)", (0.5,), (h0,), 200)
    assert a.main.last[0] == pytest.approx(bisect(lambda v: sigma(0.5 * v) - v, 0.0, 1.0), abs=1e-12)


def test_default_command_is_the_lecture():
    r = subprocess.run([sys.executable, "-m", "symrnn", "dynamics"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "f = σ(h θ)" in out and "θ = 0.5" in out and "h0 = 2" in out
    assert "h1 = 0.731058578630005" in out and "h2 = 0.590378257022715" in out
    assert "h100 = 0.570879321653533" in out
    assert "h* = 0.5708793216535328446" in out and "f'(h*) = 0.1224880608809" in out and ": stable" in out
    assert "The limit does not depend on h0" in out


# -- stability, against known fixed points and derivatives ---------------------------------------

def test_logistic_stable_and_unstable():
    a = analyse("theta*h*(1 - h)", (2.5,), (0.1,), 200)
    assert [fp.value[0] for fp in a.points] == pytest.approx([0.0, 0.6], abs=1e-14)
    assert [fp.derivative[0][0] for fp in a.points] == pytest.approx([2.5, -0.5], abs=1e-12)   # r(1 − 2h*)
    assert [fp.stability for fp in a.points] == ["unstable", "stable"]
    assert a.main_limit.kind == "fixed point" and a.main_limit.target == 1


def test_logistic_without_a_stable_fixed_point_settles_on_a_cycle():
    a = analyse("theta*h*(1 - h)", (3.5,), (0.1,), 1000)
    assert [fp.value[0] for fp in a.points] == pytest.approx([0.0, 5 / 7], abs=1e-14)
    assert [fp.derivative[0][0] for fp in a.points] == pytest.approx([3.5, -1.5], abs=1e-12)
    assert all(fp.stability == "unstable" for fp in a.points)
    assert a.main_limit.kind == "cycle" and a.main_limit.period == 4
    h = a.main.last[0]
    for _ in range(4):
        h = 3.5 * h * (1 - h)
    assert h == pytest.approx(a.main.last[0], abs=1e-9)


def test_three_fixed_points_of_a_cubic():
    a = analyse("h - theta*(h**3 - h)", (0.5,), (0.3,), 100)           # h* ∈ {−1, 0, 1}, f'(h*) = 1 + θ − 3θh*²
    assert [fp.value[0] for fp in a.points] == pytest.approx([-1, 0, 1], abs=1e-14)
    assert [fp.derivative[0][0] for fp in a.points] == pytest.approx([0, 1.5, 0], abs=1e-12)
    assert [fp.stability for fp in a.points] == ["stable", "unstable", "stable"]
    assert a.independent_of_h0 is False


def test_tangent_fixed_point_is_marginal():
    a = analyse("h + h**2", (), (-0.5,), 100)            # f(h) − h = h² touches 0 without a sign change
    (fp,) = a.points
    assert fp.value[0] == pytest.approx(0, abs=1e-6) and fp.stability == "marginal"


def test_continuum_and_jump():
    a = analyse("Max(h, 0)", (), (2.0,), 10)
    assert a.held[0].intervals == ((0.0, 20.0),) and a.points == ()
    b = analyse("0.9*Heaviside(h - 0.5) + 0.05", (), (2.0,), 10)
    assert [fp.value[0] for fp in b.points] == pytest.approx([0.05, 0.5, 0.95])
    assert [fp.stability for fp in b.points] == ["stable", "undetermined", "stable"]


def test_flat_root_is_one_point_not_a_continuum():
    a = analyse("tanh(h)", (), (2.0,), 1000)            # f(h) − h ≈ −h³/3: a triple root at 0
    assert a.held[0].intervals == ()
    (fp,) = a.points
    assert fp.value == (0.0,) and fp.stability == "marginal"
    assert a.main_limit.kind == "approaching" and a.main_limit.target == 0
    assert a.independent_of_h0 is True


@settings(max_examples=15, deadline=None)
@given(st.floats(-0.9, 0.9), st.floats(-5, 5))
def test_affine_map_has_its_one_fixed_point(slope, offset):
    a = analyse(f"{slope!r}*h + {offset!r}", (), (1.0,), 300)
    (fp,) = a.points
    assert fp.value[0] == pytest.approx(offset / (1 - slope), abs=1e-9)
    assert fp.rho == pytest.approx(abs(slope), abs=1e-12) and fp.stability == "stable"
    assert a.independent_of_h0 is True


# -- driven and vector systems ---------------------------------------------------------------------

def test_driven_system_follows_its_input():
    xs = [1.0, 1.0, 0.0, -2.0, 0.5, 0.5]
    a = analyse("tanh(theta*h + x)", (0.9,), (0.2,), len(xs), [(x,) for x in xs])
    h = [0.2]
    for x in xs:
        h.append(math.tanh(0.9 * h[-1] + x))
    assert np.allclose(a.main.states[:, 0], h, rtol=0, atol=1e-14)
    assert [held.x for held in a.held] == [(1.0,), (0.0,), (-2.0,), (0.5,)]      # the input held at x_T comes last
    for held in a.held:
        (fp,) = held.points
        assert math.tanh(0.9 * fp.value[0] + held.x[0]) == pytest.approx(fp.value[0], abs=1e-14)
        assert fp.stability == "stable"


def test_vector_input():
    xs = [(1.0, 2.0), (0.0, 1.0), (3.0, 3.0)]
    a = analyse("tanh(h + x[0] - x[1])", (), (2.0,), 3, xs)
    h = 2.0
    for x0, x1 in xs:
        h = math.tanh(h + x0 - x1)
    assert a.main.last[0] == pytest.approx(h, abs=1e-15)
    assert [held.x for held in a.held] == xs
    (fp,) = a.held[-1].points                          # x held at (3, 3): f = tanh(h), h* = 0 only
    assert fp.value == (0.0,) and fp.stability == "marginal"


def test_vector_state_linear_map():
    W, b = np.array([[0.5, -0.3], [0.2, 0.4]]), np.array([1.0, -2.0])
    f = "[0.5*h[0] - 0.3*h[1] + theta[0], 0.2*h[0] + 0.4*h[1] + theta[1]]"
    a = analyse(f, (1.0, -2.0), (3.0, 4.0), 80)
    h = np.array([3.0, 4.0])
    for _ in range(80):
        h = W @ h + b
    assert np.allclose(a.main.last, h, atol=1e-12)
    (fp,) = a.points
    assert np.allclose(fp.value, np.linalg.solve(np.eye(2) - W, b), atol=1e-12)
    assert fp.rho == pytest.approx(max(abs(np.linalg.eigvals(W))), abs=1e-12)
    assert fp.stability == "stable" and a.independent_of_h0 is True


def test_vector_state_unstable_origin():
    a = analyse("[theta*h[1], theta*h[0]]", (1.5,), (0.0, 0.0), 20)       # eigenvalues ±1.5
    (fp,) = a.points
    assert fp.value == (0.0, 0.0) and fp.rho == pytest.approx(1.5) and fp.stability == "unstable"


# -- divergence is a result, not a crash -------------------------------------------------------------

def test_divergence_and_leaving_the_domain(capsys):
    code, out, err = main(capsys, "--f", "2*h", "--h0", "1", "--steps", "2000")
    assert code == 0 and err == ""
    assert "diverges: overflow to ±inf at step 1024" in out
    code, out, _ = main(capsys, "--f", "log(h)", "--h0", "0.5")
    assert code == 0 and "leaves the domain of f at step 2" in out and "none found" in out
    code, out, _ = main(capsys, "--f", "theta*h", "--theta", "2", "--h0", "1")
    assert code == 0 and "grows without bound" in out


# -- output formats ---------------------------------------------------------------------------------

def test_json(capsys):
    code, out, _ = main(capsys, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["steps"] == 100 and data["h0"] == [2.0] and len(data["trajectory"]) == 101
    assert data["trajectory"][1] == [pytest.approx(sigma(1), abs=1e-15)]
    (fp,) = data["fixed_points"]
    assert fp["stability"] == "stable" and fp["h"][0] == pytest.approx(0.570879321653533, abs=1e-14)
    assert data["limit"] == {"kind": "fixed point", "value": [pytest.approx(fp["h"][0])], "period": 1,
                             "fixed_point": 0, "step": None}
    assert data["independent_of_h0"] is True
    h, theta = sp.symbols("h theta")
    f = sp.sympify(data["system"]["f"][0])
    assert float(f.subs({h: 2, theta: 0.5})) == pytest.approx(sigma(1))
    df = sp.sympify(data["system"]["jacobian"][0][0])
    assert sp.simplify(df - sp.diff(f, h)) == 0


def test_json_of_a_divergent_run_is_valid(capsys):
    code, out, _ = main(capsys, "--f", "h*h", "--h0", "3", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["limit"]["kind"] == "diverges" and data["limit"]["step"] == 10


@pytest.fixture
def hand_svg(monkeypatch):
    """As without matplotlib: an .svg is the hand-drawn trajectory (tests/test_pictures.py covers matplotlib's)."""
    from symrnn.analysis import pictures
    monkeypatch.setattr(pictures, "available", lambda: False)


def test_svg_plot(tmp_path, capsys, hand_svg):
    path = tmp_path / "lecture.svg"
    code, out, _ = main(capsys, "--plot", str(path))
    assert code == 0 and f"wrote {path}" in out
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    (line,) = [e for e in root.iter(f"{ns}line") if "fixed-point" in e.get("class", "")]
    assert line.get("stroke-dasharray") and "stable" in line.get("class")
    (poly,) = [e for e in root.iter(f"{ns}polyline")]
    xy = [tuple(map(float, p.split(","))) for p in poly.get("points").split()]
    assert len(xy) == 101
    assert all(0 <= x <= 640 and 0 <= y <= 360 for x, y in xy)
    assert abs(xy[-1][1] - float(line.get("y1"))) < 0.01         # h100 sits on the dashed h*
    assert main(capsys, "--plot", str(path), "--steps", "20")[0] == 0      # our own file: replaced


@pytest.mark.parametrize("args", [["--f", "2*h", "--h0", "1", "--steps", "2000"], ["--steps", "1"],
                                  ["--f", "[h[1], -h[0]/2]", "--h0", "1,2"]])
def test_svg_coordinates_are_finite(args, tmp_path, capsys, hand_svg):
    path = tmp_path / "p.svg"
    assert main(capsys, *args, "--plot", str(path))[0] == 0
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.parse(path).getroot()
    polys = list(root.iter(f"{ns}polyline"))
    assert len(polys) == (2 if "1,2" in args else 1)
    for poly in polys:
        assert all(math.isfinite(float(c)) for p in poly.get("points").split() for c in p.split(","))


def test_plot_does_not_overwrite_a_foreign_file(tmp_path, capsys, hand_svg):
    path = tmp_path / "mine.svg"
    path.write_text("<svg>my drawing</svg>")
    code, out, err = main(capsys, "--plot", str(path))
    assert code == 2 and out == "" and "--force" in err and str(path) in err
    assert path.read_text() == "<svg>my drawing</svg>"
    assert main(capsys, "--plot", str(path), "--force")[0] == 0
    assert dynamics_report.SVG_MARKER in path.read_text()


# -- user text is parsed, never run -----------------------------------------------------------------

@pytest.mark.parametrize("text", ["__import__('os').system('touch PWNED')", "h.__class__", "(lambda: 1)()",
                                  "[c for c in ()]", "open('PWNED', 'w')", "h if h else 1"])
def test_no_eval(text, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = main(capsys, "--f", text)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "PWNED").exists()
    with pytest.raises(SymrnnError):
        dynamics.system(text, (0.5,))


@pytest.mark.parametrize("args,culprit", [
    (["--f", "foo(h)"], "foo"),
    (["--f", "theta*y"], "'y'"),
    (["--f", "h +"], "h +"),
    (["--f", "h**100"], "exponent"),
    (["--f", "theta*h"], "--theta"),
    (["--f", "tanh(h)", "--theta", "0.5"], "--theta"),
    (["--f", "theta*h", "--theta", "1,2"], "theta[0]"),
    (["--f", "theta[2]*h", "--theta", "1,2"], "theta[2]"),
    (["--f", "theta[0]*h", "--theta", "1,2"], "theta[1]"),
    (["--f", "h[0]", "--h0", "1"], "h[0]"),
    (["--f", "[h[0], h[1]]", "--h0", "1,2,3"], "--h0"),
    (["--theta", "0.5,abc"], "abc"),
    (["--theta", "nan"], "nan"),
    (["--h0", "inf"], "inf"),
    (["--h0", ""], "--h0"),
    (["--steps", "0"], "--steps 0"),
    (["--steps", "10000001"], "10000001"),
    (["--steps", "1.5"], "--steps"),
    (["--f", "tanh(h + x)"], "--x"),
    (["--f", "tanh(h + x)", "--x", "1,2", "--steps", "3"], "--steps 3"),
    (["--x", "1,2"], "--x"),
    (["--f", "tanh(h + x)", "--x", "1,2;3"], "--x"),
    (["--starts", "1,2"], "--starts"),
    (["--f", "tanh(h + x)", "--x", "1,2", "--starts", "0"], "--starts"),
    (["--format", "xml"], "xml"),
    (["--plot", "/nonexistent/dir/p.svg"], "/nonexistent/dir"),
    (["--bogus"], "--bogus"),
])
def test_bad_input_is_one_line_exit_2(args, culprit, capsys):
    code, out, err = main(capsys, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert culprit in lines[0]


def test_help():
    r = subprocess.run([sys.executable, "-m", "symrnn", "dynamics", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--plot" in r.stdout
