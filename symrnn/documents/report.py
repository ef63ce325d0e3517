"""A derivation as terminal text, as JSON, and as LaTeX fragments (the full document is `latex.py`)."""
from __future__ import annotations

import json

import sympy as sp

from . import matrix_report
from .. import naming
from ..printers import lecture as printing
from ..derivation.scalar import Derivation, Gradient
from ..ir.scalar import Terms
from ..derivation.unroll import step

IMMEDIATE_NOTE = ("∂⁺h_s/∂θ is the immediate partial derivative: h_{s-1} held fixed "
                  "(Pascanu et al. 2013), so ∂h_s/∂θ is never ambiguous.")


def in_param_order(expr: sp.Expr, spec) -> sp.Expr:
    """A cell equation with its terms in the order the parameters are declared (W h + U x + b)."""
    if not isinstance(expr, sp.Add):
        return expr
    rank = {naming.param(p): k for k, p in enumerate(spec.params)}
    key = lambda term: min((rank[s] for s in term.free_symbols if s in rank), default=len(rank))
    return Terms(*sorted(expr.args, key=key))


def model_equations(spec, t) -> tuple[tuple[sp.Expr, sp.Expr], ...]:
    """(lhs, rhs) of the cell's equations at step t (a number or the symbol t)."""
    s = step(spec, t)
    return ((s.a, in_param_order(s.a_def, spec)), (s.h, s.h_def),
            (s.Y, in_param_order(s.Y_def, spec)), (s.L, s.L_def))


def _names(items) -> str:
    items = [printing.text(x) for x in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def dependence(g: Gradient) -> str:
    """The lecture's sentence: "L1 depends on W only through h1; L2 through h1 and h2"."""
    parts = []
    for k, (t, via) in enumerate(g.through):
        lead = f"L{t} depends on {g.wrt} only through" if k == 0 else f"L{t} through"
        parts.append(f"{lead} {_names(via)}")
    return "; ".join(parts)


def _eq(lhs, *rhs, pr=printing.text) -> str:
    return " = ".join(pr(x) for x in (lhs, *rhs))


def text(d: Derivation) -> str:
    """The derivation as a student would read it in a terminal."""
    if d.matrix is not None:
        return matrix_report.text(d)
    spec, T = d.spec, d.steps
    lines = [f"BPTT for the {spec.cell.name} cell: activation {spec.cell.activation}, loss {spec.loss}, "
             f"output {spec.output}, T = {T}, scalar", "", "Model"]
    lines += [f"  {_eq(l, r)}" for l, r in model_equations(spec, naming.t)]
    lines.append(f"  L = {printing.text(Terms(*(naming.at(naming.LOSS, t) for t in d.unrolled.loss_steps)))}")
    lines += ["", "Unrolled"]
    for t in range(1, T + 1):
        lines.append("  " + "    ".join(_eq(l, r) for l, r in model_equations(spec, t)))
    lines += ["", "Chain rule over the unrolled graph"]
    for g in d.gradients:
        lines += [f"  {dependence(g)}, so",
                  f"    ∂L/∂{g.wrt} = {printing.text(g.leibniz)}", ""]
    lines += [f"  ({IMMEDIATE_NOTE})", "", "Local factors (it suffices to compute these)"]
    lines += [f"  {_eq(f.symbol, *f.steps)}" for f in d.factors()]
    lines += ["", "Results"]
    for g in d.gradients:
        lines += [f"  ∂L/∂{g.wrt} = {printing.text(g.shown)}",
                  f"    δ-form:     {printing.text(g.delta_form)}",
                  f"    any T:      {printing.text(g.general)}"]
        lines += [f"    certified:  {c}" for c in g.certificate.checks] if g.certificate else []
        lines.append("")
    general, start = d.delta_general
    lines += ["δ-recursion (δ_t = ∂L/∂a_t, computed backwards in time)",
              f"  δ_t = {printing.text(general)},   δ_T = {printing.text(start)}"]
    lines += [f"  {_eq(sym, expr)}" for sym, expr in d.deltas]
    verdict = "every result certified" if d.certified else "CERTIFICATION FAILED"
    lines += ["", verdict]
    return "\n".join(lines) + "\n"


def gradient_json(g: Gradient) -> dict:
    return {
        "expr": printing.parseable(g.expr),
        "latex": printing.latex(g.shown),
        "terms": [printing.parseable(term.value) for term in g.terms],
        "leibniz": [printing.text(term.leibniz) for term in g.terms],
        "leibniz_latex": printing.latex(g.leibniz),
        "delta": printing.parseable(g.delta_form.doit()),
        "general": printing.text(g.general),
        "general_latex": printing.latex(g.general),
        "certificate": [str(c) for c in g.certificate.checks] if g.certificate else [],
        "certified": bool(g.certificate and g.certificate.ok),
    }


def to_json(d: Derivation) -> str:
    """The JSON object of INTERFACE section 2."""
    if d.matrix is not None:
        return matrix_report.to_json(d)
    general, start = d.delta_general
    return json.dumps({
        "model": d.spec.describe(),
        "steps": d.steps,
        "dims": d.dims,
        "gradients": {g.wrt: gradient_json(g) for g in d.gradients},
        "delta": {"recursion": {printing.parseable(s): printing.parseable(e.doit()) for s, e in d.deltas},
                  "general": printing.text(general), "general_latex": printing.latex(general),
                  "start": printing.text(start)},
        "certified": d.certified,
    }, indent=2, ensure_ascii=False)


def latex_fragments(d: Derivation) -> str:
    """The main results as LaTeX display math, one align block per gradient."""
    if d.matrix is not None:
        return matrix_report.latex_fragments(d)
    out = []
    for g in d.gradients:
        out.append("\\begin{align*}\n"
                   f"\\frac{{\\partial L}}{{\\partial {printing.latex(naming.param(g.wrt))}}} "
                   f"&= {printing.latex(g.leibniz)} \\\\\n"
                   f"&= {printing.latex(g.shown)}\n"
                   "\\end{align*}")
    return "\n".join(out) + "\n"
