"""Certify matrix-form gradients by checks that do not share their reasoning.

1. Component-wise: the unrolled loss is built entry by entry (SymPy matrices of symbols W_0_1, …,
   the registry's reference functions, none of the matrix IR) and differentiated with
   `sympy.diff` with respect to every entry of every parameter. Each matrix form, evaluated
   at random points in 50-digit arithmetic, must agree entry by entry to 30 digits. Sizes:
   the requested (k, m, o) when each is ≤ 3, else (2, 3, 2); T the requested steps when
   T ≤ 3 (the brute force grows like k^T), else the general-T forms at T = 3 and, at the
   requested T, every form against 50-digit central differences (step 1e-20) of the same
   entry-wise loss evaluated in mpmath (check 1b).
2. Numeric: every general-T form at k, m, o = 8, 5, 4 and T = 20 (and the written-out form at
   the requested T) against central differences of a plain NumPy forward pass, float64.

A gradient is certified only when every check ran and passed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import sympy as sp

from .. import naming
from .scalar import Certificate
from ..derivation.matrix import MatrixDerivation, matrix_step
from ..ir.evaluate import Backend, evaluate, float_backend, mpmath_backend, mul
from ..model.spec import ModelSpec

DIGITS = 50
TOLERANCE = 1e-30
POINTS = 3
SMALL_DIMS = (2, 3, 2)
MAX_SMALL_SIZE = 3
MAX_SYMBOLIC_STEPS = 3
HP_EPS = "1e-20"
HP_TOLERANCE = 1e-25
NUMERIC_DIMS = (8, 5, 4)
NUMERIC_STEPS = 20
NUMERIC_EPS = 1e-6
NUMERIC_TOLERANCE = 1e-6


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
    """Each parameter's shape (vectors as columns, gains ()) from its declared sizes, and h0's."""
    size = dict(zip("kmo", dims))
    out = {}
    for p in spec.cell.params:
        out[p.name] = (size[p.shape[0]], size[p.shape[1]] if len(p.shape) > 1 else 1) if p.shape else ()
    out["h0"] = (size["k"], 1)
    return out


# -- the independent reference: component-wise loss and sympy.diff --------------------------

def affine(expr: sp.Expr, values: dict, matmul):
    """The value of a cell's affine map (W h_prev + U x + b) with matrices for its symbols, read off the spec.

    Each term is a parameter, or a parameter times a placeholder (h_prev, x, h); the placeholder goes right.
    """
    placeholders = {naming.PREV, naming.X, naming.CUR}
    total = None
    for term in sp.Add.make_args(sp.expand(expr)):
        factors = sorted(sp.Mul.make_args(term), key=lambda f: f in placeholders)
        value = values[factors[0]]
        for f in factors[1:]:
            value = matmul(value, values[f])
        total = value if total is None else total + value
    return total


def symbol_name(name: str, index: tuple) -> str:
    """The entry symbol's name: W_0_1 for W[0, 1], g_ for a gain g."""
    return f"{name}_" + "_".join(map(str, index))


def _symbols(name, shape):
    if not shape:
        return sp.Symbol(symbol_name(name, ()))
    return sp.Matrix(*shape, lambda i, j: sp.Symbol(symbol_name(name, (i, j))))


def _entries(M) -> list:
    """(index, symbol) of every entry of a matrix of symbols, or ((), symbol) for a gain."""
    if isinstance(M, sp.Symbol):
        return [((), M)]
    return [((i, j), M[i, j]) for i in range(M.rows) for j in range(M.cols)]


@lru_cache(maxsize=32)
def reference_gradients(spec: ModelSpec, dims, steps):
    """(input symbols, {param: matrix of sympy.diff results}) of the component-wise loss."""
    k, m, o = dims
    act = spec.activation.reference
    P = {name: _symbols(name, shape) for name, shape in shapes(spec, dims).items()}
    theta = {naming.param(name): M for name, M in P.items() if name != "h0"}
    h = P["h0"]
    inputs = [sym for name in P for _, sym in _entries(P[name])]
    L = sp.Integer(0)
    for t in range(1, steps + 1):
        x = _symbols(f"x{t}", (m, 1))
        h = affine(spec.cell.preactivation, {**theta, naming.PREV: h, naming.X: x}, lambda a, b: a * b).applyfunc(act)
        inputs += list(x)
        if t not in spec.loss_steps(steps):
            continue
        Y = affine(spec.cell.output_map, {**theta, naming.CUR: h}, lambda a, b: a * b)
        z = _symbols(f"z{t}", (o, 1))  # ce: the one-hot vector of the class index
        inputs += list(z)
        if spec.loss == "ce":
            L += sp.log(sum(sp.exp(Y[j]) for j in range(o))) - sum(z[j] * Y[j] for j in range(o))
        else:
            L += sum(spec.loss_rule.apply(Y[j], z[j]) for j in range(o))
    wrt = [(name, index) for name, M in P.items() for index, _ in _entries(M)]
    derivatives = [sp.diff(L, sym) for M in P.values() for _, sym in _entries(M)]
    import mpmath
    modules = [{"Heaviside": lambda v, *_: mpmath.mpf(1 if v > 0 else 0), "Max": max}, "mpmath"]
    f = sp.lambdify([inputs], derivatives, modules=modules, cse=True)
    return tuple(inputs), tuple(wrt), f


