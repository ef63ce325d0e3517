"""Localise a wrong scalar answer of a gated or user cell to the chain-rule paths through its equations.

The verdict is the matrix form's at sizes 1 (`matrixcheck`); when it is "wrong", the difference

    R = yours − ∂L/∂θ        (at random points, every quantity at its forward value, 50 digits)

is explained by one slip, in this order (the first that equals R at every point wins):

1. one factor ∂q/∂v written wrongly (a registered slip, `celltraps`) where it sits, i.e. on every path
   through that edge — a slip inside a factored group: Δ = Σ_{p ∋ e} (p with e's factor changed − p) —
   or on those of one loss step entering θ at one step (a group such as ∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂θ);
2. the same slip in every factor it applies to (u and 1 − u swapped at every step);
3. one factor written wrongly on one path only (a slip in one written-out term);
4. a branch left out: every path through one edge missing (the (1 − u) n branch, the path through
   c_{t−1}, all terms of L_t): Δ = −Σ_{p ∋ e} p; every path from L_t back through one quantity (the
   recurrent paths); one path missing; one path twice; a many-to-one answer that sums every step;
5. one path replaced by a path of another parameter's gradient (a term copied from another gate);
6. two slips: two factors written wrongly where they sit (their paths may overlap: computed together),
   or two explanations of 1 and 4 on disjoint paths (Δ_a + Δ_b = R, Δ_b looked up by its number).

Numbers compare the explanations (each is a product of edge values, no expression is built per
explanation); two analytic functions equal at random points are equal with probability 1. When no
single slip explains R, the paths found in the expanded answer are listed. Beyond `MAX_PATHS` paths
nothing is listed and the report says so (the single-edit slips of the matrix form still are).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import mpmath
import sympy as sp

from ..derivation.unroll import lower
from ..errors import SymrnnError
from ..model.spec import ModelSpec
from . import canonical
from .cellpaths import MAX_PATHS, TOLERANCE, CellGraph, CellPath, Edge, graph
from .celltraps import changes
from .matrixcheck import MatrixVerdict, verify_matrix
from .numeric import DIGITS, Undefined
from .printing import text

MONOMIALS = 5000         # the expanded answer's size at most, for listing the paths found as written
PAIRED_SLIPS = 120       # two slips of one factor each are tried when there are at most this many (T = 2)
SHOWN_PATHS = 4          # paths printed per diagnosis (the rest counted)
NO_SLIP = "no single slip (a transpose, ⊙/product, diag's side, a step off by one, Σ_t, the sign) explains the " \
          "difference"


@dataclass(frozen=True)
class Explanation:
    """yours − true as one slip: what it is and the paths it changes."""

    diagnosis: str
    paths: tuple[CellPath, ...]
    how: str            # "wrong" (written wrongly) or "missing" or "extra"


@dataclass(frozen=True)
class PathReport:
    """The localisation of a wrong answer: the explanation, or the paths found, or why there is none."""

    total: int
    found: Explanation | None = None
    present: tuple[CellPath, ...] = ()
    absent: tuple[CellPath, ...] = ()
    note: str = ""

    def lines(self, param: str) -> list[str]:
        out = [f"  the chain rule through the cell's equations: ∂L/∂{param} has {self.total} paths "
               f"L_t → Y_t → h_t → … → {param}"]
        if self.note:
            return out + [f"  {self.note}"]
        if self.found is not None:
            f = self.found
            word = {"wrong": "written wrongly", "missing": "missing", "two": "written wrongly or missing"}.get(f.how)
            out.append(f"  the slip: {f.diagnosis}")
            them = "it" if len(f.paths) == 1 else "them"
            out.append(f"    extra: {_count(len(f.paths))}:" if f.how == "extra" else
                       f"    {word} on {_count(len(f.paths))} (as the chain rule has {them}):")
            out += [f"      {p}" for p in f.paths[:SHOWN_PATHS]]
            if len(f.paths) > SHOWN_PATHS:
                out.append(f"      … and {len(f.paths) - SHOWN_PATHS} more")
            if f.how != "extra":
                rest = self.total - len(f.paths)
                out.append(("    the other path is right" if rest == 1 else f"    the other {rest} paths are right")
                           if rest else "")
            return [ln for ln in out if ln]
        out.append("  no single slip of one factor, one path or one branch explains the difference")
        if self.present or self.absent:
            out.append(f"  paths found in your expanded answer: {len(self.present)} of {self.total}")
            out += [f"    not found: {p}" for p in self.absent[:SHOWN_PATHS * 2]]
            if len(self.absent) > SHOWN_PATHS * 2:
                out.append(f"    … and {len(self.absent) - SHOWN_PATHS * 2} more not found")
        return out

    @property
    def summary(self) -> str:
        if self.found is not None:
            return self.found.diagnosis
        if self.note:
            return ""
        return f"no single slip explains it; {len(self.absent)} of {self.total} chain-rule paths not found"


def _count(n: int) -> str:
    return f"{n} path{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class CellVerdict(MatrixVerdict):
    """The matrix form's verdict on a scalar answer of a gated or user cell, with its path localisation."""

    paths: PathReport | None = None

    @property
    def summary(self) -> str:
        theirs = MatrixVerdict.summary.fget(self)
        if self.ok or self.paths is None:
            return theirs
        if self.paths.note:
            return f"{theirs} ({self.paths.note})"
        slips = any(v.slips for v in self.lines)       # the matrix form's single-edit search named one too
        if self.paths.found is None:
            return theirs if slips else self.paths.summary
        return f"{self.paths.summary}; {theirs}" if slips else self.paths.summary


