"""symrnn grade: a class file in, summary.csv and a self-contained report.html out; one bad row never stops
the run; a file that cannot be read is one line and exit 2; nothing symrnn did not write is overwritten."""
import csv
import json
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from symrnn import cli
from symrnn.verification.grade import grade_file

import verify_corpus

EXAMPLE = ROOT / "docs" / "examples" / "class_T2.csv"
EXPECTED = [  # (student, param, verdict, a phrase of the diagnosis)
    ("Ada", "W", "correct", ""), ("Ada", "V", "correct", ""), ("Ben", "W", "correct", ""),
    ("Ben", "b", "wrong", "tanh' written as 1 - h1"), ("Chloé", "W", "wrong", "missing ∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W"),
    ("Chloé", "U", "correct", ""), ("Dmitri", "W", "wrong", "missing Σ_t"), ("Dmitri", "c", "wrong", "sign"),
    ("Eun-ji", "W", "wrong", "this is ∂L/∂U"), ("Farid", "W", "correct", ""), ("Grace", "W", "correct", ""),
    ("Grace", "V", "wrong", "squared error's"), ("Hugo", "W", "correct", ""), ("Hugo", "W", "wrong", "H(h1) is missing"),
    ("Inès", "W", "correct", ""), ("Jonas", "W", "wrong", "W² in ∂h2/∂h1"), ("Kofi", "W", "unreadable", "expected ')'"),
]


def run(*args):
    return subprocess.run([sys.executable, "-m", "symrnn", "grade", *args], capture_output=True, text=True, timeout=600)


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_the_example_class(tmp_path):
    r = run(str(EXAMPLE), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "graded 17 submissions" in r.stdout and "8 correct, 8 wrong, 1 unreadable" in r.stdout
    table = rows(tmp_path / "out" / "summary.csv")
    assert table[0] == ["student", "param", "verdict", "diagnosis"]
    for (student, param, verdict, phrase), row in zip(EXPECTED, table[1:], strict=True):
        assert row[:3] == [student, param, verdict] and phrase in row[3], row
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.count("<math") == 16 + 8 and "<script" not in page and "http" not in page.split("</style>")[1]
    assert page.count("<section>") == 11 and "Chloé" in page
    # a second run into the same directory replaces symrnn's own files without --force
    assert run(str(EXAMPLE), "-o", str(tmp_path / "out")).returncode == 0


def test_hostile_rows_are_escaped_and_do_not_stop_the_run(tmp_path):
    cls = tmp_path / "class.jsonl"
    lines = [
        {"student": "<script>alert(1)</script>", "param": "c", "answer": "Y1 - z1 + Y2 - z2"},
        {"student": "=HYPERLINK(\"http://x\")", "param": "c", "answer": "<b>oops</b>"},
        "{not json",
        [1, 2],
        {"student": "no answer", "param": "W"},
        {"student": "typo", "param": "W", "answer": "h1", "activaton": "relu"},
        {"student": "matrix", "param": "W", "answer": "h1", "dims": "2,2,2"},
        {"student": "file cell", "param": "W", "answer": "h1", "cell": "/dev/zero"},
        {"student": "steps", "param": "W", "answer": "h1", "steps": 99},
        {"student": "relu T3", "param": "V", "answer": "(Y1 - z1) h1 + (Y2 - z2) h2 + (Y3 - z3) h3",
         "activation": "relu", "steps": 3},
        {"student": "hostile", "param": "W", "answer": "exp(exp(exp(100)))"},
        {"student": "deep", "param": "W", "answer": "(" * 3000 + "h1" + ")" * 3000},
        {"student": "unknown param", "param": "Q", "answer": "h1"},
    ]
    cls.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["grade", str(cls), "-o", str(out)]) == 0
    table = rows(out / "summary.csv")[1:]
    assert [r[2] for r in table] == ["correct", "unreadable", "unreadable", "unreadable", "unreadable", "unreadable",
                                     "wrong", "unreadable", "unreadable", "correct", "unreadable", "unreadable",
                                     "unreadable"]
    assert table[1][0].startswith("'=")                      # no spreadsheet formula from a student's name
    reasons = " | ".join(r[3] for r in table)
    for phrase in ("not a JSON object", "no answer", "unknown key 'activaton'", "the answer is k×1, but ∂L/∂W has the shape of W: k×k",
                   "catalogue cell", "steps 99", "'exp(exp(100))' is larger than 10^400", "nested more than 200", "'Q'"):
        assert phrase in reasons, phrase
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;oops" in page


