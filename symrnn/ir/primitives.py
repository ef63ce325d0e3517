"""The primitives' registry: one record per elementwise function and per loss, written like the math.

A function record carries everything every stage needs: f(a) as the lecture writes it, its
SymPy built-in reference (for brute force), its 50-digit and NumPy forms, its names in text and
LaTeX, and the chain of equal forms of f'(a) that a derivation walks through, ending in terms of
the output h = f(a) where that exists:

    tanh'(a) = sech²(a) = 1 − tanh²(a) = 1 − h²
    σ'(a)    = σ(a)(1 − σ(a))         = h(1 − h)

A loss record gives L(Y, z) per output unit and the chain of equal forms of ∂L/∂Y (scalar form),
the vector gradient g = ∂L_t/∂Y_t as IR (matrix form), the per-example loss as IR (kernels) and an
entry-wise reference (certification). Each form of every rule is checked against `sympy.diff` of
the reference in the tests, so a wrong entry cannot pass. Adding an activation is one record here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mpmath
import numpy as np
import sympy as sp

from .scalar import relu, sigmoid


@dataclass(frozen=True)
class Function:
    """An elementwise function f: its forms in every notation and its derivative."""

    name: str                                        # registry key; what users write (tanh, sigmoid, …)
    apply: Callable[[sp.Expr], sp.Expr]              # a -> f(a), as the lecture writes it
    reference: Callable[[sp.Expr], sp.Expr]          # a -> f(a) in SymPy built-ins only
    mp: Callable                                     # a -> f(a) in mpmath (50-digit certification)
    np_func: Callable                                # a -> f(a) on float arrays
    numpy: str                                       # kernel code: {v} the argument, {o} it as an operand
    text: str                                        # name in terminal text
    latex: str                                       # LaTeX name
    derivative: Callable[[sp.Expr, sp.Expr], tuple] | None  # (a, h) -> forms of f'(a), last in h where possible
    summary: str
    activation: bool = True                          # offered as --activation
    piecewise: bool = False                          # derivative is a step: decided per sign pattern
    bounded: float | None = None                     # sup |f'| (the gradient-flow bound), None when unbounded
    numpy_out: tuple[str, ...] = ()                  # kernel code writing f({v}) into the array {out}, no temporaries
    tanh_form: tuple[float, float, float] | None = None  # (α, β, γ) with f(v) = α tanh(β v) + γ, where one exists

    @property
    def parse_name(self) -> str:
        """The name in the parseable (NumPy-flavoured) string form."""
        return {"heaviside": "H"}.get(self.name, self.name)


FUNCTIONS: dict[str, Function] = {}


def function(name, apply, reference, mp, np_func, numpy, text, latex, summary, **options):
    """Register f, its derivative forms given by the decorated (a, h) -> forms."""
    def register(derivative):
        FUNCTIONS[name] = Function(name, apply, reference, mp, np_func, numpy, text, latex, derivative, summary,
                                   **options)
        return derivative
    return register


def _mp_step(x):
    """H(x) with H(0) = 0, the subgradient PyTorch uses for relu."""
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0)


@function("tanh", sp.tanh, sp.tanh, mpmath.tanh, np.tanh, "np.tanh({v})", "tanh", r"\tanh",
          "tanh'(a) = sech²(a) = 1 − tanh²(a) = 1 − h²", bounded=1.0, numpy_out=("np.tanh({v}, {out})",),
          tanh_form=(1.0, 1.0, 0.0))
def _tanh(a, h):
    return sp.sech(a) ** 2, 1 - sp.tanh(a) ** 2, 1 - h ** 2


# σ(v) = exp(−softplus(−v)): no overflow for large |v|. The kernels write σ(v) = ½ tanh(v/2) + ½, which cannot
# overflow either and costs one transcendental function instead of three (logaddexp is two, then exp): in a gated
# cell's forward step the gates' σ were most of the time. Its error is absolute (~1e-16), not relative, near σ = 0.
@function("sigmoid", sigmoid, lambda a: 1 / (1 + sp.exp(-a)), lambda a: 1 / (1 + mpmath.exp(-a)),
          lambda a: np.exp(-np.logaddexp(0, -a)), "0.5 * np.tanh(0.5 * {o}) + 0.5", "σ", r"\sigma", "σ'(a) = σ(a)(1 − σ(a)) = h(1 − h)", bounded=0.25,
          numpy_out=("np.multiply({v}, 0.5, {out})", "np.tanh({out}, {out})",
                     "np.multiply({out}, 0.5, {out})", "np.add({out}, 0.5, {out})"),
          tanh_form=(0.5, 0.5, 0.5))
def _sigmoid(a, h):
    return sigmoid(a) * (1 - sigmoid(a)), h * (1 - h)


# relu'(a) = [a > 0] = [h > 0]: Heaviside with H(0) = 0, the subgradient PyTorch uses.
@function("relu", relu, lambda a: sp.Max(0, a), lambda a: a if a > 0 else 0 * a, lambda a: np.maximum(a, 0),
          "np.maximum({v}, 0)", "relu",
          r"\operatorname{relu}", "relu'(a) = H(a) = H(h), with H(0) = 0", piecewise=True, bounded=1.0,
          numpy_out=("np.maximum({v}, 0, out={out})",))  # (out by position is deprecated for maximum)
def _relu(a, h):
    return sp.Heaviside(a, 0), sp.Heaviside(h, 0)


@function("identity", lambda a: a, lambda a: a, lambda a: a, lambda a: a, "{v}", "id", r"\operatorname{id}", "id'(a) = 1",
          bounded=1.0, numpy_out=("np.copyto({out}, {v})",))
def _identity(a, h):
    return (sp.Integer(1),)


# The step H is relu's derivative, not a function a cell may apply: it has no derivative to propagate.
FUNCTIONS["heaviside"] = Function("heaviside", lambda a: sp.Heaviside(a, 0), lambda a: sp.Heaviside(a, 0), _mp_step,
                                  lambda a: np.heaviside(a, 0), "np.heaviside({v}, 0)", "H", "H", None,
                                  "H(a) = 1 for a > 0, else 0 (relu's derivative; not differentiable at 0)",
                                  activation=False, piecewise=True,
                                  # a > 0 cast to the output's floats: np.heaviside is ~4x slower, and not in place
                                  numpy_out=("np.greater({v}, 0, out={out})",))


@function("exp", sp.exp, sp.exp, mpmath.exp, np.exp, "np.exp({v})", "exp", r"\exp", "exp'(a) = exp(a) = h",
          activation=False, numpy_out=("np.exp({v}, {out})",))
def _exp(a, h):
    return sp.exp(a), h


#: The functions offered as a cell's activation (--activation).
ACTIVATIONS: dict[str, Function] = {n: f for n, f in FUNCTIONS.items() if f.activation}


def derivative_in_output(f: Function, h: sp.Expr) -> sp.Expr:
    """f'(a) written in the output h = f(a): the last of the derivative's forms (a placeholder a stays if needed)."""
    return f.derivative(sp.Symbol("a"), h)[-1]


# -- losses ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Loss:
    """A loss: L(Y, z) per output unit and ∂L/∂Y (scalar), the vector forms, the targets it takes."""

    name: str
    apply: Callable[[sp.Expr, sp.Expr], sp.Expr]     # (Y, z) -> L, SymPy built-ins only
    gradient: Callable[[sp.Expr, sp.Expr], tuple]    # (Y, z) -> forms of ∂L/∂Y
    summary: str
    targets: str                                     # "real", "binary" (0/1 per unit) or "class" (an index)
    min_outputs: int                                 # the matrix form's smallest o
    words: str                                       # for documents: "squared-error loss"
    vector: bool                                     # True: L_t = Σ_j apply(Y_j, z_j); False: the softmax form
    numeric: Callable                                # (Y column, target, math) -> L_t in floats or mpmath numbers
    written: Callable[[sp.Expr, sp.Expr], sp.Expr]   # (Y, z) -> L as the lecture writes it (documents only)


LOSSES: dict[str, Loss] = {}


def loss(name, summary, targets, words, min_outputs=1, vector=True):
    """Register a loss: the decorated function returns (L(Y, z), forms of ∂L/∂Y, L_t(Y column, target, math)) and
    optionally L as the lecture writes it (else L(Y, z) itself)."""
    def register(rule):
        apply, gradient, numeric, *written = rule()
        LOSSES[name] = Loss(name, apply, gradient, summary, targets, min_outputs, words, vector, numeric,
                            written[0] if written else apply)
        return rule
    return register


@dataclass(frozen=True)
class Math:
    """The elementwise functions a loss's numeric form needs, for one number system (floats or mpmath)."""

    exp: Callable
    log: Callable
    softplus: Callable
    total: Callable


