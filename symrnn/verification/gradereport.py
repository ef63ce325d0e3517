"""A graded class on disk: DIR/summary.csv (one row per submission) and a self-contained DIR/report.html.

The HTML needs no network: formulas are MathML written inline (every current browser renders
it), the style is inline, there is no script. Everything that came from the class file is
HTML-escaped; spreadsheet cells that would start a formula (= + - @) are prefixed with '.
Both files are written atomically, and a file symrnn did not write (or that was edited since:
a manifest .symrnn-grade.json keeps the hash of what symrnn wrote) is replaced only with --force.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from collections import Counter
from pathlib import Path

import sympy as sp
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.precedence import PRECEDENCE

from ..errors import SymrnnError
from ..files import write_atomic
from .grade import Graded
from .printing import PathOrder, order

FILES = ("summary.csv", "report.html")
MANIFEST = ".symrnn-grade.json"
FORMULA = ("=", "+", "-", "@", "\t", "\r")


# -- formulas -------------------------------------------------------------------------------

class AnswerMathML(PathOrder, MathMLPresentationPrinter):
    """MathML in the lecture's notation: σ, relu, H, Leibniz partials, products in the chain rule's order."""

    def _named(self, name: str, *args):
        mi = self.dom.createElement("mi")
        mi.appendChild(self.dom.createTextNode(name))
        row = self.dom.createElement("mrow")
        row.appendChild(mi)
        row.appendChild(self._paren_comma_separated(*args))
        return row

    def _print_sigmoid(self, e):
        return self._named("σ", *e.args)

    def _print_relu(self, e):
        return self._named("relu", *e.args)

    def _print_Heaviside(self, e):
        return self._named("H", e.args[0])

    def _row(self, items, op: str | None):
        row = self.dom.createElement("mrow")
        for k, item in enumerate(items):
            if k and op is not None:
                mo = self.dom.createElement("mo")
                mo.appendChild(self.dom.createTextNode(op))
                row.appendChild(mo)
            row.appendChild(item)
        return row

    def _print_Chain(self, e):
        return self._row([self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in e.args], "\u2062")

    def _print_Terms(self, e):
        return self._row([self._print(a) for a in e.args], "+")

    def _print_Partial(self, e):
        frac = self.dom.createElement("mfrac")
        for mark, q in (("∂⁺" if e.immediate else "∂", e.num), ("∂", e.den)):
            mo = self.dom.createElement("mo")
            mo.appendChild(self.dom.createTextNode(mark))
            frac.appendChild(self._row([mo, self._print(q)], None))
        return frac

    def _print_Mul(self, expr):
        c, rest = expr.as_coeff_Mul()
        if c.is_negative:
            mo = self.dom.createElement("mo")
            mo.appendChild(self.dom.createTextNode("-"))
            return self._row([mo, self._print_Mul(-expr)], None)
        num, den = [], []
        for a in sp.Mul.make_args(rest):
            (den if a.is_Pow and a.exp.is_Rational and a.exp.is_negative else num).append(a)
        items = [self._print(c)] if c != 1 or not num else []
        items += [self.parenthesize(f, PRECEDENCE["Mul"], strict=False) for f in order(num)]
        top = self._row(items, "\u2062") if len(items) != 1 else items[0]
        if not den:
            return top
        frac = self.dom.createElement("mfrac")
        frac.appendChild(top)
        frac.appendChild(self._print(sp.Mul(*(d.base ** -d.exp for d in den))))
        return frac


def mathml(expr) -> str:
    """expr as an inline <math> element."""
    return f'<math display="inline">{AnswerMathML().doprint(expr)}</math>'


# -- files ----------------------------------------------------------------------------------

def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(out: Path) -> dict:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def check_outputs(out_dir: str, force: bool) -> Path:
    """The output directory, created when missing; a one-line error when a file in it is not symrnn's."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SymrnnError(f"-o {out_dir}: exists and is not a directory")
    if not out.exists():
        if not out.parent.is_dir():
            raise SymrnnError(f"-o {out_dir}: directory {out.parent} does not exist")
        try:
            out.mkdir()
        except OSError as e:
            raise SymrnnError(f"-o {out_dir}: cannot create it: {e.strerror}") from None
    ours = _manifest(out)
    for name in FILES:
        path = out / name
        if path.is_dir() or (path.exists() and not path.is_file()):
            raise SymrnnError(f"-o {out_dir}: {name} exists and is not a regular file")
        if path.exists() and not force:
            try:
                mine = ours.get(name) == _digest(path.read_bytes())
            except OSError:
                mine = False
            if not mine:
                raise SymrnnError(f"-o {out_dir}: {name} exists and was not written by symrnn grade (or was edited "
                                  f"since); use --force to overwrite it")
    return out


