"""BPTT in matrix (vector) form: a small per-step IR of matrix nodes, derived by structural recursion.

Column vectors, h_t ∈ R^k, x_t ∈ R^m, Y_t ∈ R^o; W (k,k), U (k,m), b (k), V (o,k), c (o):

    a_t = W h_{t−1} + U x_t + b,    h_t = f(a_t),    Y_t = V h_t + c,    g_t = ∂L_t/∂Y_t

The derivation never differentiates a matrix expression as a whole (SymPy's `MatrixSymbol.diff`
fails on this model, see DESIGN.md). It walks the per-step equations with one rule per node,
the vector-Jacobian product (VJP) ū ↦ (∂u/∂w)ᵀ ū:

    u = A B      :  w̄ += Aᵀ ū  (through B),    Ā += ū Bᵀ  (through A; an outer product for vectors)
    u = Σ terms  :  each term receives ū
    h = f(a)     :  ā = f'(h) ⊙ h̄ = diag(f'(h)) h̄   (f' in terms of the output, from rules.py)

and recurses over time: h̄_t collects the VJPs of every equation that reads h_t (Y_t, a_{t+1}):

    δ_t = ∂L/∂a_t = f'(h_t) ⊙ (Vᵀ g_t + Wᵀ δ_{t+1}),   δ_{T+1} = 0
    ∂L/∂W = Σ_t δ_t h_{t−1}ᵀ,  ∂L/∂U = Σ_t δ_t x_tᵀ,  ∂L/∂b = Σ_t δ_t,  ∂L/∂h_0 = Wᵀ δ_1
    ∂L/∂V = Σ_t g_t h_tᵀ,      ∂L/∂c = Σ_t g_t

The same walk gives the diag form (δ_t = diag(f'(h_t)) (…)), the state-gradient form of
Goodfellow et al. §10.2.2 (γ_t = ∂L/∂h_t = Wᵀ diag(f'(h_{t+1})) γ_{t+1} + Vᵀ g_t) and the
Jacobian-product form (∂h_t/∂h_s = Π_{i=s+1}^{t} diag(f'(h_i)) W, the factor with the
largest i leftmost). Every form is certified by `matrix_certify`.

IR nodes are SymPy `Expr` subclasses only so that printers dispatch on them and `xreplace`
substitutes step indices; they never take part in SymPy arithmetic. Build them with the
lower-case constructors (`plus`, `matmul`, …), which keep them canonical.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.nodes import (Diag, Eye, Gain, Hadamard, Map, Mat, MatProd, Minus, Node, OneHot, Ones, Plus, ProdOver, Softmax, Square, SumOver, Transposed, Vec, Zeros, addends, diag, hadamard, matmul, plus, product, rebuild, sub, summation, transpose, ELEMENTWISE, GAMMA, ROLE_SIZE)
from ..model.spec import ModelSpec


# -- lifting the spec's scalar equations into the IR ---------------------------------------

def lift_affine(spec: ModelSpec, expr: sp.Expr, vectors: dict) -> Node:
    """A cell's pre-activation or output map (W h_prev + U x + b) as matrix nodes; only affine maps qualify.

    A term is a bias vector, or scalar gains times at most one matrix times a vector (g W h_prev).
    """
    params = {naming.param(p): k for k, p in enumerate(spec.params)}
    gains = {naming.param(p.name) for p in spec.cell.params if not p.shape}
    terms = sorted(sp.Add.make_args(sp.expand(expr)),
                   key=lambda term: min((params[s] for s in term.free_symbols if s in params), default=len(params)))
    out = []
    for term in terms:
        if term in params and term not in gains:
            out.append(Mat(str(term)))
            continue
        factors = sp.Mul.make_args(term)
        gs = sorted((f for f in factors if f in gains), key=params.get)
        ps = [f for f in factors if f in params and f not in gains]
        vs = [f for f in factors if f in vectors]
        if len(ps) <= 1 and len(vs) == 1 and len(gs) + len(ps) + 1 == len(factors):
            out.append(matmul(*(Gain(str(g)) for g in gs), *(Mat(str(p)) for p in ps), vectors[vs[0]]))
            continue
        raise SymrnnError(f"cell {spec.cell.name!r}: the matrix form needs an affine map (P·vector + bias terms); "
                          f"cannot read the term {term}")
    return plus(*out)


def lift_elementwise(expr: sp.Expr, vectors: dict, square: bool = False) -> Node:
    """A scalar rule in scalar symbols (1 − h², σ(Y) − z) applied elementwise to vectors.

    `square`: write h² as the elementwise square (diag(1 − h_t²)) instead of h ⊙ h.
    """
    expr = sp.sympify(expr)
    if expr in vectors:
        return vectors[expr]
    if expr == 1:
        return Ones()
    if expr == 0:
        return Zeros()
    if expr.is_Add:
        pos = [lift_elementwise(a, vectors, square) for a in expr.args if not a.could_extract_minus_sign()]
        neg = [lift_elementwise(-a, vectors, square) for a in expr.args if a.could_extract_minus_sign()]
        pos.sort(key=lambda n: isinstance(n, Ones))  # constants after vectors, as in Y − z and σ(Y) − z
        first = plus(*pos) if pos else Zeros()
        return sub(first, plus(*neg)) if neg else first
    if expr.is_Mul:
        return hadamard(*(lift_elementwise(a, vectors, square) for a in expr.args))
    if expr.is_Pow and expr.exp == 2:
        base = lift_elementwise(expr.base, vectors, square)
        return Square(base) if square else hadamard(base, base)
    if isinstance(expr, sp.Heaviside):
        return Map("H", lift_elementwise(expr.args[0], vectors, square))
    name = {"sigmoid": "sigma"}.get(type(expr).__name__, type(expr).__name__)
    if isinstance(expr, sp.Function) and name in ELEMENTWISE and len(expr.args) == 1:
        return Map(name, lift_elementwise(expr.args[0], vectors, square))
    raise SymrnnError(f"the matrix form cannot apply {expr} elementwise")


# -- one step ------------------------------------------------------------------------------

def vec(role: str, t) -> Vec:
    return Vec(role, t)


@dataclass(frozen=True)
class MatrixStep:
    """The equations of step t in matrix nodes, and the local rules: f'(h_t) and g_t = ∂L_t/∂Y_t."""

    t: sp.Expr
    a: Vec
    a_def: Node
    h: Vec
    h_def: Node
    Y: Vec
    Y_def: Node
    g: Node           # ∂L_t/∂Y_t
    fprime: Node      # f'(h_t) with h ⊙ h
    fprime_sq: Node   # f'(h_t) with h² (for diag)


