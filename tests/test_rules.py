"""Each form of each derivative rule equals sympy.diff of the rule's reference definition."""
import random

import pytest
import sympy as sp

from symrnn.ir.scalar import to_reference
from symrnn.ir.primitives import ACTIVATIONS, LOSSES

a, Y, z = sp.symbols("a Y z")


def equal_at_points(f, g, symbols, n=8):
    rng = random.Random(1)
    for _ in range(n):
        env = {s: sp.Float(rng.uniform(-2, 2), 30) for s in symbols}
        if abs(sp.N(f.xreplace(env) - g.xreplace(env), 30)) > 1e-25:
            return False
    return True


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_forms(name):
    rule = ACTIVATIONS[name]
    truth = sp.diff(rule.reference(a), a)
    h = rule.reference(a)
    forms = rule.derivative(a, sp.Symbol("h"))
    assert len(forms) >= 1
    for form in forms:
        form = to_reference(form).xreplace({sp.Symbol("h"): h})
        assert equal_at_points(form, truth, [a]), (name, form)
    # The display function is the reference function.
    assert equal_at_points(to_reference(rule.apply(a)), rule.reference(a), [a])


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_forms(name):
    rule = LOSSES[name]
    truth = sp.diff(rule.apply(Y, z), Y)
    for form in rule.gradient(Y, z):
        assert equal_at_points(to_reference(form), truth, [Y, z]), (name, form)


def test_a_wrong_rule_is_caught():
    """The check above is not vacuous: tanh' = 1 − h (a classic slip) fails it."""
    h = sp.tanh(a)
    assert not equal_at_points(1 - h, sp.diff(sp.tanh(a), a), [a])
