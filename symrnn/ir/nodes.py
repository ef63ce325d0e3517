"""The matrix IR: SymPy `Expr` subclasses for vectors, parameters and the operations on them.

A cell's equations, the adjoint program, the matrix forms and the kernels are all trees of these
nodes. They are `Expr` subclasses only so that printers dispatch on them (`_print_<Node>`) and
`xreplace` substitutes step indices; they never take part in SymPy arithmetic. Build them with
the lower-case constructors (`plus`, `matmul`, `hadamard`, …), which keep them canonical.
Their meaning is `ir.evaluate`, their looks the printers, their derivatives `ir.rules`.
"""
from __future__ import annotations

import sympy as sp
from sympy.core.symbol import Str
from sympy.printing.precedence import PRECEDENCE

from ..errors import SymrnnError
from .primitives import FUNCTIONS

HADAMARD_PRECEDENCE = (PRECEDENCE["Add"] + PRECEDENCE["Mul"]) // 2


# -- nodes ---------------------------------------------------------------------------------

class Node(sp.Expr):
    """A vector-, matrix- or scalar-valued IR node."""

    is_commutative = False
    precedence = PRECEDENCE["Atom"]
    #: the module that prints nodes (`text`, `latex`): symrnn.printers.lecture sets itself here when imported,
    #: since the printers know the nodes and not the other way round
    printers = None

    def __new__(cls, *args):
        return super().__new__(cls, *map(sp.sympify, args))

    def __str__(self) -> str:
        """The lecture's notation, W h_{t-1} + U x_t + b (not SymPy's constructor tree)."""
        return self.printers.text(self) if self.printers else super().__str__()

    def __repr__(self) -> str:
        """Short: <Plus: W h_{t-1} + U x_t + b>, cut at 100 characters."""
        if not self.printers:
            return super().__repr__()
        shown = str(self)
        return f"<{type(self).__name__}: {shown if len(shown) <= 100 else shown[:99] + '…'}>"

    def _repr_latex_(self) -> str:
        return f"${self.printers.latex(self)}$"


class Vec(Node):
    """A time-indexed vector: h_t, x_t, a_t, r_t, Y_t, z_t, δ_t, γ_t (step a number or an expression in t, s, i, T)."""

    def __new__(cls, role, step):
        return super().__new__(cls, Str(str(role)), sp.sympify(step))

    @property
    def role(self) -> str:
        return self.args[0].name

    @property
    def step(self) -> sp.Expr:
        return self.args[1]


class Mat(Node):
    """A parameter: a matrix (W, U, V) or a vector (b, c)."""

    def __new__(cls, name):
        return super().__new__(cls, Str(str(name)))

    @property
    def name(self) -> str:
        return self.args[0].name


class Gain(Mat):
    """A scalar parameter (declared with shape []): it scales, and is its own transpose."""


class Num(Node):
    """A scalar constant (the 1 of 1 − α, a ½)."""

    def __new__(cls, value):
        return super().__new__(cls, sp.Rational(value))

    @property
    def value(self) -> sp.Rational:
        return self.args[0]


class Ones(Node):
    """The all-ones vector, written 1 (as in 1 − h_t ⊙ h_t)."""


class Zeros(Node):
    """The zero vector or matrix (δ_{T+1} = 0)."""


class Eye(Node):
    """The identity matrix I (an empty Jacobian product)."""


class Plus(Node):
    precedence = PRECEDENCE["Add"]


class Minus(Node):
    precedence = PRECEDENCE["Add"]


class Neg(Node):
    """−v."""

    precedence = PRECEDENCE["Add"]


class MatProd(Node):
    """A matrix product in written order; scalar factors (gains, numbers) lead."""

    precedence = PRECEDENCE["Mul"]


class Hadamard(Node):
    """The elementwise product ⊙."""

    precedence = HADAMARD_PRECEDENCE


class Transposed(Node):
    precedence = PRECEDENCE["Pow"]


class Square(Node):
    """The elementwise square v² = v ⊙ v (written h_t² inside diag)."""

    precedence = PRECEDENCE["Pow"]


class Diag(Node):
    """diag(v): the diagonal matrix with v on its diagonal."""


