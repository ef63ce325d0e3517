r"""Read a hand derivation written in LaTeX: a small recursive-descent grammar of symrnn's own.

Scalar notation as students type it; anything the grammar does not know is a one-line error
naming the token, its position and what was expected (never a guess, never `sympy.parsing.latex`):

    equation := [lhs "="] sum
    lhs      := \frac{\partial L}{\partial θ} | \frac{dL}{dθ} | \partial L / \partial θ | dL/dθ | \nabla_θ L
    sum      := ["+" | "-"] product {("+" | "-") product}
    product  := power {[\cdot | \times | \ast | * | /] power}           (juxtaposition is a product)
    power    := atom ["^" exponent]
    atom     := NUMBER | name | group | \frac{sum}{sum} | \frac12 | function | indicator | leibniz
    name     := LETTER [_ index] [^ exponent] | LETTER ^ exponent _ index | LETTER^{(index)}
    group    := ( sum ) | [ sum ] | \{ sum \} | { sum } | \left<d> sum \right<d>   (\big, \Big… dropped)
    function := (\tanh | \sigma | \exp | \log | \ln | \cosh | \sinh | \sech | \operatorname{f} | \mathrm{f}
                 | \text{f} | H | \Theta) [' | ^\prime] [^ exponent] atom      e^{x} is \exp(x)
    indicator:= (\mathbb{1} | \mathbf{1} | \mathbb{I} | \mathds{1} | \boldsymbol{1}) ([cond] | (cond) | \{cond\} | _{cond})
              | [cond]                          cond := sum (> | < | \geq | \leq | …) sum
    leibniz  := \frac{\partial[^+] Q}{\partial Q} | \frac{dQ}{dQ} | \partial[^+] Q / \partial Q
               (replaced by the quantity's true value through the `leibniz` callback)
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from ..errors import SymrnnError
from ..ir.scalar import relu, sigmoid
from ..model.parsing import MAX_CALLS, MAX_DIGITS, MAX_EXPONENT, WHY_CALLS, constant_problem, where
from .limits import MAX_INDEX_DIGITS, check_size, shorten
from .printing import text

FUNCTIONS = {r"\tanh": "tanh", r"\sigma": "sigmoid", r"\exp": "exp", r"\log": "log", r"\ln": "log",
             r"\cosh": "cosh", r"\sinh": "sinh", r"\sech": "sech", r"\Theta": "H", r"\max": "max"}
NAMED_FUNCTIONS = {"sech": "sech", "tanh": "tanh", "sigmoid": "sigmoid", "sigma": "sigmoid", "relu": "relu",
                   "ReLU": "relu", "Relu": "relu", "exp": "exp", "log": "log", "ln": "log", "cosh": "cosh",
                   "sinh": "sinh", "max": "max", "H": "H", "step": "H"}
BUILD = {"tanh": sp.tanh, "sigmoid": sigmoid, "exp": sp.exp, "log": sp.log, "cosh": sp.cosh, "sinh": sp.sinh,
         "sech": sp.sech, "relu": relu, "H": lambda x, evaluate=True: sp.Heaviside(x, 0, evaluate=evaluate)}
# f'(x) for the functions a derivation uses; relu'(a) = H(a) with H(0) = 0, as symrnn's relu rule
PRIMED = {"tanh": lambda x: 1 - sp.tanh(x) ** 2, "sigmoid": lambda x: sigmoid(x) * (1 - sigmoid(x)),
          "relu": lambda x: sp.Heaviside(x, 0), "exp": sp.exp}
WORDS = {r"\operatorname", r"\mathrm", r"\text", r"\textrm", r"\mathit", r"\textit", r"\rm"}
INDICATORS = {r"\mathbb", r"\mathbf", r"\mathds", r"\boldsymbol", r"\bm"}
SPACES = {r"\,", r"\;", r"\:", r"\!", "\\ ", r"\quad", r"\qquad", "~", "&", r"\\", r"\displaystyle", r"\left.",
          r"\right."}
SIZES = re.compile(r"\\(?:big|Big|bigg|Bigg)[lrm]?$")
MATRIX = {r"\odot", r"\top", r"\operatorname{diag}", r"\circ", r"\otimes", r"\intercal", r"\mathbf", r"\boldsymbol"}
FRACTIONS = {r"\dfrac": r"\frac", r"\tfrac": r"\frac"}
PRODUCTS = {r"\cdot", r"\times", r"\ast", "*"}
RELATIONS = {">": ">", "<": "<", r"\gt": ">", r"\lt": "<", r"\geq": ">=", r"\ge": ">=", r"\geqslant": ">=",
             r"\leq": "<=", r"\le": "<=", r"\leqslant": "<=", "≥": ">=", "≤": "<="}
OPEN = {"(": ")", "[": "]", r"\{": r"\}", r"\lbrack": r"\rbrack", r"\lparen": r"\rparen", r"\langle": r"\rangle"}
UNICODE = {"−": "-", "·": r"\cdot", "×": r"\times", "∂": r"\partial", "σ": r"\sigma", "∇": r"\nabla",
           "δ": r"\delta", "η": r"\eta"}

_TOKEN = re.compile(r"\\left\.|\\right\.|\\[A-Za-z]+|\\[,;:! {}\\]|\d+(?:\.\d+)?|[A-Za-z]|[+\-*/^_{}()\[\]=<>'|,]"
                    r"|[−·×∂σ∇δη≥≤]|~|&|\S")

Leibniz = Callable[[str, str, bool], sp.Expr]


@dataclass(frozen=True)
class Token:
    text: str
    pos: int   # 0-based offset in the input


def quoted(token: str) -> str:
    """A token in an error message, quoted so that a quote character stays readable."""
    return f'"{token}"' if "'" in token else f"'{shorten(token)}'"


def tokenize(text: str) -> tuple[Token, ...]:
    """The tokens of `text`, spacing and delimiter-size commands dropped."""
    out = []
    for m in _TOKEN.finditer(text):
        tok = m.group()
        tok = UNICODE.get(tok, FRACTIONS.get(tok, tok))
        if tok in SPACES or SIZES.match(tok):
            continue
        out.append(Token(tok, m.start()))
    return tuple(out)


class TokenCursor:
    """A position in a token list: look ahead, consume, and fail with the position shown (both grammars use it)."""

    text: str
    tokens: list
    what: str
    i: int
    latex: bool = True     # LaTeX (TeX's rules: ^23 is ^2 then 3) or SymPy style

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.tokens[j].text if j < len(self.tokens) else None

    def fail(self, message: str, at: int | None = None):
        j = self.i if at is None else at
        pos = self.tokens[j].pos if j < len(self.tokens) else None
        raise SymrnnError(f"{self.what}: {message} {where(self.text, pos)}")

    def take(self) -> Token:
        if self.i >= len(self.tokens):
            self.fail("unexpected end of input")
        self.i += 1
        return self.tokens[self.i - 1]

    def expect(self, text: str, why: str = "") -> None:
        if self.peek() != text:
            found = quoted(self.peek()) if self.peek() is not None else "the end"
            self.fail(f"expected {quoted(text)}{why}, found {found}")
        self.i += 1

    # forms both grammars read; each grammar's sum, condition and group(needs_condition) build the values
    def prime(self) -> bool:
        """A prime after a function name: ' or ^\\prime or ^{\\prime} (consumed when there)."""
        if self.peek() == "'":
            self.i += 1
            return True
        if self.peek() == "^" and self.peek(1) == r"\prime":
            self.i += 2
            return True
        if self.peek() == "^" and self.peek(1) == "{" and self.peek(2) == r"\prime":
            self.i += 3
            self.expect("}", " after \\prime")
            return True
        return False

    def integer_exponent(self) -> int | None:
        """A whole-number exponent after '^' or '**' (2, {2}, {12}), consumed; None (nothing consumed) when the
        exponent is something else. TeX reads ^23 as ^2 then 3, so a bare multi-digit exponent is refused."""
        braced = self.peek() == "{"
        tok = self.peek(1 if braced else 0)
        if tok is None or not tok.isdigit() or (braced and self.peek(2) != "}"):
            return None
        if not braced and len(tok) > 1 and self.latex:
            self.fail(f"write ^{{{tok}}} for a multi-digit exponent", self.i)
        self.i += 3 if braced else 1
        if int(tok) > MAX_EXPONENT:
            self.fail(f"exponent {tok} is larger than {MAX_EXPONENT}", self.i - 1)
        return int(tok)

    def indicator(self):
        r"""\mathbb{1}[a > 0], \mathbf{1}_{a > 0}, \mathbb{I}(a > 0): 1 where the condition holds."""
        self.take()
        self.expect("{")
        self.take()
        self.expect("}")
        if self.peek() == "_":
            self.take()
            self.expect("{", " with the condition after '_'")
            value = self.sum()
            if self.peek() not in RELATIONS:
                self.fail("expected a condition such as a > 0")
            value = self.condition(value)
            self.expect("}")
            return value
        if self.peek() in ("(", "[", r"\{", r"\left"):
            return self.group(needs_condition=True)
        self.fail("expected the indicator's condition: [a > 0] or _{a > 0}")

    def max_arguments(self) -> tuple:
        r"""x and y of \max(x, y), read after \max."""
        close = {"(": ")", "[": "]", r"\{": r"\}"}
        left = self.peek() == r"\left"
        if left:
            self.take()
        opener = self.peek()
        if opener not in close:
            self.fail(f"expected '(' after \\max, found {quoted(opener)}")
        self.take()
        a = self.sum()
        self.expect(",", " between the two arguments of \\max")
        b = self.sum()
        if left:
            self.expect(r"\right")
        self.expect(close[opener])
        return a, b


