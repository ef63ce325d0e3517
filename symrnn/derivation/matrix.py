"""BPTT in matrix (vector) form for any cell: the adjoint program of `derivation.program`, viewed four ways.

Column vectors, h_t ∈ R^k, x_t ∈ R^m, Y_t ∈ R^o; g_t = ∂L_t/∂Y_t from the loss rule. The derivation
never differentiates a matrix expression as a whole (SymPy's `MatrixSymbol.diff` fails on this
model, see DESIGN.md): it walks the step's equations with one rule per node (`ir.rules`) and
recurses over time. For Elman the four forms are

    δ-recursion (⊙)    δ_t = f'(h_t) ⊙ (Vᵀ g_t + Wᵀ δ_{t+1}),  δ_{T+1} = 0;   ∂L/∂W = Σ_t δ_t h_{t−1}ᵀ, ∂L/∂h_0 = Wᵀ δ_1
    δ-recursion (diag) δ_t = diag(f'(h_t)) (Vᵀ g_t + Wᵀ δ_{t+1})
    state gradients    γ_t = ∂L/∂h_t = Wᵀ diag(f'(h_{t+1})) γ_{t+1} + Vᵀ g_t   (Goodfellow et al. §10.2.2)
    Jacobian products  ∂h_t/∂h_s = Π_{i=s+1}^{t} diag(f'(h_i)) W,  ∂L/∂θ = Σ_t Σ_s (∂⁺a_s/∂θ)ᵀ diag(f'(h_s)) (∂h_t/∂h_s)ᵀ Vᵀ g_t

and for a gated cell the δ-recursion runs over the state adjoints h̄_t (c̄_t) and one δ^e_t per gate,
the state-gradient form over the states only, and the Jacobian products over the block hop
∂(h_t, c_t)/∂(h_{t−1}, c_{t−1}) when there are several states. Every form is certified by
`certification.matrix`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.lift import lift_elementwise
from ..ir.nodes import (Block, Map, Minus, Node, OneHot, Ones, Part, ProdOver, Softmax, SumOver, Vec, Zeros, matmul, plus,
                        product, rebuild, summation, transpose, vec)
from ..ir.rules import derivative_of, jacobian, vjp
from ..ir.scalar import Partial
from ..model.spec import ModelSpec, param_node
from .program import CARRY, Step, primal, walk
from ..ir.nodes import addends
from .shapes import check_cell
from ..printers import lecture as printing
from ..printers import show


# -- the pieces of one step ------------------------------------------------------------------

def loss_gradient(spec: ModelSpec, Y: Node, z: Node) -> Node:
    """g_t = ∂L_t/∂Y_t: a vector loss's scalar rule applied elementwise (Y − z, σ(Y) − z); softmax
    cross-entropy over the o logits: softmax(Y_t) − onehot(z_t) (the scalar registry's ce is the
    two-class case over the logits (0, Y), which has no o = 1 counterpart)."""
    rule = spec.loss_rule
    if rule.vector:
        return lift_elementwise(rule.gradient(naming.Y, naming.Z)[-1], {naming.Y: Y, naming.Z: z})
    return Minus(Softmax(Y), OneHot(z))


def output_at(spec: ModelSpec, t) -> Node:
    """Y_t's definition (V h_t + c)."""
    return spec.cell.output.xreplace({naming.t: t})


def own(spec: ModelSpec, t) -> Node | None:
    """(∂Y_t/∂h_t)ᵀ g_t, with g_t written out (Vᵀ(Y_t − z_t)): what L_t sends to h_t."""
    return vjp(output_at(spec, t), vec(naming.STATE, t), loss_gradient(spec, vec(naming.OUTPUT, t), vec(naming.TARGET, t)))


@dataclass(frozen=True)
class StepEquations:
    """One step at the symbolic t, for the documents: the equations, Y_t, g_t and each activation's f'."""

    equations: tuple[tuple[Vec, Node], ...]          # the primal program (pre-activations named)
    Y: Vec
    Y_def: Node
    g: Node
    derivatives: tuple[tuple[Map, Vec, Node], ...]   # (f(a), its output, f' in the output) per activation

    @property
    def fprime(self) -> Node:
        """f'(h_t) of a single-activation cell (the lecture's; 1 for the identity)."""
        return self.derivatives[0][2] if self.derivatives else Ones()


