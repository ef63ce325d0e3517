"""Read an answer in SymPy syntax as students type it: the notation here, the checks in the parser.

A front end of `symrnn.model.parsing`, which never evaluates and is where every bound and every
check of a constant lives (`log(0)`, `sqrt(-1)`, `exp(exp(exp(100)))`, `10**10**10`, a zero
denominator, a sum of too many terms, functions nested too deeply): this pass turns the students'
notation into the parser's tokens, each keeping the span of the text it came from, so that a
refusal quotes and places its culprit as the student typed it. Read here:

- implicit multiplication: `(Y1 - z1) V (1 - h1^2) h0`, `2 h1`, `2h1`, and a run of known names
  written together (`Vh1` → V h1, when that is the only way to split it);
- the notation symrnn prints: `h1²`, `−`, `·`, `×`, `σ(Y1)`, `½`; brackets `[ ]` as parentheses;
- aliases: `H(·)` and `step(·)` for Heaviside, `ReLU`, `ln`, `e^x` / `e**x` for exp(x);
- primes on known functions: `tanh'(a1)` → (1 − tanh(a1)²), `sigmoid'(a1)`/`σ'(a1)` →
  σ(a1)(1 − σ(a1)), `relu'(a1)` → H(a1);
- syntax errors, with the position and the token expected.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from ..errors import SymrnnError
from ..model.parsing import FUNCTIONS, Token, parse_tokens, where
from .limits import MAX_NESTING, check_size, shorten

ALIASES = {"H": "Heaviside", "step": "Heaviside", "ReLU": "relu", "Relu": "relu", "ln": "log", "σ": "sigmoid",
           "sig": "sigmoid"}
PRIMES = {  # f'(X) as tokens around the argument X
    "tanh": (["(", "1", "-", "tanh", "("], [")", "**", "2", ")"]),
    "sigmoid": None,   # σ(X)(1 − σ(X)): the argument twice, built in derivative
    "relu": (["Heaviside", "("], [",", "0", ")"]),
}
MULTI_ARGUMENT = {"Heaviside", "Max", "Min"}

_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_TOKEN = re.compile(r"""
    (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*|σ)
  | (?P<super>[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+)
  | (?P<op>\*\*|[-+*/^(),=\[\]'−·×⋅∙÷∂½])
  | (?P<space>\s+)
  | (?P<other>.)""", re.VERBOSE)
_UNICODE_OPS = {"−": "-", "·": "*", "×": "*", "⋅": "*", "∙": "*", "÷": "/"}


@dataclass(frozen=True)
class Tok:
    kind: str     # number, name, op, super, other
    text: str
    pos: int      # 0-based offset in the text
    end: int      # offset after it


def tokens(text: str) -> list[Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "space":
            continue
        tok = m.group()
        if kind == "op" and tok in _UNICODE_OPS:
            tok = _UNICODE_OPS[tok]
        out.append(Tok(kind, tok, m.start(), m.end()))
    return out


def _emit(texts, start: int, end: int | None = None) -> list[Token]:
    """Parser tokens for `texts`, all standing for the text between start and end (a zero-width span by default)."""
    end = start if end is None else end
    return [Token(_kind(t), t, start, end) for t in texts]


def _kind(text: str) -> str:
    if text[0].isdigit() or (text[0] == "." and text[1:2].isdigit()):
        return "num"
    return "name" if text[0].isalpha() or text[0] == "_" else "op"


def _from(tok: Tok, *texts: str) -> list[Token]:
    """Parser tokens that stand for the typed token `tok` (its text, or what it means: σ → sigmoid)."""
    return _emit(texts or (tok.text,), tok.pos, tok.end)


def split_lhs(text: str, what: str) -> tuple[str | None, str, int]:
    """(θ of a left-hand side `dL/dθ =` or `∂L/∂θ =`, or None; the right-hand side; its offset)."""
    toks = tokens(text)
    eq = [k for k, t in enumerate(toks) if t.text == "="]
    if not eq:
        return None, text, 0
    if len(eq) > 1:
        raise SymrnnError(f"{what}: a second '=' {where(text, toks[eq[1]].pos)} (give one answer: dL/dθ = …)")
    left = "".join(t.text for t in toks[:eq[0]])
    m = re.fullmatch(r"(?:dL/d|∂L/∂)(\w+)", left)
    if not m:
        raise SymrnnError(f"{what}: the left-hand side must read dL/dθ (e.g. dL/dW), found {shorten(left)!r}")
    start = toks[eq[0]].pos + 1
    return m.group(1), text[start:], start


class _Reader:
    """One pass over the typed tokens: checks the syntax, resolves the notation, emits the parser's tokens."""

    def __init__(self, text: str, names: Mapping[str, sp.Expr], what: str, full: str, offset: int = 0):
        self.names, self.what, self.full = names, what, full      # positions refer to `full`
        self.toks = [Tok(t.kind, t.text, t.pos + offset, t.end + offset) for t in tokens(text)]

    def fail(self, message: str, pos: int | None) -> None:
        raise SymrnnError(f"{self.what}: {message} {where(self.full, pos)}")

    # -- names ------------------------------------------------------------------------------
    def function(self, name: str) -> str | None:
        """The parser's function this name calls, if it is one (and not a name of the model)."""
        if name in self.names:
            return None
        name = ALIASES.get(name, name)
        return name if name in FUNCTIONS else None

    def split(self, name: str) -> list[str] | None:
        """The only way to write `name` as known names one after another (Vh1 → V, h1), or None."""
        ways: dict[int, list[list[str]]] = {0: [[]]}
        for i in range(len(name)):
            for w in ways.get(i, []):
                for k in self.names:
                    if name.startswith(k, i) and len(ways.setdefault(i + len(k), [])) < 2:
                        ways[i + len(k)].append(w + [k])
        done = ways.get(len(name), [])
        return done[0] if len(done) == 1 and len(done[0]) > 1 else None

    # -- the pass -----------------------------------------------------------------------------
    def read(self) -> list[Token]:
        """The parser's tokens (implicit products made explicit, aliases and primes resolved)."""
        out, _ = self.expression(0, None)
        return out

    def expression(self, i: int, closer: str | None, opened: int | None = None,
                   in_call: bool = False) -> tuple[list[Token], int]:
        """Tokens from i up to the bracket `closer` opened at offset `opened` (or the end):
        (emitted, index after the closer)."""
        out: list[Token] = []
        expect_operand, prev = True, None
        while True:
            tok = self.toks[i] if i < len(self.toks) else None
            if tok is None or (tok.text in (")", "]") and tok.kind == "op"):
                if tok is None and closer is not None:
                    raise SymrnnError(f"{self.what}: expected {closer!r} at the end, to close the bracket "
                                      f"{where(self.full, opened)}: {shorten(self.full[opened:], 24)!r}")
                if expect_operand:
                    self.operand_expected(prev, tok)
                if tok is not None and closer is None:
                    self.fail(f"unexpected {tok.text!r} (no bracket to close)", tok.pos)
                if tok is not None and tok.text != closer:
                    self.fail(f"expected {closer!r}, found {tok.text!r}", tok.pos)
                return out, i + 1
            t, kind = tok.text, tok.kind
            if t == "'":
                self.fail("a prime is read on a function only: tanh'(a1), sigmoid'(a1), σ'(a1), relu'(a1)", tok.pos)
            if kind == "other" or t in ("∂", "="):
                if t == "\\":
                    self.fail("a backslash: this looks like LaTeX, give it with --latex", tok.pos)
                self.fail(f"unexpected {t!r}", tok.pos)
            if t == ",":
                if not in_call or expect_operand:
                    self.fail("unexpected ','" if not in_call else "expected an argument before ','", tok.pos)
                out += _from(tok)
                expect_operand, prev = True, tok
                i += 1
                continue
            if kind == "super":
                if expect_operand:
                    self.fail(f"unexpected {t!r}", tok.pos)
                out += _from(tok, "**", "(", *re.findall(r"\d+|[-+]", t.translate(_SUPERSCRIPT)), ")")
                i, prev = i + 1, tok
                continue
            if t in ("+", "-") and expect_operand:          # unary signs: a run collapses to one
                minus = 0
                while i < len(self.toks) and self.toks[i].text in ("+", "-"):
                    minus += self.toks[i].text == "-"
                    i += 1
                if minus % 2:
                    out += _from(tok, "-")
                prev = tok
                continue
            if t in ("+", "-", "*", "/", "**", "^"):
                if expect_operand:
                    self.operand_expected(prev, tok)
                out += _from(tok, "**" if t == "^" else t)
                expect_operand, prev = True, tok
                i += 1
                continue
            # an operand starts here: a product with what came before when nothing joins them
            if not expect_operand:
                out += _emit(["*"], tok.pos)
            emitted, i = self.operand(i)
            out += emitted
            expect_operand, prev = False, self.toks[i - 1]

    def operand_expected(self, prev: Tok | None, tok: Tok | None) -> None:
        after = f" after {prev.text!r}" if prev is not None else ""
        found = f", found {tok.text!r}" if tok is not None else ""
        self.fail(f"expected a number, a name or '('{after}{found}", tok.pos if tok is not None else None)

    def operand(self, i: int) -> tuple[list[Token], int]:
        """One operand at i (a number, a name, a call, a bracket): (emitted tokens, next index)."""
        tok = self.toks[i]
        t = tok.text
        if tok.kind == "number":
            return _from(tok), i + 1
        if t == "½":
            return _from(tok, "(", "1", "/", "2", ")"), i + 1
        if t in ("(", "["):
            if i + 1 < len(self.toks) and self.toks[i + 1].text in (")", "]"):
                self.fail("empty brackets", tok.pos)
            inner, j = self.expression(i + 1, ")" if t == "(" else "]", tok.pos)
            return [*_from(tok, "("), *inner, *_from(self.toks[j - 1], ")")], j
        if tok.kind != "name":
            self.fail(f"unexpected {t!r}", tok.pos)
        nxt = self.toks[i + 1].text if i + 1 < len(self.toks) else None
        f = self.function(t)
        if f is not None:
            prime = nxt == "'"
            j = i + 2 if prime else i + 1
            if j >= len(self.toks) or self.toks[j].text != "(":
                self.fail(f"expected '(' after the function {t}{chr(39) if prime else ''}", tok.pos)
            args, k = self.expression(j + 1, ")", self.toks[j].pos, in_call=f in MULTI_ARGUMENT and not prime)
            opened, closed = self.toks[j], self.toks[k - 1]
            if prime:
                return self.derivative(f, t, args, tok, closed), k
            if f == "Heaviside" and not _top_level_comma(args):
                args = [*args, *_from(closed, ",", "0")]      # H(0) = 0, as relu'(0) in symrnn's derivation
            return [*_from(tok, f), *_from(opened), *args, *_from(closed)], k
        if t in self.names:
            return _from(tok), i + 1
        if t == "e" and nxt in ("^", "**"):
            return self.exponential(i)
        if nxt == "'":
            self.fail(f"a prime is read on tanh, sigmoid (σ) and relu only, not on {t!r}", self.toks[i + 1].pos)
        parts = self.split(t)
        if parts is not None:
            return _from(tok, *[p for k in parts for p in ("*", k)][1:]), i + 1
        if nxt == "(":
            known = ", ".join(sorted(set(FUNCTIONS) | set(ALIASES)))
            self.fail(f"unknown function {shorten(t)!r} (known: {known})", tok.pos)
        return _from(tok), i + 1          # an unknown name: the parser names it, with the names it knows

    def derivative(self, f: str, written: str, args: list[Token], tok: Tok, closed: Tok) -> list[Token]:
        """f'(X) in tokens: tanh'(X) = 1 − tanh(X)², σ'(X) = σ(X)(1 − σ(X)), relu'(X) = H(X)."""
        if f == "sigmoid":
            before, middle, after = ["(", "sigmoid", "("], [")", "*", "(", "1", "-", "sigmoid", "("], [")", ")", ")"]
            return [*_from(tok, *before), *args, *_from(closed, *middle), *args, *_from(closed, *after)]
        if f not in PRIMES:
            self.fail(f"a prime is read on tanh, sigmoid (σ) and relu only, not on {written!r}", tok.pos)
        before, after = PRIMES[f]
        return [*_from(tok, *before), *args, *_from(closed, *after)]

    def exponential(self, i: int) -> tuple[list[Token], int]:
        """e^X / e**X (the `e` at i) as exp(X): X is a signed operand (a name, a number, a call or a bracket)."""
        e, caret = self.toks[i], self.toks[i + 1]
        i += 2
        if i >= len(self.toks):
            self.fail("expected an exponent after 'e^'", None)
        sign: list[Token] = []
        while i < len(self.toks) and self.toks[i].text in ("+", "-"):
            sign = [] if (self.toks[i].text == "-") == bool(sign) else _from(self.toks[i], "-")
            i += 1
        if i >= len(self.toks):
            self.fail("expected an exponent after 'e^'", None)
        inner, j = self.operand(i)
        return [*_from(e, "exp"), *_from(caret, "("), *sign, *inner, *_emit([")"], inner[-1].end)], j


def _top_level_comma(args: list[Token]) -> bool:
    """Whether a call's arguments hold a comma outside brackets (more than one argument)."""
    depth = 0
    for tok in args:
        depth += tok.text == "("
        depth -= tok.text == ")"
        if depth == 0 and tok.text == ",":
            return True
    return False


def parse_sympy(text: str, names: Mapping[str, sp.Expr], what: str = "--expr", full: str | None = None,
                offset: int = 0) -> sp.Expr:
    """The expression written in SymPy syntax (students' way of typing it allowed), parsed, never evaluated.

    `text` is the right-hand side of `full` (the answer as given) from `offset` on; refusals point into `full`.
    """
    full = text if full is None else full
    check_size(full, what)
    r = _Reader(text, names, what, full, offset)
    if not r.toks:
        raise SymrnnError(f"{what}: empty answer")
    return parse_tokens(r.read(), full, names, what, max_depth=MAX_NESTING)


__all__ = ["parse_sympy", "split_lhs", "tokens"]
