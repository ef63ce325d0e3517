"""An independent, hand-written NumPy forward pass and BPTT for Elman, GRU and LSTM: the oracle for every cell.

Written from the equations alone (INTERFACE §1 and §3, PyTorch's documented GRU and LSTM with both
biases), sharing no code with symrnn. σ is the logistic function, φ the `activation`:

    elman  a_t = W h_{t-1} + U x_t + b,  h_t = φ(a_t)
    gru    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
           u_t = σ(W_iu x_t + b_iu + W_hu h_{t-1} + b_hu)         (PyTorch's z; z_t is the target here)
           n_t = φ(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
           h_t = (1 - u_t) ⊙ n_t + u_t ⊙ h_{t-1}
    lstm   i_t, f_t, o_t = σ(W_i* x_t + b_i* + W_h* h_{t-1} + b_h*)   (* = i, f, o)
           g_t = φ(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
           c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t,  h_t = o_t ⊙ φ(c_t)
    head   Y_t = V h_t + c,  L = Σ_t Σ_batch L_t  (mse, ce or bce; at every step or only the last)

PyTorch's cells have φ = tanh. Another `activation` replaces the GRU's one tanh and both of the LSTM's
(Keras' convention); PyTorch can check only tanh.

Two writings of the same math, which the tests hold against each other: `loss_and_grads` (a batch,
time-major, one row per sequence, padding handled by carrying the state) and
`column_forward_backward` (one sequence, column vectors, the equations above as written).
"""
import numpy as np

PARAMS = {
    "elman": ("W", "U", "b", "V", "c"),
    "gru": ("W_ir", "W_hr", "b_ir", "b_hr", "W_iu", "W_hu", "b_iu", "b_hu",
            "W_in", "W_hn", "b_in", "b_hn", "V", "c"),
    "lstm": ("W_ii", "W_hi", "b_ii", "b_hi", "W_if", "W_hf", "b_if", "b_hf",
             "W_ig", "W_hg", "b_ig", "b_hg", "W_io", "W_ho", "b_io", "b_ho", "V", "c"),
}
GATES = {"gru": ("r", "u", "n"), "lstm": ("i", "f", "g", "o")}  # PyTorch's row-block order


def sigmoid(a):
    """σ(a) = 1/(1 + e^{-a}), written so that no e^{-a} overflows: σ(a) = exp(-softplus(-a))."""
    return np.exp(-np.logaddexp(0.0, -a))


# name -> (φ, φ'(a, y) given a and y = φ(a)); relu'(0) = 0 as PyTorch has it.
ACT = {
    "tanh": (np.tanh, lambda a, y: 1 - y * y),
    "sigmoid": (sigmoid, lambda a, y: y * (1 - y)),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a, y: (a > 0).astype(float)),
    "identity": (lambda a: a, lambda a, y: np.ones_like(a)),
}


def step_losses(loss, Y, z):
    """Per-row loss (B,) and ∂L/∂Y (B, o) for logits Y (B, o); z is (B, o), or int class indices (B,) for ce.

    mse: ½‖Y − z‖², gradient Y − z.  bce: Σ_j softplus(Y_j) − z_j Y_j, gradient σ(Y) − z.
    ce: −log softmax(Y)[z] = logsumexp(Y) − Y_z, gradient softmax(Y) − onehot(z).
    """
    if loss == "mse":
        return 0.5 * np.sum((Y - z) ** 2, axis=1), Y - z
    if loss == "bce":
        return np.sum(np.logaddexp(0.0, Y) - z * Y, axis=1), sigmoid(Y) - z
    if loss == "ce":
        shifted = Y - Y.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        rows = np.arange(len(Y))
        onehot = np.zeros_like(Y)
        onehot[rows, z] = 1.0
        return -logp[rows, z], np.exp(logp) - onehot
    raise ValueError(f"loss must be mse, ce or bce, not {loss!r}")


