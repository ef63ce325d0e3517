"""Building real PDFs with TeX: the lecture's text in order, pages that fit, escaping, errors.

These tests need TeX (latexmk or pdflatex) and pdftotext. `.ci/run` installs them; locally they
are skipped only when TeX is missing, and with SYMRNN_REQUIRE_TEX=1 (set by CI) a missing TeX fails.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

import symrnn
from symrnn import cli
from symrnn.documents import latex
from symrnn.errors import BuildFailed

HAVE_TEX = latex.tex_engine() is not None and shutil.which("pdftotext") is not None
if not HAVE_TEX and os.environ.get("SYMRNN_REQUIRE_TEX") == "1":
    raise RuntimeError("SYMRNN_REQUIRE_TEX=1 but latexmk/pdflatex or pdftotext is missing (see .ci/run)")
pytestmark = pytest.mark.skipif(not HAVE_TEX, reason="TeX (latexmk/pdflatex) and pdftotext are not installed")


def pdf_text(path) -> str:
    """The PDF's text with all white space removed (pdftotext splits math into pieces)."""
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", out)


def test_lecture_pdf_reproduces_the_lecture(tmp_path):
    pdf = tmp_path / "lecture.pdf"
    assert cli.main(["derive", "--pdf", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    text = pdf_text(pdf)
    # the lecture's BPTT section, in order (pdftotext writes h_1^2 as "h21")
    steps = [
        "a1=Wh0+Ux1+b",
        "L=L1+L2",
        "L1dependsonWonlythroughh1;L2throughh1andh2",
        "Itsufficestocompute",
        "sech2(a1)",
        "=(1−tanh2(a1))h0=(1−h21)h0",
        "=(1−h22)W",
        "=(1−h22)h1",
        "=(Y1−z1)V(1−h",                       # assembled ∂L/∂W (pdftotext may drop a superscript here)
        "+(Y2−z2)V(1−h22)W(1−h21)h0",
        "+(Y2−z2)V(1−h22)h1",
        "δ1=(1−h21)((Y1−z1)V+Wδ2)",
        "AnynumberofstepsT",
        "Thematrixform",
        "Everyresultinthisdocumentpassedallofitschecks",
    ]
    at = 0
    for s in steps:
        found = text.find(s, at)
        assert found >= 0, f"not in the PDF (or out of order): {s}"
        at = found
    assert text.count("Certified:") == 6 + 6      # every scalar result and every matrix gradient (with h0)
    assert "FAILED" not in text
    assert latex.written_by_symrnn(pdf)             # so a rebuild replaces it without --force
    assert cli.main(["derive", "--pdf", str(pdf), "--steps", "1"]) == 0


def _overfull(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("Overfull \\hbox")]


@pytest.mark.parametrize("steps,kw", [(4, {}), (12, {}), (3, dict(activation="sigmoid", loss="bce", output="last"))])
def test_long_expansions_stay_inside_the_page(tmp_path, steps, kw):
    d = symrnn.derive(symrnn.cells.elman(**kw), steps=steps, certify=steps <= 4)
    log = latex.build_pdf(latex.render(d, with_matrix=False), tmp_path / "doc.pdf")
    assert _overfull(log) == []


def test_matrix_pdf_fits(tmp_path):
    d = symrnn.derive(symrnn.cells.elman(), steps=3, dims=(4, 3, 2))
    log = latex.build_pdf(d.latex(), tmp_path / "matrix.pdf")
    assert _overfull(log) == []
    text = pdf_text(tmp_path / "matrix.pdf")
    assert "=δ1h⊤0+δ2h1+δ3h2" in text and "δ1=(1−h1⊙h1)⊙(V⊤(Y1−z1)+W⊤δ2)" in text


def test_injection_prints_as_text(tmp_path):
    spec = tmp_path / "evil.toml"
    spec.write_text('name = "\\\\input{/etc/passwd}"\nactivation = "tanh"\npreactivation = "W*h_prev + U*x"\n'
                    'output_map = "h"\n[params.W]\nrole = "\\\\input{/etc/passwd} $x$ & 100% #1"\n[params.U]\nrole = "u"\n')
    pdf = tmp_path / "evil.pdf"
    assert cli.main(["derive", "--cell", str(spec), "--pdf", str(pdf)]) == 0
    text = pdf_text(pdf)
    assert "\\input{/etc/passwd}$x$&100%#1" in text
    assert "root:" not in text


def test_latex_error_shows_the_log_and_writes_nothing(tmp_path):
    bad = "\\documentclass{article}\n\\begin{document}\n\\oops\n\\end{document}\n"
    with pytest.raises(BuildFailed) as e:
        latex.build_pdf(bad, tmp_path / "bad.pdf")
    assert "Undefined control sequence" in str(e.value) and "\\oops" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_shell_escape_is_off(tmp_path):
    probe = tmp_path / "probe"
    tex = ("\\documentclass{article}\n\\begin{document}\n\\immediate\\write18{touch " + str(probe) + "}\n"
           "x\n\\end{document}\n")
    latex.build_pdf(tex, tmp_path / "x.pdf")
    assert not probe.exists()


def test_pdf_is_reproducible(tmp_path):
    tex = symrnn.derive(symrnn.cells.elman(), steps=2).latex()
    latex.build_pdf(tex, tmp_path / "a.pdf")
    latex.build_pdf(tex, tmp_path / "b.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()


def _page_of(text_pages: list[str], needle: str) -> int:
    return next(k for k, page in enumerate(text_pages) if needle in page)


def test_gru_pdf_has_pictures_notes_and_every_section(tmp_path):
    pdf = tmp_path / "gru.pdf"
    assert cli.main(["derive", "--cell", "gru", "--pdf", str(pdf)]) == 0
    text = pdf_text(pdf)
    assert "PyTorchcallstheupdategatez" in text
    order = ["1Themodel", "2Twopicturesofthenetwork", "Figure1:", "3UnrolledoverT=2steps",
             "4Thechainruleovertheunrolledgraph", "5Localfactors", "6Thegradients,assembled", "δ-recursion",
             "Thematrixform", "Everyresultinthisdocumentpassedallofitschecks"]
    at = 0
    for s in order:
        found = text.find(s, at)
        assert found >= 0, f"not in the GRU PDF (or out of order): {s}"
        at = found
    assert "FAILED" not in text and text.count("statedhereonce") == 2   # once for the scalar part, once for the matrix
    # the figure is never inside §3: every unrolled row comes after the caption
    pages = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split("\f")
    pages = [re.sub(r"\s+", "", p) for p in pages]
    assert _page_of(pages, "Figure1:") <= _page_of(pages, "3UnrolledoverT=2steps")


@pytest.mark.parametrize("args", [["--cell", "lstm", "--dims", "3,2,2", "--steps", "3"],
                                  ["--cell", "docs/examples/leaky.toml"],
                                  ["--cell", "docs/examples/mgu.toml", "--dims", "3,2,2", "--steps", "3"]])
def test_any_cell_builds_a_pdf(tmp_path, args, monkeypatch):
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pdf = tmp_path / "cell.pdf"
    assert cli.main(["derive", *args, "--pdf", str(pdf)]) == 0
    text = pdf_text(pdf)
    assert "Figure1:" in text and "FAILED" not in text and "passedallofitschecks" in text


@pytest.mark.parametrize("cell,steps,dims", [("gru", 2, "scalar"), ("lstm", 3, (3, 2, 2)), ("mgu.toml", 3, (3, 2, 2))])
def test_gated_documents_stay_inside_the_page(tmp_path, cell, steps, dims):
    """A gated cell's ∂h_t/∂h_{t−1} is one factor wider than a row, its γ_t a sum wider than the page: the
    rows break and what cannot break is scaled to the line (no overfull box)."""
    from pathlib import Path
    spec = (symrnn.load_spec(Path(__file__).resolve().parent.parent / "docs" / "examples" / cell)
            if cell.endswith(".toml") else symrnn.cells.CELLS[cell]())
    d = symrnn.derive(spec, steps=steps, dims=dims, certify=False)
    log = latex.build_pdf(d.latex(), tmp_path / "doc.pdf")
    assert _overfull(log) == []