class Map(Node):
    """An elementwise function of the registry applied to a vector: tanh(a_t), σ(Y_t), H(h_t)."""

    def __new__(cls, fname, arg):
        name = fname.name if isinstance(fname, Str) else str(fname)
        if name not in FUNCTIONS:
            raise SymrnnError(f"unknown elementwise function {name!r}; known: {', '.join(FUNCTIONS)}")
        return super().__new__(cls, Str(name), arg)

    @property
    def fname(self) -> str:
        return self.args[0].name

    @property
    def function(self):
        return FUNCTIONS[self.fname]

    @property
    def arg(self) -> Node:
        return self.args[1]


class Softmax(Node):
    """softmax(v) = exp(v) / Σ_j exp(v_j)."""


class OneHot(Node):
    """onehot(z_t): the unit vector of the class index z_t."""


class Block(Node):
    """A block matrix or a stacked vector, row by row: [[A, B], [C, D]] or [[u], [v]] (several states)."""

    def __new__(cls, *rows):
        return super().__new__(cls, *(sp.Tuple(*row) for row in rows))

    @property
    def rows(self) -> tuple[tuple[Node, ...], ...]:
        return tuple(tuple(r) for r in self.args)


class Part(Node):
    """The index-th block of a stacked vector (h_t of s_t = (h_t, c_t))."""

    def __new__(cls, v, index):
        return super().__new__(cls, v, sp.Integer(index))

    @property
    def index(self) -> int:
        return int(self.args[1])


class SumOver(Node):
    """Σ_{var=lo}^{hi} body."""

    precedence = PRECEDENCE["Add"]

    def __new__(cls, body, limits):
        return super().__new__(cls, body, sp.Tuple(*limits))

    @property
    def body(self):
        return self.args[0]

    @property
    def limits(self):
        return tuple(self.args[1])


class ProdOver(SumOver):
    """Π_{var=lo}^{hi} body, an ordered matrix product with the largest index leftmost; empty: I."""


# -- canonical constructors ----------------------------------------------------------------

def vec(role: str, t) -> Vec:
    return Vec(role, t)


def is_scalar(e) -> bool:
    """Whether e is a scalar expression: gains, numbers, and sums and products of them."""
    if isinstance(e, (Gain, Num)):
        return True
    if isinstance(e, (Plus, Minus, Neg, MatProd, Hadamard)):
        return all(is_scalar(a) for a in e.args)
    return False


def _common_factor(terms):
    """The last factor every addend's elementwise product shares (for collecting), or None."""
    def parts(t):
        sign, inner = (-1, t.args[0]) if isinstance(t, Neg) else (1, t)
        return sign, (inner.args if isinstance(inner, Hadamard) else None)
    split = [parts(t) for t in terms]
    if len(terms) < 2 or any(p is None for _, p in split):
        return None
    last = {p[-1] for _, p in split}
    return last.pop() if len(last) == 1 else None


def plus(*terms) -> Node | None:
    """Σ of the terms, flattened; None and 0 dropped; None when nothing is left (no dependence).

    Elementwise products that share their last factor are collected: u ⊙ ū − n ⊙ ū = (u − n) ⊙ ū.
    """
    flat = []
    for term in terms:
        if term is None or isinstance(term, Zeros):
            continue
        flat.extend(term.args if isinstance(term, Plus) else (term,))
    if not flat:
        return None
    common = _common_factor(flat)
    if common is not None:
        rests = []
        for t in flat:
            inner = t.args[0] if isinstance(t, Neg) else t
            rest = hadamard(*inner.args[:-1])
            rests.append(neg(rest) if isinstance(t, Neg) else rest)
        return hadamard(plus(*rests), common)
    flat = _collect_diagonal(flat)
    if len(flat) > 1 and all(isinstance(t, Neg) for t in flat):
        return neg(plus(*(t.args[0] for t in flat)))
    flat.sort(key=lambda term: isinstance(term, Neg))   # written a + b − c: the subtracted terms last
    return flat[0] if len(flat) == 1 else Plus(*flat)


def _collect_diagonal(terms: list) -> list:
    """diag(u) X + diag(v) X = diag(u + v) X: products that differ only in a leading diag are collected."""
    def split(term):
        sign, inner = (True, term.args[0]) if isinstance(term, Neg) else (False, term)
        if isinstance(inner, MatProd) and isinstance(inner.args[0], Diag):
            return sign, inner.args[0].args[0], matmul(*inner.args[1:])
        return None
    out, groups = [], {}
    for term in terms:
        parts = split(term)
        if parts is None:
            out.append(term)
            continue
        sign, d, tail = parts
        if tail in groups:
            out[groups[tail]][1].append((sign, d))
        else:
            groups[tail] = len(out)
            out.append((tail, [(sign, d)]))
    result = []
    for item in out:
        if not isinstance(item, tuple):
            result.append(item)
            continue
        tail, ds = item
        if len(ds) == 1:
            sign, d = ds[0]
            body = matmul(Diag(d), tail)
            result.append(neg(body) if sign else body)
        else:
            result.append(matmul(Diag(plus(*(neg(d) if sign else d for sign, d in ds))), tail))
    return result


