"""symrnn grade: check a class's answers at once, one derivation per distinct model.

A class file is CSV with the header `student,param,answer` or JSON lines with those keys; a
row may override the model options with `steps`, `activation`, `loss`, `output`, `dims`,
`cell`. Each answer (SymPy syntax or LaTeX, told apart as verify --file does) is verified
against its model, derived and certified once (`model.model` caches it). A row that cannot be
read or checked is `unreadable` with the reason; it never stops the run.
"""
from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import CheckFailed, SymrnnError
from ..files import read_text
from ..model import cells
from ..model.spec import ModelSpec
from .model import model
from .reading import looks_like_latex, read, strip_comments
from .verify import Verdict, check, has_definitions, lecture_shaped, looks_like_matrix_latex
from .gradereport import check_outputs, write_outputs
from ..derivation.matrix import check_dims
from .matrixcheck import verify_matrix
from .cellcheck import verify_cell

COLUMNS = ("student", "param", "answer")
OPTIONS = ("steps", "activation", "loss", "output", "dims", "cell")
DEFAULTS = {"cell": "elman", "activation": None, "loss": None, "output": None, "steps": 2, "dims": "scalar"}
MAX_CLASS_BYTES = 20_000_000
MAX_ROWS = 5000


@dataclass(frozen=True)
class Submission:
    """One row of a class file: who, which gradient, the answer as typed, the model options it overrides."""

    line: int
    student: str
    param: str
    answer: str
    options: dict = field(default_factory=dict)
    problem: str = ""            # why the row itself cannot be read ("" when it can)


@dataclass(frozen=True)
class Graded:
    """A submission's verdict: `correct`, `wrong` or `unreadable`, its one-line diagnosis and the full report."""

    submission: Submission
    verdict: str
    diagnosis: str
    report: str = ""
    model: str = ""
    result: Verdict | None = None


def _text(value, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise SymrnnError(f"{key} must be text, not {type(value).__name__}")


def read_class(path: str) -> list[Submission]:
    """The submissions of a class file; a one-line error (exit 2) when the file itself cannot be read."""
    text = read_text(path, "class file", MAX_CLASS_BYTES).lstrip("\ufeff")
    if not text.strip():
        raise SymrnnError(f"grade {path}: the file is empty")
    rows = _json_lines(text) if text.lstrip().startswith("{") else _csv(text, path)
    if len(rows) > MAX_ROWS:
        raise SymrnnError(f"grade {path}: {len(rows)} submissions, more than the limit {MAX_ROWS}")
    if not rows:
        raise SymrnnError(f"grade {path}: no submissions after the header")
    return rows


def _row(line: int, record: dict) -> Submission:
    """A submission from one record; a record that is not one is a Submission with its problem."""
    try:
        unknown = sorted(k for k in record if k not in COLUMNS + OPTIONS)
        if unknown:
            raise SymrnnError(f"unknown key {unknown[0]!r} (known: {', '.join(COLUMNS + OPTIONS)})")
        values = {k: _text(record.get(k), k).strip() if k != "answer" else _text(record.get(k), k)
                  for k in COLUMNS + OPTIONS}
        missing = [k for k in COLUMNS if not values[k].strip()]
        if missing:
            raise SymrnnError(f"no {missing[0]}")
        options = {k: values[k] for k in OPTIONS if values[k]}
        return Submission(line, values["student"], values["param"], values["answer"], options)
    except SymrnnError as e:
        student = record.get("student") if isinstance(record.get("student"), str) else ""
        return Submission(line, student or f"(line {line})", str(record.get("param") or ""),
                          str(record.get("answer") or ""), {}, f"line {line}: {e}")


def _json_lines(text: str) -> list[Submission]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            msg = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
            out.append(Submission(n, f"(line {n})", "", line, {}, f"line {n}: not a JSON object: {msg}"))
            continue
        if not isinstance(record, dict):
            out.append(Submission(n, f"(line {n})", "", line, {}, f"line {n}: not a JSON object"))
            continue
        out.append(_row(n, record))
    return out


def _csv(text: str, path: str) -> list[Submission]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error) as e:
        raise SymrnnError(f"grade {path}: cannot read the header: {e}") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SymrnnError(f"grade {path}: the header has no column {missing[0]!r} (it must name "
                          f"{', '.join(COLUMNS)}; optional: {', '.join(OPTIONS)})")
    unknown = [h for h in header if h not in COLUMNS + OPTIONS]
    if unknown:
        raise SymrnnError(f"grade {path}: unknown column {unknown[0]!r} (known: {', '.join(COLUMNS + OPTIONS)})")
    out = []
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            out.append(Submission(reader.line_num, f"(line {reader.line_num})", "", "", {},
                                  f"line {reader.line_num}: {e}"))
            continue
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            out.append(Submission(reader.line_num, fields[0] if fields else "", "", "", {},
                                  f"line {reader.line_num}: {len(fields)} fields, the header has {len(header)} "
                                  f"(quote an answer that holds a comma)"))
            continue
        out.append(_row(reader.line_num, dict(zip(header, fields))))
    return out


