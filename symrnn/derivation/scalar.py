"""Backpropagation through time in the lecture's scalar form: the chain rule over the unrolled graph.

For a parameter θ of the state update and loss steps 𝒯, a sum over paths:

    ∂L/∂θ = Σ_{t∈𝒯} Σ_{s=1}^{t} ∂L_t/∂h_t (Π_{i=s+1}^{t} ∂h_i/∂h_{i−1}) ∂⁺h_s/∂θ

(∂⁺h_s/∂θ: the immediate partial, h_{s−1} held fixed — Pascanu et al. 2013). For an output
parameter: ∂L/∂θ = Σ_{t∈𝒯} ∂L_t/∂Y_t ∂Y_t/∂θ. A step's factors are themselves the chain rule over
the step's own equations (a gated cell's ∂h_t/∂h_{t−1} sums its paths through the gates); with
several states (an LSTM's h and c) a path chooses a state at every step, so the expansion is
written out for small T only and the δ form leads. The same sums, regrouped backwards in time, are
the δ-recursion (for Elman δ_t = ∂L/∂a_t = f'(a_t)(∂L_t/∂h_t + ∂a_{t+1}/∂h_t δ_{t+1})), whose
named quantities are those of the matrix form's adjoint program.

Each local (Leibniz) factor keeps its simplification steps as data for the documents.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import product as paths_of

import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.nodes import Map, Vec
from ..ir.primitives import FUNCTIONS
from ..ir.scalar import Chain, DerivativeOf, Partial, Terms
from ..model.spec import ModelSpec
from ..printers import lecture as printing
from ..printers import show
from .program import primal
from .unroll import Unrolled, step
from .matrix import _delta_keep

MAX_EXPANDED_STEPS = 12     # one state: T(T+1)/2 paths per parameter, each of length ≤ T + 1
MAX_EXPANDED_TERMS = 120    # several states: the paths multiply (2^(t−s) per pair of steps)
MAX_STEPS = 60              # the δ-recursion beyond the expansion (its size grows like T)


def ordered(*factors: sp.Expr) -> sp.Expr:
    """A product kept in the written order (for display), flattening nested chains and dropping 1s."""
    flat = []
    for f in factors:
        flat.extend(f.args if isinstance(f, Chain) else (f,))
    flat = [f for f in flat if f != 1]
    if not flat:
        return sp.Integer(1)
    if any(f == 0 for f in flat):
        return sp.Integer(0)
    return flat[0] if len(flat) == 1 else Chain(*flat)


def in_order(terms) -> sp.Expr:
    """A sum kept in the written order (zeros dropped)."""
    terms = tuple(t for t in terms if t != 0)
    if not terms:
        return sp.Integer(0)
    return terms[0] if len(terms) == 1 else Terms(*terms)


@dataclass(frozen=True)
class Factor:
    """A Leibniz factor ∂num/∂den (∂⁺ if immediate) and its equal forms, last one in lecture symbols.

    `parts`: the factors of the step's own quantities its forms use (a gate's ∂u_t/∂h_{t−1}).
    """

    num: sp.Expr
    den: sp.Expr
    immediate: bool
    steps: tuple[sp.Expr, ...]
    parts: tuple["Factor", ...] = ()

    @property
    def symbol(self) -> Partial:
        return Partial(self.num, self.den, self.immediate)

    @property
    def shown(self) -> sp.Expr:
        """The final form, factors in written order."""
        return self.steps[-1]

    @property
    def value(self) -> sp.Expr:
        return self.steps[-1].doit()

    def __str__(self) -> str:
        """∂⁺h1/∂W = sech²(a1) ∂a1/∂W = … = (1 - h1²) h0: the factor and its simplification steps."""
        return " = ".join(printing.text(x) for x in (self.symbol, *self.steps))

    def __repr__(self) -> str:
        return f"<Factor {show.brief(printing.text(self.symbol) + ' = ' + printing.text(self.shown))}>"

    def _repr_latex_(self) -> str:
        return f"${' = '.join(printing.latex(x) for x in (self.symbol, *self.steps))}$"


@dataclass(frozen=True)
class Term:
    """One chain-rule path from the loss term L_t to a parameter: a product of Leibniz factors."""

    loss_step: int
    factors: tuple[Factor, ...]

    @property
    def leibniz(self) -> sp.Expr:
        return ordered(*(f.symbol for f in self.factors))

    @property
    def shown(self) -> sp.Expr:
        return ordered(*(f.shown for f in self.factors))

    @property
    def value(self) -> sp.Expr:
        return sp.Mul(*(f.value for f in self.factors))

    def __str__(self) -> str:
        """∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W = (Y2 - z2) V (1 - h2²) W (1 - h1²) h0."""
        return f"{printing.text(self.leibniz)} = {printing.text(self.shown)}"

    def __repr__(self) -> str:
        return f"<Term of L{self.loss_step}: {show.brief(printing.text(self.leibniz))}>"

    def _repr_latex_(self) -> str:
        return f"${printing.latex(self.leibniz)} = {printing.latex(self.shown)}$"


# -- local factors, at a numeric step or a symbolic one ------------------------------------

@lru_cache(maxsize=None)
def loss_by_output(spec: ModelSpec, t) -> Factor:
    """∂L_t/∂Y_t, by the loss rule (Y_t − z_t for squared error)."""
    s = step(spec, t)
    return Factor(s.L, s.Y, False, spec.loss_rule.gradient(s.Y, s.z))


@lru_cache(maxsize=None)
def output_by(spec: ModelSpec, t, wrt: sp.Expr) -> Factor:
    """∂Y_t/∂wrt, from the output map (∂Y_t/∂V = h_t, ∂Y_t/∂h_t = V)."""
    s = step(spec, t)
    return Factor(s.Y, wrt, False, (sp.diff(s.Y_def, wrt),))


@lru_cache(maxsize=None)
def loss_by_state(spec: ModelSpec, t) -> Factor:
    """∂L_t/∂h_t = ∂L_t/∂Y_t ∂Y_t/∂h_t."""
    s = step(spec, t)
    ly, yh = loss_by_output(spec, t), output_by(spec, t, s.h)
    steps = (ordered(ly.symbol, yh.symbol),) + tuple(ordered(form, yh.shown) for form in ly.steps)
    return Factor(s.L, s.h, False, steps)


def activation_of(spec: ModelSpec, t, symbol):
    """(f, its argument) when the quantity `symbol` of step t is f(p) with p a named pre-activation, else None."""
    program = primal(spec.cell)
    for e in program.equations:
        if naming.at(e.name, t) == symbol:
            if isinstance(e.rhs, Map) and isinstance(e.rhs.arg, Vec):
                return e.rhs.function, naming.at(e.rhs.arg.role, t)
            if isinstance(e.rhs, Vec) and (e.rhs.role, e.name) in program.preacts:   # the identity, applied
                return FUNCTIONS["identity"], naming.at(e.rhs.role, t)
    return None


def _named(spec: ModelSpec, t, expr: sp.Expr) -> list:
    """The quantities of step t that expr reads, in the order of the step's equations."""
    s = step(spec, t)
    free = expr.free_symbols | {x for x in expr.atoms(sp.Indexed)}
    return [sym for sym, _ in s.equations if sym in free]


