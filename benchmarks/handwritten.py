"""The fastest hand-written NumPy BPTT we could write for Elman, GRU and LSTM: the baseline for generated kernels.

Same API and conventions as the oracle tests/numpy_gated.py (INTERFACE §3; PyTorch's GRU and LSTM
equations with both biases, update gate u); dtype follows X (float32 or float64). Rows are
sequences: states (B, k), time-major buffers (T, B, ·). What makes it fast, each measured here:

- the input projections of all gates are ONE GEMM over all T·B rows, before the loop;
- per step, one GEMM for all gates' recurrent products: h (B, k) @ W_hᵀ (k, G·k), the gates' weights
  stacked and transposed into a contiguous array (both operands row-major, no transpose flag: the
  layout OpenBLAS runs fastest, measurably so at float32 and at B = 16..64);
- σ(a) = ½ tanh(a/2) + ½ with the inner ½ folded into the sigmoid gates' weights and biases (exact,
  a power of two), so one tanh call serves all gates of a step;
- backward: the factors of each gate delta that do not depend on the incoming gradient are computed
  vectorized, a block of steps at a time (cache-sized), just before the loop needs them; per step
  one broadcast multiply writes all gate deltas into a (T, B, G·k) buffer, then the recurrent GEMM;
  the weight gradients are a few GEMMs over all T·B rows after the loop;
- the large buffers are reused across calls with the same shapes (a small cache), and so are the
  per-step views into them; every per-step operation writes with out= and takes array operands
  (at B·k ≈ 32 a ufunc call costs ~0.3 µs, with a Python scalar operand ~0.9 µs, slicing ~0.2 µs).

Padding (lengths) is cheap because it only ever sits at the end of a sequence: masking the loss
(and zeroing padded inputs so that NaN cannot leak) is all it takes. The state past lengths[i] is
computed but reaches nothing returned, and the gradient arriving there is zero.
"""
from collections import OrderedDict

import numpy as np

PARAMS = {
    "elman": ("W", "U", "b", "V", "c"),
    "gru": ("W_ir", "W_hr", "b_ir", "b_hr", "W_iu", "W_hu", "b_iu", "b_hu",
            "W_in", "W_hn", "b_in", "b_hn", "V", "c"),
    "lstm": ("W_ii", "W_hi", "b_ii", "b_hi", "W_if", "W_hf", "b_if", "b_hf",
             "W_ig", "W_hg", "b_ig", "b_hg", "W_io", "W_ho", "b_io", "b_ho", "V", "c"),
}
ELMAN_ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")
BLOCK_BYTES = 1 << 18   # backward factors per block: the block's few arrays stay in a 1 MiB L2
CACHE_SIZE = 4          # workspaces kept, least recently used dropped first

_workspaces = OrderedDict()


def loss_and_grads(cell, params, X, Z, h0=None, c0=None, lengths=None, loss="mse", output="every",
                   activation="tanh"):
    """(L, grads) exactly as tests/numpy_gated.loss_and_grads, in X's dtype (float32 or float64).

    gru and lstm take activation="tanh" only (PyTorch's cells); elman any of ELMAN_ACTIVATIONS.
    """
    if cell not in PARAMS:
        raise ValueError(f"cell must be elman, gru or lstm, not {cell!r}")
    if activation != "tanh" and (cell != "elman" or activation not in ELMAN_ACTIVATIONS):
        raise ValueError(f"{cell}: activation {activation!r} is not supported here")
    if output not in ("every", "last") or loss not in ("mse", "ce", "bce"):
        raise ValueError(f"loss/output must be mse|ce|bce and every|last, not {loss!r}/{output!r}")
    X = np.asarray(X)
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    X = X.astype(dtype, copy=False)
    T, B, m = X.shape
    p = {name: np.asarray(params[name], dtype) for name in PARAMS[cell]}
    o, k = p["V"].shape
    h0 = np.zeros((B, k), dtype) if h0 is None else np.asarray(h0, dtype)
    c0 = np.zeros((B, k), dtype) if c0 is None else np.asarray(c0, dtype)
    valid = None
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (B,) or lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths must be (B,) = ({B},) with values in 1..{T}")
        valid = np.arange(T)[:, None] < lengths
        X = np.where(valid[..., None], X, 0)

    make, forward, backward = CELLS[cell]
    key = (cell, T, B, m, k, o, dtype.str, output)
    ws = _workspaces.pop(key, None) or _new_workspace(make, T, B, k, o, dtype, output)
    _workspaces[key] = ws
    X2 = X.reshape(T * B, m)
    forward(p, X2, h0, c0, ws, activation)
    L, grads = _head(p, Z, lengths, valid, loss, output, ws)
    grads.update(backward(p, X2, ws, activation))
    return L, grads


