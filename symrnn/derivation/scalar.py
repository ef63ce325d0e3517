"""Backpropagation through time, derived by structural recursion over the unrolled steps.

For a state parameter θ (in the pre-activation) and loss steps 𝒯, the chain rule over paths:

    ∂L/∂θ = Σ_{t∈𝒯} Σ_{s=1}^{t} ∂L_t/∂h_t (Π_{i=s+1}^{t} ∂h_i/∂h_{i−1}) ∂⁺h_s/∂θ

(∂⁺h_s/∂θ: the immediate partial, h_{s−1} held fixed — Pascanu et al. 2013). For an output
parameter: ∂L/∂θ = Σ_{t∈𝒯} ∂L_t/∂Y_t ∂Y_t/∂θ. The same sums, regrouped backwards in time:

    δ_t = ∂L/∂a_t = act'(a_t) (∂L_t/∂h_t + ∂a_{t+1}/∂h_t δ_{t+1}),   δ_{T+1} = 0
    ∂L/∂θ = Σ_t δ_t ∂⁺a_t/∂θ

Each local (Leibniz) factor keeps its simplification steps as data for the documents.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.scalar import Chain, DerivativeOf, Partial, Terms
from ..model.spec import ModelSpec
from .unroll import Unrolled, step

MAX_EXPANDED_STEPS = 12


def ordered(*factors: sp.Expr) -> sp.Expr:
    """A product kept in the written order (for display), flattening nested chains and dropping 1s."""
    flat = []
    for f in factors:
        flat.extend(f.args if isinstance(f, Chain) else (f,))
    flat = [f for f in flat if f != 1]
    if not flat:
        return sp.Integer(1)
    return flat[0] if len(flat) == 1 else Chain(*flat)


def in_order(terms) -> sp.Expr:
    """A sum kept in the written order."""
    terms = tuple(terms)
    return terms[0] if len(terms) == 1 else Terms(*terms)


@dataclass(frozen=True)
class Factor:
    """A Leibniz factor ∂num/∂den (∂⁺ if immediate) and its equal forms, last one in lecture symbols."""

    num: sp.Expr
    den: sp.Expr
    immediate: bool
    steps: tuple[sp.Expr, ...]

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


@lru_cache(maxsize=None)
def state_by(spec: ModelSpec, t, wrt: sp.Expr) -> Factor:
    """∂h_t/∂wrt through a_t: ∂/∂wrt act(a_t) = act'(a_t) ∂a_t/∂wrt, act' walked to its output form.

    Immediate (∂⁺) unless wrt is the previous state: the earlier states are held fixed.
    """
    s = step(spec, t)
    inner = sp.diff(s.a_def, wrt)
    forms = spec.activation.derivative(s.a, s.h)
    steps = (DerivativeOf(s.h_def, wrt), ordered(forms[0], Partial(s.a, wrt)))
    steps += tuple(ordered(form, inner) for form in (forms[1:] or forms))
    return Factor(s.h, wrt, wrt != s.h_prev, _dedupe(steps))


def _dedupe(steps):
    out = []
    for x in steps:
        if not out or out[-1] != x:
            out.append(x)
    return tuple(out)


def _chain(spec: ModelSpec, t, s, end: Factor | None) -> tuple[Factor, ...]:
    """∂L_t/∂h_t ∂h_t/∂h_{t−1} … ∂h_{s+1}/∂h_s, then `end` (∂⁺h_s/∂θ) if given."""
    hops = tuple(state_by(spec, i, naming.at(naming.STATE, i - 1)) for i in range(t, s, -1))
    return (loss_by_state(spec, t),) + hops + ((end,) if end else ())


# -- gradients -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Gradient:
    """∂L/∂wrt: the chain-rule terms, the δ-form, the general-T form, and how it was certified."""

    wrt: str
    terms: tuple[Term, ...]
    through: tuple[tuple[int, tuple[sp.Expr, ...]], ...]  # (t, what L_t reaches wrt through)
    delta_form: sp.Expr           # in δ_t symbols (output parameters: directly)
    general: sp.Expr              # for any T, with Σ and Π, in lecture symbols
    general_leibniz: sp.Expr      # the same with Leibniz factors
    certificate: object = None    # certify.Certificate once checked

    @property
    def expr(self) -> sp.Expr:
        return sp.Add(*(term.value for term in self.terms))

    @property
    def shown(self) -> sp.Expr:
        """The assembled sum, term by term in the lecture's order."""
        return in_order(term.shown for term in self.terms)

    @property
    def leibniz(self) -> sp.Expr:
        return in_order(term.leibniz for term in self.terms)