@lru_cache(maxsize=None)
def in_step(spec: ModelSpec, t, symbol, wrt) -> Factor | None:
    """∂symbol/∂wrt within step t (wrt a parameter or a previous state, the step's other inputs held fixed):
    the chain rule over the step's own equations. None when symbol does not depend on wrt in the step.

    f(p) with a named pre-activation p is written as the lecture does, ∂/∂wrt f(p) = f'(p) ∂p/∂wrt with f'
    walked to its output form; any other equation as the sum over what it reads, ∂⁺e/∂wrt + Σ_v ∂e/∂v ∂v/∂wrt.
    """
    s = step(spec, t)
    definition = s.definition(symbol)
    immediate = wrt not in {naming.at(st, t - 1) for st in spec.cell.states}
    if definition is None:   # an input of the step (x_t, h_{t−1}): only wrt itself depends on wrt
        return Factor(symbol, wrt, immediate, (sp.S.One,)) if symbol == wrt else None
    act = activation_of(spec, t, symbol)
    if act is not None:
        f, arg = act
        inner = in_step(spec, t, arg, wrt)
        if inner is None:
            return None
        forms = f.derivative(arg, symbol)
        steps = (DerivativeOf(definition, wrt), ordered(forms[0], Partial(arg, wrt)))
        steps += tuple(ordered(form, inner.shown) for form in (forms[1:] or forms))
        return Factor(symbol, wrt, immediate, _dedupe(steps), inner.parts)
    direct = sp.diff(definition, wrt)
    through = [(v, in_step(spec, t, v, wrt)) for v in _named(spec, t, definition)]
    through = [(v, fv) for v, fv in through if fv is not None]
    if not through:
        return None if direct == 0 else Factor(symbol, wrt, immediate, (direct,))
    leibniz = ([Partial(symbol, wrt, True)] if direct != 0 else []) + [
        ordered(Partial(symbol, v), fv.symbol) for v, fv in through]
    values = ([direct] if direct != 0 else []) + [ordered(partial_shown(spec, t, symbol, v), fv.shown)
                                                 for v, fv in through]
    parts = tuple(p for v, fv in through for p in (fv.parts + ((fv,) if not _is_preact(spec, t, v) else ())))
    return Factor(symbol, wrt, immediate, (in_order(leibniz), in_order(values)), _unique(parts))


