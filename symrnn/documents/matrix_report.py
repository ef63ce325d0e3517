"""A matrix-form derivation as terminal text, as JSON, and as LaTeX fragments (`report.py` dispatches here)."""
from __future__ import annotations

import json

from .. import naming
from ..printers import lecture as printing
from ..derivation.matrix import MatrixDerivation, MatrixGradient, Recursion, vec

SYNTAX = ("symrnn.ir.evaluate.parse: NumPy-flavoured Python syntax, @ matrix product, * Hadamard product, "
          ".T transpose, 1 the all-ones vector, v**2 elementwise square, h[t-1] / h1 time-indexed vectors, "
          "Sum(body, (t, lo, hi)), Prod(body, (i, lo, hi)) with the largest index leftmost")
FORM_TITLES = {
    "delta": "δ-recursion, ⊙",
    "diag": "δ-recursion, diag",
    "state": "state gradients γ_t = ∂L/∂h_t (Goodfellow et al. §10.2.2)",
    "jacobian": "Jacobian products ∂h_t/∂h_s",
}


def _shape(p) -> str:
    return "×".join(p.shape) if len(p.shape) > 1 else p.shape[0] if p.shape else "scalar"


def recursion_text(r: Recursion) -> str:
    start = vec(r.name, r.start_step)
    return f"{printing.text(r.lhs)} = {printing.text(r.body)},   {printing.text(start)} = {printing.text(r.start)}"


def recursion_latex(r: Recursion, align: str = "") -> str:
    """v_t = body, v_start = start as LaTeX; `align` ("&") goes before the first = for align environments."""
    start = vec(r.name, r.start_step)
    return (f"{printing.latex(r.lhs)} {align}= {printing.latex(r.body)}, \\qquad "
            f"{printing.latex(start)} = {printing.latex(r.start)}")


def _grouped_checks(g: MatrixGradient) -> list[str]:
    """One line per kind of check: how many forms, verdict, worst error."""
    groups: dict = {}
    for c in g.certificate.checks:
        groups.setdefault(c.how, []).append(c)
    out = []
    for how, checks in groups.items():
        verdict = "passed" if all(c.passed for c in checks) else "FAILED: " + ", ".join(c.name for c in checks if not c.passed)
        worst = max(c.max_error for c in checks)
        out.append(f"{len(checks)} form{'s' if len(checks) > 1 else ''} {how}: {verdict} (max relative error {worst:.1e})")
    return out


def text(d) -> str:
    """The matrix-form derivation as a student would read it in a terminal."""
    md: MatrixDerivation = d.matrix
    spec, T = md.spec, md.steps
    k, m, o = md.dims
    s = md.step_equations
    lines = [f"BPTT for the {spec.cell.name} cell: activation {spec.cell.activation}, loss {spec.loss}, "
             f"output {spec.output}, T = {T}, matrix form (k, m, o) = ({k}, {m}, {o})", "",
             "Model (column vectors: h_t ∈ R^k, x_t ∈ R^m, Y_t ∈ R^o)",
             f"  a_t = {printing.text(s.a_def)}    h_t = {printing.text(s.h_def)}    Y_t = {printing.text(s.Y_def)}",
             f"  ∂L_t/∂Y_t = {printing.text(s.g)}    (L = Σ_t L_t over the "
             f"{'steps 1..T' if spec.output == 'every' else 'last step T only'})",
             "  " + ", ".join(f"{p.name}: {_shape(p)}" for p in spec.cell.params), "",
             "Backwards in time (δ_t = ∂L/∂a_t)"]
    lines += [f"  {recursion_text(md.recursion(naming.DELTA))}",
              f"  equivalently  {recursion_text(md.recursions[1])}",
              "State gradients (γ_t = ∂L/∂h_t, Goodfellow et al. eqs. 10.19-10.21)",
              f"  {recursion_text(md.recursion('gamma'))}",
              "Jacobians (the factor with the largest i leftmost; an empty product is I)",
              f"  {printing.text(md.jacobian[0])} = {printing.text(md.jacobian[1])}", "",
              "Results, any T"]
    for g in md.gradients:
        seen, first = [], True
        for f in g.forms:
            if f.expr in seen:
                continue
            seen.append(f.expr)
            lead = f"  ∂L/∂{g.wrt} = " if first else " " * (len(g.wrt) + 6) + "= "
            lines.append(f"{lead}{printing.text(f.expr)}    [{FORM_TITLES[f.name]}]")
            first = False
    lines += ["", f"At T = {T}"]
    lines += [f"  {printing.text(sym)} = {printing.text(body)}" for sym, body in md.deltas]
    for g in md.gradients:
        lines.append(f"  ∂L/∂{g.wrt} = {printing.text(g.at_T)}")
        if g.expr != g.at_T:
            lines.append(f"{' ' * (len(g.wrt) + 6)}= {printing.text(g.expr)}")
        if g.certificate:
            lines += [f"    certified: {line}" for line in _grouped_checks(g)]
    verdict = "every result certified" if md.certified else "CERTIFICATION FAILED"
    return "\n".join(lines + ["", verdict]) + "\n"


