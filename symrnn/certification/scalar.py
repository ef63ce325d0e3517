"""Certify a derived gradient by checks that do not share its reasoning.

1. Brute force: `sympy.diff` of the loss with every step substituted (built-in functions
   only, none of symrnn's rules), compared at random points in 50-digit arithmetic, and
   exactly (expand / cancel) where that is cheap.
2. The δ-recursion, substituted back, equals the chain-rule expansion.
3. The general-T form, summed out at this T, equals the chain-rule expansion.

Beyond the written-out expansion, the δ-recursion itself is compared with the brute force. A
piecewise activation (relu) is decided per sign pattern, never on points that happen to miss one:
relu(a_t) is written η_t a_t and relu' = H(h_t) is η_t on both sides, with η_t symbols in the
exact comparison and every pattern (all 2^n for n ≤ 8 entries, else 64 random) at the points.
A gradient is certified only when every check ran and passed.
"""
from __future__ import annotations

import random
import itertools
from dataclasses import dataclass, replace
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from .. import naming
from ..derivation.scalar import at_steps, tree_size
from ..ir.scalar import Chain, Terms, to_reference
from ..derivation.unroll import Unrolled, real_symbol
from .certificate import DIGITS, Certificate, Check
from .matrix import reference_gradients

TOLERANCE = sp.Float(10) ** (20 - DIGITS)  # relative, far above 50-digit rounding, far below any real error
POINTS = 6
EXACT_MAX_MONOMIALS = 3_000   # beyond this, expand would only burn time: the numbers decide
BRUTE_MAX_OPS = 1500   # a larger substituted loss is not differentiated whole (see `chained`)
BRUTE_MAX_NODES = 20 * BRUTE_MAX_OPS   # counted with shared subtrees once per use, before count_ops walks them all
MAX_GENERAL_STEPS = 12   # the general-T form, summed out, has T(T+1)/2 products of up to T hops
MAX_PATTERN_ENTRIES = 8
RANDOM_PATTERNS = 64
EXACT_BRUTE_MAX_STEPS = 3   # substituted nested forms grow fast; beyond this, numbers decide
EXACT_MAX_STEPS = 4         # lecture-symbol polynomials: expand stays cheap up to here


@lru_cache(maxsize=64)
def points(u: Unrolled, with_patterns: bool = True) -> tuple[dict, ...]:
    """Deterministic random points: values of the inputs and of every quantity of every step, Y_t, L_t
    (for a piecewise cell one point per sign pattern, the pattern's η values included, unless not `with_patterns`)."""
    rng = random.Random(f"{u.spec.name}/{u.steps}")
    targets = {u.at(t).z for t in u.loss_steps}
    binary = u.spec.loss_rule.targets in ("binary", "class")
    out = []
    for pattern in (patterns(u, rng) if with_patterns else [None] * POINTS):
        point = {}
        for sym in u.inputs:
            if sym in targets and binary:
                point[sym] = sp.Integer(rng.randint(0, 1))
            else:
                point[sym] = sp.Float(rng.uniform(-1.2, 1.2), DIGITS)
        if pattern is not None:
            point.update(pattern)
        values = u.forward(point, with_pattern=pattern is not None)
        out.append({**values, **{real_symbol(sym): v for sym, v in values.items()}})   # the references are real
    return tuple(out)


def patterns(u: Unrolled, rng) -> list:
    """The sign patterns to impose ({η: 0 or 1}): all of them when few, else 64 random ones; [None] without relu."""
    etas = u.pattern_symbols
    if not etas:
        return [None] * POINTS
    if len(etas) <= MAX_PATTERN_ENTRIES:
        return [dict(zip(etas, map(sp.Integer, bits))) for bits in itertools.product((0, 1), repeat=len(etas))]
    return [{eta: sp.Integer(rng.randint(0, 1)) for eta in etas} for _ in range(RANDOM_PATTERNS)]


