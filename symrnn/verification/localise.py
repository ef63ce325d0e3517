"""Name the wrong chain-rule term: match an answer to the paths of ∂L/∂θ, also inside factored groups.

Three passes, each on what the previous left:

1. the answer's addends as written: an addend equal to a true path is matched; one equal to a
   path changed by a registered slip (`traps`) is that slip;
2. path monomials: the rest is put in canonical form and expanded (`canonical`), and each true
   path, then each slip of a remaining path, is taken out when all its monomials are there — so
   a slip inside a factored group such as (Y2 − z2) V (1 − h2²)(W (1 − h1²) h0 + h1) is named
   where it is;
3. grouping: each monomial still left goes to the remaining path it is nearest to (same loss
   step; fewest exponents apart); a group is that path written wrongly, and the report says
   which Leibniz factor differs when one does; monomials near no remaining path are extra terms.
A path no monomial went to is missing.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import mpmath
import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.scalar import Chain
from . import canonical
from .decide import points
from .model import Model, Path
from .numeric import DIGITS, Program, Undefined
from .printing import text
from .traps import Context, Variant, sign_detail, variants

DISTANCE_WORK = 200_000      # monomial comparisons spent on grouping at most
MONOMIAL_LIMIT = 6000        # path monomials compared at most (T ≤ 6 or so); beyond, addends as written only
_EQUAL = 10 ** -25


@dataclass(frozen=True)
class Wrong:
    """An answer's term that is a true path written wrongly."""

    yours: sp.Expr
    term: Path
    diagnosis: str
    trap: str = ""                   # the registry name of the slip ("" when no registered slip explains it)
    shown: sp.Expr | None = None     # yours in the path's written order, when known


@dataclass(frozen=True)
class Localisation:
    """The true paths the answer has (matched), lacks (missing); its terms no path explains (extra);
    and its terms that are a path written wrongly (wrong)."""

    matched: tuple[Path, ...]
    missing: tuple[Path, ...]
    extra: tuple[sp.Expr, ...]
    wrong: tuple[Wrong, ...]
    unsplit: tuple[sp.Expr, ...] = ()     # terms too large to expand into paths (then `missing` is "not found")


@lru_cache(maxsize=65536)
def _numbers(m: Model, expr: sp.Expr) -> tuple | None:
    """expr at the model's random points (random sign patterns too), 50 digits; None where it has no value."""
    try:
        prog = Program(expr)
        return tuple(prog(pt) for _, pt in points(m, frozenset()).take())
    except (Undefined, SymrnnError):
        return None


def _close(a: tuple | None, b: tuple | None) -> bool:
    return a is not None and b is not None and all(abs(x - y) <= _EQUAL * max(1, abs(y)) for x, y in zip(a, b))


def _times(*tuples):
    """The elementwise product of number tuples, in 50-digit arithmetic (None if any is None)."""
    out = None
    with mpmath.workdps(DIGITS):
        for t in tuples:
            if t is None:
                return None
            out = t if out is None else tuple(x * y for x, y in zip(out, t))
    return out


@lru_cache(maxsize=8192)
def _path_numbers(m: Model, p: Path) -> tuple | None:
    """A path's numbers as the product of its parts' (each part compiled once)."""
    return _times(*(_numbers(m, part) for f in p.factors for part in f.parts))


def _variant_numbers(m: Model, p: Path, v: Variant) -> tuple | None:
    """A slip's numbers from its edits of the path (no expression of its own is compiled); kept on the slip."""
    if "numbers" not in v.__dict__:
        v.__dict__["numbers"] = _edited_numbers(m, p, v)
    return v.__dict__["numbers"]


def _edited_numbers(m: Model, p: Path, v: Variant) -> tuple | None:
    edits = {}
    for k, j, new in v.edits:
        edits.setdefault(k, {})[j] = new
    factors = []
    for k, f in enumerate(p.factors):
        e = edits.get(k, {})
        parts = [e[None]] if None in e else [e.get(j, part) for j, part in enumerate(f.parts)]
        factors += [_numbers(m, part) for part in parts]
    return _times(*factors, _numbers(m, v.scale))


