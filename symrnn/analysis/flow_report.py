"""What `symrnn flow` prints: text and JSON of a `Flow` (pure; no I/O)."""
from __future__ import annotations

import json
import math

import numpy as np

from .. import naming
from ..ir.nodes import Diag
from ..printers import lecture as printing
from .flow import TOLERANCE, Flow, diagonal_blocks

ALL_ROWS = 30          # up to this many lags every row is printed; beyond, a log-spaced selection


def _g(v: float) -> str:
    return f"{v:.6g}" if math.isfinite(v) else ("beyond float64" if v > 0 else str(v))


def _finite(values) -> list:
    """Floats for JSON, a value past float64 as null (never NaN or Infinity in the output)."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def shown_lags(n: int) -> list[int]:
    """Every lag up to ALL_ROWS; past that 1–5, then about 15 log-spaced lags, and the last."""
    if n <= ALL_ROWS:
        return list(range(1, n + 1))
    picks = set(range(1, 6)) | {int(round(v)) for v in np.geomspace(6, n, 15)} | {n}
    return sorted(p for p in picks if 1 <= p <= n)


def state_name(state: str) -> str:
    return naming.text_role(state)


def describe_weights(f: Flow, source: str | None) -> str:
    if f.radius is None:
        return f"weights from {source}" if source else "the given weights"
    return f"random weights: every k×k weight R·Q with Q orthogonal, R = {f.radius:g} (seed {f.seed})"


def verdict_line(f: Flow, state: str) -> str:
    name = f"‖∂{state_name(state)}_T/∂{state_name(state)}_s‖₂"
    if f.overflow is not None:
        return f"exploding beyond float64 at lag {f.overflow}: {name} is not representable from there on"
    rate = f.rates[state]
    how = {"vanishing": "shrinks", "exploding": "grows", "stable": "keeps its size"}[f.verdicts[state]]
    return (f"{f.verdicts[state]}: {name} {how}, ×{rate:.4g} per step (least-squares fit of log‖·‖ over lags "
            f"1..{len(f.lags)}; within ×(1 ± {TOLERANCE:g}) is called stable)")


def text(f: Flow, source: str | None = None) -> str:
    """The report `symrnn flow` prints."""
    spec, states = f.spec, f.spec.cell.states
    k, m, o = f.dims
    lines = [f"Gradient flow through time: {spec.cell.name}, {spec.cell.activation}, (k, m, o) = ({k}, {m}, {o}), "
             f"T = {f.steps}",
             f"{describe_weights(f, source)}; inputs x_t ~ N(0, 1) (seed {f.seed}), h0 = 0 unless given",
             f"{printing.text(f.form[0])} = {printing.text(f.form[1])}",
             "   (the derived Jacobian-product form, evaluated at every step of the run)"]
    if f.shape is not None:
        lines.append(f"bound: ‖∂h_T/∂h_s‖₂ ≤ Π ‖diag(f'(a_i))‖₂ ‖{f.shape.weight}‖₂ ≤ (γ σ_max({f.shape.weight}))^(T−s), "
                     f"γ = sup|{f.shape.function}'| = {f.shape.gamma:g}, σ_max({f.shape.weight}) = {f.sigma:.6g}: "
                     f"×{f.bound_rate:.6g} per step")
    elif f.beta is not None:
        lines.append(f"bound: ‖∂h_T/∂h_s‖₂ ≤ β^(T−s), β = {f.beta:.6g} bounds every hop by the norms of its terms (sup|f'| "
                     f"for each activation's derivative, the weights' own norms elsewhere): ×{f.beta:.6g} per step")
    else:
        lines.append("bound: ‖∂s_T/∂s_s‖₂ ≤ Π_{i=s+1..T} ‖∂s_i/∂s_{i−1}‖₂ (the run's own hops; a factor of this cell's "
                     "hop has no bound in the weights alone, e.g. a gate's value)")
    bound = f.bound if f.bound is not None else f.run_bound
    lines.append("")
    heads = [f"‖∂{state_name(s)}_T/∂{state_name(s)}_s‖₂" for s in states] + ["bound"]
    lines.append(f"{'lag T−s':>8}  " + "  ".join(f"{h:>18}" for h in heads))
    for lag in shown_lags(len(f.lags)):
        cells = [_g(f.norms[s][lag - 1]) for s in states] + [_g(bound[lag - 1])]
        lines.append(f"{lag:>8}  " + "  ".join(f"{c:>18}" for c in cells))
    lines.append("")
    for s in states:
        lines.append(("verdict: " if s == states[0] else f"verdict ({state_name(s)}): ") + verdict_line(f, s))
    if f.forward_overflow is not None:
        lines.append(f"note: the forward pass itself leaves float64 at step {f.forward_overflow}")
    lines += _explanations(f)
    return "\n".join(lines) + "\n"


def _explanations(f: Flow) -> list[str]:
    out = []
    if f.beta is not None and f.beta < 1:
        out.append(f"why: {'γ σ_max' if f.shape is not None else 'β'} = {f.beta:.4g} < 1: every hop contracts (the "
                   f"state system's stability condition |f'| < 1), so the gradient must vanish")
    if f.shape is not None:
        if f.beta >= 1 and (f.shape.function == "identity" or f.saturated_rate is None):
            out.append(f"why: γ σ_max = {f.bound_rate:.4g}: nothing but {f.shape.weight} acts on the gradient")
        sat = f.saturated_rate
        if sat is not None and f.shape.function != "identity":
            mean = sat / f.sigma if f.sigma else 0.0
            out.append(f"saturation: along this run max_j |{f.shape.function}'(a_i)_j| averages {mean:.4g} per step "
                       f"(geometric mean over i), not γ = {f.shape.gamma:g}; with it the bound is ×{sat:.4g} per step "
                       f"instead of ×{f.bound_rate:.4g}; averaged over units |{f.shape.function}'(a)| is {f.mean_slope:.4g}: "
                       f"saturated units (|a| large, f' ≈ 0) pass almost nothing back, so the norm falls below the "
                       f"bound, which must allow for the one unit that is not saturated")
    hop = f.form[1].body
    for state, v in diagonal_blocks(f.spec, hop).items():
        name = state_name(state)
        gate = f.paths[state]
        mean = float(np.exp(np.mean(np.log(gate)))) if np.all(gate > 0) else 0.0
        j = f.form[1].limits[0]
        out.append(f"additive path: ∂{name}_{j}/∂{name}_({j}−1) has the block {printing.text(Diag(v))}, so "
                   f"∂{name}_T/∂{name}_s contains Π diag(…) of it alone: here max_j of it averages {mean:.4g} per step "
                   f"(geometric mean); near 1 it carries the gradient across many steps where the h path vanishes")
    return out


def to_json(f: Flow, source: str | None = None) -> str:
    """One JSON object: the model, the form, per-lag norms and bound, rates and verdicts (no NaN, no Infinity)."""
    shape = f.shape
    data = {
        "model": f.spec.describe(),
        "dims": list(f.dims),
        "steps": f.steps,
        "seed": f.seed,
        "weights": source if f.radius is None else "random",
        "radius": f.radius,
        "form": {"text": f"{printing.text(f.form[0])} = {printing.text(f.form[1])}",
                 "latex": f"{printing.latex(f.form[0])} = {printing.latex(f.form[1])}"},
        "lags": [int(v) for v in f.lags],
        "norms": {s: _finite(f.norms[s]) for s in f.spec.cell.states},
        "bound": None if f.beta is None else {
            "kind": "weights", "rate": f.beta, "values": _finite(f.bound),
            **({} if shape is None else {"weight": shape.weight, "gamma": shape.gamma, "sigma_max": f.sigma,
                                         "saturated_rate": f.saturated_rate, "mean_slope": f.mean_slope})},
        "run_bound": _finite(f.run_bound),
        "rate": {s: (f.rates[s] if math.isfinite(f.rates[s]) else None) for s in f.spec.cell.states},
        "verdict": dict(f.verdicts),
        "overflow": None if f.overflow is None else {
            "lag": f.overflow, "message": f"exploding beyond float64 at lag {f.overflow}"},
        "forward_overflow": f.forward_overflow,
        "paths": {s: {"block": printing.text(Diag(v)), "max_per_step": _finite(f.paths[s])}
                  for s, v in diagonal_blocks(f.spec, f.form[1].body).items()},
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


__all__ = ["text", "to_json", "shown_lags"]
