"""The batched oracle for generated kernels: the hand-written column-vector BPTT, one sequence at a time.

Each example i is cut to its first lengths[i] steps and run through `numpy_bptt_matrix.forward_backward`
(which shares no code with symrnn); losses and gradients are summed over the batch. Padding is thus
handled by not running it at all, independently of the kernels' masking.
"""
import numpy as np

from numpy_bptt_matrix import forward_backward

NAMES = ("W", "U", "b", "V", "c")


def batched_loss_and_grads(params, X, Z, h0, lengths, activation, loss, output):
    """(L, grads) for time-major X (T, B, m); Z as in INTERFACE §3; h0 (B, k); lengths (B,)."""
    T, B, _ = X.shape
    col = {"W": params["W"], "U": params["U"], "b": params["b"][:, None], "V": params["V"], "c": params["c"][:, None]}
    total, grads = 0.0, {n: np.zeros_like(params[n]) for n in NAMES}
    grads["h0"] = np.zeros_like(h0)
    for i in range(B):
        n = int(lengths[i])
        xs = {t: X[t - 1, i][:, None] for t in range(1, n + 1)}
        if loss == "ce":
            zs = {t: int(Z[t - 1, i]) for t in range(1, n + 1)} if output == "every" else {n: int(Z[i])}
        else:
            zs = {t: Z[t - 1, i][:, None] for t in range(1, n + 1)} if output == "every" else {n: Z[i][:, None]}
        L, g = forward_backward({**col, "h0": h0[i][:, None]}, xs, zs, activation, loss, output)
        total += L
        for name in NAMES:
            grads[name] += g[name].reshape(params[name].shape)
        grads["h0"][i] = g["h0"][:, 0]
    return total, grads