def verify_cell(spec: ModelSpec, param: str, source: str, latex: bool, steps: int, what: str) -> MatrixVerdict:
    """A scalar answer of a cell that is not the lecture's: the verdict at sizes 1, a wrong one localised."""
    v = verify_matrix(spec, param, source, latex, steps, (1, 1, 1), what, scalar=True)
    if v.ok or len(v.lines) != 1 or v.lines[0].line.defines is not None:
        return v
    try:
        yours = lower(v.lines[0].line.rhs)
    except SymrnnError:                 # a form the scalar symbols cannot write (Σ over t, a named δ)
        return v
    g = graph(spec, steps)
    if any(str(q) not in g.known for q in yours.free_symbols):
        return v                        # δ, γ read as their true values: the matrix form's report stands
    report = localise(g, param, yours)
    lines = v.report.split("\n")
    if report.found is not None:
        lines = [ln for ln in lines if ln.strip() != NO_SLIP]
    at = next((k for k, ln in enumerate(lines) if ln.startswith("  (checked")), len(lines))
    lines[at:at] = report.lines(param)
    return CellVerdict(**{f: getattr(v, f) for f in ("ok", "param", "lines", "how", "notes")},
                       report="\n".join(lines), paths=report)


# -- the explanations --------------------------------------------------------------------------

def _mul(xs):
    with mpmath.workdps(DIGITS):
        out = None
        for x in xs:
            out = x if out is None else tuple(a * b for a, b in zip(out, x))
        return out


def _add(xs, sign=1):
    with mpmath.workdps(DIGITS):
        out = None
        for x in xs:
            out = x if out is None else tuple(a + b for a, b in zip(out, x))
        return tuple(sign * a for a in out)


def _key(x) -> str:
    """A number rounded far below any real difference and far above 50-digit rounding (a lookup key)."""
    return mpmath.nstr(x, 25)


def _zero(like):
    return tuple(0 * x for x in like)


def _equal(a, b) -> bool:
    return all(abs(x - y) <= TOLERANCE * max(1, abs(y), abs(x)) for x, y in zip(a, b))


