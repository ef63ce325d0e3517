"""Certify matrix-form gradients by checks that do not share their reasoning.

1. Entry-wise against sympy.diff: one step of the cell written entry by entry (SymPy symbols
   W_0_1, …, SymPy's built-in functions, none of symrnn's rules), its Jacobians with respect to
   the previous state and every parameter entry taken by `sympy.diff`, and chained forward over
   the steps in 50-digit arithmetic (forward mode, where symrnn's derivation is reverse mode).
   Each matrix form, evaluated at random points in 50-digit arithmetic, must agree entry by entry
   to 30 digits. Sizes: the requested (k, m, o) when each is ≤ 3, else (2, 3, 2); T the requested
   steps up to 20 (the general-T forms at 20 beyond).
2. Numeric: every general-T form at k, m, o = 8, 5, 4 and T = 20 (and the written-out form at the
   requested T) against central differences of a NumPy forward pass along random directions, float64.

A piecewise activation (relu) is decided per sign pattern, never on points that happen to miss
one: every pre-activation entry's pattern η ∈ {0, 1} is imposed (relu(a) = η a, relu'(a) = η) on
both sides, all 2^n patterns when n ≤ 8 entries, else 64 random ones (said in the check's text).
A gradient is certified only when every check ran and passed.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from .. import naming
from ..derivation.matrix import MatrixDerivation, check_shapes, loss_gradient, output_at, substituted_size
from ..derivation.program import primal
from ..errors import SymrnnError
from ..ir.evaluate import Backend, evaluate, float_backend, mpmath_backend, reference_backend
from ..ir.nodes import Map, Vec, Zeros, rebuild, vec
from ..ir.primitives import FLOAT_MATH, entrywise_loss
from ..model.spec import ModelSpec
from .certificate import DIGITS, Certificate
from ..ir.nodes import hadamard

TOLERANCE = 1e-30
POINTS = 3
SMALL_DIMS = (2, 3, 2)
MAX_SMALL_SIZE = 3
MAX_SYMBOLIC_STEPS = 5   # the 50-digit forward-mode reference costs T × (every parameter entry); the numeric check covers any T
NUMERIC_DIMS = (8, 5, 4)
NUMERIC_STEPS = 20
NUMERIC_EPS = 1e-6
NUMERIC_TOLERANCE = 1e-6
ROUNDING_SAFETY = 100   # the forward pass's own rounding over T steps adds to the two subtracted losses'
DIRECTIONS = 3
MAX_PATTERN_ENTRIES = 8
RANDOM_PATTERNS = 64
MAX_SUBSTITUTED = 20_000   # nodes: the δ-substituted form is checked when it is at most this large


@dataclass(frozen=True)
class MatrixCheck:
    """One comparison of a matrix form against an independent computation."""

    name: str
    how: str
    max_error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(self.max_error <= self.tolerance)

    def __str__(self):
        verdict = "passed" if self.passed else "FAILED"
        return f"{self.name}: {verdict} ({self.how}, max relative error {self.max_error:.1e})"


def shapes(spec: ModelSpec, dims) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape (vectors as columns, gains ()) from its declared sizes, and the initial states'."""
    size = dict(zip("kmo", dims))
    out = {}
    for p in spec.cell.params:
        out[p.name] = (size[p.shape[0]], size[p.shape[1]] if len(p.shape) > 1 else 1) if p.shape else ()
    for name in spec.cell.initial:
        out[name] = (size["k"], 1)
    return out


# -- the forward pass (the model's meaning), in any number system ------------------------------

def piecewise(spec: ModelSpec) -> bool:
    """Whether the cell applies a piecewise function (relu), whose derivative is decided per sign pattern."""
    return any(m.function.piecewise for e in primal(spec.cell).equations for m in e.rhs.atoms(Map))


def forward(spec: ModelSpec, point: dict, steps: int, backend: Backend, k: int, pattern=None) -> dict:
    """The point with every vector of every step and Y_t added, by the cell's own equations.

    `pattern`: {(role, t): 0/1 column} imposing the sign pattern on each piecewise function's argument.
    """
    env = dict(point)
    for s, name in zip(spec.cell.states, spec.cell.initial):
        env[(s, 0)] = point[name]
    for t in range(1, steps + 1):
        env = forward_step(spec, env, t, backend, k, pattern)
    return env