def _confirm(m: Model, a: sp.Expr, b: sp.Expr) -> bool:
    """Equal numbers confirmed: by canonical forms for piecewise expressions (their random points may all lie
    in one sign pattern); smooth ones are equal when their numbers are (probability 1)."""
    if not (canonical.pattern_steps(m, a) | canonical.pattern_steps(m, b)):
        return True
    return canonical.equal(m, a, b) is not False


def same(m: Model, a: sp.Expr, b: sp.Expr) -> bool:
    """a = b: the numbers first (cheap, and decisive when they differ), then `_confirm`."""
    va, vb = _numbers(m, a), _numbers(m, b)
    if va is None or vb is None:
        return canonical.equal(m, a, b) is True
    return _close(va, vb) and _confirm(m, a, b)


def _matching_path(m: Model, todo, term: sp.Expr) -> Path | None:
    n = _numbers(m, term)
    return next((p for p in todo if _close(_path_numbers(m, p), n) and _confirm(m, p.value, term)), None)


def _matching_slip(m: Model, ctx: Context, todo, term: sp.Expr) -> tuple[Path, Variant] | None:
    n = _numbers(m, term)
    for p in todo:
        for v in variants(ctx, p):
            if _close(_variant_numbers(m, p, v), n) and _confirm(m, v.value, term):
                return p, v
    return None


def _cheap(m: Model, *exprs) -> bool:
    """Whether expanding these into monomials stays small (localisation by monomials is then affordable)."""
    return sum(canonical.expansion_size(e) for e in exprs) <= MONOMIAL_LIMIT


def _monomials(m: Model, expr: sp.Expr) -> Counter | None:
    c = canonical.canonical(m, expr)
    return None if c is None else canonical.monomials(c)


def _inside(need: Counter, pool: Counter) -> bool:
    return bool(need) and all(pool.get(k) == v for k, v in need.items())


def lecture_factor(expr: sp.Expr) -> sp.Expr:
    """A sum of monomials factored the way the lecture writes it: (h − 1)(h + 1) as −(1 − h²)."""
    if len(sp.Add.make_args(expr)) > 60:
        return sp.factor_terms(expr)
    f = sp.factor(expr)
    coeff, factors = sp.Integer(1), Counter()
    for a in sp.Mul.make_args(f):
        base, e = a.as_base_exp()
        if base.is_Number:
            coeff *= a
            continue
        if base.is_Add and base.could_extract_minus_sign() and e.is_Integer:
            base, coeff = -base, coeff * (-1) ** e
        factors[base] += e
    for base in list(factors):
        if base.is_Add and len(base.args) == 2 and sp.Integer(-1) in base.args:
            h = base + 1
            partner = h + 1
            if h.is_Symbol and factors.get(partner):
                n = min(factors[base], factors[partner])
                factors[base] -= n
                factors[partner] -= n
                factors[1 - h ** 2] += n
                coeff *= (-1) ** n
            if h.is_Symbol and factors[base]:
                coeff *= (-1) ** factors[base]
                factors[1 - h] += factors.pop(base)
    return coeff * sp.Mul(*(b ** e for b, e in factors.items() if e))


def _symbols_of_step(path: Path) -> set:
    """The loss step's own symbols in a path (Y_t, z_t): a monomial of this path has one of them."""
    loss = next((f for f in path.factors if f.kind == "loss"), None)
    return set() if loss is None else set(loss.parts[0].free_symbols)


def _distance(a: sp.Expr, b: sp.Expr) -> int:
    """How many exponents apart two monomials are."""
    pa, pb = a.as_powers_dict(), b.as_powers_dict()
    return int(sum(abs(pa.get(k, 0) - pb.get(k, 0)) for k in set(pa) | set(pb) if not k.is_Number))