def _is_preact(spec: ModelSpec, t, symbol) -> bool:
    return symbol in dict(step(spec, t).preacts)


def partial_shown(spec: ModelSpec, t, symbol, v) -> sp.Expr:
    """∂symbol/∂v for a quantity v that symbol reads directly; f'(p) in its output form when symbol = f(p)."""
    act = activation_of(spec, t, symbol)
    if act is not None and act[1] == v:
        return act[0].derivative(v, symbol)[-1]
    return sp.diff(step(spec, t).definition(symbol), v)


def _unique(factors) -> tuple:
    seen = {}
    for f in factors:
        seen.setdefault(f.symbol, f)
    return tuple(seen.values())


def _dedupe(steps):
    out = []
    for x in steps:
        if not out or out[-1] != x:
            out.append(x)
    return tuple(out)


@lru_cache(maxsize=None)
def state_by(spec: ModelSpec, t, wrt: sp.Expr, state: str = naming.STATE) -> Factor | None:
    """∂s_t/∂wrt for the state s (h by default) through the step's equations; ∂⁺ unless wrt is a previous state."""
    return in_step(spec, t, naming.at(state, t), wrt)


def _hops(spec: ModelSpec, t, s, path) -> tuple[Factor, ...] | None:
    """∂σ_t/∂σ_{t−1} … ∂σ_{s+1}/∂σ_s along the states of `path` (σ_t, …, σ_s); None if a hop is zero."""
    out = []
    for i in range(t, s, -1):
        f = state_by(spec, i, naming.at(path[t - i + 1], i - 1), path[t - i])
        if f is None:
            return None
        out.append(f)
    return tuple(out)


def _state_paths(spec: ModelSpec, t, s):
    """Every sequence of states (σ_t = h, σ_{t−1}, …, σ_s)."""
    states = spec.cell.states
    for rest in paths_of(states, repeat=t - s):
        yield (naming.STATE,) + rest