# -- points --------------------------------------------------------------------------------

def _draw(rng, spec, dims, steps, make):
    """Random parameters, h0, inputs and targets (class indices for ce, 0/1 for bce)."""
    k, m, o = dims
    point = {}
    matrices = {p.name for p in spec.cell.params if len(p.shape) == 2}
    for name, shape in shapes(spec, dims).items():
        scale = 1 / np.sqrt(k) if name in matrices else 1  # keep W h_{t-1}, U x_t, V h_t of order 1
        point[name] = np.array(make(rng.uniform(-1.2, 1.2)), dtype=object) if not shape else \
            np.array([[make(rng.uniform(-1.2, 1.2) * scale) for _ in range(shape[1])] for _ in range(shape[0])], dtype=object)
    for t in range(1, steps + 1):
        point[(naming.INPUT, t)] = np.array([[make(rng.uniform(-1.2, 1.2))] for _ in range(m)], dtype=object)
        if spec.loss == "ce":
            point[(naming.TARGET, t)] = rng.randrange(o)
        elif spec.loss == "bce":
            point[(naming.TARGET, t)] = np.array([[make(rng.randint(0, 1))] for _ in range(o)], dtype=object)
        else:
            point[(naming.TARGET, t)] = np.array([[make(rng.uniform(-1.2, 1.2))] for _ in range(o)], dtype=object)
    return point


def forward(spec: ModelSpec, point: dict, steps: int, backend: Backend, k: int) -> dict:
    """The point with every a_t, h_t, Y_t added, by the IR's own forward equations."""
    env = dict(point)
    env[(naming.STATE, 0)] = point["h0"]
    for t in range(1, steps + 1):
        s = matrix_step(spec, t)
        env[(naming.PREACT, t)] = evaluate(s.a_def, env, backend, k)
        env[(naming.STATE, t)] = evaluate(s.h_def, env, backend, k)
        env[(naming.OUTPUT, t)] = evaluate(s.Y_def, env, backend, k)
    return env


def run_recursion(rec, env: dict, steps: int, backend: Backend, k: int) -> dict:
    """env with v_T … v_1 (δ or γ) added, backwards from the recursion's start."""
    env = dict(env)
    T = naming.T
    start = int(rec.start_step.xreplace({T: steps}))
    value = evaluate(rec.start, env, backend, k, {T: sp.Integer(steps)})
    env[(rec.name, start)] = backend.zeros((k, 1)) if isinstance(value, int) and value == 0 else value
    for n in range(start - 1, 0, -1):
        env[(rec.name, n)] = evaluate(rec.body, env, backend, k, {naming.t: sp.Integer(n), T: sp.Integer(steps)})
    return env


def with_deltas(deltas, env, backend, k) -> dict:
    """env with δ_T … δ_1 of the written-out recursion."""
    env = dict(env)
    for sym, body in deltas:
        env[(sym.role, int(sym.step))] = evaluate(body, env, backend, k)
    return env


def _as_column(value, shape, backend):
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
        out += [("written out at the given T", g.at_T, "deltas", steps), ("δ substituted", g.expr, None, steps)]
    return out


def _value(md, expr, how, env, steps, backend, k):
    if how == "deltas":
        env = with_deltas(md.deltas, env, backend, k)
    elif how is not None:
        env = run_recursion(how, env, steps, backend, k)
    return evaluate(expr, env, backend, k, {naming.T: sp.Integer(steps)})


