"""A derivation as terminal text, as JSON, and as LaTeX fragments (the full document is `latex.py`)."""
from __future__ import annotations

import json

import sympy as sp

from . import matrix_report
from .. import naming
from ..printers import lecture as printing
from ..derivation.matrix import MatrixDerivation
from ..derivation.scalar import Gradient, ScalarDerivation
from ..derivation.unroll import lower, step
from ..ir.scalar import Terms

IMMEDIATE_NOTE = ("∂⁺h_s/∂θ is the immediate partial derivative: h_{s-1} held fixed "
                  "(Pascanu et al. 2013), so ∂h_s/∂θ is never ambiguous.")


def model_equations(spec, t) -> tuple[tuple[sp.Expr, sp.Expr], ...]:
    """(lhs, rhs) of the cell's equations as written, then Y_t and L_t, at step t (a number or the symbol t)."""
    s = step(spec, t)
    written = tuple((naming.at(e.name, t), lower(e.rhs.xreplace({naming.t: t}), written=True))
                    for e in spec.cell.equations)
    return written + ((s.Y, lower(spec.cell.output.xreplace({naming.t: t}), written=True)), (s.L, s.L_written))


def scalar_ce_note(spec) -> str | None:
    """Why the scalar softmax cross-entropy is the binary one (said wherever it is printed)."""
    if spec.loss == "ce":
        return ("with one output unit the softmax is over the logits (0, Y_t), whose probability of class 1 is "
                "σ(Y_t); so L_t = log(1 + e^{Y_t}) − z_t Y_t and ∂L_t/∂Y_t = σ(Y_t) − z_t, the same as bce (the matrix form, o ≥ 2, is the real softmax)")
    return None


def delta_title(d: ScalarDerivation) -> str:
    """What the δ-recursion's quantities are, in words."""
    names = [str(lhs.base) for lhs, _ in d.delta_general]   # at the symbolic t: h̄[t], delta[t]
    if names == [naming.DELTA]:
        a = step(d.spec, naming.t).a
        return f"δ_t = ∂L/∂{printing.text(a)}"
    parts = []
    for name in names:
        deco = naming.decorated(name)
        lhs = printing.text(naming.at(name, naming.t))
        if deco and deco[2]:
            parts.append(f"{lhs} = ∂L/∂{printing.text(naming.at(deco[0], naming.t))}")
        elif deco and deco[0] == naming.DELTA:
            parts.append(f"{lhs} = ∂L/∂{printing.text(naming.at(naming.preactivation(deco[1]), naming.t))}")
    return ", ".join(parts)


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


def text(d) -> str:
    """The derivation as a student would read it in a terminal."""
    if isinstance(d, MatrixDerivation):
        return matrix_report.text(d)
    spec, T = d.spec, d.steps
    lines = [f"BPTT for the {spec.cell.name} cell: activation {spec.cell.activation}, loss {spec.loss}, "
             f"output {spec.output}, T = {T}, scalar", "", "Model"]
    lines += [f"  {_eq(l, r)}" for l, r in model_equations(spec, naming.t)]
    lines.append(f"  L = {printing.text(Terms(*(naming.at(naming.LOSS, t) for t in d.unrolled.loss_steps)))}")
    lines += [f"  note: {n}" for n in spec.cell.notes + tuple(filter(None, [scalar_ce_note(spec)]))]
    lines += ["", "Unrolled"]
    for t in range(1, T + 1):
        lines.append("  " + "    ".join(_eq(l, r) for l, r in model_equations(spec, t)))
    if d.expanded:
        lines += ["", "Chain rule over the unrolled graph"]
        for g in d.gradients:
            lines += [f"  {dependence(g)}, so",
                      f"    ∂L/∂{g.wrt} = {printing.text(g.leibniz)}", ""]
        lines += [f"  ({IMMEDIATE_NOTE})", "", "Local factors (it suffices to compute these)"]
        lines += [f"  {_eq(f.symbol, *f.steps)}" for f in d.factors()]
    else:
        lines += ["", f"The chain-rule paths are not written out at T = {T} (too many to read); the δ-recursion "
                      f"below gives every gradient, and the form for any T holds at every T."]
    lines += ["", "Results"]
    for g in d.gradients:
        if d.expanded:
            lines.append(f"  ∂L/∂{g.wrt} = {printing.text(g.shown)}")
            lines.append(f"    δ-form:     {printing.text(g.delta_form)}")
        else:
            lines.append(f"  ∂L/∂{g.wrt} = {printing.text(g.delta_form)}    (δ-form)")
        if g.general is not None:
            lines.append(f"    any T:      {printing.text(g.general)}")
        lines += [f"    certified:  {c}" for c in g.certificate.checks] if g.certificate else []
        lines.append("")
    lines += [f"δ-recursion ({delta_title(d)}, computed backwards in time)"]
    lines += [f"  {row}" for row in _recursion_rows(d, printing.text)]
    lines += [f"  {_eq(sym, expr)}" for sym, expr in d.deltas]
    verdict = "every result certified" if d.certified else "CERTIFICATION FAILED"
    lines += ["", verdict]
    return "\n".join(lines) + "\n"