# -- gradients -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Gradient:
    """∂L/∂wrt: the chain-rule terms (empty beyond the readable expansion), the δ-form, the general-T
    form (single-state cells), and how it was certified."""

    wrt: str
    terms: tuple[Term, ...]
    through: tuple[tuple[int, tuple[sp.Expr, ...]], ...]  # (t, what L_t reaches wrt through)
    delta_form: sp.Expr           # in δ_t symbols (output parameters: directly)
    general: sp.Expr | None       # for any T, with Σ and Π, in lecture symbols
    general_leibniz: sp.Expr | None
    deltas: tuple = field(default=(), repr=False)   # the δ form's quantities, T … 1 (to substitute them back)
    certificate: object = None

    @cached_property
    def expr(self) -> sp.Expr:
        """∂L/∂wrt in the lecture's symbols alone: the sum of the paths, or (beyond the expansion) the δ-form with
        the recursion substituted back, refused when that would be too large to print (a gated cell's grows
        like 3^T, since h̄_t is read by several gates)."""
        if self.terms:
            return sp.Add(*(term.value for term in self.terms))
        env: dict = {}
        size = tree_size(self.delta_form, dict(self.deltas))
        if size > MAX_SUBSTITUTED:
            raise SymrnnError(f"∂L/∂{self.wrt} in the lecture's symbols alone would have about {size} nodes at this "
                              f"T; use its δ-form ({self.wrt}: delta_form) with the recursion (deltas)")
        for sym, body in self.deltas:
            env[sym] = body.doit().xreplace(env)
        return self.delta_form.doit().xreplace(env)

    @property
    def shown(self) -> sp.Expr:
        """The assembled sum, term by term in the lecture's order."""
        return in_order(term.shown for term in self.terms) if self.terms else self.delta_form

    @property
    def leibniz(self) -> sp.Expr:
        return in_order(term.leibniz for term in self.terms) if self.terms else self.delta_form

    # -- how it shows itself (terminal, Jupyter) --

    @property
    def _lhs(self) -> Partial:
        return Partial(naming.TOTAL_LOSS, naming.param(self.wrt))   # h0 and c0 are their own symbols too

    def _factors(self) -> list[Factor]:
        seen: list[Factor] = []
        for term in self.terms:
            seen += [f for f in term.factors if f not in seen]
        return seen

    def _checks(self) -> list[str]:
        if self.certificate is None:
            return ["✗ not certified (derived with certification switched off)"]
        return [("✓ " if c.passed else "✗ FAILED ") + str(c) for c in self.certificate.checks]

    def __str__(self) -> str:
        """The gradient as the lecture writes it: chain rule, local factors, result, certificate."""
        lhs = printing.text(self._lhs)
        lines = [f"{lhs} = {printing.text(self.leibniz)}"] if self.terms else []
        lines += [f"  {f}" for f in self._factors()]
        lines.append(f"{lhs} = {printing.text(self.shown)}")
        if self.terms:
            lines.append(f"  δ-form: {printing.text(self.delta_form)}")
        if self.general is not None:
            lines.append(f"  any T: {printing.text(self.general)}")
        lines += [f"  {c}" for c in self._checks()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = ("not certified" if self.certificate is None else
                 "certified" if self.certificate.ok else "CERTIFICATION FAILED")
        paths = f"{len(self.terms)} chain-rule term{'s' * (len(self.terms) != 1)}" if self.terms else "δ-form"
        return f"<Gradient {printing.text(self._lhs)}: {paths}, {state}>"

    def _sections(self) -> list[tuple[str, object]]:
        lhs = printing.latex(self._lhs)
        out = []
        if self.terms:
            out.append(("The chain rule over the unrolled graph", [f"{lhs} &= {printing.latex(self.leibniz)}"]))
            out.append(("Local factors", [" &= ".join([printing.latex(f.symbol), " = ".join(printing.latex(x)
                                                       for x in f.steps)]) for f in self._factors()]))
        out.append(("Result", [f"{lhs} &= {printing.latex(self.shown)}"]
                    + ([rf"&= {printing.latex(self.general)} \quad \text{{(any $T$)}}"] if self.general is not None
                       else [])))
        return out + [("Certificate", " · ".join(self._checks()))]

    def _repr_latex_(self) -> str:
        return show.latex_page(self._sections())

    def _repr_html_(self) -> str:
        return show.html_page(self._sections())


@dataclass(frozen=True)
class ScalarDerivation:
    """All gradients of one model unrolled over T steps, in the lecture's symbols (every size 1)."""

    spec: ModelSpec
    steps: int
    gradients: tuple[Gradient, ...]
    deltas: tuple[tuple[sp.Expr, sp.Expr], ...]     # the δ form's quantities with their recursion, t = T … 1
    delta_general: tuple[tuple[sp.Expr, sp.Expr], ...]   # (lhs_t, recursion) at a symbolic step
    delta_start: tuple[tuple[sp.Expr, sp.Expr], ...]     # where it starts: the last step, T
    expanded: bool                                   # whether the chain-rule paths are written out
    unrolled: Unrolled = field(repr=False, compare=False, default=None)

    dims = "scalar"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.wrt for g in self.gradients)

    def get(self, name: str) -> Gradient:
        for g in self.gradients:
            if g.wrt == name:
                return g
        raise SymrnnError(f"unknown parameter {name!r}; this model has {', '.join(self.names)}")

    _get = get

    def gradient(self, name: str) -> sp.Expr:
        """∂L/∂name as a SymPy expression in the lecture's symbols."""
        return self.get(name).expr

    def expansion(self, name: str) -> tuple[Term, ...]:
        """The chain-rule terms of ∂L/∂name, each a product of Leibniz factors (empty beyond the expansion)."""
        return self.get(name).terms

    def factors(self) -> tuple[Factor, ...]:
        """The distinct local factors the gradients use, in order of first use ("suffices to compute"),
        then the factors of the step's own quantities they are made of."""
        seen: dict = {}
        parts: dict = {}
        for g in self.gradients:
            for term in g.terms:
                for f in term.factors:
                    seen.setdefault(f.symbol, f)
                    for p in f.parts:
                        parts.setdefault(p.symbol, p)
        return tuple(seen.values()) + tuple(p for key, p in parts.items() if key not in seen)

    @property
    def certified(self) -> bool:
        return bool(self.gradients) and all(g.certificate is not None and g.certificate.ok for g in self.gradients)

    @property
    def matrix(self):
        return None