def _fits(spec: ModelSpec, dims) -> bool:
    from ..errors import SymrnnError
    from ..derivation.matrix import check_shapes
    try:
        check_shapes(spec, dims)
    except SymrnnError:
        return False
    return not (spec.loss == "ce" and dims[2] < 2)


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
    """Check 1: every form entry by entry against sympy.diff, at 50 digits."""
    import mpmath
    spec = md.spec
    dims = _small_dims(md)
    k, m, o = dims
    steps = min(md.steps, MAX_SYMBOLIC_STEPS)
    inputs, wrt, f = reference_gradients(spec, dims, steps)
    backend = mpmath_backend()
    rng = random.Random(f"{spec.name}/{dims}/{steps}")
    errors: dict = {}
    with mpmath.workdps(DIGITS):
        for _ in range(POINTS):
            point = _draw(rng, spec, dims, steps, lambda v: mpmath.mpf(v))
            env = forward(spec, point, steps, backend, k)
            values = dict(zip([str(s) for s in inputs], [None] * len(inputs)))
            for name in shapes(spec, dims):
                for index, v in np.ndenumerate(point[name]):
                    values[symbol_name(name, index)] = v
            for t in range(1, steps + 1):
                for i in range(m):
                    values[symbol_name(f"x{t}", (i, 0))] = point[(naming.INPUT, t)][i, 0]
                z = point[(naming.TARGET, t)]
                for i in range(o):
                    values[symbol_name(f"z{t}", (i, 0))] = mpmath.mpf(int(z == i)) if spec.loss == "ce" else z[i, 0]
            ref = f([values[str(s)] for s in inputs])
            reference = {}
            for (name, index), v in zip(wrt, ref):
                reference.setdefault(name, {})[index] = v
            for g in md.gradients:
                shape = shapes(spec, dims)[g.wrt]
                want = np.empty(shape, dtype=object)
                for index in np.ndindex(shape):
                    want[index] = reference[g.wrt][index]
                for label, expr, how, T in _forms(md, g, steps):
                    got = _as_column(_value(md, expr, how, env, T, backend, k), shape, backend)
                    key = (g.wrt, label)
                    errors[key] = max(errors.get(key, 0.0), _relative_error(got, want))
    how = (f"entry-wise vs sympy.diff of the component-wise loss, (k, m, o) = {dims}, T = {steps}, "
           f"{POINTS} random points, {DIGITS} digits")
    out: dict = {}
    for (name, label), err in errors.items():
        out.setdefault(name, []).append(MatrixCheck(label, how, err, TOLERANCE))
    return out


def high_precision(md: MatrixDerivation) -> dict[str, list[MatrixCheck]]:
    """Check 1b (T > 3): every form at the requested T against 50-digit central differences of the entry-wise loss."""
    import mpmath
    spec, steps = md.spec, md.steps
    dims = _small_dims(md)
    k = dims[0]
    backend = mpmath_backend()
    rng = random.Random(f"{spec.name}/{dims}/{steps}/hp")
    errors: dict = {}
    with mpmath.workdps(DIGITS):
        eps = mpmath.mpf(HP_EPS)
        for _ in range(POINTS):
            point = _draw(rng, spec, dims, steps, lambda v: mpmath.mpf(v))
            env = forward(spec, point, steps, backend, k)
            params = {name: point[name].copy() for name in shapes(spec, dims)}
            X = {t: point[(naming.INPUT, t)] for t in range(1, steps + 1)}
            Z = {t: point[(naming.TARGET, t)] for t in range(1, steps + 1)}
            want = central_differences(spec, params, X, Z, steps, eps, high_precision=True)
            for g in md.gradients:
                shape = shapes(spec, dims)[g.wrt]
                for label, expr, how, T in _forms(md, g, steps):
                    got = _as_column(_value(md, expr, how, env, T, backend, k), shape, backend)
                    key = (g.wrt, label)
                    errors[key] = max(errors.get(key, 0.0), _relative_error(got, want[g.wrt]))
    how = (f"entry-wise vs central differences (step {HP_EPS}) of the entry-wise loss, (k, m, o) = {dims}, "
           f"T = {steps}, {POINTS} random points, {DIGITS} digits")
    out: dict = {}
    for (name, label), err in errors.items():
        out.setdefault(name, []).append(MatrixCheck(label, how, err, HP_TOLERANCE))
    return out


# -- check 2: central differences of a plain NumPy forward pass ------------------------------

