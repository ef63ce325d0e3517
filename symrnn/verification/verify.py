"""Check a hand derivation of ∂L/∂θ and localise its error to chain-rule terms.

Equivalence: the user's expression u and the true gradient g are compared at deterministic
random points in 50-digit arithmetic, where a_t, h_t, Y_t hold their forward values (so
tanh(a1) and h1 agree), and exactly where that is cheap: expand(ū − g) = 0, ū being u with
act(a_t) written h_t and act'(a_t) in the lecture's form (`canonical`).

Localisation: g = Σ_k term_k (the chain-rule paths). The user's addends, as written, are
matched to terms by equal expanded forms; what is left is matched monomial by monomial; a
user addend that equals a term after one named transformation (a shifted time index, a lost
factor, 1 − h for 1 − h², a flipped sign) is reported with that transformation's message.
"""
from __future__ import annotations

import io
import random
import tokenize
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import sympy as sp

from .. import naming
from ..printers import lecture as printing
from ..certification.scalar import DIGITS, EXACT_MAX_STEPS, TOLERANCE, is_zero_exactly, max_error, points
from ..api import derive
from ..derivation.scalar import ScalarDerivation as Derivation, Term
from ..errors import CheckFailed, SymrnnError
from ..model.parsing import parse_expr
from ..model.spec import ModelSpec
from .texinput import parse_latex
from ..derivation.unroll import Unrolled

MONOMIAL_MAX_STEPS = 6   # splitting factored addends expands every term: 2^T monomials per path
ROLES = (naming.STATE, naming.INPUT, naming.PREACT, naming.OUTPUT, naming.TARGET)


# -- names and reading ---------------------------------------------------------------------

def user_names(d: Derivation) -> dict[str, sp.Symbol]:
    """The names a hand derivation may use at this T: parameters, h0…hT, x, a, Y and z.

    z_t of a step without a loss (many-to-one) is allowed too, so that a term of L_t can be
    reported as extra instead of refused.
    """
    u = d.unrolled
    symbols = [naming.param(p) for p in u.spec.params] + [u.h0]
    for s in u.equations:
        symbols += [s.x, s.a, s.h, s.Y, s.z]
    return {str(s): s for s in symbols}


@lru_cache(maxsize=64)
def check_points(u: Unrolled) -> tuple[dict, ...]:
    """certify.points, with a value for z_t of every step without a loss (many-to-one)."""
    rng = random.Random(f"{u.spec.name}/{u.steps}/targets")
    binary = u.spec.loss in ("ce", "bce")
    extra = [s.z for s in u.equations if s.t not in u.loss_steps]
    return tuple({**pt, **{z: sp.Integer(rng.randint(0, 1)) if binary else sp.Float(rng.uniform(-1.2, 1.2), DIGITS)
                           for z in extra}} for pt in points(u, with_patterns=False))


