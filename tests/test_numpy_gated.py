"""The gated-cell oracle (tests/numpy_gated.py) against central differences, its own column writing, and PyTorch autograd."""
import numpy as np
import pytest

import numpy_gated as G

CELLS = ("elman", "gru", "lstm")
LOSSES = ("mse", "ce", "bce")
OUTPUTS = ("every", "last")
M, K, O, T = 2, 3, 3, 5
LENGTHS = np.array([5, 1, 3, 5])  # full, shortest, in between


def problem(cell, loss, output, B=len(LENGTHS), seed=0, m=M, k=K, o=O):
    """Parameters, X (T, B, m), Z in INTERFACE §3's shape for (loss, output), h0 and c0 (B, k)."""
    rng = np.random.default_rng(seed)
    p = G.init(cell, m, k, o, seed)
    X = rng.normal(size=(T, B, m))
    zshape = (T, B) if output == "every" else (B,)
    if loss == "ce":
        Z = rng.integers(0, o, zshape)
    elif loss == "bce":
        Z = rng.integers(0, 2, zshape + (o,)).astype(float)
    else:
        Z = rng.normal(size=zshape + (o,))
    return p, X, Z, rng.normal(0, 0.5, (B, k)), rng.normal(0, 0.5, (B, k))


def run(cell, p, X, Z, h0, c0, lengths, loss, output, activation="tanh"):
    return G.loss_and_grads(cell, p, X, Z, h0=h0, c0=c0 if cell == "lstm" else None, lengths=lengths,
                            loss=loss, output=output, activation=activation)


def state_names(cell):
    return ("h0", "c0") if cell == "lstm" else ("h0",)


# -- (a) every gradient entry against float64 central differences of the oracle's own loss --------

def central_differences(cell, p, X, Z, h0, c0, lengths, loss, output, activation, eps=1e-6):
    point = {**p, "h0": h0, "c0": c0}
    fd = {}
    for name in G.PARAMS[cell] + state_names(cell):
        fd[name] = np.zeros_like(point[name])
        for idx in np.ndindex(point[name].shape):
            values = []
            for sign in (1, -1):
                moved = {n: v.copy() for n, v in point.items()}
                moved[name][idx] += sign * eps
                values.append(run(cell, {n: moved[n] for n in G.PARAMS[cell]}, X, Z, moved["h0"], moved["c0"],
                                  lengths, loss, output, activation)[0])
            fd[name][idx] = (values[0] - values[1]) / (2 * eps)
    return fd


def check_against_differences(cell, loss, output, lengths, activation="tanh"):
    p, X, Z, h0, c0 = problem(cell, loss, output)
    L, grads = run(cell, p, X, Z, h0, c0, lengths, loss, output, activation)
    assert set(grads) == set(G.PARAMS[cell] + state_names(cell))
    fd = central_differences(cell, p, X, Z, h0, c0, lengths, loss, output, activation)
    for name, want in fd.items():
        assert grads[name].shape == want.shape, name
        np.testing.assert_allclose(grads[name], want, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("cell", CELLS)
def test_every_gradient_entry_matches_central_differences(cell, loss, output, padded):
    check_against_differences(cell, loss, output, LENGTHS if padded else None)


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "identity"])
@pytest.mark.parametrize("cell", CELLS)
def test_other_activations_match_central_differences(cell, activation):
    check_against_differences(cell, "mse", "every", LENGTHS, activation)


# -- (c) padding: a padded batch is the sum of its sequences cut to length, in the column writing ---

