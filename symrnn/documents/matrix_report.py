"""A matrix-form derivation as terminal text, as JSON, and as LaTeX fragments (`report.py` dispatches here)."""
from __future__ import annotations

import json

from .. import naming
from ..printers import lecture as printing
from ..derivation.matrix import MatrixDerivation, MatrixGradient, Recursion, substituted_size, vec
from ..derivation.program import primal
from ..ir.nodes import Vec, Zeros, addends

SHOWN_SUBSTITUTED = 5000   # nodes: larger fully substituted gradients are shown in the δ form's vectors only

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


def recursion_text(r: Recursion) -> list[str]:
    """v_t = body for each vector of the recursion, then where it starts (one line for Elman's δ)."""
    starts = _starts(r, printing.text)
    if len(r.equations) == 1:
        return [f"{printing.text(r.lhs)} = {printing.text(r.body)},   {starts}"]
    return [f"{printing.text(lhs)} = {printing.text(body)}" for lhs, body in r.equations] + [f"from {starts}"]


def _starts(r: Recursion, pr) -> str:
    """δ_{T+1} = 0 (several vectors: h̄_{T+1} = δʳ_{T+1} = 0), or each start at T."""
    if all(isinstance(body, Zeros) for _, body in r.starts):
        return " = ".join(pr(lhs) for lhs, _ in r.starts) + " = 0"
    return ",   ".join(f"{pr(lhs)} = {pr(body)}" for lhs, body in r.starts)


def recursion_latex(r: Recursion, align: str = "") -> str:
    """v_t = body, v_start = start as LaTeX; `align` ("&") goes before the first = for align environments."""
    rows = [f"{printing.latex(lhs)} {align}= {printing.latex(body)}" for lhs, body in r.equations]
    rows[-1] += rf", \qquad {_starts(r, printing.latex)}"
    return " \\\\\n".join(rows)


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


def what_is_named(md: MatrixDerivation) -> str:
    """What the δ-recursion's vectors are, in words."""
    names = md.recursion("delta").names
    if names == (naming.DELTA,):
        pre = md.step_equations.equations[0][0]
        return f"δ_t = ∂L/∂{printing.text(pre)}"
    parts = []
    preacts = dict((feeds, pre) for pre, feeds in primal(md.spec.cell).preacts)
    for name in names:
        v = vec(name, naming.t)
        d = naming.decorated(name)
        if name == naming.DELTA:
            pre = next(iter(preacts.values()))
            parts.append(f"{printing.text(v)} = ∂L/∂{printing.text(vec(pre, naming.t))}")
        elif d and d[2]:
            parts.append(f"{printing.text(v)} = ∂L/∂{printing.text(vec(d[0], naming.t))}")
        elif d and d[0] == naming.DELTA:
            parts.append(f"{printing.text(v)} = ∂L/∂{printing.text(vec(naming.preactivation(d[1]), naming.t))}")
    return ", ".join(parts)


def model_lines(md: MatrixDerivation) -> list[str]:
    """The step's equations, on one line when they fit."""
    s = md.step_equations
    rows = [f"{printing.text(lhs)} = {printing.text(rhs)}" for lhs, rhs in s.equations] + \
        [f"{printing.text(s.Y)} = {printing.text(s.Y_def)}"]
    line = "    ".join(rows)
    return [f"  {line}"] if len(line) <= 100 else [f"  {row}" for row in rows]


