"""Read a cell's equations without running them: a whitelist walk over Python's AST builds IR nodes.

The notation is the lecture's, in ASCII:

    W @ h_prev + U @ x + b          @ is the matrix product; W*h_prev means the same (a matrix times a vector)
    r * (W_hn @ h_prev + b_hn)      * of two vectors is the elementwise product ⊙
    (1 - alpha) * h_prev            a scalar (gain or number) scales; 1 next to a vector is the all-ones vector
    sigmoid(…), tanh(…), act(…)     registry functions, applied elementwise; act is the cell's activation

Names: the parameters, `x`, each state's previous value (`h_prev`, `c_prev`), the equations
defined above, and in the output map the state `h`. What `*` means is decided by the operands'
shapes (from the parameters' declared shapes); with `strict=False` (the old single-equation
format, all-scalar by default) a sum of mismatched shapes is still built and the matrix form
refuses it later, while the scalar derivation (every size 1) works.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from ..errors import SymrnnError
from ..ir.nodes import (Node, Num, Ones, Square, apply, hadamard, matmul, neg, plus, sub, transpose)
from ..ir.primitives import FUNCTIONS

MAX_LENGTH = 2_000
MAX_DEPTH = 60

Shape = tuple  # () scalar, (n,) vector, (r, c) matrix, in size letters; None: unknown (mismatched, lenient mode)


@dataclass(frozen=True)
class Scope:
    """What an expression may name: vectors (node, size), parameters (node, shape), the activation behind `act`."""

    vectors: dict
    params: dict
    activation: str
    strict: bool = True
    later: tuple = ()     # the equations below this one (and itself): named, they are an error of order


def _shape_text(shape) -> str:
    if shape is None:
        return "of unknown shape"
    if not shape:
        return "a scalar"
    if len(shape) == 1:
        return f"a {shape[0]}-vector"
    return f"a {shape[0]}×{shape[1]} matrix"


def parse_equation(text: str, scope: Scope, what: str) -> Node:
    """The IR node of `text`; a one-line SymrnnError naming `what` and the culprit otherwise."""
    node, _ = parse_with_shape(text, scope, what)
    return node


def parse_with_shape(text: str, scope: Scope, what: str) -> tuple[Node, Shape]:
    if not isinstance(text, str):
        raise SymrnnError(f"{what}: expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SymrnnError(f"{what}: {len(text)} characters is longer than the limit {MAX_LENGTH}")
    depth = 0
    for ch in text:
        depth += (ch in "([") - (ch in ")]")
        if depth > MAX_DEPTH:
            raise SymrnnError(f"{what}: brackets nested deeper than {MAX_DEPTH}")
    try:
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as e:
        raise SymrnnError(f"{what}: cannot parse {text!r}: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise SymrnnError(f"{what}: too deeply nested") from None
    try:
        return _Builder(scope, what, text).build(tree.body)
    except RecursionError:
        raise SymrnnError(f"{what}: too deeply nested") from None


class _Builder:
    def __init__(self, scope: Scope, what: str, text: str):
        self.scope, self.what, self.text = scope, what, text

    def fail(self, n, message) -> SymrnnError:
        shown = ast.get_source_segment(self.text, n) or ast.unparse(n)
        return SymrnnError(f"{self.what}: {shown!r}: {message}")

    def mismatch(self, n, message):
        if self.scope.strict:
            raise self.fail(n, message)

    def build(self, n) -> tuple[Node, Shape]:
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool):
            if abs(n.value) > 1e6:
                raise self.fail(n, "numbers in a cell must be small constants")
            return Num(str(n.value)), ()
        if isinstance(n, ast.Name):
            return self.name(n)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            node, shape = self.build(n.operand)
            return (neg(node) if isinstance(n.op, ast.USub) else node), shape
        if isinstance(n, ast.BinOp):
            return self.binary(n)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and not n.keywords:
            return self.call(n)
        if isinstance(n, ast.Attribute) and n.attr == "T":
            node, shape = self.build(n.value)
            if shape is not None and len(shape) != 2:
                raise self.fail(n, f"only a matrix can be transposed here, this is {_shape_text(shape)}")
            return transpose(node), (shape[::-1] if shape else shape)
        raise self.fail(n, "not allowed (only numbers, names, + - * @ / ** 2, .T and known functions)")

    def name(self, n: ast.Name) -> tuple[Node, Shape]:
        if n.id in self.scope.vectors:
            node, size = self.scope.vectors[n.id]
            return node, (size,)
        if n.id in self.scope.params:
            return self.scope.params[n.id]
        if n.id in self.scope.later:
            raise self.fail(n, f"{n.id} is defined by this equation or one below it; an equation may use only "
                               f"those above it (equations are in order, so a cycle has none)")
        known = ", ".join([*self.scope.vectors, *self.scope.params])
        raise self.fail(n, f"unknown name (known here: {known})")

    def call(self, n: ast.Call) -> tuple[Node, Shape]:
        fname = self.scope.activation if n.func.id == "act" else n.func.id
        if fname not in FUNCTIONS:
            raise self.fail(n, f"unknown function {n.func.id!r} (known: act, {', '.join(FUNCTIONS)})")
        if len(n.args) != 1:
            raise self.fail(n, f"{n.func.id} takes one argument")
        arg, shape = self.build(n.args[0])
        if shape is not None and len(shape) != 1:
            self.mismatch(n, f"{n.func.id} applies to a vector, this is {_shape_text(shape)}")
        return apply(fname, arg), shape

    def binary(self, n: ast.BinOp) -> tuple[Node, Shape]:
        (a, sa), (b, sb) = self.build(n.left), self.build(n.right)
        op = type(n.op)
        if op in (ast.Add, ast.Sub):
            a, sa, b, sb = self.broadcast_one(a, sa, b, sb)
            shape = sa
            if sa != sb:
                self.mismatch(n, f"cannot add {_shape_text(sa)} and {_shape_text(sb)}")
                shape = None
            return (plus(a, b) if op is ast.Add else sub(a, b)), shape
        if op is ast.MatMult:
            if sa is None or sb is None:
                return matmul(a, b), None
            if len(sa) != 2 or len(sb) == 0 or sa[1] != sb[0]:
                raise self.fail(n, f"{_shape_text(sa)} @ {_shape_text(sb)} is not a matrix product of conformable "
                                   f"shapes")
            return matmul(a, b), (sa[0],) + sb[1:]
        if op is ast.Mult:
            return self.times(n, a, sa, b, sb)
        if op is ast.Div:
            if isinstance(b, Num) and b.value != 0:
                return matmul(Num(1 / b.value), a), sa
            raise self.fail(n, "only division by a nonzero number is allowed")
        if op is ast.Pow:
            if isinstance(b, Num) and b.value == 2:
                return Square(a), sa
            raise self.fail(n, f"exponent {ast.unparse(n.right)}: the only power allowed is ** 2 (the elementwise "
                               f"square)")
        raise self.fail(n, "not allowed (only + - * @ / and ** 2)")

    def broadcast_one(self, a, sa, b, sb):
        """A number beside a vector is that number times the all-ones vector (1 − u_t)."""
        def ones(x, s, other):
            if isinstance(x, Num) and other and len(other) == 1:
                return (Ones() if x.value == 1 else matmul(x, Ones())), other
            return x, s
        a, sa2 = ones(a, sa, sb)
        b, sb2 = ones(b, sb, sa)
        return a, sa2, b, sb2

    def times(self, n, a, sa, b, sb) -> tuple[Node, Shape]:
        """a * b: a scalar scales (and leads); a matrix times a vector is the matrix product; two vectors: ⊙."""
        if sa == ():
            return matmul(a, b), sb
        if sb == ():
            return matmul(b, a), sa
        if sa is None or sb is None:
            return hadamard(a, b), None
        if len(sa) == 2 and len(sb) >= 1:
            if sa[1] != sb[0]:
                raise self.fail(n, f"{_shape_text(sa)} times {_shape_text(sb)}: the sizes do not match")
            return matmul(a, b), (sa[0],) + sb[1:]
        if len(sa) == 1 and len(sb) == 1:
            if sa != sb:
                self.mismatch(n, f"elementwise product of {_shape_text(sa)} and {_shape_text(sb)}")
                return hadamard(a, b), None
            return hadamard(a, b), sa
        raise self.fail(n, f"{_shape_text(sa)} times {_shape_text(sb)} is ambiguous; write the matrix product with @")


def from_sympy(expr, scope: Scope, what: str, order=()) -> Node:
    """A SymPy expression of the single-equation API (W*h_prev + U*x + b) as IR, scalar-first.

    Products are commutative in SymPy, so their order is read off the kinds of their factors:
    scalars lead, then at most one matrix, then the vectors (several: their elementwise product).
    Sums are put in the order of `order` (the parameters' declaration order).
    """
    import sympy as sp
    names = {**{k: v[0] for k, v in scope.vectors.items()}, **{k: v[0] for k, v in scope.params.items()}}
    shapes = {k: (v[1],) for k, v in scope.vectors.items()} | {k: v[1] for k, v in scope.params.items()}
    rank = {name: k for k, name in enumerate(order)}

    def kind(e) -> int:  # 0 scalar, 1 matrix, 2 vector
        if e.is_Number:
            return 0
        s = shapes.get(str(e)) if e.is_Symbol else None
        return 0 if s == () else 1 if s is not None and len(s) == 2 else 2

    def lift(e):
        if e.is_Symbol:
            if e.name not in names:
                raise SymrnnError(f"{what}: unknown name {e.name!r}")
            return names[e.name]
        if e.is_Number:
            return Num(e)
        if e.is_Add:
            terms = sorted(sp.Add.make_args(e), key=lambda a: min(
                (rank.get(s.name, len(rank)) for s in a.free_symbols), default=len(rank)))
            return plus(*map(lift, terms))
        if e.is_Mul:
            factors = sorted(sp.Mul.make_args(e), key=kind)
            if sum(kind(f) == 1 for f in factors) > 1:
                raise SymrnnError(f"{what}: the product {e} has two matrices; its order is ambiguous")
            scalars = [lift(f) for f in factors if kind(f) == 0]
            matrices = [lift(f) for f in factors if kind(f) == 1]
            vectors = [lift(f) for f in factors if kind(f) == 2]
            return matmul(*scalars, *matrices, hadamard(*vectors)) if vectors else matmul(*scalars, *matrices)
        if e.is_Pow and e.exp == 2:
            return Square(lift(e.base))
        if isinstance(e, sp.Function) and len(e.args) == 1:
            fname = {"sigmoid": "sigmoid", "relu": "relu"}.get(type(e).__name__, type(e).__name__)
            if fname in FUNCTIONS:
                return apply(fname, lift(e.args[0]))
        raise SymrnnError(f"{what}: cannot read {e} as a cell equation")
    return lift(sp.sympify(expr))


__all__ = ["Scope", "parse_equation", "parse_with_shape", "from_sympy"]