def column_runs_summed(cell, p, X, Z, h0, c0, lengths, loss, output, activation="tanh"):
    """Each sequence cut to lengths[i] and run alone by column_forward_backward; losses and gradients summed."""
    cols = {n: v[:, None] if v.ndim == 1 else v for n, v in p.items()}
    total, grads = 0.0, {n: np.zeros_like(v) for n, v in p.items()}
    grads.update({s: np.zeros_like(h0) for s in state_names(cell)})
    for i, n in enumerate(lengths):
        xs = {t: X[t - 1, i][:, None] for t in range(1, n + 1)}
        if output == "last":
            zs = {n: int(Z[i]) if loss == "ce" else Z[i][:, None]}
        else:
            zs = {t: int(Z[t - 1, i]) if loss == "ce" else Z[t - 1, i][:, None] for t in range(1, n + 1)}
        start = {s: v[i][:, None] for s, v in (("h0", h0), ("c0", c0)) if s in state_names(cell)}
        L, g = G.column_forward_backward(cell, {**cols, **start}, xs, zs, loss, output, activation)
        total += L
        for name in p:
            grads[name] += g[name].reshape(p[name].shape)
        for s in start:
            grads[s][i] = g[s][:, 0]
    return total, grads


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("cell", CELLS)
def test_padded_batch_equals_cut_sequences_summed(cell, loss, output):
    p, X, Z, h0, c0 = problem(cell, loss, output, seed=3, m=3, k=4, o=3)
    L, grads = run(cell, p, X, Z, h0, c0, LENGTHS, loss, output)
    L_cut, grads_cut = column_runs_summed(cell, p, X, Z, h0, c0, LENGTHS, loss, output)
    assert L == pytest.approx(L_cut, rel=1e-12)
    for name, want in grads_cut.items():
        np.testing.assert_allclose(grads[name], want, rtol=1e-11, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_the_state_is_carried_through_padding_to_the_last_step(cell):
    """With output="last" the loss sits at step lengths[i]: padding Z at step T would change nothing."""
    p, X, Z, h0, c0 = problem(cell, "mse", "last")
    L_padded, _ = run(cell, p, X, Z, h0, c0, LENGTHS, "mse", "last")
    L_full, _ = run(cell, p, X, Z, h0, c0, None, "mse", "last")
    L_cut = sum(run(cell, p, X[:n, i:i + 1], Z[i:i + 1], h0[i:i + 1], c0[i:i + 1], None, "mse", "last")[0]
                for i, n in enumerate(LENGTHS))
    assert L_padded == pytest.approx(L_cut, rel=1e-12)
    assert L_padded != pytest.approx(L_full, rel=1e-6)  # the padding steps really were skipped


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("cell", CELLS)
def test_nan_and_inf_in_padding_do_not_leak(cell, loss, output):
    p, X, Z, h0, c0 = problem(cell, loss, output)
    want_L, want = run(cell, p, X, Z, h0, c0, LENGTHS, loss, output)
    pad = np.arange(T)[:, None] >= LENGTHS
    X = X.copy()
    X[pad] = np.nan
    X[pad & (np.arange(len(LENGTHS)) % 2 == 0)] = np.inf
    if output == "every":
        Z = Z.copy()
        Z[pad] = -100 if loss == "ce" else np.nan  # -100: PyTorch's ignore_index, out of range here
    L, grads = run(cell, p, X, Z, h0, c0, LENGTHS, loss, output)
    assert L == want_L
    for name, g in grads.items():
        assert np.isfinite(g).all(), name
        np.testing.assert_array_equal(g, want[name], err_msg=name)


def test_column_writing_matches_the_batched_one_without_padding():
    for cell in CELLS:
        p, X, Z, h0, c0 = problem(cell, "bce", "every", B=2, seed=5)
        L, grads = run(cell, p, X, Z, h0, c0, None, "bce", "every", "sigmoid")
        L_col, grads_col = column_runs_summed(cell, p, X, Z, h0, c0, [T, T], "bce", "every", "sigmoid")
        assert L == pytest.approx(L_col, rel=1e-12)
        for name, want in grads_col.items():
            np.testing.assert_allclose(grads[name], want, rtol=1e-11, atol=1e-13, err_msg=name)


def test_bad_lengths_and_output_are_refused():
    p, X, Z, h0, c0 = problem("gru", "mse", "every")
    for lengths in ([0, 1, 1, 1], [6, 1, 1, 1], [1, 1]):
        with pytest.raises(ValueError, match="lengths"):
            run("gru", p, X, Z, h0, c0, lengths, "mse", "every")
    with pytest.raises(ValueError, match="output"):
        run("gru", p, X, Z, h0, c0, None, "mse", "first")


# -- init and the torch mapping ----------------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS)
def test_init_and_torch_state_round_trip(cell):
    p = G.init(cell, 3, 4, 2, seed=1)
    assert tuple(p) == G.PARAMS[cell]
    assert all(np.abs(v).max() <= 0.5 for v in p.values())  # ±1/√k, k = 4
    assert p["V"].shape == (2, 4) and p["c"].shape == (2,)
    rnn, head = G.to_torch_state(cell, p)
    n_gates = {"elman": 1, "gru": 3, "lstm": 4}[cell]
    assert rnn["weight_ih_l0"].shape == (n_gates * 4, 3) and rnn["weight_hh_l0"].shape == (n_gates * 4, 4)
    assert rnn["bias_ih_l0"].shape == rnn["bias_hh_l0"].shape == (n_gates * 4,)
    back = G.from_torch_state(cell, rnn, head)
    assert tuple(back) == G.PARAMS[cell]
    for name in p:
        np.testing.assert_array_equal(back[name], p[name], err_msg=name)


def test_torch_gate_order():
    p = G.init("gru", 3, 4, 2)
    rnn, _ = G.to_torch_state("gru", p)
    np.testing.assert_array_equal(rnn["weight_ih_l0"][4:8], p["W_iu"])   # PyTorch's z block is our u
    np.testing.assert_array_equal(rnn["bias_hh_l0"][8:], p["b_hn"])
    p = G.init("lstm", 3, 4, 2)
    rnn, _ = G.to_torch_state("lstm", p)
    np.testing.assert_array_equal(rnn["weight_hh_l0"][8:12], p["W_hg"])
    np.testing.assert_array_equal(rnn["bias_ih_l0"][12:], p["b_io"])


# -- (b) against PyTorch autograd in float64 ---------------------------------------------------

def torch_modules(torch, cell, p, activation="tanh"):
    o, k = p["V"].shape
    m = (p["U"] if cell == "elman" else p[f"W_i{G.GATES[cell][0]}"]).shape[1]
    if cell == "elman":
        rnn = torch.nn.RNN(m, k, nonlinearity=activation)
    else:
        rnn = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](m, k)
    head = torch.nn.Linear(k, o)
    rnn.double(), head.double()
    rnn_state, head_state = G.to_torch_state(cell, p)
    rnn.load_state_dict({key: torch.tensor(v) for key, v in rnn_state.items()})
    head.load_state_dict({key: torch.tensor(v) for key, v in head_state.items()})
    return rnn, head


