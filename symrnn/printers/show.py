"""How results show themselves in a terminal and in Jupyter: the pieces every `__repr__`, `__str__`,
`_repr_latex_` and `_repr_html_` is made of (display math, a short one-line form, an HTML page)."""
from __future__ import annotations

import html as html_escape

REPR_LIMIT = 100   # characters of a repr's formula before it is cut with …


def brief(text: str, limit: int = REPR_LIMIT) -> str:
    """text on one line, cut to `limit` characters with … (for reprs)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


#: characters MathJax's \text{} would read as markup (braces, macros, math shifts), and what shows them instead
_TEXT_SAFE = str.maketrans({"{": "(", "}": ")", "\\": "∖", "$": "＄"})


def tex_text(text: str) -> str:
    """Plain text for \\text{…} in Jupyter's MathJax, which shows it literally but for braces, \\ and $."""
    return " ".join(text.translate(_TEXT_SAFE).split())


def aligned(rows) -> str:
    """Rows with `&` alignment as one display-math block for Jupyter's LaTeX view (MathJax)."""
    return r"$$\begin{aligned} " + r" \\ ".join(rows) + r" \end{aligned}$$"


def latex_page(sections) -> str:
    """Jupyter's LaTeX view of [(heading, [rows of LaTeX] or a text line)]: one display block, each heading a
    \\text row above its rows; a text line's items (split at ' · ') a \\text row each."""
    rows = []
    for heading, body in sections:
        rows.append(rf"&\text{{{tex_text(heading)}}}")
        rows += [rf"&\text{{{tex_text(item)}}}" for item in body.split(" · ")] if isinstance(body, str) else list(body)
    return aligned(rows)


def html_page(sections) -> str:
    """Jupyter's HTML view: [(heading, [rows of LaTeX] or HTML text)], the math typeset by the notebook's
    MathJax; every string is HTML-escaped (LaTeX's < and & included), so nothing in it is markup."""
    out = ['<div class="symrnn">']
    for heading, body in sections:
        out.append(f"<h4>{html_escape.escape(heading)}</h4>")
        if isinstance(body, str):
            out.append(f"<p>{html_escape.escape(body)}</p>")
        elif body:
            math = r"\begin{aligned} " + r" \\ ".join(body) + r" \end{aligned}"
            out.append(f"<p>\\[{html_escape.escape(math)}\\]</p>")
    out.append("</div>")
    return "\n".join(out)


__all__ = ["brief", "tex_text", "aligned", "latex_page", "html_page"]