@lru_cache(maxsize=64)
def substituted_loss(u: Unrolled) -> sp.Expr | None:
    """L with every step substituted (relu written η a for a piecewise cell), or None when it is too large
    for `sympy.diff` to be the reference (a gated cell's grows fast with T)."""
    with_pattern = bool(u.pattern_symbols)
    defs, memo = dict(u.reference_definitions(with_pattern)), {}
    if sum(tree_size(u.at(t).L_def, defs, memo) for t in u.loss_steps) > BRUTE_MAX_NODES:
        return None   # sized before it is built: building it would cost as much (LSTM's grows like 5^T)
    L = u.reference_loss(with_pattern, real=True)
    return L if sp.count_ops(L) <= BRUTE_MAX_OPS else None


@lru_cache(maxsize=256)
def brute_force(u: Unrolled, wrt: sp.Symbol) -> sp.Expr:
    """∂L/∂wrt by `sympy.diff` of the fully substituted loss, in real symbols (see `real_symbol`)."""
    return sp.diff(substituted_loss(u), real_symbol(wrt))


def _real(expr: sp.Expr) -> sp.Expr:
    """expr in the real twins of its symbols, so that it meets the references on their terms."""
    return expr.xreplace({s: real_symbol(s) for s in expr.free_symbols if isinstance(s, sp.Symbol) and not s.is_real})


def chained(u: Unrolled, pts) -> dict:
    """{name: [∂L/∂name at each point]} by sympy.diff of each step's equations chained forward (50 digits): the
    reference where the substituted loss is too large (`certification.matrix.reference_gradients`, every size 1)."""
    spec = u.spec
    out: dict = {}
    with mpmath.workdps(DIGITS):
        for pt in pts:
            number = lambda sym: mpmath.mpf(str(pt[sym]))
            column = lambda sym: np.array([[number(sym)]], dtype=object)
            point = {p.name: (column(naming.param(p.name)) if p.shape else number(naming.param(p.name)))
                     for p in spec.cell.params}
            for s, init in zip(spec.cell.states, spec.cell.initial):
                point[init] = column(naming.at(s, 0))
            for t in range(1, u.steps + 1):
                point[(naming.INPUT, t)] = column(naming.at(naming.INPUT, t))
                if t in u.loss_steps:
                    point[(naming.TARGET, t)] = column(naming.at(naming.TARGET, t))
            pattern = None
            if u.pattern_symbols:
                pattern = {(str(eta.name)[:-len(str(t))], t): column(eta)
                           for eta in u.pattern_symbols for t in [int(naming.split_symbol(eta.name)[1])]}
            values = reference_gradients(spec, (1, 1, 1), u.steps, point, pattern, scalar=True)
            for name, entries in values.items():
                out.setdefault(name, []).append(next(iter(entries.values())))
    return out


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
    if expr.has(sp.exp, sp.log, sp.Max, sp.Heaviside) or monomials(expr) > EXACT_MAX_MONOMIALS:
        return False
    return sp.expand(expr) == 0


def monomials(expr: sp.Expr) -> int:
    """An upper bound on the number of terms `expand(expr)` makes (sums add, products multiply, powers raise)."""
    if isinstance(expr, (sp.Add, Terms)):
        return sum(monomials(a) for a in expr.args)
    if isinstance(expr, (sp.Mul, Chain)):
        n = 1
        for a in expr.args:
            n *= monomials(a)
        return n
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        return monomials(expr.base) ** int(expr.exp)
    return 1


def compare(name: str, ours: sp.Expr, reference, pts, exact_difference=None) -> Check:
    """ours against reference (an expression, or its values at the points) at the points, and exactly when an
    expression for ours − reference is given."""
    if isinstance(reference, sp.Basic):
        err = max_error(_real(ours), _real(reference), pts)
    else:
        err = _max_error_values(ours, reference, pts)
    shown = exact_difference is not None and is_zero_exactly(exact_difference)
    return Check(name, shown, len(pts), err, err <= TOLERANCE)


def _max_error_values(ours: sp.Expr, values, pts) -> float:
    args = sorted(ours.free_symbols, key=str)
    if any(x not in pts[0] for x in args):
        return float("inf")
    with mpmath.workdps(DIGITS):
        return float(max(abs(a - b) / max(1, abs(b)) for a, b in zip(_evaluate(ours, args, pts), values)))