def torch_loss_and_grads(cell, p, X, Z, h0, c0, lengths, loss, output, activation="tanh"):
    """PyTorch autograd, each sequence cut to its length and run alone; losses and gradients summed (our names)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rnn, head = torch_modules(torch, cell, p, activation)
    T_, B, _ = X.shape
    lengths = [T_] * B if lengths is None else lengths
    total = 0.0
    starts = {s: np.zeros_like(h0) for s in state_names(cell)}
    for i, n in enumerate(lengths):
        x = torch.tensor(X[:n, i:i + 1])
        h = torch.tensor(h0[i][None, None], requires_grad=True)
        c = torch.tensor(c0[i][None, None], requires_grad=True)
        Y = head(rnn(x, (h, c) if cell == "lstm" else h)[0])[:, 0]  # (n, o)
        if output == "last":
            Y, z = Y[-1:], Z[i][None]
        else:
            z = Z[:n, i]
        z = torch.tensor(z)
        if loss == "mse":
            L = 0.5 * ((Y - z) ** 2).sum()
        elif loss == "bce":
            L = F.binary_cross_entropy_with_logits(Y, z, reduction="sum")
        else:
            L = F.cross_entropy(Y, z, reduction="sum")
        L.backward()
        total += float(L.detach())
        starts["h0"][i] = h.grad[0, 0].numpy()
        if cell == "lstm":
            starts["c0"][i] = c.grad[0, 0].numpy()
    rnn_grads = {key: q.grad for key, q in rnn.named_parameters()}
    head_grads = {key: q.grad for key, q in head.named_parameters()}
    grads = G.from_torch_state(cell, rnn_grads, head_grads)
    if cell == "elman":  # each torch bias's gradient is ∂L/∂b; the mapping's sum would double it
        np.testing.assert_allclose(rnn_grads["bias_ih_l0"].numpy(), rnn_grads["bias_hh_l0"].numpy(), rtol=1e-14)
        grads["b"] = rnn_grads["bias_ih_l0"].numpy()
    return total, {**grads, **starts}


def check_against_torch(cell, loss, output, lengths, activation="tanh", seed=0):
    p, X, Z, h0, c0 = problem(cell, loss, output, seed=seed, m=3, k=5, o=4)
    L, grads = run(cell, p, X, Z, h0, c0, lengths, loss, output, activation)
    L_torch, want = torch_loss_and_grads(cell, p, X, Z, h0, c0, lengths, loss, output, activation)
    assert L == pytest.approx(L_torch, rel=1e-12)
    assert set(grads) == set(want)
    for name, w in want.items():
        np.testing.assert_allclose(grads[name], w, rtol=1e-10, atol=1e-12 * np.abs(w).max(), err_msg=name)


@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("cell", CELLS)
def test_matches_torch_autograd(cell, loss, output, padded):
    check_against_torch(cell, loss, output, LENGTHS if padded else None)


def test_elman_relu_matches_torch():
    check_against_torch("elman", "mse", "every", LENGTHS, activation="relu")


def test_torch_tensors_are_accepted_by_from_torch_state():
    torch = pytest.importorskip("torch")
    p = G.init("lstm", 3, 4, 2, seed=2)
    rnn, head = torch_modules(torch, "lstm", p)
    back = G.from_torch_state("lstm", rnn.state_dict(), dict(head.named_parameters()))
    for name in p:
        np.testing.assert_array_equal(back[name], p[name], err_msg=name)