def step_equations(spec: ModelSpec, t=naming.t) -> StepEquations:
    step = primal(spec.cell)
    eqs = tuple((vec(e.name, t), e.rhs.xreplace({naming.t: t})) for e in step.equations)
    derivs = []
    for lhs, rhs in eqs:
        for m in sp.preorder_traversal(rhs):
            if isinstance(m, Map):
                out = lhs if m == rhs else m
                derivs.append((m, out, derivative_of(m, out)))
    Y = vec(naming.OUTPUT, t)
    return StepEquations(eqs, Y, output_at(spec, t), loss_gradient(spec, Y, vec(naming.TARGET, t)), tuple(derivs))


# -- recursions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Recursion:
    """Vectors computed backwards in time: at each t below start_step, each lhs_t = body in order;
    at start_step, the starts (δ_{T+1} = 0, or the last step's own values for many-to-one)."""

    name: str                                   # the form: "delta", "diag" or "state"
    equations: tuple[tuple[Vec, Node], ...]     # at the symbolic t
    start_step: sp.Expr
    starts: tuple[tuple[Vec, Node], ...]

    @property
    def lhs(self) -> Vec:
        return self.equations[0][0]

    @property
    def body(self) -> Node:
        """The first (for Elman: the only) equation's right-hand side."""
        return self.equations[0][1]

    @property
    def start(self) -> Node:
        return self.starts[0][1]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(lhs.role for lhs, _ in self.equations)


@dataclass(frozen=True)
class Form:
    """One way to write ∂L/∂θ: an expression and the recursion (if any) its named vectors come from."""

    name: str
    title: str
    expr: Node
    recursion: Recursion | None


@dataclass(frozen=True)
class MatrixGradient:
    """∂L/∂wrt in matrix form: the general-T forms, the given-T form and its expansion, and checks."""

    wrt: str
    forms: tuple[Form, ...]          # general T: delta, diag, state, jacobian
    at_T: Node                       # Σ_t written out at the given T, in the named vectors of the δ form
    deltas: tuple = field(repr=False, default=())   # those vectors' definitions, T … 1
    certificate: object = None

    @cached_property
    def expr(self) -> Node:
        """at_T with the named vectors substituted: lecture symbols only (built when asked; for a gated
        cell it grows fast with T, since h̄_t is read by several gates)."""
        return substitute(self.at_T, self.deltas)

    def form(self, name: str) -> Form:
        for f in self.forms:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def general(self) -> Node:
        return self.form("delta").expr

    @property
    def terms(self) -> tuple[Node, ...]:
        return addends(self.at_T)

    # -- how it shows itself (terminal, Jupyter) --

    def _checks(self) -> list[str]:
        if self.certificate is None:
            return ["✗ not certified (derived with certification switched off)"]
        return [("✓ " if c.passed else "✗ ") + str(c) for c in self.certificate.checks]

    def __str__(self) -> str:
        """∂L/∂W = Σ_t δ_t h_{t-1}ᵀ (each form), written out at T, and the checks."""
        lhs = f"∂L/∂{self.wrt}"
        lines = [f"{lhs} = {printing.text(f.expr)}    ({f.title})" for f in self.forms]
        lines.append(f"{lhs} = {printing.text(self.at_T)}    (written out at the given T)")
        return "\n".join(lines + [f"  {c}" for c in self._checks()])

    def __repr__(self) -> str:
        state = ("not certified" if self.certificate is None else
                 "certified" if self.certificate.ok else "CERTIFICATION FAILED")
        return f"<MatrixGradient ∂L/∂{self.wrt} = {show.brief(printing.text(self.general), 60)}, {state}>"

    def _sections(self) -> list[tuple[str, object]]:
        lhs = printing.latex(Partial(naming.TOTAL_LOSS, naming.param(self.wrt)))
        return [("For any T", [rf"{lhs} &= {printing.latex(f.expr)}" for f in self.forms]),
                ("Written out at the given T", [rf"{lhs} &= {printing.latex(self.at_T)}"]),
                ("Certificate", " · ".join(self._checks()))]

    def _repr_latex_(self) -> str:
        return show.latex_page(self._sections())

    def _repr_html_(self) -> str:
        return show.html_page(self._sections())


