"""What `symrnn dynamics` prints and draws: text, JSON and an SVG plot of an `Analysis` (pure; no I/O)."""
from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np

from ..printers import lecture as printing
from .dynamics import MAX_FIXED_POINTS, MAX_PERIOD, SETTLED, Analysis, FixedPoint, Limit

expr_text = printing.text


HEAD, TAIL_SHOWN = 5, 3          # trajectory states printed at the start and the end
JSON_TRAJECTORY = 10_000         # JSON carries the whole trajectory up to this many steps
SVG_MARKER = "<!-- symrnn dynamics plot -->"


def num(v: float) -> str:
    """A float in 15 significant digits (shortest form), inf/nan spelled out."""
    return f"{v:.15g}" if math.isfinite(v) else str(v)


def state(v) -> str:
    """A state: the number for a scalar, (a, b, …) for a vector."""
    v = list(np.ravel(v))
    return num(float(v[0])) if len(v) == 1 else "(" + ", ".join(num(float(a)) for a in v) + ")"


def _h(a: Analysis, t) -> str:
    return f"h{t}"


def _system_lines(a: Analysis) -> list[str]:
    s = a.system
    args = "h_{t-1}, x_t" if s.driven else "h_{t-1}"
    semi = "; θ" if s.theta else ""
    lines = [f"State system  h_t = f({args}{semi}),  t = 1..{a.steps}"]
    comps = [expr_text(e) for e in s.f]
    if s.k == 1:
        lines.append(f"  f = {comps[0]}")
    else:
        lines += [f"  f[{i}] = {c}" for i, c in enumerate(comps)]
    if s.theta:
        lines.append("  " + ",  ".join(f"{expr_text(t)} = {num(v)}" for t, v in zip(s.theta, s.theta_values)))
    lines.append(f"  h0 = {state(a.main.h0)}")
    if a.xs is not None:
        shown = ", ".join(state(x) for x in a.xs[:8]) + (", …" if len(a.xs) > 8 else "")
        lines.append(f"  x1..x{len(a.xs)} = {shown}")
    d = a.derivative
    if s.k == 1:
        lines.append(f"  f'(h) = ∂f/∂h = {expr_text(d[0, 0])}   (sympy.diff)")
    else:
        entries = [(i, j) for i in range(s.k) for j in range(s.k)]
        nonzero = [(i, j) for i, j in entries if d[i, j] != 0]
        zeros = len(entries) - len(nonzero)
        # a large state's Jacobian is mostly zeros: then list the entries that are not, and count the rest
        sparse = zeros > s.k
        lines.append(f"  Jacobian ∂f/∂h (sympy.diff){f'; the other {zeros} entries are 0' if sparse else ''}:")
        lines += [f"    ∂f[{i}]/∂h[{j}] = {expr_text(d[i, j])}" for i, j in (nonzero if sparse else entries)]
    return lines


def _trajectory_lines(a: Analysis) -> list[str]:
    run = a.main
    last = len(run.states) - 1
    shown = sorted({*range(1, min(HEAD, last) + 1), *range(max(1, last - TAIL_SHOWN + 1), last + 1)})
    lines = [f"Trajectory ({a.steps} steps in float64):"]
    prev = 0
    for t in shown:
        if t > prev + 1:
            lines.append("  …")
        lines.append(f"  {_h(a, t)} = {state(run.at(t))}")
        prev = t
    return lines


def _fixed_point_lines(held, a: Analysis) -> list[str]:
    points, span, k = held.points, held.span, a.system.k
    where = f" on [{num(span[0])}, {num(span[1])}]" if span else " (Newton from the runs' ends and 27 spread starts; not exhaustive)"
    lines = [f"  every h in [{num(a)}, {num(b)}] (f(h) = h on the search grid and at 50 digits across it)" for a, b in held.intervals]
    if not points:
        return lines + ([f"  no isolated fixed point{where}"] if held.intervals else [f"  none found{where}"])
    lines += [f"  {len(points)} {'isolated ' if held.intervals else ''}found{where}:"] if not held.many else \
        [f"  more than {MAX_FIXED_POINTS} found{where} (a continuum?); the {len(points)} nearest the end of the run:"]
    for i, p in enumerate(points):
        value = p.digits[0] if k == 1 else "(" + ", ".join(p.digits) + ")"
        if k == 1:
            slope = p.derivative[0][0]
            test = f"f'(h*) = {num(slope)}" + ("" if math.isnan(p.rho) else f", |f'(h*)| {_vs_one(p)} 1")
        else:
            test = f"spectral radius of ∂f/∂h at h* = {num(p.rho)} {_vs_one(p)} 1"
        verdict = {"marginal": "marginal (|f'| = 1: the linearisation does not decide)",
                   "undetermined": "undetermined (f is not differentiable at h*)"}.get(p.stability, p.stability)
        lines.append(f"  h*{_index(i, points)} = {value}   {test}: {verdict}")
        lines.append(f"        confirmed: {p.confirmed}")
    return lines


