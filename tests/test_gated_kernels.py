"""GRU and LSTM kernels (and the spec-file cells'): against the independent NumPy BPTT, central differences,
per-sequence runs, float32, torch.nn.GRU/LSTM through from_torch/grads_to_torch, state carried across batches."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import numpy_gated
import symrnn
from symrnn.kernels.codegen import kernel_source

ROOT = Path(__file__).resolve().parent.parent
COMBOS = [(cell, loss, output) for cell in ("gru", "lstm") for loss in ("mse", "ce", "bce") for output in ("every", "last")]
IDS = ["_".join(c) for c in COMBOS]


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"kernel_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """Every gated catalogue kernel, rendered afresh (not the committed copies) and imported."""
    out = tmp_path_factory.mktemp("gated")
    mods = {}
    for cell, loss, output in COMBOS:
        path = out / f"{cell}_tanh_{loss}_{output}.py"
        path.write_text(kernel_source(symrnn.cells.build(cell, loss=loss, output=output)), encoding="utf-8")
        mods[cell, loss, output] = load(path)
    return mods


def targets(rng, loss, output, T, B, o):
    shape = (T, B) if output == "every" else (B,)
    if loss == "ce":
        return rng.integers(0, o, shape)
    if loss == "bce":
        return rng.integers(0, 2, shape + (o,)).astype(float)
    return rng.normal(0, 1, shape + (o,))


def point(cell, loss, output, T=6, B=4, m=3, k=5, o=4, seed=0):
    rng = np.random.default_rng(seed)
    p = {n: rng.normal(0, 0.5, v.shape) for n, v in numpy_gated.init(cell, m, k, o, seed=seed).items()}
    X = rng.normal(0, 1, (T, B, m))
    states = {"h0": rng.normal(0, 0.5, (B, k))}
    if cell == "lstm":
        states["c0"] = rng.normal(0, 0.5, (B, k))
    lengths = np.array([T, 3, 1, T - 1][:B])
    return p, X, targets(rng, loss, output, T, B, o), states, lengths


def names(cell):
    return numpy_gated.PARAMS[cell] + (("h0", "c0") if cell == "lstm" else ("h0",))


@pytest.mark.parametrize("combo", COMBOS, ids=IDS)
def test_matches_independent_bptt_with_padding(kernels, combo):
    cell, loss, output = combo
    k = kernels[combo]
    p, X, Z, states, lengths = point(*combo)
    assert k.PARAMS == numpy_gated.PARAMS[cell] and k.STATES == list(states)
    for lens in (lengths, None):
        L, g = k.loss_and_grads(p, X, Z, lengths=lens, **states)
        want_L, want = numpy_gated.loss_and_grads(cell, p, X, Z, states["h0"], states.get("c0"), lens, loss, output)
        assert set(g) == set(names(cell))
        assert L == pytest.approx(want_L, rel=1e-12)
        for name in names(cell):
            np.testing.assert_allclose(g[name], want[name], rtol=1e-10, atol=1e-13, err_msg=name)
    # padded entries may hold anything
    pad = np.arange(X.shape[0])[:, None] >= lengths[None, :]
    X2, Z2 = X.copy(), Z.copy()
    X2[pad] = np.nan
    if output == "every":
        Z2[pad] = -1 if loss == "ce" else np.inf
    L2, g2 = k.loss_and_grads(p, X2, Z2, lengths=lengths, **states)
    L, g = k.loss_and_grads(p, X, Z, lengths=lengths, **states)
    assert L2 == pytest.approx(L, rel=1e-14)
    for name in names(cell):
        np.testing.assert_allclose(g2[name], g[name], rtol=1e-13, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("combo", [("gru", "mse", "every"), ("lstm", "ce", "every"), ("lstm", "bce", "last")],
                         ids=lambda c: "_".join(c))
def test_blocks_of_steps_and_reused_buffers(kernels, combo, monkeypatch):
    """Several blocks of backward steps, the last one short (T = 7, blocks of 2: factor rows (t − 1) % block), and the
    workspace's buffers reused by a second call: the same answer as the independent BPTT, and the first call's
    gradients (the initial states' ones were carry rows of the buffers) untouched by the second."""
    cell, loss, output = combo
    k = kernels[combo]
    p, X, Z, states, lengths = point(*combo, T=7, seed=5)
    k.loss_and_grads(p, X / 2, Z, **states)   # a workspace made with the default block first: BLOCK_BYTES may change
    monkeypatch.setattr(k, "BLOCK_BYTES", 2 * X.shape[1] * states["h0"].shape[1] * 8)   # two steps per block
    for lens in (lengths, None):
        L, g = k.loss_and_grads(p, X, Z, lengths=lens, **states)
        kept = {n: v.copy() for n, v in g.items()}
        L2, g2 = k.loss_and_grads(p, X, Z, lengths=lens, **states)
        want_L, want = numpy_gated.loss_and_grads(cell, p, X, Z, states["h0"], states.get("c0"), lens, loss, output)
        assert L == pytest.approx(want_L, rel=1e-12) and L2 == L
        for name in names(cell):
            np.testing.assert_allclose(g2[name], want[name], rtol=1e-10, atol=1e-13, err_msg=name)
            np.testing.assert_array_equal(g[name], kept[name], err_msg=name)


@pytest.mark.parametrize("combo", [("gru", "mse", "every"), ("lstm", "ce", "every")], ids=lambda c: "_".join(c))
def test_block_bytes_changed_and_changed_back(kernels, combo, monkeypatch):
    """BLOCK_BYTES changed, then set back, between calls of one workspace: the buffers of a block of steps (the LSTM's
    c̄ factor) and the loop's rows of them belong to one block size, so no call reads rows another call left (before
    this test, the LSTM's gradients were off by ~0.1 in the third call)."""
    k = kernels[combo]
    p, X, Z, states, _ = point(*combo, T=7, seed=6)
    k._workspaces.clear()
    k.loss_and_grads(p, X / 2, Z, **states)   # the default block (all 7 steps), other inputs
    default = k.BLOCK_BYTES
    monkeypatch.setattr(k, "BLOCK_BYTES", 2 * X.shape[1] * states["h0"].shape[1] * 8)   # two steps per block
    k.loss_and_grads(p, X, Z, **states)
    monkeypatch.setattr(k, "BLOCK_BYTES", default)
    L, g = k.loss_and_grads(p, X, Z, **states)
    k._workspaces.clear()
    L_fresh, g_fresh = k.loss_and_grads(p, X, Z, **states)
    assert L == L_fresh
    for name in g:
        np.testing.assert_array_equal(g[name], g_fresh[name], err_msg=name)


@pytest.mark.parametrize("combo", COMBOS, ids=IDS)
def test_central_differences(kernels, combo):
    cell = combo[0]
    k = kernels[combo]
    p, X, Z, states, lengths = point(*combo, T=4, B=3, m=2, k=3, o=3, seed=1)
    _, g = k.loss_and_grads(p, X, Z, lengths=lengths, **states)
    args, eps = {**p, **states}, 1e-6

    def loss_at(a):
        return k.loss_and_grads({n: a[n] for n in k.PARAMS}, X, Z, lengths=lengths, **{s: a[s] for s in states})[0]

    for name in names(cell):
        num = np.zeros_like(args[name])
        for idx in np.ndindex(args[name].shape):
            up, down = ({n: v.copy() for n, v in args.items()} for _ in range(2))
            up[name][idx] += eps
            down[name][idx] -= eps
            num[idx] = (loss_at(up) - loss_at(down)) / (2 * eps)
        scale = max(np.abs(num).max(), 0.1)  # the differences' rounding is ~1e-16·L/eps ≈ 1e-9 absolute
        assert np.abs(g[name] - num).max() / scale < 1e-7, name


@pytest.mark.parametrize("combo", [("gru", "ce", "every"), ("lstm", "mse", "last"), ("lstm", "bce", "every")],
                         ids=lambda c: "_".join(c))
def test_padding_equals_per_sequence_runs(kernels, combo):
    """A padded batch is the sum of its sequences, each run alone at its own length."""
    cell, loss, output = combo
    k = kernels[combo]
    p, X, Z, states, lengths = point(*combo, seed=3)
    L, g = k.loss_and_grads(p, X, Z, lengths=lengths, **states)
    total_L, total = 0.0, {n: np.zeros_like(v) for n, v in p.items()}
    for i, n in enumerate(lengths):
        Zi = Z[:n, i:i + 1] if output == "every" else Z[i:i + 1]
        Li, gi = k.loss_and_grads(p, X[:n, i:i + 1], Zi, **{s: v[i:i + 1] for s, v in states.items()})
        total_L += Li
        for name in p:
            total[name] += gi[name]
        for s in states:
            np.testing.assert_allclose(g[s][i:i + 1], gi[s], rtol=1e-12, atol=1e-14, err_msg=s)
    assert L == pytest.approx(total_L, rel=1e-12)
    for name in p:
        np.testing.assert_allclose(g[name], total[name], rtol=1e-11, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("combo", [("gru", "bce", "last"), ("lstm", "ce", "every")], ids=lambda c: "_".join(c))
def test_float32_in_float32_out(kernels, combo):
    k = kernels[combo]
    p, X, Z, states, lengths = point(*combo)
    f32 = lambda a: a.astype(np.float32) if a.dtype.kind == "f" else a
    p32, s32 = {n: f32(v) for n, v in p.items()}, {n: f32(v) for n, v in states.items()}
    Y, cache = k.forward(p32, f32(X), lengths=lengths, **s32)
    L, g = k.loss_and_grads(p32, f32(X), f32(Z), lengths=lengths, **s32)
    assert Y.dtype == np.float32 and cache["H"].dtype == np.float32 and np.asarray(L).dtype == np.float32
    assert all(type(v) is np.ndarray and v.dtype == np.float32 for v in g.values())
    L64, g64 = k.loss_and_grads(p, X, Z, lengths=lengths, **states)
    assert float(L) == pytest.approx(L64, rel=1e-4)
    for name in g:
        np.testing.assert_allclose(g[name], g64[name], rtol=2e-3, atol=2e-4, err_msg=name)
    assert all(v.dtype == np.float32 for v in k.init_params(3, 5, 4, dtype=np.float32).values())


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_cache_carries_the_final_states_into_the_next_batch(kernels, cell):
    k = kernels[cell, "mse", "every"]
    p, X, _, states, lengths = point(cell, "mse", "every", seed=4)
    Y, cache = k.forward(p, X, **states)
    Y1, c1 = k.forward(p, X[:2], **states)
    Y2, _ = k.forward(p, X[2:], **{s: c1[s[0] + "T"] for s in states})
    np.testing.assert_allclose(np.concatenate([Y1, Y2]), Y, rtol=1e-14, atol=1e-15)
    # with padding, the final state is each sequence's last valid one
    _, padded = k.forward(p, X, lengths=lengths, **states)
    for i, n in enumerate(lengths):
        _, alone = k.forward(p, X[:n, i:i + 1], **{s: v[i:i + 1] for s, v in states.items()})
        for s in states:
            np.testing.assert_allclose(padded[s[0] + "T"][i], alone[s[0] + "T"][0], rtol=1e-14, atol=1e-15)


def test_bad_input_names_the_argument(kernels):
    k = kernels["lstm", "mse", "every"]
    p, X, Z, states, lengths = point("lstm", "mse", "every")
    cases = [
        (dict(c0=states["c0"][:, :3]), "c0: expected shape (B, k) = (4, 5), got (4, 3)"),
        (dict(c0=states["c0"].astype(int)), "c0: expected a floating-point"),
        (dict(h0=states["h0"][None]), "h0: expected shape (B, k)"),
        (dict(lengths=np.array([0, 1, 1, 1])), "lengths: expected 1 <= lengths[i] <= T = 6"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError) as e:
            k.loss_and_grads(p, X, Z, **kwargs)
        assert message in str(e.value), (message, str(e.value))
    with pytest.raises(ValueError, match=r"params\['W_hf'\]: expected shape \(k, k\) = \(5, 5\), got \(5, 4\)"):
        k.loss_and_grads({**p, "W_hf": p["W_hf"][:, :4]}, X, Z)
    for run in (lambda k, p: k.loss_and_grads(p, X, Z, c0=states["c0"]), lambda k, p: k.forward(p, X, c0=states["c0"])):
        with pytest.raises(ValueError, match=r"^c0: the gru kernel takes no argument 'c0' \(its initial states: h0\)$"):
            run(kernels["gru", "mse", "every"], point("gru", "mse", "every")[0])  # a kernel of a cell without c takes no c0


# -- PyTorch ------------------------------------------------------------------------------------------

def _torch_run(cell, loss, output, rnn, lin, X, Z, states):
    """L and its autograd gradients for torch's module + Linear head, the loss summed over steps and batch."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tX = torch.tensor(X)
    ts = {s: torch.tensor(v[None], requires_grad=True) for s, v in states.items()}
    out, _ = rnn(tX, (ts["h0"], ts["c0"]) if cell == "lstm" else ts["h0"])
    Y = lin(out)
    Yl = Y if output == "every" else Y[-1]
    tZ = torch.tensor(Z)
    if loss == "mse":
        L = 0.5 * ((Yl - tZ) ** 2).sum()
    elif loss == "bce":
        L = F.binary_cross_entropy_with_logits(Yl, tZ, reduction="sum")
    else:
        L = F.cross_entropy(Yl.reshape(-1, Yl.shape[-1]), tZ.reshape(-1), reduction="sum")
    L.backward()
    return float(L.detach()), {s: v.grad.numpy()[0] for s, v in ts.items()}


@pytest.mark.parametrize("combo", COMBOS, ids=IDS)
def test_matches_torch_through_from_torch(kernels, combo):
    torch = pytest.importorskip("torch")
    cell, loss, output = combo
    k = kernels[combo]
    torch.manual_seed(7)
    T, B, m, kk, o = 7, 3, 4, 5, 3
    rnn = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](m, kk).double()
    lin = torch.nn.Linear(kk, o).double()
    rng = np.random.default_rng(7)
    X = rng.normal(size=(T, B, m))
    states = {s: rng.normal(0, 0.5, (B, kk)) for s in k.STATES}
    Z = targets(rng, loss, output, T, B, o)
    p = k.from_torch(rnn.state_dict(), lin.state_dict())
    L, g = k.loss_and_grads(p, X, Z, **states)
    want_L, want_states = _torch_run(cell, loss, output, rnn, lin, X, Z, states)
    assert L == pytest.approx(want_L, rel=1e-12)
    rnn_g, head_g = k.grads_to_torch(g)
    assert set(rnn_g) == set(rnn.state_dict()) and set(head_g) == set(lin.state_dict())
    for key, value in rnn.named_parameters():
        np.testing.assert_allclose(rnn_g[key], value.grad.numpy(), rtol=1e-12, atol=1e-13, err_msg=key)
    for key, value in lin.named_parameters():
        np.testing.assert_allclose(head_g[key], value.grad.numpy(), rtol=1e-12, atol=1e-13, err_msg=key)
    for s, v in want_states.items():
        np.testing.assert_allclose(g[s], v, rtol=1e-12, atol=1e-13, err_msg=s)


def test_elman_from_torch_sums_the_biases():
    torch = pytest.importorskip("torch")
    path = ROOT / "generated" / "elman_tanh_mse_every.py"
    k = load(path)
    torch.manual_seed(2)
    rnn, lin = torch.nn.RNN(3, 4).double(), torch.nn.Linear(4, 2).double()
    p = k.from_torch(rnn.state_dict(), lin.state_dict())
    np.testing.assert_array_equal(p["b"], (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().numpy())
    rng = np.random.default_rng(2)
    X, Z = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 2, 2))
    _, g = k.loss_and_grads(p, X, Z)
    out, _ = rnn(torch.tensor(X))
    (0.5 * ((lin(out) - torch.tensor(Z)) ** 2).sum()).backward()
    rnn_g, _ = k.grads_to_torch(g)
    for key in ("bias_ih_l0", "bias_hh_l0", "weight_hh_l0"):
        np.testing.assert_allclose(rnn_g[key], getattr(rnn, key).grad.numpy(), rtol=1e-12, atol=1e-14)


def test_from_torch_keeps_float32_and_names_bad_keys(kernels):
    k = kernels["gru", "mse", "every"]
    rnn = {"weight_ih_l0": np.zeros((15, 3), np.float32), "weight_hh_l0": np.zeros((15, 5), np.float32),
           "bias_ih_l0": np.zeros(15, np.float32), "bias_hh_l0": np.zeros(15, np.float32)}
    head = {"weight": np.zeros((2, 5), np.float32), "bias": np.zeros(2, np.float32)}
    p = k.from_torch(rnn, head)
    assert p["W_hn"].shape == (5, 5) and p["W_in"].dtype == np.float32
    with pytest.raises(ValueError, match=r"rnn_state: missing key 'bias_hh_l0'"):
        k.from_torch({n: v for n, v in rnn.items() if n != "bias_hh_l0"}, head)
    with pytest.raises(ValueError, match=r"rnn_state\['weight_hh_l0'\]: expected shape \(3k, k\) = \(15, 5\), got \(15, 4\)"):
        k.from_torch({**rnn, "weight_hh_l0": np.zeros((15, 4))}, head)
    with pytest.raises(ValueError, match=r"head_state: expected a state_dict"):
        k.from_torch(rnn, None)
    with pytest.raises(ValueError, match=r"grads: expected a dict"):
        k.grads_to_torch({"V": 0})


# -- spec-file cells ---------------------------------------------------------------------------------

@pytest.mark.parametrize("example", ["leaky", "mgu"])
def test_spec_file_cells_by_central_differences(tmp_path, example):
    spec = symrnn.load_spec(ROOT / "docs" / "examples" / f"{example}.toml")
    k = load(symrnn.codegen(spec, tmp_path))
    with pytest.raises(ValueError, match="no torch.nn counterpart"):
        k.from_torch({}, {})
    rng = np.random.default_rng(5)
    T, B, m, kk, o = 4, 3, 2, 3, 2
    p = {n: rng.normal(0, 0.5, v.shape) if v.shape else np.array(0.4) for n, v in k.init_params(m, kk, o).items()}
    X, h0, Z, lengths = rng.normal(size=(T, B, m)), rng.normal(size=(B, kk)), rng.normal(size=(T, B, o)), np.array([4, 2, 1])
    _, g = k.loss_and_grads(p, X, Z, h0, lengths)
    args, eps = {**p, "h0": h0}, 1e-6
    for name in (*k.PARAMS, "h0"):
        for idx in np.ndindex(np.shape(args[name])):
            up, down = ({n: np.array(v, dtype=float) for n, v in args.items()} for _ in range(2))
            up[name][idx] += eps
            down[name][idx] -= eps
            lu = k.loss_and_grads({n: up[n] for n in k.PARAMS}, X, Z, up["h0"], lengths)[0]
            ld = k.loss_and_grads({n: down[n] for n in k.PARAMS}, X, Z, down["h0"], lengths)[0]
            num = (lu - ld) / (2 * eps)
            assert abs(g[name][idx] - num) <= 1e-7 * max(1.0, abs(num)), (name, idx, g[name][idx], num)


@pytest.mark.parametrize("cell,activation", [("gru", "relu"), ("lstm", "sigmoid"), ("gru", "identity")])
def test_other_activations_match_the_independent_bptt(tmp_path, cell, activation):
    """The activation replaces the GRU's candidate tanh and both of the LSTM's (tests/numpy_gated.py's convention)."""
    spec = symrnn.cells.build(cell, activation=activation, loss="bce", output="last")
    k = load(symrnn.codegen(spec, tmp_path))
    p, X, Z, states, lengths = point(cell, "bce", "last", seed=8)
    L, g = k.loss_and_grads(p, X, Z, lengths=lengths, **states)
    want_L, want = numpy_gated.loss_and_grads(cell, p, X, Z, states["h0"], states.get("c0"), lengths, "bce", "last",
                                              activation)
    assert L == pytest.approx(want_L, rel=1e-12)
    for name in names(cell):
        np.testing.assert_allclose(g[name], want[name], rtol=1e-10, atol=1e-13, err_msg=name)


# -- buffers reused across calls ------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_reused_buffers_leak_nothing_between_calls(kernels, cell):
    """loss_and_grads keeps its large buffers for the next call of the same sizes: a second call with other inputs
    gives what a fresh call gives, the first call's results do not change, nothing returned shares memory with the
    buffers or with another result, and forward's cache is the caller's own."""
    k = kernels[cell, "mse", "every"]
    p1, X1, Z1, s1, lengths = point(cell, "mse", "every", seed=1)
    p2, X2, Z2, s2, _ = point(cell, "mse", "every", seed=2)
    k._workspaces.clear()
    L1, g1 = k.loss_and_grads(p1, X1, Z1, lengths=lengths, **s1)
    kept = {n: v.copy() for n, v in g1.items()}
    Y1, cache1 = k.forward(p1, X1, **s1)
    H1 = cache1["H"].copy()
    L2, g2 = k.loss_and_grads(p2, X2, Z2, **s2)  # same sizes: the buffers of the first call, now without padding
    for n in kept:
        np.testing.assert_array_equal(g1[n], kept[n])
    np.testing.assert_array_equal(cache1["H"], H1)
    buffers = [b for ws in k._workspaces.values() for b in ws.values() if isinstance(b, np.ndarray)]
    assert buffers, "loss_and_grads kept no buffers: this test would test nothing"
    results = list(g1.values()) + list(g2.values())
    for i, g in enumerate(results):
        assert not any(np.shares_memory(g, b) for b in buffers)
        assert not any(np.shares_memory(g, h) for h in results[i + 1:])
    k._workspaces.clear()
    L2_fresh, g2_fresh = k.loss_and_grads(p2, X2, Z2, **s2)
    L1_fresh, g1_fresh = k.loss_and_grads(p1, X1, Z1, lengths=lengths, **s1)
    assert (L1, L2) == (L1_fresh, L2_fresh)
    for n in g2:
        np.testing.assert_array_equal(g2[n], g2_fresh[n])
        np.testing.assert_array_equal(g1[n], g1_fresh[n])
    size, k.WORKSPACES = k.WORKSPACES, 0   # keep none: every call allocates afresh, same results
    try:
        L0, g0 = k.loss_and_grads(p1, X1, Z1, lengths=lengths, **s1)
        assert not k._workspaces and L0 == L1
        for n in g0:
            np.testing.assert_array_equal(g0[n], g1[n])
    finally:
        k.WORKSPACES = size
