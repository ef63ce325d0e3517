"""The meaning of the matrix IR: evaluation over NumPy arrays, and the parser of its string form.

One evaluator serves three number systems, chosen by the `Backend`: float64 arrays (the
numeric check at k = 8, T = 20), object arrays of 50-digit mpmath numbers (the component-wise
check) and object arrays of SymPy expressions (the k = m = o = 1 case, compared exactly with
the scalar engine). Vectors are columns (n, 1).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import sympy as sp

from .. import naming
from ..errors import SymrnnError
from .nodes import (Block, Diag, Eye, Gain, Hadamard, Map, Mat, MatProd, Minus, Neg, Node, Num, OneHot, Ones, Part,
                    Plus, ProdOver, Softmax, Square, SumOver, Transposed, Vec, Zeros, apply, diag, hadamard, matmul,
                    neg, plus, product, summation, transpose)
from .primitives import FUNCTIONS


@dataclass(frozen=True, eq=False)   # hashed by identity: each backend is made once (lru_cache)
class Backend:
    """Scalar functions applied elementwise, and how to make constants, for one number system."""

    funcs: dict[str, Callable]
    dtype: object = object
    number: Callable = lambda r: r          # a SymPy Rational as this system's number

    def apply(self, name: str, v: np.ndarray) -> np.ndarray:
        f = self.funcs[name]
        return f(v) if self.dtype is not object else np.frompyfunc(f, 1, 1)(v).astype(object)

    def eye(self, n: int) -> np.ndarray:
        out = np.zeros((n, n), dtype=self.dtype)
        out[...] = 0
        for j in range(n):
            out[j, j] = 1
        return out

    def zeros(self, shape) -> np.ndarray:
        out = np.empty(shape, dtype=self.dtype)
        out[...] = 0
        return out


@lru_cache(maxsize=None)
def float_backend() -> Backend:
    return Backend({name: f.np_func for name, f in FUNCTIONS.items()}, float, float)


@lru_cache(maxsize=None)
def mpmath_backend() -> Backend:
    import mpmath
    return Backend({name: f.mp for name, f in FUNCTIONS.items()}, object, lambda r: mpmath.mpf(r.p) / r.q)


@lru_cache(maxsize=None)
def sympy_backend() -> Backend:
    """SymPy entries, with the scalar engine's own functions (σ, relu, H(·, 0)), so k = 1 compares exactly."""
    return Backend({name: f.apply for name, f in FUNCTIONS.items()})


@lru_cache(maxsize=None)
def reference_backend() -> Backend:
    """SymPy entries in SymPy's built-in functions only (the brute-force reference of certification)."""
    return Backend({name: f.reference for name, f in FUNCTIONS.items()})


def mul(a, b):
    """The matrix product, or the plain product when either factor is a scalar (a gain, 0-d)."""
    return a * b if np.ndim(a) == 0 or np.ndim(b) == 0 else a @ b


def evaluate(e, env: dict, backend: Backend, k: int, bind: dict | None = None, memo: dict | None = None):
    """The value of node e: env maps (role, step) and parameter names to arrays; bind gives t, s, i, T.

    A class-index target (ce) is an int in env; `onehot` needs the output size, taken from Y. `memo` may be
    shared by evaluations over the same env (values of shared subtrees, such as a hop, computed once).
    """
    ints = {var: int(value) for var, value in (bind or {}).items()}
    return _compile(e, backend, k)(env, ints, {} if memo is None else memo)


INDICES = (naming.t, naming.s, naming.i, naming.j, naming.T)
HEAVY = 6   # subtrees at least this large are evaluated once per value of the indices they read


def _compile(e, backend: Backend, k: int):
    """e as a closure f(env, bind, memo): the tree walked once here instead of at every evaluation."""
    f, _, _ = _build(e, backend, k)
    return f


def _step(step: sp.Expr):
    """A step index as a function of the bound indices (t - 1 -> bind[t] - 1)."""
    if step.is_Integer:
        n = int(step)
        return lambda bind: n
    var = next(iter(step.free_symbols))
    offset = step - var
    if step.free_symbols != {var} or not offset.is_Integer:
        poly = sp.lambdify(sorted(step.free_symbols, key=str), step)
        names = sorted(step.free_symbols, key=str)
        return lambda bind: int(poly(*(bind[n] for n in names)))
    off = int(offset)
    return lambda bind: bind[var] + off


