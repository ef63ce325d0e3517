"""Print answers in the lecture's notation: `2 (Y1 - z1) V (1 - h1²) h0`, never SymPy's `2*V*h0*…`.

The project's text printer writes a product with a number or a division in SymPy's `*` form;
here a product is always juxtaposition, its factors in the order a chain rule writes them:
the loss's derivative, the output weights, then the steps from the last back to the first
(act'(a_t) before the recurrent W that leads to step t − 1), the entry factor last.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from ..printers.lecture import TextPrinter
from ..ir.scalar import sigmoid

_FRACTIONS = {sp.Rational(1, 2): "½", sp.Rational(1, 3): "⅓", sp.Rational(1, 4): "¼"}


def _step(sym: sp.Symbol) -> int | None:
    """The step index of a time-indexed name (h2 → 2), None for a parameter."""
    name = sym.name
    stem = name.rstrip("0123456789")
    return int(name[len(stem):]) if stem and stem != name and stem in ("h", "x", "a", "Y", "z") else None


def order(factors: list[sp.Expr]) -> list[sp.Expr]:
    """Factors in the chain rule's order: loss derivative, output weights, later steps first."""
    def steps(f):
        return [s for s in map(_step, f.free_symbols) if s is not None]

    def is_loss(f):
        return any(str(q)[0] in "Yz" for q in f.free_symbols if _step(q) is not None) or f.has(sigmoid) and \
            any(str(q)[0] == "Y" for q in f.free_symbols)

    top = max((max(steps(f)) for f in factors if steps(f) and not is_loss(f)), default=None)

    def key(f):
        if is_loss(f):
            return (0, 0, 0, 0, sp.default_sort_key(f))
        s = steps(f)
        if not s:                      # a parameter: V first; W right after the latest step's factor
            if str(f) == "V":
                return (1, 0, 0, 0, sp.default_sort_key(f))
            return (2, -(top - 0.5) if top is not None else 0.5, 0, 0, sp.default_sort_key(f))
        return (2, -max(s), f.is_Symbol and f.name.startswith("x"), f.is_Add, sp.default_sort_key(f))  # x_t last
    return sorted(factors, key=key)


def _loss_step(term) -> int:
    """The loss step a term comes from (the largest t of its Y_t, z_t), 0 for none."""
    return max((s for q in term.free_symbols if str(q)[:1] in "Yz" for s in [_step(q)] if s is not None), default=0)


class PathOrder:
    """Sums in the chain rule's order: by the loss step a term comes from, then with a minus sign last
    (Y1 − z1, 1 − h1²), constants before symbols."""

    def _as_ordered_terms(self, expr, order=None):
        return sorted(expr.args, key=lambda a: (_loss_step(a), a.could_extract_minus_sign(), a.is_Number))


class AnswerText(PathOrder, TextPrinter):
    """The lecture's text notation for any product: signs, numbers and divisions included."""

    printmethod = "_symrnn_answer_text"

    def _print_Mul(self, e):
        c, rest = e.as_coeff_Mul()
        if c.is_negative:
            return "-" + self._print_Mul(-e) if rest != 1 else self._print(c)
        num, den = [], []
        for a in sp.Mul.make_args(rest):
            if a.is_Pow and a.exp.is_Rational and a.exp.is_negative:
                den.append(a.base ** -a.exp)
            else:
                num.append(a)
        parts = [self.parenthesize(f, PRECEDENCE["Mul"], strict=False) for f in order(num) if f != 1]
        if c != 1:
            if c in _FRACTIONS:
                parts.insert(0, _FRACTIONS[c])
            elif c.is_Integer or not parts:
                parts.insert(0, self._print(c))
            else:
                parts.insert(0, f"({c.p}/{c.q})")
        out = " ".join(parts) or "1"
        if den:
            below = sp.Mul(*den)
            shown = self._print(below)
            if len(den) > 1 or not (below.is_Atom or below.is_Function or below.is_Pow):
                shown = f"({shown})"
            out = f"{out}/{shown}"
        return out

    def _print_Add(self, expr, order=None):
        terms = self._as_ordered_terms(expr, order=order)
        out = []
        for k, t in enumerate(terms):
            s = self._print(t)
            if s.startswith("-"):
                out.append(("- " if k else "-") + s[1:])
            else:
                out.append(("+ " if k else "") + s)
        return " ".join(out)


def text(expr) -> str:
    """expr in the lecture's text notation."""
    return AnswerText().doprint(expr)


BRIEF = 240


def brief(expr) -> str:
    """text(expr), cut to about BRIEF characters for a report line (a long sum says how many terms it has)."""
    out = text(expr)
    if len(out) <= BRIEF:
        return out
    n = len(sp.Add.make_args(expr))
    return out[:BRIEF].rsplit(" ", 1)[0] + f" … ({n} terms in all)"


__all__ = ["AnswerText", "text", "brief", "order"]