def matrix_step(spec: ModelSpec, t) -> MatrixStep:
    t = sp.sympify(t)
    h_prev, x, h = vec(naming.STATE, t - 1), vec(naming.INPUT, t), vec(naming.STATE, t)
    a, Y, z = vec(naming.PREACT, t), vec(naming.OUTPUT, t), vec(naming.TARGET, t)
    a_def = lift_affine(spec, spec.cell.preactivation, {naming.PREV: h_prev, naming.X: x})
    Y_def = lift_affine(spec, spec.cell.output_map, {naming.CUR: h})
    act = spec.activation
    hsym = sp.Symbol("h")
    h_def = lift_elementwise(act.apply(hsym), {hsym: a})
    fp = act.derivative(sp.Symbol("a"), hsym)[-1]
    return MatrixStep(t, a, a_def, h, h_def, Y, Y_def, loss_gradient(spec, Y, z),
                      lift_elementwise(fp, {hsym: h}), lift_elementwise(fp, {hsym: h}, square=True))


def loss_gradient(spec: ModelSpec, Y: Vec, z: Vec) -> Node:
    """g_t = ∂L_t/∂Y_t: the loss rule's last form applied elementwise (mse, bce); ce is the real softmax.

    ce: L_t = −log softmax(Y_t)[z_t], ∂L_t/∂Y_t = softmax(Y_t) − onehot(z_t) (the scalar registry's ce is
    the two-class case over the logits (0, Y), which has no o = 1 matrix counterpart).
    """
    if spec.loss == "ce":
        return Minus(Softmax(Y), OneHot(z))
    return lift_elementwise(spec.loss_rule.gradient(naming.Y, naming.Z)[-1], {naming.Y: Y, naming.Z: z})


