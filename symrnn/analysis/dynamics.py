"""State (dynamical) systems, the lecture's first section: h_t = f(h_{t-1}; θ), or driven, f(h_{t-1}, x_t; θ).

Pure functions between immutable values: a `StateSystem` is parsed from user text by the
whitelist parser (never `eval`), iterated in float64, searched for fixed points h* = f(h*; θ)
whose stability is read from the symbolic derivative f'(h*) (|f'| < 1, or the spectral radius
of the Jacobian ∂f/∂h for a vector state), and each fixed point is confirmed at 50 digits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..errors import SymrnnError
from ..ir.scalar import to_reference
from ..model.parsing import components, parse_expr

MAX_STEPS = 10_000_000
MAX_STARTS_STEPS = 10_000     # the extra starting points (limit independent of h0?) run at most this long
TAIL = 64                     # states kept at the end of every run, to recognise a fixed point or a cycle
MAX_PERIOD = 32
SETTLED = 1e-9                # relative tolerance: "has settled" on a fixed point or cycle
RESIDUAL = 1e-9               # relative tolerance: |f(h) - h| of an accepted fixed point in float64
MARGINAL = 1e-9               # |f'(h*)| within this of 1: the linearisation does not decide
DIGITS = 50                   # precision of the fixed point confirmation
MAX_FIXED_POINTS = 20         # more isolated fixed points than this: the ones nearest the end of the run
MAX_HELD_INPUTS = 8           # driven systems: fixed points for at most this many distinct held inputs
MAX_STATE = 32                # components of h (and of x): the Jacobian is k² symbolic derivatives
MAX_CONFIRMED_STATE = 8       # larger states: fixed points from float64 Newton only (SymPy's 50-digit LU grows as k³)

LECTURE_F = "sigmoid(theta*h)"
LECTURE_THETA = (0.5,)
LECTURE_H0 = (2.0,)
LECTURE_STEPS = 100


# -- the system -------------------------------------------------------------------------------

@dataclass(frozen=True)
class StateSystem:
    """h_t = f(h_{t-1}, x_t; θ): one SymPy expression per state component, θ held at numbers."""

    f: tuple[sp.Expr, ...]
    state: tuple[sp.Symbol, ...]
    theta: tuple[sp.Symbol, ...]
    theta_values: tuple[float, ...]
    inputs: tuple[sp.Symbol, ...]      # x (scalar) or x[0] … x[m-1]; empty when f cannot see an input
    text: str

    @property
    def k(self) -> int:
        return len(self.state)

    @property
    def driven(self) -> bool:
        """True when some component of f depends on the input x."""
        return any(e.has(*self.inputs) for e in self.f) if self.inputs else False

    def bound(self) -> tuple[sp.Expr, ...]:
        """f with θ replaced by its (exact decimal) values."""
        env = {s: sp.Rational(repr(v)) for s, v in zip(self.theta, self.theta_values)}
        return tuple(e.xreplace(env) for e in self.f)


def symbols(name: str, count: int) -> tuple[sp.Symbol, ...]:
    """`h` for one component, `h[0]` … `h[count-1]` for a vector; real, so that d|h|/dh = sign(h)."""
    if count == 1:
        return (sp.Symbol(name, real=True),)
    return tuple(sp.Symbol(f"{name}[{i}]", real=True) for i in range(count))


def _names(name: str, syms: tuple[sp.Symbol, ...]) -> tuple[dict, dict]:
    if len(syms) == 1:
        return {name: syms[0]}, {}
    return {}, {name: syms}


def system(f_text: str, theta_values, k: int = 1, m: int = 1) -> StateSystem:
    """Parse f (one expression, or a list of k for a vector state) in h, θ and x; θ has len(theta_values) entries."""
    theta_values = tuple(float(v) for v in theta_values)
    for option, n in (("--h0", k), ("--x", m)):
        if n > MAX_STATE:
            raise SymrnnError(f"{option}: {n} components; dynamics analyses states and inputs of at most {MAX_STATE} "
                              f"components (the Jacobian alone is k² symbolic derivatives)")
    h, th, x = symbols("h", k), symbols("theta", max(len(theta_values), 1)), symbols("x", m)
    names, indexed = {}, {}
    for name, syms in (("h", h), ("theta", th), ("x", x)):
        n, i = _names(name, syms)
        names.update(n)
        indexed.update(i)
    if len(th) == 1:
        names["θ"] = th[0]
    else:
        indexed["θ"] = th
    parts = components(f_text)
    if len(parts) != k:
        raise SymrnnError(f"--f {f_text!r}: {len(parts)} component(s) for a state of {k} component(s) "
                          f"(--h0 has {k} value(s); a vector f is written [f0, f1, …])")
    f = tuple(parse_expr(p, names, what=f"--f {p!r}" if k > 1 else "--f", indexed=indexed) for p in parts)
    if not theta_values:
        if any(e.has(*th) for e in f):
            raise SymrnnError("--f uses theta: give its value(s) with --theta")
        th = ()
    unused = [str(s) for s in th if not any(e.has(s) for e in f)]
    if unused:
        raise SymrnnError(f"--theta: f does not use {', '.join(unused)} ({len(th)} value(s) given; "
                          f"f uses {', '.join(str(s) for s in th if any(e.has(s) for e in f)) or 'no θ'})")
    return StateSystem(f=f, state=h, theta=th, theta_values=theta_values, inputs=x, text=f_text)


def jacobian(sys_: StateSystem) -> sp.Matrix:
    """∂f/∂h by `sympy.diff`, θ symbolic (for a scalar state the 1×1 matrix f'(h))."""
    return sp.Matrix([[sp.diff(e, s) for s in sys_.state] for e in sys_.f])


# -- numbers ----------------------------------------------------------------------------------

def _numeric(exprs, sys_: StateSystem):
    """A NumPy function of (h components…, x components…) for expressions in our own whitelist (θ bound)."""
    env = {s: sp.Float(repr(v), 17) for s, v in zip(sys_.theta, sys_.theta_values)}
    # a derivative may hold DiracDelta (of a Heaviside step): it is 0 wherever f is differentiable
    ref = [to_reference(e).xreplace(env).replace(sp.DiracDelta, lambda *a: sp.S.Zero) for e in exprs]
    try:
        fn = sp.lambdify([*sys_.state, *sys_.inputs], ref, modules="numpy")
    except Exception:      # noqa: BLE001 — SymPy has no NumPy form for it (only ever a derivative): nan
        fn = None

    def call(h: np.ndarray, x: np.ndarray) -> np.ndarray:
        """h: (n, k) states, x: (m,) input → (n, len(exprs)) values."""
        if fn is None:
            return np.full((h.shape[0], len(ref)), np.nan)
        with np.errstate(all="ignore"):
            out = fn(*h.T, *x)
            return np.stack([np.broadcast_to(np.asarray(o, dtype=float), h.shape[:1]) for o in out], axis=1)
    return call


@dataclass(frozen=True)
class Run:
    """One iteration from h0: the states it passed through (all of them, or only the last TAIL)."""

    h0: tuple[float, ...]
    states: np.ndarray            # (n, k): all N+1 states for the main run, else the tail
    first_step: int               # the step of states[0]
    blew_up: int | None           # first step whose state is not finite (inf or nan), else None
    steps: int
    nan: bool = False             # the state became nan (f undefined there), not ±inf (overflow)

    @property
    def last(self) -> np.ndarray:
        return self.states[-1]

    def at(self, t: int) -> np.ndarray:
        return self.states[t - self.first_step]


def iterate(sys_: StateSystem, starts, steps: int, xs=None, keep_all: int = 1) -> tuple[Run, ...]:
    """h_t = f(h_{t-1}, x_t; θ), t = 1..steps, from every start at once; the first keep_all runs keep every state.

    xs: (steps, m) inputs, or None for an autonomous system. A run that leaves the floats
    (overflow to ±inf, or nan where f is undefined) stops there; its last state is the last finite one.
    """
    if not 1 <= steps <= MAX_STEPS:
        raise SymrnnError(f"--steps {steps}: must be between 1 and {MAX_STEPS}")
    F = _numeric(sys_.f, sys_)
    h = np.array(starts, dtype=float).reshape(len(starts), sys_.k)
    m = len(sys_.inputs)
    x_none = np.zeros(m)
    hist = np.empty((steps + 1, keep_all, sys_.k))
    hist[0] = h[:keep_all]
    tail = np.empty((TAIL + 1, len(starts), sys_.k))
    tail[0] = h
    blew = [None if np.all(np.isfinite(r)) else 0 for r in h]
    nan = [False] * len(starts)
    alive = np.array([b is None for b in blew])
    for t in range(1, steps + 1):
        new = F(h, x_none if xs is None else xs[t - 1])
        bad = alive & ~np.all(np.isfinite(new), axis=1)
        for i in np.flatnonzero(bad):
            blew[i], nan[i] = t, bool(np.any(np.isnan(new[i])))
        alive &= ~bad
        h = np.where(alive[:, None], new, h)
        hist[t] = h[:keep_all]
        tail[t % (TAIL + 1)] = h
    n_tail = min(steps + 1, TAIL + 1)
    order = [(steps - n_tail + 1 + j) % (TAIL + 1) for j in range(n_tail)]
    runs = []
    for i, start in enumerate(starts):
        last = steps if blew[i] is None else blew[i] - 1
        if i < keep_all:
            runs.append(Run(tuple(map(float, start)), hist[: last + 1, i].copy(), 0, blew[i], steps, nan[i]))
        else:
            states = tail[order, i] if blew[i] is None else np.array([h[i]])
            runs.append(Run(tuple(map(float, start)), states, last - len(states) + 1, blew[i], steps, nan[i]))
    return tuple(runs)


def trajectory(sys_: StateSystem, h0, steps: int, xs=None) -> Run:
    """The one run from h0 that is reported, every state kept: the same recursion as `iterate`, a float loop
    (Python's math, ~0.3 µs a step) that hands a step to NumPy when math refuses it (overflow, log of a negative)."""
    if not 1 <= steps <= MAX_STEPS:
        raise SymrnnError(f"--steps {steps}: must be between 1 and {MAX_STEPS}")
    env = {s: sp.Float(repr(v), 17) for s, v in zip(sys_.theta, sys_.theta_values)}
    try:
        fast = sp.lambdify([*sys_.state, *sys_.inputs], [to_reference(e).xreplace(env) for e in sys_.f],
                           modules=["math"])
    except Exception:      # noqa: BLE001 — no math form: NumPy throughout
        fast = None
    slow = _numeric(sys_.f, sys_)
    m = len(sys_.inputs)
    inputs = [(0.0,) * m] * steps if xs is None else [tuple(map(float, row)) for row in xs]
    states = np.empty((steps + 1, sys_.k))
    h = tuple(map(float, h0))
    states[0] = h
    for t in range(1, steps + 1):
        x = inputs[t - 1]
        try:
            new = tuple(map(float, fast(*h, *x)))
        except Exception:  # noqa: BLE001 — OverflowError, math domain error, a function math lacks: NumPy decides
            new = tuple(map(float, slow(np.array([h]), np.array(x))[0]))
        if not all(map(math.isfinite, new)):
            return Run(tuple(map(float, h0)), states[:t].copy(), 0, t, steps, any(map(math.isnan, new)))
        states[t] = h = new
    return Run(tuple(map(float, h0)), states, 0, None, steps)


# -- fixed points ------------------------------------------------------------------------------

@dataclass(frozen=True)
class FixedPoint:
    """h* = f(h*; θ) with ρ = |f'(h*)| (spectral radius of ∂f/∂h at h* for a vector state)."""

    value: tuple[float, ...]
    derivative: tuple[tuple[float, ...], ...]     # ∂f/∂h at h* (1×1 for a scalar state)
    rho: float
    residual: float                               # max |f(h*) - h*| at DIGITS digits
    digits: tuple[str, ...]                       # h* to 20 significant digits, from the DIGITS-digit Newton
    confirmed: str                                # how the 50-digit check went, in words

    @property
    def stability(self) -> str:
        if math.isnan(self.rho):
            return "undetermined"
        if abs(self.rho - 1) <= MARGINAL:
            return "marginal"
        return "stable" if self.rho < 1 else "unstable"


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    return bool(np.all(np.abs(a - b) <= tol * (1 + np.abs(b))))


def _dedupe(points: list[np.ndarray], tol: float = 1e-7) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for p in points:
        if not any(_close(p, q, tol) for q in out):
            out.append(p)
    return out


def search_range(sys_: StateSystem, hints) -> tuple[float, float]:
    """[-R, R] with R = max(10, 2 max |hint|), capped at 1e6: the interval a scalar search covers."""
    finite = [min(abs(v), 1e6) for hint in hints for v in np.ravel(hint) if math.isfinite(v)]
    r = min(max(10.0, 2 * max(finite, default=0.0)), 1e6)
    return -float(r), float(r)


def _scalar_candidates(g, dg, lo: float, hi: float, hints) -> tuple[list[np.ndarray], list[tuple[float, float]]]:
    """Roots of g(h) = f(h) - h on [lo, hi]: sign changes on a grid, bisected, then Newton from near-touches and hints
    (kept only away from the bisected roots, one per cluster: Newton stalls early at a multiple root);
    and the intervals where g vanishes at three or more consecutive grid points (a continuum of fixed points)."""
    grid = np.unique(np.concatenate([np.linspace(lo, hi, 8001), np.linspace(-2, 2, 2001),
                                     *[np.linspace(float(np.ravel(c)[0]) - 1, float(np.ravel(c)[0]) + 1, 401)
                                       for c in hints if np.all(np.isfinite(c))]]))
    grid = grid[(grid >= lo) & (grid <= hi)] if lo < hi else grid
    vals = g(grid)
    zero = np.abs(vals) <= RESIDUAL * (1 + np.abs(grid))
    intervals, start = [], None
    for i, z in enumerate([*zero, False]):
        if z and start is None:
            start = i
        elif not z and start is not None:
            if i - start >= 3 and grid[i - 1] - grid[start] > 1e-6 * (1 + abs(grid[start])):
                intervals.append((float(grid[start]), float(grid[i - 1])))
            start = None
    roots: list[float] = list(grid[vals == 0])
    sign = np.sign(vals)
    for i in np.flatnonzero((sign[:-1] * sign[1:] < 0) & np.isfinite(vals[:-1]) & np.isfinite(vals[1:])):
        a, b, ga = grid[i], grid[i + 1], vals[i]
        for _ in range(200):
            mid = 0.5 * (a + b)
            if mid in (a, b):
                break
            gm = g(np.array([mid]))[0]
            if not math.isfinite(gm):
                break
            if gm == 0:
                a = b = mid
                break
            if np.sign(gm) == np.sign(ga):
                a, ga = mid, gm
            else:
                b = mid
        roots.append(0.5 * (a + b))
    # double roots (f touches the diagonal) show no sign change: Newton from local minima of |g| and the hints
    mag = np.abs(vals)
    near = [grid[i] for i in range(1, len(grid) - 1) if mag[i] <= mag[i - 1] and mag[i] <= mag[i + 1]
            and mag[i] < 1e-2 * (1 + abs(grid[i]))]
    touching: list[float] = []
    for h in [*near[:50], *[float(np.ravel(c)[0]) for c in hints if np.all(np.isfinite(c))]]:
        r = _newton(lambda v: g(v), lambda v: dg(v), np.array([h]))
        if r is not None and np.isfinite(r[0]) and not any(abs(r[0] - q) <= 1e-4 * (1 + abs(q)) for q in roots + touching):
            touching.append(float(r[0]))
    roots += touching
    return [np.array([r]) for r in roots], intervals


def _newton(g, jac, h: np.ndarray, iterations: int = 100) -> np.ndarray | None:
    """Newton's method on g(h) = 0 (g and jac take and give arrays); None when it does not converge."""
    for _ in range(iterations):
        gv = np.ravel(g(h))
        if not np.all(np.isfinite(gv)):
            return None
        if np.all(np.abs(gv) <= 1e-14 * (1 + np.abs(h))):
            return h
        J = np.atleast_2d(jac(h))
        try:
            step = np.linalg.solve(J, gv)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)):
            return None
        h = h - step
        if np.all(np.abs(step) <= 1e-15 * (1 + np.abs(h))):
            return h
    return h


