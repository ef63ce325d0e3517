"""A graded class on disk: DIR/summary.csv (one row per submission) and a self-contained DIR/report.html.

The HTML needs no network: formulas are MathML written inline (every current browser renders
it), the style is inline, there is no script. Everything that came from the class file is
HTML-escaped; spreadsheet cells that would start a formula (= + - @) are prefixed with '.
Both files are written atomically with `symrnn.files.write_atomic`, and a file symrnn grade did not
write (or that was edited since: a manifest .symrnn-grade.json keeps the size and hash of what it
wrote) is replaced only with --force.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import sympy as sp
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.precedence import PRECEDENCE

from ..errors import SymrnnError
from ..files import check_target, read_text, write_atomic
from ..printers.lecture import text as matrix_text
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
#
# Ownership is proved by content: the manifest keeps the size and SHA-256 of what symrnn grade wrote
# under each name, and `files.write_atomic` asks `_judge` about the file it finds there (after moving
# it aside, so nobody can swap it between the judgement and the replacement). The manifest is
# written before the files with both the old and the new digests accepted, and again after with the
# new ones only: a run stopped half-way leaves nothing that the next run would take for the teacher's.

OURS_IS = "written by symrnn grade, or was edited since"
MANIFEST_MARK = "symrnn grade"
MAX_MANIFEST = 1 << 16


@dataclass(frozen=True)
class Outputs:
    """An output directory checked for writing: what symrnn grade wrote there before, and --force."""

    out: Path
    force: bool
    accepted: dict[str, frozenset[tuple[int, str]]]     # name -> {(size, sha256)} of symrnn grade's writes


def _fingerprint(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


def _digests(text: str) -> dict[str, frozenset[tuple[int, str]]] | None:
    """The accepted fingerprints of a manifest's text, or None when it is not a symrnn grade manifest."""
    try:
        data = json.loads(text)
        if not (isinstance(data, dict) and data.get("written by") == MANIFEST_MARK):
            return None
        return {name: frozenset((int(size), str(digest)) for size, digest in data["files"].get(name, []))
                for name in FILES}
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def _manifest_text(accepted: dict[str, frozenset[tuple[int, str]]]) -> str:
    files = {name: sorted([size, digest] for size, digest in accepted[name]) for name in FILES}
    return json.dumps({"written by": MANIFEST_MARK, "files": files}, indent=1) + "\n"


def _is_manifest(path) -> bool:
    try:
        return _digests(read_text(path, "grade manifest", MAX_MANIFEST)) is not None
    except SymrnnError:
        return False


def _judge(accepted: frozenset[tuple[int, str]]):
    """`ours` for one output name: the file is exactly one that symrnn grade wrote there."""
    sizes = {size for size, _ in accepted}

    def ours(path) -> bool:
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size not in sizes:     # never hash a stranger's large file
                    return False
                data = f.read(max(sizes) + 1)
        except OSError:
            return False
        return _fingerprint(data) in accepted
    return ours


def check_outputs(out_dir: str, force: bool) -> Outputs:
    """The output directory, created when missing; a one-line error when a file in it is not symrnn's
    (checked again, with no window, when each file is written)."""
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
    try:
        accepted = _digests(read_text(out / MANIFEST, "grade manifest", MAX_MANIFEST))
    except SymrnnError:            # none yet, or not a file: nothing in out is known to be symrnn grade's
        accepted = None
    accepted = accepted or {name: frozenset() for name in FILES}
    for name in FILES:
        check_target(out / name, _judge(accepted[name]), force, ours_is=OURS_IS)
    check_target(out / MANIFEST, _is_manifest, force, ours_is=OURS_IS)
    return Outputs(out, force, accepted)


def _cell(value: str) -> str:
    """A spreadsheet cell that cannot start a formula."""
    value = " ".join(str(value).split())
    return "'" + value if value.startswith(FORMULA) else value


def summary_csv(results: list) -> str:   # of grade.Graded (not imported: grade imports this module)
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


def report_html(results: list, source: str, seconds: float) -> str:
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
        if r.result is not None and hasattr(r.result, "lines"):    # matrix form: each line as read, in text
            read_as = "\n".join(f"{lv.what} = {matrix_text(lv.line.rhs)}" for lv in r.result.lines)
            body.append(f"<p>Read as:</p><pre>{e(read_as)}</pre>")
            body.append(f"<pre>{e(r.report)}</pre>")
        elif r.result is not None:
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


def write_outputs(outputs: Outputs, results: list, source: str, seconds: float) -> None:
    """summary.csv and report.html, each atomically and never over a file symrnn grade did not write
    (unless forced); the manifest before them (old and new accepted) and after them (new only)."""
    out, force = outputs.out, outputs.force
    data = {"summary.csv": summary_csv(results).encode("utf-8"),
            "report.html": report_html(results, source, seconds).encode("utf-8")}
    new = {name: frozenset([_fingerprint(content)]) for name, content in data.items()}
    both = {name: outputs.accepted[name] | new[name] for name in FILES}
    write_atomic(out / MANIFEST, _manifest_text(both), ours=_is_manifest, force=force, ours_is=OURS_IS)
    for name, content in data.items():
        write_atomic(out / name, content, ours=_judge(outputs.accepted[name]), force=force, ours_is=OURS_IS)
    write_atomic(out / MANIFEST, _manifest_text(new), ours=_is_manifest, force=force, ours_is=OURS_IS)


__all__ = ["Outputs", "check_outputs", "write_outputs", "summary_csv", "report_html", "mathml", "AnswerMathML"]
