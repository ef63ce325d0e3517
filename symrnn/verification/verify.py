"""Check a hand derivation of ∂L/∂θ and localise its error to chain-rule terms.

    read (reading: SymPy syntax or LaTeX, parsed, never evaluated)
      -> decide (decide: equal at every point of every sign pattern? exactly?)
      -> localise (localise: which path is missing, extra, or written with which slip)
      -> report (the lecture's notation)

Everything taken from the derivation goes through `model.Model`, derived and certified once
per model (`model.model` caches it, so a class of answers shares one derivation).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import mpmath
import sympy as sp

from .. import naming
from ..derivation.program import primal
from ..errors import CheckFailed, SymrnnError
from ..files import read_text
from ..ir.nodes import Map, vec
from ..model.spec import ModelSpec
from . import canonical
from .decide import Decision, decide
from .limits import deep_recursion
from .localise import Localisation, Wrong, localise, same
from .model import Model, Path, model
from .printing import brief, text
from ..ir.scalar import Partial
from ..printers import lecture, show
from .reading import MAX_FILE_BYTES, Answer, looks_like_latex, read, read_file, read_source, strip_comments
from .traps import TRAPS, Context, Variant, everywhere, trap
from ..derivation.matrix import check_dims
from .matrixcheck import verify_matrix
from .cellcheck import verify_cell


@dataclass(frozen=True)
class Verdict:
    """Whether the hand derivation equals ∂L/∂param, and if not, where it goes wrong."""

    ok: bool
    report: str
    param: str
    yours: sp.Expr
    true: sp.Expr
    exact: bool                                  # equality shown symbolically
    missing: tuple[Path, ...] = ()
    extra: tuple[sp.Expr, ...] = ()
    wrong: tuple[Wrong, ...] = ()
    counterexample: tuple[tuple[sp.Symbol, sp.Float], ...] = ()
    difference: sp.Float | None = None
    notes: tuple[str, ...] = ()                  # whole-answer diagnoses (missing Σ_t, another parameter's gradient)
    matched: tuple[Path, ...] = ()               # true paths the answer has right
    how: str = ""                                # how the verdict was decided
    reading: tuple[str, ...] = ()                # Leibniz factors read as their true values
    unsplit: tuple[sp.Expr, ...] = ()            # terms too large to expand into paths (`missing`: not found)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return self.report

    def __repr__(self) -> str:
        return f"<Verdict ∂L/∂{self.param}: {'correct' if self.ok else 'wrong'} — {show.brief(self.summary, 90)}>"

    def _sections(self) -> list[tuple[str, object]]:
        lhs = lecture.latex(Partial(naming.TOTAL_LOSS, naming.param(self.param)))
        out = [("Yours", [f"{lhs} &= {lecture.latex(self.yours)}"]),
               ("The true gradient", [f"{lhs} &= {lecture.latex(self.true)}"])]
        if self.wrong:
            out.append(("Wrong terms", [rf"{lecture.latex(w.term.leibniz)} &: \text{{{show.tex_text(w.diagnosis)}}}"
                                        for w in self.wrong]))
        if self.missing:
            out.append(("Missing terms", [f"&{lecture.latex(t.leibniz)}" for t in self.missing]))
        return out + [("Verdict", ("correct" if self.ok else "wrong") + f" ({self.summary})")]

    def _repr_latex_(self) -> str:
        return show.latex_page(self._sections())

    def _repr_html_(self) -> str:
        return show.html_page(self._sections())

    @property
    def summary(self) -> str:
        """The diagnosis in one line (for a class's summary table)."""
        if self.ok:
            return f"correct ({self.how})"
        items = list(self.notes)
        items += [f"{text(w.term.leibniz)}: {w.diagnosis}" for w in self.wrong]
        if self.unsplit:
            items.append(f"not localised: {len(self.unsplit)} term(s) too large to expand into chain-rule paths")
        else:
            items += [f"missing {text(t.leibniz)}" for t in self.missing]
        items += [f"extra {brief(e)}" for e in self.extra]
        return "; ".join(items) or "differs from the true gradient"


def _path(m: Model, term: Path) -> str:
    """What a chain-rule path is, in words."""
    hops = [f for f in term.factors if f.kind == "hop"]
    if hops:
        return f"the path from L{term.loss_step} back through {hops[-1].den} (the recurrent path)"
    return f"the direct path from L{term.loss_step}"


def _loss_steps_in(m: Model, expr: sp.Expr) -> set[int]:
    """The loss steps whose Y_t or z_t the expression uses."""
    out = set()
    for q in expr.free_symbols:
        role = m.role(q)
        if role and role[0] in (naming.OUTPUT, naming.TARGET):
            out.add(role[1])
    return out


def _notes(m: Model, param: str, yours: sp.Expr, loc: Localisation) -> tuple[str, ...]:
    """Whole-answer diagnoses: another parameter's gradient, the many-to-many sum, a missing Σ_t."""
    notes = []
    for other in m.gradient_names:
        if other != param and same(m, yours, m.gradient(other).expr):
            notes.append(f"this is ∂L/∂{other}, not ∂L/∂{param}: the gradient of another parameter")
    if m.every is not None and same(m, yours, m.every.gradient(param).expr):
        notes.append(f"this sums the terms of every step (L = Σ_t L_t), but the model is many-to-one "
                     f"(--output last): only L{m.steps} is a loss")
    present = {t.loss_step for t in loc.matched} | {w.term.loss_step for w in loc.wrong} | \
        (_loss_steps_in(m, yours) & set(m.loss_steps))
    absent = {t.loss_step for t in loc.missing} - present
    if present and absent and m.output == "every" and not loc.unsplit:
        have = ", ".join(f"L{t}" for t in sorted(present))
        lack = ", ".join(f"L{t}" for t in sorted(absent))
        notes.append(f"missing Σ_t: only the terms of {have} are present; L = Σ_t L_t, so the terms of {lack} "
                     f"are missing too")
    if len(loc.wrong) > 1 and not loc.matched:
        ctx = Context(m, param, yours)
        found = next(((name, general) for name, value, general in everywhere(ctx) if same(m, value, yours)), None)
        if found is not None:
            notes.append(f"the same slip in every term ({found[0]}): {found[1]}")
    return tuple(notes)


def _extra_reason(m: Model, param: str, loc: Localisation, extra: sp.Expr) -> str:
    """Why an extra term is extra: a matched path again, a path of a step without a loss, another
    parameter's path, or no path."""
    twice = next((t for t in loc.matched if same(m, t.value, extra)), None)
    if twice is not None:
        return f"{text(twice.leibniz)} counted twice"
    if m.every is not None:
        for t in m.every.gradient(param).paths:
            if t.loss_step != m.steps and same(m, t.value, extra):
                return (f"this is {text(t.leibniz)}, but the model is many-to-one (--output last): only L{m.steps} "
                        f"is a loss, L{t.loss_step} is not")
    for other in m.gradient_names:
        if other == param:
            continue
        for t in m.gradient(other).paths:
            if same(m, t.value, extra):
                return f"this is {text(t.leibniz)}, a term of ∂L/∂{other}"
    return f"no chain-rule path of ∂L/∂{param} gives this term"


def _term_line(term: Path) -> str:
    return f"{text(term.leibniz)} = {text(term.shown)}"


def _number(x) -> str:
    return mpmath.nstr(x, 12, min_fixed=-6, max_fixed=12) if x is not None else "—"


def _point_line(m: Model, pt: dict, pattern) -> str:
    """The counterexample's inputs, then the forward values a hand check needs."""
    given = [*m.param_symbols, m.h0] + [s.x for s in m.equations] + [s.z for s in m.equations]
    forward = [q for s in m.equations for q in ((s.a, s.h, s.Y) if pattern else (s.h, s.Y))]

    def show(symbols):
        return ", ".join(f"{q} = {mpmath.nstr(pt[q], 6)}" for q in symbols)
    where = f"\n  (so {show(forward)})"
    return f"{show(given)}{where}"


def _report(m: Model, v: Verdict, decision: Decision) -> str:
    g = m.gradient(v.param)
    lines = [f"∂L/∂{v.param}: correct ({v.how})" if v.ok else f"∂L/∂{v.param}: wrong"]
    lines += [f"  read {note} (an unevaluated Leibniz factor, replaced by its true value)" for note in v.reading]
    if v.ok:
        return "\n".join(lines)
    if decision.point is not None:
        lines.append(f"  at {_point_line(m, decision.point, decision.pattern)}:")
        if decision.undefined is not None:
            lines.append(f"  yours has no value there: {text(decision.undefined.culprit)}: {decision.undefined.reason}; "
                         f"true = {_number(decision.true)}")
        else:
            lines.append(f"  yours = {_number(decision.yours)}, true = {_number(decision.true)}, "
                         f"difference = {_number(decision.yours - decision.true)}")
        if decision.pattern:
            lines.append(f"  ({decision.how})")
    lines += [f"  {note}" for note in v.notes if not note.startswith("missing Σ_t")]
    if v.unsplit:
        lines.append(f"  not localised: {len(v.unsplit)} of your terms are too large to expand into chain-rule paths at "
                     f"T = {m.steps} (more than {canonical.BUDGET} monomials); compare them with the paths below, "
                     f"or check the same answer at a smaller T")
        lines += [f"  not found as written: {_term_line(t)}" for t in v.missing]
    else:
        lines += [f"  missing: {_term_line(t)} — {_path(m, t)}" for t in v.missing]
    lines += [f"  extra: {brief(e)} — {_extra_reason(m, v.param, _loc(v), e)}" for e in v.extra]
    for w in v.wrong:
        yours = brief(w.shown) if w.shown is not None else brief(w.yours)
        lines.append(f"  wrong: yours {yours} for {_term_line(w.term)} — {w.diagnosis}")
    lines += [f"  {note}" for note in v.notes if note.startswith("missing Σ_t")]
    if not (v.missing or v.extra or v.wrong or v.notes):
        lines.append("  every chain-rule term is present, yet the sum differs (the terms could not be told apart)")
    lines.append(f"  the chain rule: ∂L/∂{v.param} = {text(g.leibniz)}")
    lines.append(f"      = {text(g.shown)}")
    return "\n".join(lines)


def _loc(v: Verdict) -> Localisation:
    return Localisation(v.matched, v.missing, v.extra, v.wrong, v.unsplit)


def check(m: Model, param: str, answer: Answer | sp.Expr) -> Verdict:
    """The verdict on an answer to ∂L/∂param in model m (scalar)."""
    if not isinstance(answer, Answer):
        answer = Answer(sp.sympify(answer), str(answer), "sympy")
    g = m.gradient(param)
    if not g.certified:
        raise CheckFailed(f"the derived ∂L/∂{param} failed certification (a bug in symrnn: please report it)")
    yours = answer.expr
    with deep_recursion():
        decision = decide(m, param, yours)
        if decision.ok:
            v = Verdict(True, "", param, yours, g.expr, decision.exact, how=decision.how, reading=answer.notes)
            return replace(v, report=_report(m, v, decision))
        loc = localise(m, param, yours)
        pt = decision.point
        counter = tuple((q, sp.Float(str(pt[q]), 15)) for q in [*m.param_symbols, m.h0] +
                        [s.x for s in m.equations] + [s.z for s in m.equations])
        diff = None if decision.undefined is not None else sp.Float(str(decision.yours - decision.true), 15)
        v = Verdict(False, "", param, yours, g.expr, False, loc.missing, loc.extra, loc.wrong, counter, diff,
                    _notes(m, param, yours, loc), loc.matched, decision.how, answer.notes, loc.unsplit)
        return replace(v, report=_report(m, v, decision))


def verify(spec: ModelSpec, param: str, text: str | None = None, *, latex: str | None = None,
           file: str | None = None, steps: int = 2, dims="scalar") -> Verdict:
    """Check a hand derivation of ∂L/∂param (SymPy syntax `text`, LaTeX `latex`, or a `file`) against
    the derived gradient, itself certified first."""
    given = [x is not None for x in (text, latex, file)]
    if sum(given) != 1:
        raise SymrnnError("give the derivation once: --expr, --latex or --file")
    if file is not None:
        source = read_text(file, "--file", MAX_FILE_BYTES)   # comments stay: the lines keep their numbers
        what = "--file"
    else:
        source, what = (latex, "--latex") if latex is not None else (text, "--expr")
    if not (isinstance(dims, str) and dims == "scalar"):
        return _verify_matrix(spec, param, source, what, steps, dims)
    if not lecture_shaped(spec) or has_definitions(source):
        return _verify_matrix(spec, param, source, what, steps, (1, 1, 1), scalar=True)
    m = model(spec, steps)
    m.gradient(param)              # an unknown parameter is named before the answer is read
    answer = read_source(m, param, source) if file is not None else read(m, param, text, latex)
    return check(m, param, answer)


def has_definitions(source: str) -> bool:
    """Whether an answer is several equations (δ_t = …, then the gradient): lines, `\\\\` or `;` separate them."""
    pieces = [p for row in strip_comments(source).splitlines() for p in re.split(r"\\\\|(?<!\\);", row)
              if p.strip()]
    return len(pieces) > 1 and sum("=" in p for p in pieces) > 1


def lecture_shaped(spec: ModelSpec) -> bool:
    """Whether the cell is the lecture's a_t = affine, h_t = f(a_t): the scalar checker's model (its chain-rule
    paths and traps); other cells (gated, leaky, TOML) are checked through the matrix form at sizes 1."""
    eqs = primal(spec.cell).equations
    pre = vec(naming.PREACT, naming.t)
    return (len(eqs) == 2 and eqs[0].name == naming.PREACT and eqs[1].name == naming.STATE
            and (eqs[1].rhs == pre or (isinstance(eqs[1].rhs, Map) and eqs[1].rhs.arg == pre)))


def _verify_matrix(spec, param, source: str, what: str, steps, dims, scalar=False):
    """The matrix form (`matrixcheck`): one line or several (definitions, then the gradient); `scalar`: the
    scalar form checked as the matrix form at sizes 1 (gated and user cells, answers with definitions)."""
    dims = check_dims(dims, spec) if not scalar else dims
    latex = {"--latex": True, "--expr": False}.get(what, None)
    if latex is None:
        latex = looks_like_matrix_latex(source)
    if scalar:
        return verify_cell(spec, param, source, latex, steps, what)
    return verify_matrix(spec, param, source, latex, steps, dims, what, scalar)


def looks_like_matrix_latex(source: str) -> bool:
    """A matrix answer is LaTeX when it has a backslash, a ^ or a brace; else SymPy style (h[t], W.T @ …)."""
    return any(c in source for c in "\\^{")


__all__ = ["verify", "check", "Verdict", "Wrong", "TRAPS", "trap", "Variant", "localise", "canonical",
           "looks_like_latex"]
