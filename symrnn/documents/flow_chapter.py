"""The chapter "Why gradients vanish or explode" of the derivation document, from a `Flow` (opt-in).

Everything the template (templates/macros/flow.jinja) places is LaTeX made here: the derived
Jacobian-product form and hop by the matrix printer, the bound, the run's numbers as a table, and the
figure as TikZ coordinates (log10 of each norm, computed here; the template only draws).
"""
from __future__ import annotations

import math

import numpy as np

from .. import naming
from ..analysis.flow import TOLERANCE, Flow, diagonal_blocks
from ..analysis.flow_report import shown_lags
from ..ir.nodes import Diag, Mat, vec
from ..ir.scalar import Partial
from ..ir.primitives import FUNCTIONS
from ..printers import lecture as printing

WIDTH, HEIGHT = 10.0, 5.5      # the figure's axes in cm
MAX_TABLE_ROWS = 12
STYLES = ("blue!70!black, thick", "green!45!black, thick")


def _num(v: float) -> str:
    """A number for LaTeX: 4 significant digits, powers of ten as \\cdot 10^{n}."""
    if not math.isfinite(v):
        return r"\text{beyond float64}"
    if v == 0:
        return "0"
    e = int(math.floor(math.log10(abs(v))))
    if -3 <= e <= 4:
        return f"{v:.4g}"
    return rf"{v / 10 ** e:.4g} \cdot 10^{{{e}}}"


def _norm(state: str, sub_hi: str = "T", sub_lo: str = "s") -> str:
    return (rf"\left\| \frac{{\partial {naming.latex_role(state, str)}_{{{sub_hi}}}}}"
            rf"{{\partial {naming.latex_role(state, str)}_{{{sub_lo}}}}} \right\|_{{2}}")


def _table_lags(n: int) -> list[int]:
    lags = shown_lags(n)
    if len(lags) <= MAX_TABLE_ROWS:
        return lags
    picks = np.unique(np.round(np.linspace(0, len(lags) - 1, MAX_TABLE_ROWS)).astype(int))
    return [lags[i] for i in picks]


def _plot(f: Flow, bound) -> dict:
    """TikZ coordinates of log10‖·‖ against the lag for each state and the bound, with decade ticks."""
    series = [(f.norms[s], STYLES[j % len(STYLES)], _norm(s)) for j, s in enumerate(f.spec.cell.states)]
    series.append((bound, "black, dashed", "bound"))
    logs = [np.log10(np.where(v > 0, v, np.nan)) for v, _, _ in series]
    finite = np.concatenate([v[np.isfinite(v)] for v in logs])
    lo, hi = math.floor(finite.min()), math.ceil(finite.max())
    hi = hi if hi > lo else lo + 1
    step = max(1, math.ceil((hi - lo) / 8))
    lo = step * math.floor(lo / step)
    hi = step * math.ceil(hi / step)
    x_of = lambda lag: WIDTH * lag / len(f.lags)                  # noqa: E731
    y_of = lambda v: HEIGHT * (v - lo) / (hi - lo)                # noqa: E731
    lines = []
    for (values, style, label), lv in zip(series, logs):
        keep = [(x_of(lag), y_of(y)) for lag, y in zip(f.lags, lv) if math.isfinite(y)]
        lines.append({"style": style, "label": label,
                      "coords": " ".join(f"({x:.3f},{y:.3f})" for x, y in keep)})
    xticks = sorted({int(round(v)) for v in np.linspace(0, len(f.lags), 6)})
    return {"x_end": f"{WIDTH + 0.3:g}", "x_label": f"{WIDTH / 2:g}", "y_end": f"{HEIGHT + 0.3:g}", "lines": lines,
            "yticks": [(f"{y_of(e):.3f}", f"10^{{{e}}}") for e in range(lo, hi + 1, step)],
            "xticks": [(f"{x_of(x):.3f}", str(x)) for x in xticks]}


def chapter(f: Flow) -> dict:
    """The chapter's values, LaTeX throughout."""
    spec, states = f.spec, f.spec.cell.states
    lhs, prod = f.form
    hop, idx = prod.body, prod.limits[0]
    k, m, o = f.dims
    weights = (rf"every $k \times k$ weight $R\,Q$ with $Q$ a random orthogonal matrix, $R = {f.radius:g}$, the rest "
               rf"uniform in $\pm 1/\sqrt{{k}}$ (seed {f.seed})") if f.radius is not None else "the given weights"
    elman = f.shape is not None
    role = naming.STATE if len(states) == 1 else "s"      # the stacked state s = (h, c), as the form names it
    out = {
        "form": f"{printing.latex(lhs)} = {printing.latex(prod)}",
        "index": str(idx),
        "hop": f"{printing.latex(Partial(vec(role, idx), vec(role, idx - 1)))} = {printing.latex(hop)}",
        "states": len(states),
        "elman": elman,
        "setting": rf"$k = {k}$, $m = {m}$, $T = {f.steps}$, inputs $x_{{t}} \sim \mathcal{{N}}(0, 1)$, {weights}",
        "columns": [f"${_norm(s)}$" for s in states],
        "colspec": "@{}r" + "r" * len(states) + "r@{}",
        "tolerance": f"{TOLERANCE:g}",
        "overflow": f.overflow,
        "verdicts": [{"norm": _norm(s), "verdict": f.verdicts[s], "rate": _num(f.rates[s])} for s in states],
    }
    bound = f.bound if f.bound is not None else f.run_bound
    out["rows"] = [{"lag": lag, "cells": [f"${_num(f.norms[s][lag - 1])}$" for s in states]
                    + [f"${_num(bound[lag - 1])}$"]} for lag in _table_lags(len(f.lags))]
    if elman:
        w = printing.latex(Mat(f.shape.weight))
        fn = FUNCTIONS[f.shape.function]
        out.update({
            "weight": w,
            "fprime": printing.latex(Diag(f.shape.fprime)) if f.shape.function != "identity" else "I",
            "function": fn.latex,
            "gamma": f"{f.shape.gamma:g}",
            "sigma": _num(f.sigma),
            "bound_rate": _num(f.bound_rate),
            "contracts": f.bound_rate < 1,
            "bound_head": r"$(\gamma\,\sigma_{\max})^{T-s}$",
            "saturation": None if f.saturated_rate is None or f.shape.function == "identity" else {
                "max": _num(f.saturated_rate / f.sigma), "rate": _num(f.saturated_rate), "mean": _num(f.mean_slope)},
        })
    elif f.beta is not None:
        out["bound_head"] = r"$\beta^{T-s}$"
    else:
        out["bound_head"] = rf"$\prod_{{{idx}}} \| \partial s_{{{idx}}} / \partial s_{{{idx}-1}} \|_{{2}}$"
    out["beta"] = None if f.beta is None else _num(f.beta)
    out["additive"] = [{"state": naming.latex_role(s, str), "block": printing.latex(Diag(v)),
                        "mean": _num(float(np.exp(np.mean(np.log(f.paths[s])))) if np.all(f.paths[s] > 0) else 0.0),
                        "norm": _norm(s), "rate": _num(f.rates[s])}
                       for s, v in diagonal_blocks(spec, hop).items()]
    out["plot"] = _plot(f, bound)
    return out


__all__ = ["chapter"]