class _Parser(TokenCursor):
    """One pass over the tokens; every method consumes what it reads and returns a SymPy expression."""

    def __init__(self, text: str, tokens, names: Mapping[str, sp.Expr], what: str, leibniz: Leibniz | None):
        self.text, self.tokens, self.names, self.what, self.i = text, tokens, names, what, 0
        self.leibniz_value, self.calls = leibniz, 0

    def braced_word(self) -> str:
        """The letters of `{word}` (after \\operatorname, \\mathrm, \\text …)."""
        self.expect("{")
        word = ""
        while self.peek() is not None and re.fullmatch(r"[A-Za-z]", self.peek()):
            word += self.take().text
        self.expect("}")
        return word

    # -- grammar -----------------------------------------------------------------------
    def equation(self) -> tuple[str | None, sp.Expr]:
        """(the θ of a left-hand side ∂L/∂θ, or None; the right-hand side)."""
        equals = [k for k, t in enumerate(self.tokens) if t.text == "="]
        if len(equals) > 1:
            self.fail("a second '=' (give one answer: ∂L/∂θ = …)", equals[1])
        wrt = None
        if equals:
            wrt = self.lhs()
            self.expect("=", " after the left-hand side")
        value = self.sum()
        if self.peek() is not None:
            tok = self.peek()
            if tok in (")", "]", r"\}", r"\right"):
                self.fail(f"unexpected {quoted(tok)} (no bracket to close)")
            self.fail(f"unexpected {quoted(tok)}")
        return wrt, value

    def lhs(self) -> str:
        r"""\frac{\partial L}{\partial θ}, \partial L / \partial θ, dL/dθ or \nabla_θ L: the θ."""
        form = r"\frac{\partial L}{\partial θ}"
        if self.peek() == r"\nabla":
            self.take()
            self.expect("_")
            name = self.quantity(braced_ok=True)
            if self.quantity() != "L":
                self.fail(f"the left-hand side must be a derivative of L: {form}", self.i - 1)
            return name
        start = self.i
        num, den, immediate = self.leibniz_parts()
        if num != "L" or immediate:
            self.fail(f"the left-hand side must be the derivative of L, {form}, found ∂{num}/∂{den}", start)
        return den

    def sum(self) -> sp.Expr:
        terms = []
        sign = 1
        if self.peek() in ("+", "-"):
            sign = -1 if self.take().text == "-" else 1
        terms.append(sign * self.product())
        while self.peek() in ("+", "-"):
            sign = -1 if self.take().text == "-" else 1
            terms.append(sign * self.product())
        return sp.Add(*terms)

    def starts_atom(self, tok: str | None) -> bool:
        if tok is None or tok in PRODUCTS or tok in RELATIONS or tok.startswith(r"\right") or tok in CLOSING:
            return False
        return tok in ("(", "{", "[") or tok[0].isdigit() or bool(re.fullmatch(r"[A-Za-z]", tok)) or \
            tok.startswith("\\")

    def product(self) -> sp.Expr:
        factors = [self.power()]
        while True:
            tok = self.peek()
            if tok in PRODUCTS:
                self.take()
                factors.append(self.power())
            elif tok == "/":
                self.take()
                factors.append(1 / self.nonzero(self.power()))
            elif self.starts_atom(tok):
                factors.append(self.power())
            else:
                return sp.Mul(*factors)

    def nonzero(self, value: sp.Expr) -> sp.Expr:
        if value == 0:
            self.fail("division by zero", self.i - 1)
        return value

    def exponent(self) -> sp.Expr:
        tok = self.peek()
        if tok in (r"\top", "T", r"\intercal"):
            self.fail(f"'^{tok}' (a transpose) is matrix notation: check the matrix form with --dims K,M,O")
        if tok == "{":
            self.take()
            if self.peek() in (r"\top", "T", r"\intercal"):
                self.fail(f"'^{self.peek()}' (a transpose) is matrix notation: check the matrix form with --dims K,M,O")
            value = self.sum()
            self.expect("}")
        elif tok is not None and tok.isdigit():
            value = sp.Integer(self.integer_exponent())
        elif tok == "-" and self.peek(1) is not None and self.peek(1).isdigit() and len(self.peek(1)) == 1:
            self.take()
            value = -sp.Integer(self.take().text)
        else:
            self.fail(f"unexpected {quoted(tok)} after '^'" if tok else "missing exponent after '^'")
        if value.is_Number and abs(value) > MAX_EXPONENT:
            self.fail(f"exponent {value} is larger than {MAX_EXPONENT}", self.i - 1)
        return value

    def raise_to(self, base: sp.Expr, exponent: sp.Expr, at: int) -> sp.Expr:
        """base^exponent (written from token `at` on), refusing an exact number of more than MAX_DIGITS digits."""
        if base.is_Rational and exponent.is_Integer:
            digits = max(len(str(abs(base.p))), len(str(base.q))) * abs(int(exponent))
            if digits > MAX_DIGITS:
                self.fail(f"{quoted(self.typed(at))} has more than {MAX_DIGITS} digits (about {digits})", at)
        return base ** exponent

    def typed(self, at: int) -> str:
        """The text as typed from token `at` up to the current token."""
        end = self.tokens[self.i].pos if self.i < len(self.tokens) else len(self.text)
        return self.text[self.tokens[at].pos:end].strip()

    def power(self) -> sp.Expr:
        start = self.i
        base = self.atom()
        if self.peek() == "^":
            self.take()
            base = self.raise_to(base, self.exponent(), start)
        return base

    # -- atoms -------------------------------------------------------------------------
    def atom(self) -> sp.Expr:
        tok = self.peek()
        if tok is None:
            self.fail("expected a number, a name or '(', found the end")
        pos = self.i
        if tok[0].isdigit():
            return sp.Rational(self.take().text)
        if tok == "H" and "H" not in self.names and self.peek(1) in ("(", r"\left", "["):
            self.take()
            return self.apply("H", pos)
        if tok == "e" and "e" not in self.names and self.peek(1) == "^":
            self.take()
            self.take()
            return self.call("exp", self.exponent(), pos)
        if tok == "d" and "d" not in self.names:
            self.fail("a 'd' of a derivative outside a fraction: write \\frac{dL_2}{dh_1}")
        if re.fullmatch(r"[A-Za-z]", tok):
            return self.name()
        if tok in ("(", "[", "{", r"\{", r"\left") or tok in OPEN:
            return self.group()
        if tok == r"\frac":
            return self.fraction()
        if tok == r"\partial":
            return self.leibniz()
        if tok in FUNCTIONS or tok in WORDS:
            return self.function()
        if tok in INDICATORS and self.peek(1) == "{" and self.peek(2) in ("1", "I"):
            return self.indicator()
        if tok == r"\delta":
            self.fail(r"'\delta' is ∂L/∂a_t: write \frac{\partial L}{\partial a_1} (or the terms) instead")
        if tok in (r"\sum", r"\prod"):
            self.fail(f"{quoted(tok)} over the steps is read in the matrix form (--dims K,M,O); "
                      f"here write the terms out at this T", pos)
        if tok in MATRIX:
            self.fail(f"{quoted(tok)} is matrix notation: check the matrix form with --dims K,M,O", pos)
        if tok == "'":
            self.fail("a prime is read on a function only: \\tanh'(a_1), \\sigma'(a_1), \\operatorname{relu}'(a_1)")
        if tok.startswith("\\"):
            self.fail(f"unknown command {quoted(tok)}", pos)
        self.fail(f"expected a number, a name or '(', found {quoted(tok)}", pos)

    def group(self, needs_condition: bool = False):
        """A bracketed sum (or, in an indicator or as [cond], a condition as Heaviside)."""
        tok = self.take().text
        left = tok == r"\left"
        if left:
            tok = self.take().text
            if tok not in OPEN:
                self.fail(f"expected a bracket after \\left, found {quoted(tok)}", self.i - 1)
        close = "}" if tok == "{" else OPEN[tok]
        value = self.sum()
        if needs_condition and self.peek() not in RELATIONS:
            self.fail("an indicator needs a condition such as [a > 0]")
        if self.peek() in RELATIONS and (needs_condition or tok == "["):
            value = self.condition(value)
        if left:
            self.expect(r"\right", f" to close the \\left{tok}")
        self.expect(close, f" to close the {tok!r}" if not left else "")
        return value

    def condition(self, lhs: sp.Expr) -> sp.Expr:
        """lhs REL rhs as a 0/1 value: Heaviside (x > 0: H(x) with H(0) = 0; x ≥ 0: H(0) = 1)."""
        at = self.i
        rel = RELATIONS[self.take().text]
        rhs = self.sum()
        arg = lhs - rhs if rel in (">", ">=") else rhs - lhs
        self.finite(arg, at)
        return sp.Heaviside(arg, 1 if "=" in rel else 0)

    def finite(self, arg: sp.Expr, at: int) -> None:
        """A constant must be finite, real and not huge (checked as the SymPy-syntax parser checks it) before
        SymPy compares it (Heaviside, Max) or a function is applied to it."""
        if not arg.free_symbols and (why := constant_problem(arg)):
            self.fail(f"{quoted(text(arg))} {why}", at)

    def fraction(self) -> sp.Expr:
        self.take()
        if self.peek() is not None and self.peek().isdigit() and len(self.peek()) == 2:   # \frac12
            digits = self.take().text
            return self.nonzero(sp.Integer(digits[1])) and sp.Rational(int(digits[0]), int(digits[1]))
        if self.is_leibniz():
            self.i -= 1
            return self.leibniz()
        self.expect("{", " after \\frac")
        num = self.sum()
        self.expect("}")
        self.expect("{")
        den = self.nonzero(self.sum())
        self.expect("}")
        return num / den

    # -- Leibniz factors ----------------------------------------------------------------
    def is_leibniz(self) -> bool:
        """At `{` after \\frac: does the numerator start like ∂Q or dQ?"""
        if self.peek() != "{":
            return False
        nxt = self.peek(1)
        return nxt == r"\partial" or (nxt == "d" and "d" not in self.names and self.peek(2) is not None
                                      and (re.fullmatch(r"[A-Za-z]", self.peek(2)) or self.peek(2) == r"\mathcal"))

    def quantity(self, braced_ok: bool = False) -> str:
        """A quantity's name after ∂ or d: L, L_2, h_1, a_1, Y_2, W, \\mathcal{L}, {W} (as L, L2, h1 …)."""
        if braced_ok and self.peek() == "{":
            self.take()
            name = self.quantity()
            self.expect("}")
            return name
        tok = self.peek()
        if tok in (r"\mathcal", r"\mathscr"):
            self.take()
            self.expect("{")
            tok = self.peek()
            self.take()
            self.expect("}")
            label = tok
        elif tok is not None and re.fullmatch(r"[A-Za-z]", tok):
            label = self.take().text
        else:
            self.fail(f"expected a quantity such as L_2, h_1 or W after ∂, found {quoted(tok) if tok else 'the end'}")
        if self.peek() == "_":
            self.take()
            label += self.index(label)
        return label

    def index(self, label: str) -> str:
        """A step index after '_': 1, {1}, {12}."""
        at = self.i
        if self.peek() == "{":
            self.take()
            tok = self.take().text
            self.expect("}")
        else:
            tok = self.take().text
            if len(tok) > 1 and tok.isdigit():  # h_12 is h_1 2 in TeX
                self.fail(f"write {label}_{{{tok}}} for a multi-digit index", self.i - 1)
        if not tok.isdigit():
            self.fail(f"the index of {label} must be a step number, found {quoted(tok)}", at)
        if len(tok) > MAX_INDEX_DIGITS:
            self.fail(f"step index of {len(tok)} digits", at)
        return str(int(tok))

    def partial(self) -> tuple[str, bool]:
        """After \\partial or d: (quantity, immediate) — ∂^+ marks the immediate partial."""
        immediate = False
        if self.peek() == "^":
            self.take()
            if self.peek() == "{":
                self.take()
                self.expect("+")
                self.expect("}")
            else:
                self.expect("+")
            immediate = True
        return self.quantity(), immediate

    def leibniz_parts(self) -> tuple[str, str, bool]:
        r"""\frac{\partial N}{\partial D}, \frac{dN}{dD} or \partial N / \partial D: (N, D, immediate)."""
        if self.peek() == r"\frac":
            self.take()
            self.expect("{", " after \\frac")
            mark = self.take().text
            if mark not in (r"\partial", "d"):
                self.fail(r"expected \partial or d in the numerator", self.i - 1)
            num, immediate = self.partial()
            self.expect("}")
            self.expect("{")
            self.expect(mark, " in the denominator, as in the numerator")
            den, _ = self.partial()
            self.expect("}")
            return num, den, immediate
        mark = self.take().text
        if mark not in (r"\partial", "d"):
            self.fail(r"expected \frac{\partial L}{\partial θ}, \partial L / \partial θ or dL/dθ", self.i - 1)
        num, immediate = self.partial()
        self.expect("/", " between the ∂ of the numerator and of the denominator")
        self.expect(mark, " in the denominator, as in the numerator")
        den, _ = self.partial()
        return num, den, immediate

    def leibniz(self) -> sp.Expr:
        """A Leibniz factor left unevaluated, replaced by its true value."""
        start = self.i
        num, den, immediate = self.leibniz_parts()
        if self.leibniz_value is None:
            self.fail("a Leibniz factor needs the model to know its value", start)
        try:
            return self.leibniz_value(num, den, immediate)
        except SymrnnError as e:
            raise SymrnnError(f"{self.what}: {e} {where(self.text, self.tokens[start].pos)}") from None

    # -- functions ----------------------------------------------------------------------
    def function(self) -> sp.Expr:
        """\\tanh, \\sigma, \\operatorname{sech}, \\text{relu}, … with a prime, a power and an argument."""
        pos = self.i
        tok = self.take()
        if tok.text in FUNCTIONS:
            name = FUNCTIONS[tok.text]
        else:
            word = self.braced_word()
            if word not in NAMED_FUNCTIONS:
                if word == "diag":
                    self.fail(r"'\operatorname{diag}' is matrix notation: check the matrix form with --dims K,M,O", pos)
                known = ", ".join(NAMED_FUNCTIONS)
                self.fail(f"unknown function {tok.text}{{{word}}} (known: {known})", pos)
            name = NAMED_FUNCTIONS[word]
        return self.apply(name, pos)

    def apply(self, name: str, pos: int) -> sp.Expr:
        primed = self.prime()
        n = None
        if self.peek() == "^":
            self.take()
            if self.peek() == "{" and self.peek(1) == "-" and self.peek(2) == "1":
                self.fail("an inverse function is not part of a gradient", pos)
            n = self.exponent()
        primed = self.prime() or primed
        if primed and name not in PRIMED:
            self.fail(f"a prime is read on tanh, σ, relu and exp only, not on {name}", pos)
        self.calls += 1
        if self.calls > MAX_CALLS:
            self.fail(f"functions nested more than {MAX_CALLS} deep ({WHY_CALLS})", pos)
        value = self.maximum(pos) if name == "max" else self.call(name, self.atom(), pos, primed)
        self.calls -= 1
        return self.raise_to(value, n, pos) if n is not None else value

    def call(self, name: str, arg: sp.Expr, pos: int, primed: bool = False) -> sp.Expr:
        """name(arg) (or name'(arg)); a constant argument and value are checked first: log(0),
        exp(exp(exp(100))) are named here, with their position, and never built."""
        if not arg.free_symbols:
            self.finite(arg, pos)
            if not primed:
                self.finite(BUILD[name](arg, evaluate=False), pos)
        return PRIMED[name](arg) if primed else BUILD[name](arg)

    def maximum(self, pos: int) -> sp.Expr:
        r"""\max(0, x) (= relu(x)) or \max(x, 0)."""
        a, b = self.max_arguments()
        if 0 not in (a, b):
            self.fail(r"\max is read as \max(0, x) (relu) only", pos)
        arg = b if a == 0 else a
        self.finite(arg, pos)
        return relu(arg)

    # -- names --------------------------------------------------------------------------
    def name(self) -> sp.Expr:
        tok = self.take()
        label, power = tok.text, None
        if self.peek() == "^" and self.peek(1) == "{" and self.peek(2) == "(":       # h^{(1)}
            self.take()
            self.take()
            self.take()
            label += self.index(label) if self.peek() != "{" else self.index(label)
            self.expect(")")
            self.expect("}")
        elif self.peek() == "^" and self.lookahead_subscript():                         # h^2_1
            self.take()
            at = self.i
            power = (self.exponent(), at)
        if self.peek() == "_":
            self.take()
            label += self.index(label)
        if label not in self.names:
            if label == "e":
                self.fail("unknown name 'e' (e^{x} is read as \\exp(x))", self.i - 1)
            self.fail(f"unknown name {quoted(label)} (known: {', '.join(sorted(self.names))})",
                      self.tokens.index(tok))
        value = self.names[label]
        return value if power is None else self.raise_to(value, power[0], power[1])

    def lookahead_subscript(self) -> bool:
        """At '^' after a letter: is an index written after the exponent (h^2_1)?"""
        j = self.i + 1
        if j < len(self.tokens) and self.tokens[j].text == "{":
            depth = 0
            while j < len(self.tokens):
                depth += self.tokens[j].text == "{"
                depth -= self.tokens[j].text == "}"
                j += 1
                if depth == 0:
                    break
        else:
            j += 1
        return j < len(self.tokens) and self.tokens[j].text == "_"


CLOSING = {")", "]", "}", r"\}", r"\rbrack", r"\rparen", r"\rangle", "=", ","}


def parse_latex(text: str, names: Mapping[str, sp.Expr], what: str = "--latex",
                leibniz: Leibniz | None = None) -> tuple[str | None, sp.Expr]:
    """(θ of an optional left-hand side ∂L/∂θ =, or None; the expression written in LaTeX `text`), whose
    names (h_1 -> h1) must all be keys of `names`; Leibniz factors are valued by `leibniz(num, den, immediate)`."""
    check_size(text, what)
    tokens = tokenize(text)
    if not tokens:
        raise SymrnnError(f"{what}: empty input")
    return _Parser(text, tokens, names, what, leibniz).equation()