def _confirm(sys_: StateSystem, held: dict, point: np.ndarray) -> tuple[np.ndarray, float, str, tuple[str, ...]]:
    """Refine h* with Newton at DIGITS digits (SymPy built-ins only, not symrnn's σ) and report the residual;
    `how` is empty when the refinement fails (wanders off, or |f(h*) - h*| ≥ 10^(10 - DIGITS)): then h* is dropped.

    For a scalar state, a sign change of f(h) - h across h* ± 1e-12 (|h*|+1) at DIGITS digits proves
    a root there (f is continuous near h*): the confirmation says so.
    """
    ref = [to_reference(e).xreplace(held) for e in sys_.bound()]
    g = sp.Matrix([e - s for e, s in zip(ref, sys_.state)])
    J = g.jacobian(list(sys_.state))
    vals = [sp.Float(repr(float(v)), DIGITS) for v in point]
    try:
        for _ in range(60):
            env = dict(zip(sys_.state, vals))
            gv = g.xreplace(env).evalf(DIGITS)
            Jv = J.xreplace(env).evalf(DIGITS)
            if not all(v.is_real and v.is_finite for v in gv) or not all(v.is_real for v in Jv):
                break
            step = Jv.LUsolve(gv)
            vals = [sp.Float(v - d, DIGITS) for v, d in zip(vals, step)]
            if max(abs(d) for d in step) < sp.Float(10) ** (-DIGITS + 5):
                break
    except (ValueError, ZeroDivisionError, TypeError, sp.polys.polyerrors.PolynomialError):
        pass
    env = dict(zip(sys_.state, vals))
    res = g.xreplace(env).evalf(DIGITS)
    residual = max((abs(complex(v)) for v in res), default=0.0)
    refined = np.array([float(v) for v in vals])
    if not np.all(np.isfinite(refined)) or not _close(refined, point, 1e-3) or not residual < 10.0 ** (10 - DIGITS):
        return point, float("nan"), "", ()
    tiny = 10.0 ** (5 - DIGITS)
    how = f"|f(h*) - h*| {'< ' + format(tiny, '.0e') if residual < tiny else '= ' + format(residual, '.1e')} at {DIGITS} digits"
    if sys_.k == 1:
        eps = sp.Float(1e-12, DIGITS) * (1 + abs(vals[0]))
        sides = [g[0].xreplace({sys_.state[0]: vals[0] + s * eps}).evalf(DIGITS) for s in (-1, 1)]
        if all(v.is_real for v in sides) and sides[0] * sides[1] < 0:
            how += f"; a root of f(h) - h lies within {float(eps):.0e} (sign change)"
    return refined, residual, how, tuple(sp.Float(v, DIGITS).evalf(20).__str__() for v in vals)