def init(cell, n_in, n_hidden, n_out, seed=0):
    """Random parameters, every entry uniform in ±1/√k (PyTorch's default for its RNNs and for Linear(k, o))."""
    k, m, o = n_hidden, n_in, n_out
    rng = np.random.default_rng(seed)
    shapes = {"W": (k, k), "U": (k, m), "b": (k,), "V": (o, k), "c": (o,)}
    for gate in GATES.get(cell, ()):
        shapes.update({f"W_i{gate}": (k, m), f"W_h{gate}": (k, k), f"b_i{gate}": (k,), f"b_h{gate}": (k,)})
    bound = 1 / np.sqrt(k)
    return {name: rng.uniform(-bound, bound, shapes[name]) for name in PARAMS[cell]}


# -- batched: rows are sequences, x (B, m), states (B, k) ----------------------------------------

def _elman_step(p, x, state, phi):
    (h,) = state
    a = x @ p["U"].T + h @ p["W"].T + p["b"]
    h_new = phi[0](a)
    return (h_new,), {"a": a, "h": h_new}


def _elman_back(p, x, state, cache, dstate, phi):
    (h,), (dh_new,) = state, dstate
    da = dh_new * phi[1](cache["a"], cache["h"])
    grads = {"W": da.T @ h, "U": da.T @ x, "b": da.sum(0)}
    return (da @ p["W"],), grads


def _gru_step(p, x, state, phi):
    (h,) = state
    r = sigmoid(x @ p["W_ir"].T + p["b_ir"] + h @ p["W_hr"].T + p["b_hr"])
    u = sigmoid(x @ p["W_iu"].T + p["b_iu"] + h @ p["W_hu"].T + p["b_hu"])
    hn = h @ p["W_hn"].T + p["b_hn"]
    a_n = x @ p["W_in"].T + p["b_in"] + r * hn
    n = phi[0](a_n)
    return ((1 - u) * n + u * h,), {"r": r, "u": u, "hn": hn, "a_n": a_n, "n": n}


def _gru_back(p, x, state, cache, dstate, phi):
    (h,), (dh_new,) = state, dstate
    r, u, hn, n = cache["r"], cache["u"], cache["hn"], cache["n"]
    da_n = dh_new * (1 - u) * phi[1](cache["a_n"], n)
    da_u = dh_new * (h - n) * u * (1 - u)       # ∂h_t/∂u_t = h_{t-1} − n_t
    d_hn = da_n * r                             # W_hn h + b_hn enters through r ⊙ (·)
    da_r = da_n * hn * r * (1 - r)
    grads = {}
    # the input side of n sees the pre-activation's gradient, the recurrent side sees it times r
    for gate, d_in, d_rec in (("r", da_r, da_r), ("u", da_u, da_u), ("n", da_n, d_hn)):
        grads.update({f"W_i{gate}": d_in.T @ x, f"b_i{gate}": d_in.sum(0),
                      f"W_h{gate}": d_rec.T @ h, f"b_h{gate}": d_rec.sum(0)})
    dh = dh_new * u + da_r @ p["W_hr"] + da_u @ p["W_hu"] + d_hn @ p["W_hn"]
    return (dh,), grads


def _lstm_step(p, x, state, phi):
    h, c = state
    pre = {g: x @ p[f"W_i{g}"].T + p[f"b_i{g}"] + h @ p[f"W_h{g}"].T + p[f"b_h{g}"] for g in GATES["lstm"]}
    i, f, o = sigmoid(pre["i"]), sigmoid(pre["f"]), sigmoid(pre["o"])
    g = phi[0](pre["g"])
    c_new = f * c + i * g
    s = phi[0](c_new)
    return (o * s, c_new), {"i": i, "f": f, "g": g, "o": o, "a_g": pre["g"], "c": c_new, "s": s}


