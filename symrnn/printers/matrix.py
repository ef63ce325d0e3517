"""Printers for the matrix IR: the lecture's notation as text and LaTeX, and a string form that parses back.

    text:      δ_t = (1 - h_t ⊙ h_t) ⊙ (Vᵀ(Y_t - z_t) + Wᵀ δ_{t+1})      ∂L/∂W = Σ_{t=1..T} δ_t h_{t-1}ᵀ
    LaTeX:     \\delta_{t} = \\left(1 - h_{t} \\odot h_{t}\\right) \\odot \\left(V^{\\top} … \\right)
    parseable: (1 - h[t]*h[t])*(V.T @ (Y[t] - z[t]) + W.T @ delta[t + 1])      (`matrix_eval.parse`)

The parseable form is NumPy-flavoured Python syntax: `@` matrix product, `*` Hadamard product,
`.T` transpose, `1` the all-ones vector, `v**2` the elementwise square, `diag`, `tanh`, `sigmoid`,
`relu`, `H`, `exp`, `softmax`, `onehot`, `Sum(body, (t, lo, hi))`, `Prod(body, (i, lo, hi))`.

Each printer is a mixin with `_print_<Node>` methods, a base of the lecture printers in
`printers/lecture.py` (so its `text/latex/parseable` print matrix nodes too); nothing here edits
strings produced elsewhere.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from .. import naming
from ..ir.nodes import Node, Block, Hadamard, Mat, MatProd, Minus, Neg, Plus, ProdOver, Square, SumOver, Transposed, Vec



def _step_text(printer, step) -> str:
    return printer._print(step).replace(" ", "")


class Constants:
    """The all-ones vector, the zero and the identity, written 1, 0, I in every notation."""

    def _print_Ones(self, e):
        return "1"

    def _print_Zeros(self, e):
        return "0"

    def _print_Eye(self, e):
        return "I"


class Notation(Constants):
    """Sums and differences as people write them (text and LaTeX alike)."""

    def _print_Plus(self, e):
        out = ""
        for a in e.args:
            if isinstance(a, Neg):
                out += " - " + self.parenthesize(a.args[0], PRECEDENCE["Add"], strict=True)
            else:
                out += (" + " if out else "") + self.parenthesize(a, PRECEDENCE["Add"], strict=False)
        return out

    def _print_Minus(self, e):
        a, b = e.args
        return f"{self.parenthesize(a, PRECEDENCE['Add'], strict=True)} - {self.parenthesize(b, PRECEDENCE['Add'], strict=False)}"

    def _print_Neg(self, e):
        return f"-{self.parenthesize(e.args[0], PRECEDENCE['Mul'], strict=False)}"

    def _print_Num(self, e):
        return self._print(e.value)


class MatrixText(Notation):
    """Terminal text: h_{t-1}ᵀ, δ2, (1 - h_t ⊙ h_t), Σ_{t=1..T}, Π_{i=s+1..t}."""

    def _print_Vec(self, e):
        name = naming.text_role(e.role)
        if e.step.is_Integer:
            return f"{name}{int(e.step)}"
        shown = _step_text(self, e.step)
        return f"{name}_{shown}" if e.step.is_Atom else f"{name}_{{{shown}}}"

    def _print_Mat(self, e):
        return naming.text_role(e.name)

    def _print_MatProd(self, e):
        out = ""
        for a in e.args:
            s = self.parenthesize(a, PRECEDENCE["Mul"], strict=True)
            out += s if not out or s.startswith("(") else " " + s
        return out

    def _print_Hadamard(self, e):
        return " ⊙ ".join(self.parenthesize(a, e.precedence, strict=True) for a in e.args)

    def _print_Transposed(self, e):
        return self.parenthesize(e.args[0], PRECEDENCE["Pow"], strict=True) + "ᵀ"

    def _print_Square(self, e):
        return self.parenthesize(e.args[0], PRECEDENCE["Pow"], strict=True) + "²"

    def _print_Diag(self, e):
        return f"diag({self._print(e.args[0])})"

    def _print_Map(self, e):
        return f"{e.function.text}({self._print(e.args[1])})"

    def _print_Block(self, e):
        return "[" + "; ".join(", ".join(self._print(a) for a in row) for row in e.rows) + "]"

    def _print_Part(self, e):
        return f"{self._print(e.args[0])}[{e.index}]"

    def _print_Softmax(self, e):
        return f"softmax({self._print(e.args[0])})"

    def _print_OneHot(self, e):
        return f"onehot({self._print(e.args[0])})"

    def _print_SumOver(self, e):
        sign = "Π" if isinstance(e, ProdOver) else "Σ"
        var, lo, hi = e.limits
        body = self._print(e.body)
        if isinstance(e.body, (Plus, Minus)):
            body = f"[{body}]"
        return f"{sign}_{{{self._print(var)}={_step_text(self, lo)}..{_step_text(self, hi)}}} {body}"


class MatrixLatex(Notation):
    """LaTeX: h_{t-1}^{\\top}, \\odot, \\operatorname{diag}, \\sum_{t=1}^{T}, \\prod_{i=s+1}^{t}."""

    def _print_Vec(self, e):
        role = naming.latex_role(e.role, lambda name: self._print(sp.Symbol(name)))
        return rf"{role}_{{{_step_text(self, e.step)}}}"

    def _print_Mat(self, e):
        return self._print(sp.Symbol(e.name))

    def _print_MatProd(self, e):
        return " ".join(self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in e.args)

    def _print_Hadamard(self, e):
        return r" \odot ".join(self.parenthesize(a, e.precedence, strict=True) for a in e.args)

    def _print_Transposed(self, e):
        return self.parenthesize(e.args[0], PRECEDENCE["Pow"], strict=True) + r"^{\top}"

    def _print_Square(self, e):
        return self.parenthesize(e.args[0], PRECEDENCE["Pow"], strict=True) + "^{2}"

    def _print_Diag(self, e):
        return rf"\operatorname{{diag}}\left({self._print(e.args[0])}\right)"

    def _print_Map(self, e):
        return rf"{e.function.latex}\left({self._print(e.args[1])}\right)"

    def _print_Block(self, e):
        rows = r" \\ ".join(" & ".join(self._print(a) for a in row) for row in e.rows)
        return rf"\begin{{pmatrix}} {rows} \end{{pmatrix}}"

    def _print_Part(self, e):
        return rf"\left[{self._print(e.args[0])}\right]_{{{e.index + 1}}}"

    def _print_Softmax(self, e):
        return rf"\operatorname{{softmax}}\left({self._print(e.args[0])}\right)"

    def _print_OneHot(self, e):
        return rf"\operatorname{{onehot}}\left({self._print(e.args[0])}\right)"

    def _print_SumOver(self, e):
        sign = r"\prod" if isinstance(e, ProdOver) else r"\sum"
        var, lo, hi = e.limits
        body = self._print(e.body)
        if isinstance(e.body, (Plus, Minus)):
            body = rf"\left[{body}\right]"
        return rf"{sign}_{{{self._print(var)}={_step_text(self, lo)}}}^{{{_step_text(self, hi)}}} {body}"


_COMPOUND = (Plus, Minus, MatProd, Hadamard, SumOver)


class MatrixParseable(Constants):
    """NumPy-flavoured Python syntax that `matrix_eval.parse` reads back to the same node."""

    def _arg(self, a, tight: bool) -> str:
        """An operand of + - (tight=False) or of @ * (tight=True), parenthesised only where Python needs it."""
        s = self._print(a)
        needs = (Plus, Minus, MatProd, Hadamard) if tight else (Plus, Minus)
        return f"({s})" if isinstance(a, needs) else s

    def _print_Vec(self, e):
        if e.step.is_Integer:
            return f"{e.role}{int(e.step)}"
        return f"{e.role}[{sp.sstr(e.step)}]"

    def _print_Mat(self, e):
        return e.name

    def _print_Plus(self, e):
        out = ""
        for a in e.args:
            if isinstance(a, Neg):
                out += " - " + self._arg(a.args[0], False)
            else:
                out += (" + " if out else "") + self._arg(a, False)
        return out

    def _print_Minus(self, e):
        a, b = e.args
        return f"{self._print(a)} - {self._arg(b, False)}"

    def _print_MatProd(self, e):
        return " @ ".join(self._arg(a, True) for a in e.args)

    def _print_Hadamard(self, e):
        return "*".join(self._arg(a, True) for a in e.args)

    def _print_Transposed(self, e):
        a = e.args[0]
        s = self._print(a)
        return (f"({s})" if isinstance(a, _COMPOUND + (Transposed, Square)) and not isinstance(a, SumOver) else s) + ".T"

    def _print_Square(self, e):
        a = e.args[0]
        return (self._print(a) if isinstance(a, (Vec, Mat)) else f"({self._print(a)})") + "**2"

    def _print_Diag(self, e):
        return f"diag({self._print(e.args[0])})"

    def _print_Map(self, e):
        return f"{e.function.parse_name}({self._print(e.args[1])})"

    def _print_Neg(self, e):
        return f"-{self._arg(e.args[0], True)}"

    def _print_Num(self, e):
        return str(e.value)

    def _print_Softmax(self, e):
        return f"softmax({self._print(e.args[0])})"

    def _print_OneHot(self, e):
        return f"onehot({self._print(e.args[0])})"

    def _print_SumOver(self, e):
        name = "Prod" if isinstance(e, ProdOver) else "Sum"
        var, lo, hi = e.limits
        return f"{name}({self._print(e.body)}, ({var}, {sp.sstr(lo)}, {sp.sstr(hi)}))"


__all__ = ["MatrixText", "MatrixLatex", "MatrixParseable"]
