"""Evaluate an answer at a point in 50-digit arithmetic, refusing what has no real value.

An expression is compiled once into a list of operations, each distinct subexpression once
(common subexpressions shared), and every operation is guarded: a division by zero, the log
of a number ≤ 0, a non-integer power of a negative number, or a result beyond e^10000 raises
`Undefined` naming the subexpression, instead of returning inf, nan, a complex number, or
running for ever on exp(exp(exp(100))).
"""
from __future__ import annotations

from collections.abc import Mapping

import mpmath
import sympy as sp

from ..errors import SymrnnError
from ..ir.scalar import relu, sigmoid

DIGITS = 50
EXP_LIMIT = 10_000       # exp(x) is evaluated for x ≤ 10⁴ only (≈ 10^4343; far beyond any gradient)


class Undefined(ArithmeticError):
    """A subexpression has no real, finite value at this point."""

    def __init__(self, culprit: sp.Expr, reason: str):
        super().__init__(reason)
        self.culprit, self.reason = culprit, reason


def _exp(x):
    if x > EXP_LIMIT:
        raise OverflowError(f"exp of a number above {EXP_LIMIT}")
    return mpmath.exp(x)


def _log(x):
    if x <= 0:
        raise ValueError("log of a number ≤ 0" if x < 0 else "log(0) = −∞")
    return mpmath.log(x)


def _pow(b, e, integer: bool):
    if b == 0:
        if e < 0:
            raise ZeroDivisionError("division by zero")
        return mpmath.mpf(0) if e > 0 else mpmath.mpf(1)
    if b < 0 and not integer:
        raise ValueError("a non-integer power of a negative number is not real")
    if abs(e) * abs(mpmath.log(abs(b))) > EXP_LIMIT:
        raise OverflowError("a power beyond e^10000")
    return b ** (int(e) if integer else e)


def _cosh(x):
    return mpmath.cosh(x) if abs(x) <= EXP_LIMIT else _exp(abs(x))


def _sinh(x):
    return mpmath.sinh(x) if abs(x) <= EXP_LIMIT else _exp(abs(x))


def _sigmoid(x):
    if x >= 0:
        return 1 / (1 + mpmath.exp(-x))
    e = mpmath.exp(x) if x > -EXP_LIMIT else mpmath.mpf(0)
    return e / (1 + e)


def _heaviside(x, at_zero):
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0) if x < 0 else at_zero


FUNCTIONS = {
    sp.exp: _exp, sp.log: _log, sp.tanh: mpmath.tanh, sp.cosh: _cosh, sp.sinh: _sinh,
    sp.sech: lambda x: 1 / _cosh(x), sigmoid: _sigmoid, relu: lambda x: max(mpmath.mpf(0), x),
    sp.Abs: abs, sp.sign: mpmath.sign,
}


def _number(e: sp.Expr):
    with mpmath.workdps(DIGITS + 10):
        if e.is_Rational:
            return mpmath.mpf(e.p) / e.q
        value = e.evalf(DIGITS + 10)
        if not (value.is_real and value.is_finite):
            raise Undefined(e, f"{e} is not a finite real number")
        return mpmath.mpf(str(value))


class Program:
    """expr compiled to guarded 50-digit operations; call it with the values of its symbols."""

    def __init__(self, expr: sp.Expr):
        self.expr = expr
        self.slots: dict[sp.Expr, int] = {}
        self.constants: dict[int, object] = {}
        self.symbols: dict[sp.Symbol, int] = {}
        self.ops: list[tuple] = []          # (function, destination slot, argument slots, node)
        self._compile(expr)

    def _compile(self, root: sp.Expr) -> None:
        stack = [(root, False)]              # iterative post-order: deep answers never hit the recursion limit
        while stack:
            node, ready = stack.pop()
            if node in self.slots:
                continue
            if not ready and node.args and not node.is_Number:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in self.slots)
                continue
            slot = len(self.slots)
            if node.is_Symbol:
                self.symbols[node] = slot
            elif not node.args or node.is_Number:   # numbers, π, e; I and zoo are refused by _number
                self.constants[slot] = _number(node)
            else:
                self.ops.append((self._operation(node), slot, tuple(self.slots[a] for a in node.args), node))
            self.slots[node] = slot

    @staticmethod
    def _operation(node: sp.Expr):
        if node.is_Add:
            return lambda *xs: mpmath.fsum(xs)
        if node.is_Mul:
            return lambda *xs: mpmath.fprod(xs)
        if node.is_Pow:
            integer = bool(node.exp.is_Integer)
            return lambda b, e: _pow(b, e, integer)
        if isinstance(node, sp.Heaviside):
            if len(node.args) == 1:
                return lambda x: _heaviside(x, mpmath.mpf(0.5))
            return _heaviside
        if isinstance(node, (sp.Max, sp.Min)):
            pick = max if isinstance(node, sp.Max) else min
            return lambda *xs: pick(xs)
        f = FUNCTIONS.get(node.func)
        if f is None or len(node.args) != 1:
            raise SymrnnError(f"cannot evaluate {node.func.__name__}(…): not a function symrnn knows")
        return f

    def __call__(self, values: Mapping[sp.Symbol, object]):
        """The value at `values` (mpmath numbers), or `Undefined` naming the subexpression that has none."""
        slots = [None] * len(self.slots)
        for slot, c in self.constants.items():
            slots[slot] = c
        for sym, slot in self.symbols.items():
            if sym not in values:
                raise SymrnnError(f"no value for {sym}")
            slots[slot] = values[sym]
        with mpmath.workdps(DIGITS):
            for f, slot, args, node in self.ops:
                try:
                    value = f(*(slots[a] for a in args))
                except (ZeroDivisionError, ValueError, OverflowError) as e:
                    raise Undefined(node, str(e) or type(e).__name__) from None
                if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
                    raise Undefined(node, "not a finite real number")
                slots[slot] = value
        return slots[self.slots[self.expr]]


def value(expr: sp.Expr, values: Mapping[sp.Symbol, object]):
    """expr at one point (compiled for this call only)."""
    return Program(expr)(values)


__all__ = ["Program", "Undefined", "value", "DIGITS", "EXP_LIMIT"]