def _recursion_rows(d: ScalarDerivation, pr) -> list[str]:
    """δ_t = …,   δ_T = … (one quantity); each quantity's recursion, then where it starts (several)."""
    if len(d.delta_general) == 1:
        (lhs, body), (start, value) = d.delta_general[0], d.delta_start[0]
        return [f"{pr(lhs)} = {pr(body)},   {pr(start)} = {pr(value)}"]
    return [f"{pr(lhs)} = {pr(body)}" for lhs, body in d.delta_general] + \
        [f"at T: {pr(lhs)} = {pr(body)}" for lhs, body in d.delta_start]


def gradient_json(g: Gradient) -> dict:
    """One gradient; `expr`, `terms` and `delta` parse back with sympy.sympify (the text fields do not)."""
    return {
        "expr": printing.parseable(g.expr),
        "latex": printing.latex(g.shown),
        "terms": [printing.parseable(term.value) for term in g.terms],
        "leibniz": [printing.text(term.leibniz) for term in g.terms],
        "leibniz_latex": printing.latex(g.leibniz),
        "delta": printing.parseable(g.delta_form.doit()),
        "general": printing.text(g.general) if g.general is not None else None,
        "general_latex": printing.latex(g.general) if g.general is not None else None,
        "certificate": [str(c) for c in g.certificate.checks] if g.certificate else [],
        "certified": bool(g.certificate and g.certificate.ok),
    }


def to_json(d) -> str:
    """The JSON object of INTERFACE section 2."""
    if isinstance(d, MatrixDerivation):
        return matrix_report.to_json(d)
    (lhs, general), (_, start) = d.delta_general[0], d.delta_start[0]
    return json.dumps({
        "model": d.spec.describe(),
        "steps": d.steps,
        "dims": d.dims,
        "gradients": {g.wrt: gradient_json(g) for g in d.gradients},
        "delta": {"recursion": {printing.parseable(s): printing.parseable(e.doit()) for s, e in d.deltas},
                  "general": printing.text(general), "general_latex": printing.latex(general),
                  "start": printing.text(start),
                  "equations": {printing.text(l): printing.text(b) for l, b in d.delta_general},
                  "starts": {printing.text(l): printing.text(b) for l, b in d.delta_start}},
        "expanded": d.expanded,
        "certified": d.certified,
    }, indent=2, ensure_ascii=False)


def latex_fragments(d) -> str:
    """The main results as LaTeX display math, one align block per gradient."""
    if isinstance(d, MatrixDerivation):
        return matrix_report.latex_fragments(d)
    out = []
    for g in d.gradients:
        out.append("\\begin{align*}\n"
                   f"\\frac{{\\partial L}}{{\\partial {printing.latex(_wrt_symbol(d, g.wrt))}}} "
                   f"&= {printing.latex(g.leibniz)} \\\\\n"
                   f"&= {printing.latex(g.shown)}\n"
                   "\\end{align*}")
    return "\n".join(out) + "\n"


def _wrt_symbol(d, name: str) -> sp.Expr:
    """The symbol of ∂L/∂name: a parameter, or an initial state (h0, c0)."""
    return naming.at(name[:-1], 0) if name in d.spec.cell.initial else naming.param(name)