@dataclass(frozen=True)
class Derivation:
    """All gradients of one model unrolled over T steps, in the lecture's symbols."""

    spec: ModelSpec
    steps: int
    dims: object
    gradients: tuple[Gradient, ...]
    deltas: tuple[tuple[sp.Symbol, sp.Expr], ...]   # (δ_t, its recursion), t = T … 1
    delta_general: tuple[sp.Expr, sp.Expr]          # δ_t for a general step, and δ_T
    unrolled: Unrolled = field(repr=False, compare=False, default=None)
    matrix: object = None   # matrix.MatrixDerivation when dims = (k, m, o); then the scalar fields are empty

    @property
    def names(self) -> tuple[str, ...]:
        if self.matrix is not None:
            return self.matrix.names
        return tuple(g.wrt for g in self.gradients)

    def _get(self, name: str) -> Gradient:
        for g in self.gradients:
            if g.wrt == name:
                return g
        raise SymrnnError(f"unknown parameter {name!r}; this model has {', '.join(self.names)}")

    def gradient(self, name: str) -> sp.Expr:
        """∂L/∂name as a SymPy expression in the lecture's symbols.

        Matrix mode (dims = (k, m, o)): the matrix-form IR node at the given T with δ_t substituted
        (see `symrnn.matrix`); `d.matrix.get(name).forms` holds the general-T forms.
        """
        if self.matrix is not None:
            return self.matrix.gradient(name)
        return self._get(name).expr

    def expansion(self, name: str) -> tuple[Term, ...]:
        """The chain-rule terms of ∂L/∂name, each a product of Leibniz factors.

        Matrix mode: the addends of Σ_t written out at the given T (δ1 h0ᵀ, δ2 h1ᵀ, …).
        """
        if self.matrix is not None:
            return self.matrix.get(name).terms
        return self._get(name).terms

    def factors(self) -> tuple[Factor, ...]:
        """The distinct local factors the gradients use, in order of first use ("suffices to compute")."""
        seen = {}
        for g in self.gradients:
            for term in g.terms:
                for f in term.factors:
                    seen.setdefault(f.symbol, f)
        return tuple(seen.values())

    @property
    def certified(self) -> bool:
        if self.matrix is not None:
            return self.matrix.certified
        return all(g.certificate is not None and g.certificate.ok for g in self.gradients)

    def latex(self) -> str:
        """The derivation as a complete LaTeX document (templates/derivation.tex.jinja)."""
        from ..documents.latex import render
        return render(self)

    def _repr_latex_(self) -> str:
        """Jupyter shows a derivation as its assembled gradients, in the lecture's notation."""
        from ..documents.latex import repr_latex
        return repr_latex(self)


def _general(spec: ModelSpec, wrt: sp.Expr, leibniz: bool) -> sp.Expr:
    """∂L/∂wrt for any T with Σ and Π, from the local factors at symbolic steps."""
    t, s, i, T = naming.t, naming.s, naming.i, naming.T
    pick = (lambda f: f.symbol) if leibniz else (lambda f: f.shown)
    hop = pick(state_by(spec, i, naming.at(naming.STATE, i - 1)))
    cell, h0 = spec.cell, naming.at(naming.STATE, 0)
    last = spec.output == "last"

    def over_loss_steps(body):  # Σ_{t=1}^{T} body(t), or body(T) for many-to-one
        return body(T) if last else sp.Sum(body(t), (t, 1, T))

    parts = []
    if wrt == h0:
        parts.append(over_loss_steps(lambda u: ordered(pick(loss_by_state(spec, u)), sp.Product(hop, (i, 1, u)))))
    if wrt in cell.preactivation.free_symbols:
        parts.append(over_loss_steps(lambda u: sp.Sum(ordered(
            pick(loss_by_state(spec, u)), sp.Product(hop, (i, s + 1, u)), pick(state_by(spec, s, wrt))), (s, 1, u))))
    if wrt in cell.output_map.free_symbols:
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


def _delta(spec: ModelSpec, t, nxt, local: bool) -> sp.Expr:
    """δ_t = act'(a_t) (∂L_t/∂h_t + ∂a_{t+1}/∂h_t δ_{t+1}), either part absent when it does not exist."""
    s = step(spec, t)
    inflow = [loss_by_state(spec, t).shown] if local else []
    if nxt:
        inflow.append(ordered(sp.diff(step(spec, t + 1).a_def, s.h), naming.at(naming.DELTA, t + 1)))
    return ordered(spec.activation.derivative(s.a, s.h)[-1], in_order(inflow))