def _vs_one(p: FixedPoint) -> str:
    return "≈" if p.stability == "marginal" else "<" if p.rho < 1 else ">"


def _index(i: int, points) -> str:
    return "" if len(points) == 1 else f"[{i}]"


def describe(lim: Limit, points, steps: int) -> str:
    """A run's end in words."""
    if lim.kind == "fixed point":
        if lim.target is None:
            return f"settles at {state(lim.value)}"
        return f"→ h*{_index(lim.target, points)} = {state(points[lim.target].value)}"
    if lim.kind == "cycle":
        return f"settles on a cycle of period {lim.period}"
    if lim.kind == "approaching":
        gap = float(np.max(np.abs(np.array(points[lim.target].value) - np.array(lim.value))))
        return (f"approaches h*{_index(lim.target, points)} = {state(points[lim.target].value)} slowly "
                f"(nearer at every one of the last steps; still {gap:.1e} away after {steps} steps)")
    if lim.kind == "growing":
        return f"grows without bound (|h| = {num(float(np.max(np.abs(lim.value))))} after {steps} steps)"
    if lim.kind == "diverges":
        return f"diverges: overflow to ±inf at step {lim.at_step} (last finite state {state(lim.value)})"
    if lim.kind == "undefined":
        return f"leaves the domain of f at step {lim.at_step}: f is not a real number there (last state {state(lim.value)})"
    return f"has not settled after {steps} steps (no fixed point or cycle of period ≤ {MAX_PERIOD} to {SETTLED:.0e})"


def text(a: Analysis) -> str:
    """The report `symrnn dynamics` prints."""
    lines = _system_lines(a) + [""] + _trajectory_lines(a) + [""]
    if a.xs is None:
        lines.append("Fixed points h* = f(h*; θ):" if a.system.theta else "Fixed points h* = f(h*):")
        lines += _fixed_point_lines(a.held[0], a)
    else:
        for held in a.held:
            lines.append(f"Fixed points h* = f(h*, x) with the input held at x = {state(held.x)}:")
            lines += _fixed_point_lines(held, a)
    lines += ["", f"Limit: from h0 = {state(a.main.h0)} the trajectory {describe(a.main_limit, a.points, a.steps)}"]
    lim = a.main_limit
    if lim.kind == "fixed point" and lim.target is not None:
        gap = float(np.max(np.abs(np.array(a.points[lim.target].value) - a.main.last)))
        lines[-1] += f"  (|h{len(a.main.states) - 1} - h*| = {gap:.1e})"
    if lim.kind == "cycle" and len(a.main.states) > lim.period:
        lines.append("  the cycle: " + ", ".join(state(h) for h in a.main.states[-lim.period:]))
    if a.xs is not None and a.points and lim.kind not in ("diverges", "undefined"):
        T = len(a.main.states) - 1
        gaps = [float(np.max(np.abs(np.array(p.value) - a.main.last))) for p in a.points]
        i = int(np.argmin(gaps))
        lines.append(f"  h{T} is {gaps[i]:.1e} from h*{_index(i, a.points)} = {state(a.points[i].value)}, "
                     f"the fixed point with the input held at x{T} = {state(a.held[-1].x)}")
    if a.others:
        lines.append(f"From other starts ({a.other_steps} steps each):")
        lines += [f"  h0 = {state(r.h0)}: {describe(l, a.points, a.other_steps)}" for r, l in a.others]
        if a.independent_of_h0:
            slow = any(lim.kind == "approaching" for lim in [a.main_limit, *(l for _, l in a.others)])
            lines.append("The limit does not depend on h0: every start " +
                         ("settles on or approaches" if slow else "settles on") + " the same fixed point.")
        else:
            lines.append("The limit depends on h0 (or does not exist): the starts end differently.")
    return "\n".join(lines) + "\n"


# -- JSON --------------------------------------------------------------------------------------

def _jnum(v):
    v = float(v)
    return v if math.isfinite(v) else str(v)


