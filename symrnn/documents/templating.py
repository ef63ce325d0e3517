"""The strict Jinja2 environments (LaTeX documents, Python kernels), and the one place that finds `templates/`.

LaTeX is full of `{% %}` and `{{ }}`, so the LaTeX environment uses delimiters LaTeX never
writes: `\\VAR{x}` for a value, `\\BLOCK{if …}` for a statement, `\\#{…}` for a comment, and
line statements starting with `%%`. Undefined names are errors (StrictUndefined). Values are
inserted verbatim — they are LaTeX made by the printers — except user text, which goes
through the `tex` filter (`symrnn.texescape.escape`).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from ..printers.texescape import escape

PACKAGE = Path(__file__).resolve().parent.parent  # symrnn/


def templates_dir() -> Path:
    """`symrnn/templates` inside an installed wheel (hatch force-include), else `templates/` of the checkout."""
    for candidate in (PACKAGE / "templates", PACKAGE.parent / "templates"):
        if (candidate / "derivation.tex.jinja").is_file():
            return candidate
    raise FileNotFoundError(f"symrnn's templates are missing: looked in {PACKAGE / 'templates'} and "
                            f"{PACKAGE.parent / 'templates'}; reinstall symrnn")


@lru_cache(maxsize=None)
def latex_env() -> jinja2.Environment:
    """Jinja2 for LaTeX: \\VAR{} \\BLOCK{} \\#{} and %% line statements, strict, no autoescape."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        block_start_string=r"\BLOCK{", block_end_string="}",
        variable_start_string=r"\VAR{", variable_end_string="}",
        comment_start_string=r"\#{", comment_end_string="}",
        line_statement_prefix="%%", line_comment_prefix="%#",
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False, undefined=jinja2.StrictUndefined,
    )
    env.filters["tex"] = escape
    return env


def render_latex(template: str, **context) -> str:
    """Render a LaTeX template with the given values (all of them LaTeX already, or passed through `tex`)."""
    return latex_env().get_template(template).render(**context)


@lru_cache(maxsize=None)
def code_env() -> jinja2.Environment:
    """Jinja2 for Python source: the usual delimiters, strict, no autoescape, trailing newline kept."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False, undefined=jinja2.StrictUndefined,
    )
    env.filters["repr"] = repr
    return env


def render_code(template: str, **context) -> str:
    """Render a code template with values that are code already (printed by `kernel_printing`)."""
    return code_env().get_template(template).render(**context)
