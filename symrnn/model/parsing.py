"""Read user math without running it: a whitelist walk over Python's AST builds SymPy objects.

`sympify` would `eval` the text; here only numbers, known names, + − * / ** (and ^ as power),
unary signs and calls of a few known functions are accepted, and anything else is a one-line
error naming what was found.
"""
from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Mapping, Sequence

import sympy as sp

from ..errors import SymrnnError
from ..ir.scalar import relu, sigmoid

FUNCTIONS = {"tanh": sp.tanh, "sigmoid": sigmoid, "relu": relu, "exp": sp.exp, "log": sp.log,
             "sqrt": sp.sqrt, "sech": sp.sech, "cosh": sp.cosh, "sinh": sp.sinh,
             "Heaviside": sp.Heaviside, "Max": sp.Max, "Min": sp.Min, "Abs": sp.Abs}
MAX_LENGTH = 10_000
MAX_EXPONENT = 64

_BINARY = {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul,
           ast.Div: lambda a, b: a / b, ast.Pow: sp.Pow}


def _caret_as_power(text: str) -> str:
    """Lex the text and turn the operator token ^ into ** (so h^2 - 1 keeps power precedence)."""
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return tokenize.untokenize((tokenize.OP, "**") if tok.type == tokenize.OP and tok.string == "^"
                               else (tok.type, tok.string) for tok in tokens)


def parse_expr(text: str, names: Mapping[str, sp.Expr], what: str = "expression",
               indexed: Mapping[str, Sequence[sp.Expr]] | None = None) -> sp.Expr:
    """The SymPy expression written in `text`, whose free names must all be keys of `names`.

    `indexed` names vectors written with a literal index, `h[0]` … `h[k-1]` (nothing else may be indexed).
    """
    indexed = indexed or {}
    if not isinstance(text, str):
        raise SymrnnError(f"{what}: expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SymrnnError(f"{what}: {len(text)} characters is longer than the limit {MAX_LENGTH}")
    try:
        tree = ast.parse(_caret_as_power(text.strip()), mode="eval")
    except (SyntaxError, tokenize.TokenError) as e:
        raise SymrnnError(f"{what}: cannot parse {text!r}: {e.args[0]}") from None

    def build(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return sp.Integer(node.value) if isinstance(node.value, int) else sp.Rational(str(node.value))
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in indexed:
            vector, index = indexed[node.value.id], node.slice
            if not (isinstance(index, ast.Constant) and type(index.value) is int and 0 <= index.value < len(vector)):
                raise SymrnnError(f"{what}: {ast.unparse(node)!r}: {node.value.id} has {len(vector)} components, "
                                  f"indexed {node.value.id}[0] … {node.value.id}[{len(vector) - 1}]")
            return vector[index.value]
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in names:
            raise SymrnnError(f"{what}: {ast.unparse(node)!r}: {node.value.id} is a scalar here, not a vector")
        if isinstance(node, ast.Name) and node.id in indexed and node.id not in names:
            vector = indexed[node.id]
            raise SymrnnError(f"{what}: {node.id} is a vector of {len(vector)} components; "
                              f"write {node.id}[0] … {node.id}[{len(vector) - 1}]")
        if isinstance(node, ast.Name):
            if node.id not in names:
                known = ", ".join([*sorted(names), *(f"{v}[i]" for v in sorted(indexed))]) or "none"
                raise SymrnnError(f"{what}: unknown name {node.id!r} (known: {known})")
            return names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = build(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = build(node.left), build(node.right)
            if type(node.op) is ast.Pow and right.is_Number and abs(right) > MAX_EXPONENT:
                raise SymrnnError(f"{what}: exponent {right} is larger than {MAX_EXPONENT}")
            if type(node.op) is ast.Div and right == 0:
                raise SymrnnError(f"{what}: division by zero")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            if node.func.id not in FUNCTIONS:
                raise SymrnnError(f"{what}: unknown function {node.func.id!r} (known: {', '.join(FUNCTIONS)})")
            return FUNCTIONS[node.func.id](*map(build, node.args))
        shown = ast.unparse(node)
        raise SymrnnError(f"{what}: {shown!r} is not allowed (only numbers, names, + - * / ** and known functions)")

    try:
        return build(tree.body)
    except (TypeError, ValueError) as e:  # e.g. a function called with the wrong number of arguments
        if isinstance(e, SymrnnError):
            raise
        raise SymrnnError(f"{what}: {text!r}: {e}") from None