def fixed_points(sys_: StateSystem, hints, x_held=None) -> Held:
    """The fixed points h* = f(h*, x; θ) found near the hints (for a scalar state, all on the search range, and the
    intervals of fixed points); more than MAX_FIXED_POINTS are cut to the ones nearest the first hint.

    A scalar search is a sign-change scan of f(h) - h with bisection, plus Newton where f touches
    the diagonal; a vector search is Newton from the hints and a few spread starting points (not exhaustive).
    """
    m = len(sys_.inputs)
    x = np.zeros(m) if x_held is None else np.asarray(x_held, dtype=float).reshape(m)
    F = _numeric(sys_.f, sys_)
    Jexpr = jacobian(sys_)
    Jf = _numeric(list(Jexpr), sys_)
    k = sys_.k

    def g(h):
        h = np.asarray(h, dtype=float)
        if k == 1:
            return F(h.reshape(-1, 1), x)[:, 0] - h.reshape(-1)
        return F(h.reshape(1, k), x)[0] - h

    def dg(h):
        J = Jf(np.asarray(h, dtype=float).reshape(1, k), x)[0].reshape(k, k)
        return J - np.eye(k)

    hints = [np.asarray(c, dtype=float).reshape(k) for c in hints]
    if k == 1:
        span = search_range(sys_, hints)
        candidates, intervals = _scalar_candidates(lambda v: g(v), dg, *span, hints)
        intervals = [iv for iv in intervals if _flat(sys_, x_held_env(sys_, x), *iv)]
        inside = lambda r: any(a - 1e-9 * (1 + abs(a)) <= r <= b + 1e-9 * (1 + abs(b)) for a, b in intervals)  # noqa: E731
        candidates = [c for c in candidates if not inside(c[0])]
    else:
        span, intervals = None, []
        rng = np.random.default_rng(0)
        spread = [np.zeros(k), np.ones(k), -np.ones(k), *(3 * rng.standard_normal(k) for _ in range(24))]
        candidates = [r for s in [*hints, *spread] if np.all(np.isfinite(s))
                      for r in [_newton(g, dg, s.copy())] if r is not None]
    good = [c for c in candidates if np.all(np.isfinite(c)) and _close(g(c).reshape(k) + c, c, RESIDUAL)]
    held = x_held_env(sys_, x)
    if k <= MAX_CONFIRMED_STATE:
        found = _dedupe(good)
    else:   # no 50-digit Newton to merge them: float Newton stalls ~1e-5 from a root where ∂f/∂h has eigenvalue 1
        found = _dedupe(sorted(good, key=lambda c: float(np.max(np.abs(g(c))))), tol=1e-4)
    many = len(found) > MAX_FIXED_POINTS
    if many:
        found = sorted(found, key=lambda p: float(np.max(np.abs(p - hints[0]))))[:MAX_FIXED_POINTS]
    points, seen = [], []
    for c in sorted(found, key=lambda p: tuple(p)):
        if k <= MAX_CONFIRMED_STATE:
            refined, residual, how, digits = _confirm(sys_, held, c)
        else:
            refined, residual = c, float(np.max(np.abs(g(c))))
            how = (f"|f(h*) - h*| = {residual:.1e} in float64 (the {DIGITS}-digit check runs for states of at most "
                   f"{MAX_CONFIRMED_STATE} components)")
            digits = tuple(f"{v:.15g}" for v in c)
        if not how or any(_close(refined, q, 1e-12) for q in seen):
            continue      # not a fixed point at 50 digits (a near miss of float64), or one already listed
        seen.append(refined)
        J = Jf(refined.reshape(1, k), x)[0].reshape(k, k)
        rho = float(np.max(np.abs(np.linalg.eigvals(J)))) if np.all(np.isfinite(J)) else float("nan")
        if k == 1 and _jumps(g, float(refined[0])):
            rho, how = float("nan"), how + "; f jumps at h* (not continuous there)"
        points.append(FixedPoint(tuple(map(float, refined)), tuple(tuple(map(float, r)) for r in J), rho, residual, digits, how))
    label = () if x_held is None else tuple(map(float, x))
    return Held(label, tuple(points), span, many, tuple(intervals))


