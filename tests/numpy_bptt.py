"""An independent, hand-written NumPy BPTT for the scalar Elman RNN: the tests' third oracle.

Written from the equations alone (INTERFACE section 1), sharing no code with symrnn.
"""
import numpy as np

ACT = {
    "tanh": (np.tanh, lambda a, h: 1 - h * h),
    "sigmoid": (lambda a: 1 / (1 + np.exp(-a)), lambda a, h: h * (1 - h)),
    "relu": (lambda a: np.maximum(a, 0), lambda a, h: (a > 0).astype(float)),
    "identity": (lambda a: a, lambda a, h: np.ones_like(a)),
}


def loss_and_dY(loss, Y, z):
    if loss == "mse":
        return 0.5 * (Y - z) ** 2, Y - z
    # ce with one logit is the two-class softmax over (0, Y); bce is the sigmoid form; both softplus(Y) − zY.
    p = 1 / (1 + np.exp(-Y))
    return np.logaddexp(0, Y) - z * Y, p - z


def forward_backward(p, x, z, activation="tanh", loss="mse", output="every"):
    """Loss and gradients {W,U,b,V,c,h0} for scalar parameters p, inputs x (T,), targets z (T,)."""
    f, df = ACT[activation]
    T = len(x)
    h = np.zeros(T + 1)
    a = np.zeros(T + 1)
    h[0] = p["h0"]
    for t in range(1, T + 1):
        a[t] = p["W"] * h[t - 1] + p["U"] * x[t - 1] + p["b"]
        h[t] = f(a[t])
    Y = p["V"] * h + p["c"]
    steps = range(1, T + 1) if output == "every" else [T]
    L = 0.0
    dY = np.zeros(T + 1)
    for t in steps:
        lt, dY[t] = loss_and_dY(loss, Y[t], z[t - 1])
        L += lt
    g = dict.fromkeys(["W", "U", "b", "V", "c", "h0"], 0.0)
    dh_next = 0.0
    for t in range(T, 0, -1):
        g["V"] += dY[t] * h[t]
        g["c"] += dY[t]
        dh = dY[t] * p["V"] + dh_next
        da = dh * df(a[t], h[t])
        g["W"] += da * h[t - 1]
        g["U"] += da * x[t - 1]
        g["b"] += da
        dh_next = da * p["W"]
    g["h0"] = dh_next
    return L, g