class _Search:
    """The paths of ∂L/∂param and their numbers, and the explanations tried against R."""

    def __init__(self, g: CellGraph, param: str, residual):
        self.g, self.param, self.R = g, param, residual
        self.paths = g.paths(param)
        self.edge_numbers = {e: g.numbers(e.value) for p in self.paths for e in p.edges}
        self.numbers = {p: g.path_numbers(p) for p in self.paths}
        self.kept: list = []             # the explanations a pair is made of
        self.slips: list = []            # (edge, change, its numbers) of every registered slip
        self._through: dict = {}
        for p in self.paths:
            for e in dict.fromkeys(p.edges):
                self._through.setdefault(e, []).append(p)

    def changed(self, p: CellPath, edits: dict, points=None) -> tuple:
        """p's numbers with the edges in `edits` valued at their new numbers, minus p's:
        p · (Π_e new_e / old_e − 1), or the product again where an old factor is 0 at a point."""
        mine = [e for e in dict.fromkeys(p.edges) if e in edits]
        with mpmath.workdps(DIGITS):
            out = []
            for k, value in enumerate(self.numbers[p][:points]):
                olds = [self.edge_numbers[e][k] for e in mine]
                if all(olds):
                    ratio = mpmath.mpf(1)
                    for e, old in zip(mine, olds):
                        ratio *= (edits[e][k] / old) ** p.edges.count(e)
                    out.append(value * (ratio - 1))
                else:
                    new = mpmath.mpf(1)
                    for e in p.edges:
                        new *= edits[e][k] if e in edits else self.edge_numbers[e][k]
                    out.append(new - value)
            return tuple(out)

    def through(self, e: Edge) -> tuple[CellPath, ...]:
        return tuple(self._through.get(e, ()))

    def first(self) -> Explanation | None:
        for found in self._candidates():
            if found is not None:
                return found
        return None

    def _candidates(self):
        """Each explanation in the order of the module docstring (lazy: the first that equals R ends it)."""
        edges = list(dict.fromkeys(e for p in self.paths for e in p.edges))
        self.slips = slips = [(e, c, self.g.numbers(c.new)) for e in edges for _, c in changes(self.g, e)]
        # 1. one factor, where it sits (every path through the edge), or inside one loss step's group entering
        #    at one step (a factored group)
        for e, c, n in slips:
            on = self.through(e)
            yield self._if(_add(self.changed(p, {e: n}) for p in on), lambda: c.message, on, "wrong", keep=True)
        for e, c, n in slips:
            for (t, s), on in _by_steps(self.through(e)):
                yield self._if(_add(self.changed(p, {e: n}) for p in on),
                               lambda: f"{c.message} (in the terms of L{t} that reach {self.param} at step {s})",
                               on, "wrong")
        # 2. the same slip at every factor it applies to
        by_key: dict = {}
        for e, c, n in slips:
            by_key.setdefault(c.key, []).append((e, c, n))
        for group in by_key.values():
            if len(group) < 2 or len({e for e, _, _ in group}) < len(group):
                continue
            edits = {e: n for e, _, n in group}
            touched = {p for e in edits for p in self.through(e)}
            on = tuple(p for p in self.paths if p in touched)
            yield self._if(_add(self.changed(p, edits) for p in on), lambda: _same_slip(group), on, "wrong")
        # 3. one factor on one path only
        for e, c, n in slips:
            on = self.through(e)
            for p in on if len(on) > 1 else ():
                yield self._if(self.changed(p, {e: n}), lambda: f"{c.message} (in this term only)", (p,), "wrong")
        # 4. a branch left out: through one edge, from L_t back through one quantity, one loss step's group;
        #    one path missing or twice; many-to-one answers that sum every step
        for e in edges:
            on = self.through(e)
            yield self._if(_add((self.numbers[p] for p in on), -1), lambda: _branch(self.g, e), on, "missing",
                           keep=True)
        for t, q in dict.fromkeys((p.loss_step, e.den) for p in self.paths for e in p.edges):
            on = tuple(p for p in self.paths if p.loss_step == t and any(e.den == q for e in p.edges))
            yield self._if(_add((self.numbers[p] for p in on), -1), lambda: _through(self.g, t, q), on, "missing",
                           keep=True)
        for e in edges:
            for (t, s), on in _by_steps(self.through(e)):
                yield self._if(_add((self.numbers[p] for p in on), -1),
                               lambda: f"{_branch(self.g, e)} (in the terms of L{t} that reach {self.param} at "
                                       f"step {s})", on, "missing")
        for p in self.paths:
            yield self._if(_add([self.numbers[p]], -1), lambda: f"the path {p.route} is missing", (p,), "missing")
            yield self._if(self.numbers[p], lambda: f"the path {p.route} is counted twice", (p,), "extra")
        if self.g.spec.output == "last":
            every = graph(replace(self.g.spec, output="every"), self.g.steps)
            if every.count(self.param) <= MAX_PATHS:
                more = [q for q in every.routes(self.param) if q.loss_step != self.g.steps]
                yield self._if(_add(_mul(self.g.numbers(e.value) for e in q.edges) for q in more), lambda: (
                    f"this sums the terms of every step (L = Σ_t L_t), but the model is many-to-one (--output last): "
                    f"only L{self.g.steps} is a loss"), more, "extra")
        # 5. a path of another parameter's gradient where one of this one's belongs: q − p = R, looked up by
        #    q's first number among the p + R (a comparison per pair would grow like the square of the paths)
        wanted: dict = {}
        with mpmath.workdps(DIGITS):
            for p in self.paths:
                wanted.setdefault(_key(self.numbers[p][0] + self.R[0]), []).append(p)
        for other in self.g.derivation.names:
            if other == self.param or self.g.count(other) > MAX_PATHS:
                continue
            for q in self.g.routes(other):
                nq = self.g.path_numbers(q)
                for p in wanted.get(_key(nq[0]), ()):
                    with mpmath.workdps(DIGITS):
                        d = tuple(a - b for a, b in zip(nq, self.numbers[p]))
                    yield self._if(d, lambda: f"a term copied from ∂L/∂{other}: yours has {text(q.shown)} "
                                              f"(the path {q.route}) where {p.route} belongs", (p,), "wrong")

    def _if(self, delta, diagnosis, on, how, keep: bool = False) -> Explanation | None:
        """The explanation when its numbers are R's (`diagnosis` is said only then: printing is the cost);
        `keep`: remembered for `pair`."""
        if keep:
            self.kept.append((delta, diagnosis, tuple(on), how))
        return Explanation(diagnosis(), tuple(on), how) if _equal(delta, self.R) else None

    def pair(self) -> Explanation | None:
        """Two slips at once, each of one factor where it sits or one branch: Δ_a + Δ_b = R (Δ_b looked up by
        its first number, so the pairs are not tried one by one)."""
        slips = self.slips if len(self.slips) <= PAIRED_SLIPS else []
        for i, (ea, ca, na) in enumerate(slips):       # two factors written wrongly: their paths may overlap
            for eb, cb, nb in slips[i + 1:]:
                if ea == eb:
                    continue
                edits = {ea: na, eb: nb}
                on = tuple(p for p in self.paths if ea in p.edges or eb in p.edges)
                first = _add(self.changed(p, edits, 1) for p in on)
                if _equal(first, self.R[:1]) and _equal(_add(self.changed(p, edits) for p in on), self.R):
                    return Explanation(f"two slips: {ca.message}; and {cb.message}", on, "wrong")
        index: dict = {}
        for k, (d, *_) in enumerate(self.kept):
            index.setdefault(_key(d[0]), []).append(k)
        with mpmath.workdps(DIGITS):
            for i, (d, said, on, how) in enumerate(self.kept):
                for j in index.get(_key(self.R[0] - d[0]), ()):
                    e, other, more, how2 = self.kept[j]
                    if j != i and not set(on) & set(more) and _equal(tuple(a + b for a, b in zip(d, e)), self.R):
                        paths = tuple(p for p in self.paths if p in set(on) | set(more))
                        return Explanation(f"two slips: {said()}; and {other()}", paths,
                                           how if how == how2 else "two")
        return None