def _lstm_back(p, x, state, cache, dstate, phi):
    (h, c), (dh_new, dc_new) = state, dstate
    i, f, g, o, s = cache["i"], cache["f"], cache["g"], cache["o"], cache["s"]
    dc = dc_new + dh_new * o * phi[1](cache["c"], s)   # c_t reaches L through c_{t+1} and through h_t
    delta = {
        "i": dc * g * i * (1 - i),
        "f": dc * c * f * (1 - f),
        "g": dc * i * phi[1](cache["a_g"], g),
        "o": dh_new * s * o * (1 - o),
    }
    grads = {}
    for gate, d in delta.items():
        grads.update({f"W_i{gate}": d.T @ x, f"b_i{gate}": d.sum(0), f"W_h{gate}": d.T @ h, f"b_h{gate}": d.sum(0)})
    dh = sum(delta[gate] @ p[f"W_h{gate}"] for gate in GATES["lstm"])
    return (dh, dc * f), grads


CELLS = {"elman": (_elman_step, _elman_back), "gru": (_gru_step, _gru_back), "lstm": (_lstm_step, _lstm_back)}


def loss_and_grads(cell, params, X, Z, h0=None, c0=None, lengths=None, loss="mse", output="every",
                   activation="tanh"):
    """(L, grads) for a time-major batch, in float64 (INTERFACE §3).

    X (T, B, m); Z (T, B, o) / (B, o) for mse and bce, int (T, B) / (B,) for ce, with output every / last;
    h0, c0 (B, k), zeros when None; lengths (B,), 1 ≤ lengths[i] ≤ T, None for all T.
    Steps t ≥ lengths[i] of sequence i are padding: its state is carried unchanged and they add nothing
    to L or to any gradient; `last` scores step lengths[i] (1-based). grads has every name of
    PARAMS[cell], "h0" and, for lstm, "c0".
    """
    if output not in ("every", "last"):
        raise ValueError(f"output must be every or last, not {output!r}")
    step, back = CELLS[cell]
    phi = ACT[activation]
    p = {name: np.asarray(params[name], dtype=float) for name in PARAMS[cell]}
    X = np.asarray(X, dtype=float)
    T, B, _ = X.shape
    k = p["V"].shape[1]
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    if lengths.shape != (B,) or lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths must be (B,) = ({B},) with values in 1..{T}")
    valid = np.arange(T)[:, None] < lengths                               # (T, B): a real step
    # `last` scores step lengths[i]; the state carried through the padding makes that the state at step T.
    scored = valid if output == "every" else np.broadcast_to(np.arange(T)[:, None] == T - 1, (T, B))
    # Padded entries may hold anything, NaN included, and 0 · NaN = NaN: keep them out of every product.
    X = np.where(valid[..., None], X, 0.0)
    Z = _targets_per_step(Z, scored, loss, output)

    state = (_zeros_or(h0, B, k),) + ((_zeros_or(c0, B, k),) if cell == "lstm" else ())
    states, caches, dY = [state], [], []
    L = 0.0
    for t in range(T):
        new, cache = step(p, X[t], state, phi)
        state = tuple(np.where(valid[t][:, None], n, s) for n, s in zip(new, state))
        states.append(state)
        caches.append(cache)
        rows_L, rows_dY = step_losses(loss, state[0] @ p["V"].T + p["c"], Z[t])
        L += float(np.sum(rows_L[scored[t]]))
        dY.append(np.where(scored[t][:, None], rows_dY, 0.0))

    grads = {name: np.zeros_like(v) for name, v in p.items()}
    dstate = tuple(np.zeros((B, k)) for _ in state)
    for t in range(T - 1, -1, -1):
        grads["V"] += dY[t].T @ states[t + 1][0]
        grads["c"] += dY[t].sum(0)
        dstate = (dstate[0] + dY[t] @ p["V"],) + dstate[1:]
        # A padded row feeds nothing to the parameters (zero delta) and hands its gradient on unchanged.
        d_real = tuple(np.where(valid[t][:, None], d, 0.0) for d in dstate)
        d_prev, step_grads = back(p, X[t], states[t], caches[t], d_real, phi)
        for name, g in step_grads.items():
            grads[name] += g
        dstate = tuple(np.where(valid[t][:, None], dp, d) for dp, d in zip(d_prev, dstate))
    grads["h0"] = dstate[0]
    if cell == "lstm":
        grads["c0"] = dstate[1]
    return L, grads