# -- the structural rules ------------------------------------------------------------------

def vjp(expr: Node, wrt: Node, adj: Node) -> Node | None:
    """(∂expr/∂wrt)ᵀ adj by the node's rule; None when expr does not depend on wrt."""
    if expr == wrt:
        return adj
    if isinstance(expr, Plus):
        return plus(*(vjp(term, wrt, adj) for term in expr.args))
    if isinstance(expr, MatProd):
        A, B = expr.args[0], matmul(*expr.args[1:])
        # through a scalar gain g B the adjoint of g is the inner product ūᵀ B, not the outer product ū Bᵀ
        into_A = matmul(transpose(adj), B) if isinstance(A, Gain) else matmul(adj, transpose(B))
        return plus(vjp(B, wrt, matmul(transpose(A), adj)), vjp(A, wrt, into_A))
    if isinstance(expr, (Vec, Mat)):
        return None
    raise SymrnnError(f"no VJP rule for {type(expr).__name__} (with respect to {wrt})")


def jacobian(expr: Node, wrt: Node) -> Node | None:
    """∂expr/∂wrt for an expression linear in the vector wrt; None when it does not depend on it."""
    if expr == wrt:
        return Eye()
    if isinstance(expr, Plus):
        return plus(*(jacobian(term, wrt) for term in expr.args))
    if isinstance(expr, MatProd):
        inner = jacobian(matmul(*expr.args[1:]), wrt)
        return None if inner is None else matmul(expr.args[0], inner)
    return None


def through_activation(s: MatrixStep, adj: Node | None, use_diag: bool) -> Node | None:
    """ā_t from h̄_t: f'(h_t) ⊙ h̄_t, or diag(f'(h_t)) h̄_t."""
    if adj is None:
        return None
    return matmul(diag(s.fprime_sq), adj) if use_diag else hadamard(s.fprime, adj)


# -- forms ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recursion:
    """v_t = body(t) for t < start_step (backwards), v_{start_step} = start; t, T symbolic."""

    name: str
    body: Node
    start_step: sp.Expr
    start: Node

    @property
    def lhs(self) -> Vec:
        return vec(self.name, naming.t)


@dataclass(frozen=True)
class Form:
    """Ones way to write ∂L/∂θ: an expression and the recursion (if any) its δ_t or γ_t come from."""

    name: str
    title: str
    expr: Node
    recursion: Recursion | None


@dataclass(frozen=True)
class MatrixGradient:
    """∂L/∂wrt in matrix form: the general-T forms, the given-T form and its expansion, and checks."""

    wrt: str
    forms: tuple[Form, ...]          # general T: delta, diag, state, jacobian
    at_T: Node                       # Σ_t written out at the given T, in δ_1 … δ_T
    expr: Node                       # at_T with δ_1 … δ_T substituted: lecture symbols only
    certificate: object = None

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


