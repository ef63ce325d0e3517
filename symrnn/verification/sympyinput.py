"""Read an answer in SymPy syntax as students type it, then hand it to the whitelist parser.

Token-level preprocessing in front of `symrnn.model.parsing.parse_expr` (which never evaluates):

- implicit multiplication: `(Y1 - z1) V (1 - h1^2) h0`, `2 h1`, `2h1`, and a run of known names
  written together (`Vh1` → V h1, when that is the only way to split it);
- the notation symrnn prints: `h1²`, `−`, `·`, `×`, `σ(Y1)`; brackets `[ ]` as parentheses;
- aliases: `H(·)` and `step(·)` for Heaviside, `ReLU`, `ln`, `e^x` / `e**x` for exp(x);
- primes on known functions: `tanh'(a1)` → (1 − tanh(a1)²), `sigmoid'(a1)`/`σ'(a1)` →
  σ(a1)(1 − σ(a1)), `relu'(a1)` → H(a1);
- syntax errors found here, with the position and the token expected;
- long sums and products regrouped into a balanced tree (a 4900-term sum would otherwise
  exhaust the parser's recursion), and numbers that would take long to build (power towers,
  exp of exp inside Max/Heaviside) refused before SymPy builds them.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from ..errors import SymrnnError
from ..model.parsing import FUNCTIONS, MAX_LENGTH as PARSE_LIMIT, parse_expr
from . import numeric
from .limits import MAX_CALLS, MAX_DIGITS, shorten, where

ALIASES = {"H": "Heaviside", "step": "Heaviside", "ReLU": "relu", "Relu": "relu", "ln": "log", "σ": "sigmoid",
           "sig": "sigmoid"}
PRIMES = {  # f'(X) as tokens around the argument X
    "tanh": (["(", "1", "-", "tanh", "("], [")", "**", "2", ")"]),
    "sigmoid": None,   # σ(X)(1 − σ(X)): the argument twice, built in _derivative
    "relu": (["Heaviside", "("], [",", "0", ")"]),
}
MULTI_ARGUMENT = {"Heaviside", "Max", "Min"}
COMPARING = {"Max", "Min", "Heaviside", "Abs"}      # SymPy compares their numeric arguments while building
MAX_POWER_CHAIN = 3          # a**b**c**d at most
GROUP = 32                   # a longer sum or product is regrouped into a balanced tree

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


def tokens(text: str) -> list[Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "space":
            continue
        tok = m.group()
        if kind == "op" and tok in _UNICODE_OPS:
            tok = _UNICODE_OPS[tok]
        out.append(Tok(kind, tok, m.start()))
    return out


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
    """One pass over the tokens: checks the syntax, resolves names, emits the text parse_expr reads."""

    def __init__(self, text: str, names: Mapping[str, sp.Expr], what: str, offset: int = 0):
        self.text, self.names, self.what = text, names, what
        self.toks = [Tok(t.kind, t.text, t.pos + offset) for t in tokens(text)]
        self.full = None   # the text positions refer to (set by read)
        self.calls = 0     # functions open around the current token

    def fail(self, message: str, pos: int | None) -> None:
        raise SymrnnError(f"{self.what}: {message} {where(self.full, pos)}")

    def known(self) -> str:
        return ", ".join(sorted(self.names))

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
    def read(self) -> list[str]:
        """The tokens of the text parse_expr reads (implicit products made explicit, aliases resolved)."""
        out, i = self.expression(0, None)
        return out

    def expression(self, i: int, closer: str | None, opened: int | None = None,
                   in_call: bool = False) -> tuple[list[str], int]:
        """Tokens from i up to the bracket `closer` opened at offset `opened` (or the end):
        (emitted, index after the closer)."""
        out: list[str] = []
        expect_operand, prev, powers = True, None, 0
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
                out.append(",")
                expect_operand, prev, powers = True, tok, 0
                i += 1
                continue
            if kind == "super":
                if expect_operand:
                    self.fail(f"unexpected {t!r}", tok.pos)
                out += ["**", "(", t.translate(_SUPERSCRIPT), ")"]
                i, prev = i + 1, tok
                continue
            if t in ("+", "-") and expect_operand:          # unary signs: a run collapses to one
                minus = 0
                while i < len(self.toks) and self.toks[i].text in ("+", "-"):
                    minus += self.toks[i].text == "-"
                    i += 1
                if minus % 2:
                    out.append("-")
                prev = tok
                continue
            if t in ("+", "-", "*", "/", "**", "^"):
                if expect_operand:
                    self.operand_expected(prev, tok)
                powers = powers + 1 if t in ("**", "^") else 0
                if powers > MAX_POWER_CHAIN:
                    self.fail(f"a tower of {powers + 1} powers (a**b**c…)", tok.pos)
                out.append("**" if t == "^" else t)
                expect_operand, prev = True, tok
                i += 1
                continue
            # an operand starts here: a product with what came before when nothing joins them
            if not expect_operand:
                out.append("*")
            emitted, i = self.operand(i)
            out += emitted
            expect_operand, prev = False, self.toks[i - 1]

    def operand_expected(self, prev: Tok | None, tok: Tok | None) -> None:
        after = f" after {prev.text!r}" if prev is not None else ""
        found = f", found {tok.text!r}" if tok is not None else ""
        self.fail(f"expected a number, a name or '('{after}{found}", tok.pos if tok is not None else None)

    def operand(self, i: int) -> tuple[list[str], int]:
        """One operand at i (a number, a name, a call, a bracket): (emitted tokens, next index)."""
        tok = self.toks[i]
        t = tok.text
        if tok.kind == "number":
            return [t], i + 1
        if t == "½":
            return ["(", "1", "/", "2", ")"], i + 1
        if t in ("(", "["):
            if i + 1 < len(self.toks) and self.toks[i + 1].text in (")", "]"):
                self.fail("empty brackets", tok.pos)
            inner, j = self.expression(i + 1, ")" if t == "(" else "]", tok.pos)
            return ["(", *inner, ")"], j
        if tok.kind != "name":
            self.fail(f"unexpected {t!r}", tok.pos)
        nxt = self.toks[i + 1].text if i + 1 < len(self.toks) else None
        f = self.function(t)
        if f is not None:
            prime = nxt == "'"
            j = i + 2 if prime else i + 1
            if j >= len(self.toks) or self.toks[j].text != "(":
                self.fail(f"expected '(' after the function {t}{chr(39) if prime else ''}", tok.pos)
            self.calls += 1
            if self.calls > MAX_CALLS:
                self.fail(f"functions nested more than {MAX_CALLS} deep", tok.pos)
            args, k = self.expression(j + 1, ")", self.toks[j].pos, in_call=f in MULTI_ARGUMENT and not prime)
            self.calls -= 1
            if prime:
                return self.derivative(f, t, args, tok), k
            if f == "Heaviside" and len(_split(args, {","})) == 1:
                args = [*args, ",", "0"]          # H(0) = 0, as relu'(0) in symrnn's derivation
            return [f, "(", *args, ")"], k
        if t in self.names:
            return [t], i + 1
        if t == "e" and nxt in ("^", "**"):
            return self.exponential(i + 2)
        if nxt == "'":
            self.fail(f"a prime is read on tanh, sigmoid (σ) and relu only, not on {t!r}", self.toks[i + 1].pos)
        parts = self.split(t)
        if parts is not None:
            return [p for k in parts for p in ("*", k)][1:], i + 1
        if nxt == "(":
            known = ", ".join(sorted(set(FUNCTIONS) | set(ALIASES)))
            self.fail(f"unknown function {shorten(t)!r} (known: {known})", tok.pos)
        self.fail(f"unknown name {shorten(t)!r} (known: {self.known()})", tok.pos)

    def derivative(self, f: str, written: str, args: list[str], tok: Tok) -> list[str]:
        """f'(X) in tokens: tanh'(X) = 1 − tanh(X)², σ'(X) = σ(X)(1 − σ(X)), relu'(X) = H(X)."""
        if f == "sigmoid":
            return ["(", "sigmoid", "(", *args, ")", "*", "(", "1", "-", "sigmoid", "(", *args, ")", ")", ")"]
        if f not in PRIMES:
            self.fail(f"a prime is read on tanh, sigmoid (σ) and relu only, not on {written!r}", tok.pos)
        before, after = PRIMES[f]
        return [*before, *args, *after]

    def exponential(self, i: int) -> tuple[list[str], int]:
        """e^X / e**X as exp(X): X is a signed operand (a name, a number, a call or a bracket)."""
        if i >= len(self.toks):
            self.fail("expected an exponent after 'e^'", None)
        sign = []
        while i < len(self.toks) and self.toks[i].text in ("+", "-"):
            sign = [] if (self.toks[i].text == "-") == bool(sign) else ["-"]
            i += 1
        if i >= len(self.toks):
            self.fail("expected an exponent after 'e^'", None)
        inner, j = self.operand(i)
        return ["exp", "(", *sign, *inner, ")"], j


def _balanced(out: list[str]) -> list[str]:
    """The same expression with every sum or product longer than GROUP regrouped as a balanced tree."""
    result, stack = [], [[]]
    for tok in out:                                   # rebuild bracket by bracket, innermost first
        if tok == "(":
            stack.append([])
        elif tok == ")":
            inner = _regroup(stack.pop())
            stack[-1] += ["(", *inner, ")"]
        else:
            stack[-1].append(tok)
    result = _regroup(stack[0])
    return result


def _split(level: list[str], ops: set[str]) -> list[tuple[str | None, list[str]]]:
    """A bracket level split at binary operators in `ops`: [(operator before, operand tokens)]."""
    parts: list[tuple[str | None, list[str]]] = [(None, [])]
    depth, after_operand = 0, False
    for tok in level:
        if depth == 0 and tok in ops and after_operand:
            parts.append((tok, []))
            after_operand = False
            continue
        parts[-1][1].append(tok)
        depth += tok == "("
        depth -= tok == ")"
        after_operand = tok not in {"+", "-", "*", "/", "**", ",", "("} or tok == ")"
    return parts


def _closing(toks: list[str], i: int) -> int:
    """The index of the ')' that closes the '(' at i."""
    depth = 0
    for j in range(i, len(toks)):
        depth += toks[j] == "("
        depth -= toks[j] == ")"
        if depth == 0:
            return j
    return -1


def _regroup(level: list[str]) -> list[str]:
    args = _split(level, {","})
    if len(args) > 1:                                  # call arguments: each one separately
        return [t for k, (_, a) in enumerate(args) for t in ([","] if k else []) + _regroup(a)]
    terms = _split(level, {"+", "-"})
    if len(terms) > GROUP:
        signed = [([] if op in (None, "+") else ["-", "("]) + toks + ([] if op in (None, "+") else [")"])
                  for op, toks in terms]
        return _tree(signed, "+")
    if len(terms) == 1:
        factors = _split(level, {"*", "/"})
        if len(factors) > GROUP:
            parts = [toks if op in (None, "*") else ["(", "1", "/", "(", *toks, ")", ")"] for op, toks in factors]
            return _tree(parts, "*")
    return level


def _tree(parts: list[list[str]], op: str) -> list[str]:
    while len(parts) > GROUP:
        parts = [["(", *[t for k, p in enumerate(parts[i:i + GROUP]) for t in ([op] if k else []) + p], ")"]
                 for i in range(0, len(parts), GROUP)]
    return [t for k, p in enumerate(parts) for t in ([op] if k else []) + p]


def _digits(node: ast.AST) -> float | None:
    """An upper bound on the digits of the exact number a pure-number subexpression builds, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return len(str(abs(node.value)).split(".")[0]) if isinstance(node.value, int) else 20
    if isinstance(node, ast.UnaryOp):
        return _digits(node.operand)
    if isinstance(node, ast.BinOp):
        a, b = _digits(node.left), _digits(node.right)
        if a is None or b is None:
            return None
        if isinstance(node.op, ast.Pow):
            e = node.right.value if isinstance(node.right, ast.Constant) else 10 ** b
            return a * abs(e)
        return a + b + 1
    return None


