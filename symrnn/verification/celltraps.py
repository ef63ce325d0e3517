"""The slips of a gated or user cell's scalar answer, one rule per slip, each a change to one Leibniz factor.

A rule takes an edge ∂q/∂v of the unrolled graph (`cellpaths.Edge`) and yields what a student writes
instead, with the sentence that says so:

    gate σ' missing          ∂u_t/∂aᵘ_t = u_t (1 − u_t)  written 1
    activation for σ'        u_t where σ'(aᵘ_t) = u_t (1 − u_t) belongs
    other derivative         1 − u_t² (tanh') where σ' belongs, 1 − n_t for 1 − n_t², …
    u and 1 − u swapped      ∂h_t/∂n_t = 1 − u_t written u_t, ∂h_t/∂h_{t−1} = u_t written 1 − u_t
    state for tanh(·)        h_t where tanh(c_t) belongs (1 − h_t² for 1 − tanh²(c_t)); leaky: tanh(a_t)
    time index               c_{t−1} for c_t, f_t for f_{t+1}: one symbol of the factor a step off
    factor missing           a whole factor (∂h_t/∂n_t = 1 − u_t) written 1
    sign, loss derivative    z_t − Y_t for Y_t − z_t; another loss's ∂L_t/∂Y_t

`key` names a slip apart from its step (the same slip at every step is one slip).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sympy as sp

from .. import naming
from ..ir.primitives import LOSSES
from .cellpaths import CellGraph, Edge
from .printing import text
from .traps import registrar


@dataclass(frozen=True)
class Change:
    """Edge e written as `new`; `message` says so in the lecture's notation; `key` is the slip at any step."""

    new: sp.Expr
    message: str
    key: tuple
    general: str = ""     # the slip said for every factor it is made in (when it is made in several)


Rule = Callable[[CellGraph, Edge], Iterator[Change]]
CELL_TRAPS: dict[str, Rule] = {}


cell_trap = registrar(CELL_TRAPS)


def _role(q: sp.Symbol) -> str:
    split = naming.split_symbol(str(q))
    return split[0] if split else str(q)


def _defined(g: CellGraph, q: sp.Symbol) -> str:
    """q = its definition, in the lecture's notation (h2 = (1 - u2) n2 + u2 h1)."""
    return f"{text(q)} = {text(g.definitions[q][1])}"


def _gate_word(g: CellGraph, q: sp.Symbol) -> str:
    f = g.function_of(q)
    return "the gate's σ'" if f is not None and f.name == "sigmoid" else f"{f.text}'" if f is not None else "f'"


@cell_trap("gate derivative missing")
def _derivative_missing(g: CellGraph, e: Edge):
    """q = f(p): f'(p) left out (a gate's σ', the candidate's tanh')."""
    if e.kind == "activation":
        yield Change(sp.Integer(1), f"{_gate_word(g, e.num)} is missing: {e} ({text(e.num)} = "
                                    f"{text(g.function_of(e.num).apply(e.den))})", ("f' missing", _role(e.num)))


@cell_trap("activation for its derivative")
def _activation_itself(g: CellGraph, e: Edge):
    """q where f'(p) belongs (u_t for u_t (1 − u_t))."""
    if e.kind == "activation" and e.value != e.num:
        yield Change(e.num, f"{text(e.num)} where {text(e.symbol)} = {text(e.value)} belongs: the gate itself "
                            f"instead of its derivative", ("f for f'", _role(e.num)))


@cell_trap("other activation's derivative")
def _other_derivative(g: CellGraph, e: Edge):
    """σ' written as tanh' (1 − u²) or 1 − u; tanh' written as σ' (n (1 − n)) or 1 − n."""
    if e.kind != "activation":
        return
    q, f = e.num, g.function_of(e.num)
    said = f"{text(q)} = {text(f.apply(e.den))}, so {text(e.symbol)} = {text(e.value)}"
    forms = {"sigmoid": ((1 - q ** 2, "tanh' written in", "tanh'"), (1 - q, "σ' without its", "1-q")),
             "tanh": ((q * (1 - q), "σ' written in", "σ'"), (1 - q, "tanh' without its square in", "1-q"))}
    for new, what, key in forms.get(f.name, ()):
        yield Change(new, f"{text(new)} is {what} {text(q)}: {said}", ("other f'", _role(q), key))


@cell_trap("u and 1 - u swapped")
def _swapped(g: CellGraph, e: Edge):
    """The mixing equation written with a gate u and 1 − u swapped (h = u n + (1 − u) h_{t−1} for
    h = (1 − u) n + u h_{t−1}): each factor of the equation as the swapped equation gives it."""
    if e.kind not in ("read", "entry") or e.num not in g.definitions:
        return
    d = g.definitions[e.num][1]
    for q in sorted(d.free_symbols & set(g.gates), key=str):
        f = g.function_of(q)
        if f is None or f.name != "sigmoid":
            continue
        new = sp.factor_terms(sp.diff(d.xreplace({q: 1 - q}), e.den))
        if sp.expand(new - e.value) != 0:
            yield Change(new, f"{text(new)} where {text(e.symbol)} = {text(e.value)} belongs: {text(q)} and "
                              f"1 - {text(q)} swapped ({_defined(g, e.num)})", ("swap", _role(q), _role(e.num)),
                         f"the gate and its complement swapped: {text(q)} where 1 - {text(q)} belongs and the other "
                         f"way round ({_defined(g, e.num)})")