@dataclass(frozen=True)
class MatrixDerivation:
    """All gradients of one model in matrix form, for sizes dims = (k, m, o) and T steps."""

    spec: ModelSpec
    steps: int
    dims: tuple[int, int, int]
    gradients: tuple[MatrixGradient, ...]
    recursions: tuple[Recursion, ...]            # δ (⊙), δ (diag), γ
    deltas: tuple[tuple[Vec, Node], ...]         # the δ form's vectors at the given T, from T down to 1
    jacobian: tuple[Node, Node]                  # (∂h_t/∂h_s as a Partial, its Π)
    step_equations: StepEquations

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.wrt for g in self.gradients)

    def get(self, name: str) -> MatrixGradient:
        for g in self.gradients:
            if g.wrt == name:
                return g
        raise SymrnnError(f"unknown parameter {name!r}; this model has {', '.join(self.names)}")

    def gradient(self, name: str) -> Node:
        """∂L/∂name at the given T, in lecture symbols only (the named vectors substituted)."""
        return self.get(name).expr

    def expansion(self, name: str) -> tuple[Node, ...]:
        """The addends of Σ_t written out at the given T (δ1 h0ᵀ, δ2 h1ᵀ, …)."""
        return self.get(name).terms

    @property
    def matrix(self) -> "MatrixDerivation":
        """This derivation (a scalar one answers None): `d.matrix` tells the two forms apart."""
        return self

    def recursion(self, name: str) -> Recursion:
        """A recursion by its form ("delta", "diag", "state") or by a vector it computes ("gamma")."""
        for r in self.recursions:
            if r.name == name:
                return r
        for r in self.recursions:
            if name in r.names:
                return r
        raise KeyError(name)

    @property
    def certified(self) -> bool:
        return bool(self.gradients) and all(g.certificate is not None and g.certificate.ok for g in self.gradients)


# -- views of the adjoint program -------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """The adjoint program with some vectors named (statements) and the rest substituted."""

    statements: tuple[tuple[Vec, Node], ...]
    param_parts: tuple[tuple[str, Node], ...]
    carry_parts: tuple[tuple[str, Node], ...]

    @property
    def params(self) -> dict:
        return dict(self.param_parts)

    @property
    def carry(self) -> dict:
        return dict(self.carry_parts)


def _shift(e: Node, by) -> Node:
    return e.xreplace({naming.t: naming.t + by}) if by else e


@lru_cache(maxsize=None)
def view(spec: ModelSpec, keep: frozenset | None, diag_form: bool, own_first: bool, loss_here: bool, carried: bool,
         rename: tuple = ()) -> View:
    """The step's adjoint program at the symbolic t with the vectors in `keep` named (None: all of them).

    loss_here: whether L_t sends (∂Y_t/∂h_t)ᵀ g_t to h_t; carried: whether step t + 1 sends its carry.
    `rename`: (old role, new role) pairs for kept vectors (h̄ -> γ for the state form).
    """
    t = naming.t
    kept = (lambda v: True) if keep is None else keep.__contains__
    placeholders = {s: vec(CARRY + s, t) for s in spec.cell.states}
    seeds = {}
    for s in spec.cell.states:
        parts = [placeholders[s]] if carried else []
        if s == naming.STATE and loss_here:
            parts = [own(spec, t)] + parts if own_first else parts + [own(spec, t)]
        seeds[s] = parts
    adj = walk(spec, seeds, diag_form)
    carry = dict(adj.carry)
    # close the loop: the carry into s_t is what step t + 1 sends back to its s_{t−1}
    env = {placeholders[s]: _shift(carry[s], 1) if s in carry else Zeros() for s in spec.cell.states}
    defs = {lhs: rebuild(body.xreplace(env)) for lhs, body in adj.statements}
    memo: dict = {}

    def resolve(e: Node) -> Node:
        sub = {}
        for v in e.atoms(Vec):
            by = v.step - t
            base = vec(v.role, t)
            if base in defs and not kept(base) and by in (0, 1):
                sub[v] = _shift(resolved(base), by)
        return rebuild(e.xreplace(sub)) if sub else e

    def resolved(v: Vec) -> Node:
        if v not in memo:
            memo[v] = resolve(defs[v])
        return memo[v]

    out_env = {vec(role, t + by): vec(new, t + by) for role, new in rename for by in (0, 1)}

    def named(e):
        return e.xreplace(out_env) if out_env else e

    statements = tuple((named(lhs), named(resolve(defs[lhs]))) for lhs, _ in adj.statements if kept(lhs))
    return View(statements, tuple((p, named(resolve(e))) for p, e in adj.params),
                tuple((s, named(resolve(e))) for s, e in carry.items()))


def _reads(v: Vec, exprs) -> int:
    shifted = vec(v.role, v.step + 1)
    return sum(1 for e in exprs for x in sp.preorder_traversal(e) if x == v or x == shifted)


