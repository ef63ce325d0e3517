"""An independent, hand-written NumPy BPTT for the vector Elman RNN: the matrix tests' third oracle.

Written from the equations alone (INTERFACE section 1, column vectors, loss summed), sharing no
code with symrnn: a_t = W h_{t-1} + U x_t + b, h_t = f(a_t), Y_t = V h_t + c.
"""
import numpy as np

ACT = {
    "tanh": (np.tanh, lambda a, h: 1 - h * h),
    "sigmoid": (lambda a: 1 / (1 + np.exp(-a)), lambda a, h: h * (1 - h)),
    "relu": (lambda a: np.maximum(a, 0), lambda a, h: (a > 0).astype(float)),
    "identity": (lambda a: a, lambda a, h: np.ones_like(a)),
}


def loss_and_dY(loss, Y, z):
    """L_t and ∂L_t/∂Y_t for one step; z is a vector (mse, bce) or a class index (ce)."""
    if loss == "mse":
        return 0.5 * float(np.sum((Y - z) ** 2)), Y - z
    if loss == "bce":
        return float(np.sum(np.logaddexp(0, Y) - z * Y)), 1 / (1 + np.exp(-Y)) - z
    e = np.exp(Y - Y.max())
    p = e / e.sum()
    onehot = np.zeros_like(Y)
    onehot[z, 0] = 1
    return float(-np.log(p[z, 0])), p - onehot


def forward_backward(p, X, Z, activation="tanh", loss="mse", output="every"):
    """Loss and gradients {W,U,b,V,c,h0}; X[t], Z[t] for t = 1..T (dicts), column vectors (n, 1)."""
    f, df = ACT[activation]
    T = len(X)
    h, a = {0: p["h0"]}, {}
    for t in range(1, T + 1):
        a[t] = p["W"] @ h[t - 1] + p["U"] @ X[t] + p["b"]
        h[t] = f(a[t])
    steps = range(1, T + 1) if output == "every" else [T]
    L, dY = 0.0, {}
    for t in steps:
        lt, dY[t] = loss_and_dY(loss, p["V"] @ h[t] + p["c"], Z[t])
        L += lt
    g = {name: np.zeros_like(v) for name, v in p.items()}
    dh_next = np.zeros_like(p["h0"])
    for t in range(T, 0, -1):
        dh = dh_next.copy()
        if t in dY:
            g["V"] += dY[t] @ h[t].T
            g["c"] += dY[t]
            dh += p["V"].T @ dY[t]
        da = dh * df(a[t], h[t])
        g["W"] += da @ h[t - 1].T
        g["U"] += da @ X[t].T
        g["b"] += da
        dh_next = p["W"].T @ da
    g["h0"] = dh_next
    return L, g
