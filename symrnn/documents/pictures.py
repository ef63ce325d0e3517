"""The document's two pictures, drawn from the cell's equation list: the circuit and the unfolded graph.

A node per named equation (a gate, a candidate, a state), edges from what each equation reads
(x_t, the previous states, the equations above it), labelled with the parameters that multiply
the vector read. An equation read once, and only as the whole argument of an activation (Elman's
a_t in h_t = f(a_t)), is the pre-activation of its reader and drawn inside it, as the lecture draws
the Elman cell as the one node h_t. Layout: one column per depth (depth 0 the previous states,
depth d an equation reading depth ≤ d − 1), the states on fixed rows; the circuit closes every
state's loop through a delay, the unfolded graph chains T copies of the step.

Pure: the values are node ids, positions and LaTeX labels; `templates/macros/pictures.jinja` draws them.
Node ids are the equations' names (letters only, by the cell grammar) with the step in the unfolded
graph; the circuit's own nodes carry a hyphen (h-prev, delay-h), which no equation name has.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .. import naming
from ..ir.nodes import Map, Mat, MatProd, Node, Vec
from ..printers import lecture as printing

ROW = 1.5          # vertical distance between rows (cm)
CIRCUIT_DX = 2.2   # horizontal distance between the circuit's columns (cm)
UNFOLDED_WIDTH = 15.0   # the unfolded graph's width budget (cm)
CLEARANCE = 0.45   # a straight edge passing closer than this to another node's centre is bent (units of a column)


@dataclass(frozen=True)
class Graph:
    """One step of the cell as a drawable graph: equation nodes with column and row, and their sources."""

    nodes: tuple[str, ...]                              # equation names drawn, in equation order
    column: dict                                        # equation -> 1..depth
    row: dict                                           # equation or previous state -> y (in rows)
    reads: dict                                         # equation -> ((source, labels), …); source "x" or ("prev", s)
    states: tuple[str, ...]
    output_labels: tuple[str, ...]                      # parameters of Y_t = … h_t
    input_row: float
    depth: int


def _labels(rhs: Node, v: Vec) -> list[str]:
    """The parameters that multiply v in rhs: the Mats beside v's subtree in every matrix product (W in W h + …)."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, MatProd):
            for k, a in enumerate(node.args):
                if v in a.atoms(Vec) if isinstance(a, Node) else False:
                    for other in node.args[:k] + node.args[k + 1:]:
                        if isinstance(other, Node):
                            found.extend(m.name for m in sorted(other.atoms(Mat), key=lambda m: m.name) if m.name not in found)
        for a in node.args:
            if isinstance(a, Node):
                walk(a)
    walk(rhs)
    return found


def _folded(cell) -> dict[str, str]:
    """Equation -> the equation it is drawn inside: read by exactly one equation, only as an activation's argument."""
    out = {}
    for e in cell.equations:
        if e.name in cell.states:
            continue
        v = Vec(e.name, naming.t)
        readers = [r for r in cell.equations if v in r.rhs.atoms(Vec)]
        if len(readers) != 1 or v in cell.output.atoms(Vec):
            continue
        uses = [m for m in readers[0].rhs.atoms(Map) if m.arg == v]
        occurrences = sum(1 for node in _preorder(readers[0].rhs) if node == v)
        if uses and occurrences == len(uses):
            out[e.name] = readers[0].name
    return out


def _preorder(node: Node):
    """Every node of the tree, parents first (repeated subtrees counted each time, unlike `atoms`)."""
    yield node
    for a in node.args:
        if isinstance(a, Node):
            yield from _preorder(a)


def _drawn_in(name: str, folded: dict) -> str:
    """The node an equation is drawn in: itself, or (following the folds) the first one not folded."""
    while name in folded:
        name = folded[name]
    return name


