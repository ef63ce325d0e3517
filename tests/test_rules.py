"""Each form of each derivative rule equals sympy.diff of the rule's reference definition."""
import random

import numpy as np
import pytest
import sympy as sp

from symrnn.ir.scalar import to_reference
from symrnn.ir.primitives import ACTIVATIONS, FUNCTIONS, LOSSES

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


@pytest.mark.parametrize("name", sorted(n for n, f in FUNCTIONS.items() if f.numpy_out or f.tanh_form))
def test_kernel_in_place_forms(name):
    """A function's in-place kernel statements (numpy_out) and its α tanh(β v) + γ form equal f on floats, dtype kept."""
    f = FUNCTIONS[name]
    for dtype in (np.float64, np.float32):
        v = np.linspace(-30, 30, 121).astype(dtype).reshape(11, 11)
        want = np.asarray(f.np_func(v.astype(np.float64)))
        if f.numpy_out:
            out = np.full_like(v, np.nan)
            for form in f.numpy_out:  # the registry's own statements, never user text
                exec(form.format(v="v", out="out"), {"np": np, "v": v, "out": out})
            assert out.dtype == dtype
            np.testing.assert_allclose(out, want, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-7)
        if f.tanh_form:
            alpha, beta, gamma = f.tanh_form
            np.testing.assert_allclose(alpha * np.tanh(beta * v.astype(np.float64)) + gamma, want, rtol=1e-14, atol=1e-15)
