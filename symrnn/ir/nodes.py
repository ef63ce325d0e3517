"""The matrix IR: SymPy `Expr` subclasses for vectors, parameters and the operations on them.

IR nodes are SymPy `Expr` subclasses only so that printers dispatch on them and `xreplace`
substitutes step indices; they never take part in SymPy arithmetic. Build them with the
lower-case constructors (`plus`, `matmul`, …), which keep them canonical.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.core.symbol import Str
from sympy.printing.precedence import PRECEDENCE

from .. import naming
from ..errors import SymrnnError

GAMMA = "gamma"
#: The size each time-indexed vector has, by the letter the lecture uses.
ROLE_SIZE = {naming.STATE: "k", naming.PREACT: "k", naming.DELTA: "k", GAMMA: "k",
             naming.INPUT: "m", naming.OUTPUT: "o", naming.TARGET: "o"}
#: Elementwise functions the IR knows, by name (σ is `sigma`, the Heaviside step is `H`).
ELEMENTWISE = ("tanh", "sigma", "relu", "H", "exp")
HADAMARD_PRECEDENCE = (PRECEDENCE["Add"] + PRECEDENCE["Mul"]) // 2


# -- nodes ---------------------------------------------------------------------------------

class Node(sp.Expr):
    """A matrix-valued IR node; its meaning is in `matrix_eval.evaluate`, its looks in the printers."""

    is_commutative = False
    precedence = PRECEDENCE["Atom"]

    def __new__(cls, *args):
        return super().__new__(cls, *map(sp.sympify, args))


class Vec(Node):
    """A time-indexed vector: h_t, x_t, a_t, Y_t, z_t, δ_t, γ_t (step a number or an expression in t, s, i, T)."""

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


class MatProd(Node):
    """A matrix product, in written order."""

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
    """An elementwise function applied to a vector: tanh(a_t), σ(Y_t), H(h_t)."""

    def __new__(cls, fname, arg):
        if str(fname) not in ELEMENTWISE:
            raise SymrnnError(f"unknown elementwise function {fname!r}; the matrix form knows {', '.join(ELEMENTWISE)}")
        return super().__new__(cls, Str(str(fname)), arg)

    @property
    def fname(self) -> str:
        return self.args[0].name


class Softmax(Node):
    """softmax(v) = exp(v) / Σ_j exp(v_j)."""


class OneHot(Node):
    """onehot(z_t): the unit vector of the class index z_t."""


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

def plus(*terms) -> Node | None:
    """Σ of the terms, flattened; None and 0 dropped; None when nothing is left (no dependence)."""
    flat = []
    for term in terms:
        if term is None or isinstance(term, Zeros):
            continue
        flat.extend(term.args if isinstance(term, Plus) else (term,))
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else Plus(*flat)


def sub(a, b) -> Node:
    return a if isinstance(b, Zeros) else Minus(a, b)


def matmul(*factors) -> Node:
    """The product in written order, flattened; identities dropped; 0 if a factor is 0."""
    flat = []
    for f in factors:
        if isinstance(f, Zeros):
            return Zeros()
        if isinstance(f, Eye):
            continue
        flat.extend(f.args if isinstance(f, MatProd) else (f,))
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
    if isinstance(a, (Eye, Zeros, Diag, Gain)):
        return a
    return Transposed(a)


def diag(v) -> Node:
    return Eye() if isinstance(v, Ones) else Diag(v)


def summation(body, var, lo, hi) -> Node:
    return Zeros() if isinstance(body, Zeros) else SumOver(body, (var, lo, hi))


def product(body, var, lo, hi) -> Node:
    return ProdOver(body, (var, lo, hi))


REBUILD = {Plus: plus, MatProd: matmul, Hadamard: hadamard, Transposed: transpose, Diag: diag}


def rebuild(e: Node) -> Node:
    """`e` with every node rebuilt through the canonical constructors (after a substitution)."""
    if not isinstance(e, Node) or not e.args or isinstance(e, (Vec, Mat)):
        return e
    args = [rebuild(a) if isinstance(a, Node) else a for a in e.args]
    make = REBUILD.get(type(e))
    if make is not None:
        out = make(*args)
        return Zeros() if out is None else out
    return type(e)(*args)


def addends(e: Node) -> tuple[Node, ...]:
    return tuple(e.args) if isinstance(e, Plus) else (e,)


