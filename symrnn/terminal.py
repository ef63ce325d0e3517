"""The output boundary: a terminal that cannot show the lecture's Unicode gets ASCII notation instead.

Printers keep writing δ, ∂, ⊙, ᵀ, ²; only when stdout or stderr cannot encode a character is it
spelled out (δ → delta, ∂ → d, ⊙ → (.), ᵀ → ^T, ² → ^2), through a codec error handler, so no
printer needs to know the terminal and no UnicodeEncodeError reaches the user.
"""
from __future__ import annotations

import codecs
import io
import sys
import unicodedata
from contextlib import contextmanager

ERRORS = "symrnn-ascii"

SYMBOLS = {
    "∂": "d", "⊙": "(.)", "ᵀ": "^T", "⁺": "+", "⁻": "-", "−": "-", "…": "...", "·": "*", "×": "x",
    "→": "->", "↦": "|->", "≤": "<=", "≥": ">=", "≈": "~", "≠": "!=", "∈": "in", "±": "+/-",
    "½": "1/2", "—": "--", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "§": "section ",
    "‖": "||", "√": "sqrt", "∞": "inf", "✓": "ok", "✗": "x", "∘": "o", "µ": "u", "𝒯": "T",
}


def ascii_notation(ch: str) -> str:
    """One character in ASCII notation: the table, then Greek letters, super/subscripts, accents by name."""
    if ch in SYMBOLS:
        return SYMBOLS[ch]
    name = unicodedata.name(ch, "")
    if name.startswith("GREEK "):              # GREEK SMALL LETTER DELTA -> delta, CAPITAL SIGMA -> Sigma
        letter = name.split()[-1].lower()
        return letter.capitalize() if "CAPITAL" in name else letter
    digit = unicodedata.digit(ch, None)
    if name.startswith("SUPERSCRIPT") and digit is not None:
        return f"^{digit}"
    if name.startswith("SUBSCRIPT") and digit is not None:
        return f"_{digit}"
    plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()   # ā -> a
    return plain or "?"


def _handler(error: UnicodeEncodeError):
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(map(ascii_notation, error.object[error.start:error.end])), error.end


codecs.register_error(ERRORS, _handler)


@contextmanager
def ascii_fallback(*streams):
    """Within the block, the streams (default stdout and stderr) spell out what their encoding cannot show."""
    changed = []
    for stream in streams or (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            try:
                "δ∂⊙ᵀ²".encode(stream.encoding)
            except (UnicodeEncodeError, LookupError):
                stream.reconfigure(errors=ERRORS)
                changed.append(stream)
    try:
        yield
    finally:
        for stream in changed:
            stream.reconfigure(errors="strict")


__all__ = ["ascii_fallback", "ascii_notation", "ERRORS"]
