"""SymPy nodes for the lecture's notation: Leibniz partials and the activations SymPy lacks.

They carry meaning only; how they look is decided by the printers in `printing.py`.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE


class Partial(sp.Expr):
    """The Leibniz symbol ∂num/∂den; `immediate` marks Pascanu et al.'s ∂⁺ (earlier states held fixed)."""

    is_commutative = True

    def __new__(cls, num, den, immediate=False):
        return super().__new__(cls, sp.sympify(num), sp.sympify(den), sp.true if immediate else sp.false)

    @property
    def num(self):
        return self.args[0]

    @property
    def den(self):
        return self.args[1]

    @property
    def immediate(self) -> bool:
        return bool(self.args[2])


class DerivativeOf(sp.Expr):
    """The operator ∂/∂den applied to an expression, kept unevaluated for display (∂/∂W tanh(a1))."""

    is_commutative = True

    def __new__(cls, expr, den):
        return super().__new__(cls, sp.sympify(expr), sp.sympify(den))

    @property
    def expr(self):
        return self.args[0]

    @property
    def den(self):
        return self.args[1]


class Chain(sp.Expr):
    """A product kept in the order it is written (∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W); `doit` multiplies it out."""

    is_commutative = True
    precedence = PRECEDENCE["Mul"]

    def __new__(cls, *factors):
        return super().__new__(cls, *map(sp.sympify, factors))

    def doit(self, **hints):
        return sp.Mul(*(a.doit(**hints) for a in self.args))


class Terms(sp.Expr):
    """A sum kept in the order it is written (the lecture's order of paths); `doit` adds it up."""

    is_commutative = True
    precedence = PRECEDENCE["Add"]

    def __new__(cls, *terms):
        return super().__new__(cls, *map(sp.sympify, terms))

    def doit(self, **hints):
        return sp.Add(*(a.doit(**hints) for a in self.args))


class sigmoid(sp.Function):
    """The logistic function σ(a) = 1 / (1 + e^{−a})."""

    @classmethod
    def eval(cls, a):
        if a.is_Float:  # numbers evaluate at their own precision, like tanh(Float) does
            return 1 / (1 + sp.exp(-a))

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, a, **kwargs):
        return 1 / (1 + sp.exp(-a))

    def _eval_evalf(self, prec):
        return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)


class relu(sp.Function):
    """The rectifier relu(a) = max(0, a)."""

    @classmethod
    def eval(cls, a):
        if a.is_Number:
            return sp.Max(0, a)

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], 0)

    def _eval_rewrite_as_Max(self, a, **kwargs):
        return sp.Max(0, a)

    def _eval_evalf(self, prec):
        return sp.Max(0, self.args[0])._eval_evalf(prec)


def to_reference(expr: sp.Expr) -> sp.Expr:
    """Rewrite symrnn's own functions into SymPy built-ins, so brute force does not lean on our rules."""
    return expr.replace(sigmoid, lambda a: 1 / (1 + sp.exp(-a))).replace(relu, lambda a: sp.Max(0, a))