def forward_step(spec: ModelSpec, env: dict, t: int, backend: Backend, k: int, pattern=None) -> dict:
    """env (which holds step t − 1 and x_t) with step t's vectors and Y_t added."""
    env = dict(env)
    for e in primal(spec.cell).equations:
        env[(e.name, t)] = evaluate(_imposed(e.rhs, e.name, pattern, t), env, backend, k, {naming.t: sp.Integer(t)})
    env[(naming.OUTPUT, t)] = evaluate(output_at(spec, naming.t), env, backend, k, {naming.t: sp.Integer(t)})
    return env


PATTERN = "eta"   # the role of an imposed sign pattern η


def _imposed(rhs, eq: str, pattern, t):
    """rhs with relu(a) written η ⊙ a (and H(·) written η), η the pattern's vector for this equation and step."""
    if pattern is None:
        return rhs
    env = {}
    for m in rhs.atoms(Map):
        if m.function.piecewise:
            eta = vec(f"{PATTERN}_{eq}", naming.t)
            env[m] = hadamard(eta, m.arg) if m.fname == "relu" else eta
    return rhs.xreplace(env)


def imposed_form(expr, spec: ModelSpec):
    """A derived form with its piecewise derivatives H(v_t) replaced by the pattern of the vector they belong to.

    relu'(a^e) is written H(e_t) (in the output); under the pattern it is η^e_t."""
    env = {}
    for m in expr.atoms(Map):
        if m.fname == "heaviside" and isinstance(m.arg, Vec):
            env[m] = vec(f"{PATTERN}_{_owner(spec, m.arg.role)}", m.arg.step)
        elif m.fname == "relu" and isinstance(m.arg, Vec):   # an unnamed relu(c_t) (o ⊙ relu(c)) read by a form
            env[m] = hadamard(vec(f"{PATTERN}_{_owner(spec, m.arg.role)}", m.arg.step), m.arg)
    return expr.xreplace(env) if env else expr


def _owner(spec: ModelSpec, role: str) -> str:
    """The equation whose relu a vector is the output or the argument of."""
    step = primal(spec.cell)
    for e in step.equations:
        for m in e.rhs.atoms(Map):
            if m.function.piecewise and (e.name == role or (isinstance(m.arg, Vec) and m.arg.role == role)):
                return e.name
    return role


def patterns(spec: ModelSpec, dims, steps: int, rng) -> tuple[list, str]:
    """Sign patterns to impose: every one when there are few entries, else random ones; and how, in words."""
    if not piecewise(spec):
        return [None], ""
    eqs = _piecewise_equations(spec)
    k = dims[0]
    slots = [(f"{PATTERN}_{e}", t) for e in eqs for t in range(1, steps + 1)]
    n = len(slots) * k
    if n <= MAX_PATTERN_ENTRIES:
        bits = list(itertools.product((0, 1), repeat=n))
        how = f"all {len(bits)} sign patterns"
    else:
        bits = [tuple(rng.randint(0, 1) for _ in range(n)) for _ in range(RANDOM_PATTERNS)]
        how = f"{RANDOM_PATTERNS} random sign patterns of {n} entries"
    out = []
    for b in bits:
        out.append({slot: np.array([[b[j * k + r]] for r in range(k)], dtype=object) for j, slot in enumerate(slots)})
    return out, how


# -- the independent reference: sympy.diff of each step, chained forward ------------------------

def symbol_name(name: str, index: tuple) -> str:
    """The entry symbol's name: W_0_1 for W[0, 1], g_ for a gain g."""
    return f"{name}_" + "_".join(map(str, index))


def _symbols(name, shape):
    if not shape:
        return sp.Symbol(symbol_name(name, ()))
    return np.array([[sp.Symbol(symbol_name(name, (i, j))) for j in range(shape[1])] for i in range(shape[0])],
                    dtype=object)


def _entries(M) -> list:
    """(index, symbol) of every entry of an array of symbols, or ((), symbol) for a gain."""
    if isinstance(M, sp.Symbol):
        return [((), M)]
    return [(idx, M[idx]) for idx in np.ndindex(M.shape)]


