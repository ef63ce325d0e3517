"""Printers for the lecture's notation: plain text, LaTeX, and a form that parses back.

Printing is SymPy's dispatch to `_print_<Class>`; each printer here only adds the nodes and
conventions SymPy does not know (Leibniz partials, σ, h_{t−1}, products in written order).
"""
from __future__ import annotations

import sys

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .. import naming
from . import texescape
from .matrix import MatrixLatex, MatrixParseable, MatrixText
from ..ir.nodes import Node
from ..ir.scalar import Chain, Terms

SUPERSCRIPTS = str.maketrans("0123456789+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺")


def bracketed(e) -> bool:
    """Whether a Σ or Π needs brackets round its body: Σ binds over a product (Σ_t δ_t h_{t-1}),
    not over a sum; Π is followed by other factors, so a product body is bracketed too."""
    kinds = (sp.Add, Terms) if isinstance(e, sp.Sum) else (sp.Add, sp.Mul, Chain, Terms)
    return isinstance(e.function, kinds)


class LectureOrder:
    """Sums as people write them: terms with a minus sign last (σ(Y1) − z1, 1 − h1², Y1 − z1), constants
    after symbols (t + 1)."""

    def _as_ordered_terms(self, expr, order=None):
        return sorted(expr.args, key=lambda a: (a.could_extract_minus_sign(), a.is_Number))


class TextPrinter(MatrixText, LectureOrder, StrPrinter):
    """Terminal text: ∂L1/∂h1, products by juxtaposition, h1², h_{t-1}."""

    printmethod = "_symrnn_text"  # objects' own _sympystr would bypass the _print_ methods below

    def _print_Chain(self, e):
        return " ".join(self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in e.args)

    def _print_Terms(self, e):
        return " + ".join(self.parenthesize(a, PRECEDENCE["Add"], strict=False) for a in e.args)

    def _print_Partial(self, e):
        plus = "⁺" if e.immediate else ""
        return f"∂{plus}{self._print(e.num)}/∂{self._print(e.den)}"

    def _print_DerivativeOf(self, e):
        return f"∂/∂{self._print(e.den)} {self._print(e.expr)}"

    def _print_Mul(self, e):
        """Juxtaposition, as the lecture writes products: -h θ, 2 V h1 (1 - h1²); quotients keep /."""
        if e.could_extract_minus_sign():
            return "-" + self.parenthesize(-e, PRECEDENCE["Mul"], strict=True)
        coeff, rest = e.as_coeff_Mul()
        args = sp.Mul.make_args(rest)
        if not (coeff == 1 or coeff.is_Integer) or any(a.is_Number or (a.is_Pow and a.exp.is_negative) for a in args):
            return super()._print_Mul(e)
        factors = [self.parenthesize(a, PRECEDENCE["Mul"], strict=False) for a in args]
        return " ".join(factors if coeff == 1 else [str(coeff), *factors])

    def _print_Pow(self, e, rational=False):
        if e.exp.is_Integer and 1 < e.exp < 10:
            return self.parenthesize(e.base, PRECEDENCE["Pow"], strict=True) + str(e.exp).translate(SUPERSCRIPTS)
        return super()._print_Pow(e, rational)

    def _print_Heaviside(self, e):
        return f"H({self._print(e.args[0])})"

    def _print_sigmoid(self, e):
        return f"σ({self._print(e.args[0])})"

    def _print_Symbol(self, e):
        return naming.text_name(e.name)

    def _print_Indexed(self, e):
        index = e.indices[0]
        shown = self._print(index).replace(" ", "")
        return f"{self._print(e.base)}_{shown}" if index.is_Atom else f"{self._print(e.base)}_{{{shown}}}"

    def _print_IndexedBase(self, e):
        return self._print(e.label)

    def _print_Sum(self, e):
        return self._print_limits("Σ", e)

    def _print_Product(self, e):
        return self._print_limits("Π", e)

    def _print_limits(self, sign, e):
        out = self._print(e.function)
        out = f"[{out}]" if bracketed(e) else out
        for var, lo, hi in e.limits:
            out = f"{sign}_{{{self._print(var)}={self._print(lo)}..{self._print(hi)}}} {out}"
        return out


