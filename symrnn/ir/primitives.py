"""Local derivative rules, one registry entry each, written like the math.

An activation rule gives act(a), its SymPy built-in reference (for brute force), and the
chain of equal forms of act'(a) that a derivation walks through, ending in terms of the
output h = act(a) where that exists:

    tanh'(a) = sech²(a) = 1 − tanh²(a) = 1 − h²
    σ'(a)    = σ(a)(1 − σ(a))         = h(1 − h)

A loss rule gives L(Y, z) and the chain of equal forms of ∂L/∂Y. Each form of every rule is
checked against `sympy.diff` of the reference in the tests, so a wrong entry cannot pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from .scalar import relu, sigmoid


@dataclass(frozen=True)
class ActivationRule:
    name: str
    apply: Callable[[sp.Expr], sp.Expr]            # a -> act(a), as the lecture writes it
    reference: Callable[[sp.Expr], sp.Expr]        # a -> act(a) in SymPy built-ins
    derivative: Callable[[sp.Expr, sp.Expr], tuple]  # (a, h) -> forms of act'(a), last in h
    summary: str


@dataclass(frozen=True)
class LossRule:
    name: str
    apply: Callable[[sp.Expr, sp.Expr], sp.Expr]     # (Y, z) -> L, SymPy built-ins only
    gradient: Callable[[sp.Expr, sp.Expr], tuple]    # (Y, z) -> forms of ∂L/∂Y
    summary: str


ACTIVATIONS: dict[str, ActivationRule] = {}
LOSSES: dict[str, LossRule] = {}


def activation(name, apply, reference, summary):
    def register(derivative):
        ACTIVATIONS[name] = ActivationRule(name, apply, reference, derivative, summary)
        return derivative
    return register


def loss(name, summary):
    def register(rule):
        apply, gradient = rule()
        LOSSES[name] = LossRule(name, apply, gradient, summary)
        return rule
    return register


@activation("tanh", sp.tanh, sp.tanh, "tanh'(a) = sech²(a) = 1 − tanh²(a) = 1 − h²")
def _tanh(a, h):
    return sp.sech(a) ** 2, 1 - sp.tanh(a) ** 2, 1 - h ** 2


@activation("sigmoid", sigmoid, lambda a: 1 / (1 + sp.exp(-a)), "σ'(a) = σ(a)(1 − σ(a)) = h(1 − h)")
def _sigmoid(a, h):
    return sigmoid(a) * (1 - sigmoid(a)), h * (1 - h)


# relu'(a) = [a > 0] = [h > 0]: Heaviside with H(0) = 0, the subgradient PyTorch uses.
@activation("relu", relu, lambda a: sp.Max(0, a), "relu'(a) = H(a) = H(h), with H(0) = 0")
def _relu(a, h):
    return sp.Heaviside(a, 0), sp.Heaviside(h, 0)


@activation("identity", lambda a: a, lambda a: a, "id'(a) = 1")
def _identity(a, h):
    return (sp.Integer(1),)


@loss("mse", "squared error L_t = ½(Y_t − z_t)², ∂L_t/∂Y_t = Y_t − z_t")
def _mse():
    return (lambda Y, z: (Y - z) ** 2 / 2), (lambda Y, z: (Y - z,))


# With one output unit, softmax over a single logit is constant; the scalar case of
# softmax cross-entropy is the two-class softmax over the logits (0, Y), class z ∈ {0, 1}:
#   L = −log softmax(0, Y)[z] = log(1 + e^Y) − zY,   ∂L/∂Y = p − z,  p = e^Y/(1 + e^Y) = σ(Y).
@loss("ce", "softmax cross-entropy over the logits (0, Y_t), ∂L_t/∂Y_t = p_t − z_t = σ(Y_t) − z_t")
def _ce():
    return (
        lambda Y, z: -z * sp.log(sp.exp(Y) / (1 + sp.exp(Y))) - (1 - z) * sp.log(1 / (1 + sp.exp(Y))),
        lambda Y, z: (sp.exp(Y) / (1 + sp.exp(Y)) - z, sigmoid(Y) - z),
    )


# Stable (softplus) form: L = log(1 + e^Y) − zY, whose derivative is σ(Y) − z.
@loss("bce", "sigmoid binary cross-entropy L_t = log(1 + e^{Y_t}) − z_t Y_t, ∂L_t/∂Y_t = σ(Y_t) − z_t")
def _bce():
    return (
        lambda Y, z: sp.log(1 + sp.exp(Y)) - z * Y,
        lambda Y, z: (sp.exp(Y) / (1 + sp.exp(Y)) - z, sigmoid(Y) - z),
    )