@dataclass(frozen=True)
class Local:
    """One equation written entry by entry, its value and its Jacobian by sympy.diff, as a numeric function.

    f(inputs) -> (value entries, ∂value/∂inputs), inputs the entries of the blocks it reads, in order:
    ("state", s) the previous states, ("vec", e) the equations before it, ("param", θ), ("x",), ("eta", e).
    """

    name: str
    blocks: tuple
    f: object


@dataclass(frozen=True)
class Reference:
    """A step of the cell, equation by equation, differentiated by sympy.diff: chained forward over the
    equations and the steps (forward mode) it gives ∂L/∂θ and ∂L/∂s_0 without symrnn's rules or its
    reverse-mode recursion. `loss(h, θ, z) -> (∂L_t/∂h_t, ∂L_t/∂θ)`."""

    wrt: tuple            # (name, index) of every parameter entry, then every initial-state entry
    params: tuple         # (name, number of entries) in θ's order
    equations: tuple      # Local per primal equation, in order
    loss: object


@lru_cache(maxsize=32)
def reference(spec: ModelSpec, dims, with_pattern: bool, scalar: bool = False) -> Reference:
    """The reference for a model at sizes dims; `scalar`: the scalar form's loss (every size 1, its two-class ce)."""
    k, m, o = dims
    size = {"m": m, "k": k, "o": o}
    params = {name: _symbols(name, shape) for name, shape in shapes(spec, dims).items()
              if name not in spec.cell.initial}
    theta = [sym for M in params.values() for _, sym in _entries(M)]
    t = naming.t
    symbols = {("x",): _symbols("x", (m, 1))}
    symbols.update({("state", s): _symbols(f"{s}prev", (k, 1)) for s in spec.cell.states})
    symbols.update({("param", n): M for n, M in params.items()})
    locals_ = []
    for eq in primal(spec.cell).equations:
        rhs = eq.rhs
        if with_pattern and any(mm.function.piecewise for mm in rhs.atoms(Map)):
            symbols[("eta", eq.name)] = _symbols(f"eta_{eq.name}", (k, 1))
            rhs = _imposed(rhs, eq.name, {}, 1)
        env = {n: M for (kind, *rest), M in symbols.items() if kind == "param" for n in rest}
        env[(naming.INPUT, 1)] = symbols[("x",)]
        for (kind, *rest), M in symbols.items():
            if kind == "state":
                env[(rest[0], 0)] = M
            elif kind == "vec":
                env[(rest[0], 1)] = M
            elif kind == "eta":
                env[(f"{PATTERN}_{rest[0]}", 1)] = M
        value = evaluate(rhs, env, reference_backend(), k, {t: sp.Integer(1)})
        value = list(np.broadcast_to(np.asarray(value, dtype=object), (k, 1)).ravel())
        blocks = tuple(key for key in symbols if key[0] != "x")
        inputs = [sym for key in (("x",),) + blocks for sym in np.asarray(symbols[key]).ravel()]
        read = [sym for key in blocks for sym in np.asarray(symbols[key]).ravel()]
        jac = [_gradient(v, read) for v in value]
        locals_.append(Local(eq.name, blocks, sp.lambdify([inputs], [value, jac], modules=["mpmath"], cse=True)))
        symbols[("vec", eq.name)] = _symbols(f"{eq.name}now", (k, 1))
    h = _symbols("hnow", (k, 1))
    z = _symbols("z", (o, 1))
    Y = _output_entries(spec, params, h)
    L = spec.loss_rule.apply(Y[0], z[0, 0]) if scalar else entrywise_loss(spec.loss_rule, Y, list(z.ravel()))
    loss = sp.lambdify([list(h.ravel()), theta, list(z.ravel())], [_gradient(L, list(h.ravel())), _gradient(L, theta)],
                       modules=["mpmath"], cse=True)
    wrt = tuple((name, idx) for name, M in params.items() for idx, _ in _entries(M))
    wrt += tuple((init, (i, 0)) for init in spec.cell.initial for i in range(k))
    counts = tuple((name, len(_entries(M))) for name, M in params.items())
    return Reference(wrt, counts, tuple(locals_), loss)