def neg(a) -> Node:
    if isinstance(a, Zeros):
        return a
    return a.args[0] if isinstance(a, Neg) else Neg(a)


def sub(a, b) -> Node:
    if isinstance(b, Zeros) or b is None:
        return a
    if isinstance(a, Zeros) or a is None:
        return neg(b)
    return Minus(a, b)


def matmul(*factors) -> Node:
    """The product in written order, flattened; identities and 1s dropped; 0 if a factor is 0; signs in front."""
    if any(isinstance(f, Neg) for f in factors):
        negatives = sum(isinstance(f, Neg) for f in factors)
        body = matmul(*(f.args[0] if isinstance(f, Neg) else f for f in factors))
        return neg(body) if negatives % 2 else body
    flat = []
    eye = False
    for f in factors:
        if isinstance(f, Zeros) or (isinstance(f, Num) and f.value == 0):
            return Zeros()
        if isinstance(f, Eye) or (isinstance(f, Num) and f.value == 1):
            eye = eye or isinstance(f, Eye)
            continue
        flat.extend(f.args if isinstance(f, MatProd) else (f,))
    if eye and flat and all(is_scalar(f) for f in flat):
        flat.append(Eye())   # s I stays a matrix: a scalar alone would add to every entry of a sum
    if not flat:
        return Eye()
    return flat[0] if len(flat) == 1 else MatProd(*flat)


def hadamard(*factors) -> Node:
    flat = []
    for f in factors:
        if isinstance(f, Zeros):
            return Zeros()
        if isinstance(f, Ones):
            continue
        flat.extend(f.args if isinstance(f, Hadamard) else (f,))
    if not flat:
        return Ones()
    return flat[0] if len(flat) == 1 else Hadamard(*flat)


def transpose(a) -> Node:
    if isinstance(a, Transposed):
        return a.args[0]
    if isinstance(a, (Eye, Zeros, Diag, Gain, Num)) or is_scalar(a):
        return a
    if isinstance(a, Block):  # [[A, B], [C, D]]ᵀ = [[Aᵀ, Cᵀ], [Bᵀ, Dᵀ]]
        return Block(*([transpose(r[j]) for r in a.rows] for j in range(len(a.rows[0]))))
    return Transposed(a)


def diag(v) -> Node:
    return Eye() if isinstance(v, Ones) else Diag(v)


def apply(fname: str, arg: Node) -> Node:
    """f(arg) for a registry function; the identity is no node at all."""
    return arg if fname == "identity" else Map(fname, arg)


def summation(body, var, lo, hi) -> Node:
    return Zeros() if isinstance(body, Zeros) else SumOver(body, (var, lo, hi))


def product(body, var, lo, hi) -> Node:
    return ProdOver(body, (var, lo, hi))


REBUILD = {Plus: plus, MatProd: matmul, Hadamard: hadamard, Transposed: transpose, Diag: diag, Neg: neg, Minus: sub}


def rebuild(e: Node, memo: dict | None = None) -> Node:
    """`e` with every node rebuilt through the canonical constructors (after a substitution).

    Shared subtrees are rebuilt once (`memo`), so a substitution that repeats a subexpression costs its size once.
    """
    if not isinstance(e, Node) or not e.args or isinstance(e, (Vec, Mat, Num)):
        return e
    memo = {} if memo is None else memo
    if e in memo:
        return memo[e]
    if isinstance(e, Block):
        out = Block(*([rebuild(x, memo) for x in row] for row in e.rows))
    else:
        args = [rebuild(a, memo) if isinstance(a, Node) else a for a in e.args]
        make = REBUILD.get(type(e))
        out = make(*args) if make is not None else type(e)(*args)
        out = Zeros() if out is None else out
    memo[e] = out
    return out


def addends(e: Node) -> tuple[Node, ...]:
    return tuple(e.args) if isinstance(e, Plus) else (e,)