def _zeros_or(state, B, k):
    return np.zeros((B, k)) if state is None else np.asarray(state, dtype=float)


def _targets_per_step(Z, scored, loss, output):
    """Targets (T, B, o) (int (T, B) for ce) with harmless zeros wherever a step has no loss."""
    Z = np.asarray(Z) if loss == "ce" else np.asarray(Z, dtype=float)
    if output == "last":  # one target per sequence, for the one step that `scored` marks
        Z = np.broadcast_to(Z, scored.shape[:1] + Z.shape)
    mask = scored if loss == "ce" else scored[..., None]
    return np.where(mask, Z, 0)


# -- one sequence, column vectors, t = 1..T: the equations as written --------------------------

def column_forward_backward(cell, p, X, Z, loss="mse", output="every", activation="tanh"):
    """(L, grads) for one sequence: X[t] (m, 1) and Z[t] (o, 1), or an int class for ce, for t = 1..T.

    p holds PARAMS[cell] with every bias a column (k, 1) and c (o, 1), and "h0" (and for lstm "c0")
    (k, 1), zeros when absent; output="last" reads only Z[T]. grads has p's names and shapes plus h0 (c0).
    """
    phi, dphi = ACT[activation]
    T, k = len(X), p["V"].shape[1]
    h = {0: p.get("h0", np.zeros((k, 1)))}
    c = {0: p.get("c0", np.zeros((k, 1)))}
    v = {}  # each step's gates and pre-activations
    for t in range(1, T + 1):
        x, hp = X[t], h[t - 1]
        if cell == "elman":
            v[t] = {"a": p["W"] @ hp + p["U"] @ x + p["b"]}
            h[t] = phi(v[t]["a"])
        elif cell == "gru":
            r = sigmoid(p["W_ir"] @ x + p["b_ir"] + p["W_hr"] @ hp + p["b_hr"])
            u = sigmoid(p["W_iu"] @ x + p["b_iu"] + p["W_hu"] @ hp + p["b_hu"])
            hn = p["W_hn"] @ hp + p["b_hn"]
            a_n = p["W_in"] @ x + p["b_in"] + r * hn
            n = phi(a_n)
            h[t] = (1 - u) * n + u * hp
            v[t] = {"r": r, "u": u, "hn": hn, "a_n": a_n, "n": n}
        else:
            a = {g: p[f"W_i{g}"] @ x + p[f"b_i{g}"] + p[f"W_h{g}"] @ hp + p[f"b_h{g}"] for g in GATES["lstm"]}
            v[t] = {"i": sigmoid(a["i"]), "f": sigmoid(a["f"]), "g": phi(a["g"]), "o": sigmoid(a["o"]), "a_g": a["g"]}
            c[t] = v[t]["f"] * c[t - 1] + v[t]["i"] * v[t]["g"]
            h[t] = v[t]["o"] * phi(c[t])

    dY, L = {}, 0.0
    for t in range(1, T + 1) if output == "every" else [T]:
        target = np.array([Z[t]]) if loss == "ce" else Z[t].T
        lt, d = step_losses(loss, (p["V"] @ h[t] + p["c"]).T, target)
        L += float(lt[0])
        dY[t] = d.T

    g = {name: np.zeros_like(value) for name, value in p.items()}
    dh_next, dc_next = np.zeros((k, 1)), np.zeros((k, 1))
    for t in range(T, 0, -1):
        x, hp, dh = X[t], h[t - 1], dh_next
        if t in dY:
            g["V"] += dY[t] @ h[t].T
            g["c"] += dY[t]
            dh = dh + p["V"].T @ dY[t]
        if cell == "elman":
            da = dh * dphi(v[t]["a"], h[t])
            g["W"] += da @ hp.T
            g["U"] += da @ x.T
            g["b"] += da
            dh_next = p["W"].T @ da
        elif cell == "gru":
            r, u, hn, n = v[t]["r"], v[t]["u"], v[t]["hn"], v[t]["n"]
            delta_in = {"n": dh * (1 - u) * dphi(v[t]["a_n"], n), "u": dh * (hp - n) * u * (1 - u)}
            delta_in["r"] = delta_in["n"] * hn * r * (1 - r)
            delta_rec = {**delta_in, "n": delta_in["n"] * r}
            _add_gate_grads(g, delta_in, delta_rec, x, hp)
            dh_next = u * dh + sum(p[f"W_h{gate}"].T @ delta_rec[gate] for gate in GATES["gru"])
        else:
            i, f, gg, o = v[t]["i"], v[t]["f"], v[t]["g"], v[t]["o"]
            s = phi(c[t])
            dc = dc_next + dh * o * dphi(c[t], s)
            delta = {"i": dc * gg * i * (1 - i), "f": dc * c[t - 1] * f * (1 - f),
                     "g": dc * i * dphi(v[t]["a_g"], gg), "o": dh * s * o * (1 - o)}
            _add_gate_grads(g, delta, delta, x, hp)
            dh_next = sum(p[f"W_h{gate}"].T @ delta[gate] for gate in GATES["lstm"])
            dc_next = f * dc
    g["h0"] = dh_next
    if cell == "lstm":
        g["c0"] = dc_next
    return L, g