def _guard(text: str, what: str, names: Mapping[str, sp.Expr]) -> None:
    """Refuse what SymPy would take long to build: huge exact numbers, and numbers inside Max, Min,
    Heaviside or Abs (which SymPy compares while building) that have no finite value."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise SymrnnError(f"{what}: cannot read it: {e.msg}") from None
    todo = [tree.body]
    while todo:
        node = todo.pop()
        todo.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            d = _digits(node)
            if d is not None and d > MAX_DIGITS:
                raise SymrnnError(f"{what}: {shorten(ast.unparse(node))} is a number of about {d:.0f} digits "
                                  f"(more than {MAX_DIGITS})")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in COMPARING:
            for arg in node.args:
                if not any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(arg)) and \
                        any(isinstance(n, (ast.Call, ast.BinOp)) for n in ast.walk(arg)):
                    _guard(ast.unparse(arg), what, names)    # its own comparisons first
                    constant = parse_expr(ast.unparse(arg), names, what)
                    try:
                        numeric.value(constant, {})
                    except numeric.Undefined as e:
                        raise SymrnnError(f"{what}: {shorten(ast.unparse(arg))} has no value: {e.reason}") from None


def culprit(text: str, names: Mapping[str, sp.Expr], bad: Callable[[sp.Expr], bool]) -> str | None:
    """The innermost call or power in `text` whose value is `bad` (infinite, not real), as written there."""
    try:
        r = _Reader(text, names, "")
        r.full = text
        tree = ast.parse("".join(_balanced(r.read())), mode="eval")
    except (SymrnnError, SyntaxError):
        return None
    order, todo = [], [tree.body]
    while todo:
        node = todo.pop()
        order.append(node)
        todo.extend(ast.iter_child_nodes(node))
    for node in reversed(order):                      # children before their parents
        if isinstance(node, (ast.Call, ast.BinOp)):
            source = ast.unparse(node)
            if len(source) <= 200:
                try:
                    if bad(parse_expr(source, names, "")):
                        return source
                except SymrnnError:
                    continue
    return None


def parse_sympy(text: str, names: Mapping[str, sp.Expr], what: str = "--expr", full: str | None = None,
                offset: int = 0) -> sp.Expr:
    """The expression written in SymPy syntax (students' way of typing it allowed), parsed, never evaluated."""
    r = _Reader(text, names, what, offset)
    r.full = full if full is not None else text
    if not r.toks:
        raise SymrnnError(f"{what}: empty answer")
    emitted = _balanced(r.read())
    _guard("".join(emitted), what, names)
    return _parse(emitted, names, what)


def _parse(toks: list[str], names, what) -> sp.Expr:
    """parse_expr of the tokens, split at the top level when the text is longer than parse_expr reads."""
    if len("".join(toks)) <= PARSE_LIMIT:
        return parse_expr("".join(toks), names, what)
    terms = _split(toks, {"+", "-"})
    if len(terms) > 1:
        return sp.Add(*(-_parse(t, names, what) if op == "-" else _parse(t, names, what) for op, t in terms))
    factors = _split(toks, {"*", "/"})
    if len(factors) > 1:
        value = sp.Integer(1)
        for op, t in factors:
            f = _parse(t, names, what)
            if op == "/" and f == 0:
                raise SymrnnError(f"{what}: division by zero")
            value = value / f if op == "/" else value * f
        return value
    if toks[0] == "-":
        return -_parse(toks[1:], names, what)
    if toks[0] == "(" and _closing(toks, 0) == len(toks) - 1:
        return _parse(toks[1:-1], names, what)
    raise SymrnnError(f"{what}: one factor of more than {PARSE_LIMIT} characters: split it")


__all__ = ["parse_sympy", "split_lhs", "culprit", "tokens"]