def x_held_env(sys_: StateSystem, x) -> dict:
    """The input symbols bound to the (exact decimal) held values."""
    return {s: sp.Rational(repr(float(v))) for s, v in zip(sys_.inputs, x)}


def _flat(sys_: StateSystem, held: dict, a: float, b: float) -> bool:
    """True when f(h) = h at DIGITS digits at five points across [a, b] (a continuum, not a flat multiple root)."""
    g = to_reference(sys_.bound()[0]).xreplace(held) - sys_.state[0]
    for v in np.linspace(a, b, 5):
        r = g.xreplace({sys_.state[0]: sp.Rational(repr(float(v)))}).evalf(DIGITS)
        if not (r.is_real and abs(r) < sp.Float(10) ** (10 - DIGITS)):
            return False
    return True


def _jumps(g, h: float) -> bool:
    """True when f is not continuous at h: f(h ± ε) differs from f(h) by far more than a slope could explain."""
    eps = 1e-10 * (1 + abs(h))
    near = g(np.array([h - eps, h, h + eps])) + np.array([h - eps, h, h + eps])
    return bool(np.any(~np.isfinite(near)) or np.max(np.abs(near - near[1])) > 1e-5 * (1 + abs(h)))


# -- what a run does in the end ------------------------------------------------------------------

