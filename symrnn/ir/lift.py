"""Scalar rules applied elementwise: a SymPy expression in scalar symbols (1 − h², σ(Y) − z) as IR over vectors."""
from __future__ import annotations

import sympy as sp

from ..errors import SymrnnError
from .nodes import Num, Ones, Square, Zeros, apply, hadamard, matmul, neg, plus, sub
from .primitives import FUNCTIONS

#: SymPy function class -> registry name (tanh -> "tanh", our sigmoid node -> "sigmoid", Heaviside -> "heaviside").
_BY_CLASS = {type(f.apply(sp.Symbol("a"))): name for name, f in FUNCTIONS.items()
             if isinstance(f.apply(sp.Symbol("a")), sp.Function)}


def lift_elementwise(expr: sp.Expr, vectors: dict, square: bool = False):
    """expr with each scalar symbol replaced by the vector `vectors` gives it, operations elementwise.

    `square`: write h² as the elementwise square (diag(1 − h_t²)) instead of h ⊙ h.
    """
    expr = sp.sympify(expr)
    if expr in vectors:
        return vectors[expr]
    if expr == 1:
        return Ones()
    if expr == 0:
        return Zeros()
    if expr.is_Number:
        return matmul(Num(expr), Ones())
    if expr.is_Add:
        pos = [lift_elementwise(a, vectors, square) for a in expr.args if not a.could_extract_minus_sign()]
        negative = [lift_elementwise(-a, vectors, square) for a in expr.args if a.could_extract_minus_sign()]
        pos.sort(key=lambda n: isinstance(n, Ones))  # constants after vectors, as in Y − z and σ(Y) − z
        first = plus(*pos) if pos else Zeros()
        return sub(first, plus(*negative)) if negative else first
    if expr.is_Mul:
        coeff, rest = expr.as_coeff_Mul()
        body = hadamard(*(lift_elementwise(a, vectors, square) for a in sp.Mul.make_args(rest)))
        if coeff == 1:
            return body
        return neg(body) if coeff == -1 else matmul(Num(coeff), body)
    if expr.is_Pow and expr.exp == 2:
        base = lift_elementwise(expr.base, vectors, square)
        return Square(base) if square else hadamard(base, base)
    name = _BY_CLASS.get(type(expr))
    if name is not None:
        return apply(name, lift_elementwise(expr.args[0], vectors, square))
    raise SymrnnError(f"the matrix form cannot apply {expr} elementwise")


__all__ = ["lift_elementwise"]
