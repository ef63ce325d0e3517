"""Read a hand derivation written in LaTeX: a small recursive-descent grammar of symrnn's own.

Scalar notation only; anything the grammar does not know is a one-line error naming the token
and its position (never a guess, never `sympy.parsing.latex`):

    equation := [lhs "="] sum
    lhs      := \\frac{\\partial L}{\\partial NAME} | \\frac{dL}{dNAME}
    sum      := ["+" | "-"] product {("+" | "-") product}
    product  := power {[\\cdot | \\times | * | /] power}          (juxtaposition is a product)
    power    := atom ["^" (DIGITS | "{" sum "}")]
    atom     := NUMBER | LETTER ["_" (DIGIT | "{" DIGITS "}")] | ( sum ) | { sum } | \\left( sum \\right)
              | \\frac{sum}{sum} | FUNCTION ["^" exponent] atom
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from ..errors import SymrnnError
from ..ir.scalar import relu, sigmoid

FUNCTIONS = {r"\tanh": sp.tanh, r"\sigma": sigmoid, r"\exp": sp.exp, r"\log": sp.log, r"\ln": sp.log,
             r"\cosh": sp.cosh, r"\sinh": sp.sinh}
NAMED_FUNCTIONS = {"sech": sp.sech, "tanh": sp.tanh, "sigmoid": sigmoid, "relu": relu, "ReLU": relu}
SPACES = {r"\,", r"\;", r"\:", r"\!", "\\ ", r"\quad", r"\qquad"}
MATRIX = {r"\odot", r"\top", r"\operatorname{diag}", r"\sum", r"\prod", r"\circ", r"\otimes", r"\mathbf",
          r"\boldsymbol", r"\intercal"}
FRACTIONS = {r"\dfrac": r"\frac", r"\tfrac": r"\frac"}   # display sizes of the same fraction
PRODUCTS = {r"\cdot", r"\times", "*"}
MAX_LENGTH = 10_000
MAX_EXPONENT = 64

_TOKEN = re.compile(r"\\[A-Za-z]+|\\[,;:! ]|\d+(?:\.\d+)?|[A-Za-z]|[+\-*/^_{}()=]|\S")


@dataclass(frozen=True)
class Token:
    text: str
    pos: int   # 1-based column in the input


def quoted(token: str) -> str:
    """A token in an error message, quoted so that a quote character stays readable."""
    return f'"{token}"' if "'" in token else f"'{token}'"


def tokenize(text: str) -> tuple[Token, ...]:
    """The tokens of `text`, spacing commands dropped."""
    return tuple(Token(FRACTIONS.get(m.group(), m.group()), m.start() + 1)
                 for m in _TOKEN.finditer(text) if m.group() not in SPACES)


class _Parser:
    """One pass over the tokens; every method consumes what it reads and returns a SymPy expression."""

    def __init__(self, tokens, names: Mapping[str, sp.Expr], what: str):
        self.tokens, self.names, self.what, self.i = tokens, names, what, 0

    # -- tokens ------------------------------------------------------------------------
    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.tokens[j].text if j < len(self.tokens) else None

    def fail(self, message: str, at: int | None = None):
        j = self.i if at is None else at
        where = f"at position {self.tokens[j].pos}" if j < len(self.tokens) else "at the end"
        raise SymrnnError(f"{self.what}: {message} {where}")

    def take(self) -> Token:
        if self.i >= len(self.tokens):
            self.fail("unexpected end of input")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.peek() != text:
            found = f"{quoted(self.peek())}" if self.peek() is not None else "the end"
            self.fail(f"expected {text!r}, found {found}")
        self.i += 1

    def braced_word(self) -> str:
        """The letters of `{word}` (after \\operatorname or \\mathrm)."""
        self.expect("{")
        word = ""
        while self.peek() is not None and re.fullmatch(r"[A-Za-z]", self.peek()):
            word += self.take().text
        self.expect("}")
        return word

    # -- grammar -----------------------------------------------------------------------
    def equation(self) -> tuple[str | None, sp.Expr]:
        """(the θ of a left-hand side ∂L/∂θ, or None; the right-hand side)."""
        wrt = None
        if "=" in (t.text for t in self.tokens):
            wrt = self.lhs()
            self.expect("=")
        value = self.sum()
        if self.peek() is not None:
            self.fail(f"unexpected {quoted(self.peek())}")
        return wrt, value

    def lhs(self) -> str:
        r"""\frac{\partial L}{\partial NAME} or \frac{dL}{dNAME}: the NAME."""
        self.expect(r"\frac")
        for quantity in ("L", None):
            self.expect("{")
            mark = self.take().text
            if mark not in (r"\partial", "d"):
                self.fail(f"the left-hand side must be \\frac{{\\partial L}}{{\\partial θ}}, found {quoted(mark)}", self.i - 1)
            name = self.take().text
            if quantity and name != quantity:
                self.fail(f"the left-hand side must be the derivative of L, found {quoted(name)}", self.i - 1)
            if self.peek() == "_":  # \partial h_0
                self.take()
                name += self.take().text.strip("{}")
            self.expect("}")
        return name

    def sum(self) -> sp.Expr:
        sign = 1
        if self.peek() in ("+", "-"):
            sign = -1 if self.take().text == "-" else 1
        total = sign * self.product()
        while self.peek() in ("+", "-"):
            sign = -1 if self.take().text == "-" else 1
            total = total + sign * self.product()
        return total

    def starts_atom(self, tok: str | None) -> bool:
        return tok is not None and (tok in ("(", "{", r"\left", r"\frac", r"\operatorname", r"\mathrm")
                                    or tok in FUNCTIONS or tok[0].isdigit() or re.fullmatch(r"[A-Za-z]", tok)
                                    or (tok.startswith("\\") and tok not in PRODUCTS and tok != r"\right"))

    def product(self) -> sp.Expr:
        value = self.power()
        while True:
            tok = self.peek()
            if tok in PRODUCTS:
                self.take()
                value = value * self.power()
            elif tok == "/":
                self.take()
                value = value / self.nonzero(self.power())
            elif self.starts_atom(tok):
                value = value * self.power()
            else:
                return value

    def nonzero(self, value: sp.Expr) -> sp.Expr:
        if value == 0:
            self.fail("division by zero", self.i - 1)
        return value

    def exponent(self) -> sp.Expr:
        tok = self.peek()
        if tok in (r"\top", "T", r"\intercal"):
            self.fail(f"'^{tok}' (a transpose) is matrix notation, not yet supported")
        if tok == "{":
            self.take()
            if self.peek() in (r"\top", "T", r"\intercal"):
                self.fail(f"'^{self.peek()}' (a transpose) is matrix notation, not yet supported")
            value = self.sum()
            self.expect("}")
        elif tok is not None and tok.isdigit():
            digits = self.take().text
            if len(digits) > 1:  # x^23 is x^2 3 in TeX
                self.fail(f"write ^{{{digits}}} for a multi-digit exponent", self.i - 1)
            value = sp.Integer(digits)
        else:
            self.fail(f"unexpected {quoted(tok)} after '^'" if tok else "missing exponent after '^'")
        if value.is_Number and abs(value) > MAX_EXPONENT:
            self.fail(f"exponent {value} is larger than {MAX_EXPONENT}", self.i - 1)
        return value

    def power(self) -> sp.Expr:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            base = base ** self.exponent()
        return base

    def function(self):
        """A function name: \\tanh, \\sigma, \\operatorname{sech}, \\mathrm{sech}, …"""
        tok = self.take()
        if tok.text in FUNCTIONS:
            return FUNCTIONS[tok.text]
        word = self.braced_word()
        if word not in NAMED_FUNCTIONS:
            known = ", ".join(NAMED_FUNCTIONS)
            extra = " (matrix notation, not yet supported)" if word == "diag" else f" (known: {known})"
            raise SymrnnError(f"{self.what}: unknown function {tok.text}{{{word}}} at position {tok.pos}{extra}")
        return NAMED_FUNCTIONS[word]

    def atom(self) -> sp.Expr:
        tok = self.peek()
        if tok is None:
            self.fail("unexpected end of input")
        pos = self.i
        if tok[0].isdigit():
            return sp.Rational(self.take().text)
        if re.fullmatch(r"[A-Za-z]", tok):
            return self.name()
        if tok in ("(", "{"):
            self.take()
            value = self.sum()
            self.expect(")" if tok == "(" else "}")
            return value
        if tok == r"\left":
            self.take()
            self.expect("(")
            value = self.sum()
            self.expect(r"\right")
            self.expect(")")
            return value
        if tok == r"\frac":
            self.take()
            self.expect("{")
            num = self.sum()
            self.expect("}")
            self.expect("{")
            den = self.nonzero(self.sum())
            self.expect("}")
            return num / den
        if tok in FUNCTIONS or tok in (r"\operatorname", r"\mathrm"):
            f = self.function()
            n = None
            if self.peek() == "^":
                self.take()
                n = self.exponent()
            value = f(self.atom())
            return value ** n if n is not None else value
        if tok in (r"\sum", r"\prod"):
            self.fail(f"{quoted(tok)} is not yet supported (write the terms out at this T)", pos)
        if tok in MATRIX:
            self.fail(f"{quoted(tok)} is matrix notation, not yet supported", pos)
        if tok.startswith("\\"):
            self.fail(f"unknown command {quoted(tok)}", pos)
        self.fail(f"unexpected {quoted(tok)}", pos)

    def name(self) -> sp.Expr:
        tok = self.take()
        label = tok.text
        if self.peek() == "_":
            self.take()
            if self.peek() == "{":
                self.take()
                index = self.take()
                self.expect("}")
            else:
                index = self.take()
                if len(index.text) > 1 and index.text.isdigit():  # h_12 is h_1 2 in TeX
                    self.fail(f"write {label}_{{{index.text}}} for a multi-digit index", self.i - 1)
            if not index.text.isdigit():
                self.fail(f"the index of {label} must be a step number, found {index.text!r}", self.i - 1)
            label += str(int(index.text))
        if label not in self.names:
            raise SymrnnError(f"{self.what}: unknown name {label!r} at position {tok.pos} "
                              f"(known: {', '.join(sorted(self.names))})")
        return self.names[label]


def parse_latex(text: str, names: Mapping[str, sp.Expr], what: str = "--latex") -> tuple[str | None, sp.Expr]:
    """(θ of an optional left-hand side \\frac{\\partial L}{\\partial θ} =, or None; the expression written
    in LaTeX `text`), whose names (h_1 -> h1) must all be keys of `names`."""
    if not isinstance(text, str):
        raise SymrnnError(f"{what}: expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SymrnnError(f"{what}: {len(text)} characters is longer than the limit {MAX_LENGTH}")
    tokens = tokenize(text)
    if not tokens:
        raise SymrnnError(f"{what}: empty input")
    return _Parser(tokens, names, what).equation()