def catalogue_spec(options: dict) -> ModelSpec:
    """A catalogue model from resolved options (a row may name a catalogue cell only, never a file)."""
    return cells.build(options["cell"], activation=options["activation"] or "tanh", loss=options["loss"] or "mse",
                       output=options["output"] or "every")


def _steps(value) -> int:
    try:
        steps = int(str(value).strip())
    except ValueError:
        raise SymrnnError(f"steps {str(value)!r}: not a whole number") from None
    return steps


def _dims(value) -> tuple[int, int, int]:
    """A row's dims: K,M,O (or a JSON list of three whole numbers)."""
    parts = value if isinstance(value, list) else str(value).strip().strip("()[]").split(",")
    try:
        dims = tuple(int(str(p).strip()) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3:
        raise SymrnnError(f"dims {str(value)!r}: expected 'scalar' or three sizes K,M,O such as 2,3,2")
    return dims


def _grade_matrix(s: "Submission", spec: ModelSpec, steps: int, dims, scalar: bool = False) -> "Graded":
    """A matrix-form answer (`matrixcheck`), LaTeX when it has a backslash, a ^ or a brace."""
    dims = dims if scalar else check_dims(dims, spec)
    answer = strip_comments(s.answer)
    latex = looks_like_matrix_latex(answer)
    v = verify_cell(spec, s.param, answer, latex, steps, "answer") if scalar else \
        verify_matrix(spec, s.param, answer, latex, steps, dims, "answer")
    what = f"{spec.name}, T = {steps}, (k, m, o) = {dims}"
    return Graded(s, "correct" if v.ok else "wrong", "" if v.ok else v.summary, v.report, what, v)


def grade_one(s: Submission, defaults: dict, spec_for: Callable[[dict], ModelSpec]) -> Graded:
    """One submission's verdict; everything that goes wrong becomes `unreadable` with the reason."""
    if s.problem:
        return Graded(s, "unreadable", s.problem)
    options = {**defaults, **s.options}
    try:
        if "cell" in s.options and s.options["cell"] not in cells.CELLS:
            raise SymrnnError(f"cell {s.options['cell']!r}: a row may name a catalogue cell "
                              f"({', '.join(cells.CELLS)}); give a cell file with --cell")
        spec = spec_for(options)
        steps = _steps(options["steps"])
        if str(options["dims"]).strip() != "scalar":
            return _grade_matrix(s, spec, steps, _dims(options["dims"]))
        if not lecture_shaped(spec) or has_definitions(strip_comments(s.answer)):
            return _grade_matrix(s, spec, steps, (1, 1, 1), scalar=True)
        m = model(spec, steps)
        m.gradient(s.param)
        answer = strip_comments(s.answer)
        given = read(m, s.param, latex=answer, what="answer") if looks_like_latex(answer) else \
            read(m, s.param, text=answer, what="answer")
        v = check(m, s.param, given)
        what = f"{spec.name}, T = {steps}"
        return Graded(s, "correct" if v.ok else "wrong", "" if v.ok else v.summary, v.report, what, v)
    except SymrnnError as e:
        return Graded(s, "unreadable", str(e))
    except CheckFailed as e:
        return Graded(s, "unreadable", f"symrnn could not check it: {e}")
    except Exception as e:        # a grading run never stops on one answer; the reason is kept for a bug report
        return Graded(s, "unreadable", f"symrnn failed on this answer (a bug, please report it): "
                                       f"{type(e).__name__}: {e}")


def grade(submissions: list[Submission], defaults: dict | None = None,
          spec_for: Callable[[dict], ModelSpec] = catalogue_spec) -> list[Graded]:
    """Every submission's verdict, in order (one derivation per distinct model)."""
    defaults = {**DEFAULTS, **(defaults or {})}
    specs: dict = {}

    def spec_once(options: dict) -> ModelSpec:        # a cell file is read once, not once per row
        key = tuple(options.get(k) for k in ("cell", "activation", "loss", "output"))
        if key not in specs:
            specs[key] = spec_for(options)
        return specs[key]
    return [grade_one(s, defaults, spec_once) for s in submissions]


def grade_file(path: str, out_dir: str, *, defaults: dict | None = None, force: bool = False,
               spec_for: Callable[[dict], ModelSpec] = catalogue_spec) -> tuple[list[Graded], float]:
    """Grade a class file and write out_dir/summary.csv and out_dir/report.html: (the results, seconds)."""
    submissions = read_class(path)
    outputs = check_outputs(out_dir, force)
    start = time.perf_counter()
    results = grade(submissions, defaults, spec_for)
    seconds = time.perf_counter() - start
    write_outputs(outputs, results, path, seconds)
    return results, seconds


__all__ = ["grade", "grade_file", "grade_one", "read_class", "Submission", "Graded", "catalogue_spec"]
