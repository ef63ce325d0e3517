"""Figures with matplotlib (the optional extra `plot`): gradient flow, cobweb diagrams, elman vs lstm.

Each figure is a pure function of a result (a `Flow`, an `Analysis`) returning a matplotlib `Figure`
(no pyplot, no global state); `render` turns it into PNG, SVG or PDF bytes that are reproducible byte
for byte for a given matplotlib (no dates, a fixed SVG hash salt); `save` writes them atomically.
"""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np

from ..errors import SymrnnError
from ..files import check_target, write_atomic
from .. import naming
from .dynamics import _numeric

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
MARK = "symrnn figure"                # in each file's metadata: how `written_by_symrnn` knows its own files
INSTALL = "pip install 'symrnn[plot]' (or pip install matplotlib)"
COBWEB_STEPS = 40                     # cobweb segments drawn (the first steps, where the picture is readable)
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def available() -> bool:
    """Whether matplotlib can be imported (looked up, not imported: the text and JSON paths never pay for it)."""
    return importlib.util.find_spec("matplotlib") is not None


def require(what: str = "--plot") -> None:
    if not available():
        raise SymrnnError(f"{what} needs matplotlib, which is not installed: {INSTALL}")


def plot_format(path) -> str:
    """png, svg or pdf from the file's extension; else a one-line error."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise SymrnnError(f"--plot {str(path)!r}: unknown extension {suffix or '(none)'!r}; use .png, .svg or .pdf")
    return FORMATS[suffix]


def check_plot_target(path, force: bool = False) -> None:
    """Everything that could refuse a --plot, checked before any work: extension, matplotlib, the target file."""
    plot_format(path)
    require()
    check_target(path, written_by_symrnn, force)


def written_by_symrnn(path) -> bool:
    """True when the file is a figure symrnn wrote (its metadata carries MARK), so it may be replaced."""
    try:
        with open(path, "rb") as f:
            data = f.read(64 << 20)
    except OSError:
        return False
    return MARK.encode() in data


def _metadata(fmt: str) -> dict:
    if fmt == "svg":
        return {"Date": None, "Creator": MARK}
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None, "Creator": MARK, "Producer": MARK}
    return {"Software": MARK}


def render(fig, fmt: str) -> bytes:
    """The figure as PNG, SVG or PDF bytes, the same bytes on every run."""
    import matplotlib
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "symrnn", "svg.fonttype": "path", "pdf.compression": 6}):
        fig.savefig(buf, format=fmt, metadata=_metadata(fmt), dpi=100)
    return buf.getvalue()


def save(fig, path, force: bool = False) -> Path:
    """Write the figure to path (format by extension), all or nothing; return path."""
    return write_atomic(path, render(fig, plot_format(path)), ours=written_by_symrnn, force=force)


def _figure(width: float = 6.4, height: float = 4.0):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), layout="constrained")


# -- gradient flow --------------------------------------------------------------------------------

def _flow_lines(ax, f, label_prefix: str = "", colours=COLOURS) -> None:
    for j, state in enumerate(f.spec.cell.states):
        name = naming.text_role(state)
        ax.plot(f.lags, f.norms[state], marker="o", markersize=2.5, linewidth=1.2, color=colours[j % len(colours)],
                label=f"{label_prefix}‖∂{name}_T/∂{name}_s‖₂ ({f.verdicts[state]}, ×{f.rates[state]:.3g}/step)",
                gid=f"norm-{label_prefix.strip(': ') or f.spec.cell.name}-{state}")


def flow_figure(f):
    """log‖∂h_T/∂h_s‖₂ against the lag T − s, with the bound (γ σ_max(W))^(T−s) or the run's Π‖hop‖."""
    fig = _figure()
    ax = fig.add_subplot()
    _flow_lines(ax, f)
    if f.bound is not None:
        what = f"(γ σ_max({f.shape.weight}))^(T−s)" if f.shape is not None else "β^(T−s) from the hop's terms"
        ax.plot(f.lags, f.bound, linestyle="--", color="black", linewidth=1,
                label=f"bound {what}, ×{f.beta:.3g}/step", gid="bound")
    else:
        ax.plot(f.lags, f.run_bound, linestyle=":", color="black", linewidth=1,
                label="bound Π ‖∂s_i/∂s_(i−1)‖₂ (the run's hops)", gid="bound")
    ax.set_yscale("log")
    ax.set_xlabel("lag T − s")
    ax.set_ylabel("norm of the Jacobian product")
    k, m, o = f.dims
    weights = f"R = {f.radius:g}" if f.radius is not None else "given weights"
    title = f"{f.spec.cell.name}, {f.spec.cell.activation}, k = {k}, T = {f.steps}, {weights}"
    if f.overflow is not None:
        title += f": exploding beyond float64 at lag {f.overflow}"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def comparison_figure(flows: dict, radius: float | None = None):
    """Several models' ‖∂h_T/∂h_s‖₂ (and ‖∂c_T/∂c_s‖₂) on one log axis: e.g. elman against lstm at equal sizes."""
    fig = _figure()
    ax = fig.add_subplot()
    palettes = (("#d62728",), ("#1f77b4", "#2ca02c"), ("#9467bd", "#8c564b"))
    for n, (name, f) in enumerate(flows.items()):
        _flow_lines(ax, f, f"{name}: ", palettes[n % len(palettes)])
    ax.set_yscale("log")
    ax.set_xlabel("lag T − s")
    ax.set_ylabel("norm of the Jacobian product")
    first = next(iter(flows.values()))
    scale = f", every k×k weight R·Q, R = {radius:g}" if radius is not None else ""
    ax.set_title(f"k = {first.dims[0]}, T = {first.steps}{scale}", fontsize=10)
    ax.legend(fontsize=8)
    return fig