@pytest.mark.parametrize("content,culprit", [
    (None, "No such file or directory"),
    ("", "empty"),
    ("name,param,answer\nA,W,h1\n", "'student'"),
    ("student,param,answer,colour\nA,W,h1,red\n", "unknown column 'colour'"),
    ("student,param,answer\n", "no submissions"),
])
def test_a_file_that_cannot_be_read_is_exit_2(tmp_path, capsys, content, culprit):
    path = tmp_path / "class.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert cli.main(["grade", str(path), "-o", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and culprit in err
    assert not (tmp_path / "out" / "summary.csv").exists()


def test_devices_and_fifos_are_refused(tmp_path, capsys):
    import os
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, phrase in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"), (tmp_path, "directory")):
        assert cli.main(["grade", str(path), "-o", str(tmp_path / "out")]) == 2
        assert phrase in capsys.readouterr().err


def test_never_overwrites_what_symrnn_did_not_write(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("the teacher's own notes\n")
    assert cli.main(["grade", str(EXAMPLE), "-o", str(out)]) == 2
    assert "summary.csv exists and was not written by symrnn" in capsys.readouterr().err
    assert (out / "summary.csv").read_text() == "the teacher's own notes\n"
    assert cli.main(["grade", str(EXAMPLE), "-o", str(out), "--force"]) == 0
    assert cli.main(["grade", str(EXAMPLE), "-o", str(out)]) == 0          # symrnn's own files: replaced
    with open(out / "summary.csv", "a") as f:
        f.write("edited\n")
    assert cli.main(["grade", str(EXAMPLE), "-o", str(out)]) == 2          # edited since: the teacher's now
    assert "or was edited" in capsys.readouterr().err


def test_a_file_replaced_while_grading_is_not_clobbered(tmp_path, capsys, monkeypatch):
    """Ownership is judged when each file is put in place, not only before grading: no check-then-write window."""
    from symrnn import files
    out = tmp_path / "out"
    assert cli.main(["grade", str(EXAMPLE), "-o", str(out)]) == 0
    check = files.check_target

    def teacher_writes_meanwhile(path, *args, **kwargs):
        result = check(path, *args, **kwargs)
        if path.name == "summary.csv":
            path.write_text("the teacher's own notes\n")
        return result
    monkeypatch.setattr(files, "check_target", teacher_writes_meanwhile)
    assert cli.main(["grade", str(EXAMPLE), "-o", str(out)]) == 2
    assert "summary.csv exists and was not written by symrnn grade, or was edited since; use --force" \
        in capsys.readouterr().err
    assert (out / "summary.csv").read_text() == "the teacher's own notes\n"
    assert sorted(p.name for p in out.iterdir()) == [".symrnn-grade.json", "report.html", "summary.csv"]


def test_a_class_of_100_answers_in_under_a_minute(tmp_path):
    """One derivation per distinct model: 100 answers over 16 models, graded and written."""
    cases = [c for c in verify_corpus.CASES if c.verdict != "unreadable"][:100]
    assert len(cases) == 100
    cls = tmp_path / "class.jsonl"
    cls.write_text("".join(json.dumps({"student": c.id, "param": c.param, "answer": c.answer, **c.options}) + "\n"
                           for c in cases), encoding="utf-8")
    start = time.perf_counter()
    results, seconds = grade_file(str(cls), str(tmp_path / "out"))
    total = time.perf_counter() - start
    print(f"\ngraded {len(results)} answers over {len({c.model for c in cases})} models in {total:.1f} s")
    assert [r.verdict for r in results] == [c.verdict for c in cases]
    assert total < 60


def test_help():
    r = run("--help")
    assert r.returncode == 0 and "summary.csv" in r.stdout and "Traceback" not in r.stderr
