"""An independent oracle for the verify corpus: a plain float forward pass of the scalar Elman RNN and
central differences of its loss, written here without symrnn (so the corpus cannot inherit its bugs).

    a_t = W h_{t-1} + U x_t + b,  h_t = act(a_t),  Y_t = V h_t + c
    mse: L_t = ½(Y_t − z_t)²;  ce/bce (scalar): L_t = log(1 + e^{Y_t}) − z_t Y_t;  L = Σ over the loss steps
"""
from __future__ import annotations

import math
import random
from types import SimpleNamespace

PARAMS = ("W", "U", "b", "V", "c", "h0")


def sig(x):
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def relu(x):
    return max(0.0, x)


def H(x):
    """relu'(x), H(0) = 0."""
    return 1.0 if x > 0 else 0.0


def sech(x):
    return 1 / math.cosh(x)


ACT = {"tanh": math.tanh, "sigmoid": sig, "relu": relu, "identity": lambda a: a}


def loss_of(kind: str, Y: float, z: float) -> float:
    if kind == "mse":
        return 0.5 * (Y - z) ** 2
    return math.log1p(math.exp(Y)) - z * Y if Y < 30 else Y - z * Y


def forward(act: str, loss: str, output: str, T: int, p: dict) -> tuple[float, SimpleNamespace]:
    """(L, every quantity by the lecture's name: W … c, h0, x1…, a1…, h1…, Y1…, z1…)."""
    q = dict(p)
    h = p["h0"]
    total = 0.0
    for t in range(1, T + 1):
        a = p["W"] * h + p["U"] * p[f"x{t}"] + p["b"]
        h = ACT[act](a)
        Y = p["V"] * h + p["c"]
        q[f"a{t}"], q[f"h{t}"], q[f"Y{t}"] = a, h, Y
        if output == "every" or t == T:
            total += loss_of(loss, Y, p[f"z{t}"])
    return total, SimpleNamespace(**q)


def gradient(act: str, loss: str, output: str, T: int, p: dict, param: str, eps: float = 1e-6) -> float:
    """∂L/∂param by central differences."""
    up, down = dict(p), dict(p)
    up[param] += eps
    down[param] -= eps
    return (forward(act, loss, output, T, up)[0] - forward(act, loss, output, T, down)[0]) / (2 * eps)


def sample(rng: random.Random, loss: str, T: int) -> dict:
    """A random point: parameters and h0 in [−1.2, 1.2], x_t in [−2, 2] (so every relu sign pattern occurs)."""
    p = {k: rng.uniform(-1.2, 1.2) for k in PARAMS}
    for t in range(1, T + 1):
        p[f"x{t}"] = rng.uniform(-2, 2)
        p[f"z{t}"] = float(rng.randint(0, 1)) if loss in ("ce", "bce") else rng.uniform(-1.2, 1.2)
    return p