def _new_workspace(make, T, B, k, o, dtype, output):
    """A cell's buffers and per-step views for one problem size, plus those every cell shares."""
    while len(_workspaces) >= CACHE_SIZE:
        _workspaces.popitem(last=False)
    ws = {"H": np.empty((T + 1, B, k), dtype), "dH": np.empty((T, B, k), dtype),
          "Y": np.empty((T * B if output == "every" else B, o), dtype), "ones": np.ones(T * B, dtype),
          "dh": np.empty((B, k), dtype), "rec": np.empty((B, k), dtype), "tmp": np.empty((B, k), dtype)}
    make(ws, T, B, k, dtype)
    return ws


def _blocks(T, row_bytes):
    """Slices of steps, last first, each about BLOCK_BYTES of one factor array."""
    n = max(1, BLOCK_BYTES // row_bytes)
    return [slice(max(0, t1 - n), t1) for t1 in range(T, 0, -n)]


# -- output head and loss: vectorized over all scored rows ----------------------------------------

def _head(p, Z, lengths, valid, loss, output, ws):
    """L and the head's gradients; leaves ∂L/∂h_t from the loss in ws["dH"] (T, B, k)."""
    H, dH, Y = ws["H"], ws["dH"], ws["Y"]
    T, B, k = dH.shape
    V = p["V"]
    if output == "every":
        Hs = H[1:].reshape(T * B, k)
        rows = None if valid is None else valid.reshape(T * B)
        Z = np.asarray(Z).reshape(T * B, *np.shape(Z)[2:])
    else:  # the one scored step of each sequence
        last = np.full(B, T - 1) if lengths is None else lengths - 1
        Hs = H[last + 1, np.arange(B)]
        rows = None
    np.matmul(Hs, V.T, out=Y)
    Y += p["c"]
    L = _loss_into(loss, Y, Z, rows)   # Y now holds ∂L/∂Y
    grads = {"V": Y.T @ Hs, "c": ws["ones"][:len(Y)] @ Y}
    if output == "every":
        np.matmul(Y, V, out=dH.reshape(T * B, k))
    else:
        dH.fill(0)
        dH[last, np.arange(B)] = Y @ V
    return L, grads


def _loss_into(loss, Y, Z, rows):
    """Σ of the loss over the rows (all, or where `rows` is True); Y is overwritten by ∂L/∂Y (zero elsewhere)."""
    if loss == "ce":   # logsumexp(Y) − Y_z, gradient softmax(Y) − onehot(z)
        z = np.asarray(Z, dtype=np.intp) if rows is None else np.where(rows, Z, 0)
        picked = np.arange(len(Y)), z
        Y -= Y.max(axis=1, keepdims=True)
        per_row = -Y[picked]
        np.exp(Y, out=Y)
        total = Y.sum(axis=1, keepdims=True)
        per_row += np.log(total[:, 0])
        Y /= total
        Y[picked] -= 1
    else:
        Z = np.asarray(Z, Y.dtype)
        if loss == "mse":
            np.subtract(Y, Z, out=Y)
            per_row = 0.5 * np.einsum("ij,ij->i", Y, Y)
        else:   # bce: softplus(Y) − zY, gradient σ(Y) − z
            per_row = np.sum(np.logaddexp(0, Y) - Z * Y, axis=1)
            np.multiply(Y, 0.5, out=Y)
            np.tanh(Y, out=Y)
            Y *= 0.5
            Y += 0.5
            Y -= Z
    if rows is not None:
        Y[~rows] = 0
        per_row = per_row[rows]
    return float(per_row.sum())


def _weight_grads(ws, X2, D_in, D_rec):
    """Xᵀ D_in and H_prevᵀ D_rec: the input and recurrent weights' gradients, transposed, as two GEMMs over
    all T·B rows (OpenBLAS runs Xᵀ D ~15% faster than Dᵀ X here, the deltas being the wide operand)."""
    T1, B, k = ws["H"].shape
    return X2.T @ D_in, ws["H"][:-1].reshape((T1 - 1) * B, k).T @ D_rec


def _stacked(p, gates, half):
    """W_iᵀ (m, G·k) and W_hᵀ (k, G·k), contiguous, each gate's columns scaled by its entry of `half`."""
    WiT = np.concatenate([p[f"W_i{g}"].T * s for g, s in zip(gates, half)], axis=1)
    WhT = np.concatenate([p[f"W_h{g}"].T * s for g, s in zip(gates, half)], axis=1)
    return WiT, WhT


# -- Elman: a_t = W h + U x + b, h = φ(a) ---------------------------------------------------------

def _elman_workspace(ws, T, B, k, dtype):
    H = ws["H"]
    ws["P"], ws["D"], ws["half"] = np.empty((T, B, k), dtype), np.empty((T, B, k), dtype), np.full((B, k), 0.5, dtype)
    ws["fwd"] = list(zip(H[:-1], H[1:], ws["P"]))
    ws["bwd"] = [(s, list(zip(ws["dH"][s], ws["D"][s]))[::-1]) for s in _blocks(T, B * k * H.itemsize)]


def _elman_forward(p, X2, h0, c0, ws, activation):
    scale = 0.5 if activation == "sigmoid" else 1.0   # σ(a) = ½ tanh(a/2) + ½
    WT = p["W"].T * scale
    np.matmul(X2, p["U"].T * scale, out=ws["P"].reshape(len(X2), -1))
    ws["P"] += p["b"] * scale
    ws["H"][0] = h0
    half = ws["half"]
    for h, h_next, pre in ws["fwd"]:
        np.matmul(h, WT, h_next)
        np.add(h_next, pre, h_next)
        if activation == "tanh":
            np.tanh(h_next, h_next)
        elif activation == "sigmoid":
            np.tanh(h_next, h_next)
            np.multiply(h_next, half, h_next)
            np.add(h_next, half, h_next)
        elif activation == "relu":
            np.maximum(h_next, 0, out=h_next)


def _elman_backward(p, X2, ws, activation):
    H, D = ws["H"], ws["D"]
    T, B, k = D.shape
    dh, rec = ws["dh"], ws["rec"]
    rec.fill(0)
    W = p["W"]
    for block, steps in ws["bwd"]:
        h, F = H[1:][block], D[block]          # F = φ'(a_t) in terms of h_t; the delta overwrites it
        if activation == "tanh":
            np.multiply(h, h, out=F)
            np.subtract(1, F, out=F)
        elif activation == "sigmoid":
            np.subtract(1, h, out=F)
            F *= h
        elif activation == "relu":
            np.greater(h, 0, out=F)
        else:
            F.fill(1)
        for dH_t, d in steps:
            np.add(dH_t, rec, dh)
            np.multiply(dh, d, d)
            np.matmul(d, W, rec)
    D2 = D.reshape(T * B, k)
    dUT, dWT = _weight_grads(ws, X2, D2, D2)
    return {"W": dWT.T.copy(), "U": dUT.T.copy(), "b": ws["ones"] @ D2, "h0": rec.copy()}


# -- GRU: gates in the columns [r | u | n] forward; deltas [n (input side) | r | u | n (recurrent side)] --

def _gru_workspace(ws, T, B, k, dtype):
    H, k2 = ws["H"], 2 * k
    P, Gh, R = (np.empty((T, B, 3 * k), dtype) for _ in range(3))
    D = np.empty((T, B, 4, k), dtype)
    ws.update(P=P, Gh=Gh, R=R, D=D, half=np.full((B, k2), 0.5, dtype))
    ws["fwd"] = list(zip(H[:-1], H[1:], P[..., :k2], P[..., k2:], Gh, Gh[..., :k2], Gh[..., k2:],
                         R[..., :k2], R[..., :k], R[..., k:k2], R[..., k2:]))
    rec_side = D.reshape(T, B, 4 * k)[..., k:]
    ws["bwd"] = [(s, list(zip(ws["dH"][s], D[s], rec_side[s], R[s, :, k:k2]))[::-1])
                 for s in _blocks(T, B * k * H.itemsize)]


def _gru_forward(p, X2, h0, c0, ws, activation):
    WiT, WhT = _stacked(p, "run", (0.5, 0.5, 1.0))   # σ gates r, u carry the ½ of ½ tanh(a/2) + ½
    b_hn = p["b_hn"]   # stays inside r ⊙ (W_hn h + b_hn); the other recurrent biases join the input side's
    bias = np.concatenate([(p["b_ir"] + p["b_hr"]) * 0.5, (p["b_iu"] + p["b_hu"]) * 0.5, p["b_in"]])
    np.matmul(X2, WiT, out=ws["P"].reshape(len(X2), -1))
    ws["P"] += bias
    ws["H"][0] = h0
    half, tmp = ws["half"], ws["tmp"]
    for h, h_next, p_ru, p_n, gh, gh_ru, hn, ru, r, u, n in ws["fwd"]:
        np.matmul(h, WhT, gh)
        np.add(p_ru, gh_ru, ru)
        np.tanh(ru, ru)
        np.multiply(ru, half, ru)
        np.add(ru, half, ru)
        np.add(hn, b_hn, hn)
        np.multiply(r, hn, n)
        np.add(n, p_n, n)
        np.tanh(n, n)
        np.subtract(h, n, tmp)       # h_t = n + u ⊙ (h_{t-1} − n)
        np.multiply(tmp, u, tmp)
        np.add(n, tmp, h_next)


def _gru_backward(p, X2, ws, activation):
    """Per step [∂a_n | ∂a_r | ∂a_u | ∂hn] = dh ⊙ [A | A·hn·r(1−r) | (h−n)·u(1−u) | A·r], A = (1 − u)(1 − n²),
    hn = W_hn h + b_hn;  ∂h_{t-1} = dh ⊙ u + [∂a_r | ∂a_u | ∂hn] @ [W_hr; W_hu; W_hn]."""
    H, R, Gh, D = ws["H"], ws["R"], ws["Gh"], ws["D"]
    T, B, _, k = D.shape
    dh, rec, carry = ws["dh"], ws["rec"], ws["tmp"]
    dh3 = dh[:, None, :]
    rec.fill(0)
    Wh = np.concatenate([p["W_hr"], p["W_hu"], p["W_hn"]])
    for block, steps in ws["bwd"]:
        r, u, n, hn, hp = R[block, :, :k], R[block, :, k:2 * k], R[block, :, 2 * k:], Gh[block, :, 2 * k:], H[block]
        A, Cr, Cu, Cn = D[block, :, 0], D[block, :, 1], D[block, :, 2], D[block, :, 3]
        np.multiply(n, n, out=A)
        np.subtract(1, A, out=A)
        np.subtract(1, u, out=Cu)
        A *= Cu                                  # (1 − u)(1 − n²)
        np.subtract(hp, n, out=Cn)
        Cu *= Cn
        Cu *= u                                  # (h − n) u (1 − u)
        np.multiply(A, r, out=Cn)                # A r
        np.subtract(1, r, out=Cr)
        Cr *= hn
        Cr *= Cn                                 # A hn r (1 − r)
        for dH_t, d, d_rec, u_t in steps:
            np.add(dH_t, rec, dh)
            np.multiply(dh3, d, d)
            np.multiply(dh, u_t, carry)
            np.matmul(d_rec, Wh, rec)
            np.add(rec, carry, rec)
    D2 = D.reshape(T * B, 4 * k)
    dWiT, dWhT = _weight_grads(ws, X2, D2[:, :3 * k], D2[:, k:])
    sums = ws["ones"] @ D2
    grads = {"h0": rec.copy()}
    for j, g in enumerate("run"):   # input-side columns are [n | r | u], recurrent-side columns [r | u | n]
        i = (j + 1) % 3
        grads.update({f"W_i{g}": dWiT[:, i * k:(i + 1) * k].T.copy(), f"b_i{g}": sums[i * k:(i + 1) * k],
                      f"W_h{g}": dWhT[:, j * k:(j + 1) * k].T.copy(), f"b_h{g}": sums[(j + 1) * k:(j + 2) * k].copy()})
    return grads


# -- LSTM: gates in the columns [o | i | f | g], forward and backward -----------------------------

def _lstm_workspace(ws, T, B, k, dtype):
    H, k3 = ws["H"], 3 * k
    P, S = np.empty((T, B, 4 * k), dtype), np.empty((T, B, 4 * k), dtype)
    Cs, TC, Kc, D = np.empty((T + 1, B, k), dtype), np.empty((T, B, k), dtype), np.empty((T, B, k), dtype), \
        np.empty((T, B, 4, k), dtype)
    ws.update(P=P, S=S, Cs=Cs, TC=TC, Kc=Kc, D=D, dc=np.empty((B, k), dtype), half=np.full((B, k3), 0.5, dtype))
    ws["fwd"] = list(zip(H[:-1], H[1:], P, S, S[..., :k3], S[..., :k], S[..., k:2 * k], S[..., 2 * k:k3],
                         S[..., k3:], Cs[:-1], Cs[1:], TC))
    D_flat = D.reshape(T, B, 4 * k)
    ws["bwd"] = [(s, list(zip(ws["dH"][s], Kc[s], D_flat[s], D[s, :, 0], D[s, :, 1:], S[s, :, 2 * k:k3]))[::-1])
                 for s in _blocks(T, B * k * H.itemsize)]


def _lstm_forward(p, X2, h0, c0, ws, activation):
    scale = (0.5, 0.5, 0.5, 1.0)   # σ gates o, i, f carry the ½ of ½ tanh(a/2) + ½
    WiT, WhT = _stacked(p, "oifg", scale)
    bias = np.concatenate([(p[f"b_i{g}"] + p[f"b_h{g}"]) * s for g, s in zip("oifg", scale)])
    np.matmul(X2, WiT, out=ws["P"].reshape(len(X2), -1))
    ws["P"] += bias
    ws["H"][0], ws["Cs"][0] = h0, c0
    half, tmp = ws["half"], ws["tmp"]
    for h, h_next, pre, s, s_sig, o, i, f, g, c, c_next, tc in ws["fwd"]:
        np.matmul(h, WhT, s)
        np.add(s, pre, s)
        np.tanh(s, s)
        np.multiply(s_sig, half, s_sig)
        np.add(s_sig, half, s_sig)
        np.multiply(f, c, c_next)     # c_t = f ⊙ c_{t-1} + i ⊙ g
        np.multiply(i, g, tmp)
        np.add(c_next, tmp, c_next)
        np.tanh(c_next, tc)
        np.multiply(o, tc, h_next)    # h_t = o ⊙ tanh(c_t)


def _lstm_backward(p, X2, ws, activation):
    """Per step ∂a_o = dh ⊙ tanh(c)·o(1−o); dc += dh ⊙ o(1 − tanh²c);
    [∂a_i | ∂a_f | ∂a_g] = dc ⊙ [g·i(1−i) | c_{t-1}·f(1−f) | i(1−g²)]; ∂c_{t-1} = dc ⊙ f."""
    S, Cs, TC, Kc, D = ws["S"], ws["Cs"], ws["TC"], ws["Kc"], ws["D"]
    T, B, _, k = D.shape
    dh, rec, dc, tmp = ws["dh"], ws["rec"], ws["dc"], ws["tmp"]
    dc3 = dc[:, None, :]
    rec.fill(0)
    dc.fill(0)
    Wh = np.concatenate([p["W_ho"], p["W_hi"], p["W_hf"], p["W_hg"]])
    for block, steps in ws["bwd"]:
        o, i, f, g = (S[block, :, j * k:(j + 1) * k] for j in range(4))
        tc, kc = TC[block], Kc[block]
        Ko, Qi, Qf, Qg = D[block, :, 0], D[block, :, 1], D[block, :, 2], D[block, :, 3]
        np.subtract(1, o, out=Ko)
        Ko *= o
        Ko *= tc
        np.multiply(tc, tc, out=kc)
        np.subtract(1, kc, out=kc)
        kc *= o
        np.subtract(1, i, out=Qi)
        Qi *= i
        Qi *= g
        np.subtract(1, f, out=Qf)
        Qf *= f
        Qf *= Cs[block]
        np.multiply(g, g, out=Qg)
        np.subtract(1, Qg, out=Qg)
        Qg *= i
        for dH_t, kc_t, d, d_o, d_ifg, f_t in steps:
            np.add(dH_t, rec, dh)
            np.multiply(dh, kc_t, tmp)
            np.add(dc, tmp, dc)
            np.multiply(dh, d_o, d_o)
            np.multiply(dc3, d_ifg, d_ifg)
            np.matmul(d, Wh, rec)
            np.multiply(dc, f_t, dc)
    D2 = D.reshape(T * B, 4 * k)
    dWiT, dWhT = _weight_grads(ws, X2, D2, D2)
    sums = ws["ones"] @ D2
    grads = {"h0": rec.copy(), "c0": dc.copy()}
    for j, g in enumerate("oifg"):
        cols = slice(j * k, (j + 1) * k)
        grads.update({f"W_i{g}": dWiT[:, cols].T.copy(), f"W_h{g}": dWhT[:, cols].T.copy(),
                      f"b_i{g}": sums[cols], f"b_h{g}": sums[cols].copy()})
    return grads


CELLS = {"elman": (_elman_workspace, _elman_forward, _elman_backward),
         "gru": (_gru_workspace, _gru_forward, _gru_backward),
         "lstm": (_lstm_workspace, _lstm_forward, _lstm_backward)}
