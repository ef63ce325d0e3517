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

import sympy as sp

from .. import naming
from ..ir.scalar import Chain
from . import canonical
from .decide import points
from .model import Model, Path
from .numeric import Program, Undefined
from .printing import text
from .traps import Context, Variant, variants

GROUP_MONOMIALS = 400        # a leftover larger than this is reported as one extra, not split
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


def _numbers(m: Model, expr: sp.Expr) -> tuple | None:
    """expr at the first few decision points, for comparisons canonical forms cannot make."""
    steps = canonical.pattern_steps(m, expr)
    try:
        prog = Program(expr)
        return tuple(prog(pt) for _, pt in points(m, steps).take(4))
    except Undefined:
        return None


def same(m: Model, a: sp.Expr, b: sp.Expr) -> bool:
    """a = b: by canonical forms when both have one, else by the numbers."""
    exact = canonical.equal(m, a, b)
    if exact is not None:
        return exact
    va, vb = _numbers(m, a), _numbers(m, b)
    return va is not None and vb is not None and all(abs(x - y) <= _EQUAL * max(1, abs(y)) for x, y in zip(va, vb))


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
    from .printing import text
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

    def slip(term: sp.Expr):
        for p in todo:
            for v in variants(ctx, p):
                if same(m, v.value, term):
                    return p, v
        return None

    # 1. addends as written
    leftover = []
    for addend in sp.Add.make_args(yours):
        hit = next((p for p in todo if same(m, p.value, addend)), None)
        if hit is not None:
            todo.remove(hit)
            matched.append(hit)
            continue
        found = slip(addend)
        if found is not None:
            p, v = found
            todo.remove(p)
            wrong.append(Wrong(addend, p, v.message, v.trap, v.shown))
        else:
            leftover.append(addend)
    rest = sp.Add(*leftover)
    extra: list[sp.Expr] = []
    pool = _monomials(m, rest) if leftover else Counter()
    if pool is None or any(_monomials(m, p.value) is None for p in todo):
        # too large to expand: what is left stays as written
        return _result(paths, matched, todo, leftover, wrong)

    # 2. path monomials: the true paths whose monomials are all there
    for p in list(todo):
        need = _monomials(m, p.value)
        if _inside(need, pool):
            pool.subtract(need)
            todo.remove(p)
            matched.append(p)
    left = [k * c for k, c in pool.items() if c != 0]
    if len(left) > GROUP_MONOMIALS:
        return _result(paths, matched, todo, [sp.Add(*left)], wrong)

    # 3. each monomial left to the remaining path it is nearest to; a path's group is that path written wrongly
    groups: dict[int, list] = {}
    unassigned = []
    for mono in left:
        near = [(min(_distance(mono, q) for q in _monomials(m, p.value)), i) for i, p in enumerate(todo)
                if _symbols_of_step(p) & mono.free_symbols]
        if near:
            groups.setdefault(min(near)[1], []).append(mono)
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
            v = next((v for v in variants(ctx, p) if v.trap not in ("½ cancellation", "factor 2", "sign")
                      and same(m, v.value, w.term.value)), None)
            if v is not None:
                wrong.remove(w)
                matched.append(w.term)
                missing.remove(p)
                wrong.append(Wrong(v.value, p, v.message, v.trap, v.shown))
                break


def _explain(m: Model, ctx: Context, p: Path, group: sp.Expr) -> tuple[Wrong, list]:
    """How a group of monomials is path p written wrongly: (the diagnosis, monomials it leaves unexplained).

    A registered slip equal to the group names it; else one Leibniz factor that differs; else the
    largest slip inside the group, the rest extra; else the factors to compare."""
    have = _monomials(m, group)
    fits = []
    for v in variants(ctx, p):
        need = _monomials(m, v.value)
        if need is not None and need == have:
            return Wrong(group, p, v.message, v.trap, v.shown), []
        if need is not None and _inside(need, have):
            fits.append((len(need), v, need))
    diff = _factor_diff(m, p, group)
    if diff is not None:
        return Wrong(group, p, diff[0], "", diff[1]), []
    if fits:
        _, v, need = max(fits, key=lambda f: f[0])
        have.subtract(need)
        return Wrong(v.value, p, v.message, v.trap, v.shown), [k * c for k, c in have.items() if c != 0]
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


def _result(paths, matched, missing, extra, wrong) -> Localisation:
    order = {id(p): i for i, p in enumerate(paths)}
    return Localisation(tuple(sorted(matched, key=lambda p: order[id(p)])),
                        tuple(sorted(missing, key=lambda p: order[id(p)])), tuple(extra),
                        tuple(sorted(wrong, key=lambda w: order[id(w.term)])))


__all__ = ["localise", "Localisation", "Wrong", "same", "lecture_factor"]
