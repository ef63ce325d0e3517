"""Read user math without running it: a small parser of its own builds SymPy objects.

`sympify` would `eval` the text, and `ast.parse` overflows the C stack or raises RecursionError on
deep or long input; here a tokenizer and an iterative precedence parser accept only numbers, known
names, + − * / ** (and ^ as power), unary signs, calls of a few known functions and literal indices
`h[0]`, with bounds on length, nesting, terms, functions within functions and number size.
Constant parts are checked as they are built, so `log(0)`, `0**-1`, `sqrt(-1)` or `exp(exp(1000))`
are refused by name instead of turning into zoo, nan, complex numbers or astronomically large ones
downstream. Anything else is a one-line SymrnnError naming what was found and where.

This is the one place user math is checked: a front end with a notation of its own (verify's
students' syntax) turns its text into this parser's tokens, with positions in the text as typed, and
`parse_tokens` checks and builds them; `check_size` bounds a text before any front end recurses on it.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import sympy as sp
from sympy.core.evalf import PrecisionExhausted

from ..errors import SymrnnError
from ..ir.scalar import relu, sigmoid

FUNCTIONS = {"tanh": sp.tanh, "sigmoid": sigmoid, "relu": relu, "exp": sp.exp, "log": sp.log,
             "sqrt": sp.sqrt, "sech": sp.sech, "cosh": sp.cosh, "sinh": sp.sinh,
             "Heaviside": sp.Heaviside, "Max": sp.Max, "Min": sp.Min, "Abs": sp.Abs}
MAX_LENGTH = 10_000       # characters
MAX_DEPTH = 100           # nested brackets, calls and ** (downstream SymPy recurses once per level)
MAX_CALLS = 4             # functions within functions: SymPy's evaluation of tanh(tanh(…(h))) takes
                          # time exponential in the depth (8 levels 1 s, 10 levels 8 s, 12 minutes)
WHY_CALLS = "SymPy's work on nested functions grows exponentially with the depth"
MAX_TERMS = 1_000         # operands of one sum or product
MAX_LEAVES = 3_000        # numbers and names in all
MAX_EXPONENT = 64         # |constant exponent|
MAX_DIGITS = 400          # digits of an exact number and of a constant's magnitude (float64 spans 10^±308)
_MAX_BITS = int(MAX_DIGITS / 0.30103) + 1

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?) |
    (?P<name>[^\W\d]\w*) |
    (?P<op>\*\*|[-+*/^()\[\],]) |
    (?P<bad>\S))""", re.VERBOSE)


class Token(NamedTuple):
    """A token of user math: its kind (num, name, op, bad, end), its text, and the span it came from
    in the text as typed (a front end's token may stand for other characters: σ for sigmoid)."""
    kind: str
    text: str
    start: int
    end: int


class _Value(NamedTuple):
    expr: sp.Expr
    start: int
    end: int
    depth: int


def where(text: str, pos: int | None) -> str:
    """`at position N` (1-based), or `at line L, column C` in a text of several lines; `at the end`."""
    if pos is None or pos >= len(text.rstrip()):
        return "at the end"
    line = text.count("\n", 0, pos)
    if line == 0:
        return f"at position {pos + 1}"
    return f"at line {line + 1}, column {pos - text.rfind(chr(10), 0, pos)}"