def _form_json(e) -> dict:
    return {"expr": printing.parseable(e), "text": printing.text(e), "latex": printing.latex(e)}


def _recursion_json(r: Recursion) -> dict:
    start = vec(r.name, r.start_step)
    return {"lhs": printing.parseable(r.lhs), **_form_json(r.body),
            "start": {"lhs": printing.parseable(start), **_form_json(r.start)}}


def gradient_json(g: MatrixGradient) -> dict:
    return {
        "expr": printing.parseable(g.expr),
        "latex": printing.latex(g.expr),
        "text": printing.text(g.expr),
        "terms": [printing.parseable(t) for t in (g.expr.args if type(g.expr).__name__ == "Plus" else (g.expr,))],
        "delta": printing.parseable(g.at_T),
        "delta_latex": printing.latex(g.at_T),
        "general": printing.text(g.general),
        "general_latex": printing.latex(g.general),
        "forms": {f.name: _form_json(f.expr) for f in g.forms},
        "certificate": [str(c) for c in g.certificate.checks] if g.certificate else [],
        "certified": bool(g.certificate and g.certificate.ok),
    }


def to_json(d) -> str:
    md: MatrixDerivation = d.matrix
    return json.dumps({
        "model": md.spec.describe(),
        "steps": md.steps,
        "dims": list(md.dims),
        "syntax": SYNTAX,
        "gains": [p.name for p in md.spec.cell.params if not p.shape],   # pass to parse(…, gains=…)
        "gradients": {g.wrt: gradient_json(g) for g in md.gradients},
        "recursions": {"delta": _recursion_json(md.recursions[0]), "delta_diag": _recursion_json(md.recursions[1]),
                       "gamma": _recursion_json(md.recursions[2])},
        "deltas": {printing.parseable(sym): printing.parseable(body) for sym, body in md.deltas},
        "jacobian": {"lhs": printing.text(md.jacobian[0]), "lhs_latex": printing.latex(md.jacobian[0]),
                     **_form_json(md.jacobian[1])},
        "certified": md.certified,
    }, indent=2, ensure_ascii=False)


def latex_fragments(d) -> str:
    """The recursions and every gradient in each of its forms, as LaTeX display math."""
    md: MatrixDerivation = d.matrix
    out = ["\\begin{align*}\n"
           + " \\\\\n".join(recursion_latex(r, "&") for r in md.recursions)
           + f" \\\\\n{printing.latex(md.jacobian[0])} &= {printing.latex(md.jacobian[1])}\n\\end{{align*}}"]
    for g in md.gradients:
        name = printing.latex(vec(naming.STATE, 0)) if g.wrt == "h0" else printing.latex(naming.param(g.wrt))
        forms = []
        for f in g.forms:
            if f.expr not in forms:
                forms.append(f.expr)
        rows = [printing.latex(e) for e in forms] + [printing.latex(g.at_T) + rf" \qquad (T = {md.steps})"]
        out.append("\\begin{align*}\n"
                   f"\\frac{{\\partial L}}{{\\partial {name}}} &= " + " \\\\\n&= ".join(rows) + "\n\\end{align*}")
    return "\n".join(out) + "\n"
