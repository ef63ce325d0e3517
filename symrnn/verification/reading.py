"""Read an answer: SymPy syntax or LaTeX, from the command line or a file, into a checked expression.

Sizes are refused before parsing (`limits`); a file is read by `symrnn.files.read_text`, only when
it is a regular file no larger than the limit (a FIFO, /dev/zero or a 3 GB sparse file is refused by
its type and size, never read). Every constant in the answer must have a finite real value (log(0),
sqrt(−1), 1/(cosh(1)² − sinh(1)² − 1) are refused by name): in SymPy syntax the parser checks each
one as it is built; LaTeX, read by a grammar of verify's own, is checked after reading (`validate`).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import SymrnnError
from ..files import read_text
from ..model.parsing import constant_problem, is_zero
from .limits import check_size, deep_recursion, shorten
from .model import Model
from .printing import text as show
from .sympyinput import parse_sympy, split_lhs
from .texinput import parse_latex

MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class Answer:
    """A parsed answer: its expression in the lecture's symbols and what reading it took."""

    expr: sp.Expr
    source: str                  # the text as given
    form: str                    # "sympy" or "latex"
    notes: tuple[str, ...] = ()  # Leibniz factors replaced by their values


def looks_like_latex(text: str) -> bool:
    """A file holds LaTeX when it has a backslash or a `_` subscript; otherwise SymPy syntax."""
    return "\\" in text or "_" in text


def strip_comments(text: str) -> str:
    """Lines starting with % or # are comments."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith(("%", "#")))


def read(m: Model, param: str, text: str | None = None, latex: str | None = None, what: str | None = None) -> Answer:
    """The answer for ∂L/∂param, given once: SymPy syntax `text` or LaTeX `latex` (parsed, never evaluated);
    `what` names it in errors (default: the option it came from)."""
    if (text is None) == (latex is None):
        raise SymrnnError("give the derivation once: as SymPy text (--expr) or as LaTeX (--latex)")
    notes: list[str] = []

    def leibniz(num: str, den: str, immediate: bool) -> sp.Expr:
        value, shown = m.leibniz(num, den, immediate, param)
        notes.append(f"{shown} = {show(value)}")
        return value

    source = latex if latex is not None else text
    what = what or ("--latex" if latex is not None else "--expr")
    check_size(source, what)            # before anything reads it (the parsers check again when called alone)
    with deep_recursion():
        try:
            if latex is not None:
                wrt, expr = parse_latex(latex, m.names, what, leibniz)
                expr = validate(sp.sympify(expr), what)
            else:
                wrt, rhs, offset = split_lhs(text, what)
                expr = parse_sympy(rhs, m.names, what, full=text, offset=offset)
        except RecursionError:
            raise SymrnnError(f"{what}: nested too deeply to read") from None
        if wrt is not None and wrt != param:
            raise SymrnnError(f"the left-hand side is ∂L/∂{wrt} but --param is {param}")
    return Answer(expr, source, "latex" if latex is not None else "sympy", tuple(notes))


def read_file(m: Model, param: str, path: str) -> Answer:
    """A file's answer: LaTeX if `looks_like_latex`, else SymPy syntax."""
    return read_source(m, param, read_text(path, "--file", MAX_FILE_BYTES))


def read_source(m: Model, param: str, source: str) -> Answer:
    """A file's text (comments dropped): LaTeX if `looks_like_latex`, else SymPy syntax."""
    text = strip_comments(source)
    return read(m, param, latex=text) if looks_like_latex(text) else read(m, param, text=text)


def validate(expr: sp.Expr, what: str) -> sp.Expr:
    """expr (read from LaTeX), once every constant in it is finite, real and not huge, and no constant
    denominator is 0 — checked as the SymPy-syntax parser checks the constants it builds."""
    todo = [expr]
    while todo:                                   # the largest constant subexpressions
        e = todo.pop()
        if e.free_symbols:
            todo.extend(e.args)
            continue
        if e.is_Number:
            continue
        zero = next((p.base for p in sp.preorder_traversal(e)
                     if p.is_Pow and p.exp.is_negative and is_zero(p.base)), None)
        if zero is not None:
            raise SymrnnError(f"{what}: division by zero: the denominator {shorten(show(zero))!r} is 0")
        if why := constant_problem(e):
            raise SymrnnError(f"{what}: {shorten(show(e))!r} {why}")
    return expr


__all__ = ["Answer", "read", "read_file", "read_source", "looks_like_latex", "validate", "strip_comments"]
