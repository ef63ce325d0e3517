"""A corpus of hand-written answers for symrnn verify, each with the verdict and diagnosis a teacher expects.

Each case: the model (activation/loss/output/T), the parameter, the answer as a student types it
(SymPy syntax or LaTeX), a Python twin of the same math (a function of the forward quantities,
written here without symrnn), the expected verdict, and the expected diagnosis: a trap name
(`symrnn.verification.traps.TRAPS`) or a phrase of the report (or of the refusal, for
`unreadable`). The test checks each verdict against central differences of an independent float
forward pass (verify_oracle), so the corpus itself cannot be wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import tanh
from typing import Callable

from verify_oracle import H, relu, sech, sig


@dataclass(frozen=True)
class Case:
    id: str
    model: str                       # activation/loss/output/T
    param: str
    answer: str
    twin: Callable | None            # the answer's math in Python, of q (forward quantities by name)
    verdict: str                     # correct | wrong | unreadable
    diagnosis: str = ""              # trap name, or a phrase of the report / refusal
    latex: bool = False

    @property
    def options(self) -> dict:
        act, loss, output, steps = self.model.split("/")
        return {"activation": act, "loss": loss, "output": output, "steps": int(steps)}


LECTURE = "tanh/mse/every/2"


# -- the lecture's T = 2 gradients, as twins ---------------------------------------------------

def d1(q):  # tanh'(a_t) in h
    return 1 - q.h1 ** 2


def d2(q):
    return 1 - q.h2 ** 2


def gW(q):
    return (q.Y1 - q.z1) * q.V * d1(q) * q.h0 + (q.Y2 - q.z2) * q.V * d2(q) * q.W * d1(q) * q.h0 + \
        (q.Y2 - q.z2) * q.V * d2(q) * q.h1


def gU(q):
    return (q.Y1 - q.z1) * q.V * d1(q) * q.x1 + (q.Y2 - q.z2) * q.V * d2(q) * q.W * d1(q) * q.x1 + \
        (q.Y2 - q.z2) * q.V * d2(q) * q.x2


def gb(q):
    return (q.Y1 - q.z1) * q.V * d1(q) + (q.Y2 - q.z2) * q.V * d2(q) * q.W * d1(q) + (q.Y2 - q.z2) * q.V * d2(q)


W_SYMPY = "(Y1 - z1)*V*(1 - h1**2)*h0 + (Y2 - z2)*V*(1 - h2**2)*W*(1 - h1**2)*h0 + (Y2 - z2)*V*(1 - h2**2)*h1"

CORRECT = [
    # the lecture, T = 2, in every notation a student uses
    Case("lecture-W-sympy", LECTURE, "W", W_SYMPY, gW, "correct"),
    Case("lecture-W-latex", LECTURE, "W", r"\frac{\partial L}{\partial W} = (Y_1 - z_1) V (1 - h_1^2) h_0 + (Y_2 - z_2) V "
         r"(1 - h_2^2) W (1 - h_1^2) h_0 + (Y_2 - z_2) V (1 - h_2^2) h_1", gW, "correct", latex=True),
    Case("lecture-W-implicit", LECTURE, "W", "(Y1 - z1) V (1 - h1^2) h0 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) h0 + h1)",
         gW, "correct"),
    Case("lecture-W-unicode", LECTURE, "W", "(Y1 − z1) V (1 − h1²) h0 + (Y2 − z2) V (1 − h2²) W (1 − h1²) h0 + "
         "(Y2 − z2) V (1 − h2²) h1", gW, "correct"),
    Case("lecture-W-sech", LECTURE, "W", r"(Y_1 - z_1) V \operatorname{sech}^2(a_1) h_0 + (Y_2 - z_2) V \text{sech}^2(a_2)"
         r" \Big( W \mathrm{sech}(a_1)^{2} h_0 + h_1 \Big)", gW, "correct", latex=True),
    Case("lecture-W-primes", LECTURE, "W", r"(Y_1 - z_1) V \tanh'(a_1) h_0 + (Y_2 - z_2) V \tanh'(a_2) \left[ W "
         r"\tanh^{\prime}(a_1) h_0 + h_1 \right]", gW, "correct", latex=True),
    Case("lecture-W-leibniz-delta", LECTURE, "W", r"\frac{\partial L}{\partial a_1} h_0 + \frac{\partial L}{\partial a_2} h_1",
         gW, "correct", latex=True),
    Case("lecture-W-leibniz-paths", LECTURE, "W", r"\frac{\partial L_1}{\partial h_1} \frac{\partial^+ h_1}{\partial W} + "
         r"\frac{\partial L_2}{\partial h_1} \frac{\partial^+ h_1}{\partial W} + \frac{\partial L_2}{\partial h_2} "
         r"\frac{\partial^+ h_2}{\partial W}", gW, "correct", latex=True),
    Case("lecture-W-leibniz-mixed", LECTURE, "W", r"(Y_1 - z_1) V (1 - h_1^2) h_0 + (Y_2 - z_2) V "
         r"\frac{\partial h_2}{\partial h_1} (1 - h_1^2) h_0 + \frac{dL_2}{dh_2} (1 - h_2^2) h_1", gW, "correct", latex=True),
    Case("lecture-W-tanh-of-a", LECTURE, "W", "(Y1 - z1)*V*(1 - tanh(a1)**2)*h0 + (Y2 - z2)*V*sech(a2)**2*"
         "(W*(1 - h1**2)*h0 + h1)", gW, "correct"),
    Case("lecture-W-cosh", LECTURE, "W", "(Y1 - z1)*V*h0/cosh(a1)**2 + (Y2 - z2)*V/cosh(a2)**2*(W*h0/cosh(a1)**2 + h1)",
         gW, "correct"),
    Case("lecture-W-expanded", LECTURE, "W", "V*h0*(Y1 - z1) - V*h0*h1**2*(Y1 - z1) + V*(Y2 - z2)*(1 - h2**2)*"
         "(W*h0 - W*h0*h1**2 + h1)", gW, "correct"),
    Case("lecture-W-sympy-prime", LECTURE, "W", "(Y1 - z1) V tanh'(a1) h0 + (Y2 - z2) V tanh'(a2) (W tanh'(a1) h0 + h1)",
         gW, "correct"),
    Case("lecture-W-half-times-2", LECTURE, "W", "½·2 (Y1 - z1) V (1 - h1^2) h0 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) h0 "
         "+ h1)", gW, "correct"),
    Case("lecture-U", LECTURE, "U", "(Y1 - z1) V (1 - h1^2) x1 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) x1 + x2)", gU,
         "correct"),
    Case("lecture-b-latex", LECTURE, "b", r"(Y_1 - z_1) V (1 - h_1^2) + (Y_2 - z_2) V (1 - h_2^2) \left(W (1 - h_1^2) + "
         r"1\right)", gb, "correct", latex=True),
    Case("lecture-b-delta-nested", LECTURE, "b", "(1 - h1^2)(V (Y1 - z1) + W (1 - h2^2) V (Y2 - z2)) + "
         "(1 - h2^2) V (Y2 - z2)", gb, "correct"),
    Case("lecture-V-slash-lhs", LECTURE, "V", r"\partial L / \partial V = (Y_1 - z_1) h_1 + (Y_2 - z_2) h_2",
         lambda q: (q.Y1 - q.z1) * q.h1 + (q.Y2 - q.z2) * q.h2, "correct", latex=True),
    Case("lecture-V-nabla", LECTURE, "V", r"\nabla_V L = (Y_1 - z_1) \tanh(a_1) + (Y_2 - z_2) \tanh(a_2)",
         lambda q: (q.Y1 - q.z1) * q.h1 + (q.Y2 - q.z2) * q.h2, "correct", latex=True),
    Case("lecture-c", LECTURE, "c", "dL/dc = Y1 - z1 + Y2 - z2", lambda q: q.Y1 - q.z1 + q.Y2 - q.z2, "correct"),
    Case("lecture-h0", LECTURE, "h0", "(Y1 - z1) V (1 - h1^2) W + (Y2 - z2) V (1 - h2^2) W (1 - h1^2) W",
         lambda q: (q.Y1 - q.z1) * q.V * d1(q) * q.W + (q.Y2 - q.z2) * q.V * d2(q) * q.W * d1(q) * q.W, "correct"),
    # other T
    Case("T1-W", "tanh/mse/every/1", "W", "(Y1 - z1) V (1 - h1^2) h0", lambda q: (q.Y1 - q.z1) * q.V * d1(q) * q.h0,
         "correct"),
    Case("T3-b-delta", "tanh/mse/every/3", "b",
         "(1 - h1^2)(V (Y1 - z1) + W (1 - h2^2)(V (Y2 - z2) + W (1 - h3^2) V (Y3 - z3))) + "
         "(1 - h2^2)(V (Y2 - z2) + W (1 - h3^2) V (Y3 - z3)) + (1 - h3^2) V (Y3 - z3)",
         lambda q: _delta3(q)[0] + _delta3(q)[1] + _delta3(q)[2], "correct"),
    Case("T3-W-leibniz", "tanh/mse/every/3", "W", r"\frac{\partial L}{\partial a_1} h_0 + \frac{\partial L}{\partial a_2} h_1"
         r" + \frac{\partial L}{\partial a_3} h_2", lambda q: sum(d * h for d, h in zip(_delta3(q), (q.h0, q.h1, q.h2))),
         "correct", latex=True),
    Case("T4-V", "tanh/mse/every/4", "V", "(Y1 - z1) h1 + (Y2 - z2) h2 + (Y3 - z3) h3 + (Y4 - z4) h4",
         lambda q: sum((getattr(q, f"Y{t}") - getattr(q, f"z{t}")) * getattr(q, f"h{t}") for t in range(1, 5)), "correct"),
    Case("T4-U-leibniz", "tanh/mse/every/4", "U", r"\frac{\partial L}{\partial a_1} x_1 + \frac{\partial L}{\partial a_2} x_2"
         r" + \frac{\partial L}{\partial a_3} x_3 + \frac{\partial L}{\partial a_4} x_4",
         lambda q: sum(d * getattr(q, f"x{t + 1}") for t, d in enumerate(_delta(q, 4, "tanh"))), "correct", latex=True),
    Case("T4-c", "tanh/mse/every/4", "c", "(Y1 - z1) + (Y2 - z2) + (Y3 - z3) + (Y4 - z4)",
         lambda q: q.Y1 - q.z1 + q.Y2 - q.z2 + q.Y3 - q.z3 + q.Y4 - q.z4, "correct"),
    # many-to-one
    Case("last-T3-W", "tanh/mse/last/3", "W",
         "(Y3 - z3) V (1 - h3^2) (W (1 - h2^2) (W (1 - h1^2) h0 + h1) + h2)",
         lambda q: (q.Y3 - q.z3) * q.V * (1 - q.h3 ** 2) * (q.W * (1 - q.h2 ** 2) * (q.W * d1(q) * q.h0 + q.h1) + q.h2),
         "correct"),
    Case("last-T3-V", "tanh/mse/last/3", "V", "(Y3 - z3) h3", lambda q: (q.Y3 - q.z3) * q.h3, "correct"),
    # sigmoid, cross-entropies
    Case("sig-bce-W", "sigmoid/bce/every/2", "W", r"(\sigma(Y_1) - z_1) V h_1 (1 - h_1) h_0 + (\sigma(Y_2) - z_2) V h_2 "
         r"(1 - h_2) (W h_1 (1 - h_1) h_0 + h_1)", lambda q: _sigW(q), "correct", latex=True),
    Case("sig-bce-W-exp-forms", "sigmoid/bce/every/2", "W", r"\left(\frac{e^{Y_1}}{1 + e^{Y_1}} - z_1\right) V "
         r"\sigma'(a_1) h_0 + \left(\frac{1}{1 + e^{-Y_2}} - z_2\right) V \sigma(a_2)(1 - \sigma(a_2)) \left(W h_1 (1 - h_1)"
         r" h_0 + h_1\right)", lambda q: _sigW(q), "correct", latex=True),
    Case("sig-bce-c", "sigmoid/bce/every/2", "c", "sigmoid(Y1) - z1 + sigmoid(Y2) - z2",
         lambda q: sig(q.Y1) - q.z1 + sig(q.Y2) - q.z2, "correct"),
    Case("sig-ce-last-V", "sigmoid/ce/last/3", "V", "(σ(Y3) - z3) h3", lambda q: (sig(q.Y3) - q.z3) * q.h3, "correct"),
    Case("sig-ce-last-b", "sigmoid/ce/last/3", "b", r"(\sigma(Y_3) - z_3) V h_3 (1 - h_3) \left(1 + W h_2 (1 - h_2)"
         r" (1 + W h_1 (1 - h_1))\right)", lambda q: (sig(q.Y3) - q.z3) * q.V * q.h3 * (1 - q.h3) *
         (1 + q.W * q.h2 * (1 - q.h2) * (1 + q.W * q.h1 * (1 - q.h1))), "correct", latex=True),
    Case("sig-mse-U", "sigmoid/mse/every/2", "U", "(Y1 - z1) V h1 (1 - h1) x1 + (Y2 - z2) V h2 (1 - h2) (W h1 (1 - h1) x1"
         " + x2)", lambda q: (q.Y1 - q.z1) * q.V * q.h1 * (1 - q.h1) * q.x1 + (q.Y2 - q.z2) * q.V * q.h2 * (1 - q.h2) *
         (q.W * q.h1 * (1 - q.h1) * q.x1 + q.x2), "correct"),
    # relu: decided per sign pattern
    Case("relu-T2-W-indicator", "relu/mse/every/2", "W", r"(Y_1 - z_1) V \mathbb{1}[a_1 > 0] h_0 + (Y_2 - z_2) V "
         r"\mathbb{1}[a_2 > 0] \left( W \mathbb{1}[a_1 > 0] h_0 + h_1 \right)", lambda q: _reluW2(q), "correct", latex=True),
    Case("relu-T2-W-H", "relu/mse/every/2", "W", "(Y1 - z1) V H(a1) h0 + (Y2 - z2) V H(h2) (W H(h1) h0 + h1)",
         lambda q: _reluW2(q), "correct"),
    Case("relu-T2-W-prime", "relu/mse/every/2", "W", r"(Y_1 - z_1) V \operatorname{relu}'(a_1) h_0 + (Y_2 - z_2) V "
         r"\mathbf{1}_{a_2 > 0} (W \mathbb{I}(a_1 > 0) h_0 + h_1)", lambda q: _reluW2(q), "correct", latex=True),
    Case("relu-T3-W", "relu/mse/every/3", "W", "(Y1 - z1) V H(a1) h0 + (Y2 - z2) V H(a2) (W H(a1) h0 + h1) + "
         "(Y3 - z3) V H(a3) (W H(a2) (W H(a1) h0 + h1) + h2)", lambda q: _reluW3(q), "correct"),
    Case("relu-T3-b-sympy-prime", "relu/mse/every/3", "b", "relu'(a1) (V (Y1 - z1) + W relu'(a2) (V (Y2 - z2) + "
         "W relu'(a3) V (Y3 - z3))) + relu'(a2) (V (Y2 - z2) + W relu'(a3) V (Y3 - z3)) + relu'(a3) V (Y3 - z3)",
         lambda q: sum(_delta(q, 3, "relu")), "correct"),
    Case("relu-T2-V-max", "relu/mse/every/2", "V", r"(Y_1 - z_1) \max(0, a_1) + (Y_2 - z_2) \operatorname{relu}(a_2)",
         lambda q: (q.Y1 - q.z1) * relu(q.a1) + (q.Y2 - q.z2) * relu(q.a2), "correct", latex=True),
    Case("relu-T3-V-a-times-H", "relu/mse/every/3", "V", "(Y1 - z1) a1 H(a1) + (Y2 - z2) a2 H(a2) + (Y3 - z3) h3",
         lambda q: (q.Y1 - q.z1) * q.a1 * H(q.a1) + (q.Y2 - q.z2) * q.a2 * H(q.a2) + (q.Y3 - q.z3) * q.h3, "correct"),
    Case("relu-bce-last-U", "relu/bce/last/3", "U", r"(\sigma(Y_3) - z_3) V [a_3 > 0] \left(W [a_2 > 0] \left(W [a_1 > 0]"
         r" x_1 + x_2\right) + x_3\right)", lambda q: (sig(q.Y3) - q.z3) * q.V * H(q.a3) *
         (q.W * H(q.a2) * (q.W * H(q.a1) * q.x1 + q.x2) + q.x3), "correct", latex=True),
    Case("relu-T2-h0", "relu/mse/every/2", "h0", r"\frac{\partial L}{\partial a_1} W",
         lambda q: _delta(q, 2, "relu")[0] * q.W, "correct", latex=True),
    # identity
    Case("identity-W", "identity/mse/every/2", "W", "(Y1 - z1) V h0 + (Y2 - z2) V (W h0 + h1)",
         lambda q: (q.Y1 - q.z1) * q.V * q.h0 + (q.Y2 - q.z2) * q.V * (q.W * q.h0 + q.h1), "correct"),
    Case("identity-b-a", "identity/mse/every/2", "b", "(Y1 - z1) V + (Y2 - z2) V W + (Y2 - z2) V",
         lambda q: (q.Y1 - q.z1) * q.V + (q.Y2 - q.z2) * q.V * q.W + (q.Y2 - q.z2) * q.V, "correct"),
]


def _delta(q, T, act):
    """δ_1 … δ_T of a model with a loss at every step (twins of ∂L/∂a_t), for mse."""
    deriv = {"tanh": lambda t: 1 - getattr(q, f"h{t}") ** 2, "relu": lambda t: H(getattr(q, f"a{t}")),
             "sigmoid": lambda t: getattr(q, f"h{t}") * (1 - getattr(q, f"h{t}"))}[act]
    out, nxt = [0.0] * T, 0.0
    for t in range(T, 0, -1):
        nxt = deriv(t) * (q.V * (getattr(q, f"Y{t}") - getattr(q, f"z{t}")) + q.W * nxt)
        out[t - 1] = nxt
    return out


def _delta3(q):
    return _delta(q, 3, "tanh")


def _sigW(q):
    s1, s2 = q.h1 * (1 - q.h1), q.h2 * (1 - q.h2)
    return (sig(q.Y1) - q.z1) * q.V * s1 * q.h0 + (sig(q.Y2) - q.z2) * q.V * s2 * (q.W * s1 * q.h0 + q.h1)


def _reluW2(q):
    return (q.Y1 - q.z1) * q.V * H(q.a1) * q.h0 + (q.Y2 - q.z2) * q.V * H(q.a2) * (q.W * H(q.a1) * q.h0 + q.h1)


def _reluW3(q):
    return _reluW2(q) + (q.Y3 - q.z3) * q.V * H(q.a3) * (q.W * H(q.a2) * (q.W * H(q.a1) * q.h0 + q.h1) + q.h2)


W1, W2, W3 = "(Y1 - z1)*V*(1 - h1**2)*h0", "(Y2 - z2)*V*(1 - h2**2)*W*(1 - h1**2)*h0", "(Y2 - z2)*V*(1 - h2**2)*h1"


def t1(q):
    return (q.Y1 - q.z1) * q.V * d1(q) * q.h0


def t2(q):
    return (q.Y2 - q.z2) * q.V * d2(q) * q.W * d1(q) * q.h0


def t3(q):
    return (q.Y2 - q.z2) * q.V * d2(q) * q.h1


WRONG = [
    # missing and extra paths
    Case("missing-recurrent", LECTURE, "W", f"{W1} + {W3}", lambda q: t1(q) + t3(q), "wrong",
         "missing: ∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W"),
    Case("missing-recurrent-latex", LECTURE, "W", r"(Y_1 - z_1) V (1 - h_1^2) h_0 + (Y_2 - z_2) V (1 - h_2^2) h_1",
         lambda q: t1(q) + t3(q), "wrong", "recurrent path", latex=True),
    Case("missing-sum-t", LECTURE, "W", "(Y2 - z2) V (1 - h2^2) (W (1 - h1^2) h0 + h1)", lambda q: t2(q) + t3(q), "wrong",
         "missing Σ_t"),
    Case("missing-sum-t-V", LECTURE, "V", "(Y2 - z2) h2", lambda q: (q.Y2 - q.z2) * q.h2, "wrong", "missing Σ_t"),
    Case("missing-sum-t-T3", "tanh/mse/every/3", "c", "Y3 - z3", lambda q: q.Y3 - q.z3, "wrong", "missing Σ_t"),
    Case("extra-path", LECTURE, "W", f"{W_SYMPY} + (Y2 - z2)*V*h2", lambda q: gW(q) + (q.Y2 - q.z2) * q.V * q.h2,
         "wrong", "no chain-rule path"),
    Case("counted-twice-separate", LECTURE, "W", f"{W_SYMPY} + 2*(Y1 - z1)*(1 - h1**2)*h0*V/2",
         lambda q: gW(q) + t1(q), "wrong", "counted twice"),
    Case("T4-missing-longest", "tanh/mse/every/4", "b",
         r"\frac{\partial L}{\partial a_2} + \frac{\partial L}{\partial a_3} + \frac{\partial L}{\partial a_4} + "
         r"(1 - h_1^2) V (Y_1 - z_1) + (1 - h_1^2) W (1 - h_2^2) V (Y_2 - z_2) + (1 - h_1^2) W (1 - h_2^2) W (1 - h_3^2)"
         r" V (Y_3 - z_3)", lambda q: sum(_delta(q, 4, "tanh")[1:]) + d1(q) * q.V * (q.Y1 - q.z1) + d1(q) * q.W * d2(q) *
         q.V * (q.Y2 - q.z2) + d1(q) * q.W * d2(q) * q.W * (1 - q.h3 ** 2) * q.V * (q.Y3 - q.z3),
         "wrong", "missing: ∂L4/∂h4 ∂h4/∂h3 ∂h3/∂h2 ∂h2/∂h1 ∂⁺h1/∂b", latex=True),
    Case("last-summed-every-step", "tanh/mse/last/2", "V", "(Y1 - z1) h1 + (Y2 - z2) h2",
         lambda q: (q.Y1 - q.z1) * q.h1 + (q.Y2 - q.z2) * q.h2, "wrong", "many-to-one"),
    Case("last-T3-summed-c", "tanh/mse/last/3", "c", "(Y1 - z1) + (Y2 - z2) + (Y3 - z3)",
         lambda q: q.Y1 - q.z1 + q.Y2 - q.z2 + q.Y3 - q.z3, "wrong", "only L3 is a loss"),
    # lost factors
    Case("lost-act-prime", LECTURE, "W", f"(Y1 - z1)*V*h0 + {W2} + {W3}",
         lambda q: (q.Y1 - q.z1) * q.V * q.h0 + t2(q) + t3(q), "wrong", "the activation's derivative 1 - h1² is missing"),
    Case("lost-W", LECTURE, "W", f"{W1} + (Y2 - z2)*V*(1 - h2**2)*(1 - h1**2)*h0 + {W3}",
         lambda q: t1(q) + (q.Y2 - q.z2) * q.V * d2(q) * d1(q) * q.h0 + t3(q), "wrong", "lost its W"),
    Case("lost-V", LECTURE, "W", "(Y1 - z1) (1 - h1^2) h0 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) h0 + h1)",
         lambda q: (q.Y1 - q.z1) * d1(q) * q.h0 + t2(q) + t3(q), "wrong", "lost factor"),
    Case("lost-recurrent-hop", "tanh/mse/every/3", "U",
         "(Y1 - z1) V (1 - h1^2) x1 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) x1 + x2) + "
         "(Y3 - z3) V (1 - h3^2) (W (1 - h2^2) x2 + W (1 - h1^2) x1 + x3)",
         lambda q: (q.Y1 - q.z1) * q.V * d1(q) * q.x1 + (q.Y2 - q.z2) * q.V * d2(q) * (q.W * d1(q) * q.x1 + q.x2) +
         (q.Y3 - q.z3) * q.V * (1 - q.h3 ** 2) * (q.W * d2(q) * q.x2 + q.W * d1(q) * q.x1 + q.x3), "wrong",
         "the recurrent factor ∂h2/∂h1 is missing"),
    # time indices
    Case("time-index-h", LECTURE, "W", f"(Y1 - z1)*V*(1 - h1**2)*h1 + {W2} + {W3}",
         lambda q: (q.Y1 - q.z1) * q.V * d1(q) * q.h1 + t2(q) + t3(q), "wrong", "wrong time index in ∂⁺h1/∂W: h1"),
    Case("time-index-x", LECTURE, "U", "(Y1 - z1) V (1 - h1^2) x1 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) x1 + x1)",
         lambda q: (q.Y1 - q.z1) * q.V * d1(q) * q.x1 + (q.Y2 - q.z2) * q.V * d2(q) * (q.W * d1(q) * q.x1 + q.x1),
         "wrong", "time index"),
    Case("time-index-act", LECTURE, "W", "(Y1 - z1) V (1 - h1^2) h0 + (Y2 - z2) V (1 - h2^2) (W (1 - h2^2) h0 + h1)",
         lambda q: t1(q) + (q.Y2 - q.z2) * q.V * d2(q) * (q.W * d2(q) * q.h0 + q.h1), "wrong", "time index"),
    Case("T1-time-index", "tanh/mse/every/1", "W", "(Y1 - z1) V (1 - h1^2) h1", lambda q: (q.Y1 - q.z1) * q.V * d1(q) * q.h1,
         "wrong", "time index"),
    # the activation's derivative
    Case("one-minus-h", LECTURE, "W", f"(Y1 - z1)*V*(1 - h1)*h0 + {W2} + {W3}",
         lambda q: (q.Y1 - q.z1) * q.V * (1 - q.h1) * q.h0 + t2(q) + t3(q), "wrong", "tanh' as 1 - h"),
    Case("one-minus-h-inside-group", LECTURE, "W", "(Y1 - z1) V (1 - h1^2) h0 + (Y2 - z2) V (1 - h2^2) (W (1 - h1) h0 + h1)",
         lambda q: t1(q) + (q.Y2 - q.z2) * q.V * d2(q) * (q.W * (1 - q.h1) * q.h0 + q.h1), "wrong",
         "tanh' written as 1 - h1 instead of 1 - h1² in ∂⁺h1/∂W"),
    Case("one-minus-h-everywhere", LECTURE, "b", "(Y1 - z1) V (1 - h1) + (Y2 - z2) V (1 - h2) (W (1 - h1) + 1)",
         lambda q: (q.Y1 - q.z1) * q.V * (1 - q.h1) + (q.Y2 - q.z2) * q.V * (1 - q.h2) * (q.W * (1 - q.h1) + 1), "wrong",
         "the same slip in every term"),
    Case("sigmoid-prime-for-tanh", LECTURE, "W", "(Y1 - z1) V h1 (1 - h1) h0 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) h0 + h1)",
         lambda q: (q.Y1 - q.z1) * q.V * q.h1 * (1 - q.h1) * q.h0 + t2(q) + t3(q), "wrong", "other activation's derivative"),
    Case("tanh-prime-for-sigmoid-W", "sigmoid/mse/every/2", "W", "(Y1 - z1) V (1 - h1^2) h0 + (Y2 - z2) V h2 (1 - h2) "
         "(W h1 (1 - h1) h0 + h1)", lambda q: (q.Y1 - q.z1) * q.V * d1(q) * q.h0 + (q.Y2 - q.z2) * q.V * q.h2 *
         (1 - q.h2) * (q.W * q.h1 * (1 - q.h1) * q.h0 + q.h1), "wrong", "is tanh'(a1) written in h1"),
    Case("sigmoid-prime-as-one-minus-h", "sigmoid/bce/every/2", "b", r"(\sigma(Y_1) - z_1) V (1 - h_1) + (\sigma(Y_2) - z_2)"
         r" V h_2 (1 - h_2) (W h_1 (1 - h_1) + 1)", lambda q: (sig(q.Y1) - q.z1) * q.V * (1 - q.h1) + (sig(q.Y2) - q.z2) *
         q.V * q.h2 * (1 - q.h2) * (q.W * q.h1 * (1 - q.h1) + 1), "wrong", "σ' written as 1 - h1", latex=True),
    Case("tanh-of-h", LECTURE, "W", "(Y1 - z1) V (1 - tanh(h1)^2) h0 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) h0 + h1)",
         lambda q: (q.Y1 - q.z1) * q.V * (1 - tanh(q.h1) ** 2) * q.h0 + t2(q) + t3(q), "wrong", "activation of h"),
    Case("sech-of-h", LECTURE, "b", r"(Y_1 - z_1) V \operatorname{sech}^2(h_1) + (Y_2 - z_2) V (1 - h_2^2) (W (1 - h_1^2) + 1)",
         lambda q: (q.Y1 - q.z1) * q.V * sech(q.h1) ** 2 + (q.Y2 - q.z2) * q.V * d2(q) * (q.W * d1(q) + 1), "wrong",
         "the activation is applied to h1, not to a1", latex=True),
    Case("sigma-of-h", "sigmoid/bce/every/2", "W", r"(\sigma(Y_1) - z_1) V \sigma(h_1)(1 - \sigma(h_1)) h_0 + (\sigma(Y_2)"
         r" - z_2) V h_2 (1 - h_2) (W h_1 (1 - h_1) h_0 + h_1)", lambda q: (sig(q.Y1) - q.z1) * q.V * sig(q.h1) *
         (1 - sig(q.h1)) * q.h0 + (sig(q.Y2) - q.z2) * q.V * q.h2 * (1 - q.h2) * (q.W * q.h1 * (1 - q.h1) * q.h0 + q.h1),
         "wrong", "activation of h", latex=True),
    Case("activation-not-derivative", LECTURE, "W", "(Y1 - z1) V tanh(a1) h0 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) h0 + h1)",
         lambda q: (q.Y1 - q.z1) * q.V * q.h1 * q.h0 + t2(q) + t3(q), "wrong", "the activation instead of its derivative"),
    Case("identity-with-tanh-prime", "identity/mse/every/2", "W", "(Y1 - z1) V (1 - h1^2) h0 + (Y2 - z2) V (W h0 + h1)",
         lambda q: (q.Y1 - q.z1) * q.V * d1(q) * q.h0 + (q.Y2 - q.z2) * q.V * (q.W * q.h0 + q.h1), "wrong",
         "is wrong: yours gives"),
    # recurrent factor and parameters
    Case("W-squared", LECTURE, "W", f"{W1} + (Y2 - z2)*V*(1 - h2**2)*W**2*(1 - h1**2)*h0 + {W3}",
         lambda q: t1(q) + t2(q) * q.W + t3(q), "wrong", "W squared"),
    Case("W-squared-T3", "tanh/mse/every/3", "h0", "(Y1 - z1) V (1 - h1^2) W + (Y2 - z2) V (1 - h2^2) W (1 - h1^2) W + "
         "(Y3 - z3) V (1 - h3^2) W^2 (1 - h2^2) W (1 - h1^2) W",
         lambda q: (q.Y1 - q.z1) * q.V * d1(q) * q.W + (q.Y2 - q.z2) * q.V * d2(q) * q.W * d1(q) * q.W +
         (q.Y3 - q.z3) * q.V * (1 - q.h3 ** 2) * q.W ** 2 * d2(q) * q.W * d1(q) * q.W, "wrong", "W squared"),
    Case("U-answer-for-W", LECTURE, "W", "(Y1 - z1) V (1 - h1^2) x1 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) x1 + x2)", gU,
         "wrong", "this is ∂L/∂U, not ∂L/∂W"),
    Case("b-answer-for-U", LECTURE, "U", "(Y1 - z1) V (1 - h1^2) + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) + 1)", gb,
         "wrong", "this is ∂L/∂b, not ∂L/∂U"),
    Case("x-for-h-one-term", LECTURE, "W", f"{W1} + {W2} + (Y2 - z2)*V*(1 - h2**2)*x2",
         lambda q: t1(q) + t2(q) + (q.Y2 - q.z2) * q.V * d2(q) * q.x2, "wrong", "x2 where h1 belongs"),
    Case("V-answer-for-c", LECTURE, "c", "(Y1 - z1) h1 + (Y2 - z2) h2", lambda q: (q.Y1 - q.z1) * q.h1 + (q.Y2 - q.z2) * q.h2,
         "wrong", "this is ∂L/∂V"),
    Case("c-with-V", LECTURE, "c", "(Y1 - z1) V + (Y2 - z2) V", lambda q: (q.Y1 - q.z1) * q.V + (q.Y2 - q.z2) * q.V,
         "wrong", "is wrong: yours gives"),
    # the loss's derivative
    Case("mse-for-bce", "sigmoid/bce/every/2", "W", "(Y1 - z1) V h1 (1 - h1) h0 + (Y2 - z2) V h2 (1 - h2) (W h1 (1 - h1) h0"
         " + h1)", lambda q: _sigW(q) + (q.Y1 - sig(q.Y1)) * q.V * q.h1 * (1 - q.h1) * q.h0 + (q.Y2 - sig(q.Y2)) * q.V *
         q.h2 * (1 - q.h2) * (q.W * q.h1 * (1 - q.h1) * q.h0 + q.h1), "wrong", "the squared error's ∂L/∂Y"),
    Case("mse-for-ce-V", "sigmoid/ce/last/3", "V", "(Y3 - z3) h3", lambda q: (q.Y3 - q.z3) * q.h3, "wrong", "loss derivative"),
    Case("bce-for-mse", LECTURE, "c", "sigmoid(Y1) - z1 + sigmoid(Y2) - z2", lambda q: sig(q.Y1) - q.z1 + sig(q.Y2) - q.z2,
         "wrong", "the cross-entropy's ∂L/∂Y"),
    Case("extra-sigma-prime", "tanh/bce/every/2", "c", r"(\sigma(Y_1) - z_1) \sigma(Y_1) (1 - \sigma(Y_1)) + (\sigma(Y_2) - z_2)"
         r" \sigma(Y_2) (1 - \sigma(Y_2))", lambda q: (sig(q.Y1) - q.z1) * sig(q.Y1) * (1 - sig(q.Y1)) +
         (sig(q.Y2) - q.z2) * sig(q.Y2) * (1 - sig(q.Y2)), "wrong", "an extra σ'(Y1)", latex=True),
    Case("half-not-cancelled", LECTURE, "V", "2 (Y1 - z1) h1 + 2 (Y2 - z2) h2", lambda q: 2 * ((q.Y1 - q.z1) * q.h1 +
         (q.Y2 - q.z2) * q.h2), "wrong", "½ cancellation"),
    Case("half-kept", LECTURE, "c", r"\frac{1}{2}(Y_1 - z_1) + \frac12 (Y_2 - z_2)", lambda q: 0.5 * (q.Y1 - q.z1 + q.Y2 - q.z2),
         "wrong", "a stray factor ½", latex=True),
    Case("half-one-term", LECTURE, "W", f"2*{W1} + {W2} + {W3}", lambda q: 2 * t1(q) + t2(q) + t3(q), "wrong",
         "a factor 2 too many"),
    Case("sign-z-minus-Y", LECTURE, "W", "(z1 - Y1) V (1 - h1^2) h0 + (z2 - Y2) V (1 - h2^2) (W (1 - h1^2) h0 + h1)",
         lambda q: -gW(q), "wrong", "z1 - Y1 where ∂L1/∂Y1 = Y1 - z1"),
    Case("sign-one-term", LECTURE, "c", "Y1 - z1 + z2 - Y2", lambda q: q.Y1 - q.z1 + q.z2 - q.Y2, "wrong", "sign"),
    Case("sign-bce", "sigmoid/bce/every/2", "c", r"(z_1 - \sigma(Y_1)) + (z_2 - \sigma(Y_2))",
         lambda q: q.z1 - sig(q.Y1) + q.z2 - sig(q.Y2), "wrong", "the sign is flipped", latex=True),
    # relu: wrong on some sign patterns only
    Case("relu-T3-lost-H", "relu/mse/every/3", "W", "(Y1 - z1) V H(a1) h0 + (Y2 - z2) V H(a2) (W h0 + h1) + "
         "(Y3 - z3) V H(a3) (W H(a2) (W H(a1) h0 + h1) + h2)",
         lambda q: _reluW3(q) + (q.Y2 - q.z2) * q.V * H(q.a2) * q.W * q.h0 * (1 - H(q.a1)), "wrong",
         "the activation's derivative H(h1) is missing"),
    Case("relu-T3-shifted-H", "relu/mse/every/3", "W", "(Y1 - z1) V H(a1) h0 + (Y2 - z2) V H(a2) (W H(a2) h0 + h1) + "
         "(Y3 - z3) V H(a3) (W H(a2) (W H(a1) h0 + h1) + h2)",
         lambda q: _reluW3(q) + (q.Y2 - q.z2) * q.V * H(q.a2) * q.W * q.h0 * (H(q.a2) - H(q.a1)), "wrong", "lost factor"),
    Case("relu-T3-deep-H", "relu/mse/every/3", "b", "H(a1) (V (Y1 - z1) + W H(a2) (V (Y2 - z2) + W H(a3) V (Y3 - z3))) + "
         "H(a2) (V (Y2 - z2) + W H(a3) V (Y3 - z3)) + H(a3) V (Y3 - z3) - H(a1) W H(a2) W H(a3) V (Y3 - z3) + "
         "W H(a2) W H(a3) V (Y3 - z3)", lambda q: sum(_delta(q, 3, "relu")) + (1 - H(q.a1)) * q.W * H(q.a2) * q.W *
         H(q.a3) * q.V * (q.Y3 - q.z3), "wrong", "H(h1) is missing"),
    Case("relu-itself-for-derivative", "relu/mse/every/2", "W", "(Y1 - z1) V relu(a1) h0 + (Y2 - z2) V H(a2) "
         "(W H(a1) h0 + h1)", lambda q: (q.Y1 - q.z1) * q.V * relu(q.a1) * q.h0 + (q.Y2 - q.z2) * q.V * H(q.a2) *
         (q.W * H(q.a1) * q.h0 + q.h1), "wrong", "the activation instead of its derivative"),
    Case("relu-tanh-prime", "relu/mse/every/2", "b", "(Y1 - z1) V (1 - h1^2) + (Y2 - z2) V H(a2) (W H(a1) + 1)",
         lambda q: (q.Y1 - q.z1) * q.V * d1(q) + (q.Y2 - q.z2) * q.V * H(q.a2) * (q.W * H(q.a1) + 1), "wrong",
         "is wrong: yours gives"),
    Case("relu-V-a-for-h", "relu/mse/every/3", "V", "(Y1 - z1) a1 + (Y2 - z2) h2 + (Y3 - z3) h3",
         lambda q: (q.Y1 - q.z1) * q.a1 + (q.Y2 - q.z2) * q.h2 + (q.Y3 - q.z3) * q.h3, "wrong", "∂Y1/∂V is wrong"),
    Case("relu-bce-last-mse-slip", "relu/bce/last/3", "c", "Y3 - z3", lambda q: q.Y3 - q.z3, "wrong", "loss derivative"),
    Case("relu-missing-sum", "relu/mse/every/2", "V", r"(Y_2 - z_2) \mathbb{1}[a_2 > 0] a_2",
         lambda q: (q.Y2 - q.z2) * H(q.a2) * q.a2, "wrong", "missing Σ_t", latex=True),
    # sigmoid and identity slips
    Case("sig-missing-recurrent", "sigmoid/mse/every/2", "b", "(Y1 - z1) V h1 (1 - h1) + (Y2 - z2) V h2 (1 - h2)",
         lambda q: (q.Y1 - q.z1) * q.V * q.h1 * (1 - q.h1) + (q.Y2 - q.z2) * q.V * q.h2 * (1 - q.h2), "wrong",
         "recurrent path"),
    Case("identity-lost-W", "identity/mse/every/2", "b", "(Y1 - z1) V + (Y2 - z2) V + (Y2 - z2) V",
         lambda q: (q.Y1 - q.z1) * q.V + 2 * (q.Y2 - q.z2) * q.V, "wrong", "lost factor"),
    Case("not-a-known-slip", LECTURE, "W", "(Y1 - z1) V (1 - h1^3) h0 + (Y2 - z2) V (1 - h2^2) (W (1 - h1^2) h0 + h1)",
         lambda q: (q.Y1 - q.z1) * q.V * (1 - q.h1 ** 3) * q.h0 + t2(q) + t3(q), "wrong",
         "∂⁺h1/∂W is wrong: yours gives"),
    Case("junk", LECTURE, "W", "h1 h2 W", lambda q: q.h1 * q.h2 * q.W, "wrong", "missing:"),
    Case("log-of-h", LECTURE, "W", "log(h1^2) + " + W_SYMPY, lambda q: __import__("math").log(q.h1 ** 2) + gW(q), "wrong",
         "extra: log(h1²)"),
]


UNREADABLE = [
    Case("ambiguous-leibniz", LECTURE, "W", r"\frac{\partial L_2}{\partial h_2} \frac{\partial h_2}{\partial W}", None,
         "unreadable", "ambiguous", latex=True),
    Case("circular-leibniz", LECTURE, "W", r"\frac{\partial L_1}{\partial W} + \frac{\partial L_2}{\partial W}", None,
         "unreadable", "a gradient of the loss", latex=True),
    Case("delta-without-definition", LECTURE, "W", r"\delta_1 h_0 + \delta_2 h_1", None, "unreadable", "∂L/∂a_t", latex=True),
    Case("unknown-name", LECTURE, "W", "(Y1 - z1) V (1 - h1^2) h_0", None, "unreadable", "known:"),
    Case("unclosed", LECTURE, "W", "(Y1 - z1) V (1 - h1^2 h0", None, "unreadable", "expected ')'"),
    Case("matrix-notation", LECTURE, "W", r"\delta_1 h_0^\top", None, "unreadable", "∂L/∂a_t", latex=True),
    Case("transpose", LECTURE, "W", r"(Y_1 - z_1) V^\top h_0", None, "unreadable", "transpose", latex=True),
    Case("wrong-lhs", LECTURE, "W", "dL/dU = (Y1 - z1) V (1 - h1^2) x1", None, "unreadable", "--param is W"),
    Case("log-zero", LECTURE, "W", r"\log(0) h_1", None, "unreadable", "log(0)", latex=True),
    Case("prime-on-name", LECTURE, "W", "h1' h0", None, "unreadable", "prime"),
]

CASES = CORRECT + WRONG + UNREADABLE
