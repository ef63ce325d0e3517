"""Every activation × loss × output, T = 1..6: term counts and certification."""
import pytest

import symrnn
from symrnn.ir.primitives import ACTIVATIONS, LOSSES

COMBOS = [(a, l, o) for a in ACTIVATIONS for l in LOSSES for o in ("every", "last")]


@pytest.mark.parametrize("activation,loss,output", COMBOS)
def test_certified_for_T_1_to_6(activation, loss, output):
    spec = symrnn.cells.elman(activation=activation, loss=loss, output=output)
    for T in range(1, 7):
        d = symrnn.derive(spec, steps=T)
        assert d.certified, (T, [str(g.certificate) for g in d.gradients if not g.certificate.ok])
        n_loss = T if output == "every" else 1
        # W, U, b: one path per (loss step t, entry step s ≤ t); V, c: one per loss step; h0: one per loss step.
        paths = T * (T + 1) // 2 if output == "every" else T
        for name in ("W", "U", "b"):
            assert len(d.expansion(name)) == paths
        for name in ("V", "c", "h0"):
            assert len(d.expansion(name)) == n_loss