def _jstate(v):
    return [_jnum(x) for x in np.ravel(v)]


def _jlimit(lim: Limit) -> dict:
    return {"kind": lim.kind, "value": _jstate(lim.value), "period": lim.period or None,
            "fixed_point": lim.target, "step": lim.at_step}


def _jpoint(p: FixedPoint) -> dict:
    return {"h": _jstate(p.value), "digits": list(p.digits), "jacobian": [_jstate(r) for r in p.derivative],
            "spectral_radius": _jnum(p.rho), "stability": p.stability, "residual": _jnum(p.residual),
            "confirmed": p.confirmed}


def to_json(a: Analysis) -> str:
    """One JSON object; expressions are `printing.parseable` strings (they parse back with sympy.sympify)."""
    s = a.system
    run = a.main
    out = {
        "system": {"f": [printing.parseable(e) for e in s.f], "state": [str(v) for v in s.state],
                   "theta": {str(t): v for t, v in zip(s.theta, s.theta_values)}, "driven": s.driven,
                   "jacobian": [[printing.parseable(a.derivative[i, j]) for j in range(s.k)] for i in range(s.k)]},
        "steps": a.steps,
        "h0": _jstate(run.h0),
        "x": None if a.xs is None else [_jstate(x) for x in a.xs],
        "trajectory": [_jstate(h) for h in run.states] if a.steps <= JSON_TRAJECTORY else None,
        "first": {str(t): _jstate(run.at(t)) for t in range(min(HEAD, len(run.states) - 1) + 1)},
        "last": {"step": len(run.states) - 1, "h": _jstate(run.last)},
        "fixed_points": [_jpoint(p) for p in a.points],
        "search_range": list(a.held[-1].span) if a.held[-1].span else None,
        "more_fixed_points": a.held[-1].many,
        "fixed_intervals": [list(iv) for iv in a.held[-1].intervals],
        "held": None if a.xs is None else [{"x": _jstate(h.x), "fixed_points": [_jpoint(p) for p in h.points],
                                             "fixed_intervals": [list(iv) for iv in h.intervals]}
                                            for h in a.held],
        "limit": _jlimit(a.main_limit),
        "starts": [{"h0": _jstate(r.h0), "steps": a.other_steps, "limit": _jlimit(l)} for r, l in a.others],
        "independent_of_h0": a.independent_of_h0,
    }
    return json.dumps(out, indent=2, ensure_ascii=False, allow_nan=False)