@lru_cache(maxsize=65536)
def _build(x, backend: Backend, k: int):
    """(closure, size of the subtree, the indices it reads); equal subtrees share one closure (and memo entries)."""
    kids = [_build(a, backend, k) for a in x.args if isinstance(a, Node)] \
        if not isinstance(x, (Vec, SumOver, Block)) else []
    fs = [f for f, _, _ in kids]
    size = 1 + sum(n for _, n, _ in kids)
    deps = frozenset().union(*(d for _, _, d in kids))
    if isinstance(x, Vec):
        step, role = _step(x.step), x.role
        return (lambda env, bind, memo: env[(role, step(bind))]), 1, frozenset(x.step.free_symbols)
    if isinstance(x, Mat):
        name = x.name
        return (lambda env, bind, memo: env[name]), 1, deps
    if isinstance(x, Ones):
        return (lambda env, bind, memo: 1), 1, deps
    if isinstance(x, Num):
        value = backend.number(x.value)
        return (lambda env, bind, memo: value), 1, deps
    if isinstance(x, Zeros):
        return (lambda env, bind, memo: 0), 1, deps
    if isinstance(x, Eye):
        return (lambda env, bind, memo: backend.eye(k)), 1, deps
    if isinstance(x, Block):
        rows = [[_build(a, backend, k) for a in row] for row in x.rows]
        size = 1 + sum(n for row in rows for _, n, _ in row)
        deps = frozenset().union(*(d for row in rows for _, _, d in row))
        f = lambda env, bind, memo: _block([[g(env, bind, memo) for g, _, _ in row] for row in rows], backend, k)
        return _memoized(f, size, deps), size, deps
    if isinstance(x, SumOver):
        body, bsize, bdeps = _build(x.body, backend, k)
        var, lo, hi = x.limits
        deps = (bdeps - {var}) | sp.sympify(lo).free_symbols | sp.sympify(hi).free_symbols
        lo_f, hi_f = _step(sp.sympify(lo)), _step(sp.sympify(hi))
        blocks = len(x.body.rows) if isinstance(x.body, Block) else 1
        is_prod = isinstance(x, ProdOver)

        def f(env, bind, memo):
            values = [body(env, {**bind, var: n}, memo) for n in range(lo_f(bind), hi_f(bind) + 1)]
            if is_prod:
                out = backend.eye(k * blocks)
                for v in reversed(values):  # the largest index leftmost
                    out = out @ v
                return out
            if not values:
                return 0
            out = values[0]
            for v in values[1:]:
                out = out + v
            return out
        return _memoized(f, bsize + 1, deps), bsize + 1, deps
    if isinstance(x, Neg):
        (a,) = fs
        f = lambda env, bind, memo: -a(env, bind, memo)
    elif isinstance(x, Part):
        (a,) = fs[:1]
        index = x.index
        f = lambda env, bind, memo: a(env, bind, memo)[index * k:(index + 1) * k]
    elif isinstance(x, Plus):
        def f(env, bind, memo):
            out = fs[0](env, bind, memo)
            for g in fs[1:]:
                out = out + g(env, bind, memo)
            return out
    elif isinstance(x, Minus):
        a, b = fs
        f = lambda env, bind, memo: a(env, bind, memo) - b(env, bind, memo)
    elif isinstance(x, MatProd):
        def f(env, bind, memo):
            out = fs[0](env, bind, memo)
            for g in fs[1:]:
                out = mul(out, g(env, bind, memo))
            return out
    elif isinstance(x, Hadamard):
        def f(env, bind, memo):
            out = fs[0](env, bind, memo)
            for g in fs[1:]:
                out = out * g(env, bind, memo)
            return out
    elif isinstance(x, Transposed):
        (a,) = fs
        f = lambda env, bind, memo: a(env, bind, memo).T
    elif isinstance(x, Square):
        (a,) = fs
        f = lambda env, bind, memo: (lambda v: v * v)(a(env, bind, memo))
    elif isinstance(x, Diag):
        (a,) = fs
        f = lambda env, bind, memo: _diag(a(env, bind, memo), backend)
    elif isinstance(x, Map):
        (a,) = fs
        name = x.fname
        f = lambda env, bind, memo: backend.apply(name, a(env, bind, memo))
    elif isinstance(x, Softmax):
        (a,) = fs

        def f(env, bind, memo):
            e_ = backend.apply("exp", a(env, bind, memo))
            return e_ / e_.sum()
    elif isinstance(x, OneHot):
        (a,) = fs

        def f(env, bind, memo):
            o = env[(naming.OUTPUT, 1)].shape[0]
            out = backend.zeros((o, 1))
            out[int(a(env, bind, memo)), 0] = 1
            return out
    else:
        raise SymrnnError(f"cannot evaluate the node {type(x).__name__}")
    return _memoized(f, size, deps), size, deps


def _memoized(f, size, deps):
    """f evaluated once per value of the indices it reads (a hop Π_i reused by every (s, t) that contains it)."""
    if size < HEAVY:
        return f
    deps = tuple(v for v in INDICES if v in deps)
    key0 = id(f)

    def g(env, bind, memo):
        key = (key0,) + tuple(bind.get(v) for v in deps)
        if key not in memo:
            memo[key] = f(env, bind, memo)
        return memo[key]
    return g