FLOAT_MATH = Math(np.exp, np.log, lambda y: np.logaddexp(0, y), lambda v: float(np.sum(v)))
MP_MATH = Math(np.frompyfunc(mpmath.exp, 1, 1), np.frompyfunc(mpmath.log, 1, 1),
               np.frompyfunc(lambda y: mpmath.log(1 + mpmath.exp(y)), 1, 1), lambda v: mpmath.fsum(v.ravel()))


@loss("mse", "squared error L_t = ½(Y_t − z_t)², ∂L_t/∂Y_t = Y_t − z_t", "real", "squared-error loss")
def _mse():
    return (lambda Y, z: (Y - z) ** 2 / 2), (lambda Y, z: (Y - z,)), (lambda Y, z, m: m.total((Y - z) ** 2) / 2)


def _softmax_ce(Y, z, m):
    """−log softmax(Y)[z] = top + log Σ_j e^{Y_j − top} − Y_z, shifted by the largest logit (no overflow)."""
    top = max(Y.ravel())
    return top + m.log(m.total(m.exp(Y - top))) - Y[int(z), 0]


# With one output unit, softmax over a single logit is constant; the scalar case of
# softmax cross-entropy is the two-class softmax over the logits (0, Y), class z ∈ {0, 1}:
#   L = −log softmax(0, Y)[z] = log(1 + e^Y) − zY,   ∂L/∂Y = p − z,  p = e^Y/(1 + e^Y) = σ(Y).
# So scalar ce equals bce (a fact of the math); the matrix form is the real softmax over o ≥ 2 logits.
@loss("ce", "softmax cross-entropy over the logits (0, Y_t), ∂L_t/∂Y_t = p_t − z_t = σ(Y_t) − z_t", "class",
      "softmax cross-entropy loss", min_outputs=2, vector=False)