def _cell(value: str) -> str:
    """A spreadsheet cell that cannot start a formula."""
    value = " ".join(str(value).split())
    return "'" + value if value.startswith(FORMULA) else value


def summary_csv(results: list[Graded]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", "param", "verdict", "diagnosis"])
    for r in results:
        w.writerow([_cell(r.submission.student), _cell(r.submission.param), r.verdict, _cell(r.diagnosis)])
    return buf.getvalue()


STYLE = """body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top;
text-align:left}th{background:#f3f3f3}.correct{color:#176b2c;font-weight:600}.wrong{color:#a11;font-weight:600}
.unreadable{color:#8a5a00;font-weight:600}pre{background:#f7f7f7;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
section{border-top:2px solid #ddd;margin-top:2rem}math{font-size:1.1em}.small{color:#666;font-size:.9em}"""


def report_html(results: list[Graded], source: str, seconds: float) -> str:
    """The class's report: counts, a table of every submission, then each student's answers in full."""
    e = html.escape
    counts = Counter(r.verdict for r in results)
    rows, sections, students = [], {}, []
    for k, r in enumerate(results):
        s = r.submission
        anchor = f"s{k}"
        rows.append(f'<tr><td><a href="#{anchor}">{e(s.student)}</a></td><td>{e(s.param)}</td>'
                    f'<td class="{r.verdict}">{r.verdict}</td><td>{e(r.diagnosis)}</td></tr>')
        if s.student not in sections:
            sections[s.student] = []
            students.append(s.student)
        body = [f'<h3 id="{anchor}">∂L/∂{e(s.param)} <span class="{r.verdict}">{r.verdict}</span>'
                f'<span class="small"> — line {s.line}{", " + e(r.model) if r.model else ""}</span></h3>',
                f"<p>Answer as given:</p><pre>{e(s.answer)}</pre>"]
        if r.result is not None:
            body.append(f"<p>Read as: {mathml(r.result.yours)}</p>")
            if not r.result.ok:
                body.append(f"<p>True gradient: {mathml(r.result.true)}</p>")
            body.append(f"<pre>{e(r.report)}</pre>")
        else:
            body.append(f"<p>{e(r.diagnosis)}</p>")
        sections[s.student].append("\n".join(body))
    per_student = "\n".join(f"<section><h2>{e(name)}</h2>\n" + "\n".join(sections[name]) + "</section>"
                            for name in students)
    return f"""<!DOCTYPE html>
<!-- written by symrnn grade -->
<html lang="en"><head><meta charset="utf-8"><title>symrnn grade: {e(Path(source).name)}</title>
<style>{STYLE}</style></head><body>
<h1>Graded: {e(Path(source).name)}</h1>
<p>{len(results)} submissions: <span class="correct">{counts['correct']} correct</span>,
<span class="wrong">{counts['wrong']} wrong</span>, <span class="unreadable">{counts['unreadable']} unreadable</span>
<span class="small">(checked in {seconds:.1f} s; each answer against the derived and certified gradient, exactly
where possible and at random points in 50-digit arithmetic, relu per sign pattern)</span></p>
<table><tr><th>student</th><th>param</th><th>verdict</th><th>diagnosis</th></tr>
{chr(10).join(rows)}
</table>
{per_student}
</body></html>
"""


def write_outputs(out: Path, results: list[Graded], source: str, seconds: float) -> None:
    """summary.csv and report.html, each atomically, then the manifest that marks them as symrnn's."""
    data = {"summary.csv": summary_csv(results).encode("utf-8"),
            "report.html": report_html(results, source, seconds).encode("utf-8")}
    for name, content in data.items():
        write_atomic(out / name, content)
    write_atomic(out / MANIFEST, json.dumps({name: _digest(d) for name, d in data.items()}, indent=1) + "\n")


__all__ = ["check_outputs", "write_outputs", "summary_csv", "report_html", "mathml", "AnswerMathML"]