def numpy_loss(spec: ModelSpec, params: dict, X, Z, steps: int, high_precision: bool = False):
    """L = Σ_t L_t by a plain NumPy loop (no symrnn IR): a_t = W h + U x_t + b, h_t = f(a_t), Y_t = V h_t + c
    (the cell's own affine maps, read by `affine`).

    high_precision: object arrays of mpmath numbers (at the caller's working precision) instead of float64.
    """
    if high_precision:
        import mpmath
        ew = lambda fn: np.frompyfunc(fn, 1, 1)
        exp, log1pexp = ew(mpmath.exp), ew(lambda y: mpmath.log(1 + mpmath.exp(y)))
        f = {"tanh": ew(mpmath.tanh), "sigmoid": ew(lambda a: 1 / (1 + mpmath.exp(-a))),
             "relu": ew(lambda a: a if a > 0 else 0 * a), "identity": lambda a: a}[spec.cell.activation]
        log, total = mpmath.log, lambda v: mpmath.fsum(v.ravel())
    else:
        exp, log1pexp, log, total = np.exp, lambda y: np.logaddexp(0, y), np.log, lambda v: float(np.sum(v))
        f = {"tanh": np.tanh, "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "relu": lambda a: np.maximum(a, 0),
             "identity": lambda a: a}[spec.cell.activation]
    theta = {naming.param(name): v for name, v in params.items() if name != "h0"}
    h = params["h0"]
    L = 0
    for t in range(1, steps + 1):
        h = f(affine(spec.cell.preactivation, {**theta, naming.PREV: h, naming.X: X[t]}, mul))
        if t not in spec.loss_steps(steps):
            continue
        Y = affine(spec.cell.output_map, {**theta, naming.CUR: h}, mul)
        if spec.loss == "mse":
            L += total((Y - Z[t]) ** 2) / 2
        elif spec.loss == "bce":
            L += total(log1pexp(Y) - Z[t] * Y)
        else:
            top = max(Y.ravel())
            L += top + log(total(exp(Y - top))) - Y[Z[t], 0]
    return L


def central_differences(spec, params, X, Z, steps, eps=NUMERIC_EPS, high_precision=False) -> dict:
    out = {}
    for name, P in params.items():
        G = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = old + eps
            up = numpy_loss(spec, params, X, Z, steps, high_precision)
            P[idx] = old - eps
            down = numpy_loss(spec, params, X, Z, steps, high_precision)
            P[idx] = old
            G[idx] = (up - down) / (2 * eps)
        out[name] = G
    return out


def numeric(md: MatrixDerivation) -> dict[str, list[MatrixCheck]]:
    """Check 2: the general-T forms at (8, 5, 4), T = 20, and the written-out form at the given T."""
    spec = md.spec
    dims = _numeric_dims(md)
    k = dims[0]
    backend = float_backend()
    out: dict = {}
    for steps in sorted({NUMERIC_STEPS, md.steps}):
        rng = random.Random(f"{spec.name}/numeric/{steps}")
        point = _draw(rng, spec, dims, steps, float)
        point = {key: (v.astype(float) if isinstance(v, np.ndarray) else v) for key, v in point.items()}
        params = {name: point[name] for name in shapes(spec, dims)}
        X = {t: point[(naming.INPUT, t)] for t in range(1, steps + 1)}
        Z = {t: point[(naming.TARGET, t)] for t in range(1, steps + 1)}
        fd = central_differences(spec, params, X, Z, steps)
        env = forward(spec, point, steps, backend, k)
        how = f"vs central differences of a NumPy forward pass, (k, m, o) = {dims}, T = {steps}, float64"
        for g in md.gradients:
            shape = shapes(spec, dims)[g.wrt]
            forms = [(f"{f.name} form", f.expr, f.recursion) for f in g.forms] if steps == NUMERIC_STEPS else []
            if steps == md.steps:
                forms.append(("written out at the given T", g.at_T, "deltas"))
            for label, expr, how_ in forms:
                got = np.asarray(_value(md, expr, how_, env, steps, backend, k), dtype=float)
                got = np.broadcast_to(got, shape) if got.ndim == 0 else got.reshape(shape)
                err = float(np.max(np.abs(got - fd[g.wrt])) / max(1.0, float(np.max(np.abs(fd[g.wrt])))))
                out.setdefault(g.wrt, []).append(MatrixCheck(label, how, err, NUMERIC_TOLERANCE))
    return out


def certify_matrix(md: MatrixDerivation) -> MatrixDerivation:
    """md with a Certificate on every gradient: the component-wise checks and the numeric ones."""
    parts = [componentwise(md), numeric(md)]
    if md.steps > MAX_SYMBOLIC_STEPS:
        parts.insert(1, high_precision(md))
    grads = tuple(replace(g, certificate=Certificate(tuple(c for part in parts for c in part.get(g.wrt, []))))
                  for g in md.gradients)
    return replace(md, gradients=grads)


__all__ = ["certify_matrix", "componentwise", "high_precision", "numeric", "numpy_loss", "central_differences",
           "MatrixCheck", "reference_gradients"]