@dataclass(frozen=True)
class MatrixDerivation:
    """All gradients of one model in matrix form, for sizes dims = (k, m, o) and T steps."""

    spec: ModelSpec
    steps: int
    dims: tuple[int, int, int]
    gradients: tuple[MatrixGradient, ...]
    recursions: tuple[Recursion, ...]            # δ (⊙), δ (diag), γ
    deltas: tuple[tuple[Vec, Node], ...]         # δ_T … δ_1 at the given T
    jacobian: tuple[Node, Node]                  # (∂h_t/∂h_s as a Partial, its Π)
    step_equations: MatrixStep = field(repr=False, compare=False, default=None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.wrt for g in self.gradients)

    def get(self, name: str) -> MatrixGradient:
        for g in self.gradients:
            if g.wrt == name:
                return g
        raise SymrnnError(f"unknown parameter {name!r}; this model has {', '.join(self.names)}")

    def gradient(self, name: str) -> Node:
        """∂L/∂name at the given T, in lecture symbols only (δ_t substituted)."""
        return self.get(name).expr

    def recursion(self, name: str) -> Recursion:
        for r in self.recursions:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def certified(self) -> bool:
        return bool(self.gradients) and all(g.certificate is not None and g.certificate.ok for g in self.gradients)


def _inflow(spec, t, loss_here: bool, nxt: Node | None) -> tuple[Node | None, Node | None]:
    """The two parts of h̄_t: (∂Y_t/∂h_t)ᵀ g_t and (∂a_{t+1}/∂h_t)ᵀ nxt, each None where it does not exist."""
    s = matrix_step(spec, t)
    own = vjp(s.Y_def, s.h, s.g) if loss_here else None
    rec = vjp(matrix_step(spec, t + 1).a_def, s.h, nxt) if nxt is not None else None
    return own, rec


def delta_recursion(spec: ModelSpec, use_diag: bool) -> Recursion:
    """δ_t = f'(h_t) ⊙ (Vᵀ g_t + Wᵀ δ_{t+1}); every: δ_{T+1} = 0; last: δ_T = f'(h_T) ⊙ Vᵀ g_T."""
    t, T = naming.t, naming.T
    every = spec.output == "every"
    own, rec = _inflow(spec, t, every, vec(naming.DELTA, t + 1))
    body = through_activation(matrix_step(spec, t), plus(own, rec), use_diag)
    name = naming.DELTA
    if every:
        return Recursion(name, body, T + 1, Zeros())
    own_T, _ = _inflow(spec, T, True, None)
    return Recursion(name, body, T, through_activation(matrix_step(spec, T), own_T, use_diag))


def state_recursion(spec: ModelSpec) -> Recursion:
    """γ_t = ∂L/∂h_t = Wᵀ diag(f'(h_{t+1})) γ_{t+1} + Vᵀ g_t (Goodfellow et al. eq. 10.21), γ_T = Vᵀ g_T."""
    t, T = naming.t, naming.T
    s, nxt = matrix_step(spec, t), matrix_step(spec, t + 1)
    rec = vjp(nxt.a_def, s.h, through_activation(nxt, vec(GAMMA, t + 1), use_diag=True))
    own = vjp(s.Y_def, s.h, s.g) if spec.output == "every" else None
    sT = matrix_step(spec, T)
    return Recursion(GAMMA, plus(rec, own), T, vjp(sT.Y_def, sT.h, sT.g))


def _loss_steps_sum(spec, body_of):
    """Σ_{t=1}^{T} body(t), or body(T) for many-to-one."""
    t, T = naming.t, naming.T
    return body_of(T) if spec.output == "last" else summation(body_of(t), t, 1, T)


def _wrt_node(spec: ModelSpec, name: str) -> Node:
    if name == "h0":
        return vec(naming.STATE, 0)
    return Gain(name) if any(p.name == name and not p.shape for p in spec.cell.params) else Mat(name)


