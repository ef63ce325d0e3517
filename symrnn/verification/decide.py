"""Decide whether an answer equals ∂L/∂θ, on evidence that could fail.

Smooth answers (tanh, sigmoid, identity; no piecewise function): equal canonical forms are a
proof (`canonical.equal`); the numbers decide otherwise — 6 random points in 50-digit
arithmetic, where a_t, h_t, Y_t hold their forward values. Two analytic functions that differ
differ at a random point with probability 1.

Piecewise answers (relu, or H, relu, |·|, max of ±a_t or ±h_t in the answer): the value depends
on the sign pattern of the pre-activations, so the verdict is decided per pattern. With
η_t = H(a_t) ∈ {0, 1}, under a fixed pattern relu(a_t) = η_t a_t and relu'(a_t) = η_t, and
answer and gradient are analytic inside the pattern's region. So: equal canonical forms in
the η_t (multilinear, η_t² = η_t) are a proof for every pattern at once; and every one of the
2^|S| patterns of the steps S involved gets points built inside its region (x_t solved so that
a_t has the pattern's sign), where answer and gradient are compared in 50-digit arithmetic.
A wrong answer is wrong on some pattern's region, so it cannot pass. A piecewise function of
anything else (H(x1), |Y1|) has sign regions symrnn cannot enumerate: such an answer is only
accepted when its canonical form proves it.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import lru_cache

import mpmath
import sympy as sp

from ..errors import CheckFailed, SymrnnError
from . import canonical
from .model import Model
from .numeric import DIGITS, Program, Undefined
from .printing import text

TOLERANCE = mpmath.mpf(10) ** (20 - DIGITS)   # relative; far above 50-digit rounding, far below any real error
POINTS = 6                                      # random points for a smooth answer
MAX_PATTERN_POINTS = 128                         # 2 points per pattern up to 64 patterns, 1 beyond
SANITY_PATTERNS = 16                             # patterns still evaluated when the canonical form is a proof


@dataclass(frozen=True)
class Decision:
    """The verdict's evidence: equal or not, shown exactly or not, how, and a counterexample."""

    ok: bool
    exact: bool
    how: str
    point: dict | None = None            # inputs and forward values where yours ≠ true
    yours: object = None                 # mpmath values there
    true: object = None
    undefined: Undefined | None = None   # yours has no value at the point
    pattern: tuple[tuple[int, int], ...] = ()   # (t, η_t) of the counterexample's region


def _patterns(steps: tuple[int, ...]):
    return [dict(zip(steps, signs)) for signs in itertools.product((1, -1), repeat=len(steps))]