def check_size(text: str, what: str, max_length: int = MAX_LENGTH, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a text too long or with brackets ( [ { nested too deeply, before anything recurses on it."""
    if not isinstance(text, str):
        raise SymrnnError(f"{what}: expected text, got {type(text).__name__}")
    if len(text) > max_length:
        raise SymrnnError(f"{what}: {len(text)} characters, more than the limit {max_length}")
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > max_depth:
                raise SymrnnError(f"{what}: brackets nested more than {max_depth} deep {where(text, i)}; "
                                  f"write the expression flatter")
        elif ch in ")]}":
            depth -= 1


def _shown(text: str, limit: int = 60) -> str:
    """text quoted for a one-line message, shortened in the middle when long."""
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else f"{text[:limit // 2]} … {text[-limit // 2:]}")


def _tokens(text: str) -> list[Token]:
    out = [Token(m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup), m.end())
           for m in _TOKEN.finditer(text) if m.lastgroup]
    out.append(Token("end", "", len(text), len(text)))
    return out


def _bits(r: sp.Rational) -> int:
    return max(abs(r.p).bit_length(), r.q.bit_length())


class _Parser:
    def __init__(self, text, toks, names, what, indexed, max_depth=MAX_DEPTH):
        self.text, self.names, self.what, self.indexed = text, names, what, indexed
        self.toks = toks
        self.max_depth = max_depth
        self.i = 0
        self.leaves = 0
        self.calls = 0           # functions open around the current token
        self._refuse_bad_tokens()

    # -- errors and bounds --------------------------------------------------------------------

    def fail(self, message: str):
        raise SymrnnError(f"{self.what}: {message}")

    def syntax(self, expected: str):
        tok = self.toks[self.i]
        found = "the end" if tok.kind == "end" else repr(tok.text)
        place = "" if tok.kind == "end" else f" {self.at(tok.start)}"
        self.fail(f"cannot parse {_shown(self.text)}: expected {expected}, found {found}{place}")

    def at(self, pos: int | None) -> str:
        return where(self.text, pos)

    def _refuse_bad_tokens(self):
        for tok in self.toks:
            if tok.kind == "bad":
                self.fail(f"cannot parse {_shown(self.text)}: {tok.text!r} {self.at(tok.start)} is not "
                          f"allowed (only numbers, names, + - * / ** ^, brackets and commas)")

    def source(self, start: int, end: int) -> str:
        return _shown(self.text[start:end])

    # -- tokens ---------------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def take(self, *texts: str) -> Token | None:
        tok = self.tok
        if tok.kind == "op" and tok.text in texts:
            self.i += 1
            return tok
        return None

    def expect(self, text: str):
        if not self.take(text):
            self.syntax(repr(text))

    # -- grammar (Python's precedence; ** is right-associative and binds tighter than a unary sign) --

    def whole(self) -> sp.Expr:
        value = self.sum()
        if self.tok.kind != "end":
            self.syntax("an operator")
        return value.expr

    def sum(self) -> _Value:
        return self.chain(self.term, ("+", "-"), "sum")

    def term(self) -> _Value:
        return self.chain(self.factor, ("*", "/"), "product")

    def chain(self, operand, ops, kind) -> _Value:
        """operand (op operand)*, in a loop (no recursion on a long sum), equal to Python's left fold.

        A product is folded pairwise as Python does (SymPy distributes a number over a sum only in a
        two-factor product, and the verifier reads the terms as written); a sum is built in one call,
        which is the same flattened Add without the fold's quadratic time.
        """
        first = operand()
        value, terms, depth, count = first.expr, [first.expr], first.depth, 1
        while (op := self.take(*ops)) is not None:
            right = operand()
            count += 1
            if count > MAX_TERMS:
                self.fail(f"a {kind} of more than {MAX_TERMS} terms {self.at(op.start)}; "
                          f"the limit keeps the work bounded")
            if op.text == "/" and not right.expr.free_symbols and is_zero(right.expr):
                self.fail(f"division by zero: the denominator {self.source(right.start, right.end)} is 0")
            depth = max(depth, right.depth)
            if kind == "sum":
                terms.append(right.expr if op.text == "+" else -right.expr)
            else:
                value = self.checked(value * right.expr if op.text == "*" else value / right.expr,
                                     first.start, right.end, depth + 1).expr
                power = next((f for f in sp.Mul.make_args(value)
                              if f.is_Pow and f.exp.is_Number and abs(f.exp) > MAX_EXPONENT), None)
                if power is not None:
                    self.fail(f"{self.source(first.start, right.end)} has the factor {_shown(str(power.base), 40)} "
                              f"more than {MAX_EXPONENT} times (the exponent limit)")
        if len(terms) > 1:
            value = sp.Add(*terms)
        return first if value is first.expr else self.checked(value, first.start, self.toks[self.i - 1].end, depth + 1)

    def factor(self) -> _Value:
        """('+'|'-')* atom ('**' factor)?, iteratively: a ** chain is folded from the right."""
        chain = []
        while True:
            start, negative = self.tok.start, False
            while (sign := self.take("+", "-")) is not None:
                negative ^= sign.text == "-"
            chain.append((start, negative, self.atom()))
            if self.take("**", "^") is None:
                break
        _, negative, value = chain[-1]
        value = self.negated(value, chain[-1][0]) if negative else value
        for start, negative, base in reversed(chain[:-1]):
            value = self.power(base, value)
            value = self.negated(value, start) if negative else value._replace(start=start)
        return value

    def negated(self, value: _Value, start: int) -> _Value:
        return self.checked(-value.expr, start, value.end, value.depth)

    def power(self, base: _Value, exponent: _Value) -> _Value:
        b, e = base.expr, exponent.expr
        if not e.free_symbols:
            if abs(self.number(e)) > MAX_EXPONENT:
                typed = self.text[exponent.start:exponent.end].strip()
                value = f" (= {e})" if e.is_Number and typed != str(e) else ""
                self.fail(f"exponent {_shown(typed, 40)}{value} is larger than {MAX_EXPONENT}")
            if b.is_Rational and e.is_Rational and _bits(b) * abs(e) > _MAX_BITS:
                self.fail(f"{self.source(base.start, exponent.end)} has more than {MAX_DIGITS} digits")
            if not b.free_symbols and is_zero(b) and self.number(e) < 0:
                self.fail(f"{self.source(base.start, exponent.end)} divides by zero (0 to a negative power)")
        depth = max(base.depth, exponent.depth) + 1
        if depth > self.max_depth:
            self.fail(f"powers nested more than {self.max_depth} deep {self.at(base.start)}; "
                      f"write the expression flatter")
        return self.checked(sp.Pow(b, e), base.start, exponent.end, depth)

    def atom(self) -> _Value:
        tok = self.tok
        if tok.kind == "num":
            self.i += 1
            return self.checked(self.literal(tok), tok.start, tok.end, 0)
        if tok.kind == "name":
            self.i += 1
            if self.tok.text == "(" and self.tok.kind == "op":
                return self.call(tok)
            if self.tok.text == "[" and self.tok.kind == "op":
                return self.subscript(tok)
            return _Value(self.name(tok), tok.start, tok.end, 0)
        if self.take("("):
            inner = self.sum()
            self.expect(")")
            return inner._replace(start=tok.start, end=self.toks[self.i - 1].end)
        self.syntax("a number, a name or '('")

    def literal(self, tok: Token) -> sp.Rational:
        mantissa, _, exponent = tok.text.lower().partition("e")
        digits = len(mantissa.replace(".", "").lstrip("0"))
        if digits > MAX_DIGITS or (exponent and abs(int(exponent)) > MAX_DIGITS):
            self.fail(f"number {_shown(tok.text, 30)} is too long (at most {MAX_DIGITS} digits and "
                      f"exponents within ±{MAX_DIGITS})")
        self.count_leaf()
        return sp.Integer(int(tok.text)) if tok.text.isdigit() else sp.Rational(tok.text)

    def name(self, tok: Token) -> sp.Expr:
        if tok.text in self.indexed and tok.text not in self.names:
            n = len(self.indexed[tok.text])
            self.fail(f"{tok.text} is a vector of {n} components; write {tok.text}[0] … {tok.text}[{n - 1}]")
        if tok.text not in self.names:
            known = ", ".join([*sorted(self.names), *(f"{v}[i]" for v in sorted(self.indexed))]) or "none"
            self.fail(f"unknown name {_shown(tok.text, 40)} (known: {known}) {self.at(tok.start)}")
        self.count_leaf()
        return self.names[tok.text]

    def subscript(self, tok: Token) -> _Value:
        self.expect("[")
        index = self.tok
        self.i += 1
        self.expect("]")
        shown = _shown(self.text[tok.start:self.toks[self.i - 1].end], 40)
        if tok.text in self.indexed:
            vector = self.indexed[tok.text]
            if not (index.kind == "num" and index.text.isdigit() and int(index.text) < len(vector)):
                self.fail(f"{shown}: {tok.text} has {len(vector)} components, "
                          f"indexed {tok.text}[0] … {tok.text}[{len(vector) - 1}]")
            self.count_leaf()
            return _Value(vector[int(index.text)], tok.start, self.toks[self.i - 1].end, 0)
        if tok.text in self.names:
            self.fail(f"{shown}: {tok.text} is a scalar here, not a vector")
        self.name(tok)          # unknown name: the same message as without the index
        raise AssertionError("unreachable")

    def call(self, tok: Token) -> _Value:
        if tok.text not in FUNCTIONS:
            self.fail(f"unknown function {_shown(tok.text, 40)} (known: {', '.join(FUNCTIONS)}) {self.at(tok.start)}")
        self.calls += 1
        if self.calls > MAX_CALLS:
            self.fail(f"functions nested more than {MAX_CALLS} deep {self.at(tok.start)} ({WHY_CALLS})")
        self.expect("(")
        args = []
        if not self.take(")"):
            args.append(self.sum())
            while self.take(","):
                args.append(self.sum())
            self.expect(")")
        self.calls -= 1
        end = self.toks[self.i - 1].end
        try:
            value = FUNCTIONS[tok.text](*(a.expr for a in args))
        except (TypeError, ValueError) as e:     # e.g. the wrong number of arguments
            self.fail(f"{self.source(tok.start, end)}: {e}")
        growth = {"exp": lambda x: x, "cosh": abs, "sinh": abs}.get(tok.text)
        if growth and len(args) == 1 and not args[0].expr.free_symbols \
                and growth(self.number(args[0].expr)) > MAX_DIGITS * 2.31:     # e^x > 10^MAX_DIGITS: not evaluated
            self.fail(f"{self.source(tok.start, end)} is larger than 10^{MAX_DIGITS}")
        return self.checked(value, tok.start, end, max((a.depth for a in args), default=0) + 1)

    # -- constants --------------------------------------------------------------------------------

    def count_leaf(self):
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            self.fail(f"more than {MAX_LEAVES} numbers and names; the limit keeps the work bounded")

    @staticmethod
    def number(e: sp.Expr) -> float:
        """A constant's real value as a float (children were checked: finite, real, at most 10^MAX_DIGITS)."""
        return float(sp.re(e.evalf(20)))

    def checked(self, expr: sp.Expr, start: int, end: int, depth: int) -> _Value:
        """The value, after refusing a constant that is undefined, not real, or too large."""
        if depth > self.max_depth:
            self.fail(f"expression nested more than {self.max_depth} deep {self.at(start)}; write it flatter")
        if not expr.free_symbols and (why := constant_problem(expr)):
            self.fail(f"{self.source(start, end)} {why}")
        return _Value(expr, start, end, depth)


def is_zero(e: sp.Expr) -> bool:
    """True when a constant is 0, or so close that 30 digits cannot tell it from 0 (cosh(1)² − sinh(1)² − 1)."""
    if e.is_Number:
        return e.is_zero
    try:
        return e.evalf(30, strict=True) == 0
    except PrecisionExhausted:
        return True


def constant_problem(expr: sp.Expr) -> str | None:
    """Why a constant (an expression without symbols) cannot stand in user math — it is undefined or
    infinite, not real, or beyond 10^MAX_DIGITS — as the end of a sentence naming it; None when it can.
    Its parts must have been checked first (a tower such as exp(exp(exp(100))) is refused at its inner
    exp(exp(100)), never evaluated whole)."""
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return f"is undefined or infinite (SymPy makes it {expr})"
    if expr.is_Rational:
        return f"is a number of more than {MAX_DIGITS} digits" if _bits(expr) > _MAX_BITS else None
    value = expr.evalf(20, chop=True)
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):          # an unevaluated log(0), as a LaTeX reader builds it
        return f"is undefined or infinite (SymPy makes it {value})"
    re_, im = value.as_real_imag()
    if im != 0:
        return f"is not a real number (it is {sp.N(value, 6)})"
    if re_.is_Number and re_ != 0 and abs(re_) > sp.Float(10) ** MAX_DIGITS:
        return f"is larger than 10^{MAX_DIGITS}"
    return None


def parse_expr(text: str, names: Mapping[str, sp.Expr], what: str = "expression",
               indexed: Mapping[str, Sequence[sp.Expr]] | None = None) -> sp.Expr:
    """The SymPy expression written in `text`, whose free names must all be keys of `names`.

    `indexed` names vectors written with a literal index, `h[0]` … `h[k-1]` (nothing else may be indexed).
    """
    check_size(text, what)
    return _Parser(text, _tokens(text), names, what, indexed or {}).whole()


def parse_tokens(tokens: Sequence[Token], text: str, names: Mapping[str, sp.Expr], what: str = "expression",
                 max_depth: int = MAX_DEPTH) -> sp.Expr:
    """The SymPy expression a front end read from `text` as `tokens` (kinds num, name, op; spans in text),
    checked and built as `parse_expr` does; culprits are quoted and placed in `text` as typed.

    The front end bounds `text` with `check_size` (its own `max_length`, `max_depth`) before it reads it.
    """
    toks = [*tokens, Token("end", "", len(text), len(text))]
    return _Parser(text, toks, names, what, {}, max_depth).whole()


def components(text: str) -> list[str]:
    """The top-level components of `[e1, e2, …]` or `(e1, e2, …)`, else [text] (parse_expr reports any error)."""
    if len(text) > MAX_LENGTH:
        return [text]
    toks = _tokens(text)
    if len(toks) < 3 or toks[0].text not in "([" or toks[0].kind != "op":
        return [text]
    close = {"(": ")", "[": "]"}[toks[0].text]
    depth, cuts = 0, [toks[0].end]
    for k, tok in enumerate(toks[:-1]):
        if tok.kind != "op":
            continue
        if tok.text in "([":
            depth += 1
        elif tok.text in ")]":
            depth -= 1
            if depth == 0 and k != len(toks) - 2:
                return [text]          # the first bracket closes before the end: not a list
        elif tok.text == "," and depth == 1:
            cuts.append(tok.start)
    if depth != 0 or toks[-2].text != close or (close == ")" and len(cuts) == 1):
        return [text]                  # unbalanced, or (e) without a comma: an expression, not a tuple
    cuts.append(toks[-2].start)
    parts = [text[a + (k > 0):b].strip() for k, (a, b) in enumerate(zip(cuts, cuts[1:]))]
    return parts[:-1] if len(parts) > 1 and not parts[-1] else parts