@lru_cache(maxsize=None)
def _delta_keep(spec: ModelSpec) -> frozenset:
    """The vectors the δ-recursion names: those read more than once or at the next step (an adjoint read
    once, in its own step, is substituted)."""
    full = view(spec, None, False, True, True, True)
    exprs = [b for _, b in full.statements] + list(full.params.values()) + list(full.carry.values())
    nxt = lambda v: vec(v.role, v.step + 1)
    return frozenset(lhs for lhs, _ in full.statements
                     if _reads(lhs, exprs) > 1 or any(b.has(nxt(lhs)) for _, b in full.statements))


def _state_keep(spec: ModelSpec):
    step = primal(spec.cell)
    return frozenset(vec(step.adjoint_name(s), naming.t) for s in spec.cell.states)


def _start(spec: ModelSpec, keep, diag_form, own_first, rename, at_T: bool) -> tuple[sp.Expr, tuple]:
    """Where the recursion starts: the carried vectors are 0 at T + 1 (a loss at every step, unless `at_T`),
    or step T with its loss and no carry."""
    t, T = naming.t, naming.T
    if spec.output == "every" and not at_T:
        body = view(spec, keep, diag_form, own_first, True, True, rename)
        carried = [lhs for lhs, _ in body.statements if any(
            vec(lhs.role, t + 1) in b.atoms(Vec) for _, b in body.statements)]
        return T + 1, tuple((vec(v.role, T + 1), Zeros()) for v in carried)
    first = view(spec, keep, diag_form, own_first, True, False, rename)
    return T, tuple((lhs.xreplace({t: T}), body.xreplace({t: T})) for lhs, body in first.statements)


def recursion(spec: ModelSpec, form: str) -> tuple[Recursion, View]:
    """The recursion of a form ("delta", "diag", "state") and its view (the gradients' contributions)."""
    state = form == "state"
    keep = _state_keep(spec) if state else _delta_keep(spec)
    diag_form = form != "delta"
    rename = tuple((naming.bar(s), naming.state_gradient(s)) for s in spec.cell.states) if state else ()
    every = spec.output == "every"
    body = view(spec, keep, diag_form, not state, every, True, rename)
    start_step, starts = _start(spec, keep, diag_form, not state, rename, at_T=state)
    return Recursion(form, body.statements, start_step, starts), body


# -- the Jacobian-product form ----------------------------------------------------------------

def hop(spec: ModelSpec, i) -> Node:
    """∂s_i/∂s_{i−1} for the states s = (h) or (h, c): a matrix, or a block matrix row by row."""
    step = primal(spec.cell)
    states = spec.cell.states

    def named(v: Vec):
        return step.definition(v) if v.step == i and v.role in step.names else None

    blocks = [[jacobian(vec(a, i), vec(b, i - 1), named) or Zeros() for b in states] for a in states]
    return blocks[0][0] if len(states) == 1 else Block(*blocks)


def jacobian_product(spec: ModelSpec) -> tuple[Partial, ProdOver]:
    """(∂s_t/∂s_s, Π_{i=s+1}^{t} ∂s_i/∂s_{i−1}): the Jacobian-product form, s = h or the stacked (h, c)."""
    t, s = naming.t, naming.s
    idx = naming.product_index(primal(spec.cell).names)
    lhs = vec(naming.STATE, t) if len(spec.cell.states) == 1 else vec("s", t)
    return Partial(lhs, lhs.xreplace({t: s})), product(hop(spec, idx), idx, s + 1, t)


def _reach(spec: ModelSpec, u, s, idx) -> Node:
    """(∂s_u/∂s_s)ᵀ (∂L_u/∂s_u)ᵀ: what L_u sends back to the states of step s (stacked when several)."""
    back = matmul(transpose(product(hop(spec, idx), idx, s + 1, u)), _own_stacked(spec, u))
    return back


def _own_stacked(spec: ModelSpec, u) -> Node:
    o = own(spec, u)
    if len(spec.cell.states) == 1:
        return o
    return Block(*([o] if s == naming.STATE else [Zeros()] for s in spec.cell.states))


def _parts(spec: ModelSpec, reach: Node) -> dict:
    if len(spec.cell.states) == 1:
        return {naming.STATE: reach}
    return {st: Part(reach, k) for k, st in enumerate(spec.cell.states)}


