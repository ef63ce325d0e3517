"""Derived gradients against two oracles that share nothing with symrnn: NumPy BPTT and central differences."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symrnn
from numpy_bptt import forward_backward
from symrnn.ir.primitives import ACTIVATIONS, LOSSES

NAMES = ("W", "U", "b", "V", "c", "h0")


def numeric_gradients(d, p, x, z):
    """Evaluate the derived expressions at the forward values (floats)."""
    T = d.steps
    env = {sp.Symbol(k): v for k, v in p.items()}
    h = p["h0"]
    f = {"tanh": np.tanh, "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "relu": lambda a: max(a, 0.0),
         "identity": lambda a: a}[d.spec.cell.activation]
    for t in range(1, T + 1):
        a = p["W"] * h + p["U"] * x[t - 1] + p["b"]
        h = f(a)
        env.update({sp.Symbol(f"x{t}"): x[t - 1], sp.Symbol(f"z{t}"): z[t - 1], sp.Symbol(f"a{t}"): a,
                    sp.Symbol(f"h{t}"): h, sp.Symbol(f"Y{t}"): p["V"] * h + p["c"]})
    return {n: float(sp.N(d.gradient(n).xreplace(env))) for n in NAMES}


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("output", ["every", "last"])
def test_against_numpy_bptt_and_central_differences(activation, loss, output):
    rng = np.random.default_rng(7)
    for T in (1, 3, 5):
        d = symrnn.derive(symrnn.cells.elman(activation, loss, output), steps=T, certify=False)
        p = dict(zip(NAMES, rng.uniform(-1, 1, 6)))
        x = rng.uniform(-1, 1, T)
        z = rng.integers(0, 2, T).astype(float) if loss != "mse" else rng.uniform(-1, 1, T)
        ours = numeric_gradients(d, p, x, z)
        _, ref = forward_backward(p, x, z, activation, loss, output)
        for n in NAMES:
            assert ours[n] == pytest.approx(ref[n], rel=1e-10, abs=1e-12), (T, n)
            eps = 1e-6
            hi, lo = dict(p), dict(p)
            hi[n] += eps
            lo[n] -= eps
            fd = (forward_backward(hi, x, z, activation, loss, output)[0]
                  - forward_backward(lo, x, z, activation, loss, output)[0]) / (2 * eps)
            assert ours[n] == pytest.approx(fd, rel=1e-6, abs=1e-8), (T, n)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=st.sampled_from(sorted(ACTIVATIONS)), loss=st.sampled_from(sorted(LOSSES)),
       output=st.sampled_from(["every", "last"]), T=st.integers(1, 6),
       values=st.lists(st.floats(-2, 2, allow_nan=False), min_size=18, max_size=18))
def test_property_matches_numpy_bptt(activation, loss, output, T, values):
    """For any model and any point, the derived gradient is the NumPy BPTT gradient."""
    d = symrnn.derive(symrnn.cells.elman(activation, loss, output), steps=T, certify=False)
    p = dict(zip(NAMES, values[:6]))
    x = np.array(values[6:6 + T])
    z = np.array(values[12:12 + T])
    if loss != "mse":
        z = (z > 0).astype(float)
    ours = numeric_gradients(d, p, x, z)
    _, ref = forward_backward(p, x, z, activation, loss, output)
    for n in NAMES:
        assert ours[n] == pytest.approx(ref[n], rel=1e-9, abs=1e-9), n