def _factor_diff(m: Model, path: Path, group: sp.Expr) -> tuple[str, sp.Expr] | None:
    """When the group is the path with one Leibniz factor replaced: (diagnosis, its written form)."""
    best = None
    for k, f in enumerate(path.factors):
        others = sp.Mul(*(g.value for i, g in enumerate(path.factors) if i != k))
        q = sp.cancel(group / others)
        num, den = sp.fraction(q)
        if den.free_symbols or q == f.value:
            continue
        if best is None or sp.count_ops(q) < sp.count_ops(best[1]):
            best = (k, q)
    if best is None:
        return None
    k, q = best
    f = path.factors[k]
    shown = min((sp.factor_terms(q), lecture_factor(q)), key=lambda e: len(text(e)))
    written = Chain(*(shown if i == k else g.shown for i, g in enumerate(path.factors)))
    return (f"{text(f.symbol)} is wrong: yours gives {text(shown)}, the chain rule has {text(f.shown)}", written)


def localise(m: Model, param: str, yours: sp.Expr) -> Localisation:
    """Match the answer's terms to the true paths of ∂L/∂param (see the module docstring)."""
    paths = list(m.gradient(param).paths)
    ctx = Context(m, param, yours)
    todo, matched, wrong = list(paths), [], []

    # 1. addends as written
    leftover = []
    for addend in sp.Add.make_args(yours):
        hit = _matching_path(m, todo, addend)
        if hit is not None:
            todo.remove(hit)
            matched.append(hit)
            continue
        found = _matching_slip(m, ctx, todo, addend)
        if found is not None:
            p, v = found
            todo.remove(p)
            wrong.append(_wrong(ctx, addend, p, v))
        else:
            leftover.append(addend)
    rest = sp.Add(*leftover)
    pool = _monomials(m, rest) if leftover and _cheap(m, rest, *(p.value for p in todo)) else None
    if leftover and (pool is None or any(_monomials(m, p.value) is None for p in todo)):
        # too large to expand: what is left stays as written, and no path is called missing on that evidence
        return _result(paths, matched, todo, [], wrong, tuple(leftover))
    pool = pool or Counter()

    # 2. path monomials: the true paths whose monomials are all there
    for p in list(todo):
        need = _monomials(m, p.value)
        if _inside(need, pool):
            pool.subtract(need)
            todo.remove(p)
            matched.append(p)
    left = [k * c for k, c in pool.items() if c != 0]

    # 3. each monomial left to the remaining path it is nearest to (the only one of its loss step, or the one
    #    fewest exponents away); a path's group is that path written wrongly
    groups: dict[int, list] = {}
    unassigned = []
    work = 0
    for mono in left:
        near = [i for i, p in enumerate(todo) if _symbols_of_step(p) & mono.free_symbols]
        if len(near) > 1:
            work += sum(len(_monomials(m, todo[i].value)) for i in near)
            if work > DISTANCE_WORK:         # too many to compare: what is left stays as written
                return _result(paths, matched, todo, [], wrong, tuple(leftover))
            near = [min((min(_distance(mono, q) for q in _monomials(m, todo[i].value)), i) for i in near)[1]]
        if near:
            groups.setdefault(near[0], []).append(mono)
        else:
            unassigned.append(mono)
    for i, p in enumerate(todo):
        if i in groups:
            found, rest = _explain(m, ctx, p, sp.Add(*groups[i]))
            wrong.append(found)
            unassigned += rest
    todo = [p for i, p in enumerate(todo) if i not in groups]
    unassigned = _absorb(m, ctx, matched, wrong, unassigned, leftover)
    _prefer_slips(m, ctx, matched, todo, wrong)
    return _result(paths, matched, todo, _extras(m, unassigned, leftover), wrong)


def _absorb(m: Model, ctx: Context, matched: list, wrong: list, unassigned: list, written: list) -> list:
    """A written addend that is a matched path p plus monomials left unexplained is, when it is p written with
    one slip (or with one Leibniz factor changed), p written wrongly, not p and an extra term. Returns the
    monomials still unexplained."""
    left = Counter()
    for mono in unassigned:
        c, k = mono.as_coeff_Mul()
        left[k] += c
    for addend in written:
        have = _monomials(m, addend)
        for p in list(matched) if have else ():
            need = _monomials(m, p.value)
            rest = Counter(have)
            rest.subtract(need)
            rest = Counter({k: c for k, c in rest.items() if c != 0})
            if not rest or not _inside(need, have) or any(left.get(k) != c for k, c in rest.items()):
                continue
            found, unexplained = _explain(m, ctx, p, addend)
            if not unexplained and (found.trap or " is wrong: yours gives " in found.diagnosis):
                matched.remove(p)
                wrong.append(found)
                left.subtract(rest)
                break
    return [k * c for k, c in left.items() if c != 0]