# -- SVG ---------------------------------------------------------------------------------------

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 360, 64, 16, 32, 40
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
MAX_POINTS = 2000
LOG_ABOVE = 1e6


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round numbers covering [lo, hi] (steps 1, 2, 5 × 10^k)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def svg(a: Analysis) -> str:
    """h_t against t for each state component, each fixed point a dashed line (stable) or dotted (otherwise)."""
    t = np.arange(len(a.main.states))
    stride = max(1, math.ceil(len(t) / MAX_POINTS))
    keep = np.unique(np.concatenate([t[::stride], t[-1:]]))
    lines = [p for p in a.points if all(math.isfinite(v) for v in p.value)]
    # past |h| = 1e6 (a run growing without bound) the axis shows sign(h) log10(1 + |h|)
    logscale = float(np.max(np.abs(a.main.states))) > LOG_ABOVE
    y_of = (lambda v: np.sign(v) * np.log10(1 + np.abs(v))) if logscale else (lambda v: np.asarray(v, dtype=float))
    states = y_of(a.main.states)
    values = np.concatenate([states.ravel(), *(y_of(np.array(p.value)) for p in lines if p.stability == "stable")])
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = 0.05 * (hi - lo) if hi > lo else 0.5 * (abs(lo) or 1.0)
    lo, hi = lo - pad, hi + pad
    t_hi = max(int(t[-1]), 1)
    px = lambda v: LEFT + (WIDTH - LEFT - RIGHT) * v / t_hi  # noqa: E731
    py = lambda v: TOP + (HEIGHT - TOP - BOTTOM) * (hi - v) / (hi - lo)  # noqa: E731

    root = ET.Element("svg", xmlns="http://www.w3.org/2000/svg", width=str(WIDTH), height=str(HEIGHT),
                      viewBox=f"0 0 {WIDTH} {HEIGHT}", **{"font-family": "sans-serif", "font-size": "12"})
    ET.SubElement(root, "title").text = "symrnn dynamics: h_t = f(h_(t-1)), f = " + \
        "; ".join(expr_text(e) for e in a.system.f)
    ET.SubElement(root, "rect", x="0", y="0", width=str(WIDTH), height=str(HEIGHT), fill="white")
    axes = ET.SubElement(root, "g", stroke="black", **{"stroke-width": "1"})
    ET.SubElement(axes, "line", x1=str(LEFT), y1=str(HEIGHT - BOTTOM), x2=str(WIDTH - RIGHT), y2=str(HEIGHT - BOTTOM))
    ET.SubElement(axes, "line", x1=str(LEFT), y1=str(TOP), x2=str(LEFT), y2=str(HEIGHT - BOTTOM))
    labels = ET.SubElement(root, "g", fill="black")
    for v in nice_ticks(lo, hi):
        y = f"{py(v):.2f}"
        ET.SubElement(axes, "line", x1=str(LEFT - 4), y1=y, x2=str(LEFT), y2=y)
        ET.SubElement(labels, "text", x=str(LEFT - 6), y=y, **{"text-anchor": "end", "dominant-baseline": "middle"}
                      ).text = f"{v:.6g}"
    for v in nice_ticks(0, t_hi):
        if v > t_hi:
            continue
        x = f"{px(v):.2f}"
        ET.SubElement(axes, "line", x1=x, y1=str(HEIGHT - BOTTOM), x2=x, y2=str(HEIGHT - BOTTOM + 4))
        ET.SubElement(labels, "text", x=x, y=str(HEIGHT - BOTTOM + 16), **{"text-anchor": "middle"}).text = f"{v:g}"
    ET.SubElement(labels, "text", x=str((LEFT + WIDTH - RIGHT) / 2), y=str(HEIGHT - 6),
                  **{"text-anchor": "middle"}).text = "t"
    ET.SubElement(labels, "text", x=str(LEFT), y=str(TOP - 12)).text = \
        f"h_t from h0 = {state(a.main.h0)}" + ("; dashed: stable fixed points h*" if lines else "")
    if logscale:
        ET.SubElement(labels, "text", x="12", y=str((TOP + HEIGHT - BOTTOM) / 2),
                      transform=f"rotate(-90 12 {(TOP + HEIGHT - BOTTOM) / 2})", **{"text-anchor": "middle"}
                      ).text = "sign(h) log10(1 + |h|)"
    for p in lines:
        for j, v in enumerate(p.value):
            v = float(y_of(v))
            if lo <= v <= hi:
                ET.SubElement(root, "line", x1=str(LEFT), x2=str(WIDTH - RIGHT), y1=f"{py(v):.2f}", y2=f"{py(v):.2f}",
                              stroke=COLOURS[j % len(COLOURS)], opacity="0.7",
                              **{"stroke-dasharray": "6 4" if p.stability == "stable" else "2 3",
                                 "class": f"fixed-point {p.stability}"})
                ET.SubElement(labels, "text", x=str(WIDTH - RIGHT - 4), y=f"{py(v) - 4:.2f}", fill=COLOURS[j % len(COLOURS)],
                              **{"text-anchor": "end"}).text = f"h* = {p.value[j]:.6g} ({p.stability})"
    for j in range(states.shape[1]):
        pts = " ".join(f"{px(i):.2f},{py(states[i, j]):.2f}" for i in keep)
        ET.SubElement(root, "polyline", points=pts, fill="none", stroke=COLOURS[j % len(COLOURS)],
                      **{"stroke-width": "1.5", "class": "trajectory"})
        if states.shape[1] > 1:
            ET.SubElement(labels, "text", x=str(WIDTH - RIGHT - 4), y=str(TOP + 14 * (j + 1)), fill=COLOURS[j % len(COLOURS)],
                          **{"text-anchor": "end"}).text = f"h[{j}]"
        if len(keep) <= 200:
            for i in keep:
                ET.SubElement(root, "circle", cx=f"{px(i):.2f}", cy=f"{py(states[i, j]):.2f}", r="2",
                              fill=COLOURS[j % len(COLOURS)])
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{SVG_MARKER}\n{body}\n'


def written_by_symrnn(path) -> bool:
    """True when the file starts like an SVG `symrnn dynamics` wrote (so it may be replaced without --force)."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return head.startswith(b"<?xml") and SVG_MARKER.encode() in head.split(b"\n", 2)[1:2]


__all__ = ["text", "to_json", "svg", "SVG_MARKER", "written_by_symrnn"]