def text(d) -> str:
    """The matrix-form derivation as a student would read it in a terminal."""
    md: MatrixDerivation = d
    spec, T = md.spec, md.steps
    k, m, o = md.dims
    s = md.step_equations
    several = len(spec.cell.states) > 1
    lines = [f"BPTT for the {spec.cell.name} cell: activation {spec.cell.activation}, loss {spec.loss}, "
             f"output {spec.output}, T = {T}, matrix form (k, m, o) = ({k}, {m}, {o})", "",
             "Model (column vectors: h_t ∈ R^k, x_t ∈ R^m, Y_t ∈ R^o)"]
    lines += model_lines(md)
    lines += [f"  ∂L_t/∂Y_t = {printing.text(s.g)}    (L = Σ_t L_t over the "
              f"{'steps 1..T' if spec.output == 'every' else 'last step T only'})",
              "  " + ", ".join(f"{p.name}: {_shape(p)}" for p in spec.cell.params)]
    lines += [f"  note: {n}" for n in spec.cell.notes]
    lines += ["", f"Backwards in time ({what_is_named(md)})"]
    lines += [f"  {row}" for row in recursion_text(md.recursion("delta"))]
    diag = recursion_text(md.recursion("diag"))
    lines += [f"  equivalently  {diag[0]}"] + [f"                {row}" for row in diag[1:]]
    gammas = "γ_t = ∂L/∂h_t" + (", γᶜ_t = ∂L/∂c_t" if several else "")
    lines += [f"State gradients ({gammas}, Goodfellow et al. eqs. 10.19-10.21)"]
    lines += [f"  {row}" for row in recursion_text(md.recursion("state"))]
    index = "j" if naming.product_index(primal_names(md)) == naming.j else "i"
    lines += [f"Jacobians (the factor with the largest {index} leftmost; an empty product is I"
              + ("; s_t = (h_t, c_t) stacked)" if several else ")"),
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
        if substituted_size(g.at_T, g.deltas) <= SHOWN_SUBSTITUTED and g.expr != g.at_T:
            lines.append(f"{' ' * (len(g.wrt) + 6)}= {printing.text(g.expr)}")
        if g.certificate:
            lines += [f"    certified: {line}" for line in _grouped_checks(g)]
    verdict = "every result certified" if md.certified else "CERTIFICATION FAILED"
    return "\n".join(lines + ["", verdict]) + "\n"


def primal_names(md: MatrixDerivation) -> tuple[str, ...]:
    return tuple(lhs.role for lhs, _ in md.step_equations.equations)


def _form_json(e) -> dict:
    return {"expr": printing.parseable(e), "text": printing.text(e), "latex": printing.latex(e)}


def _recursion_json(r: Recursion) -> dict:
    """The first vector's recursion at the top level (Elman's δ), every vector's under "equations"."""
    first, start = r.equations[0], r.starts[0]
    return {"lhs": printing.parseable(first[0]), **_form_json(first[1]),
            "start": {"lhs": printing.parseable(start[0]), **_form_json(start[1])},
            "equations": [{"lhs": printing.parseable(lhs), **_form_json(body)} for lhs, body in r.equations],
            "starts": [{"lhs": printing.parseable(lhs), **_form_json(body)} for lhs, body in r.starts]}


def gradient_json(g: MatrixGradient) -> dict:
    """The gradient: `expr` in lecture symbols when it is small enough to print, else in the δ form's vectors."""
    expr = g.expr if substituted_size(g.at_T, g.deltas) <= SHOWN_SUBSTITUTED else g.at_T
    return {
        "expr": printing.parseable(expr),
        "latex": printing.latex(expr),
        "text": printing.text(expr),
        "terms": [printing.parseable(t) for t in addends(expr)],
        "delta": printing.parseable(g.at_T),
        "delta_latex": printing.latex(g.at_T),
        "general": printing.text(g.general),
        "general_latex": printing.latex(g.general),
        "forms": {f.name: _form_json(f.expr) for f in g.forms},
        "certificate": [str(c) for c in g.certificate.checks] if g.certificate else [],
        "certified": bool(g.certificate and g.certificate.ok),
    }


def to_json(d) -> str:
    md: MatrixDerivation = d
    return json.dumps({
        "model": md.spec.describe(),
        "steps": md.steps,
        "dims": list(md.dims),
        "syntax": SYNTAX,
        "gains": [p.name for p in md.spec.cell.params if not p.shape],   # pass to parse(…, gains=…)
        "gradients": {g.wrt: gradient_json(g) for g in md.gradients},
        "recursions": {"delta": _recursion_json(md.recursion("delta")),
                       "delta_diag": _recursion_json(md.recursion("diag")),
                       "gamma": _recursion_json(md.recursion("state"))},
        "vectors": sorted({v.role for g in md.gradients for v in g.at_T.atoms(Vec)} | set(primal_names(md))),
        "deltas": {printing.parseable(sym): printing.parseable(body) for sym, body in md.deltas},
        "jacobian": {"lhs": printing.text(md.jacobian[0]), "lhs_latex": printing.latex(md.jacobian[0]),
                     **_form_json(md.jacobian[1])},
        "certified": md.certified,
    }, indent=2, ensure_ascii=False)


def latex_fragments(d) -> str:
    """The recursions and every gradient in each of its forms, as LaTeX display math."""
    md: MatrixDerivation = d
    out = ["\\begin{align*}\n"
           + " \\\\\n".join(recursion_latex(r, "&") for r in md.recursions)
           + f" \\\\\n{printing.latex(md.jacobian[0])} &= {printing.latex(md.jacobian[1])}\n\\end{{align*}}"]
    for g in md.gradients:
        name = printing.latex(naming.at(g.wrt[:-1], 0)) if g.wrt in md.spec.cell.initial else printing.latex(naming.param(g.wrt))
        forms = []
        for f in g.forms:
            if f.expr not in forms:
                forms.append(f.expr)
        rows = [printing.latex(e) for e in forms] + [printing.latex(g.at_T) + rf" \qquad (T = {md.steps})"]
        out.append("\\begin{align*}\n"
                   f"\\frac{{\\partial L}}{{\\partial {name}}} &= " + " \\\\\n&= ".join(rows) + "\n\\end{align*}")
    return "\n".join(out) + "\n"
