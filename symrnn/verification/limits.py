"""The sizes an answer may have, and how a refusal quotes its culprit.

An answer is a whole derivation, so it may be longer and deeper than a model's equation: up to
MAX_CHARS characters and MAX_NESTING nested brackets, refused before it is read (by the parser's
`check_size`, with these limits). Every other bound — terms of a sum, exponents, digits,
functions within functions, constants without a finite value — is the parser's
(`symrnn.model.parsing`), checked there once for every reader of user math.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager

from ..model import parsing

MAX_CHARS = 20_000
MAX_NESTING = 200
MAX_INDEX_DIGITS = 6          # a step index h_{123456} at most (T ≤ 12 anyway)


def check_size(text: str, what: str) -> None:
    """Refuse an answer too long or too deeply nested, before any parsing."""
    parsing.check_size(text, what, MAX_CHARS, MAX_NESTING)


def shorten(s: str, n: int = 40) -> str:
    """A culprit quoted in a one-line message, cut to n characters."""
    s = " ".join(s.split())
    return s if len(s) <= n else s[:n - 1] + "…"


@contextmanager
def deep_recursion(limit: int = 6000):
    """Room for SymPy's recursion on an answer nested MAX_NESTING deep (restored afterwards)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


__all__ = ["MAX_CHARS", "MAX_NESTING", "MAX_INDEX_DIGITS", "shorten", "check_size", "deep_recursion"]