@dataclass(frozen=True)
class Limit:
    """How a run ends: "fixed point" (then `target`), "cycle" (`period`), "growing" (|h| increasing past 1e6),
    "approaching" (not settled, but nearer the fixed point `target` at every one of the last steps),
    "diverges" (overflow to ±inf at `at_step`), "undefined" (f gave nan at `at_step`), or "not settled"."""

    kind: str
    value: tuple[float, ...]
    period: int = 0
    target: int | None = None      # index into the fixed points
    at_step: int | None = None     # the step where a run left the floats


def limit(run: Run, points: tuple[FixedPoint, ...]) -> Limit:
    """Classify a run's end by its last states: settled to relative SETTLED on a period p ≤ MAX_PERIOD, or not."""
    last = tuple(map(float, run.last))
    if run.blew_up is not None:
        kind = "undefined" if run.nan else "diverges"
        return Limit(kind, last, at_step=run.blew_up)
    tail = run.states[-(2 * MAX_PERIOD + 1):]
    for p in range(1, MAX_PERIOD + 1):
        window = tail[-(2 * p + 4):]          # the last 2p + 4 states repeat with period p
        if len(tail) >= 2 * p + 4 and _close(window[p:], window[:-p], SETTLED):
            if p == 1:
                target = next((i for i, fp in enumerate(points) if _close(np.array(fp.value), run.last, 1e-6)), None)
                return Limit("fixed point", last, 1, target)
            return Limit("cycle", last, p)
    norms = np.max(np.abs(tail), axis=1)
    if len(norms) > 2 and np.all(np.diff(norms) > 0) and norms[-1] >= 1e6:
        return Limit("growing", last)
    for i, fp in enumerate(points):
        gaps = np.max(np.abs(tail - np.array(fp.value)), axis=1)
        if len(gaps) > 2 and np.all(np.diff(gaps) < 0):
            return Limit("approaching", last, target=i)
    return Limit("not settled", last)


