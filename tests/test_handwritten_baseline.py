"""The speed baseline benchmarks/handwritten.py computes what the oracle tests/numpy_gated.py computes."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import numpy_gated as G

_spec = importlib.util.spec_from_file_location(
    "handwritten", Path(__file__).resolve().parent.parent / "benchmarks" / "handwritten.py")
hw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hw)

CELLS = ("elman", "gru", "lstm")
T, M, K, O = 6, 3, 5, 4
LENGTHS = np.array([6, 2, 4])


def problem(cell, loss, output, seed=0, B=len(LENGTHS)):
    rng = np.random.default_rng(seed)
    p = G.init(cell, M, K, O, seed)
    X = rng.normal(size=(T, B, M))
    zshape = (T, B) if output == "every" else (B,)
    if loss == "ce":
        Z = rng.integers(0, O, zshape)
    elif loss == "bce":
        Z = rng.integers(0, 2, zshape + (O,)).astype(float)
    else:
        Z = rng.normal(size=zshape + (O,))
    return p, X, Z, rng.normal(0, 0.5, (B, K)), rng.normal(0, 0.5, (B, K))


def both(cell, p, X, Z, h0, c0, lengths, loss, output, activation="tanh", dtype=np.float64):
    """(oracle's answer in float64, handwritten's answer at dtype)."""
    c0 = c0 if cell == "lstm" else None
    want = G.loss_and_grads(cell, p, X, Z, h0, c0, lengths, loss, output, activation)
    cast = lambda a: None if a is None else a.astype(dtype)
    got = hw.loss_and_grads(cell, {n: cast(v) for n, v in p.items()}, cast(X), Z if loss == "ce" else cast(Z),
                            cast(h0), cast(c0), lengths, loss, output, activation)
    return want, got


def assert_same(want, got, rtol):
    (L_want, g_want), (L, g) = want, got
    assert L == pytest.approx(L_want, rel=rtol)
    assert set(g) == set(g_want)
    for name, w in g_want.items():
        assert g[name].shape == w.shape, name
        np.testing.assert_allclose(g[name], w, rtol=rtol, atol=rtol * np.abs(w).max(), err_msg=name)


@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("output", ["every", "last"])
@pytest.mark.parametrize("loss", ["mse", "ce", "bce"])
@pytest.mark.parametrize("cell", CELLS)
def test_matches_the_oracle_in_float64(cell, loss, output, padded):
    p, X, Z, h0, c0 = problem(cell, loss, output)
    assert_same(*both(cell, p, X, Z, h0, c0, LENGTHS if padded else None, loss, output), rtol=1e-10)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_in_float32_out(cell):
    p, X, Z, h0, c0 = problem(cell, "mse", "every")
    want, got = both(cell, p, X, Z, h0, c0, LENGTHS, "mse", "every", dtype=np.float32)
    assert all(g.dtype == np.float32 for g in got[1].values())
    assert_same(want, got, rtol=1e-4)


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "identity"])
def test_elman_activations(activation):
    p, X, Z, h0, c0 = problem("elman", "bce", "every")
    assert_same(*both("elman", p, X, Z, h0, c0, LENGTHS, "bce", "every", activation), rtol=1e-10)


def test_gated_cells_refuse_other_activations():
    p, X, Z, h0, c0 = problem("gru", "mse", "every")
    with pytest.raises(ValueError, match="activation"):
        hw.loss_and_grads("gru", p, X, Z, activation="sigmoid")


@pytest.mark.parametrize("cell", CELLS)
def test_reused_buffers_give_fresh_answers(cell):
    """Second call of the same size reuses the workspace: right answer, and the first call's grads are untouched."""
    p, X, Z, h0, c0 = problem(cell, "mse", "every", seed=1)
    want1, got1 = both(cell, p, X, Z, h0, c0, None, "mse", "every")
    kept = {n: v.copy() for n, v in got1[1].items()}
    p2, X2, Z2, h02, c02 = problem(cell, "mse", "every", seed=2)
    assert_same(*both(cell, p2, X2, Z2, h02, c02, None, "mse", "every"), rtol=1e-10)
    for name, v in got1[1].items():
        np.testing.assert_array_equal(v, kept[name], err_msg=name)
    assert_same(want1, got1, rtol=1e-10)


@pytest.mark.parametrize("cell", CELLS)
def test_backward_in_several_blocks(cell, monkeypatch):
    """Blocks of a few steps each (the large-problem path) give the same answer as one block."""
    monkeypatch.setattr(hw, "BLOCK_BYTES", 2 * len(LENGTHS) * K * 8)   # two steps per block
    monkeypatch.setattr(hw, "_workspaces", type(hw._workspaces)())
    p, X, Z, h0, c0 = problem(cell, "ce", "last", seed=4)
    assert_same(*both(cell, p, X, Z, h0, c0, LENGTHS, "ce", "last"), rtol=1e-10)


@pytest.mark.parametrize("cell", CELLS)
def test_nan_in_padding_does_not_leak(cell):
    p, X, Z, h0, c0 = problem(cell, "mse", "every")
    pad = np.arange(T)[:, None] >= LENGTHS
    X[pad], Z[pad] = np.nan, np.inf
    L, grads = hw.loss_and_grads(cell, p, X, Z, h0, c0 if cell == "lstm" else None, LENGTHS)
    assert np.isfinite(L) and all(np.isfinite(g).all() for g in grads.values())
    X[pad], Z[pad] = 0.0, 0.0
    assert_same(G.loss_and_grads(cell, p, X, Z, h0, c0 if cell == "lstm" else None, LENGTHS), (L, grads), 1e-10)