class LectureLatexPrinter(MatrixLatex, LectureOrder, LatexPrinter):
    """LaTeX in the lecture's notation: \\frac{\\partial L_{1}}{\\partial h_{1}}, h_{t-1}, \\sigma."""

    printmethod = "_symrnn_latex"

    def _print_Chain(self, e):
        return " ".join(self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in e.args)

    def _print_Terms(self, e):
        return " + ".join(self.parenthesize(a, PRECEDENCE["Add"], strict=False) for a in e.args)

    def _print_Sum(self, e):
        return self._print_limits(r"\sum", e)

    def _print_Product(self, e):
        return self._print_limits(r"\prod", e)

    def _print_limits(self, sign, e):
        """Nested Σ/Π written outermost first: \\sum_{t=1}^{T} \\sum_{s=1}^{t} …"""
        body = self._print(e.function)
        if bracketed(e):
            body = rf"\left[{body}\right]"
        for var, lo, hi in e.limits:
            body = rf"{sign}_{{{self._print(var)}={self._print(lo)}}}^{{{self._print(hi)}}} {body}"
        return body

    def _print_Partial(self, e):
        plus = "^{+}" if e.immediate else ""
        return rf"\frac{{\partial{plus} {self._print(e.num)}}}{{\partial {self._print(e.den)}}}"

    def _print_DerivativeOf(self, e):
        return rf"\frac{{\partial}}{{\partial {self._print(e.den)}}} {self._print(e.expr)}"

    def _print_sigmoid(self, e, exp=None):
        base = rf"\sigma\left({self._print(e.args[0])}\right)"
        return base if exp is None else rf"{base}^{{{exp}}}"

    def _print_relu(self, e, exp=None):
        base = rf"\operatorname{{relu}}\left({self._print(e.args[0])}\right)"
        return base if exp is None else rf"{base}^{{{exp}}}"

    def _print_Heaviside(self, e, exp=None):
        base = rf"H\left({self._print(e.args[0])}\right)"
        return base if exp is None else rf"{base}^{{{exp}}}"

    def _print_Indexed(self, e):
        index = self._print(e.indices[0]).replace(" ", "")
        return rf"{self._print(e.base)}_{{{index}}}"

    def _print_Symbol(self, e, style="plain"):
        """Plain identifiers as SymPy prints them (a decorated step symbol as δ^{r}_{1}); any other name
        (from a spec file) as escaped text, never as LaTeX."""
        split = naming.split_symbol(e.name)
        if split and naming.decorated(split[0]):
            role = naming.latex_role(split[0], lambda n: super(LectureLatexPrinter, self)._print_Symbol(sp.Symbol(n)))
            return f"{role}_{{{split[1]}}}"
        if naming.decorated(e.name):
            return naming.latex_role(e.name, lambda n: super(LectureLatexPrinter, self)._print_Symbol(sp.Symbol(n)))
        if texescape.SAFE_NAME.fullmatch(e.name):
            return super()._print_Symbol(e, style)
        return texescape.math_name(e.name)

    def _print_IndexedBase(self, e):
        return self._print(e.label)


class DocumentLatexPrinter(LectureLatexPrinter):
    """The lecture's LaTeX for typeset documents: plain parentheses (1 - h_{1}^{2}) around flat material,
    growing ones only around fractions, sums and products."""

    TALL = (r"\frac", r"\sum", r"\prod", r"\begin")

    def _add_parens(self, s) -> str:
        return super()._add_parens(s) if any(m in s for m in self.TALL) else f"({s})"

    def _print_Chain(self, e):
        """Factors in written order, a thin space apart: (Y_{1} - z_{1})\\, V\\, (1 - h_{1}^{2})."""
        return r" \, ".join(self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in e.args)


class ParseablePrinter(MatrixParseable, LectureOrder, StrPrinter):
    """`str()` that `sympy.sympify` reads back to the same function: σ and relu in built-ins."""

    def _print_sigmoid(self, e):
        return f"1/(1 + exp(-{self.parenthesize(e.args[0], PRECEDENCE['Mul'])}))"

    def _print_relu(self, e):
        return f"Max(0, {self._print(e.args[0])})"


def text(expr) -> str:
    return TextPrinter().doprint(expr)


def latex(expr) -> str:
    return LectureLatexPrinter().doprint(expr)


def document_latex(expr) -> str:
    return DocumentLatexPrinter().doprint(expr)


def latex_pieces(expr, printer: type = LectureLatexPrinter) -> list[list[str]]:
    """A written sum as LaTeX pieces for line breaking: one list per term, one string per factor,
    each parenthesized as it is inside the whole (joining terms with + and factors with a space
    gives `latex(expr)` back)."""
    pr = printer()
    terms = expr.args if isinstance(expr, Terms) else (expr,)
    out = []
    for term in terms:
        if isinstance(term, Chain):
            out.append([pr.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in term.args])
        else:
            out.append([pr.parenthesize(term, PRECEDENCE["Add"], strict=False) if len(terms) > 1 else pr.doprint(term)])
    return out


def parseable(expr) -> str:
    return ParseablePrinter().doprint(expr)


# str(node), repr(node) and Jupyter print the IR's nodes with the functions above (the nodes do not import
# their printers: this module knows them, not the other way round)
Node.printers = sys.modules[__name__]

__all__ = ["text", "latex", "document_latex", "latex_pieces", "parseable"]