def _general_forms(spec: ModelSpec, name: str, hop) -> tuple[Form, ...]:
    t, s, i, T = naming.t, naming.s, naming.i, naming.T
    wrt = _wrt_node(spec, name)
    cell_pre = {str(p) for p in spec.cell.preactivation.free_symbols}
    cell_out = {str(p) for p in spec.cell.output_map.free_symbols}
    rec_d, rec_diag, rec_g = delta_recursion(spec, False), delta_recursion(spec, True), state_recursion(spec)

    if name == "h0":
        st = matrix_step(spec, 1)
        by_delta = vjp(st.a_def, wrt, vec(naming.DELTA, 1))
        by_gamma = vjp(st.a_def, wrt, through_activation(st, vec(GAMMA, 1), use_diag=True))
        by_jac = _loss_steps_sum(spec, lambda u: matmul(
            transpose(product(hop(i), i, 1, u)), vjp(matrix_step(spec, u).Y_def, vec(naming.STATE, u), matrix_step(spec, u).g)))
    elif name in cell_pre:
        by_delta = summation(vjp(matrix_step(spec, t).a_def, wrt, vec(naming.DELTA, t)), t, 1, T)
        by_gamma = summation(vjp(matrix_step(spec, t).a_def, wrt,
                                 through_activation(matrix_step(spec, t), vec(GAMMA, t), use_diag=True)), t, 1, T)

        def paths(u):  # Σ_{s=1}^{u} (∂⁺a_s/∂θ)ᵀ diag(f'(h_s)) (∂h_u/∂h_s)ᵀ (∂Y_u/∂h_u)ᵀ g_u
            su, ss = matrix_step(spec, u), matrix_step(spec, s)
            reach = matmul(transpose(product(hop(i), i, s + 1, u)), vjp(su.Y_def, su.h, su.g))
            return summation(vjp(ss.a_def, wrt, through_activation(ss, reach, use_diag=True)), s, 1, u)
        by_jac = _loss_steps_sum(spec, paths)
    elif name in cell_out:
        direct = _loss_steps_sum(spec, lambda u: vjp(matrix_step(spec, u).Y_def, wrt, matrix_step(spec, u).g))
        by_delta = by_gamma = by_jac = direct
        rec_d = rec_diag = rec_g = None
    else:
        raise SymrnnError(f"unknown parameter {name!r}")
    return (Form("delta", "δ-recursion (⊙)", by_delta, rec_d),
            Form("diag", "δ-recursion (diag)", by_delta, rec_diag),
            Form("state", "state gradients γ_t = ∂L/∂h_t (Goodfellow et al. §10.2.2)", by_gamma, rec_g),
            Form("jacobian", "Jacobian products ∂h_t/∂h_s", by_jac, None))


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
        if isinstance(x, Node) and x.args and not isinstance(x, (Vec, Mat)):
            return rebuild(type(x)(*(out(a) if isinstance(a, Node) else a for a in x.args)))
        return x
    return rebuild(out(e.xreplace({naming.T: steps})))


def unrolled_deltas(spec: ModelSpec, steps: int) -> tuple[tuple[Vec, Node], ...]:
    """δ_T … δ_1 at the given T: each from the rules, with only the parts that exist at that step."""
    loss_steps = spec.loss_steps(steps)
    out = []
    for n in range(steps, 0, -1):
        own, rec = _inflow(spec, n, n in loss_steps, vec(naming.DELTA, n + 1) if n < steps else None)
        out.append((vec(naming.DELTA, n), through_activation(matrix_step(spec, n), plus(own, rec), False)))
    return tuple(out)


def substitute(e: Node, deltas) -> Node:
    """e with δ_1 … δ_T replaced by their definitions (deltas runs T … 1)."""
    env = {}
    for sym, body in deltas:
        env[sym] = body.xreplace(env)
    return e.xreplace(env)


def check_dims(dims, spec: ModelSpec) -> tuple[int, int, int]:
    """(k, m, o) as three whole numbers ≥ 1, and o ≥ 2 for softmax cross-entropy; else a one-line error."""
    if isinstance(dims, list):
        dims = tuple(dims)
    if (not isinstance(dims, tuple) or len(dims) != 3
            or any(isinstance(n, bool) or not isinstance(n, int) for n in dims)):
        raise SymrnnError(f"dims {dims!r}: expected 'scalar' or three whole sizes (k, m, o) such as (4, 3, 2)")
    if min(dims) < 1:
        raise SymrnnError(f"dims {dims!r}: sizes must be ≥ 1")
    if spec.loss == "ce" and dims[2] < 2:
        raise SymrnnError(f"dims {dims!r}: loss 'ce' (softmax cross-entropy) needs o ≥ 2 output units; "
                          f"use bce for one output unit")
    return dims


