"""Read an answer: SymPy syntax or LaTeX, from the command line or a file, into a checked expression.

Sizes are refused before parsing (`limits`); a file is read by `symrnn.files.read_text`, only when
it is a regular file no larger than the limit (a FIFO, /dev/zero or a 3 GB sparse file is refused by
its type and size, never read); after parsing, every constant in the answer must have a finite real value
(log(0), sqrt(−1), 1/(cosh(1)² − sinh(1)² − 1) are refused by name).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import SymrnnError
from ..files import read_text
from . import numeric
from .limits import check_size, deep_recursion, shorten
from .model import Model
from .printing import text as show
from .sympyinput import culprit, parse_sympy, split_lhs
from .texinput import parse_latex

MAX_FILE_BYTES = 1_000_000
ZERO = sp.Float(10) ** -40      # a constant denominator this small is taken to be exactly 0


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
    check_size(source, what)
    with deep_recursion():
        try:
            if latex is not None:
                wrt, expr = parse_latex(latex, m.names, what, leibniz)
            else:
                wrt, rhs, offset = split_lhs(text, what)
                expr = parse_sympy(rhs, m.names, what, full=text, offset=offset)
        except RecursionError:
            raise SymrnnError(f"{what}: nested too deeply to read") from None
        if wrt is not None and wrt != param:
            raise SymrnnError(f"the left-hand side is ∂L/∂{wrt} but --param is {param}")
        expr = validate(sp.sympify(expr), what, text, m.names)
    return Answer(expr, source, "latex" if latex is not None else "sympy", tuple(notes))


def read_file(m: Model, param: str, path: str) -> Answer:
    """A file's answer: LaTeX if `looks_like_latex`, else SymPy syntax."""
    text = strip_comments(read_text(path, "--file", MAX_FILE_BYTES))
    return read(m, param, latex=text) if looks_like_latex(text) else read(m, param, text=text)


INFINITE = (sp.zoo, sp.oo, -sp.oo, sp.nan)


def validate(expr: sp.Expr, what: str, text: str | None = None, names=None) -> sp.Expr:
    """expr, once every constant in it has a finite real value (the culprit named in SymPy-syntax `text`)."""
    for bad, why in ((lambda e: e.has(*INFINITE), "is infinite (a division by zero or log(0))"),
                     (lambda e: e.has(sp.I), "is not real (sqrt or log of a negative number)")):
        if bad(expr):
            where = culprit(text, names, bad) if text is not None else None
            raise SymrnnError(f"{what}: {shorten(where or show(expr))} {why}")
    todo = [expr]
    while todo:                                   # the largest constant subexpressions, each evaluated once
        e = todo.pop()
        if e.is_Number or e.is_Symbol:
            continue
        if e.free_symbols:
            todo.extend(e.args)
            continue
        base = e.base if e.is_Pow and e.exp.is_negative else None
        try:
            if base is not None and abs(numeric.value(base, {})) < ZERO:
                raise SymrnnError(f"{what}: division by zero: {shorten(show(base))} is 0")
            numeric.value(e, {})
        except numeric.Undefined as u:
            raise SymrnnError(f"{what}: {shorten(show(u.culprit))} has no value: {u.reason}") from None
    return expr


__all__ = ["Answer", "read", "read_file", "looks_like_latex", "validate", "strip_comments"]