def _through(g: CellGraph, t: int, q) -> str:
    """What leaving out every path from L_t through the quantity q means, in words."""
    step = 0 if q in g.initial else g.definitions[q][0] if q in g.definitions else None
    if step is not None and step < t:
        readers = ", ".join(text(r) for r in _readers(g, q, step + 1))
        return (f"every path from L{t} back through {text(q)} is missing: the recurrent paths (step {step + 1} reads "
                f"{text(q)} in {readers})")
    return f"every path from L{t} through {text(q)} is missing"


def _readers(g: CellGraph, q, step: int) -> list:
    """The quantities of `step` whose definitions read q directly, in equation order."""
    return [num for num, edges in g.edges.items() if num in g.definitions and g.definitions[num][0] == step
            and num != g.unrolled.at(step).Y and any(e.den == q for e in edges)]


def _by_steps(paths) -> list:
    """Paths grouped by (their loss step, the step where they enter θ), when there is more than one group."""
    groups: dict = {}
    for p in paths:
        groups.setdefault((p.loss_step, p.edges[-1].step), []).append(p)
    return list(groups.items()) if len(groups) > 1 else []


def _same_slip(group) -> str:
    """One slip made in several factors, said once when it has a general form."""
    if all(c.general for _, c, _ in group):       # said at the last step it is made in
        said = max(group, key=lambda slip: slip[0].step)[1].general
    else:
        said = "; ".join(dict.fromkeys(c.message for _, c, _ in group))
    return f"at every step: {said}" if len({e.step for e, _, _ in group}) > 1 else said