def _delta_expanded(d, g) -> sp.Expr:
    """The δ-form of g with the recursion's quantities substituted back (d.deltas runs T … 1)."""
    env = {}
    for sym, expr in d.deltas:
        env[sym] = expr.doit().xreplace(env)
    return g.delta_form.doit().xreplace(env)


def certify(d, g) -> Certificate:
    """Run the checks on gradient g of derivation d."""
    u = d.unrolled
    wrt = naming.at(g.wrt[:-1], 0) if g.wrt in d.spec.cell.initial else naming.param(g.wrt)
    pts = points(u)
    piecewise = bool(u.pattern_symbols)
    imposed = u.imposed if piecewise else (lambda e: e)
    exact = d.steps <= EXACT_MAX_STEPS
    which = "equals" if d.expanded else "δ-recursion equals"
    if not d.expanded:   # the δ-recursion, run numerically at each point (its substituted form grows too fast)
        ours = by_recursion(d, g, pts)
        reference = chained(u, pts)[g.wrt] if substituted_loss(u) is None else \
            _values(brute_force(u, wrt), pts)
        checks = [Check(f"{which} sympy.diff of " + ("each step's equations chained forward"
                                                       if substituted_loss(u) is None else "the substituted loss"),
                        False, len(pts), _relative(ours, reference), _relative(ours, reference) <= TOLERANCE)]
        if g.general is not None:
            general = _values(imposed(at_steps(g.general, d.steps)), pts) if d.steps <= MAX_GENERAL_STEPS else None
            if general is not None:
                err = _relative(general, ours)
                checks.append(Check(f"general-T form at T = {d.steps} equals the δ-recursion", False, len(pts), err,
                                    err <= TOLERANCE))
        return Certificate(tuple(checks))
    ours = imposed(g.expr)
    if substituted_loss(u) is not None:
        brute = brute_force(u, wrt)
        reference_env = u.reference_env(with_pattern=piecewise, real=True)
        checks = [compare(f"{which} sympy.diff of the substituted loss", ours, brute, pts,
                          _real(to_reference(ours).xreplace(reference_env)) - brute
                          if d.steps <= EXACT_BRUTE_MAX_STEPS else None)]
    else:
        checks = [compare(f"{which} sympy.diff of each step's equations chained forward", ours,
                          chained(u, pts)[g.wrt], pts)]
    if d.expanded:
        delta = imposed(_delta_expanded(d, g))
        checks.append(compare("δ-recursion equals the expansion", delta, ours, pts, delta - ours if exact else None))
    if g.general is not None:
        general = imposed(at_steps(g.general, d.steps))
        against = "the expansion" if d.expanded else "the δ-recursion"
        checks.append(compare(f"general-T form at T = {d.steps} equals {against}", general, ours, pts,
                              general - ours if exact else None))
    return Certificate(tuple(checks))


def _values(expr: sp.Expr, pts) -> list:
    args = sorted(expr.free_symbols, key=str)
    return _evaluate(expr, args, pts)


def _relative(ours: list, reference: list) -> float:
    with mpmath.workdps(DIGITS):
        return float(max(abs(a - b) / max(1, abs(b)) for a, b in zip(ours, reference)))


def by_recursion(d, g, pts) -> list:
    """g's δ-form at each point, its quantities computed backwards one by one (never substituted symbolically)."""
    u = d.unrolled
    piecewise = bool(u.pattern_symbols)
    out = []
    with mpmath.workdps(DIGITS):
        for pt in pts:
            env = {s: sp.Float(v, DIGITS) if not isinstance(v, sp.Integer) else v for s, v in pt.items()}
            for sym, body in d.deltas:
                body = u.imposed(body.doit()) if piecewise else body.doit()
                env[sym] = sp.Float(body.xreplace(env).evalf(DIGITS), DIGITS)
            form = u.imposed(g.delta_form.doit()) if piecewise else g.delta_form.doit()
            out.append(mpmath.mpf(str(form.xreplace(env).evalf(DIGITS))))
    return out


def certify_scalar(d):
    """d with a Certificate on every gradient."""
    return replace(d, gradients=tuple(replace(g, certificate=certify(d, g)) for g in d.gradients))
