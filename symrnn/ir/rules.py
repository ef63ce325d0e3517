"""Derivative rules of the IR, one per node type, written like the math.

The vector-Jacobian product (reverse mode): what each operand of u receives from ū = ∂L/∂u,

    u = Σ terms        each term receives ū
    u = a − b          a receives ū, b receives −ū
    u = −a             a receives −ū
    u = A B            B receives Aᵀ ū;  A receives ū Bᵀ (an outer product), or ūᵀ B when A is a scalar
    u = v₁ ⊙ … ⊙ vₙ    vᵢ receives (⊙_{j≠i} v_j) ⊙ ū
    u = f(a)           a receives f'(u) ⊙ ū = diag(f'(u)) ū   (f' in terms of the output u, from the registry)
    u = v²             v receives 2 v ⊙ ū

and the Jacobian of an expression that is linear in one vector w (forward mode, for the hops
∂h_t/∂h_{t−1}):

    J(Σ terms) = Σ J(term)     J(A B) = A J(B)     J(v₁ ⊙ … ⊙ vₙ) = Σᵢ diag(⊙_{j≠i} v_j) J(vᵢ)
    J(f(a)) = diag(f'(f(a))) J(a)     J(w) = I
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import sympy as sp

from ..errors import SymrnnError
from .lift import lift_elementwise
from .nodes import (Eye, Gain, Hadamard, Map, Mat, MatProd, Minus, Neg, Node, Num, Ones, Plus, Square, Vec, diag,
                    hadamard, is_scalar, matmul, neg, plus, sub, transpose)

H = sp.Symbol("h")


def derivative_of(f: Map, out: Node, square: bool = False) -> Node:
    """f'(a) as a vector, written in the output `out` = f(a) (1 − h_t ⊙ h_t, or 1 − h_t² for diag)."""
    forms = f.function.derivative(sp.Symbol("a"), H)
    if forms is None:
        raise SymrnnError(f"{f.fname} is not differentiable where a derivative is needed")
    form = forms[-1]
    if out == f:   # the value has no name (o ⊙ tanh(c)): write f' in the argument, H(c) and not H(relu(c))
        form = next((g for g in reversed(forms) if H not in g.free_symbols), form)
    return lift_elementwise(form, {H: out, sp.Symbol("a"): f.arg}, square)


# -- reverse mode --------------------------------------------------------------------------

Pullback = Callable[[Node, Node, dict], Iterator[tuple[Node, Node]]]
VJP: dict[type, Pullback] = {}


def vjp_rule(cls):
    def register(rule: Pullback) -> Pullback:
        VJP[cls] = rule
        return rule
    return register


@vjp_rule(Plus)
def _plus(u, ubar, how):
    for term in u.args:
        yield term, ubar


@vjp_rule(Minus)
def _minus(u, ubar, how):
    a, b = u.args
    yield a, ubar
    yield b, neg(ubar)


@vjp_rule(Neg)
def _neg(u, ubar, how):
    yield u.args[0], neg(ubar)


@vjp_rule(MatProd)
def _matprod(u, ubar, how):
    A, B = u.args[0], matmul(*u.args[1:])
    yield B, matmul(transpose(A), ubar)
    yield A, matmul(transpose(ubar), B) if is_scalar(A) else matmul(ubar, transpose(B))


@vjp_rule(Hadamard)
def _hadamard(u, ubar, how):
    for i, v in enumerate(u.args):
        yield v, hadamard(*u.args[:i], *u.args[i + 1:], ubar)


@vjp_rule(Map)
def _map(u, ubar, how):
    out = how.get("out", u)
    if how.get("diag"):
        yield u.arg, matmul(diag(derivative_of(u, out, square=True)), ubar)
    else:
        yield u.arg, hadamard(derivative_of(u, out), ubar)


@vjp_rule(Square)
def _square(u, ubar, how):
    v = u.args[0]
    yield v, hadamard(matmul(Num(2), v), ubar)


LEAVES = (Vec, Mat, Gain, Num, Ones)


def pullback(expr: Node, ubar: Node, diag_form: bool = False, out: Node | None = None) -> list[tuple[Node, Node]]:
    """(leaf, what it receives) for every leaf of expr, in written order, given ū = ∂L/∂expr.

    `out`: the name of expr's value when expr is f(a) (h_t for h_t = tanh(a_t)), so f' is written in it.
    `diag_form`: f'(u) ⊙ ū written diag(f'(u)) ū.
    """
    found: list[tuple[Node, Node]] = []

    def walk(u, ub, how):
        if isinstance(u, LEAVES):
            if not isinstance(u, (Num, Ones)):
                found.append((u, ub))
            return
        rule = VJP.get(type(u))
        if rule is None:
            raise SymrnnError(f"no derivative rule for {type(u).__name__}")
        for child, cb in rule(u, ub, how):
            walk(child, cb, {"diag": diag_form})

    walk(expr, ubar, {"diag": diag_form, "out": out if out is not None else expr})
    return found


def vjp(expr: Node, wrt: Node, ubar: Node, diag_form: bool = False, out: Node | None = None) -> Node | None:
    """(∂expr/∂wrt)ᵀ ū: the sum of what every occurrence of wrt receives; None when expr does not read wrt."""
    return plus(*(c for leaf, c in pullback(expr, ubar, diag_form, out) if leaf == wrt))


# -- forward mode (linear in one vector) ----------------------------------------------------

def jacobian(expr: Node, wrt: Node, named: Callable[[Vec], Node | None] = lambda v: None) -> Node | None:
    """∂expr/∂wrt as a matrix, for wrt a vector; None when expr does not depend on it.

    `named(v)`: the definition of an intermediate vector v of the same step (its Jacobian is its
    definition's), None for a leaf.
    """
    def J(u, out=None):
        if u == wrt:
            return Eye()
        if isinstance(u, Vec):
            d = named(u)
            return None if d is None else J(d, out=u)
        if isinstance(u, (Mat, Gain, Num, Ones)):
            return None
        if isinstance(u, Plus):
            return plus(*(J(a) for a in u.args))
        if isinstance(u, Minus):
            a, b = (J(x) for x in u.args)
            return sub(a, b) if a is not None else (neg(b) if b is not None else None)
        if isinstance(u, Neg):
            a = J(u.args[0])
            return None if a is None else neg(a)
        if isinstance(u, MatProd):
            inner = J(matmul(*u.args[1:]))
            return None if inner is None else matmul(u.args[0], inner)
        if isinstance(u, Hadamard):
            return plus(*(matmul(diag(hadamard(*u.args[:i], *u.args[i + 1:])), Ji)
                          for i, v in enumerate(u.args) if (Ji := J(v)) is not None))
        if isinstance(u, Map):
            inner = J(u.arg)
            return None if inner is None else matmul(diag(derivative_of(u, out or u, square=True)), inner)
        if isinstance(u, Square):
            inner = J(u.args[0])
            return None if inner is None else matmul(diag(matmul(Num(2), u.args[0])), inner)
        raise SymrnnError(f"no Jacobian rule for {type(u).__name__}")

    return J(expr)


__all__ = ["VJP", "vjp_rule", "pullback", "vjp", "jacobian", "derivative_of"]