def reference_gradients(spec: ModelSpec, dims, steps: int, point: dict, pattern, scalar: bool = False) -> dict:
    """Every ∂L/∂entry at the point: each equation's Jacobian by sympy.diff, chained forward in mpmath.

    D[v] = ∂v/∂(θ, s_0) for every vector v of the current step: D[e] = Σ_u (∂e/∂u) D[u] + ∂e/∂θ."""
    k, m, o = dims
    ref = reference(spec, dims, pattern is not None, scalar)
    n_theta = sum(n for _, n in ref.params)
    n_all = n_theta + k * len(spec.cell.states)
    offsets, at = {}, 0
    for name, n in ref.params:
        offsets[name] = at
        at += n
    theta = [v for name, _ in ref.params
             for v in (np.asarray(point[name]).ravel() if np.ndim(point[name]) else [point[name]])]
    values = {("state", s): list(point[init].ravel()) for s, init in zip(spec.cell.states, spec.cell.initial)}
    zero = mpmath.mpf(0)
    D = {}
    for j, s in enumerate(spec.cell.states):
        D[("state", s)] = np.full((k, n_all), zero, dtype=object)
        for i in range(k):
            D[("state", s)][i, n_theta + j * k + i] = mpmath.mpf(1)
    grad = np.full(n_all, zero, dtype=object)
    widths = dict(ref.params)
    for t in range(1, steps + 1):
        now = {}
        for local in ref.equations:
            inputs = list(point[(naming.INPUT, t)].ravel())
            for key in local.blocks:
                if key[0] == "state":
                    inputs += values[key]
                elif key[0] == "vec":
                    inputs += now[key]
                elif key[0] == "param":
                    inputs += list(np.asarray(point[key[1]]).ravel()) if np.ndim(point[key[1]]) else [point[key[1]]]
                else:
                    inputs += list(pattern[(f"{PATTERN}_{key[1]}", t)].ravel())
            value, jac = local.f(inputs)
            jac = np.array(jac, dtype=object).reshape(k, -1)
            total = np.full((k, n_all), zero, dtype=object)
            col = 0
            for key in local.blocks:
                width = widths[key[1]] if key[0] == "param" else k
                J = jac[:, col:col + width]
                if key[0] in ("state", "vec"):
                    total += J @ D[key]
                elif key[0] == "param":
                    total[:, offsets[key[1]]:offsets[key[1]] + width] += J
                col += width
            now[("vec", local.name)] = list(value)
            D[("vec", local.name)] = total
        for s in spec.cell.states:
            values[("state", s)] = now[("vec", s)]
            D[("state", s)] = D[("vec", s)]
        if t in spec.loss_steps(steps):
            z = point[(naming.TARGET, t)]
            zs = ([mpmath.mpf(int(z == i)) for i in range(o)] if spec.loss_rule.targets == "class" and not scalar
                  else list(np.asarray(z).ravel()))
            gh, gth = ref.loss(values[("state", naming.STATE)], theta, zs)
            grad += np.array(gh, dtype=object) @ D[("state", naming.STATE)]
            grad[:n_theta] += np.array(gth, dtype=object)
    out: dict = {}
    for (name, idx), value in zip(ref.wrt, grad):
        out.setdefault(name, {})[idx] = value
    return out


def _gradient(f, variables) -> list:
    """[∂f/∂v for v in variables] by sympy.diff (0 at once for a variable f does not contain)."""
    free = f.free_symbols
    return [sp.diff(f, v) if v in free else sp.Integer(0) for v in variables]


def _piecewise_equations(spec: ModelSpec) -> list[str]:
    return [e.name for e in primal(spec.cell).equations if any(m.function.piecewise for m in e.rhs.atoms(Map))]


def _output_entries(spec: ModelSpec, params, h) -> list:
    """Y's entries in the entries of h (the state just computed) and the parameters."""
    k = h.shape[0]
    env = {**params, (naming.STATE, 1): h}
    return list(evaluate(output_at(spec, naming.t), env, reference_backend(), k, {naming.t: sp.Integer(1)}).ravel())


# -- points --------------------------------------------------------------------------------