def _in_step(spec: ModelSpec, wrt: str, s, seeds: dict) -> Node | None:
    """θ's share of one step's adjoint given the states' adjoints there, everything substituted (diag form)."""
    adj = walk(spec, {st: [v] for st, v in seeds.items()}, diag_form=True, t=s)
    env: dict = {}
    for lhs, body in adj.statements:
        env[lhs] = rebuild(body.xreplace(env))
    found = dict(adj.params).get(wrt)
    return None if found is None else rebuild(found.xreplace(env))


def _loss_steps_sum(spec: ModelSpec, body_of):
    """Σ_{t=1}^{T} body(t), or body(T) for many-to-one."""
    t, T = naming.t, naming.T
    return body_of(T) if spec.output == "last" else summation(body_of(t), t, 1, T)


def _jacobian_form(spec: ModelSpec, name: str, idx) -> Node:
    t, s = naming.t, naming.s
    states = spec.cell.states
    if name in spec.cell.initial:
        k = spec.cell.initial.index(name)
        return _loss_steps_sum(spec, lambda u: _pick(spec, matmul(transpose(product(hop(spec, idx), idx, 1, u)),
                                                                    _own_stacked(spec, u)), k))

    def paths(u):
        return summation(_in_step(spec, name, s, _parts(spec, _reach(spec, u, s, idx))), s, 1, u)
    return _loss_steps_sum(spec, paths)


def _pick(spec: ModelSpec, v: Node, k: int) -> Node:
    return v if len(spec.cell.states) == 1 else Part(v, k)


# -- the gradients ------------------------------------------------------------------------------

FORM_TITLES = {"delta": "δ-recursion (⊙)", "diag": "δ-recursion (diag)",
               "state": "state gradients γ_t = ∂L/∂h_t (Goodfellow et al. §10.2.2)",
               "jacobian": "Jacobian products ∂h_t/∂h_s"}


def _direct(spec: ModelSpec, name: str) -> Node:
    """An output parameter: Σ_t (∂Y_t/∂θ)ᵀ g_t, no recursion."""
    p = param_node(spec.cell.param(name))
    return _loss_steps_sum(spec, lambda u: vjp(output_at(spec, u), p,
                                               loss_gradient(spec, vec(naming.OUTPUT, u), vec(naming.TARGET, u))))


def _by_view(spec: ModelSpec, name: str, v: View) -> Node:
    t, T = naming.t, naming.T
    if name in spec.cell.initial:
        state = spec.cell.states[spec.cell.initial.index(name)]
        return v.carry[state].xreplace({t: 1}) if state in v.carry else Zeros()
    return summation(v.params[name], t, 1, T) if name in v.params else Zeros()


def general_forms(spec: ModelSpec, name: str) -> tuple[Form, ...]:
    if name in spec.cell.output_params and name not in spec.cell.state_params:
        direct = _direct(spec, name)
        return tuple(Form(f, FORM_TITLES[f], direct, None) for f in ("delta", "diag", "state", "jacobian"))
    if name not in spec.cell.state_params and name not in spec.cell.initial:
        raise SymrnnError(f"unknown parameter {name!r}")
    out = []
    for f in ("delta", "diag", "state"):
        rec, v = recursion(spec, f)
        out.append(Form(f, FORM_TITLES[f], _by_view(spec, name, v), rec))
    idx = naming.product_index(primal(spec.cell).names)
    out.append(Form("jacobian", FORM_TITLES["jacobian"], _jacobian_form(spec, name, idx), None))
    return tuple(out)


def at_steps(e: Node, steps: int) -> Node:
    """A general-T form at T = steps: every Σ and Π written out, the largest index leftmost in Π."""
    def out(x):
        if isinstance(x, SumOver):
            var, lo, hi = x.limits
            lo, hi = int(lo), int(hi)
            items = [out(x.body.xreplace({var: k})) for k in range(lo, hi + 1)]
            if isinstance(x, ProdOver):
                return matmul(*reversed(items))
            return plus(*items) or Zeros()
        if isinstance(x, Block):
            return Block(*([out(a) for a in row] for row in x.rows))
        if isinstance(x, Node) and x.args and not isinstance(x, Vec):
            return rebuild(type(x)(*(out(a) if isinstance(a, Node) else a for a in x.args)))
        return x
    return rebuild(out(e.xreplace({naming.T: steps})))


