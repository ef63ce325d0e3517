"""The lecture's T = 2 derivation (shared/seed/README.md section 4), reproduced exactly."""
import pytest
import sympy as sp

import symrnn
from symrnn import printers as printing

W, U, b, V, c = sp.symbols("W U b V c")
h0, h1, h2, x1, x2, z1, z2, Y1, Y2 = sp.symbols("h0 h1 h2 x1 x2 z1 z2 Y1 Y2")

# The lecture's assembled results, typed from the notes.
LECTURE = {
    "W": (Y1 - z1) * V * (1 - h1**2) * h0 + (Y2 - z2) * V * (1 - h2**2) * W * (1 - h1**2) * h0
         + (Y2 - z2) * V * (1 - h2**2) * h1,
    "U": (Y1 - z1) * V * (1 - h1**2) * x1 + (Y2 - z2) * V * (1 - h2**2) * W * (1 - h1**2) * x1
         + (Y2 - z2) * V * (1 - h2**2) * x2,
    "b": (Y1 - z1) * V * (1 - h1**2) + (Y2 - z2) * V * (1 - h2**2) * W * (1 - h1**2)
         + (Y2 - z2) * V * (1 - h2**2),
    "V": (Y1 - z1) * h1 + (Y2 - z2) * h2,
    "c": (Y1 - z1) + (Y2 - z2),
}


@pytest.fixture(scope="module")
def lecture():
    return symrnn.derive(symrnn.cells.elman(), steps=2)


@pytest.mark.parametrize("name", list(LECTURE))
def test_result_is_the_lecture_formula(lecture, name):
    assert sp.expand(lecture.gradient(name) - LECTURE[name]) == 0


def test_every_result_certified(lecture):
    assert lecture.certified
    for g in lecture.gradients:
        assert [c.passed for c in g.certificate.checks] == [True, True, True]


def leibniz(term):
    return [(str(f.num), str(f.den), f.immediate) for f in term.factors]


def test_expansion_in_the_lecture_order(lecture):
    # ∂L/∂W = ∂L1/∂h1 ∂h1/∂W + ∂L2/∂h2 ∂h2/∂h1 ∂h1/∂W + ∂L2/∂h2 ∂h2/∂W
    assert [leibniz(t) for t in lecture.expansion("W")] == [
        [("L1", "h1", False), ("h1", "W", True)],
        [("L2", "h2", False), ("h2", "h1", False), ("h1", "W", True)],
        [("L2", "h2", False), ("h2", "W", True)],
    ]
    # ∂L/∂V = ∂L1/∂Y1 ∂Y1/∂V + ∂L2/∂Y2 ∂Y2/∂V
    assert [leibniz(t) for t in lecture.expansion("V")] == [
        [("L1", "Y1", False), ("Y1", "V", False)],
        [("L2", "Y2", False), ("Y2", "V", False)],
    ]


def test_local_factors_with_their_steps(lecture):
    factors = {(str(f.num), str(f.den)): f for f in lecture.factors()}
    a1, a2 = sp.symbols("a1 a2")
    # ∂h1/∂W = sech²(a1) ∂a1/∂W = (1 − tanh²(a1)) h0 = (1 − h1²) h0
    steps = factors[("h1", "W")].steps
    assert [s.doit() for s in steps[2:]] == [(1 - sp.tanh(a1) ** 2) * h0, (1 - h1**2) * h0]
    assert steps[1].args[0] == sp.sech(a1) ** 2
    assert factors[("h2", "h1")].value == (1 - h2**2) * W          # ∂h2/∂h1 = (1 − h2²) W
    assert factors[("L1", "h1")].value == (Y1 - z1) * V            # ∂L1/∂h1 = (Y1 − z1) V
    assert factors[("L2", "h2")].value == (Y2 - z2) * V
    assert factors[("h1", "U")].value == (1 - h1**2) * x1          # the notes' "∂h1/∂v" slip, done right
    assert factors[("h2", "U")].value == (1 - h2**2) * x2
    assert factors[("h1", "b")].value == 1 - h1**2
    assert factors[("h2", "b")].value == 1 - h2**2
    # L1 does not depend on h2: the notes cross out ∂L1/∂h2, and so does the derivation.
    assert ("L1", "h2") not in factors


def test_dependence_sentence(lecture):
    from symrnn.documents.report import dependence
    g = {g.wrt: g for g in lecture.gradients}
    assert dependence(g["W"]) == "L1 depends on W only through h1; L2 through h1 and h2"
    assert dependence(g["V"]) == "L1 depends on V only through Y1; L2 through Y2"


def test_printed_like_the_lecture(lecture):
    g = {g.wrt: g for g in lecture.gradients}
    assert printing.text(g["W"].shown) == (
        "(Y1 - z1) V (1 - h1²) h0 + (Y2 - z2) V (1 - h2²) W (1 - h1²) h0 + (Y2 - z2) V (1 - h2²) h1")
    assert printing.text(g["c"].shown) == "(Y1 - z1) + (Y2 - z2)"
    assert printing.latex(g["V"].shown) == r"\left(Y_{1} - z_{1}\right) h_{1} + \left(Y_{2} - z_{2}\right) h_{2}"


def test_delta_recursion(lecture):
    d1, d2 = sp.symbols("delta1 delta2")
    rec = {sym: expr.doit() for sym, expr in lecture.deltas}
    assert sp.expand(rec[d2] - (1 - h2**2) * (Y2 - z2) * V) == 0
    assert sp.expand(rec[d1] - (1 - h1**2) * ((Y1 - z1) * V + W * d2)) == 0


def test_text_products_are_juxtaposed_with_a_sign():
    from symrnn.printers.lecture import text
    h, theta, V, h1, h2, W = sp.symbols("h theta V h1 h2 W")
    assert text(theta * (1 - h) - h * theta) == "θ (1 - h) - h θ"
    assert text(-V * h1 * (1 - h2**2) * W) == "-V W h1 (1 - h2²)"
    assert text(2 * (1 - h) * V) == "V (2 - 2 h)"
    assert text(-h**2 / 2) == "-h²/2"
