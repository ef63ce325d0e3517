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
from typing import Callable

import numpy as np
import sympy as sp

from .. import naming
from ..errors import SymrnnError
from .nodes import (Diag, Eye, Gain, Hadamard, Map, Mat, MatProd, Minus, OneHot, Ones, Plus, ProdOver,
                    Softmax, Square, SumOver, Transposed, Vec, Zeros, diag, hadamard, matmul, plus,
                    product, summation, transpose)


@dataclass(frozen=True)
class Backend:
    """Scalar functions applied elementwise, and how to make constants, for one number system."""

    funcs: dict[str, Callable]
    dtype: object = object

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


def float_backend() -> Backend:
    return Backend({"tanh": np.tanh, "sigma": lambda v: 1 / (1 + np.exp(-v)), "relu": lambda v: np.maximum(v, 0),
                    "H": lambda v: (v > 0).astype(float), "exp": np.exp}, float)


def mpmath_backend() -> Backend:
    import mpmath
    return Backend({"tanh": mpmath.tanh, "sigma": lambda v: 1 / (1 + mpmath.exp(-v)),
                    "relu": lambda v: v if v > 0 else 0 * v, "H": lambda v: mpmath.mpf(1 if v > 0 else 0),
                    "exp": mpmath.exp})


def sympy_backend() -> Backend:
    """SymPy entries, with the scalar engine's own functions (σ, relu, H(·, 0)), so k = 1 compares exactly."""
    from .scalar import relu, sigmoid
    return Backend({"tanh": sp.tanh, "sigma": sigmoid, "relu": relu, "H": lambda v: sp.Heaviside(v, 0),
                    "exp": sp.exp})


def mul(a, b):
    """The matrix product, or the plain product when either factor is a scalar (a gain, 0-d)."""
    return a * b if np.ndim(a) == 0 or np.ndim(b) == 0 else a @ b


def evaluate(e, env: dict, backend: Backend, k: int, bind: dict | None = None):
    """The value of node e: env maps (role, step) and parameter names to arrays; bind gives t, s, i, T.

    A class-index target (ce) is an int in env; `onehot` needs the output size, taken from Y.
    """
    bind = bind or {}

    def ev(x, bind):
        if isinstance(x, Vec):
            step = x.step.xreplace(bind)
            if not step.is_Integer:
                raise SymrnnError(f"cannot evaluate {x}: its step {step} is not a number")
            return env[(x.role, int(step))]
        if isinstance(x, Mat):
            return env[x.name]
        if isinstance(x, Ones):
            return 1
        if isinstance(x, Zeros):
            return 0
        if isinstance(x, Eye):
            return backend.eye(k)
        if isinstance(x, Plus):
            out = ev(x.args[0], bind)
            for a in x.args[1:]:
                out = out + ev(a, bind)
            return out
        if isinstance(x, Minus):
            return ev(x.args[0], bind) - ev(x.args[1], bind)
        if isinstance(x, MatProd):
            out = ev(x.args[0], bind)
            for a in x.args[1:]:
                out = mul(out, ev(a, bind))
            return out
        if isinstance(x, Hadamard):
            out = ev(x.args[0], bind)
            for a in x.args[1:]:
                out = out * ev(a, bind)
            return out
        if isinstance(x, Transposed):
            return ev(x.args[0], bind).T
        if isinstance(x, Square):
            v = ev(x.args[0], bind)
            return v * v
        if isinstance(x, Diag):
            v = ev(x.args[0], bind)
            out = backend.zeros((v.shape[0], v.shape[0]))
            for j in range(v.shape[0]):
                out[j, j] = v[j, 0]
            return out
        if isinstance(x, Map):
            return backend.apply(x.fname, ev(x.args[1], bind))
        if isinstance(x, Softmax):
            v = ev(x.args[0], bind)
            e_ = backend.apply("exp", v)
            return e_ / e_.sum()
        if isinstance(x, OneHot):
            index = ev(x.args[0], bind)
            o = env[(naming.OUTPUT, 1)].shape[0]
            out = backend.zeros((o, 1))
            out[int(index), 0] = 1
            return out
        if isinstance(x, SumOver):
            var, lo, hi = x.limits
            lo, hi = int(lo.xreplace(bind)), int(hi.xreplace(bind))
            values = [ev(x.body, {**bind, var: sp.Integer(n)}) for n in range(lo, hi + 1)]
            if isinstance(x, ProdOver):
                out = backend.eye(k)
                for v in reversed(values):  # the largest index leftmost
                    out = out @ v
                return out
            if not values:
                return 0
            out = values[0]
            for v in values[1:]:
                out = out + v
            return out
        raise SymrnnError(f"cannot evaluate the node {type(x).__name__}")

    return ev(e, bind)


# -- the string form -----------------------------------------------------------------------

_INDEX_SYMBOLS = {"t": naming.t, "s": naming.s, "i": naming.i, "T": naming.T}
_ROLES = ("delta", "gamma", "h", "x", "a", "Y", "z")
_CONCRETE = re.compile(rf"^({'|'.join(_ROLES)})(\d+)$")
_FUNCS = {"tanh": "tanh", "sigmoid": "sigma", "relu": "relu", "H": "H", "exp": "exp"}


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