def unrolled(rec: Recursion, steps: int) -> tuple[tuple[Vec, Node], ...]:
    """The recursion's vectors at T = steps, from T down to 1 (parts that do not exist at a step dropped)."""
    t, T = naming.t, naming.T
    out = []
    zero = {lhs: Zeros() for lhs, _ in rec.starts} if rec.start_step == T + 1 else {}
    zero = {k.xreplace({T: steps}): v for k, v in zero.items()}
    for n in range(steps, 0, -1):
        eqs = rec.starts if (rec.start_step == T and n == steps) else rec.equations
        bind = {T: steps} if (rec.start_step == T and n == steps) else {t: n, T: steps}
        for lhs, body in eqs:
            out.append((lhs.xreplace(bind), rebuild(body.xreplace(bind).xreplace(zero))))
    return tuple(out)


def substituted_size(e: Node, deltas) -> int:
    """How many nodes `substitute(e, deltas)` would print, counted without building it."""
    sizes: dict = {}
    for sym, body in deltas:
        sizes[sym] = _size(body, sizes, {})
    return _size(e, sizes, {})


def _size(e, sizes: dict, memo: dict) -> int:
    if e in sizes:
        return sizes[e]
    if e in memo:
        return memo[e]
    n = 1 + sum(_size(a, sizes, memo) for a in e.args if isinstance(a, Node))
    memo[e] = n
    return n


def substitute(e: Node, deltas) -> Node:
    """e with the named vectors at T … 1 replaced by their definitions (deltas runs T … 1).

    Only the vectors e reaches are built, each once: substituting all of them first would cost as much
    as the largest (a gated cell's grows like 3^T) even for ∂L/∂V, which reads none."""
    defs, env = dict(deltas), {}
    needed, todo = set(), [v for v in e.atoms(Vec) if v in defs]
    while todo:
        v = todo.pop()
        if v not in needed:
            needed.add(v)
            todo += [u for u in defs[v].atoms(Vec) if u in defs]
    for sym, body in deltas:
        if sym in needed:
            env[sym] = rebuild(body.xreplace(env))
    return rebuild(e.xreplace(env))


# -- sizes ----------------------------------------------------------------------------------

def check_dims(dims, spec: ModelSpec) -> tuple[int, int, int]:
    """(k, m, o) as three whole numbers ≥ 1, and o large enough for the loss; else a one-line error."""
    if isinstance(dims, list):
        dims = tuple(dims)
    if (not isinstance(dims, tuple) or len(dims) != 3
            or any(isinstance(n, bool) or not isinstance(n, int) for n in dims)):
        raise SymrnnError(f"dims {dims!r}: expected 'scalar' or three whole sizes (k, m, o) such as (4, 3, 2)")
    if min(dims) < 1:
        raise SymrnnError(f"dims {dims!r}: sizes must be ≥ 1")
    if max(dims) > MAX_SIZE:
        raise SymrnnError(f"dims {dims!r}: sizes above {MAX_SIZE} are not derived symbolically (the forms hold "
                          f"for every size; the kernels take any)")
    if dims[2] < spec.loss_rule.min_outputs:
        raise SymrnnError(f"dims {dims!r}: loss {spec.loss!r} ({spec.loss_rule.words}) needs o ≥ "
                          f"{spec.loss_rule.min_outputs} output units; use bce for one output unit")
    return dims


MAX_SIZE = 64


def check_shapes(spec: ModelSpec, dims) -> None:
    """Every equation is a k-vector and the output map an o-vector at dims; else a one-line error naming the term."""
    check_cell(spec.cell, dims)


def derive_matrix(spec: ModelSpec, steps: int, dims, names) -> MatrixDerivation:
    """The matrix-form derivation of ∂L/∂θ for the parameters and initial states in `names` (pure: no checks run)."""
    dims = check_dims(dims, spec)
    check_shapes(spec, dims)
    grads = []
    rec_delta, _ = recursion(spec, "delta")
    deltas = unrolled(rec_delta, steps)
    for name in names:
        forms = general_forms(spec, name)
        at_T = at_steps(forms[0].expr, steps)
        grads.append(MatrixGradient(name, forms, at_T, deltas))
    return MatrixDerivation(spec, steps, dims, tuple(grads),
                            tuple(recursion(spec, f)[0] for f in ("delta", "diag", "state")), deltas,
                            jacobian_product(spec), step_equations(spec))


__all__ = ["MatrixDerivation", "MatrixGradient", "Form", "Recursion", "StepEquations", "derive_matrix",
           "step_equations", "loss_gradient", "own", "hop", "jacobian_product", "at_steps", "unrolled", "substitute", "check_dims",
           "check_shapes", "view", "recursion", "general_forms", "vec", "vjp", "Step"]