def draw(rng, spec, dims, steps, make):
    """Random parameters, initial states, inputs and targets (class indices for ce, 0/1 for bce)."""
    k, m, o = dims
    point = {}
    matrices = {p.name for p in spec.cell.params if len(p.shape) == 2}
    targets = spec.loss_rule.targets
    for name, shape in shapes(spec, dims).items():
        scale = 1 / np.sqrt(k) if name in matrices else 1  # keep W h_{t-1}, U x_t, V h_t of order 1
        point[name] = np.array(make(rng.uniform(-1.2, 1.2)), dtype=object) if not shape else \
            np.array([[make(rng.uniform(-1.2, 1.2) * scale) for _ in range(shape[1])] for _ in range(shape[0])],
                     dtype=object)
    for t in range(1, steps + 1):
        point[(naming.INPUT, t)] = np.array([[make(rng.uniform(-1.2, 1.2))] for _ in range(m)], dtype=object)
        if targets == "class":
            point[(naming.TARGET, t)] = rng.randrange(o)
        elif targets == "binary":
            point[(naming.TARGET, t)] = np.array([[make(rng.randint(0, 1))] for _ in range(o)], dtype=object)
        else:
            point[(naming.TARGET, t)] = np.array([[make(rng.uniform(-1.2, 1.2))] for _ in range(o)], dtype=object)
    return point


def run_recursion(rec, env: dict, steps: int, backend: Backend, k: int) -> dict:
    """env with the recursion's vectors at T … 1 added, backwards from its start.

    A start at T + 1 is zero: it is substituted before evaluating step T, so terms it multiplies (which may
    read forward values at T + 1 that do not exist) drop out."""
    env = dict(env)
    T, t = naming.T, naming.t
    start = int(rec.start_step.xreplace({T: steps}))
    zero_start = start == steps + 1
    if not zero_start:
        for lhs, body in rec.starts:
            value = evaluate(body, env, backend, k, {T: sp.Integer(steps)})
            env[(lhs.role, start)] = _column(value, (k, 1), backend)
    for n in range(start - 1, 0, -1):
        for lhs, body in rec.equations:
            if zero_start and n == steps:
                body = rebuild(body.xreplace({vec(v.role, t + 1): Zeros() for v, _ in rec.starts}))
            value = evaluate(body, env, backend, k, {t: sp.Integer(n), T: sp.Integer(steps)})
            env[(lhs.role, n)] = _column(value, (k, 1), backend)
    return env


def with_deltas(deltas, env, backend, k) -> dict:
    """env with the δ form's vectors at T … 1, written out."""
    env = dict(env)
    for sym, body in deltas:
        env[(sym.role, int(sym.step))] = evaluate(body, env, backend, k)
    return env


def _column(value, shape, backend):
    if isinstance(value, (int, float)) and value == 0:
        return backend.zeros(shape)
    return value


def _as_shape(value, shape, backend):
    if isinstance(value, (int, float)) and value == 0:
        return backend.zeros(shape)
    return np.asarray(value).reshape(shape)


def _relative_error(ours, reference) -> float:
    ours, reference = np.asarray(ours, dtype=object).ravel(), np.asarray(reference, dtype=object).ravel()
    worst = 0.0
    for a, b in zip(ours, reference):
        worst = max(worst, float(abs(a - b) / max(1, abs(b))))
    return worst


# -- the checks ----------------------------------------------------------------------------

def _forms(md: MatrixDerivation, g, steps):
    """(label, expression, recursion or 'deltas' or None, T) of every form checked at `steps` steps."""
    out = [(f"{f.name} form", f.expr, f.recursion, steps) for f in g.forms]
    if steps == md.steps:
        out.append(("written out at the given T", g.at_T, "deltas", steps))
        if substituted_size(g.at_T, g.deltas) <= MAX_SUBSTITUTED:   # a gated cell's grows like 3^T
            out.append(("δ substituted", g.expr, None, steps))
    return out