def _delta_recursion(u: Unrolled):
    """(δ_t, its recursion) for t = T … 1, in lecture symbols."""
    return tuple((naming.at(naming.DELTA, t), _delta(u.spec, t, t < u.steps, t in u.loss_steps))
                 for t in range(u.steps, 0, -1))


def _delta_general(spec: ModelSpec):
    """(δ_t, δ_T) at symbolic steps: the recursion and its start."""
    return _delta(spec, naming.t, True, spec.output == "every"), _delta(spec, naming.T, False, True)


def _gradient(u: Unrolled, name: str) -> Gradient:
    spec, cell = u.spec, u.spec.cell
    wrt = u.h0 if name == "h0" else naming.param(name)
    terms, through, delta = [], [], []
    for t in u.loss_steps:
        reach = ()
        if wrt == u.h0:
            terms.append(Term(t, _chain(spec, t, 0, None)))
            reach = tuple(u.at(j).h for j in range(1, t + 1))
        if wrt in cell.preactivation.free_symbols:
            terms.extend(Term(t, _chain(spec, t, s, state_by(spec, s, wrt))) for s in range(1, t + 1))
            reach = tuple(u.at(j).h for j in range(1, t + 1))
        if wrt in cell.output_map.free_symbols:
            terms.append(Term(t, (loss_by_output(spec, t), output_by(spec, t, wrt))))
            delta.append(ordered(loss_by_output(spec, t).shown, output_by(spec, t, wrt).shown))
            reach += (u.at(t).Y,)
        through.append((t, reach))
    if wrt == u.h0:
        delta.append(ordered(naming.at(naming.DELTA, 1), sp.diff(u.at(1).a_def, wrt)))
    if wrt in cell.preactivation.free_symbols:
        delta.extend(ordered(naming.at(naming.DELTA, s.t), sp.diff(s.a_def, wrt)) for s in u.equations)
    return Gradient(name, tuple(terms), tuple(through), in_order(delta),
                    _general(spec, wrt, leibniz=False), _general(spec, wrt, leibniz=True))


def check_steps(steps) -> int:
    """The number of steps, or a one-line error naming it."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise SymrnnError(f"steps must be a whole number ≥ 1, got {steps!r}")
    if steps < 1:
        raise SymrnnError(f"steps must be ≥ 1, got {steps}")
    if steps > MAX_EXPANDED_STEPS:
        raise SymrnnError(
            f"steps {steps} is above {MAX_EXPANDED_STEPS}: the expanded chain rule would have "
            f"{steps * (steps + 1) // 2} terms per gradient; the general-T form printed for any "
            f"T ≤ {MAX_EXPANDED_STEPS} holds for every T")
    return steps


def derive(spec: ModelSpec, steps: int = 2, dims="scalar", params=None, certify: bool = True) -> Derivation:
    """Derive ∂L/∂θ for every parameter (or those named in `params`) and ∂L/∂h0, then certify them.

    dims = "scalar" (k = m = o = 1, the lecture's expansion) or (k, m, o): the matrix form, held in
    `Derivation.matrix` (a `matrix.MatrixDerivation`), with `gradient`, `expansion` and `certified`
    answering from it.
    """
    steps = check_steps(steps)
    names = tuple(spec.params) + ("h0",)
    if params:
        for p in params:
            if p not in names:
                raise SymrnnError(f"unknown parameter {p!r}; this model has {', '.join(names)}")
        names = tuple(p for p in names if p in params)
    if not (isinstance(dims, str) and dims == "scalar"):
        from .matrix import check_dims, derive_matrix
        dims = check_dims(dims, spec)
        md = derive_matrix(spec, steps, dims, names, certify=certify)
        return Derivation(spec, steps, dims, (), (), (None, None), None, matrix=md)
    u = Unrolled(spec, steps)
    d = Derivation(spec, steps, dims, tuple(_gradient(u, n) for n in names),
                   _delta_recursion(u), _delta_general(spec), u)
    if certify:
        from ..certification.scalar import certify as run_checks
        d = replace(d, gradients=tuple(replace(g, certificate=run_checks(d, g)) for g in d.gradients))
    return d