def _sympy_lhs(text: str) -> tuple[str | None, str]:
    """Split an optional left-hand side `dL/dθ =` off SymPy-syntax text, at the lexer level:
    (θ or None, the right-hand side's text)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text.strip()).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as e:
        raise SymrnnError(f"--expr: cannot parse {text!r}: {e.args[0]}") from None
    equals = [k for k, tok in enumerate(tokens) if tok.type == tokenize.OP and tok.string == "="]
    if not equals:
        return None, text
    if len(equals) > 1:
        raise SymrnnError(f"--expr: more than one '=' in {text!r}")
    left = [tok.string for tok in tokens[:equals[0]]]
    if len(left) != 3 or left[0] != "dL" or left[1] != "/" or not left[2].startswith("d"):
        raise SymrnnError(f"--expr: the left-hand side must read dL/dθ (e.g. dL/dW), found {' '.join(left)!r}")
    line, col = tokens[equals[0]].end
    rest = text.strip().splitlines()
    return left[2][1:], "\n".join([rest[line - 1][col:]] + rest[line:])


def looks_like_latex(text: str) -> bool:
    """A file holds LaTeX when it has a backslash or a `_` subscript; otherwise SymPy syntax."""
    return "\\" in text or "_" in text


def read(d: Derivation, param: str, text: str | None = None, latex: str | None = None) -> sp.Expr:
    """The user's ∂L/∂param as a SymPy expression in the lecture's symbols (parsed, never evaluated)."""
    if (text is None) == (latex is None):
        raise SymrnnError("give the derivation once: as SymPy text (--expr) or as LaTeX (--latex)")
    names = user_names(d)
    if latex is not None:
        wrt, expr = parse_latex(latex, names)
    else:
        wrt, rhs = _sympy_lhs(text)
        expr = parse_expr(rhs, names, "--expr")
    if wrt is not None and wrt != param:
        raise SymrnnError(f"the left-hand side is ∂L/∂{wrt} but --param is {param}")
    return sp.sympify(expr)


def read_file(d: Derivation, param: str, path: str) -> sp.Expr:
    """A file's derivation: LaTeX if `looks_like_latex`, else SymPy syntax."""
    p = Path(path)
    if not p.is_file():
        raise SymrnnError(f"--file {path}: no such file (or not a file)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SymrnnError(f"--file {path}: cannot read it: {e}") from None
    text = "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith(("%", "#")))
    return read(d, param, latex=text) if looks_like_latex(text) else read(d, param, text=text)


# -- canonical forms -----------------------------------------------------------------------

def canonical(d: Derivation, expr: sp.Expr) -> sp.Expr:
    """expr with act(a_t) written h_t and every form of act'(a_t) written as the lecture's last
    one (sech²(a1) -> 1 − h1²), expanded: equal chain-rule terms have equal canonical forms."""
    spec, env = d.spec, {}
    for s in d.unrolled.equations:
        forms = spec.activation.derivative(s.a, s.h)
        env.update({form: forms[-1] for form in forms[:-1]})
    activated = {spec.activation.apply(s.a): s.h for s in d.unrolled.equations}
    return sp.expand(expr.xreplace(env).xreplace(activated))


def monomials(expr: sp.Expr) -> Counter:
    """An expanded expression as {monomial: coefficient}."""
    return Counter({k: v for k, v in sp.expand(expr).as_coefficients_dict().items() if v != 0})


# -- the trap registry: named transformations of a true term -------------------------------

@dataclass(frozen=True)
class Variant:
    """A true term changed by one transformation, and what that change means."""

    value: sp.Expr
    message: str


Trap = Callable[[Derivation, Term], Iterator[Variant]]
TRAPS: dict[str, Trap] = {}


def trap(name: str):
    def register(f: Trap) -> Trap:
        TRAPS[name] = f
        return f
    return register


def _with_factor(term: Term, k: int, value: sp.Expr) -> sp.Expr:
    return sp.Mul(*(value if j == k else f.value for j, f in enumerate(term.factors)))


def _name(factor) -> str:
    return printing.text(factor.symbol)


def _shifted(sym: sp.Symbol, by: int, names) -> sp.Symbol | None:
    name = str(sym)
    role, index = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")):]
    if role not in ROLES or not index:
        return None
    other = f"{role}{int(index) + by}"
    return names.get(other)


@trap("time index")
def _time_index(d, term):
    """One time-indexed symbol of one factor moved by ±1 step."""
    names = user_names(d)
    for k, f in enumerate(term.factors):
        for sym in sorted(f.value.free_symbols, key=str):
            for by in (-1, 1):
                other = _shifted(sym, by, names)
                if other is not None:
                    yield Variant(_with_factor(term, k, f.value.xreplace({sym: other})),
                                  f"wrong time index in {_name(f)}: {other} where the chain rule has {sym}")


@trap("lost factor")
def _lost_factor(d, term):
    """A whole Leibniz factor, or one multiplicand of one, left out."""
    hop = {naming.at(naming.STATE, t - 1) for t in range(1, d.steps + 1)}
    for k, f in enumerate(term.factors):
        if not f.immediate and f.den in hop and f.num != f.den:
            what = f"the recurrent factor {_name(f)} is missing"
        else:
            what = f"the factor {_name(f)} = {printing.text(f.shown)} is missing"
        yield Variant(_with_factor(term, k, sp.Integer(1)), what)
        parts = sp.Mul.make_args(f.value)
        for s in d.unrolled.equations:  # the whole act'(a_s), also when it is a product like h(1 − h)
            deriv = Counter(sp.Mul.make_args(d.spec.activation.derivative(s.a, s.h)[-1]))
            if len(deriv) > 1 and not deriv - Counter(parts):
                rest = sp.Mul(*(Counter(parts) - deriv).elements())
                yield Variant(_with_factor(term, k, rest), f"the activation's derivative "
                              f"{printing.text(d.spec.activation.derivative(s.a, s.h)[-1])} is missing from {_name(f)}")
        if len(parts) < 2:
            continue
        derivative = set(d.spec.activation.derivative(f.num, f.num)) | {
            d.spec.activation.derivative(s.a, s.h)[-1] for s in d.unrolled.equations}
        for j, part in enumerate(parts):
            rest = sp.Mul(*(p for i, p in enumerate(parts) if i != j))
            if part in derivative or any(sp.expand(part - x) == 0 for x in derivative):
                why = f"the activation's derivative {printing.text(part)} is missing from {_name(f)}"
            elif not f.immediate and f.den in hop:
                why = f"the recurrent factor {_name(f)} lost its {printing.text(part)}"
            else:
                why = f"{printing.text(part)} is missing from {_name(f)}"
            yield Variant(_with_factor(term, k, rest), why)


@trap("tanh' as 1 - h")
def _one_minus_h(d, term):
    """tanh'(a_t) written 1 − h_t instead of 1 − h_t²."""
    for k, f in enumerate(term.factors):
        for s in d.unrolled.equations:
            if f.value.has(1 - s.h ** 2):
                yield Variant(_with_factor(term, k, f.value.xreplace({1 - s.h ** 2: 1 - s.h})),
                              f"tanh' written as 1 - {s.h} instead of 1 - {s.h}² in {_name(f)}")


@trap("factor 2")
def _factor_two(d, term):
    """The term twice (counted twice, or d/dY ½(Y − z)² taken as 2(Y − z)), or halved."""
    yield Variant(2 * term.value, "a factor 2 too many: the term is counted twice (or ½(Y − z)² differentiated "
                                  "to 2(Y − z))")
    yield Variant(term.value / 2, "a stray factor ½: the ½ of the squared error was kept after differentiating")


@trap("sign")
def _sign(d, term):
    """The whole term with the opposite sign."""
    yield Variant(-term.value, "the sign is flipped")


# -- the verdict ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Wrong:
    """A user addend that is a true term changed by one trap."""

    yours: sp.Expr
    term: Term
    diagnosis: str


@dataclass(frozen=True)
class Verdict:
    """Whether the hand derivation equals ∂L/∂param, and if not, where it goes wrong."""

    ok: bool
    report: str
    param: str
    yours: sp.Expr
    true: sp.Expr
    exact: bool                                  # equality (or inequality) shown symbolically
    missing: tuple[Term, ...] = ()
    extra: tuple[sp.Expr, ...] = ()
    wrong: tuple[Wrong, ...] = ()
    counterexample: tuple[tuple[sp.Symbol, sp.Float], ...] = ()
    difference: sp.Float | None = None
    notes: tuple[str, ...] = ()
    matched: tuple[Term, ...] = ()               # true terms the user has right

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class Localisation:
    """The true terms the user has (matched), lacks (missing), the user's unexplained addends (extra),
    and the addends that are a true term changed by one trap (wrong)."""

    matched: tuple[Term, ...]
    missing: tuple[Term, ...]
    extra: tuple[sp.Expr, ...]
    wrong: tuple[Wrong, ...]


def _at(expr: sp.Expr, pt: dict) -> sp.Expr:
    """expr's value at one point (30 digits): a cheap filter before an exact comparison."""
    return sp.sympify(expr).xreplace(pt).evalf(30)


def _same(d: Derivation, a: sp.Expr, b: sp.Expr) -> bool:
    """a = b: equal at every point (the first one filters), then exactly by canonical expansion
    where that is cheap (T ≤ EXACT_MAX_STEPS, as in certify)."""
    for pt in check_points(d.unrolled):
        va, vb = _at(a, pt), _at(b, pt)
        if not (va.is_number and vb.is_number) or abs(va - vb) > sp.Float(10) ** -20 * max(1, abs(vb)):
            return False
    return d.steps > EXACT_MAX_STEPS or sp.expand(canonical(d, a) - canonical(d, b)) == 0


def localise(d: Derivation, terms: tuple[Term, ...], yours: sp.Expr) -> Localisation:
    """Match the user's addends (as written, then monomial by monomial) to the true terms."""
    todo = list(terms)
    leftover, matched = [], []
    for addend in sp.Add.make_args(yours):
        hit = next((t for t in todo if _same(d, t.value, addend)), None)
        if hit is not None:
            todo.remove(hit)
            matched.append(hit)
        else:
            leftover.append(addend)
    # A factored addend may hold several terms: take them out monomial by monomial.
    pool = monomials(canonical(d, sp.Add(*leftover))) if leftover and d.steps <= MONOMIAL_MAX_STEPS else Counter()
    by_monomial = []
    for t in list(todo) if leftover and d.steps <= MONOMIAL_MAX_STEPS else ():
        need = monomials(canonical(d, t.value))
        if need and all(pool.get(k) == v for k, v in need.items()):
            pool.subtract(need)
            todo.remove(t)
            by_monomial.append(t)
    residual = sp.factor(sp.Add(*(k * v for k, v in pool.items() if v != 0)))  # factored again for the report
    remaining = [residual] if by_monomial else leftover
    remaining = [a for a in remaining if canonical(d, a) != 0]
    matched += by_monomial
    wrong, extra = [], []
    for addend in remaining:
        found = _diagnose(d, addend, todo)
        if found is not None:
            todo.remove(found.term)
            wrong.append(found)
        else:
            extra.append(addend)
    return Localisation(tuple(matched), tuple(todo), tuple(extra), tuple(wrong))


def _diagnose(d: Derivation, addend: sp.Expr, candidates) -> Wrong | None:
    """The first (true term, trap) whose variant equals the addend."""
    for t in candidates:
        for rule in TRAPS.values():
            for v in rule(d, t):
                if _same(d, v.value, addend):
                    return Wrong(addend, t, v.message)
    return None


def _path(d: Derivation, term: Term) -> str:
    """What a chain-rule path is, in words."""
    hops = [f for f in term.factors if not f.immediate and f.den != f.num and str(f.den).startswith(naming.STATE)
            and f.den in {s.h_prev for s in d.unrolled.equations} and str(f.num).startswith(naming.STATE)]
    if hops:
        via = hops[-1].den
        return f"the path from L{term.loss_step} back through {via} (the recurrent path)"
    return f"the direct path from L{term.loss_step}"


def _notes(d: Derivation, loc: Localisation) -> tuple[str, ...]:
    """Whole-derivation diagnoses: a missing Σ_t."""
    present = {t.loss_step for t in loc.matched} | {w.term.loss_step for w in loc.wrong}
    absent = {t.loss_step for t in loc.missing} - present
    if present and absent and d.spec.output == "every":
        have = ", ".join(f"L{t}" for t in sorted(present))
        lack = ", ".join(f"L{t}" for t in sorted(absent))
        return (f"missing Σ_t: only the terms of {have} are present; L = Σ_t L_t, so the terms of {lack} are "
                f"missing too",)
    return ()


def _extra_reason(d: Derivation, v: Verdict, extra: sp.Expr) -> str:
    """Why an extra addend is extra: a matched term again, a path of a step without a loss, or no path."""
    twice = next((t for t in v.matched if _same(d, t.value, extra)), None)
    if twice is not None:
        return f"{printing.text(twice.leibniz)} counted twice"
    if d.spec.output == "last":
        every = derive(replace(d.spec, output="every"), steps=d.steps, params=(v.param,), certify=False)
        for t in every.expansion(v.param):
            if t.loss_step != d.steps and _same(d, t.value, extra):
                return (f"this is {printing.text(t.leibniz)}, but the model is many-to-one (--output last): "
                        f"only L{d.steps} is a loss, L{t.loss_step} is not")
    return f"no chain-rule path of ∂L/∂{v.param} gives this term"


def _term_line(term: Term) -> str:
    return f"{printing.text(term.leibniz)} = {printing.text(term.shown)}"


def _point_line(pt: dict, d: Derivation) -> str:
    """The counterexample's inputs, then the forward values h_t, Y_t a hand check needs."""
    u = d.unrolled
    given = [naming.param(p) for p in d.spec.params] + [u.h0] + [s.x for s in u.equations] + \
        [s.z for s in u.equations if s.z in pt]
    forward = [q for s in u.equations for q in (s.h, s.Y)]

    def show(symbols):
        return ", ".join(f"{q} = {sp.Float(pt[q], 6)}" for q in symbols)
    return f"{show(given)}\n  (so {show(forward)})"


def _report(v: Verdict, d: Derivation, pt: dict | None, mine, truth) -> str:
    g = d._get(v.param)
    if v.ok:
        how = "exact identity (expand) and " if v.exact else ""
        return (f"∂L/∂{v.param}: correct ({how}{len(check_points(d.unrolled))} random points at {DIGITS} digits)")
    lines = [f"∂L/∂{v.param}: wrong"]
    if pt is not None:
        lines.append(f"  at {_point_line(pt, d)}:")
        lines.append(f"  yours = {sp.Float(mine, 12)}, true = {sp.Float(truth, 12)}, "
                     f"difference = {sp.Float(mine - truth, 12)}")
    for t in v.missing:
        lines.append(f"  missing: {_term_line(t)} — {_path(d, t)}")
    for e in v.extra:
        lines.append(f"  extra: {printing.text(e)} — {_extra_reason(d, v, e)}")
    for w in v.wrong:
        lines.append(f"  wrong: yours {printing.text(w.yours)} for {_term_line(w.term)} — {w.diagnosis}")
    lines.extend(f"  {note}" for note in v.notes)
    if not (v.missing or v.extra or v.wrong):
        lines.append("  every chain-rule term is present, yet the sum differs (the terms could not be told apart)")
    lines.append(f"  the chain rule: ∂L/∂{v.param} = {printing.text(g.leibniz)}")
    lines.append(f"      = {printing.text(g.shown)}")
    return "\n".join(lines)


MAX_EXPAND_POWER = 8   # beyond this a power of a sum is left to the numbers (expand would explode)


def expandable(expr: sp.Expr) -> bool:
    """Whether expanding expr is cheap: no power of a sum above MAX_EXPAND_POWER."""
    return not any(p.base.is_Add and p.exp.is_Number and abs(p.exp) > MAX_EXPAND_POWER
                   for p in expr.atoms(sp.Pow))


def check(d: Derivation, param: str, yours: sp.Expr) -> Verdict:
    """The verdict on `yours` as ∂L/∂param of derivation d (scalar)."""
    g = d._get(param)
    truth = g.expr
    pts = check_points(d.unrolled)
    err = max_error(yours, truth, pts)
    cheap = expandable(yours)
    exact = cheap and d.steps <= EXACT_MAX_STEPS and is_zero_exactly(canonical(d, yours) - truth)
    if exact or err <= TOLERANCE:
        v = Verdict(True, "", param, yours, truth, exact)
        return _with_report(v, d, None, None, None)
    loc = localise(d, g.terms, yours) if cheap else Localisation((), (), (yours,), ())
    pt, mine, true_value = _counterexample(yours, truth, pts)
    v = Verdict(False, "", param, yours, truth, False, loc.missing, loc.extra, loc.wrong,
                tuple((s, pt[s]) for s in sorted(d.unrolled.inputs, key=str)), mine - true_value, _notes(d, loc),
                loc.matched)
    return _with_report(v, d, pt, mine, true_value)


def _with_report(v: Verdict, d, pt, mine, truth) -> Verdict:
    return replace(v, report=_report(v, d, pt, mine, truth))


def _counterexample(yours, truth, pts):
    """The first point where the values differ, with both values (50 digits)."""
    for pt in pts:
        mine, true_value = (sp.sympify(e).xreplace(pt).evalf(DIGITS) for e in (yours, truth))
        if abs(mine - true_value) > TOLERANCE * max(1, abs(true_value)):
            return pt, mine, true_value
    return pts[0], yours.xreplace(pts[0]).evalf(DIGITS), truth.xreplace(pts[0]).evalf(DIGITS)


def verify(spec: ModelSpec, param: str, text: str | None = None, *, latex: str | None = None,
           file: str | None = None, steps: int = 2, dims="scalar") -> Verdict:
    """Check a hand derivation of ∂L/∂param (SymPy syntax `text`, LaTeX `latex`, or a `file`) against
    the derived gradient, itself certified first."""
    if not (isinstance(dims, str) and dims == "scalar"):
        raise SymrnnError(f"--dims {dims}: verify checks scalar derivations only; matrix form is not yet supported")
    d = derive(spec, steps=steps, params=(param,))
    if not d.certified:
        raise CheckFailed(f"the derived ∂L/∂{param} failed certification (a bug in symrnn: please report it)")
    if file is not None:
        if text is not None or latex is not None:
            raise SymrnnError("give the derivation once: --expr, --latex or --file")
        yours = read_file(d, param, file)
    else:
        yours = read(d, param, text, latex)
    return check(d, param, yours)


__all__ = ["verify", "Verdict", "Wrong", "TRAPS", "trap", "check", "localise", "canonical"]