def _general(spec: ModelSpec, wrt: sp.Expr, leibniz: bool) -> sp.Expr | None:
    """∂L/∂wrt for any T with Σ and Π, from the local factors at symbolic steps (one state only)."""
    if len(spec.cell.states) > 1:
        return None
    t, s, i, T = naming.t, naming.s, naming.product_index(primal(spec.cell).names), naming.T
    pick = (lambda f: f.symbol) if leibniz else (lambda f: f.shown)
    hop = pick(state_by(spec, i, naming.at(naming.STATE, i - 1)))
    h0 = naming.at(naming.STATE, 0)
    last = spec.output == "last"

    def over_loss_steps(body):  # Σ_{t=1}^{T} body(t), or body(T) for many-to-one
        return body(T) if last else sp.Sum(body(t), (t, 1, T))

    parts = []
    if wrt == h0:
        parts.append(over_loss_steps(lambda u: ordered(pick(loss_by_state(spec, u)), sp.Product(hop, (i, 1, u)))))
    entry = state_by(spec, s, wrt)
    if wrt != h0 and entry is not None:
        parts.append(over_loss_steps(lambda u: sp.Sum(ordered(
            pick(loss_by_state(spec, u)), sp.Product(hop, (i, s + 1, u)), pick(state_by(spec, s, wrt))), (s, 1, u))))
    if wrt in step(spec, t).Y_def.free_symbols:
        parts.append(over_loss_steps(lambda u: ordered(pick(loss_by_output(spec, u)), pick(output_by(spec, u, wrt)))))
    return in_order(parts)


def at_steps(general: sp.Expr, steps: int) -> sp.Expr:
    """A general-T form at T = steps: Σ and Π written out term by term, in the lecture's symbols.

    (SymPy's doit cannot do a Σ whose inner limit is the outer index; an empty Π is 1.)
    """
    def out(e):
        if isinstance(e, (sp.Sum, sp.Product)):
            var, lo, hi = e.limits[-1]
            inner = e.func(e.function, *e.limits[:-1]) if len(e.limits) > 1 else e.function
            join = sp.Add if isinstance(e, sp.Sum) else sp.Mul
            return join(*(out(inner.xreplace({var: k})) for k in range(int(lo), int(hi) + 1)))
        return e.func(*map(out, e.args)) if e.args else e
    return naming.concrete(out(general.xreplace({naming.T: steps}))).doit()