@cell_trap("state for tanh")
def _state_for_function(g: CellGraph, e: Edge):
    """h_t where an unnamed f(·) of the step belongs (tanh(c_t) of an LSTM, tanh(a_t) of a leaky cell), or
    another quantity of the step that is f of something else (the candidate g_t = tanh(aᵍ_t) for tanh(c_t))."""
    t = e.step
    h = naming.at(naming.STATE, t)
    for atom in sorted(e.value.atoms(sp.Function), key=sp.default_sort_key):
        arg = atom.args[0] if atom.args else None
        if arg in g.definitions and atom not in g._named and h in g.definitions:
            new = e.value.xreplace({atom: h})
            yield Change(new, f"{text(h)} where {text(atom)} belongs in {text(e.symbol)} = {text(e.value)}: "
                              f"{_defined(g, h)}, not {text(atom)}",
                         ("h for f", str(type(atom)), _role(arg), _role(e.num), _role(e.den)))
            for named, q in g._named.items():       # tanh(aᵍ_t) = g_t, the candidate, for tanh(c_t)
                if type(named) is type(atom) and g.definitions[q][0] == t:
                    yield Change(e.value.xreplace({atom: q}),
                                 f"{text(q)} where {text(atom)} belongs in {text(e.symbol)} = {text(e.value)}: "
                                 f"{text(q)} = {text(named)} squashes {text(named.args[0])}, not {text(arg)}",
                                 ("q for f", str(type(atom)), _role(arg), _role(q), _role(e.num), _role(e.den)))


@cell_trap("time index")
def _time_index(g: CellGraph, e: Edge):
    """One time-indexed symbol of the factor a step off: c_{t−1} for c_t, f_t for f_{t+1}."""
    known = set(g.definitions) | set(g.initial) | {s.x for s in g.unrolled.equations} | \
        {s.z for s in g.unrolled.equations}
    for q in sorted(e.value.free_symbols, key=str):
        split = naming.split_symbol(str(q))
        if not split or not split[1].isdigit():
            continue
        for by in (-1, 1):
            other = naming.at(split[0], int(split[1]) + by)
            if other in known:
                yield Change(e.value.xreplace({q: other}), f"{text(other)} where {text(q)} belongs in {e}",
                             ("time", split[0], by))


@cell_trap("factor missing")
def _factor_missing(g: CellGraph, e: Edge):
    """A whole factor ∂q/∂v left out (written 1)."""
    if e.kind not in ("activation", "loss") and e.value != 1:
        yield Change(sp.Integer(1), f"the factor {e} is missing", ("missing", e.kind, _role(e.num), _role(e.den)))


@cell_trap("part missing")
def _part_missing(g: CellGraph, e: Edge):
    """One factor or one term of a Leibniz factor left out: r1 of ∂aⁿ1/∂W_hn = r1 h0, −h0 of
    ∂h1/∂α = tanh(a1) − h0."""
    if e.kind == "loss":
        return
    for join in (sp.Mul, sp.Add):
        parts = join.make_args(e.value)
        if len(parts) < 2:
            continue
        for k, part in enumerate(parts):
            if part.is_Number:
                continue
            new = join(*(q for j, q in enumerate(parts) if j != k))
            yield Change(new, f"{text(part)} is missing from {e}", ("part", e.kind, _role(e.num), _role(e.den), k))


@cell_trap("sign")
def _sign(g: CellGraph, e: Edge):
    if e.kind == "loss":
        yield Change(-e.value, f"the sign is flipped: {text(-e.value)} where {e}", ("sign",),
                     "the sign is flipped: z_t - Y_t where ∂L_t/∂Y_t = Y_t - z_t belongs")


@cell_trap("loss derivative")
def _loss_derivative(g: CellGraph, e: Edge):
    """∂L_t/∂Y_t of another loss (Y − z for σ(Y) − z)."""
    if e.kind != "loss":
        return
    Y, z = e.den, naming.at(naming.TARGET, e.step)
    for name, rule in LOSSES.items():
        other = rule.gradient(Y, z)[-1]
        if name != g.spec.loss and sp.simplify(other - e.value) != 0:
            yield Change(other, f"{text(other)} where {e}: {text(other)} is the {name} loss's ∂L/∂Y, not this "
                                f"model's ({g.spec.loss})", ("loss", name),
                         f"the {name} loss's ∂L_t/∂Y_t = {text(rule.gradient(_Y, _z)[-1])} where this model's "
                         f"({g.spec.loss}) {text(g.spec.loss_rule.gradient(_Y, _z)[-1])} belongs")


_Y, _z = sp.Symbol("Y_t"), sp.Symbol("z_t")      # a loss rule said for any step


def changes(g: CellGraph, e: Edge) -> tuple[tuple[str, Change], ...]:
    """Every registered slip of edge e, tagged with its trap's name (duplicates dropped)."""
    seen, out = set(), []
    for name, rule in CELL_TRAPS.items():
        for c in rule(g, e):
            if c.new not in seen and sp.expand(c.new - e.value) != 0:
                seen.add(c.new)
                out.append((name, c))
    return tuple(out)


__all__ = ["CELL_TRAPS", "cell_trap", "Change", "changes"]
