"""The sizes an answer may have, and how a refusal points at its culprit.

An answer longer than MAX_CHARS or nested deeper than MAX_NESTING brackets is refused before it
is parsed; functions nested deeper than MAX_CALLS are refused while parsing (SymPy's automatic
simplification of tanh(tanh(tanh(…))) takes time exponential in the depth: 8 levels, 1.4 s;
12, minutes); an exact number of more than MAX_DIGITS digits is never built.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager

from ..errors import SymrnnError

MAX_CHARS = 20_000
MAX_NESTING = 200
MAX_CALLS = 4
MAX_DIGITS = 2000
MAX_INDEX_DIGITS = 6          # a step index h_{123456} at most (T ≤ 12 anyway)
OPENERS, CLOSERS = "([{", ")]}"


def where(text: str, pos: int | None) -> str:
    """`at position N` (1-based), or `at line L, column C` in a text of several lines; `at the end`."""
    if pos is None or pos >= len(text.rstrip()):
        return "at the end"
    line = text.count("\n", 0, pos)
    if line == 0:
        return f"at position {pos + 1}"
    return f"at line {line + 1}, column {pos - text.rfind(chr(10), 0, pos)}"


def shorten(s: str, n: int = 40) -> str:
    """A culprit quoted in a one-line message, cut to n characters."""
    s = " ".join(s.split())
    return s if len(s) <= n else s[:n - 1] + "…"


def check_size(text: str, what: str) -> None:
    """Refuse an answer too long or too deeply nested, before any parsing."""
    if not isinstance(text, str):
        raise SymrnnError(f"{what}: expected text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise SymrnnError(f"{what}: {len(text)} characters, more than the limit {MAX_CHARS}")
    depth = 0
    for i, ch in enumerate(text):
        if ch in OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                raise SymrnnError(f"{what}: brackets nested more than {MAX_NESTING} deep {where(text, i)}")
        elif ch in CLOSERS:
            depth -= 1


@contextmanager
def deep_recursion(limit: int = 6000):
    """Room for SymPy's recursion on an answer nested MAX_NESTING deep (restored afterwards)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


__all__ = ["MAX_CHARS", "MAX_NESTING", "MAX_CALLS", "MAX_DIGITS", "where", "shorten", "check_size", "deep_recursion"]