def graph(cell) -> Graph:
    """The step's drawable graph (see the module docstring)."""
    t = naming.t
    folded = _folded(cell)
    rhs = {e.name: e.rhs for e in cell.equations}
    reads: dict[str, list] = {}
    for e in cell.equations:
        if e.name in folded:
            continue
        sources: dict = {}
        # an equation's own reads, then those of the equations drawn inside it, however deep (their labels)
        inside = [e.name] + [f for f in folded if _drawn_in(f, folded) == e.name]
        for name in inside:
            for v in sorted(rhs[name].atoms(Vec), key=lambda v: (v.role, sp.default_sort_key(v.step))):
                if v.role in folded:
                    continue
                key = (naming.INPUT if v.role == naming.INPUT else ("prev", v.role) if v.step == t - 1 else v.role)
                labels = sources.setdefault(key, [])
                labels += [p for p in _labels(rhs[name], v) if p not in labels]
        order = [naming.INPUT] + [("prev", s) for s in cell.states] + [x.name for x in cell.equations]
        reads[e.name] = tuple((k, tuple(sources[k])) for k in order if k in sources)
    nodes = tuple(reads)
    column: dict = {}
    for n in nodes:
        column[n] = 1 + max([column[k] for k, _ in reads[n] if k in column] + [0])
    depth = max(column.values())
    # states on fixed rows (h on row 0, the next state above it); the other nodes fill each column's rows
    # from row 0 downwards, skipping the rows states hold
    state_row = {s: float(k) for k, s in enumerate(cell.states)}
    row: dict = {("prev", s): y for s, y in state_row.items()}
    for c in range(1, depth + 1):
        taken = {state_row[n] for n in nodes if column[n] == c and n in state_row}
        free = (float(y) for y in range(len(cell.states) - 1, -len(nodes) - 1, -1) if float(y) not in taken)
        for n in nodes:
            if column[n] == c:
                row[n] = state_row[n] if n in state_row else next(free)
    input_row = min(row.values()) - 1.2
    out_v = Vec(naming.STATE, t)
    return Graph(nodes, column, row, {n: reads[n] for n in nodes}, tuple(cell.states),
                 tuple(_labels(cell.output, out_v)), input_row, depth)


def _tex_params(names) -> str:
    return ", ".join(printing.document_latex(naming.param(p)) for p in names)


def _blocked(a, b, others) -> bool:
    """True when the straight segment a–b passes within CLEARANCE of a point in others (then it is bent)."""
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    for (px, py) in others:
        if (px, py) in (a, b) or not length2:
            continue
        u = ((px - ax) * dx + (py - ay) * dy) / length2
        if 0 < u < 1 and (ax + u * dx - px) ** 2 + (ay + u * dy - py) ** 2 < CLEARANCE ** 2:
            return True
    return False


def _edge(src: str, dst: str, pos: dict, label: str) -> dict:
    """An edge with its label placed beside it: above a horizontal edge, right of a vertical one; bent when blocked."""
    a, b = pos[src], pos[dst]
    bend = _blocked(a, b, [p for k, p in pos.items() if k not in (src, dst)])
    # a slanted label lies along its arrow near the node it leaves: the arrows fanning out of x_t and h_{t-1}
    # into a column of gates cross in the middle and converge on each gate, so only there do their labels sit apart
    side = "above" if abs(b[1] - a[1]) < 1e-9 else "right" if abs(b[0] - a[0]) < 1e-9 else "pos=0.3, sloped, above"
    return {"src": src, "dst": dst, "label": label, "side": side, "bend": "bend left=30" if bend else ""}


def _node(ident: str, x: float, y: float, label: str) -> dict:
    return {"id": ident, "x": _num(x), "y": _num(y), "label": label}


def _num(v: float) -> str:
    """A coordinate as TikZ reads it, stable across runs: 1, 2.4, -1.5."""
    v = round(v, 2)
    return str(int(v)) if v == int(v) else f"{v}"


def _tex(role: str, step) -> str:
    return printing.document_latex(naming.at(role, step))


def circuit(cell, output: str) -> dict:
    """One step: the previous states and x_t on the left, the equations by depth, Y_t and L_t over h_t,
    each state's loop back to its previous value through a delay."""
    g = graph(cell)
    t = naming.t
    dx = CIRCUIT_DX
    pos, nodes = {}, []
    for s in g.states:
        pos[f"{s}-prev"] = (0.0, g.row[("prev", s)])
        nodes.append(_node(f"{s}-prev", 0, g.row[("prev", s)] * ROW, _tex(s, t - 1)))
    # x_t beside the previous states (all of them are what the step reads), level with the lowest node when
    # that row is free; the equations half a column further right, so that the arrows fanning out of x_t
    # and h_{t-1} into a column of gates pass between the gates; the loops enter from the left
    lowest = min(g.row.values())
    x_row = lowest if lowest not in {g.row[("prev", s)] for s in g.states} else lowest - 1.2
    pos["x"] = (0.0, x_row)
    nodes.append(_node("x", 0, x_row * ROW, _tex(naming.INPUT, t)))
    for n in g.nodes:
        pos[n] = (g.column[n] + 0.5, g.row[n])
        nodes.append(_node(n, (g.column[n] + 0.5) * dx, g.row[n] * ROW, _tex(n, t)))
    hx, top = g.column[naming.STATE] + 0.5, max(g.row.values())
    pos["Y"], pos["L"] = (float(hx), top + 1.2), (float(hx), top + 2.4)
    nodes += [_node("Y", hx * dx, (top + 1.2) * ROW, _tex(naming.OUTPUT, t)),
              _node("L", hx * dx, (top + 2.4) * ROW, _tex(naming.LOSS, t if output == "every" else naming.T)),
              _node("z", (hx + 1) * dx, (top + 2.4) * ROW, _tex(naming.TARGET, t if output == "every" else naming.T))]
    edges = []
    for n in g.nodes:
        for src, labels in g.reads[n]:
            ident = src if isinstance(src, str) else f"{src[1]}-prev"
            edges.append(_edge(ident, n, pos, _tex_params(labels)))
    edges += [_edge(naming.STATE, "Y", pos, _tex_params(g.output_labels)), _edge("Y", "L", pos, ""),
              {"src": "z", "dst": "L", "label": "", "side": "above", "bend": ""}]
    # the loops: h below everything (under x_t), further states above the graph, each through its delay
    loops = []
    for k, s in enumerate(g.states):
        y = (x_row - 1.0 if k == 0 else top + 0.9 * k) * ROW
        if k and g.column[s] + 0.5 >= hx:   # a state drawn in h's column would run into Y_t: go above the loss
            y = (top + 2.4 + 0.9 * k) * ROW
        loops.append({"src": s, "dst": f"{s}-prev", "id": f"delay-{s}", "x": _num(-0.7 * dx), "y": _num(y),
                      "below": k == 0})
    return {"nodes": nodes, "edges": edges, "loops": loops, "small": len(g.nodes) > 1}


