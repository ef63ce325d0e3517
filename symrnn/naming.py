"""One place for every name symrnn gives: symbols in derivations, their LaTeX, file names.

The lecture writes the value of `h` at step 2 as `h2` (LaTeX `h_{2}`); at a symbolic step
`t` it is the indexed `h[t]` (LaTeX `h_{t}`). Everything else asks this module.
"""
from __future__ import annotations

import sympy as sp

# Generic step indices for the general-T forms.
t = sp.Symbol("t", integer=True, positive=True)
s = sp.Symbol("s", integer=True, positive=True)
i = sp.Symbol("i", integer=True, positive=True)
T = sp.Symbol("T", integer=True, positive=True)

# Roles of the per-step quantities, by the letter the lecture uses.
STATE, INPUT, PREACT, OUTPUT, TARGET, LOSS, DELTA = "h", "x", "a", "Y", "z", "L", "delta"

# Placeholders in a cell's equations: the previous state, the input, the current state.
PREV = sp.Symbol("h_prev")
CUR = sp.Symbol("h")
X = sp.Symbol("x")
# The single output and target inside a loss rule.
Y = sp.Symbol("Y")
Z = sp.Symbol("z")
TOTAL_LOSS = sp.Symbol("L")


def at(role: str, step) -> sp.Expr:
    """The quantity `role` at `step`: Symbol('h2') for a number, h[t-1] (Indexed) for a symbolic step."""
    step = sp.sympify(step)
    if step.is_Integer:
        return sp.Symbol(f"{role}{int(step)}")
    return sp.IndexedBase(role)[step]


def concrete(expr: sp.Expr) -> sp.Expr:
    """Replace every indexed quantity with a numeric index (h[2]) by the lecture's symbol (h2)."""
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.indices[0].is_Integer,
        lambda e: at(str(e.base), e.indices[0]),
    )


GREEK = {"delta": "δ", "sigma": "σ", "theta": "θ"}


def text_name(name: str) -> str:
    """A symbol's name for terminal text: delta2 -> δ2 (LaTeX gets \\delta_{2} from SymPy itself)."""
    for word, letter in GREEK.items():
        if name.startswith(word):
            return letter + name[len(word):]
    return name


def param(name: str) -> sp.Symbol:
    """The symbol of parameter `name` (W, U, b, V, c, or a user cell's own)."""
    return sp.Symbol(name)


def kernel_module(cell: str, activation: str, loss: str, output: str) -> str:
    """File name of a generated kernel: `<cell>_<activation>_<loss>_<output>.py`."""
    return f"{cell}_{activation}_{loss}_{output}.py"