def node_shape(e: Node, spec: ModelSpec, dims) -> tuple[int, ...]:
    """The (rows, cols) of an affine term at sizes dims, () for a scalar gain; a one-line error if it has none."""
    size = dict(zip("kmo", dims))
    if isinstance(e, Vec):
        return (size[ROLE_SIZE[e.role]], 1)
    if isinstance(e, Gain):
        return ()
    if isinstance(e, Mat):
        p = next(q for q in spec.cell.params if q.name == e.name)
        return (size[p.shape[0]], size[p.shape[1]] if len(p.shape) > 1 else 1)
    if isinstance(e, MatProd):
        shape: tuple[int, ...] = ()
        for f in e.args:
            s = node_shape(f, spec, dims)
            if s and shape and shape[1] != s[0]:
                from ..printers import lecture as printing
                raise SymrnnError(f"cell {spec.cell.name!r}: in the term {printing.text(e)}, a {shape[0]}×{shape[1]} "
                                  f"matrix meets {printing.text(f)} with {s[0]} rows at (k, m, o) = {dims}; check the parameters' shapes")
            shape = (shape[0], s[1]) if shape and s else (s or shape)
        return shape
    raise SymrnnError(f"no shape rule for {type(e).__name__}")


def check_shapes(spec: ModelSpec, dims) -> None:
    """Every term of the pre-activation is a k-vector and every term of the output map an o-vector, at dims."""
    from ..printers import lecture as printing
    s = matrix_step(spec, naming.t)
    k, _, o = dims
    for what, e, rows, letter in (("pre-activation", s.a_def, k, "k"), ("output map", s.Y_def, o, "o")):
        for term in addends(e):
            shape = node_shape(term, spec, dims)
            if shape != (rows, 1):
                got = "a scalar" if not shape else f"{shape[0]}×{shape[1]}"
                raise SymrnnError(f"cell {spec.cell.name!r}: the {what} term {printing.text(term)} is {got} at (k, m, o) = {dims}, "
                                  f"not a {letter}-vector ({rows}×1); declare each parameter's shape (e.g. shape = "
                                  f"[\"k\", \"m\"]) so the matrix form is consistent")


def derive_matrix(spec: ModelSpec, steps: int, dims, names, certify: bool = True) -> MatrixDerivation:
    """The matrix-form derivation of ∂L/∂θ for the parameters in `names` (and h0), certified unless told not to."""
    from ..ir.scalar import Partial

    dims = check_dims(dims, spec)
    check_shapes(spec, dims)
    t, s, i = naming.t, naming.s, naming.i

    def hop(k):  # ∂h_k/∂h_{k−1} = diag(f'(h_k)) ∂a_k/∂h_{k−1}
        sk = matrix_step(spec, k)
        return matmul(diag(sk.fprime_sq), jacobian(sk.a_def, vec(naming.STATE, k - 1)))

    deltas = unrolled_deltas(spec, steps)
    grads = []
    for name in names:
        forms = _general_forms(spec, name, hop)
        at_T = at_steps(forms[0].expr, steps)
        grads.append(MatrixGradient(name, forms, at_T, rebuild(substitute(at_T, deltas))))
    md = MatrixDerivation(spec, steps, dims, tuple(grads),
                          (delta_recursion(spec, False), delta_recursion(spec, True), state_recursion(spec)),
                          deltas,
                          (Partial(vec(naming.STATE, t), vec(naming.STATE, s)), product(hop(i), i, s + 1, t)),
                          matrix_step(spec, t))
    if certify:
        from ..certification.matrix import certify_matrix
        md = certify_matrix(md)
    return md