class Values:
    """The forms' values at one point: each recursion run once and shared by every gradient that reads it."""

    def __init__(self, md: MatrixDerivation, env: dict, steps: int, backend: Backend, k: int, pattern):
        self.md, self.env, self.steps, self.backend, self.k, self.pattern = md, env, steps, backend, k, pattern
        self.envs: dict = {}

    def _env(self, how) -> tuple[dict, dict]:
        key = how if how is None or how == "deltas" else how.name
        if key not in self.envs:
            md, env, pattern = self.md, self.env, self.pattern
            if how == "deltas":
                env = with_deltas([(lhs, imposed_form(b, md.spec) if pattern else b) for lhs, b in md.deltas],
                                  env, self.backend, self.k)
            elif how is not None:
                if pattern:
                    how = replace(how, equations=tuple((l, imposed_form(b, md.spec)) for l, b in how.equations),
                                  starts=tuple((l, imposed_form(b, md.spec)) for l, b in how.starts))
                env = run_recursion(how, env, self.steps, self.backend, self.k)
            self.envs[key] = (env, {})
        return self.envs[key]

    def __call__(self, expr, how):
        env, memo = self._env(how)
        if self.pattern:
            expr = imposed_form(expr, self.md.spec)
        return evaluate(expr, env, self.backend, self.k, {naming.T: sp.Integer(self.steps)}, memo)


def _fits(spec: ModelSpec, dims) -> bool:
    try:
        check_shapes(spec, dims)
    except SymrnnError:
        return False
    return dims[2] >= spec.loss_rule.min_outputs


def _small_dims(md: MatrixDerivation) -> tuple[int, int, int]:
    """The requested sizes when each is ≤ 3, else (2, 3, 2), or equal sizes when the cell ties them (Y = h)."""
    candidates = ([md.dims] if max(md.dims) <= MAX_SMALL_SIZE else []) + [SMALL_DIMS, (2, 2, 2), (3, 3, 3)]
    return next((d for d in candidates if _fits(md.spec, d)), md.dims)


