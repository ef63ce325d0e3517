"""Figures (matplotlib, the `plot` extra): written, non-empty, their data the computed numbers, byte-stable;
without matplotlib a one-line refusal and nothing written."""
import math

import numpy as np
import pytest

import symrnn
from symrnn import cli
from symrnn.analysis import dynamics, gallery, pictures
from symrnn.analysis.flow_report import state_name

matplotlib = pytest.importorskip("matplotlib")     # .ci/run installs the extra; elsewhere the figures are optional

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
MAGIC = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}


def run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def lines_by_gid(fig) -> dict:
    return {line.get_gid(): line for ax in fig.axes for line in ax.lines if line.get_gid()}


def test_flow_figure_draws_the_numbers():
    f = symrnn.flow(symrnn.cells.lstm(), steps=30, dims=(4, 3, 2), radius=0.9)
    lines = lines_by_gid(pictures.flow_figure(f))
    for state in ("h", "c"):
        line = lines[f"norm-lstm-{state}"]
        np.testing.assert_array_equal(line.get_xdata(), f.lags)
        np.testing.assert_array_equal(line.get_ydata(), f.norms[state])
        assert f"‖∂{state_name(state)}_T/∂{state_name(state)}_s‖₂" in line.get_label()
    np.testing.assert_array_equal(lines["bound"].get_ydata(), f.run_bound)
    e = symrnn.flow(symrnn.cells.elman(), steps=30, dims=(4, 3, 2), radius=1.5)
    np.testing.assert_array_equal(lines_by_gid(pictures.flow_figure(e))["bound"].get_ydata(), e.bound)


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_flow_plot_is_written_by_extension(fmt, tmp_path, capsys):
    path = tmp_path / f"flow.{fmt}"
    code, out, err = run(capsys, "flow", "--dims", "3,2,1", "--steps", "20", "--plot", str(path))
    assert code == 0 and f"wrote {path}" in out and err == ""
    data = path.read_bytes()
    assert data.startswith(MAGIC[fmt]) and len(data) > 1000 and pictures.written_by_symrnn(path)
    assert run(capsys, "flow", "--dims", "3,2,1", "--steps", "20", "--plot", str(path))[0] == 0   # ours: replaced
    assert path.read_bytes() == data                                                             # the same bytes


def test_plot_does_not_overwrite_a_foreign_file(tmp_path, capsys):
    path = tmp_path / "mine.png"
    path.write_bytes(b"\x89PNG my picture")
    code, out, err = run(capsys, "flow", "--plot", str(path))
    assert code == 2 and out == "" and "--force" in err and len(err.strip().splitlines()) == 1
    assert path.read_bytes() == b"\x89PNG my picture"
    assert run(capsys, "flow", "--plot", str(path), "--force")[0] == 0


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_render_is_reproducible(fmt):
    f = symrnn.flow(symrnn.cells.elman(), steps=20, dims=(3, 2, 1))
    assert pictures.render(pictures.flow_figure(f), fmt) == pictures.render(pictures.flow_figure(f), fmt)


def test_without_matplotlib_one_line_and_nothing_written(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(pictures, "available", lambda: False)
    for args in (["flow", "--plot", str(tmp_path / "f.png")], ["dynamics", "--plot", str(tmp_path / "d.pdf")]):
        code, out, err = run(capsys, *args)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "pip install" in err
    assert list(tmp_path.iterdir()) == []
    assert run(capsys, "flow", "--steps", "5")[0] == 0                   # text still works
    code, out, err = run(capsys, "dynamics", "--plot", str(tmp_path / "d.svg"))   # the hand-drawn trajectory
    assert code == 0 and "cobweb diagram needs matplotlib" in err and (tmp_path / "d.svg").exists()


def test_cobweb_draws_the_trajectory(tmp_path, capsys):
    a = dynamics.analyse(dynamics.system(dynamics.LECTURE_F, dynamics.LECTURE_THETA), dynamics.LECTURE_H0, 100)
    lines = lines_by_gid(pictures.dynamics_figure(a))
    h = a.main.states[:, 0]
    np.testing.assert_array_equal(lines["trajectory-0"].get_ydata(), h)
    xs, ys = lines["cobweb"].get_xdata(), lines["cobweb"].get_ydata()
    # the staircase: vertical to f (h_{t-1}, h_t), horizontal to the diagonal (h_t, h_t)
    n = pictures.COBWEB_STEPS
    np.testing.assert_array_equal(xs[1::2], h[:n])
    np.testing.assert_array_equal(ys[1::2], h[1:n + 1])
    grid, fh = lines["f"].get_xdata(), lines["f"].get_ydata()
    np.testing.assert_allclose(fh, 1 / (1 + np.exp(-0.5 * grid)), rtol=1e-12)     # f = σ(θ h), θ = 0.5
    path = tmp_path / "lecture.png"
    assert run(capsys, "dynamics", "--plot", str(path))[0] == 0 and path.read_bytes().startswith(MAGIC["png"])
    # a vector state: the trajectory only
    two = dynamics.analyse(dynamics.system("[theta[0]*h[1], tanh(h[1]) - theta[1]*h[0]]", (0.5, 0.5), k=2),
                           (1.0, 2.0), 30)
    assert len(pictures.dynamics_figure(two).axes) == 1


def test_flow_shows_itself_in_a_notebook():
    png = symrnn.flow(symrnn.cells.elman(), steps=10)._repr_png_()
    assert png.startswith(MAGIC["png"])


# -- the gallery -----------------------------------------------------------------------------------------

def test_gallery_figures_draw_their_numbers():
    for fig in gallery.GALLERY:
        result, figure = fig.make()
        lines = lines_by_gid(figure)
        if isinstance(result, dynamics.Analysis):
            np.testing.assert_array_equal(lines["trajectory-0"].get_ydata(), result.main.states[:, 0])
            continue
        flows = result if isinstance(result, dict) else {None: result}
        for name, f in flows.items():
            for state in f.spec.cell.states:
                gid = f"norm-{name or f.spec.cell.name}-{state}"
                np.testing.assert_array_equal(lines[gid].get_ydata(), f.norms[state], err_msg=fig.name)
    elman, lstm = gallery.elman_vs_lstm()[0].values()
    assert elman.verdict == "vanishing" and lstm.verdicts["c"] == "stable"        # the additive path at work
    lin = {r: gallery.linear(r)[0] for r in (0.5, 1.5)}
    assert lin[0.5].verdict == "vanishing" and lin[1.5].verdict == "exploding"
    assert all(math.isclose(f.rate, r, rel_tol=1e-9) for r, f in lin.items())


def test_gallery_is_fresh():
    if matplotlib.__version__ != gallery.MATPLOTLIB:
        pytest.skip(f"docs/gallery/*.svg were drawn with matplotlib {gallery.MATPLOTLIB}, this is "
                    f"{matplotlib.__version__}: byte comparison needs the same version")
    for name, svg in gallery.sources().items():
        path = ROOT / "docs" / "gallery" / f"{name}.svg"
        assert path.exists() and path.read_bytes() == svg, \
            f"{path} is stale: refresh with `python -m symrnn.analysis.gallery`"