def _branch(g: CellGraph, e: Edge) -> str:
    """What leaving out every path through edge e means, in words."""
    if e.kind == "loss":
        return (f"every path from {text(e.num)} is missing: L = Σ_t L_t, so the terms of {text(e.num)} belong "
                f"to the gradient too (missing Σ_t)")
    if e.kind == "read" and e.num in g.definitions:
        return (f"the branch through {text(e.den)} is missing: {text(e.num)} reads {text(e.den)} ({e}; "
                f"{text(e.num)} = {text(g.definitions[e.num][1])}), so every path {text(e.num)} → {text(e.den)} "
                f"belongs to the gradient")
    return f"every path through {text(e.symbol)} is missing ({e})"


def localise(g: CellGraph, param: str, yours: sp.Expr) -> PathReport:
    """Which slip makes yours differ from ∂L/∂param (see the module docstring)."""
    total = g.count(param)
    if total > MAX_PATHS:
        return PathReport(total, note=f"not localised: {total} chain-rule paths at T = {g.steps}, more than the "
                                      f"{MAX_PATHS} compared (they multiply with T); the single-edit slip search of "
                                      f"the matrix form ran instead — check the same slip at a smaller T to have its "
                                      f"path named")
    try:
        with mpmath.workdps(DIGITS):
            mine = g.numbers(yours)
            truth = g.numbers(g.derivation.gradient(param))
            residual = tuple(a - b for a, b in zip(mine, truth))
    except Undefined:
        return PathReport(total, note="not localised: your answer has no value at a random point")
    if all(abs(r) <= TOLERANCE * max(1, abs(t)) for r, t in zip(residual, truth)):
        return PathReport(total, note="not localised: yours equals the true gradient at the localisation's random "
                                      "points (with relu, the difference shows only in some sign patterns)")
    search = _Search(g, param, residual)
    for other in g.derivation.names:
        if other != param and g.count(other) <= MAX_PATHS and \
                _equal(mine, _add([g.path_numbers(q) for q in g.routes(other)] or [_zero(mine)])):
            return PathReport(total, Explanation(f"this is ∂L/∂{other}, not ∂L/∂{param}: the gradient of "
                                                 f"another "
                                                 f"parameter", search.paths, "wrong"))
    found = search.first() or search.pair()
    if found is not None:
        return PathReport(total, found)
    return _as_written(g, search.paths, yours, total)


def _as_written(g: CellGraph, paths, yours: sp.Expr, total: int) -> PathReport:
    """The paths whose every monomial is in the expanded answer (found as written) and the others."""
    mine = g.lecture(yours)
    if canonical.expansion_size(mine) > MONOMIALS:
        return PathReport(total, note=f"not localised: your answer expands to more than {MONOMIALS} monomials")
    pool = Counter(sp.expand(mine).as_coefficients_dict())
    present, absent = [], []
    for p in sorted(paths, key=lambda p: -len(p.edges)):
        need = Counter(sp.expand(p.value).as_coefficients_dict())
        if all(pool.get(k) == v for k, v in need.items()):
            pool.subtract(need)
            present.append(p)
        else:
            absent.append(p)
    order = {p: k for k, p in enumerate(paths)}
    return PathReport(total, None, tuple(sorted(present, key=order.get)), tuple(sorted(absent, key=order.get)))


__all__ = ["verify_cell", "localise", "CellVerdict", "PathReport", "Explanation"]