def _ce():
    return (
        lambda Y, z: -z * sp.log(sp.exp(Y) / (1 + sp.exp(Y))) - (1 - z) * sp.log(1 / (1 + sp.exp(Y))),
        lambda Y, z: (sp.exp(Y) / (1 + sp.exp(Y)) - z, sigmoid(Y) - z),
        _softmax_ce,
        lambda Y, z: -z * sp.log(sigmoid(Y)) - (1 - z) * sp.log(1 - sigmoid(Y)),   # p = softmax(0, Y)[1] = σ(Y)
    )


# Stable (softplus) form: L = log(1 + e^Y) − zY, whose derivative is σ(Y) − z.
@loss("bce", "sigmoid binary cross-entropy L_t = log(1 + e^{Y_t}) − z_t Y_t, ∂L_t/∂Y_t = σ(Y_t) − z_t", "binary",
      "binary cross-entropy loss")
def _bce():
    return (
        lambda Y, z: sp.log(1 + sp.exp(Y)) - z * Y,
        lambda Y, z: (sp.exp(Y) / (1 + sp.exp(Y)) - z, sigmoid(Y) - z),
        lambda Y, z, m: m.total(m.softplus(Y) - z * Y),
    )


def entrywise_loss(rule: Loss, Y: list, z: list, exp=sp.exp, log=sp.log):
    """L_t from the entries of Y_t and of z_t (one-hot for a class target): the certification's reference.

    Vector losses sum the scalar rule over units; softmax cross-entropy is log Σ_j e^{Y_j} − Σ_j z_j Y_j.
    """
    if rule.vector:
        return sum(rule.apply(y, zz) for y, zz in zip(Y, z))
    return log(sum(exp(y) for y in Y)) - sum(zz * y for y, zz in zip(Y, z))


__all__ = ["Function", "FUNCTIONS", "ACTIVATIONS", "Loss", "LOSSES", "entrywise_loss", "derivative_in_output", "Math",
           "FLOAT_MATH", "MP_MATH"]