def _numeric_dims(md: MatrixDerivation) -> tuple[int, int, int]:
    """(8, 5, 4), or the requested sizes scaled up to k ≥ 8 when the cell ties sizes together."""
    factor = -(-NUMERIC_DIMS[0] // md.dims[0])
    candidates = [NUMERIC_DIMS, tuple(n * factor for n in md.dims), (8, 8, 8)]
    return next((d for d in candidates if _fits(md.spec, d)), md.dims)


def componentwise(md: MatrixDerivation) -> dict[str, list[MatrixCheck]]:
    """Check 1: every form entry by entry against the sympy.diff reference, at 50 digits (per sign pattern for relu)."""
    spec = md.spec
    dims = _small_dims(md)
    k = dims[0]
    steps = min(md.steps, MAX_SYMBOLIC_STEPS)
    rng = random.Random(f"{spec.name}/{dims}/{steps}")
    pats, pattern_how = patterns(spec, dims, steps, rng)
    runs = pats if pats != [None] else [None] * POINTS   # one random point per sign pattern
    backend = mpmath_backend()
    errors: dict = {}
    with mpmath.workdps(DIGITS):
        for pattern in runs:
            point = draw(rng, spec, dims, steps, lambda v: mpmath.mpf(v))
            if pattern:
                point.update(pattern)
            env = forward(spec, point, steps, backend, k, pattern)
            reference_values = reference_gradients(spec, dims, steps, point, pattern)
            value = Values(md, env, steps, backend, k, pattern)
            for g in md.gradients:
                shape = shapes(spec, dims)[g.wrt]
                want = np.empty(shape, dtype=object)
                for idx in np.ndindex(shape):
                    want[idx] = reference_values[g.wrt][idx]
                for label, expr, how, T in _forms(md, g, steps):
                    got = _as_shape(value(expr, how), shape, backend)
                    key = (g.wrt, label)
                    errors[key] = max(errors.get(key, 0.0), _relative_error(got, want))
    points = f"{pattern_how}, a random point each" if pattern_how else f"{POINTS} random points"
    how = (f"entry-wise vs sympy.diff of each step's equations chained forward, (k, m, o) = {dims}, T = {steps}, "
           f"{points}, {DIGITS} digits")
    out: dict = {}
    for (name, label), err in errors.items():
        out.setdefault(name, []).append(MatrixCheck(label, how, err, TOLERANCE))
    return out


# -- check 2: central differences of a forward pass ---------------------------------------------

def loss_value(spec: ModelSpec, point: dict, steps: int, backend: Backend, math, k: int, pattern=None):
    """L = Σ_t L_t at the point, by the cell's forward equations and the loss record's numeric form."""
    env = forward(spec, point, steps, backend, k, pattern)
    return sum(spec.loss_rule.numeric(env[(naming.OUTPUT, t)], point[(naming.TARGET, t)], math)
               for t in spec.loss_steps(steps))


def directional_differences(spec, dims, point, steps, directions: dict) -> dict:
    """For every parameter and initial state θ and each direction v: (L(θ + εv) − L(θ − εv)) / 2ε ≈ ⟨∂L/∂θ, v⟩."""
    backend, k = float_backend(), dims[0]
    out = {}
    for name, vs in directions.items():
        base = point[name]
        diffs = []
        for v in vs:
            up = loss_value(spec, {**point, name: base + NUMERIC_EPS * v}, steps, backend, FLOAT_MATH, k)
            down = loss_value(spec, {**point, name: base - NUMERIC_EPS * v}, steps, backend, FLOAT_MATH, k)
            diffs.append((up - down) / (2 * NUMERIC_EPS))
        out[name] = diffs
    return out


def numeric(md: MatrixDerivation) -> dict[str, list[MatrixCheck]]:
    """Check 2: the general-T forms at (8, 5, 4), T = 20, and the written-out form at the given T, against
    central differences of the forward pass along random directions (a wrong entry shows in every direction
    that is not orthogonal to its error, so in each of them with probability 1)."""
    spec = md.spec
    dims = _numeric_dims(md)
    k = dims[0]
    backend = float_backend()
    out: dict = {}
    for steps in sorted({NUMERIC_STEPS, md.steps}):
        rng = random.Random(f"{spec.name}/numeric/{steps}")
        point = draw(rng, spec, dims, steps, float)
        point = {key: (v.astype(float) if isinstance(v, np.ndarray) else v) for key, v in point.items()}
        np_rng = np.random.default_rng(rng.randrange(2**32))
        directions = {}
        for name, shape in shapes(spec, dims).items():
            vs = [np_rng.normal(size=shape) for _ in range(DIRECTIONS)] if shape else [1.0]
            directions[name] = [v / np.linalg.norm(v) if shape else v for v in vs]
        fd = directional_differences(spec, dims, point, steps, directions)
        env = forward(spec, point, steps, backend, k)
        # a central difference carries the rounding of the two losses it subtracts, about ε|L|/h: at large T
        # (|L| in the thousands) that is above the tolerance itself, so errors are measured against it too
        rounding = ROUNDING_SAFETY * np.finfo(float).eps * abs(loss_value(spec, point, steps, backend, FLOAT_MATH, k)) \
            / (NUMERIC_EPS * NUMERIC_TOLERANCE)
        value = Values(md, env, steps, backend, k, None)
        how = (f"vs central differences of a NumPy forward pass along {DIRECTIONS} random directions, "
               f"(k, m, o) = {dims}, T = {steps}, float64")
        for g in md.gradients:
            shape = shapes(spec, dims)[g.wrt]
            forms = [(f"{f.name} form", f.expr, f.recursion) for f in g.forms] if steps == NUMERIC_STEPS else []
            if steps == md.steps:
                forms.append(("written out at the given T", g.at_T, "deltas"))
            for label, expr, how_ in forms:
                got = np.asarray(value(expr, how_), dtype=float)
                got = np.broadcast_to(got, shape) if got.ndim == 0 else got.reshape(shape)
                err = max(abs(float(np.sum(got * v)) - d) / max(1.0, abs(d), rounding)
                          for v, d in zip(directions[g.wrt], fd[g.wrt]))
                out.setdefault(g.wrt, []).append(MatrixCheck(label, how, err, NUMERIC_TOLERANCE))
    return out


def certify_matrix(md: MatrixDerivation) -> MatrixDerivation:
    """md with a Certificate on every gradient: the component-wise checks and the numeric ones."""
    parts = [componentwise(md), numeric(md)]
    grads = tuple(replace(g, certificate=Certificate(tuple(c for part in parts for c in part.get(g.wrt, []))))
                  for g in md.gradients)
    return replace(md, gradients=grads)


__all__ = ["certify_matrix", "componentwise", "numeric", "loss_value", "directional_differences",
           "MatrixCheck", "reference_gradients", "forward", "forward_step", "draw", "run_recursion", "with_deltas",
           "shapes", "patterns"]