def unfolded(cell, steps: int, loss_steps) -> dict:
    """T copies of the step, chained: step k's equations in columns (k − 1)·D + 1 … k·D, the states h0 (c0) in column 0."""
    g = graph(cell)
    D = g.depth
    dx = round(min(2.4, UNFOLDED_WIDTH / (steps * D)), 2)
    labelled = len(g.nodes) == 1      # one node a step leaves room for the parameters on every arrow
    pos, nodes, edges = {}, [], []
    for s in g.states:
        pos[f"{s}0"] = (0.0, g.row[("prev", s)])
        nodes.append(_node(f"{s}0", 0, g.row[("prev", s)] * ROW, _tex(s, 0)))
    top = max(g.row.values())
    first_x = min((g.column[n] for n in g.nodes if any(k == naming.INPUT for k, _ in g.reads[n])), default=1)
    steps_out = []
    for k in range(1, steps + 1):
        base = (k - 1) * D
        new_nodes, new_edges = [], []
        for n in g.nodes:
            pos[f"{n}{k}"] = (float(base + g.column[n]), g.row[n])
            new_nodes.append(_node(f"{n}{k}", base + g.column[n], g.row[n] * ROW, _tex(n, k)))
        pos[f"x{k}"] = (float(base + first_x), g.input_row)
        new_nodes.append(_node(f"x{k}", base + first_x, g.input_row * ROW, _tex(naming.INPUT, k)))
        hx = base + g.column[naming.STATE]
        if k in loss_steps:
            pos[f"Y{k}"], pos[f"L{k}"] = (float(hx), top + 1.2), (float(hx), top + 2.4)
            new_nodes += [_node(f"Y{k}", hx, (top + 1.2) * ROW, _tex(naming.OUTPUT, k)),
                          _node(f"L{k}", hx, (top + 2.4) * ROW, _tex(naming.LOSS, k))]
        steps_out.append((new_nodes, new_edges, k))
    for new_nodes, new_edges, k in steps_out:
        for n in g.nodes:
            for src, labels in g.reads[n]:
                ident = (f"x{k}" if src == naming.INPUT else f"{src[1]}{k - 1}" if isinstance(src, tuple)
                         else f"{src}{k}")
                new_edges.append(_edge(ident, f"{n}{k}", pos, _tex_params(labels) if labelled else ""))
        if k in loss_steps:
            new_edges += [_edge(f"{naming.STATE}{k}", f"Y{k}", pos, _tex_params(g.output_labels) if labelled else ""),
                          _edge(f"Y{k}", f"L{k}", pos, "")]
    return {"dx": dx, "small": steps * D > 6, "width": dx * steps * D, "labelled": labelled,
            "initial": nodes, "steps": [{"nodes": ns, "edges": es} for ns, es, _ in steps_out]}


def pictures(spec, steps: int) -> dict:
    """Both pictures of the model, and how to place them (side by side when both fit the line)."""
    cell = spec.cell
    c = circuit(cell, spec.output)
    u = unfolded(cell, steps, set(spec.loss_steps(steps)))
    xs = [float(n["x"]) for n in c["nodes"]] + [float(loop["x"]) for loop in c["loops"]]
    circuit_width = max(xs) - min(xs) + 1.0            # the nodes' centres, plus one node's diameter
    return {"circuit": c, "unfolded": u, "side_by_side": u["width"] + circuit_width <= 13.5,
            "loss_label": _tex(naming.LOSS, naming.t if spec.output == "every" else naming.T),
            "gates": len(graph(cell).nodes) > 1}


__all__ = ["graph", "circuit", "unfolded", "pictures"]
