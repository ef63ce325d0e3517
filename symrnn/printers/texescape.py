"""User text made safe for LaTeX: every special character printed as itself, never interpreted.

Names from spec files (cells, parameters, roles) reach the document through `escape` only,
so `\\input{/etc/passwd}` in a name prints as those characters. A few mathematical symbols
the engine itself writes (δ, σ, −, ², ∂ …) become their LaTeX; any other non-Latin character
is shown by its code point, since pdfLaTeX cannot typeset it.
"""
from __future__ import annotations

import re
import unicodedata

SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "%": r"\%", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}",
    "\n": " ", "\r": " ", "\t": " ",
}
MATH = {
    "δ": r"\delta", "σ": r"\sigma", "θ": r"\theta", "Θ": r"\Theta", "Σ": r"\Sigma", "Π": r"\Pi",
    "∂": r"\partial", "−": "-", "²": "^{2}", "⁺": "^{+}", "≤": r"\le", "≥": r"\ge", "×": r"\times",
    "→": r"\to", "⊙": r"\odot", "γ": r"\gamma", "ᵀ": r"^{\top}", "∈": r"\in", "·": r"\cdot", "½": r"\tfrac{1}{2}",
}
TEXT = {"§": r"\S{}", "–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}"}

# Names SymPy's LaTeX printer turns into math safely (h1 -> h_{1}, alpha -> \\alpha, W_in -> W_{in}).
SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _char(ch: str) -> str:
    if ch in SPECIAL:
        return SPECIAL[ch]
    if ch in MATH:
        return rf"\ensuremath{{{MATH[ch]}}}"
    if ch in TEXT:
        return TEXT[ch]
    if ch.isascii():
        return ch if ch.isprintable() else ""
    if unicodedata.category(ch).startswith("L") and ord(ch) < 0x180:  # Latin letters T1 fonts carry
        return ch
    return rf"\texttt{{[U+{ord(ch):04X}]}}"


def escape(text) -> str:
    """`text` as LaTeX that prints exactly these characters (text mode)."""
    return "".join(_char(ch) for ch in str(text))


def math_name(name: str) -> str:
    """A name that is not a plain identifier, as LaTeX math: escaped upright text."""
    return rf"\mathord{{\text{{{escape(name)}}}}}"