# -- the δ form: the adjoint program with every size 1 ----------------------------------------

def _kept(spec: ModelSpec) -> frozenset:
    """The roles the δ form names (those of the matrix form's δ-recursion: read more than once)."""
    return frozenset(v.role for v in _delta_keep(spec))


def _adjoints(spec: ModelSpec, t, loss_here: bool, carried: bool) -> list[tuple[sp.Expr, sp.Expr]]:
    """The δ form's quantities at step t (kept ones named, the others substituted), in reverse program order.

    v̄_t = Σ_{e reads v at t} ∂e_t/∂v_t ē_t + Σ_{e reads v at t+1} ∂e_{t+1}/∂v_t ē_{t+1}, and for h the loss at t.
    """
    program, kept = primal(spec.cell), _kept(spec)
    s, nxt = step(spec, t), step(spec, t + 1)
    name = {e.name: program.adjoint_name(e.name) for e in program.equations}
    adjoint_at: dict = {}

    def later(e: str):
        """ē_{t+1}: its symbol, or (substituted) its expression at t + 1 (only a kept vector is read across steps)."""
        return naming.at(name[e], t + 1)

    contributions = {e.name: [] for e in program.equations}
    if loss_here:
        contributions[naming.STATE].append(loss_by_state(spec, t).shown)
    if carried:
        for st in spec.cell.states:
            prev = naming.at(st, t)
            for e in program.equations:
                d = nxt.definition(naming.at(e.name, t + 1))
                if prev in d.free_symbols | set(d.atoms(sp.Indexed)):
                    contributions[st].append(ordered(sp.diff(d, prev), later(e.name)))
    out = []
    for e in reversed(program.equations):
        if not contributions[e.name]:
            continue
        total = in_order(contributions[e.name])
        symbol = naming.at(name[e.name], t)
        value = symbol if name[e.name] in kept else total
        adjoint_at[e.name] = value
        if name[e.name] in kept:
            out.append((symbol, total))
        me = naming.at(e.name, t)
        for v in _named(spec, t, s.definition(me)):
            contributions[str(v.base) if isinstance(v, sp.Indexed) else _role(v)].append(
                ordered(partial_shown(spec, t, me, v), value))
    return out, adjoint_at


def _role(symbol: sp.Symbol) -> str:
    split = naming.split_symbol(symbol.name)
    return split[0] if split else symbol.name


def _delta_gradient(spec: ModelSpec, u: Unrolled, wrt: sp.Expr, adjoints) -> sp.Expr:
    """Σ_t Σ_{e reads θ} ē_t ∂⁺e_t/∂θ; for an initial state, Σ_{e at step 1 reads it} ē_1 ∂e_1/∂s_0."""
    initial = wrt in u.initial
    terms = []
    for s in (u.equations[:1] if initial else u.equations):
        at_step = adjoints[int(s.t)]
        for sym, definition in s.equations:
            if wrt in definition.free_symbols and _role(sym) in at_step:
                terms.append(ordered(at_step[_role(sym)], sp.diff(definition, wrt)))
    return in_order(terms)


def _delta_output(spec: ModelSpec, u: Unrolled, wrt) -> sp.Expr:
    return in_order(ordered(loss_by_output(spec, t).shown, output_by(spec, t, wrt).shown) for t in u.loss_steps)


# -- the whole derivation -------------------------------------------------------------------

