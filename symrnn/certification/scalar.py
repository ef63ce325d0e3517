"""Certify a derived gradient by checks that do not share its reasoning.

1. Brute force: `sympy.diff` of the loss with every step substituted (built-in functions
   only, none of symrnn's rules), compared at random points in 50-digit arithmetic, and
   exactly (expand / cancel) where that is cheap.
2. The δ-recursion, substituted back, equals the chain-rule expansion.
3. The general-T form, summed out at this T, equals the chain-rule expansion.

A gradient is certified only when every check ran and passed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

import mpmath
import sympy as sp

from .. import naming
from ..derivation.scalar import at_steps
from ..ir.scalar import to_reference
from ..derivation.unroll import Unrolled

DIGITS = 50
TOLERANCE = sp.Float(10) ** (20 - DIGITS)  # relative, far above 50-digit rounding, far below any real error
POINTS = 6
EXACT_BRUTE_MAX_STEPS = 3   # substituted nested forms grow fast; beyond this, numbers decide
EXACT_MAX_STEPS = 4         # lecture-symbol polynomials: expand stays cheap up to here


@dataclass(frozen=True)
class Check:
    """One comparison: what against what, whether shown exactly, and the worst relative error at the points."""

    name: str
    exact: bool
    points: int
    max_error: float
    passed: bool

    def __str__(self):
        how = "exact identity; " if self.exact else ""
        verdict = "passed" if self.passed else "FAILED"
        return (f"{self.name}: {verdict} ({how}{self.points} random points at {DIGITS} digits, "
                f"max relative error {self.max_error:.1e})")


@dataclass(frozen=True)
class Certificate:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def __str__(self):
        return "; ".join(map(str, self.checks))


@lru_cache(maxsize=64)
def points(u: Unrolled) -> tuple[dict, ...]:
    """Deterministic random points: values of the inputs and of every intermediate a_t, h_t, Y_t, L_t."""
    rng = random.Random(f"{u.spec.name}/{u.steps}")
    targets = {u.at(t).z for t in u.loss_steps}
    binary = u.spec.loss in ("ce", "bce")
    out = []
    for _ in range(POINTS):
        point = {}
        for sym in u.inputs:
            if sym in targets and binary:
                point[sym] = sp.Integer(rng.randint(0, 1))
            else:
                point[sym] = sp.Float(rng.uniform(-1.2, 1.2), DIGITS)
        out.append(u.forward(point))
    return tuple(out)


@lru_cache(maxsize=256)
def brute_force(u: Unrolled, wrt: sp.Symbol) -> sp.Expr:
    """∂L/∂wrt by `sympy.diff` of the fully substituted loss."""
    return sp.diff(u.reference_loss(), wrt)


def _heaviside(x, at_zero=sp.S.Half):
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0) if x < 0 else mpmath.mpf(float(at_zero))


# symrnn's own functions and Heaviside, for the 50-digit evaluator (everything else is mpmath's).
MPMATH_NAMES = {"sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)), "relu": lambda x: max(mpmath.mpf(0), x),
                "Heaviside": _heaviside}


def _evaluate(expr: sp.Expr, args, pts) -> list:
    """expr at every point, in 50-digit arithmetic (common subexpressions computed once)."""
    f = sp.lambdify(args, expr, modules=[MPMATH_NAMES, "mpmath"], cse=True)
    with mpmath.workdps(DIGITS):
        return [f(*(mpmath.mpf(str(p[a])) for a in args)) for p in pts]


def max_error(a: sp.Expr, b: sp.Expr, pts) -> float:
    """The largest |a − b| / max(1, |b|) over the points."""
    args = sorted(a.free_symbols | b.free_symbols, key=str)
    if any(x not in pts[0] for x in args):
        return float("inf")  # a name the derivation should not contain
    with mpmath.workdps(DIGITS):
        errs = [abs(va - vb) / max(1, abs(vb)) for va, vb in zip(_evaluate(a, args, pts), _evaluate(b, args, pts))]
    return float(max(errs))


def is_zero_exactly(expr: sp.Expr) -> bool:
    """True when `expand` reduces expr to 0; False means "not shown", not "unequal" (numbers decide).

    Expand decides polynomial identities (in symbols and tanh atoms); with exp, log, Max or
    Heaviside inside it cannot, and it would only burn time, so those are left to the numbers.
    """
    if expr.has(sp.exp, sp.log, sp.Max, sp.Heaviside):
        return False
    return sp.expand(expr) == 0


def compare(name: str, ours: sp.Expr, reference: sp.Expr, pts, exact_difference=None) -> Check:
    """ours against reference at the points, and exactly when an expression for ours − reference is given."""
    err = max_error(ours, reference, pts)
    shown = exact_difference is not None and is_zero_exactly(exact_difference)
    return Check(name, shown, len(pts), err, err <= TOLERANCE)


def _delta_expanded(d, g) -> sp.Expr:
    """The δ-form of g with δ_1 … δ_T substituted back (d.deltas runs T … 1)."""
    env = {}
    for sym, expr in d.deltas:
        env[sym] = expr.doit().xreplace(env)
    return g.delta_form.doit().xreplace(env)


def certify(d, g) -> Certificate:
    """Run the three checks on gradient g of derivation d."""
    u = d.unrolled
    wrt = u.h0 if g.wrt == "h0" else naming.param(g.wrt)
    pts = points(u)
    ours = g.expr
    brute = brute_force(u, wrt)
    delta = _delta_expanded(d, g)
    general = at_steps(g.general, d.steps)
    exact = d.steps <= EXACT_MAX_STEPS
    return Certificate((
        compare("equals sympy.diff of the substituted loss", ours, brute, pts,
                to_reference(ours).xreplace(u.reference_env()) - brute if d.steps <= EXACT_BRUTE_MAX_STEPS else None),
        compare("δ-recursion equals the expansion", delta, ours, pts, delta - ours if exact else None),
        compare(f"general-T form at T = {d.steps} equals the expansion", general, ours, pts,
                general - ours if exact else None),
    ))