# -- state systems ---------------------------------------------------------------------------------

def cobweb_points(h0: float, values: np.ndarray, steps: int = COBWEB_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The cobweb's path: (h0, h0) → (h0, h1) → (h1, h1) → (h1, h2) → …, for the first `steps` steps."""
    hs = np.concatenate([[h0], values[:steps]])
    xs = np.repeat(hs, 2)[:-1]
    ys = np.concatenate([[hs[0]], np.repeat(hs[1:], 2)])
    return xs, ys


def dynamics_figure(a):
    """h_t against t (fixed points dashed when stable, dotted otherwise); for a scalar autonomous system the
    cobweb diagram beside it: f(h) against h with the diagonal, and the iteration's staircase or spiral."""
    cobweb = a.system.k == 1 and not a.system.driven
    fig = _figure(10.0 if cobweb else 6.4, 4.0)
    axes = fig.subplots(1, 2 if cobweb else 1, squeeze=False)[0]
    ax = axes[0]
    states = a.main.states
    t = np.arange(len(states))
    for j in range(states.shape[1]):
        ax.plot(t, states[:, j], color=COLOURS[j % len(COLOURS)], linewidth=1.2, marker="o" if len(t) <= 200 else None,
                markersize=2.5, label=f"h[{j}]" if states.shape[1] > 1 else "h_t", gid=f"trajectory-{j}")
    for p in a.points:
        for j, v in enumerate(p.value):
            if np.isfinite(v):
                ax.axhline(v, color=COLOURS[j % len(COLOURS)], alpha=0.7, linewidth=1,
                           linestyle="--" if p.stability == "stable" else ":",
                           label=f"h* = {v:.6g} ({p.stability})", gid="fixed-point")
    ax.set_xlabel("t")
    ax.set_ylabel("h_t")
    ax.set_title("trajectory", fontsize=10)
    ax.legend(fontsize=8)
    if cobweb:
        ax = axes[1]
        values = states[1:, 0]
        finite = values[np.isfinite(values)][:COBWEB_STEPS]
        xs, ys = cobweb_points(float(states[0, 0]), finite)
        span = np.concatenate([xs, [p.value[0] for p in a.points if np.isfinite(p.value[0])]])
        lo, hi = float(np.min(span)), float(np.max(span))
        pad = 0.1 * (hi - lo) if hi > lo else 1.0
        grid = np.linspace(lo - pad, hi + pad, 400)
        f = _numeric(a.system.f, a.system)(grid.reshape(-1, 1), np.zeros(len(a.system.inputs)))[:, 0]
        ax.plot(grid, f, color=COLOURS[0], linewidth=1.5, label="f(h)", gid="f")
        ax.plot(grid, grid, color="grey", linewidth=1, label="h = f(h)", gid="diagonal")
        ax.plot(xs, ys, color=COLOURS[1], linewidth=0.9, label=f"h_t from h0 = {states[0, 0]:g}", gid="cobweb")
        for p in a.points:
            v = p.value[0]
            if np.isfinite(v):
                ax.plot([v], [v], marker="o", color="black" if p.stability == "stable" else "white",
                        markeredgecolor="black", linestyle="none", gid="fixed-point")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel("h_(t−1)")
        ax.set_ylabel("h_t")
        ax.set_title("cobweb: up to f, across to the diagonal", fontsize=10)
        ax.legend(fontsize=8)
    return fig


__all__ = ["available", "require", "plot_format", "check_plot_target", "written_by_symrnn", "render", "save",
           "flow_figure", "comparison_figure", "dynamics_figure", "cobweb_points", "FORMATS", "MARK"]