class Points:
    """The points a verdict is decided at, drawn lazily (a wrong answer stops at its first counterexample)
    and kept: POINTS random points, or 1–2 points inside each sign pattern of `steps`."""

    def __init__(self, m: Model, steps: frozenset[int]):
        self.m = m
        self.rng = random.Random(f"{m.spec.name}/{m.steps}/verify/{sorted(steps)}")
        self.patterns = _patterns(tuple(sorted(steps))) if steps else [{}]
        self.per = POINTS if not steps else 2 if 2 * len(self.patterns) <= MAX_PATTERN_POINTS else 1
        self.drawn: list[tuple[dict, dict]] = []

    def __len__(self) -> int:
        return len(self.patterns) * self.per

    def take(self, limit: int | None = None):
        """The first `limit` patterns' points (all when None), drawing those not drawn yet."""
        count = len(self) if limit is None else min(len(self), limit * self.per)
        for k in range(count):
            if k == len(self.drawn):
                pattern = self.patterns[k // self.per]
                pt = self.m.sample(self.rng, pattern)
                if pt is None:
                    raise SymrnnError(f"cannot decide: no point found where {_pattern_text(pattern)} "
                                      f"(a cell whose a_t is not linear in x_t)")
                self.drawn.append((pattern, pt))
            yield self.drawn[k]


@lru_cache(maxsize=256)
def points(m: Model, steps: frozenset[int]) -> Points:
    return Points(m, steps)


def _pattern_text(pattern) -> str:
    return ", ".join(f"a{t} {'>' if s > 0 else '<'} 0" for t, s in sorted(pattern.items()))


@lru_cache(maxsize=64)
def _program(expr: sp.Expr) -> Program:
    return Program(expr)


def decide(m: Model, param: str, yours: sp.Expr) -> Decision:
    """Whether yours = ∂L/∂param at every point of every sign pattern, and the evidence."""
    truth = m.gradient(param).expr
    steps = canonical.pattern_steps(m, yours) | canonical.pattern_steps(m, truth)
    # piecewise: a proof first (η canonical forms are small) spares evaluating all 2^|S| patterns; smooth: the
    # numbers first, and the proof only for an answer they do not refute
    exact = bool(steps) and canonical.equal(m, yours, truth) is True
    p_true, p_yours = _program(truth), Program(yours)
    pts = points(m, steps)
    seen = 0
    undefined, first_bad = [], None
    for pattern, pt in pts.take(SANITY_PATTERNS if exact and steps else None):
        seen += 1
        try:
            t = p_true(pt)
        except Undefined as u:
            raise CheckFailed(f"the true ∂L/∂{param} has no value at a point ({u.reason}): a bug in symrnn") from None
        try:
            y = p_yours(pt)
        except Undefined as u:
            undefined.append((pattern, pt, u))
            continue
        if abs(y - t) > TOLERANCE * max(1, abs(t)) and first_bad is None:
            first_bad = (pattern, pt, y, t)
            if not exact:
                break
    if undefined and len(undefined) == seen:
        u = undefined[0][2]
        raise SymrnnError(f"the answer has no value at any point: {_culprit(u)}")
    if first_bad is not None:
        if exact:
            raise CheckFailed(f"∂L/∂{param}: canonical forms agree but the numbers do not (a bug in symrnn)")
        pattern, pt, y, t = first_bad
        return Decision(False, False, _found(steps, pattern), pt, y, t, None, tuple(sorted(pattern.items())))
    if undefined:
        pattern, pt, u = undefined[0]
        return Decision(False, False, _found(steps, pattern), pt, None, p_true(pt), u, tuple(sorted(pattern.items())))
    if not steps:
        exact = canonical.equal(m, yours, truth) is True
    loose = canonical.uncovered(m, yours)
    if loose and not exact:
        shown = ", ".join(str(e) for e in loose[:3])
        raise SymrnnError(f"cannot decide: {shown} is piecewise in something other than a pre-activation a_t or a "
                          f"state h_t, whose sign regions symrnn cannot enumerate; write relu' as H(a_t)")
    return Decision(True, exact, _how(steps, exact, pts, seen))


def _culprit(u: Undefined) -> str:
    return f"{text(u.culprit)}: {u.reason}"


def _found(steps, pattern) -> str:
    """Where the counterexample was found."""
    return f"a counterexample in the sign pattern {_pattern_text(pattern)}" if steps else "a counterexample"


def _how(steps, exact: bool, pts: Points, seen: int) -> str:
    """How the verdict was decided, in one clause."""
    if not steps:
        how = f"{seen} random points at {DIGITS} digits"
        return f"exact identity (expand) and {how}" if exact else how
    names = ", ".join(f"a{t}" for t in sorted(steps))
    n = len(pts.patterns)
    if exact:
        return (f"decided per sign pattern of {names}: exact identity with η_t = H(a_t) ∈ {{0, 1}} for all {n} "
                f"patterns, and {seen} points at {DIGITS} digits in {min(n, SANITY_PATTERNS)} of them")
    return (f"decided per sign pattern of {names}: {pts.per} point{'s' if pts.per > 1 else ''} at {DIGITS} digits "
            f"in each of the {n} patterns")


__all__ = ["Decision", "decide", "points", "Points", "TOLERANCE"]