def _diag(v, backend):
    out = backend.zeros((v.shape[0], v.shape[0]))
    for j in range(v.shape[0]):
        out[j, j] = v[j, 0]
    return out


def _block(rows, backend: Backend, k: int):
    """np.block of evaluated blocks, a scalar 0 standing for a zero block of the size its row and column need."""
    width = 1 if len(rows[0]) == 1 and all(np.ndim(r[0]) == 0 or np.shape(r[0])[1] == 1 for r in rows) else k
    filled = [[backend.zeros((k, width)) if np.ndim(b) == 0 else b for b in row] for row in rows]
    return np.block(filled)


# -- the string form -----------------------------------------------------------------------

_INDEX_SYMBOLS = {"t": naming.t, "s": naming.s, "i": naming.i, "T": naming.T}
_ROLES = ("delta", "gamma", "h", "x", "a", "Y", "z")
_CONCRETE = re.compile(rf"^({'|'.join(_ROLES)})(\d+)$")
_FUNCS = {f.parse_name: name for name, f in FUNCTIONS.items() if name != "identity"}


def parse(text: str, gains=()):
    """Read the parseable form (see `matrix_printing`) back into IR nodes; never `eval`s anything.

    `gains`: the names of scalar parameters (shape []), which read as `Gain` rather than `Mat`.
    Unknown syntax fails loudly with a one-line SymrnnError naming what it could not read.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise SymrnnError(f"cannot read the matrix expression {text!r}: {exc.msg}") from None
    node = _node(tree.body, text)
    gains = set(gains)
    return node.xreplace({m: Gain(m.name) for m in node.atoms(Mat) if m.name in gains}) if gains else node


def _fail(n, text):
    return SymrnnError(f"cannot read {ast.get_source_segment(text, n) or type(n).__name__!r} in the matrix expression")


def _index(n, text) -> sp.Expr:
    if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool):
        return sp.Integer(n.value)
    if isinstance(n, ast.Name) and n.id in _INDEX_SYMBOLS:
        return _INDEX_SYMBOLS[n.id]
    if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub)):
        a, b = _index(n.left, text), _index(n.right, text)
        return a + b if isinstance(n.op, ast.Add) else a - b
    raise _fail(n, text)


def _node(n, text):
    if isinstance(n, ast.Constant) and n.value in (0, 1) and not isinstance(n.value, bool):
        return Ones() if n.value == 1 else Zeros()
    if isinstance(n, ast.Name):
        if n.id == "I":
            return Eye()
        m = _CONCRETE.match(n.id)
        if m:
            return Vec(m.group(1), int(m.group(2)))
        if n.id.isidentifier() and n.id not in _FUNCS and n.id not in _INDEX_SYMBOLS:
            return Mat(n.id)
        raise _fail(n, text)
    if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id in _ROLES:
        return Vec(n.value.id, _index(n.slice, text))
    if isinstance(n, ast.Attribute) and n.attr == "T":
        return transpose(_node(n.value, text))
    if isinstance(n, ast.BinOp):
        if isinstance(n.op, ast.Pow):
            if isinstance(n.right, ast.Constant) and n.right.value == 2:
                return Square(_node(n.left, text))
            raise _fail(n, text)
        a, b = _node(n.left, text), _node(n.right, text)
        if isinstance(n.op, ast.Add):
            return plus(a, b)
        if isinstance(n.op, ast.Sub):
            return Minus(a, b)
        if isinstance(n.op, ast.MatMult):
            return matmul(a, b)
        if isinstance(n.op, ast.Mult):
            return hadamard(a, b)
        raise _fail(n, text)
    if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and not n.keywords:
        name, args = n.func.id, n.args
        if name in ("Sum", "Prod") and len(args) == 2 and isinstance(args[1], ast.Tuple) and len(args[1].elts) == 3:
            var = args[1].elts[0]
            if not (isinstance(var, ast.Name) and var.id in _INDEX_SYMBOLS):
                raise _fail(var, text)
            lo, hi = (_index(x, text) for x in args[1].elts[1:])
            body = _node(args[0], text)
            make = summation if name == "Sum" else product
            return make(body, _INDEX_SYMBOLS[var.id], lo, hi)
        if len(args) == 1:
            arg = _node(args[0], text)
            if name in _FUNCS:
                return Map(_FUNCS[name], arg)
            if name == "diag":
                return diag(arg)
            if name == "softmax":
                return Softmax(arg)
            if name == "onehot":
                return OneHot(arg)
    raise _fail(n, text)
