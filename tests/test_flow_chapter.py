"""The opt-in chapter "Why gradients vanish or explode": its numbers and figure are the flow's, it leaves the
document alone when not asked for, and it builds (TeX) for elman and lstm."""
import re
import shutil
import subprocess

import numpy as np
import pytest

import symrnn
from symrnn import cli
from symrnn.documents import flow_chapter, latex

TITLE = r"\section{Why gradients vanish or explode}"


def coords(tex: str) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in re.findall(r"\(([-\d.]+,[-\d.]+)\)", line)]
            for line in re.findall(r"plot coordinates \{([^}]*)\}", tex)]


def test_chapter_is_opt_in():
    d = symrnn.derive(symrnn.cells.elman(), steps=2)
    assert TITLE not in d.latex()
    assert TITLE in d.latex(flow=symrnn.flow(d.spec, steps=10))


@pytest.mark.parametrize("cell,dims", [("elman", (3, 2, 1)), ("lstm", (2, 2, 1)), ("docs/examples/leaky.toml", (3, 2, 1))])
def test_chapter_shows_the_flow(cell, dims):
    spec = symrnn.load_spec(cell) if cell.endswith(".toml") else symrnn.cells.build(cell)
    d = symrnn.derive(spec, steps=2, dims=dims, certify=False)
    f = symrnn.flow(spec, steps=20, dims=dims, radius=1.3)
    tex = d.latex(flow=f)
    chapter = tex[tex.index(TITLE):]
    states = spec.cell.states
    lines = coords(chapter)
    assert len(lines) == len(states) + 1                     # each state's norm, and the bound
    bound = f.bound if f.bound is not None else f.run_bound
    logs = [np.log10(f.norms[s]) for s in states] + [np.log10(bound)]
    # the figure's y is an affine image of log10 of the numbers, x of the lag: recover the map from two points
    ys = np.concatenate([np.array([y for _, y in line]) for line in lines])
    ls = np.concatenate(logs)
    scale, shift = np.polyfit(ls, ys, 1)
    np.testing.assert_allclose(ys, scale * ls + shift, atol=2e-3)
    np.testing.assert_allclose([x for x, _ in lines[0]], flow_chapter.WIDTH * f.lags / len(f.lags), atol=1e-3)
    # the table rows are the flow's numbers at their lags
    for lag, *cells in re.findall(r"^(\d+) & (.*) \\\\$", chapter, flags=re.M):
        values = [c.strip().strip("$") for c in cells[0].split(" & ")]
        for s, text in zip(states, values):
            assert _value(text) == pytest.approx(f.norms[s][int(lag) - 1], rel=1e-3)
        assert _value(values[-1]) == pytest.approx(bound[int(lag) - 1], rel=1e-3)
    for s in states:
        assert rf"\emph{{{f.verdicts[s]}}}" in chapter
    if cell == "lstm":
        assert r"\paragraph{The additive path.}" in chapter and r"\operatorname{diag}\left(f_{j}\right)" in chapter
    elif cell == "elman":
        assert r"\sigma_{\max}(W) = " in chapter and r"\paragraph{Saturation.}" in chapter
    else:
        assert rf"\beta = {f.beta:.4g}" in chapter and r"$\beta^{T-s}$" in chapter


def _value(text: str) -> float:
    m = re.fullmatch(r"([-\d.]+)(?: \\cdot 10\^\{(-?\d+)\})?", text)
    assert m, text
    return float(m.group(1)) * 10 ** int(m.group(2) or 0)


def test_flow_of_another_model_is_refused():
    d = symrnn.derive(symrnn.cells.elman(), steps=2, certify=False)
    with pytest.raises(symrnn.SymrnnError, match="flow is of"):
        d.latex(flow=symrnn.flow(symrnn.cells.elman(activation="relu"), steps=5))


def test_flow_without_a_document_is_one_line(capsys):
    assert cli.main(["derive", "--flow"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "--tex" in err


@pytest.mark.skipif(latex.tex_engine() is None or shutil.which("pdftotext") is None, reason="needs TeX and pdftotext")
@pytest.mark.parametrize("args", [[], ["--cell", "lstm", "--dims", "2,2,1"]])
def test_chapter_builds(args, tmp_path):
    pdf = tmp_path / "flow.pdf"
    assert cli.main(["derive", *args, "--flow", "--pdf", str(pdf)]) == 0
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Why gradients vanish or explode" in text and ("additive path" in text) == bool(args)