def _prefer_slips(m: Model, ctx: Context, matched: list, missing: list, wrong: list) -> None:
    """A path counted twice while another is missing is, more likely, the missing path written with a slip that
    made it equal to the first (with the identity, ∂h2/∂h1 without its W is the direct path): say so."""
    for w in [w for w in wrong if w.trap in ("½ cancellation", "factor 2") and "factor 2" in w.diagnosis]:
        for p in missing:
            n = _path_numbers(m, w.term)
            v = next((v for v in variants(ctx, p) if v.trap not in ("½ cancellation", "factor 2", "sign")
                      and _close(_variant_numbers(m, p, v), n) and _confirm(m, v.value, w.term.value)), None)
            if v is not None:
                wrong.remove(w)
                matched.append(w.term)
                missing.remove(p)
                wrong.append(_wrong(ctx, v.value, p, v))
                break


def _wrong(ctx: Context, yours: sp.Expr, p: Path, v: Variant) -> Wrong:
    """The answer's term `yours` as path p written with slip v (a sign slip quotes the student's z − Y)."""
    message = v.message + (sign_detail(ctx, p) if v.trap == "sign" else "")
    return Wrong(yours, p, message, v.trap, v.shown)


def _explain(m: Model, ctx: Context, p: Path, group: sp.Expr) -> tuple[Wrong, list]:
    """How a group of monomials is path p written wrongly: (the diagnosis, monomials it leaves unexplained).

    A registered slip equal to the group names it; else one Leibniz factor that differs; else the
    largest slip inside the group, the rest extra; else the factors to compare."""
    hit = _matching_slip(m, ctx, [p], group)
    if hit is not None:
        found = hit[1]
        return _wrong(ctx, group, p, found), []
    have = _monomials(m, group)
    fits = []
    for v in variants(ctx, p) if have is not None else ():
        need = _monomials(m, v.value) if _cheap(m, v.value) else None
        if need is not None and _inside(need, have):
            fits.append((len(need), v, need))
    diff = _factor_diff(m, p, group)
    if diff is not None:
        return Wrong(group, p, diff[0], "", diff[1]), []
    if fits:
        _, v, need = max(fits, key=lambda f: f[0])
        have.subtract(need)
        return _wrong(ctx, v.value, p, v), [k * c for k, c in have.items() if c != 0]
    return Wrong(lecture_factor(group), p, "not a slip symrnn knows: compare it factor by factor"), []


def _extras(m: Model, monomials: list, written: list[sp.Expr]) -> list[sp.Expr]:
    """Unexplained monomials as terms: an addend as the answer wrote it when all of it is unexplained,
    the rest grouped by the loss step it comes from, each group factored."""
    pool = Counter()
    for mono in monomials:
        c, k = mono.as_coeff_Mul()
        pool[k] += c
    out = []
    for addend in written:
        need = _monomials(m, addend)
        if need and _inside(need, pool):
            pool.subtract(need)
            out.append(addend)
    by_step: dict[str, list] = {}
    for mono in (k * c for k, c in pool.items() if c != 0):
        steps = sorted(str(q) for q in mono.free_symbols if str(q)[:1] in (naming.OUTPUT, naming.TARGET))
        by_step.setdefault(steps[0][1:] if steps else "", []).append(mono)
    return out + [lecture_factor(sp.Add(*group)) for _, group in sorted(by_step.items())]


def _result(paths, matched, missing, extra, wrong, unsplit=()) -> Localisation:
    order = {id(p): i for i, p in enumerate(paths)}
    return Localisation(tuple(sorted(matched, key=lambda p: order[id(p)])),
                        tuple(sorted(missing, key=lambda p: order[id(p)])), tuple(extra),
                        tuple(sorted(wrong, key=lambda w: order[id(w.term)])), tuple(unsplit))


__all__ = ["localise", "Localisation", "Wrong", "same", "lecture_factor"]