def _gradient(u: Unrolled, name: str, expanded: bool, adjoints, deltas) -> Gradient:
    spec = u.spec
    states = spec.cell.states
    wrt = naming.at(name[:-1], 0) if name in spec.cell.initial else naming.param(name)
    initial = wrt in u.initial
    terms, through = [], []
    for t in u.loss_steps:
        reach = ()
        if initial:
            target = name[:-1]
            for path in _state_paths(spec, t, 0) if expanded else ():   # paths: |states|^t, only when shown
                if path[-1] != target:
                    continue
                hops = _hops(spec, t, 0, path)
                if hops is not None:
                    terms.append(Term(t, (loss_by_state(spec, t),) + hops))
            reach = tuple(naming.at(st, j) for j in range(1, t + 1) for st in states)
        elif any(wrt in d.free_symbols for s in u.equations for _, d in s.equations):
            for s in range(1, t + 1) if expanded else ():
                for path in _state_paths(spec, t, s):
                    entry = state_by(spec, s, wrt, path[-1])
                    hops = _hops(spec, t, s, path)
                    if entry is not None and hops is not None:
                        terms.append(Term(t, (loss_by_state(spec, t),) + hops + (entry,)))
            reach = tuple(naming.at(st, j) for j in range(1, t + 1) for st in states)
        if wrt in u.at(t).Y_def.free_symbols:
            terms.append(Term(t, (loss_by_output(spec, t), output_by(spec, t, wrt))))
            reach += (u.at(t).Y,)
        through.append((t, reach))
    if initial or name in spec.cell.state_params:
        delta = _delta_gradient(spec, u, wrt, adjoints)
    else:
        delta = _delta_output(spec, u, wrt)
    return Gradient(name, tuple(terms) if expanded else (), tuple(through), delta,
                    _general(spec, wrt, leibniz=False), _general(spec, wrt, leibniz=True), deltas)


MAX_SUBSTITUTED = 100_000   # nodes: beyond this a gradient is given in its δ-form only


def tree_size(e: sp.Expr, defs: dict, memo: dict | None = None) -> int:
    """How many nodes e has once every quantity of `defs` in it is replaced by its definition (not built)."""
    memo = {} if memo is None else memo
    if e in memo:
        return memo[e]
    if e in defs:
        n = tree_size(defs[e], defs, memo)
    else:
        n = 1 + sum(tree_size(a, defs, memo) for a in e.args)
    memo[e] = n
    return n


def expansion_size(spec: ModelSpec, steps: int) -> int:
    """How many chain-rule paths the largest gradient has at T = steps."""
    n = len(spec.cell.states)
    loss_steps = spec.loss_steps(steps)
    return sum(n ** (t - s) * n for t in loss_steps for s in range(0, t + 1))


def check_steps(steps) -> int:
    """The number of steps, or a one-line error naming it."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise SymrnnError(f"steps must be a whole number ≥ 1, got {steps!r}")
    if steps < 1:
        raise SymrnnError(f"steps must be ≥ 1, got {steps}")
    if steps > MAX_STEPS:
        raise SymrnnError(f"steps {steps} is above {MAX_STEPS} for the scalar form (its δ-recursion is written "
                          f"out step by step); the general forms printed for smaller T hold for every T, and "
                          f"the matrix form (--dims) and the kernels take any T")
    return steps


def derive_scalar(spec: ModelSpec, steps: int, names) -> ScalarDerivation:
    """The scalar derivation of ∂L/∂θ for the parameters and initial states in `names` (pure: no checks run).

    The chain-rule paths are written out while readable (T ≤ 12 for one state; ≤ 120 paths for several);
    the δ-recursion always.
    """
    steps = check_steps(steps)
    u = Unrolled(spec, steps)
    expanded = steps <= MAX_EXPANDED_STEPS and (len(spec.cell.states) == 1
                                                or expansion_size(spec, steps) <= MAX_EXPANDED_TERMS)
    adjoints, deltas = {}, []
    for t in range(steps, 0, -1):
        named, at = _adjoints(spec, t, t in u.loss_steps, t < steps)
        adjoints[t] = at
        deltas += named
    t, T = naming.t, naming.T
    general, _ = _adjoints(spec, t, spec.output == "every", True)
    start = tuple(_adjoints(spec, T, True, False)[0])   # the last step: its loss, nothing after it
    gradients = tuple(_gradient(u, name, expanded, adjoints, tuple(deltas)) for name in names)
    return ScalarDerivation(spec, steps, gradients, tuple(deltas), tuple(general), start, expanded, u)


__all__ = ["ScalarDerivation", "Gradient", "Term", "Factor", "derive_scalar", "at_steps", "ordered", "in_order",
           "loss_by_output", "loss_by_state", "output_by", "state_by", "in_step", "check_steps",
           "MAX_EXPANDED_STEPS", "activation_of", "partial_shown"]