# -- the whole analysis ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Held:
    """Fixed points of f(·, x; θ) with the input held at x (x = () for an autonomous system)."""

    x: tuple[float, ...]
    points: tuple[FixedPoint, ...]
    span: tuple[float, float] | None
    many: bool = False                  # more fixed points than MAX_FIXED_POINTS: only the nearest are kept
    intervals: tuple[tuple[float, float], ...] = ()    # every h in [a, b] is a fixed point (scalar search grid)


@dataclass(frozen=True)
class Analysis:
    system: StateSystem
    steps: int
    xs: np.ndarray | None                       # (steps, m) inputs of a driven system
    main: Run
    main_limit: Limit
    held: tuple[Held, ...]                      # one entry for an autonomous system
    others: tuple[tuple[Run, Limit], ...]       # the extra starts
    other_steps: int
    derivative: sp.Matrix                       # ∂f/∂h, symbolic

    @property
    def points(self) -> tuple[FixedPoint, ...]:
        return self.held[-1].points if self.held else ()

    @property
    def independent_of_h0(self) -> bool | None:
        """True when every start (h0 and the others) settles on, or approaches, the same fixed point; None when driven."""
        if self.system.driven or not self.others:
            return None
        limits = [self.main_limit, *(lim for _, lim in self.others)]
        return all(lim.kind in ("fixed point", "approaching") and lim.target is not None for lim in limits) and \
            len({lim.target for lim in limits}) == 1