def _add_gate_grads(g, delta_in, delta_rec, x, h):
    """Accumulate W_i*, b_i* from the input side's deltas and W_h*, b_h* from the recurrent side's (columns)."""
    for gate in delta_in:
        g[f"W_i{gate}"] += delta_in[gate] @ x.T
        g[f"b_i{gate}"] += delta_in[gate]
        g[f"W_h{gate}"] += delta_rec[gate] @ h.T
        g[f"b_h{gate}"] += delta_rec[gate]


# -- PyTorch's state_dict keys ------------------------------------------------------------------

def to_torch_state(cell, params):
    """(rnn_state, head_state): arrays under the keys of torch.nn.RNN/GRU/LSTM (one layer) and of nn.Linear(k, o).

    The gated cells stack their gates' rows in PyTorch's order (GATES); elman's b becomes bias_ih_l0 and
    bias_hh_l0 is zero.
    """
    p = {name: _array(params[name]) for name in PARAMS[cell]}
    head = {"weight": p["V"], "bias": p["c"]}
    if cell == "elman":
        return {"weight_ih_l0": p["U"], "weight_hh_l0": p["W"], "bias_ih_l0": p["b"],
                "bias_hh_l0": np.zeros_like(p["b"])}, head
    rnn = {f"{kind}_{side}h_l0": np.concatenate([p[f"{letter}_{side}{g}"] for g in GATES[cell]])
           for kind, letter in (("weight", "W"), ("bias", "b")) for side in "ih"}
    return rnn, head


def from_torch_state(cell, rnn_state, head_state):
    """Our parameters from the state_dict()s (tensors or arrays) of the torch RNN and its Linear head.

    For elman b = bias_ih_l0 + bias_hh_l0, right for parameters; a gradient of either torch bias is grads["b"] itself.
    """
    s = {key: _array(value) for key, value in rnn_state.items()}
    p = {"V": _array(head_state["weight"]), "c": _array(head_state["bias"])}
    if cell == "elman":
        p.update(W=s["weight_hh_l0"], U=s["weight_ih_l0"], b=s["bias_ih_l0"] + s["bias_hh_l0"])
    else:
        n = len(GATES[cell])
        for kind, letter in (("weight", "W"), ("bias", "b")):
            for side in "ih":
                for gate, block in zip(GATES[cell], np.split(s[f"{kind}_{side}h_l0"], n)):
                    p[f"{letter}_{side}{gate}"] = block
    return {name: p[name] for name in PARAMS[cell]}


def _array(value):
    """A float64 copy of an array or a (possibly grad-requiring) torch tensor."""
    return np.array(value.detach().numpy() if hasattr(value, "detach") else value, dtype=float)
