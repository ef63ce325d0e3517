"""A derivation in Jupyter: the document's sections as display math (`_repr_latex_`) and as an HTML
page (`_repr_html_`), made from the same rows as the PDF (`latex.document`), so the notebook shows
what the document shows: the model, the chain-rule expansion, the local factors with their
simplification steps, the results, the δ-recursion (matrix form: the adjoint recursion and every
gradient's forms) and the certificate, one ✓ per check.
"""
from __future__ import annotations

from ..printers import show
from . import latex


def _checks(gradients) -> list[str]:
    """Each gradient's checks as one line each: ✓ or ✗, what was compared, how closely."""
    out = []
    for g in gradients:
        if g.certificate is None:
            return ["✗ not certified (derived with certification switched off)"]
        out += [f"{'✓' if c.passed else '✗ FAILED'} ∂L/∂{g.wrt}: {c}" for c in g.certificate.checks]
    return out


def sections(d) -> list[tuple[str, object]]:
    """[(heading, rows of LaTeX or a line of text)] in the document's order."""
    doc = latex.document(d)
    model = [("The model", doc["model"]["equations"])]
    if d.matrix is None:
        out = model
        if d.expanded:
            out += [("The chain rule over the unrolled graph", [r for g in doc["chain"] for r in g["rows"]]),
                    ("Local factors", [r for rows in doc["factors"]["rows"] for r in rows])]
        out += [("The gradients, assembled", [r for g in doc["results"] for r in g["rows"]]),
                ("The δ-recursion", doc["delta"]["general"] + doc["delta"]["start"]),
                ("Certificate", " · ".join(_checks(d.gradients)))]
        return out
    mx = doc["matrix"]
    grads = []
    for g in mx["gradients"]:
        grads += g["forms"][0]["rows"] + g["at_T"]
    return model + [("One step", mx["equations"]),
                    ("Backwards in time", [r for group in mx["recursions"] for r in group]),
                    (f"The gradients (for any T, then written out at T = {mx['steps']})", grads),
                    ("Certificate", " · ".join(_checks(d.matrix.gradients)))]


def repr_latex(d) -> str:
    return show.latex_page(sections(d))


def repr_html(d) -> str:
    return show.html_page(sections(d))


__all__ = ["sections", "repr_latex", "repr_html"]
