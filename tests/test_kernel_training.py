"""loss_and_grads' training options (truncated BPTT, clipping, check_finite) and target checks, each against an
independent implementation: chunked runs of tests/numpy_gated.py, torch.nn.utils' clipping."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import numpy_gated

GENERATED = Path(__file__).resolve().parent.parent / "generated"


def kernel(name):
    spec = importlib.util.spec_from_file_location(f"kernel_{name}", GENERATED / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def point(cell, loss="mse", output="every", T=7, B=3, m=2, k=4, o=3, seed=0):
    rng = np.random.default_rng(seed)
    p = {n: rng.normal(0, 0.6, v.shape) for n, v in numpy_gated.init(cell, m, k, o, seed=seed).items()}
    X = rng.normal(size=(T, B, m))
    states = {"h0": rng.normal(0, 0.5, (B, k))}
    if cell == "lstm":
        states["c0"] = rng.normal(0, 0.5, (B, k))
    zshape = (T, B) if output == "every" else (B,)
    if loss == "ce":
        Z = rng.integers(0, o, zshape)
    elif loss == "bce":
        Z = rng.integers(0, 2, zshape + (o,)).astype(float)
    else:
        Z = rng.normal(size=zshape + (o,))
    return p, X, Z, states


@pytest.mark.parametrize("cell,loss,output,K", [("elman", "mse", "every", 3), ("gru", "ce", "every", 2),
                                               ("lstm", "bce", "every", 3), ("lstm", "mse", "last", 4),
                                               ("gru", "mse", "every", 7), ("elman", "ce", "last", 1)])
def test_truncated_bptt_is_the_chunks_run_one_after_another(cell, loss, output, K):
    """truncate=K equals running the chunks 1..K, K+1..2K, … separately (state carried, detached) and summing."""
    k = kernel(f"{cell}_tanh_{loss}_{output}")
    p, X, Z, states = point(cell, loss, output)
    T = X.shape[0]
    L, g = k.loss_and_grads(p, X, Z, truncate=K, **states)
    _, cache = k.forward(p, X, **states)
    total = {n: np.zeros_like(v) for n, v in p.items()}
    total_L = 0.0
    for start in range(0, T, K):
        stop = min(start + K, T)
        h = cache["H"][start]
        c = cache["C"][start] if cell == "lstm" else None
        if output == "every":
            Lc, gc = numpy_gated.loss_and_grads(cell, p, X[start:stop], Z[start:stop], h, c, None, loss, "every")
        elif stop == T:   # many-to-one: the only loss is at T, in the last chunk
            Lc, gc = numpy_gated.loss_and_grads(cell, p, X[start:stop], Z, h, c, None, loss, "last")
        else:
            continue
        total_L += Lc
        for n in p:
            total[n] += gc[n]
        if start == 0:
            first = gc
    assert L == pytest.approx(total_L, rel=1e-12)
    for n in p:
        np.testing.assert_allclose(g[n], total[n], rtol=1e-10, atol=1e-13, err_msg=n)
    if output == "every" or K >= T:
        for s in states:
            np.testing.assert_allclose(g[s], first[s], rtol=1e-10, atol=1e-13, err_msg=s)
    if K >= T:  # one chunk: no truncation at all
        _, full = k.loss_and_grads(p, X, Z, **states)
        assert all(np.array_equal(full[n], g[n]) for n in g)


def test_truncation_with_padding_cuts_at_the_same_steps():
    k = kernel("gru_tanh_mse_every")
    p, X, Z, states = point("gru", B=3)
    lengths = np.array([7, 4, 2])
    L, g = k.loss_and_grads(p, X, Z, lengths=lengths, truncate=3, **states)
    # each sequence alone, truncated at the same absolute steps
    total = {n: np.zeros_like(v) for n, v in p.items()}
    for i, n in enumerate(lengths):
        _, gi = k.loss_and_grads(p, X[:n, i:i + 1], Z[:n, i:i + 1], truncate=3, h0=states["h0"][i:i + 1])
        for name in p:
            total[name] += gi[name]
        np.testing.assert_allclose(g["h0"][i], gi["h0"][0], rtol=1e-12, atol=1e-14)
    for name in p:
        np.testing.assert_allclose(g[name], total[name], rtol=1e-11, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("name", ["elman_tanh_mse_every", "lstm_tanh_ce_last"])
def test_clipping_matches_torch_utils(name):
    torch = pytest.importorskip("torch")
    k = kernel(name)
    cell, _, loss, output = name.split("_")
    p, X, Z, states = point(cell, loss, output, seed=3)
    _, g = k.loss_and_grads(p, X, Z, **states)
    norm = np.sqrt(sum(np.sum(g[n] ** 2) for n in k.PARAMS))
    for clip_value, clip_norm in ((0.05, None), (None, norm / 4), (0.05, 0.1), (None, 2 * norm)):
        _, clipped = k.loss_and_grads(p, X, Z, clip_value=clip_value, clip_norm=clip_norm, **states)
        tensors = {n: torch.zeros(g[n].size, dtype=torch.float64, requires_grad=True) for n in k.PARAMS}
        for n, t in tensors.items():
            t.grad = torch.tensor(g[n].reshape(-1))
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(list(tensors.values()), clip_value)
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(list(tensors.values()), clip_norm)   # scales by max_norm/(norm + 1e-6)
        for n in k.PARAMS:
            np.testing.assert_allclose(clipped[n].reshape(-1), tensors[n].grad.numpy(), rtol=1e-5, atol=1e-12, err_msg=n)
        for s in states:   # the initial states' gradients are never clipped
            np.testing.assert_array_equal(clipped[s], g[s])
    _, clipped = k.loss_and_grads(p, X, Z, clip_norm=norm / 4, **states)
    assert np.sqrt(sum(np.sum(clipped[n] ** 2) for n in k.PARAMS)) == pytest.approx(norm / 4, rel=1e-12)


def test_check_finite_names_the_argument_and_spares_padding():
    k = kernel("lstm_tanh_bce_every")
    p, X, Z, states = point("lstm", "bce")
    lengths = np.array([7, 3, 5])
    Xpad = X.copy()
    Xpad[5:, 1] = np.nan                      # padding of sequence 1 (length 3)
    L, _ = k.loss_and_grads(p, Xpad, Z, lengths=lengths, check_finite=True, **states)
    assert np.isfinite(L)
    bad_X = X.copy()
    bad_X[1, 0, 0] = np.inf
    cases = [((p, bad_X, Z), {}, "X: expected finite values"),
             (({**p, "W_hf": p["W_hf"] * np.nan}, X, Z), {}, "params['W_hf']: expected finite values"),
             ((p, X, Z), {"c0": states["c0"] * np.nan}, "c0: expected finite values")]
    for args, extra, message in cases:
        with pytest.raises(ValueError) as e:
            k.loss_and_grads(*args, **{**states, **extra}, check_finite=True)
        assert message in str(e.value)
        with np.errstate(invalid="ignore"):
            _, g = k.loss_and_grads(*args, **{**states, **extra})   # off by default: nan goes through
        assert not all(np.isfinite(v).all() for v in g.values())
    with pytest.raises(ValueError, match="X: expected finite"):
        k.forward(p, bad_X, check_finite=True)
    mse = kernel("gru_tanh_mse_every")
    pg, Xg, Zg, sg = point("gru")
    Zg[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="Z: expected finite values"):
        mse.loss_and_grads(pg, Xg, Zg, check_finite=True, **sg)


@pytest.mark.parametrize("bad", [2.0, -0.5, np.nan])
def test_bce_targets_outside_0_1_are_refused(bad):
    k = kernel("gru_tanh_bce_last")
    p, X, Z, states = point("gru", "bce", "last")
    Z[1, 0] = bad
    with pytest.raises(ValueError, match=r"Z: expected binary targets in \[0, 1\]"):
        k.loss_and_grads(p, X, Z, **states)
    Z[1, 0] = 0.25      # soft targets in [0, 1] are fine
    k.loss_and_grads(p, X, Z, **states)


@pytest.mark.parametrize("kwargs,message", [({"truncate": 0}, "truncate: expected a whole number of steps >= 1"),
                                            ({"truncate": 2.5}, "truncate"), ({"truncate": True}, "truncate"),
                                            ({"clip_norm": -1.0}, "clip_norm: expected a finite number > 0"),
                                            ({"clip_value": np.inf}, "clip_value"), ({"clip_value": "5"}, "clip_value")])
def test_bad_training_options(kwargs, message):
    k = kernel("elman_tanh_mse_every")
    p, X, Z, states = point("elman")
    with pytest.raises(ValueError, match=message):
        k.loss_and_grads(p, X, Z, **states, **kwargs)
