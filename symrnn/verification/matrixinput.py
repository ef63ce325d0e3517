r"""Read a matrix-form hand derivation (LaTeX or SymPy style) into matrix-IR nodes, with matrix meaning.

A grammar of verify's own (never `sympy.parsing.latex`, never `eval`); anything it does not know is a
one-line error naming the token, its position and what was expected:

    answer   := [lhs "="] sum                   lhs: ∂L/∂θ, \frac{\partial L}{\partial θ}, \nabla_{θ} L, dL/dθ
    sum      := ["+" | "-"] hadamard {("+" | "-") hadamard}
    hadamard := product {(\odot | \circ) product}              (⊙ binds looser than the matrix product)
    product  := power {[\cdot | @ | *] power}                   juxtaposition, \cdot, @: matrix product (or scaling);
                                                                 `*`: ⊙ between equal shapes, scaling by a scalar
    power    := atom {^\top | ^T | ^\intercal | ^{(t)} | ^2 | .T | **2}
    atom     := NUMBER | \frac{N}{N} | name | ( sum ) | [ sum ] | \left( sum \right) | \sum_{t=1}^{T} hadamard
              | \prod_{i=s+1}^{t} hadamard | Sum(sum, (t, 1, T)) | diag(sum) | f(sum) | f'(sum) | leibniz
              | \max(0, sum) (relu) | indicator | [cond]
    indicator:= (\mathbb{1} | \mathbf{1} | \mathbb{I} | …) ([cond] | (cond) | _{cond})
    cond     := sum (> | < | \geq | \leq | …) sum       1[x > 0] = H(x), 1[x ≥ 0] = 1 − H(−x) (H(0) = 0 in both)
    name     := [\mathbf{ | \boldsymbol{ | \bm{] LETTER [_sub] [^sup] [}]      W, W_{hr}, h_t, h^{(t)}, \delta_{t+1},
                \delta^{r}_t, \gamma_t, \bar{h}_t, h_0, x_t, Y_t, z_t, g_t; SymPy style h[t-1], h1, delta_r[t], W_hr
    leibniz  := \frac{\partial L}{\partial h_t} (γ_t) | \frac{\partial L}{\partial a_t} (δ_t) | \nabla_{h_t} L
              | \frac{\partial L_t}{\partial Y_t} (g_t)   — named quantities, valued by the checker

Shapes are not checked here (`matrixcheck.shape` does, naming the factor), except to read `*`, which
means ⊙ or scaling by the shapes of its operands, as in NumPy.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.nodes import (Diag, Gain, Hadamard, Map, Mat, MatProd, Minus, Neg, Node, Num, OneHot, Ones, Plus, Softmax,
                        Square, SumOver, ProdOver, Transposed, Vec, Zeros)
from ..ir.primitives import FUNCTIONS
from ..model.parsing import where
from .limits import check_size
from .texinput import INDICATORS, NAMED_FUNCTIONS, OPEN, RELATIONS, Token, TokenCursor, quoted, tokenize

TRANSPOSE = {r"\top", "T", r"\intercal", r"\mathsf{T}", "⊤"}
HADAMARD = {r"\odot", r"\circ", "⊙", "∘"}
MATMUL = {r"\cdot", "@", r"\times", "·"}
STAR = "*"
WRAPPERS = {r"\mathbf", r"\boldsymbol", r"\bm", r"\vec", r"\mathit", r"\mathrm", r"\mathsf"}
WORDS = {r"\operatorname", r"\mathrm", r"\text", r"\textrm", r"\operatorname*"}
LATEX_FUNCTIONS = {r"\tanh": "tanh", r"\sigma": "sigmoid", r"\exp": "exp", r"\sech": "sech", r"\Theta": "heaviside"}
# the scalar reader's function words (texinput) that have a vector form here, and the matrix-only ones; sech is
# read squared only (sech² = 1 − tanh²), the others (log, cosh, sinh) are refused by name
IR_NAME = {"tanh": "tanh", "sigmoid": "sigmoid", "relu": "relu", "exp": "exp", "H": "heaviside", "sech": "sech"}
WORD_FUNCTIONS = {**{w: IR_NAME[f] for w, f in NAMED_FUNCTIONS.items() if f in IR_NAME},
                  "softmax": "softmax", "diag": "diag", "onehot": "onehot"}
NOT_READ = sorted(w for w, f in NAMED_FUNCTIONS.items() if f not in IR_NAME and f != "max")
BRACKETS = {**OPEN, "{": "}"}       # the scalar reader's brackets, and TeX's group braces
INDEX_NAMES = {"t": naming.t, "s": naming.s, "i": naming.i, "j": naming.j, "T": naming.T}
UNICODE = {"⊙": r"\odot", "∘": r"\circ", "Σ": r"\sum", "∑": r"\sum", "Π": r"\prod", "∏": r"\prod", "γ": r"\gamma",
           "⊤": r"\top"}
GREEK = {r"\delta": naming.DELTA, r"\gamma": naming.GAMMA}


@dataclass(frozen=True)
class Names:
    """What an answer may name in one model: parameters (shape letters), per-step vectors (size letter),
    the named quantities (δ, γ, h̄, δʳ …: a role the checker values) and what each Leibniz factor means."""

    params: dict                     # name -> shape, e.g. ("k", "m"), () for a gain
    vectors: dict                    # role -> size letter: h, x, a, r, Y, z …
    quantities: dict                 # role -> words (δ_t = ∂L/∂a_t …)
    loss_gradient: str               # the name of g_t = ∂L_t/∂Y_t (g, or e in the LSTM)
    g: Callable                      # step -> the node of g_t
    adjoint_of: dict                 # a vector role v -> the role of ∂L/∂v_t (h -> gamma, a -> delta)
    initial: tuple = ()              # h0 (and c0): the initial states, whose gradients may be asked
    class_target: bool = False       # ce: z_t reads as onehot(z_t)
    scalar: bool = False             # the scalar form (every size 1): `*` and juxtaposition are the same product
    shape: Callable | None = field(default=None, compare=False)   # node -> shape, to read `*`


@dataclass(frozen=True)
class Line:
    """One line of an answer: `lhs = rhs` with lhs a quantity at a step (a definition) or a gradient (wrt)."""

    number: int                      # the line (or, when a line holds several, the equation) it is
    source: str
    rhs: Node
    wrt: str | None = None           # ∂L/∂wrt = …
    defines: Vec | None = None       # δ_t = …
    unit: str = "line"               # "line", or "equation" when `;` or `\\` put several on one line

    @property
    def label(self) -> str:
        return f"{self.unit} {self.number}"


class _Parser(TokenCursor):
    def __init__(self, text: str, tokens, names: Names, what: str, latex: bool):
        self.text, self.tokens, self.names, self.what, self.latex, self.i = text, tokens, names, what, latex, 0

    def take(self) -> str:   # this grammar reads token texts only
        return super().take().text

    def word_ahead(self, word: str) -> bool:
        """Whether the next tokens spell `word` (LaTeX splits a word into letters), or are the word (SymPy style)."""
        if self.peek() == word:
            return True
        return self.latex and all(self.peek(k) == ch for k, ch in enumerate(word))

    def take_word(self, word: str) -> None:
        if self.peek() == word:
            self.take()
        else:
            for _ in word:
                self.take()

    def braced_word(self) -> str:
        self.expect("{")
        word = ""
        while self.peek() is not None and re.fullmatch(r"[A-Za-z]+", self.peek()):
            word += self.take()
        self.expect("}")
        return word

    # -- equations -------------------------------------------------------------------------
    def line(self) -> tuple[str | None, Vec | None, Node]:
        """(θ of ∂L/∂θ =, or the quantity a definition defines, or neither; the right-hand side)."""
        equals, depth = [], 0
        for k, tok in enumerate(self.tokens):     # the '=' of \sum_{t=1} is inside braces
            depth += tok.text in ("{", "(", "[") and 1 or tok.text in ("}", ")", "]") and -1 or 0
            if tok.text == "=" and depth == 0:
                equals.append(k)
        if len(equals) > 1:
            self.fail("a second '=' (one equation per line)", equals[1])
        wrt = defines = None
        if equals:
            wrt, defines = self.lhs()
            self.expect("=", " after the left-hand side")
        value = self.sum()
        if self.peek() is not None:
            self.fail(f"unexpected {quoted(self.peek())}" + (" (no bracket to close)" if self.peek() in
                                                            (")", "]", "}", r"\right") else ""))
        return wrt, defines, value

    def lhs(self):
        start = self.i
        if self.peek() in (r"\nabla", "∇"):
            den = self.nabla_subscript()
            if self.peek() != "L":
                self.fail("expected L after \\nabla_{…} (∇_θ L, the gradient of the loss)")
            self.take()
            return self.wrt_of(den, start)
        if not self.latex and self.peek() == "dL" and self.peek(1) == "/" and (self.peek(2) or "").startswith("d"):
            self.i += 3                            # SymPy style: dL/dW
            den = self.tokens[self.i - 1].text[1:]
            if den in self.names.params:
                return den, None
            if den in self.names.initial:
                return den, None
            self.fail(f"unknown parameter {den!r} on the left-hand side", start)
        if self.peek() in (r"\frac", r"\partial", "d", r"\dfrac") or self.peek() == "∂":
            num, den = self.leibniz_parts()
            if num != "L":
                self.fail(f"the left-hand side must be a derivative of L, found ∂{num}/∂…", start)
            return self.wrt_of(den, start)
        node = self.name_or_param()
        if isinstance(node, Vec) and node.role in self.names.quantities:
            return None, node
        self.fail("the left-hand side must be ∂L/∂θ (the gradient) or a named quantity such as δ_t or γ_t", start)

    def wrt_of(self, den, start):
        if isinstance(den, Mat):
            return den.name, None
        if isinstance(den, Vec) and den.step == 0 and naming.initial(den.role) in self.names.initial:
            return naming.initial(den.role), None
        if isinstance(den, Vec) and den.role in self.names.adjoint_of:
            return None, Vec(self.names.adjoint_of[den.role], den.step)
        self.fail("the left-hand side must be the gradient of a parameter (∂L/∂W) or of h_0", start)

    def leibniz_parts(self) -> tuple[str, Node]:
        r"""\frac{\partial N}{\partial D}, \partial N/\partial D, dN/dD: (N's name, D's node)."""
        frac = self.peek() in (r"\frac", r"\dfrac")
        if frac:
            self.take()
            self.expect("{")
        start = self.i
        d = self.take()
        if d not in (r"\partial", "d", "∂"):
            self.fail("expected \\partial in a Leibniz factor", self.i - 1)
        if self.peek() in ("^", "_"):
            self.fail("∂⁺ (the immediate partial) is read for the lecture's cell only; write the factors out", start)
        num = self.take()
        if num != "L":
            self.fail(f"a Leibniz factor of {quoted(num)} (∂h_2/∂h_1, ∂⁺h/∂θ) is read for the lecture's cell only; "
                      f"here name ∂L/∂v_t (γ_t, δ_t) or ∂L_t/∂Y_t, or write the factors out", start)
        if num == "L" and self.peek() == "_":
            self.take()
            self.index()
            num = "L_t"
        if frac:
            self.expect("}")
            self.expect("{")
        else:
            self.expect("/")
        if self.take() not in (r"\partial", "d", "∂"):
            self.fail("expected \\partial in the denominator", self.i - 1)
        den = self.name_or_param()
        if frac:
            self.expect("}")
        return num, den

    # -- expressions -----------------------------------------------------------------------
    def sum(self) -> Node:
        terms = []
        sign = "+"
        if self.peek() in ("+", "-"):
            sign = self.take()
        terms.append(self.hadamard() if sign == "+" else Neg(self.hadamard()))
        while self.peek() in ("+", "-"):
            sign = self.take()
            term = self.hadamard()
            terms.append(term if sign == "+" else Neg(term))
        return terms[0] if len(terms) == 1 else Plus(*terms)

    def hadamard(self) -> Node:
        factors = [self.product()]
        while self.peek() in HADAMARD:
            self.take()
            factors.append(self.product())
        return factors[0] if len(factors) == 1 else Hadamard(*factors)

    def starts_atom(self, tok) -> bool:
        if tok is None or tok in ("+", "-", "=", ",", "^", "_", "/", "'") or tok in BRACKETS.values() or tok in HADAMARD \
                or tok in MATMUL or tok == STAR or tok.startswith(r"\right") or tok in RELATIONS:
            return False
        return True

    def product(self) -> Node:
        out = self.power()
        while True:
            tok = self.peek()
            if tok in MATMUL:
                self.take()
                out = _matprod(out, self.power())
            elif tok == STAR:
                at = self.i
                self.take()
                out = self.star(out, self.power(), at)
            elif tok == "/":
                at = self.i
                self.take()
                d = self.power()
                if not isinstance(d, Num) or d.value == 0:
                    self.fail("only division by a nonzero number is read" + (
                        " (a gradient of this cell is a product: write its factors)" if self.names.scalar else
                        " (write ⊙ and the reciprocal otherwise)"), at)
                out = _matprod(Num(1 / d.value), out)
            elif self.starts_atom(tok):
                out = _matprod(out, self.power())
            else:
                return out

    def star(self, a: Node, b: Node, at: int) -> Node:
        """`*` as NumPy reads it: scaling when either side is a scalar, else ⊙ of equal shapes."""
        shape = self.names.shape
        sa, sb = shape(a), shape(b)
        if sa == () or sb == () or self.names.scalar:
            return _matprod(a, b)
        if sa is None or sb is None:          # an operand that does not fit already: the checker names it
            return Hadamard(a, b)
        if sa == sb or "any" in (sa, sb):
            return Hadamard(*(a.args if isinstance(a, Hadamard) else (a,)), b)
        self.fail(f"'*' between {_shape_words(sa)} and {_shape_words(sb)}: '*' is the elementwise product here "
                  f"(NumPy's), which needs equal shapes; write '@' for the matrix product", at)

    def power(self) -> Node:
        base = self.atom()
        while True:
            if self.peek() == "^":
                at = self.i
                self.take()
                base = self.superscript(base, at)
            elif self.peek() == "." and self.peek(1) == "T":
                self.take()
                self.take()
                base = Transposed(base)
            elif self.peek() == "**":
                at = self.i
                self.take()
                n = self.integer_exponent()
                if n is None:
                    self.fail(f"expected a whole-number exponent after '**', found "
                              f"{quoted(self.peek()) if self.peek() else 'the end'}")
                base = self.raised(base, n, at)
            else:
                return base

    def raised(self, base: Node, n: int, at: int) -> Node:
        """base^n: in the scalar form (sizes 1) a plain power; in matrix form only the elementwise square, since
        v^3 of a vector could mean v ⊙ v ⊙ v or a matrix power."""
        if n == 2:
            return Square(base)
        if self.names.scalar:
            if n == 0:
                return Num(sp.Integer(1))
            out = base
            for _ in range(n - 1):
                out = _matprod(out, base)
            return out
        self.fail(f"a power {n} of a vector or matrix is ambiguous in matrix form: write the elementwise square "
                  f"v^2, or the products out (v ⊙ v ⊙ v, W W W)", at)

    def superscript(self, base: Node, at: int) -> Node:
        braced = self.peek() == "{"
        if braced:
            self.take()
        if braced:
            self.i -= 1
        n = self.integer_exponent()
        if n is not None:
            return self.raised(base, n, at)
        if braced:
            self.i += 1
        tok = self.take()
        if tok in TRANSPOSE or (tok == r"\mathsf" and self.braced_word() == "T"):
            out = Transposed(base)
        elif tok == "-" and self.peek() is not None and self.peek().isdigit():
            self.fail("an inverse is not part of BPTT's gradients" if self.peek() == "1" and not self.names.scalar else
                      "a negative power (a quotient) is not read for this cell: write the derivative as a product", at)
        else:
            self.fail(f"unexpected {quoted(tok)} after '^' (read: ^\\top, ^T, ^\\intercal for a transpose, "
                      f"{'^n for a power' if self.names.scalar else '^2 for the elementwise square'})", self.i - 1)
        if braced:
            self.expect("}")
        return out

    # -- atoms ------------------------------------------------------------------------------
    def atom(self) -> Node:
        tok = self.peek()
        if tok is None:
            self.fail("expected a name, a number or '(', found the end")
        at = self.i
        if tok[0].isdigit():
            return self.number()
        if tok in BRACKETS or tok == r"\left":
            return self.group()
        if tok in (r"\frac", r"\dfrac", r"\tfrac"):
            return self.fraction()
        if tok in (r"\partial", "∂"):
            return self.leibniz()
        if tok in (r"\nabla", "∇"):
            return self.nabla()
        if tok in (r"\sum", r"\prod") or tok in ("Sum", "Prod", "sum"):
            return self.big_operator()
        if tok in LATEX_FUNCTIONS:
            self.take()
            return self.call(LATEX_FUNCTIONS[tok], at)
        if tok == r"\max":
            return self.maximum()
        if tok in INDICATORS and self.peek(1) == "{" and self.peek(2) in ("1", "I") and self.peek(3) == "}":
            return self.indicator()
        if tok in WORDS and self.peek(1) == "{":
            self.take()
            word = self.braced_word()
            if word in NOT_READ:
                self.not_read(word, at)
            if word not in WORD_FUNCTIONS:
                self.fail(f"unknown function {word!r} (known: {', '.join(sorted(set(WORD_FUNCTIONS)))})", at)
            return self.call(WORD_FUNCTIONS[word], at)
        for word, fname in WORD_FUNCTIONS.items():
            if len(word) > 1 and self.word_ahead(word) and self.peek(len(word) if self.latex and
                                                                        self.peek() != word else 1) in ("(", r"\left", "[", "'",
                                                                                                         "^", "**"):
                self.take_word(word)
                return self.call(fname, at)
        if tok == "H" and self.peek(1) in ("(", r"\left") and "H" not in self.names.params:
            self.take()
            return self.call("heaviside", at)
        if tok == "e" and self.peek(1) in ("^", "**") and "e" not in self.names.params and not (
                self.peek(2) == "(" and self.latex or self.peek(2) == "{" and self.peek(3) == "("):
            return self.exp_power()                   # e^{x}, e**x; e^{(t)} is a step of the name e
        if tok in (r"\log", r"\ln", r"\cosh", r"\sinh") or not self.latex and tok in NOT_READ and self.peek(1) == "(":
            self.not_read(tok.lstrip("\\"), at)
        return self.name_or_param()

    def exp_power(self) -> Node:
        """e^{x}, e^x, e**x, e**-x, e^(x): exp(x)."""
        self.take()
        self.take()
        sign = self.take() if self.peek() in ("-", "+") else "+"
        if self.peek() == "{":
            self.take()
            arg = self.sum()
            self.expect("}", " to close the exponent of e")
        else:
            arg = self.power() if not self.latex else self.atom()
        return Map("exp", Neg(arg) if sign == "-" else arg)

    def not_read(self, word: str, at: int):
        self.fail(f"{word} is not read for this cell (its answers are read with tanh, σ, relu, exp, H and sech²; the "
                  f"lecture's scalar cell reads {word})", at)

    def number(self) -> Node:
        text = self.take()
        value = sp.Rational(text)
        alone = not self.starts_atom(self.peek())
        if value == 1 and alone:
            return Ones()           # 1 − h_t: the all-ones vector
        if value == 0 and alone:
            return Zeros()          # δ_{T+1} = 0: the zero vector
        return Num(value)

    def group(self, needs_condition: bool = False) -> Node:
        """A bracketed sum (in an indicator, or as [cond], a condition)."""
        tok = self.take()
        left = tok == r"\left"
        if left:
            tok = self.take()
        close = BRACKETS.get(tok)
        if close is None:
            self.fail(f"expected a bracket, found {quoted(tok)}", self.i - 1)
        opening = self.i - 1
        value = self.sum()
        if needs_condition and self.peek() not in RELATIONS:
            self.fail("an indicator needs a condition such as [a > 0]")
        if self.peek() in RELATIONS and (needs_condition or tok == "["):   # [a_t > 0]: Iverson's bracket
            value = self.condition(value)
        opened = where(self.text, self.tokens[opening].pos)
        if left:
            self.expect(r"\right", f" to close the \\left{tok} {opened}")
        self.expect(close, f" to close the {tok!r} {opened}")
        return value

    def condition(self, lhs: Node) -> Node:
        """lhs REL rhs as a 0/1 vector, entry by entry: x > 0 is H(x), x ≥ 0 is 1 − H(−x) (H(0) = 0), so that
        1[h_t ≥ 0] (always 1 for relu) is not read as H(h_t)."""
        rel = RELATIONS[self.take()]
        rhs = self.sum()
        x = (lhs if isinstance(rhs, Zeros) else Minus(lhs, rhs)) if rel in (">", ">=") else \
            (Neg(lhs) if isinstance(rhs, Zeros) else Minus(rhs, lhs))
        return Minus(Ones(), Map("heaviside", Neg(x))) if "=" in rel else Map("heaviside", x)

    def maximum(self) -> Node:
        r"""\max(0, x) (= relu(x)) or \max(x, 0)."""
        at = self.i
        self.take()
        a, b = self.max_arguments()
        if not (isinstance(a, Zeros) or isinstance(b, Zeros)):
            self.fail(r"\max is read as \max(0, x) (relu) only", at)
        return Map("relu", b if isinstance(a, Zeros) else a)

    def fraction(self) -> Node:
        at = self.i
        if self.peek(1) == "{" and self.peek(2) in (r"\partial", "d", "∂"):
            return self.leibniz()
        self.take()
        if self.peek() is not None and self.peek().isdigit() and len(self.peek()) == 2:   # \frac12
            digits = self.take()
            return Num(sp.Rational(int(digits[0]), int(digits[1])))
        self.expect("{")
        num = self.number() if self.peek() and self.peek()[0].isdigit() else None
        self.expect("}")
        self.expect("{")
        den = self.number() if self.peek() and self.peek()[0].isdigit() else None
        self.expect("}")
        if num is None or den is None:
            self.fail("a fraction of numbers (\\frac{1}{2}) or a Leibniz factor (\\frac{\\partial L}{\\partial h_t}) "
                      "is read; write other quotients as products", at)
        n = sp.Integer(1) if isinstance(num, Ones) else num.value
        d = sp.Integer(1) if isinstance(den, Ones) else den.value
        if d == 0:
            self.fail("division by zero", at)
        return Num(n / d)

    def leibniz(self) -> Node:
        at = self.i
        num, den = self.leibniz_parts()
        return self.quantity(num, den, at)

    def nabla_subscript(self) -> str:
        """The θ of ∇_θ or ∇_{θ}, the ∇ itself taken."""
        self.take()
        self.expect("_")
        braced = self.peek() == "{"
        if braced:
            self.take()
        den = self.name_or_param()
        if braced:
            self.expect("}")
        return den

    def nabla(self) -> Node:
        at = self.i
        den = self.nabla_subscript()
        num = self.take()
        if num == "L" and self.peek() == "_":
            self.take()
            self.index()
            num = "L_t"
        return self.quantity(num, den, at)

    def quantity(self, num: str, den: Node, at: int) -> Node:
        """∂L/∂v_t as the named adjoint of v (γ_t, δ_t …); ∂L_t/∂Y_t as g_t."""
        if num == "L_t" and isinstance(den, Vec) and den.role == naming.OUTPUT:
            return self.names.g(den.step)
        if num == "L" and isinstance(den, Vec) and den.role in self.names.adjoint_of:
            return Vec(self.names.adjoint_of[den.role], den.step)
        if num == "L" and isinstance(den, Vec) and den.role == naming.OUTPUT:
            return self.names.g(den.step)
        if num == "L" and isinstance(den, Mat):
            self.fail(f"∂L/∂{den.name} is the gradient the answer has to work out; write its terms", at)
        known = ", ".join(f"∂L/∂{naming.text_role(v)}_t" for v in self.names.adjoint_of)
        self.fail(f"a Leibniz factor that names no known quantity (known: {known}, ∂L_t/∂Y_t)", at)

    def big_operator(self) -> Node:
        """\\sum_{t=1}^{T} body, \\sum_t body (t from 1 to T), \\prod_{i=s+1}^{t} body, Sum(body, (t, 1, T))."""
        at = self.i
        tok = self.take()
        is_prod = tok in (r"\prod", "Prod")
        if tok in ("Sum", "Prod", "sum"):
            self.expect("(")
            body = self.sum()
            self.expect(",", " and the limits (t, 1, T)")
            self.expect("(")
            var = self.index_var()
            self.expect(",")
            lo = self.index()
            self.expect(",")
            hi = self.index()
            self.expect(")")
            self.expect(")")
            return (ProdOver if is_prod else SumOver)(body, (var, lo, hi))
        if self.peek() == r"\limits":
            self.take()
        if self.peek() != "_":
            self.fail(f"expected '_' and the index after {quoted(tok)} (\\sum_{{t=1}}^{{T}})", at)
        self.take()
        braced = self.peek() == "{"
        if braced:
            self.take()
        var = self.index_var()
        lo, hi = sp.Integer(1), naming.T
        if self.peek() == "=":
            self.take()
            lo = self.index()
        if braced:
            self.expect("}")
        if self.peek() == "^":
            self.take()
            braced = self.peek() == "{"
            if braced:
                self.take()
            hi = self.index()
            if braced:
                self.expect("}")
        elif is_prod:
            self.fail("a product needs both limits: \\prod_{i=s+1}^{t}", at)
        return (ProdOver if is_prod else SumOver)(self.hadamard(), (var, lo, hi))

    def index_var(self) -> sp.Symbol:
        tok = self.take()
        if tok not in INDEX_NAMES or tok == "T":
            self.fail(f"expected an index variable (t, s, i, j), found {quoted(tok)}", self.i - 1)
        return INDEX_NAMES[tok]

    def call(self, fname: str, at: int) -> Node:
        """f(x), f'(x), f^n(x) (\\tanh^2(x) = tanh(x)²), f^{\\prime}(x); sech only squared: sech²(x) = 1 − tanh²(x)."""
        prime = self.prime()
        n = None
        if self.peek() in ("^", "**") and self.peek(1) != r"\prime":
            self.take()
            n = self.integer_exponent()
            if n is None:
                self.fail(f"expected a whole-number power of {fname} (\\tanh^2(x)), found "
                          f"{quoted(self.peek()) if self.peek() else 'the end'}")
        prime = self.prime() or prime
        if self.peek() not in BRACKETS and self.peek() != r"\left":
            self.fail(f"expected '(' after the function {fname}", self.i)
        arg = self.group()
        if fname == "sech":
            if n is None and self.peek() in ("^", "**"):
                mark = self.i
                self.take()
                n = self.integer_exponent()
                if n is None:
                    self.i = mark
            if prime or n is None or n % 2:
                self.fail("sech is read in an even power only (sech²(x) = 1 − tanh²(x)); write 1 − tanh²(x)", at)
            return self.raised(Minus(Ones(), Square(Map("tanh", arg))), n // 2, at)
        value = self.applied(fname, arg, prime, at)
        return value if n is None else self.raised(value, n, at)

    def applied(self, fname: str, arg: Node, prime: bool, at: int) -> Node:
        if fname == "diag":
            return Diag(arg)
        if fname == "softmax":
            return Softmax(arg)
        if fname == "onehot":
            return OneHot(arg.args[0] if isinstance(arg, OneHot) else arg)
        f = FUNCTIONS[fname]
        if not prime:
            return Map(fname, arg)
        if fname == "tanh":
            return Minus(Ones(), Square(Map("tanh", arg)))
        if fname == "sigmoid":
            return Hadamard(Map("sigmoid", arg), Minus(Ones(), Map("sigmoid", arg)))
        if fname == "relu":
            return Map("heaviside", arg)
        if fname == "exp":
            return Map("exp", arg)
        self.fail(f"{f.text}' is not read; write its derivative out", at)

    # -- names ------------------------------------------------------------------------------
    def name_or_param(self) -> Node:
        """A parameter (W, W_{hr}, \\mathbf{W}) or a vector at a step (h_t, h^{(t)}, \\delta_{t+1}, δʳ_t, h̄_t)."""
        at = self.i
        tok = self.peek()
        if tok in WRAPPERS:   # \mathbf{h}_t, \mathbf{h_t}, \boldsymbol{\delta}_{t+1}: the wrapper only changes the font
            self.take()
            self.expect("{")
            if self.peek(1) == "}" and (self.peek() in GREEK or re.fullmatch(r"[A-Za-z]", self.peek() or "")):
                base = self.take()
                self.take()
                return self.stepped(GREEK.get(base, base), at)
            node = self.name_or_param()
            self.expect("}")
            return node
        if tok in (r"\bar", r"\overline"):
            self.take()
            self.expect("{")
            base = self.take()
            self.expect("}")
            return self.stepped(naming.bar(base), at)
        if tok in GREEK:
            self.take()
            return self.stepped(GREEK[tok], at)
        if tok.startswith("\\") and (tok[1:] in self.names.params or tok[1:] in self.names.vectors):
            self.take()                                   # \alpha for a parameter named alpha
            return self.stepped(tok[1:], at)
        if tok is None:
            self.fail("expected a name, found the end")
        if tok.startswith("\\") and len(tok) > 1:
            self.fail(f"unknown command {quoted(tok)}", at)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", tok):
            self.fail(f"expected a name, a number or '(', found {quoted(tok)}", at)
        self.take()
        if not self.latex:
            return self.sympy_name(tok, at)
        return self.stepped(tok, at)

    def sympy_name(self, word: str, at: int) -> Node:
        """h[t-1], h1, h_t, delta_r[t], W_hr, W: SymPy-style names."""
        if word in self.names.params and self.peek() != "[":
            return self.param(word)
        if self.peek() == "[":
            self.take()
            step = self.index()
            self.expect("]")
            return self.vector(word, step, at)
        for role in sorted(self.all_roles(), key=len, reverse=True):
            rest = word[len(role):]
            if word.startswith(role) and (re.fullmatch(r"\d+", rest) or re.fullmatch(r"_(\d+|t|T|s|i|j)", rest)):
                step = rest.lstrip("_")
                return self.vector(role, sp.Integer(step) if step.isdigit() else INDEX_NAMES[step], at)
        splits = [(word[:n], word[n:]) for n in range(1, len(word)) if self.is_name(word[:n]) and self.is_name(word[n:])]
        if len(splits) == 1:                  # Vh1: V h1, known names run together (when only one split exists)
            return _matprod(self.sympy_name(splits[0][0], at), self.sympy_name(splits[0][1], at))
        self.unknown(word, at)

    def is_name(self, word: str) -> bool:
        """Whether word alone is a known SymPy-style name (a parameter, or a role and a step: h1, a_u2)."""
        return word in self.names.params or any(
            word.startswith(role) and re.fullmatch(r"\d+", word[len(role):]) for role in self.all_roles())

    def all_roles(self):
        return set(self.names.vectors) | set(self.names.quantities) | {self.names.loss_gradient}

    def stepped(self, base: str, at: int) -> Node:
        """base with its scripts read, raised to a power written before its step (h^2_1)."""
        node, power = self.scripted(base, at)
        return node if power is None else self.raised(node, power, at)

    def scripted(self, base: str, at: int):
        """base with its subscript and superscript read: a parameter name, a tag (δ^r), a step (_t, ^{(t)})."""
        sub = sup_tag = step = power = None
        transposed = False
        while self.peek() in ("_", "^"):
            mark = self.peek()
            if mark == "^" and sub is None and power is None:    # h^2_1: the power written before the step
                mark_at = self.i
                self.take()
                power = self.integer_exponent()
                if power is not None and self.peek() == "_":
                    continue
                self.i, power = mark_at, None
            if mark == "^" and self.peek(1) in TRANSPOSE | {"2"}:
                break
            if mark == "^" and self.peek(1) == "{" and self.peek(2) in TRANSPOSE | {"2"}:
                break
            if mark == "^" and not (self.peek(1) == "(" or (self.peek(1) == "{" and self.peek(2) == "(")
                                    or re.fullmatch(r"[A-Za-z]", self.peek(1) or "")
                                    or (self.peek(1) == "{" and re.fullmatch(r"[A-Za-z]", self.peek(2) or ""))):
                break                  # ^{-1}, ^3: not a tag or a step; the power's superscript refuses it
            self.take()
            if mark == "_":
                if sub is not None:
                    self.fail("a second subscript", self.i - 1)
                sub = self.script()
                while sub[0] in ("letters", "index") and self.peek() is not None and \
                        re.fullmatch(r"[A-Za-z]", self.peek()) and any(
                            p.startswith(f"{base}_{sub[1]}{self.peek()}") for p in self.names.params):
                    sub = ("letters", f"{sub[1]}{self.take()}")     # W_hr typed without braces
            else:
                if self.peek() == "{" and self.peek(1) == "(":
                    self.take()
                    self.take()
                    step = self.index()
                    self.expect(")")
                    if self.peek() in TRANSPOSE:
                        self.take()
                        transposed = True
                    self.expect("}")
                elif self.peek() == "(":
                    self.take()
                    step = self.index()
                    self.expect(")")
                else:
                    sup_tag = self.script(letters=True)[1]
        role = base
        if sup_tag is not None:
            role = f"{base}_{sup_tag}"
        if sub is not None and step is None:
            kind, value = sub
            if kind == "letters" and f"{base}_{value}" in self.names.params:
                node = self.param(f"{base}_{value}")
                return (Transposed(node) if transposed else node, power)
            if kind == "letters" and f"{base}_{value}" in self.all_roles() and sup_tag is None:
                self.fail(f"{base}_{{{value}}} needs a step: {base}^{{{value}}}_t", at)
            step = value if kind == "index" else self.as_index(value, at)
        if step is None:
            if role in self.names.params:
                node = self.param(role)
                return (Transposed(node) if transposed else node, power)
            if role in self.all_roles():
                self.fail(f"{naming.text_role(role)} needs a step: {base}_t, {base}_{{t-1}}, {base}^{{(t)}} or {base}_1",
                          at)
            self.unknown(role, at)
        node = self.vector(role, step, at)
        return (Transposed(node) if transposed else node, power)

    def script(self, letters: bool = False):
        """A sub- or superscript: ('index', expr) for t, t-1, 2, T+1; ('letters', 'hr') for a name's tag."""
        if self.peek() == "{":
            start = self.i
            self.take()
            if self.peek() is not None and re.fullmatch(r"[A-Za-z]", self.peek()) and \
                    self.peek(1) is not None and re.fullmatch(r"[A-Za-z]", self.peek(1)):
                word = ""
                while self.peek() is not None and re.fullmatch(r"[A-Za-z]", self.peek()):
                    word += self.take()
                self.expect("}")
                return "letters", word
            if letters:
                word = self.take()
                self.expect("}")
                return "letters", word
            self.i = start + 1
            value = self.index()
            self.expect("}")
            return "index", value
        tok = self.take()
        if letters:
            return "letters", tok
        if tok.isdigit():
            if len(tok) > 1:
                self.fail(f"write _{{{tok}}} for a multi-digit step", self.i - 1)
            return "index", sp.Integer(tok)
        if tok in INDEX_NAMES:
            return "index", INDEX_NAMES[tok]
        return "letters", tok

    def as_index(self, letters: str, at: int) -> sp.Expr:
        if letters in INDEX_NAMES:
            return INDEX_NAMES[letters]
        self.fail(f"expected a step (t, t-1, T, 1 …) as the subscript, found {quoted(letters)}", at)

    def index(self) -> sp.Expr:
        """A step: 1, t, t-1, t+1, T, T+1, s+1 (sums and differences of an index variable and numbers)."""
        value = self.index_term()
        while self.peek() in ("+", "-"):
            sign = 1 if self.take() == "+" else -1
            value = value + sign * self.index_term()
        return value

    def index_term(self) -> sp.Expr:
        tok = self.take()
        if tok.isdigit():
            if len(tok) > 3:
                self.fail(f"step {tok} is too large", self.i - 1)
            return sp.Integer(tok)
        if tok in INDEX_NAMES:
            return INDEX_NAMES[tok]
        self.fail(f"expected a step (t, t-1, T, 1 …), found {quoted(tok)}", self.i - 1)

    def vector(self, role: str, step, at: int) -> Node:
        if role == self.names.loss_gradient and role not in self.names.vectors:
            return self.names.g(step)
        stem = role[:-len("bar")] if role.endswith("bar") else None
        if stem in self.names.adjoint_of and role not in self.names.quantities:
            role = self.names.adjoint_of[stem]          # h̄_t is γ_t = ∂L/∂h_t where the δ form names no h̄
        if role not in self.names.vectors and role not in self.names.quantities:
            self.unknown(role, at)
        if step.is_Integer and int(step) < 0:
            self.fail("a negative step", at)
        v = Vec(role, step)
        return OneHot(v) if role == naming.TARGET and self.names.class_target else v

    def param(self, name: str) -> Node:
        return Gain(name) if self.names.params[name] == () else Mat(name)

    def unknown(self, name: str, at: int):
        known = sorted(self.names.params) + [f"{naming.text_role(r)}_t" for r in
                                             sorted(self.all_roles())]
        self.fail(f"unknown name {quoted(name)} (known: {', '.join(known)})", at)


def _matprod(a: Node, b: Node) -> Node:
    fa = a.args if isinstance(a, MatProd) else (a,)
    return MatProd(*fa, b)


def _shape_words(shape) -> str:
    return "a scalar" if shape == () else "×".join(map(str, shape))


_SYMPY_TOKEN = re.compile(r"\*\*|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[-+*/@()\[\],=^.'{}]|\S")
_SYMPY_UNICODE = {"−": "-", "·": "@", "×": "@", "⋅": "@", "⊙": r"\odot", "∘": r"\odot", "ᵀ": None, "²": None,
                  "δ": "delta", "γ": "gamma", "Σ": "Sum", "∂": r"\partial"}


def sympy_tokens(text: str) -> tuple[Token, ...]:
    """SymPy-style tokens: whole identifiers, `**`, `.T`; ᵀ and ² become .T and **2."""
    out = []
    for m in _SYMPY_TOKEN.finditer(text):
        tok = m.group()
        if tok == "ᵀ":
            out += [Token(".", m.start()), Token("T", m.start())]
            continue
        if tok == "²":
            out += [Token("**", m.start()), Token("2", m.start())]
            continue
        out.append(Token(_SYMPY_UNICODE.get(tok, tok) or tok, m.start()))
    return tuple(out)


def latex_tokens(text: str) -> tuple[Token, ...]:
    """LaTeX tokens (texinput's), with ⊙, Σ, ᵀ, ² and Greek read as their commands."""
    out = []
    for tok in tokenize(text):
        if tok.text == "ᵀ":
            out += [Token("^", tok.pos), Token(r"\top", tok.pos)]
        elif tok.text == "²":
            out += [Token("^", tok.pos), Token("2", tok.pos)]
        else:
            out.append(Token(UNICODE.get(tok.text, tok.text), tok.pos))
    return tuple(out)


def parse_line(text: str, names: Names, what: str, latex: bool):
    """(wrt, defines, rhs) of one equation."""
    check_size(text, what)
    tokens = latex_tokens(text) if latex else sympy_tokens(text)
    if not tokens:
        raise SymrnnError(f"{what}: empty input")
    try:
        return _Parser(text, tokens, names, what, latex).line()
    except RecursionError:
        raise SymrnnError(f"{what}: nested too deeply to read") from None




def parse_answer(text: str, names: Names, what: str, latex: bool) -> tuple[Line, ...]:
    """The lines of an answer (split at newlines, `\\\\` and `;`; `%`/`#` comment lines and
    \\begin{aligned}-style wrappers dropped), each parsed."""
    check_size(text, what)
    out = []
    rows = [[p for p in re.split(r"\\\\|(?<!\\);", row) if p.strip()] for row in text.split("\n")]
    several = any(len(r) > 1 for r in rows)
    pieces = list(enumerate((p for r in rows for p in r), 1)) if several else \
        [(n, r[0]) for n, r in enumerate(rows, 1) if r]
    unit = "equation" if several else "line"
    for n, piece in pieces:
        body = piece.strip()
        if not body or body.startswith(("%", "#")) or re.fullmatch(r"\\(begin|end)\{[a-z*]+\}", body):
            continue
        body = re.sub(r"^\\begin\{[a-z*]+\}|\\end\{[a-z*]+\}$", "", body).strip().rstrip(",.")
        if not body:
            continue
        where_ = f"{what} ({unit} {n})" if len(pieces) > 1 else what
        wrt, defines, rhs = parse_line(body, names, where_, latex)
        out.append(Line(n, body, rhs, wrt, defines, unit))
    if not out:
        raise SymrnnError(f"{what}: empty input")
    return tuple(out)


__all__ = ["Names", "Line", "parse_line", "parse_answer", "sympy_tokens", "latex_tokens"]