def default_starts(k: int, h0) -> list[tuple[float, ...]]:
    """Spread starting points besides h0: -10, -1, 0, 1, 10 (each component, for a vector state)."""
    out = [tuple([v] * k) for v in (-10.0, -1.0, 0.0, 1.0, 10.0)]
    return [s for s in out if not np.allclose(s, h0)]


def analyse(sys_: StateSystem, h0, steps: int = LECTURE_STEPS, xs=None, starts=None) -> Analysis:
    """Iterate from h0 (and, for an autonomous system, from other starts), find fixed points, classify all."""
    h0 = tuple(float(v) for v in h0)
    if len(h0) != sys_.k:
        raise SymrnnError(f"--h0: {len(h0)} value(s) for a state of {sys_.k} component(s)")
    if not all(map(math.isfinite, h0)):
        raise SymrnnError(f"--h0: {h0} is not finite")
    if sys_.driven and xs is None:
        raise SymrnnError("--f uses the input x: give the inputs with --x (one value per step)")
    if xs is not None:
        xs = np.asarray(xs, dtype=float).reshape(len(xs), -1)
        if xs.shape[1] != len(sys_.inputs):
            raise SymrnnError(f"--x: {xs.shape[1]} component(s) per step but f is written for {len(sys_.inputs)}")
        if len(xs) != steps:
            raise SymrnnError(f"--steps {steps}: --x gives {len(xs)} input(s), one per step")
    if sys_.driven and starts:
        raise SymrnnError("--starts: a driven system is run from h0 only (its limit follows the input)")
    starts = [] if sys_.driven else (default_starts(sys_.k, h0) if starts is None else [tuple(map(float, s)) for s in starts])
    for s in starts:
        if len(s) != sys_.k:
            raise SymrnnError(f"--starts: {s} has {len(s)} value(s) for a state of {sys_.k} component(s)")
    main = trajectory(sys_, h0, steps, xs)
    other_steps = min(steps, MAX_STARTS_STEPS)
    others = iterate(sys_, starts, other_steps, None, keep_all=0) if starts else ()
    hints = [main.last, *(r.last for r in others), h0]
    if xs is None:
        held = (fixed_points(sys_, hints),)
    else:
        recent = list(dict.fromkeys(tuple(map(float, row)) for row in xs[::-1]))[:MAX_HELD_INPUTS][::-1]
        held = tuple(fixed_points(sys_, hints, x) for x in recent)     # x_T last
    points = held[-1].points
    main_limit = limit(main, points if xs is None or _constant_tail(xs) else ())
    other_limits = tuple((r, limit(r, points)) for r in others)
    return Analysis(sys_, steps, xs, main, main_limit, held, other_limits, other_steps, jacobian(sys_))


def _constant_tail(xs: np.ndarray) -> bool:
    """True when the input is constant over the last TAIL steps (so settling means a fixed point of f(·, x_T))."""
    tail = xs[-(TAIL + 1):]
    return bool(np.all(tail == tail[-1]))
