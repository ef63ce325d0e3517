"""Check a matrix-form hand derivation: shapes, then entry-wise values at random sizes and T, then the slip.

    read (matrixinput: LaTeX or SymPy style, matrix meaning)
      -> shapes (symbolic sizes k, m, o: the non-conformable factor named with both shapes)
      -> decide (entry-wise, float64, at the requested (k, m, o) and two other sizes; at several T
                 when the answer is written for general T), against the certified matrix derivation
                 evaluated by the IR evaluator (`ir.evaluate`) — the δ-form's gradient and recursions
      -> localise (single edits that make the answer right: a transpose, ⊙ for a matrix product,
                   diag on the other side, a step off by one, the other state in an outer product,
                   a missing Σ_t; each named)

An answer may be several lines: definitions (`δ_t = …`, `γ_t = …`, `h̄_t = …`, `δ^r_t = …`), each
checked against the true quantity it names at every step, and the gradient in terms of them, checked
with the true quantities (so each line is judged on its own and the report names the wrong line).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import chain

import numpy as np
import sympy as sp

from .. import naming
from ..api import derive
from ..certification.matrix import MAX_PATTERN_ENTRIES, RANDOM_PATTERNS, draw, forward, piecewise, run_recursion
from ..derivation.matrix import loss_gradient, recursion
from ..derivation.program import primal
from ..errors import CheckFailed, SymrnnError
from ..ir.evaluate import evaluate, float_backend
from ..ir.nodes import (Diag, Gain, Hadamard, Map, Mat, MatProd, Minus, Neg, Node, Num, OneHot, Ones, Plus, ProdOver,
                        Softmax, Square, SumOver, Transposed, Vec, Zeros, rebuild)
from ..model.spec import ModelSpec
from ..printers.lecture import text
from .limits import shorten
from .matrixinput import Line, Names, parse_answer
from .signs import Pattern, described, inputs_needed, lies_in, place, saturated, sign_patterns

ANY = "any"                   # the all-ones vector (or 0): as long as whatever it meets
TOLERANCE = 1e-9              # relative, entry-wise, float64
POINTS = 2                    # random points per (sizes, T)
SCALAR_POINTS = 6             # the scalar form has one entry per value: more points
SCALAR_CE = ("scalar ce is the lecture's two-class softmax over (0, Y_t): −z_t log σ(Y_t) − (1 − z_t) log(1 − σ(Y_t)), "
             "the same loss as bce at one output unit, so ∂L_t/∂Y_t = σ(Y_t) − z_t and the answer is checked as bce's")
PLACE_ATTEMPTS = 8            # relu: placings tried per pattern for a point where no gate saturates
MAX_PATTERNS = 256            # relu, scalar form: every sign pattern of the pre-activations, up to this many
PATTERN_DRAWS = 4000          # points drawn to find one in each pattern
OTHER_SIZES = ((3, 2, 4), (2, 4, 3))
GENERAL_STEPS = (1, 2, 3, 4)  # T values an answer for general T is checked at (besides the requested T)
MAX_EDITS = 2000              # single-edit repairs tried at most
MAX_SEARCH_NODES = 400        # a longer line is not searched for its slip (each edit is evaluated afresh)
NOTE = "note: "               # a finding that is no single-edit slip (printed as it is)


# -- the names an answer may use -------------------------------------------------------------------

@lru_cache(maxsize=32)
def names_for(spec: ModelSpec, scalar: bool = False) -> Names:
    """Parameters, vectors and named quantities of spec's matrix form (`scalar`: every size 1, so that any
    order of factors conforms, as in the scalar form)."""
    cell = spec.cell
    step = primal(cell)
    vectors = {naming.INPUT: "m", naming.OUTPUT: "o", naming.TARGET: "o"}
    vectors.update({name: "k" for name in step.names})
    delta_rec, _ = recursion(spec, "delta")
    state_rec, _ = recursion(spec, "state")
    quantities = {}
    for lhs, _ in delta_rec.equations + state_rec.equations:
        quantities[lhs.role] = _meaning(lhs.role)
    adjoint_of = {s: naming.state_gradient(s) for s in cell.states}
    if naming.DELTA in quantities:
        adjoint_of[naming.PREACT] = naming.DELTA
    params = {p.name: tuple(p.shape) for p in cell.params}
    if scalar:
        vectors = {role: "1" for role in vectors}
        params = {name: tuple("1" for _ in shp) for name, shp in params.items()}
    g_name = naming.loss_gradient(step.names)

    def g(t):
        return loss_gradient(spec, Vec(naming.OUTPUT, t), Vec(naming.TARGET, t))
    names = Names(params, vectors, quantities, g_name, g, adjoint_of, tuple(cell.initial),
                  spec.loss_rule.targets == "class", scalar)
    return _with_shape(names, spec)


def _with_shape(names: Names, spec: ModelSpec) -> Names:
    """names with the shape function the reader uses for `*` (None where the operand does not fit)."""
    def reader_shape(e):
        try:
            return shape(e, names)
        except ShapeError:
            return None
    return replace(names, shape=reader_shape)


def _meaning(role: str) -> str:
    d = naming.decorated(role)
    if role == naming.DELTA:
        return "∂L/∂a_t"
    if d is None:
        return role
    base, tag, is_bar = d
    if is_bar:
        return f"∂L/∂{base}_t"
    if base == naming.DELTA:
        return f"∂L/∂a^{tag}_t (the error at the pre-activation of {tag})"
    if base == naming.GAMMA:
        return f"∂L/∂{tag}_t"
    return role


def meaning(role: str) -> str:
    return "∂L/∂h_t" if role == naming.GAMMA else _meaning(role)


# -- shapes ------------------------------------------------------------------------------------------

class ShapeError(Exception):
    """Two factors that do not fit: the message names both and their shapes."""


def _words(s) -> str:
    if s == ():
        return "a scalar"
    if s == ANY:
        return "a vector"
    return "×".join(s)


def shape(e: Node, names: Names):
    """The shape of e with symbolic sizes: (), ('k', '1'), ('k', 'm'), or ANY; ShapeError naming the culprit."""
    if isinstance(e, Vec):     # a named quantity (δ, γ, h̄ …) is a state-sized vector
        return (names.vectors[e.role] if e.role in names.vectors else "1" if names.scalar else "k", "1")
    if isinstance(e, OneHot):
        return ("o", "1")
    if isinstance(e, (Gain, Num)):
        return ("1", "1") if names.scalar else ()     # in the scalar form a gain adds to a 1×1 value
    if isinstance(e, Mat):
        s = names.params[e.name]
        return (s[0], s[1]) if len(s) == 2 else (s[0], "1") if s else ()
    if isinstance(e, (Ones, Zeros)):
        return ANY
    if isinstance(e, (Plus, Minus)):
        out = ANY
        for a in e.args:
            sa = shape(a, names)
            if sa == ANY:
                continue
            if out not in (ANY, sa):
                what = "add" if isinstance(e, Plus) else "subtract"
                raise ShapeError(f"cannot {what} {text(a)} ({_words(sa)}) and a term of {_words(out)}: "
                                 f"the terms of a sum need equal shapes")
            out = sa
        return out
    if isinstance(e, Hadamard):
        out = ANY
        for a in e.args:
            sa = shape(a, names)
            if sa in (ANY, ()):
                continue
            if out not in (ANY, sa):
                raise ShapeError(f"⊙ of {_words(out)} and {text(a)} ({_words(sa)}): the elementwise product needs "
                                 f"equal shapes")
            out = sa
        return out
    if isinstance(e, (Neg, Map, Square, Softmax)):
        return shape(e.args[-1], names)
    if isinstance(e, Transposed):
        s = shape(e.args[0], names)
        return s if s in (ANY, ()) else (s[1], s[0])
    if isinstance(e, Diag):
        s = shape(e.args[0], names)
        if s == ANY:
            return ANY
        if s == () or s[1] != "1":
            raise ShapeError(f"diag({text(e.args[0])}): diag takes a column vector, not {_words(s)}")
        return (s[0], s[0])
    if isinstance(e, MatProd):
        out, done = (), []
        for f in e.args:
            s = shape(f, names)
            if s in ((), ANY):
                done.append(f)
                continue
            if out == ():
                out = s
            elif out[1] == s[0]:
                out = (out[0], s[1])
            else:
                left = done[0] if len(done) == 1 else MatProd(*done)
                raise ShapeError(f"not conformable: {text(left)} is {_words(out)} and {text(f)} is {_words(s)} "
                                 f"(a matrix product needs the columns on the left to equal the rows on the right)")
            done.append(f)
        return out
    if isinstance(e, SumOver):
        return shape(e.body, names)
    raise ShapeError(f"no shape for {type(e).__name__}")


def expected_shape(param: str, names: Names, spec: ModelSpec):
    if names.scalar:
        return ("1", "1")
    if param in names.initial:
        return ("k", "1")
    s = names.params[param]
    return (s[0], s[1]) if len(s) == 2 else (s[0], "1") if s else ()


# -- the truth, evaluated -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Truth:
    """The certified matrix derivation of one model, and what evaluating it at a point needs."""

    spec: ModelSpec
    steps: int
    dims: tuple
    derivation: object
    names: Names
    scalar: bool = False         # the scalar form: sizes 1 only, more points
    points: dict = field(default_factory=dict, compare=False, repr=False)   # general -> configs, drawn once

    def configs(self, general: bool) -> tuple[Config, ...]:
        """The configurations answers are checked at (the same for every answer to this model: a class is graded
        on one set of points, and relu's hundreds of placed points are found once)."""
        if general not in self.points:
            self.points[general] = tuple(configs(self, general))
        return self.points[general]

    def gradient_form(self, param: str) -> Node:
        return self.derivation.get(param).general

    def env(self, sizes, T: int, rng, point: dict | None = None) -> dict:
        """A random point (or the one given), its forward pass and every named quantity at steps 1 … T (0 at
        T + 1)."""
        if point is None:
            point = draw(rng, self.spec, sizes, T, float)
            point = {key: np.asarray(v, dtype=float) if isinstance(v, np.ndarray) else v for key, v in point.items()}
        k = sizes[0]
        env = forward(self.spec, point, T, float_backend(), k)
        for rec in self.derivation.recursions:
            if rec.name != "diag":
                env = run_recursion(rec, env, T, float_backend(), k)
        for role in self.names.quantities:
            env.setdefault((role, T + 1), np.zeros((k, 1)))
        return env


@lru_cache(maxsize=16)
def truth(spec: ModelSpec, steps: int, dims, scalar: bool = False) -> Truth:
    d = derive(spec, steps=steps, dims=dims)
    if not d.certified:
        raise CheckFailed("the derived matrix form failed certification (a bug in symrnn: please report it)")
    return Truth(spec, steps, dims, d, names_for(spec, scalar), scalar)


@dataclass(frozen=True)
class Config:
    sizes: tuple
    T: int
    env: dict = field(repr=False, compare=False)
    pattern: tuple | Pattern | None = None    # relu: the sign pattern this point lies in


class Undefined(Exception):
    """The answer reads a vector at a step that does not exist."""


def value(e: Node, cfg: Config, bind: dict | None = None, quantities=()):
    """e at the configuration's point (t bound by `bind`); a named quantity at T + 1 is 0 and is substituted
    first, as the recursion's start, so the terms it multiplies (which may read h_{T+1}) drop out."""
    k = cfg.sizes[0]
    if bind and quantities:
        e = e.xreplace({**bind, naming.T: sp.Integer(cfg.T)})
        zero = {v: Zeros() for v in e.atoms(Vec) if v.role in quantities and v.step == cfg.T + 1}
        if zero:
            e = rebuild(e.xreplace(zero))
            if e is None or isinstance(e, Zeros):
                return np.zeros((k, 1))
    try:
        return evaluate(e, cfg.env, float_backend(), k, {naming.T: sp.Integer(cfg.T), **(bind or {})})
    except KeyError as exc:
        key = exc.args[0]
        if isinstance(key, tuple) and len(key) == 2:
            raise Undefined(f"{naming.text_role(key[0])}{key[1]} does not exist at T = {cfg.T}") from None
        raise Undefined(f"{key} has no value") from None


def free_indices(e: Node) -> set:
    """The index symbols (t, s, i, j) e reads that no Σ or Π binds; T is not one of them."""
    if isinstance(e, Vec):
        return set(e.step.free_symbols) - {naming.T}
    if isinstance(e, SumOver):
        var, lo, hi = e.limits
        inner = free_indices(e.body) - {var}
        return inner | ((sp.sympify(lo).free_symbols | sp.sympify(hi).free_symbols) - {naming.T})
    out = set()
    for a in e.args:
        if isinstance(a, Node):
            out |= free_indices(a)
    return out


def reads_T(e: Node) -> bool:
    return naming.T in e.free_symbols or any(naming.T in sp.sympify(x).free_symbols
                                             for s in e.atoms(SumOver) for x in s.limits)


def configs(tr: Truth, general: bool, seed: int = 0) -> list[Config]:
    """The requested sizes and T, then other sizes, then (for a general-T answer) other T; POINTS each, or with
    relu one point in each sign pattern (at sizes with m raised so that the inputs place every pattern)."""
    rng = random.Random(seed)
    sizes = [tr.dims] + ([] if tr.scalar else
                         [s if s[2] >= tr.spec.loss_rule.min_outputs else (s[0], s[1], 2) for s in OTHER_SIZES])
    by_pattern = not tr.scalar and piecewise(tr.spec)
    if by_pattern:
        sizes = list(dict.fromkeys(pattern_sizes(tr.spec, s) for s in sizes))
    steps = [tr.steps] + ([T for T in GENERAL_STEPS if T != tr.steps] if general else [])
    points = SCALAR_POINTS if tr.scalar else POINTS
    out = []
    for T in steps:
        for sz in (sizes if T == tr.steps else sizes[-1:]):
            if tr.scalar and piecewise(tr.spec):
                out += _scalar_patterns(tr, sz, T, rng)
            elif by_pattern:
                out += [point_in_pattern(tr, sz, pattern, rng) for pattern in sign_patterns(tr.spec, sz[0], T, rng)]
            else:
                out += [Config(sz, T, tr.env(sz, T, rng)) for _ in range(points)]
    return out


def pattern_sizes(spec: ModelSpec, sizes) -> tuple:
    """sizes with m raised to one input per relu argument entry of a step (m ≥ k for the lecture's cell), so that
    x_t can place every sign pattern; an answer is a formula in the symbolic k, m, o, so any m decides it."""
    k, m, o = sizes
    return (k, max(m, inputs_needed(spec, k)), o)


def point_in_pattern(tr: Truth, sizes, pattern: Pattern, rng) -> Config:
    """A configuration at a real point in the sign pattern (checked on its own forward pass)."""
    T = len(pattern.signs)
    for _ in range(PLACE_ATTEMPTS):       # a point where a gate saturated is placed afresh (see signs.saturated)
        env = tr.env(sizes, T, rng, place(tr.spec, sizes, pattern, rng))
        if not lies_in(tr.spec, env, pattern, sizes[0]):
            raise CheckFailed(f"a point placed in the sign pattern {pattern.text} does not lie in it (a bug in "
                              f"symrnn: please report it)")
        if not saturated(tr.spec, env, T):
            return Config(sizes, T, env, pattern)
    raise SymrnnError(f"{tr.spec.cell.name} with relu: every point placed in the sign pattern {pattern.text} saturates "
                      f"a gate (a factor 1 − u_t or σ' is 0 there, so a slip behind it could not show); this cell "
                      f"cannot be decided at {tuple(sizes)}")


def _piecewise_args(spec: ModelSpec) -> tuple[str, ...]:
    """The roles of the vectors a piecewise function (relu) is applied to: a for the lecture's relu cell."""
    return tuple(dict.fromkeys(m.arg.role for e in primal(spec.cell).equations for m in e.rhs.atoms(Map)
                               if m.function.piecewise and isinstance(m.arg, Vec)))


def _scalar_patterns(tr: Truth, sizes, T: int, rng) -> list[Config]:
    """Scalar form with relu: one real point in every sign pattern of the relu arguments (adversarial and random
    ones beyond MAX_PATTERN_ENTRIES), placed by signs.place when the one input per step places every argument
    (GRU, mgu, the lecture's cell); else (an LSTM's relu(g_t) and relu(c_t) need two inputs) drawn and counted."""
    if inputs_needed(tr.spec, 1) <= sizes[1]:
        return [point_in_pattern(tr, sizes, pattern, rng) for pattern in sign_patterns(tr.spec, 1, T, rng)]
    return _one_per_pattern(tr, sizes, T, rng)


def _one_per_pattern(tr: Truth, sizes, T: int, rng) -> list[Config]:
    """Scalar form with relu: a point inside every sign pattern of the pre-activations (sign(a_t) for each t),
    found by drawing points until each pattern has one — so a slip that shows only where a1 < 0 < a2 is
    found there. Patterns not reached within the draws are said in the verdict (`Config.T` stays the step)."""
    roles = _piecewise_args(tr.spec)
    slots = [(role, t) for role in roles for t in range(1, T + 1)]
    wanted = 2 ** len(slots)
    found: dict = {}
    for _ in range(PATTERN_DRAWS if wanted <= MAX_PATTERNS else 0):
        env = tr.env(sizes, T, rng)
        key = tuple(bool(np.asarray(env[slot]).ravel()[0] > 0) for slot in slots)
        found.setdefault(key, Config(sizes, T, env, (T,) + key))
        if len(found) == wanted:
            break
    if len(found) < wanted:     # too many patterns, or some not reached: random points besides those found
        found.update({("random", n): Config(sizes, T, tr.env(sizes, T, rng)) for n in range(SCALAR_POINTS)})
    return list(found.values())


def _as_array(v, like):
    return np.broadcast_to(np.asarray(v, dtype=float), np.shape(like))


@dataclass(frozen=True)
class Mismatch:
    """Where an answer (or a line) differs from the truth: the configuration, the entry, both values."""

    sizes: tuple
    T: int
    t: int | None
    entry: tuple
    yours: float | None
    true: float
    undefined: str | None = None
    pattern: str = ""               # relu: the sign pattern the point lies in

    def __str__(self):
        scalar = self.sizes == (1, 1, 1)       # the scalar form: no sizes, no entry to name
        where = f"at T = {self.T}" + (f", t = {self.t}" if self.t is not None else "") + \
            ("" if scalar else f", (k, m, o) = {self.sizes}") + \
            (f", in the sign pattern {self.pattern}" if self.pattern else "")
        if self.undefined:
            return f"{where}: yours has no value there: {self.undefined}"
        entry = "" if scalar else ", entry " + "".join(f"[{i}]" for i in self.entry)
        return (f"{where}{entry}: yours = {self.yours:.10g}, true = {self.true:.10g}, "
                f"difference = {self.yours - self.true:.3g}")


def compare(yours_of, true_of, cfgs, steps_of=lambda cfg: [None]) -> Mismatch | None:
    """The first configuration (and step t) where yours differs from true entry-wise, or None."""
    for cfg in cfgs:
        where = cfg.pattern.text if isinstance(cfg.pattern, Pattern) else ""
        for t in steps_of(cfg):
            true = np.asarray(true_of(cfg, t), dtype=float)
            try:
                yours = yours_of(cfg, t)
            except Undefined as u:
                return Mismatch(cfg.sizes, cfg.T, t, (), None, 0.0, str(u), where)
            try:
                ya = _as_array(yours, true)
            except ValueError:
                return Mismatch(cfg.sizes, cfg.T, t, (), None, 0.0, f"yours is {np.shape(yours)}, not "
                                                                    f"{np.shape(true)}", where)
            err = np.abs(ya - true) / max(1.0, float(np.max(np.abs(true))) if true.size else 1.0)
            if not np.all(np.isfinite(ya)) or (err.size and float(np.max(err)) > TOLERANCE):
                idx = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(err), err, np.inf))), err.shape) \
                    if err.size else ()
                return Mismatch(cfg.sizes, cfg.T, t, tuple(int(i) for i in idx), float(ya[idx]), float(true[idx]),
                                pattern=where)
    return None


# -- single-edit repairs: which slip the answer is -------------------------------------------------------

def _positions(e, path=()):
    yield path, e
    if isinstance(e, (Vec, Mat, Num)):
        return
    for n, a in enumerate(e.args):
        if isinstance(a, Node):
            yield from _positions(a, path + (n,))


def _replace(e, path, new):
    if not path:
        return new
    args = list(e.args)
    args[path[0]] = _replace(args[path[0]], path[1:], new)
    return e.func(*args)


def _parent(e, path):
    for n in path[:-1]:
        e = e.args[n]
    return e


# Each slip is a rule: given a node of the answer (and its parent), the nodes a student who made that slip
# would have had to write instead, with the words that name it. `edits` applies every rule at every node.

def _transpose(x, parent, names):
    """Wᵀ written W, h_{t−1}ᵀ written h_{t−1} (a vector in a product), and the extra transpose."""
    if isinstance(parent, Transposed):
        return
    matrix = isinstance(x, Mat) and len(names.params.get(x.name, ())) == 2
    factor = isinstance(parent, MatProd) and isinstance(x, (Vec, MatProd, ProdOver))   # (Π …) or h_{t−1} in a product
    if matrix or factor:
        shown = text(x) if isinstance(x, (Mat, Vec)) else f"({text(x)})"
        yield f"missing transpose: {shown} where {shown}ᵀ belongs", Transposed(x)
    if isinstance(x, Transposed):
        yield f"extra transpose: {text(x)} where {text(x.args[0])} belongs", x.args[0]


def _hadamard(x, parent, names):
    """⊙ for a matrix product, for the outer product, or with brackets the student did not mean."""
    if not isinstance(x, Hadamard):
        return
    yield f"⊙ where a matrix product belongs: {text(x)}", MatProd(*x.args)
    if len(x.args) == 2:
        outer = MatProd(x.args[0], Transposed(x.args[1]))
        yield f"⊙ where the outer product belongs: {text(x)} where {text(outer)} belongs", outer
    last = x.args[-1]
    if isinstance(last, MatProd):   # a ⊙ b cᵀ meant as (a ⊙ b) cᵀ
        grouped = MatProd(Hadamard(*x.args[:-1], last.args[0]), *last.args[1:])
        yield (f"brackets: ⊙ binds looser than the matrix product, so in {text(x)} the ⊙ takes {text(last)} "
               f"as a whole; write {text(grouped)}", grouped)


def _product(x, parent, names):
    """A matrix product for ⊙, and diag(…) on the wrong side of a product."""
    if not isinstance(x, MatProd):
        return
    factors = list(x.args)
    yield f"a matrix product where ⊙ belongs: {text(x)}", Hadamard(*factors)
    for n, f in enumerate(factors):
        if isinstance(f, Diag):
            for m in range(len(factors)):
                if m != n:
                    moved = factors[:n] + factors[n + 1:]
                    moved.insert(m, f)
                    yield f"{text(f)} on the wrong side: {text(x)} where {text(MatProd(*moved))} belongs", \
                        MatProd(*moved)


def _step(x, parent, names):
    """A step off by one: δ_{t+1} for δ_t, h_t for h_{t−1} in the outer product, c_t for c_{t−1}."""
    if not isinstance(x, Vec):
        return
    for by in (1, -1):
        new = Vec(x.role, x.step + by)
        if not (new.step.is_Integer and int(new.step) < 0):
            yield _shift_words(x, new, parent, names), new


def _loss_gradient(x, parent, names):
    """∂L_t/∂Y_t of another loss (Y_t − z_t where softmax(Y_t) − onehot(z_t) belongs, and back)."""
    if isinstance(x, (Minus, Plus)) and len(x.args) == 2 and isinstance(x.args[0], Vec) \
            and x.args[0].role == naming.OUTPUT:
        g = names.g(x.args[0].step)
        if g != x:
            yield f"∂L_t/∂Y_t written {text(x)}; for this loss it is {text(g)}", g


def _extra_term(x, parent, names):
    if isinstance(x, Plus):
        for n, a in enumerate(x.args):
            rest = x.args[:n] + x.args[n + 1:]
            yield f"an extra term: {text(a)}", rest[0] if len(rest) == 1 else Plus(*rest)


def _complement(x, parent, names):
    """u_t for 1 − u_t (the GRU's branches swapped) and back; 1 − h for 1 − h² (tanh′)."""
    if isinstance(x, Vec) and x.role in names.vectors and x.role not in (naming.INPUT, naming.OUTPUT, naming.TARGET):
        yield f"{text(x)} where 1 - {text(x)} belongs", Minus(Ones(), x)
    if isinstance(x, (Minus, Plus)) and len(x.args) == 2 and isinstance(x.args[0], Ones):
        other = x.args[1].args[0] if isinstance(x.args[1], Neg) else x.args[1]
        if isinstance(other, Vec):
            yield f"{text(x)} where {text(other)} belongs", other
            squared = Minus(Ones(), Square(other))
            yield f"{text(x)} where {text(squared)} belongs (tanh′ is 1 − h², not 1 − h)", squared


def _limits(x, parent, names):
    """Σ_{t=2}^{T} for Σ_{t=1}^{T}, Π_{i=s}^{t} for Π_{i=s+1}^{t}: a limit off by one (or a sum not over 1 … T)."""
    if not isinstance(x, SumOver):
        return
    var, lo, hi = x.limits
    what = "product" if isinstance(x, ProdOver) else "sum"
    options = [(lo + d, hi) for d in (1, -1)] + [(lo, hi + d) for d in (1, -1)]
    if what == "sum" and (lo, hi) != (1, naming.T):
        options.insert(0, (sp.Integer(1), naming.T))
    for new_lo, new_hi in dict.fromkeys(options):
        yield (f"the {what}'s limits: {var} = {lo} … {hi} where {var} = {new_lo} … {new_hi} belongs",
               x.func(x.body, (var, new_lo, new_hi)))


def _scope(x, parent, names):
    """f′ ⊙ over one term where it belongs on the whole sum — (1 − h²) ⊙ Vᵀg + Wᵀδ for (1 − h²) ⊙ (Vᵀg + Wᵀδ) —
    and the other way round."""
    if isinstance(x, Plus):
        for n, a in enumerate(x.args):
            if isinstance(a, Hadamard) and len(a.args) >= 2:
                rest = x.args[:n] + x.args[n + 1:]
                whole = Hadamard(*a.args[:-1], Plus(a.args[-1], *rest))
                yield (f"⊙ on the wrong side of the sum: {text(x)} where {text(whole)} belongs "
                       f"({text(Hadamard(*a.args[:-1]))} multiplies every term)", whole)
    if isinstance(x, Hadamard) and isinstance(x.args[-1], Plus) and len(x.args) >= 2:
        head, (first, *rest) = x.args[:-1], x.args[-1].args
        inside = Plus(Hadamard(*head, first), *rest)
        yield f"⊙ on the wrong side of the sum: {text(x)} where {text(inside)} belongs", inside


SLIP_RULES = (_transpose, _hadamard, _product, _scope, _step, _loss_gradient, _extra_term, _complement,
              _limits)


def edits(e: Node, names: Names):
    """(description, edited answer) for every single edit that a named slip would undo."""
    t, T = naming.t, naming.T
    if t in free_indices(e):
        yield "missing Σ_t: the answer is one step's term, and L = Σ_t L_t needs the sum over t = 1 … T", \
            SumOver(e, (t, 1, T))
    yield "the sign is flipped (every term has the opposite sign)", Neg(e)
    for path, x in _positions(e):
        parent = _parent(e, path) if path else None
        for rule in SLIP_RULES:
            for words, new in rule(x, parent, names):
                yield words, _replace(e, path, new)


def factor_edits(e: Node, true_rhs: Node | None, names: Names):
    """A factor of the truth left out: f'(h_t) ⊙ (…) written (…) (tried on the whole right-hand side), or a
    named quantity's companion in the truth (r_t ⊙ δⁿ_t written δⁿ_t)."""
    if true_rhs is None:
        return
    for had in true_rhs.atoms(Hadamard):
        for q in had.args:
            if isinstance(q, Vec) and q.role in names.quantities:
                companions = [a for a in had.args if a is not q]
                for path, x in _positions(e):
                    if isinstance(x, Vec) and x.role == q.role and x.step == q.step:
                        fixed = Hadamard(*companions, x)
                        yield (f"a factor left out: {text(x)} where {text(fixed)} belongs", _replace(e, path, fixed))
    factors = list(true_rhs.args) if isinstance(true_rhs, Hadamard) else \
        [f.args[0] for f in true_rhs.args if isinstance(f, Diag)] if isinstance(true_rhs, MatProd) else []
    for f in factors:
        if not any(v.role in names.quantities for v in f.atoms(Vec)):
            yield f"a factor left out: {text(f)} (the derivative of the step's function)", Hadamard(f, e)


def _shift_words(old: Vec, new: Vec, parent, names: Names) -> str:
    if old.role in names.quantities:
        return f"off by one: {text(old)} where {text(new)} belongs"
    if isinstance(parent, Transposed) or (isinstance(parent, MatProd) and any(
            isinstance(a, Transposed) for a in parent.args)):
        return f"the wrong state in the outer product: {text(old)} where {text(new)} belongs"
    return f"the wrong step: {text(old)} where {text(new)} belongs"


def repairs(e: Node, names: Names, want, correct, limit: int = 3, true_rhs: Node | None = None) -> list[str]:
    """The slips whose single edit makes the answer conformable (with the shape `want`) and correct."""
    if sum(1 for _ in _positions(e)) > MAX_SEARCH_NODES:
        return [f"(not searched: the line has more than {MAX_SEARCH_NODES} symbols; check a shorter form, "
                f"such as the general-T one)"]
    found = []
    for n, (words, edited) in enumerate(chain(edits(e, names), factor_edits(e, true_rhs, names))):
        if n >= MAX_EDITS or len(found) >= limit:
            break
        try:
            s = shape(edited, names)
        except ShapeError:
            continue
        if s != want and not (s == ANY):
            continue
        try:
            right = correct(edited)
        except (Undefined, ValueError, TypeError, AttributeError):
            right = False      # an edit that has no value (diag(1) of a dropped term, a step past T) repairs nothing
        if right and words not in found:
            found.append(words)
    return found


# -- the verdict ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LineVerdict:
    line: Line
    ok: bool
    what: str                       # "∂L/∂W" or "δ_t"
    problem: str = ""               # a shape error or where it differs
    slips: tuple[str, ...] = ()
    means: str | None = None        # a definition that is right for another quantity: its role


@dataclass(frozen=True)
class MatrixVerdict:
    """Whether a matrix-form answer (and each of its definitions) is right, and if not, which line and slip."""

    ok: bool
    report: str
    param: str
    lines: tuple[LineVerdict, ...]
    how: str
    notes: tuple[str, ...] = ()

    def __bool__(self):
        return self.ok

    @property
    def wrong(self) -> tuple[LineVerdict, ...]:
        return tuple(v for v in self.lines if not v.ok)

    @property
    def summary(self) -> str:
        if self.ok:
            return f"correct ({self.how})"
        items = []
        for v in self.wrong:
            head = f"{v.line.label} ({v.what})" if len(self.lines) > 1 else v.what
            numeric = "at T = " in v.problem        # a value differs (the report has the numbers)
            items.append(f"{head}: " + ("; ".join(x.removeprefix(NOTE) for x in v.slips) if v.slips else
                                        "differs from the true value" if numeric else v.problem))
        return "; ".join(items)


def _line_check(tr: Truth, line: Line, param: str, cfgs) -> LineVerdict:
    names = tr.names
    if line.defines is not None:
        return _definition_check(tr, line, cfgs)
    want = expected_shape(param, names, tr.spec)
    what = f"∂L/∂{param}"
    true_form = tr.gradient_form(param)

    def correct(expr) -> bool:
        return compare(lambda cfg, t: value(expr, cfg), lambda cfg, t: value(true_form, cfg), cfgs) is None

    def fixes():
        return tuple(repairs(line.rhs, names, want, correct, true_rhs=_summand(true_form)))
    try:
        got = shape(line.rhs, names)
    except ShapeError as exc:
        return LineVerdict(line, False, what, str(exc), fixes())
    if got not in (want, ANY):
        problem = f"the answer is {_words(got)}, but ∂L/∂{param} has the shape of {param}: {_words(want)}"
        return LineVerdict(line, False, what, problem, fixes())
    free = free_indices(line.rhs)
    if free - {naming.t}:
        raise SymrnnError(f"line {line.number}: the index {', '.join(map(str, sorted(free, key=str)))} is not bound by "
                          f"a Σ or Π")
    if naming.t in free:
        problem = "the answer depends on t, which no Σ_t binds"
        return LineVerdict(line, False, what, problem, fixes())
    miss = compare(lambda cfg, t: value(line.rhs, cfg), lambda cfg, t: value(true_form, cfg), cfgs)
    if miss is None:
        return LineVerdict(line, True, what)
    return LineVerdict(line, False, what, str(miss), fixes())


def _summand(form: Node) -> Node:
    """The body of Σ_t (the truth's term at step t), whose factors a slip may leave out."""
    return form.body if isinstance(form, SumOver) else form


def _definition_check(tr: Truth, line: Line, cfgs, overridden=frozenset()) -> LineVerdict:
    """A definition q_t = rhs: at every step its rhs (the other quantities at their true values) must equal
    the true q_t."""
    lhs = line.defines
    names = tr.names
    what = text(lhs)
    t, T = naming.t, naming.T

    def steps_of(cfg):
        if lhs.step.free_symbols - {T}:
            skip = {int(sp.sympify(o).xreplace({T: cfg.T})) for o in overridden}
            return [n for n in range(1, cfg.T + 1) if int(lhs.step.xreplace({t: n, T: cfg.T})) not in skip]
        return [None]

    def at(cfg, n):
        return {t: sp.Integer(n)} if n is not None else {}

    def true_of(cfg, n, role=lhs.role):
        step = int(lhs.step.xreplace({t: n or 0, T: cfg.T}))
        return cfg.env[(role, step)] if step <= cfg.T else np.zeros((cfg.sizes[0], 1))

    def yours_of(expr):
        return lambda cfg, n: value(expr, cfg, at(cfg, n), names.quantities)

    def correct(expr) -> bool:
        return compare(yours_of(expr), true_of, cfgs, steps_of) is None
    want = ("1" if names.scalar else "k", "1")
    true_rhs = _true_definition(tr, lhs.role)

    def fixes():
        return tuple(repairs(line.rhs, names, want, correct, true_rhs=true_rhs))
    try:
        got = shape(line.rhs, names)
    except ShapeError as exc:
        return LineVerdict(line, False, what, str(exc), fixes())
    if got not in (want, ANY):
        return LineVerdict(line, False, what, f"the right-hand side is {_words(got)}, but {what} is {_words(want)}",
                           fixes())
    miss = compare(yours_of(line.rhs), true_of, cfgs, steps_of)
    if miss is None:
        return LineVerdict(line, True, what)
    named = text(Vec(lhs.role, naming.t))
    other = next((r for r in names.quantities if r != lhs.role and compare(
        yours_of(renamed(line.rhs, lhs.role, r)), lambda cfg, n, r=r: true_of(cfg, n, r), cfgs, steps_of) is None),
        None)
    if other is not None:   # δ_t defined as ∂L/∂h_t, as some texts do: the name, not the math, is off
        mine = text(Vec(other, naming.t))
        return LineVerdict(line, False, what, f"{named} is {meaning(lhs.role)}; " + str(miss),
                           (f"{NOTE}this defines {mine} = {meaning(other)} under the name {named}, which is "
                            f"{meaning(lhs.role)} here",), means=other)
    return LineVerdict(line, False, what, f"{named} is {meaning(lhs.role)}; " + str(miss), fixes())


def renamed(e: Node, old: str, new: str) -> Node:
    """e with the quantity `old` read as `new` at every step (a student's δ that is our γ)."""
    return e.xreplace({v: Vec(new, v.step) for v in e.atoms(Vec) if v.role == old})


def _true_definition(tr: Truth, role: str) -> Node | None:
    for name in ("delta", "state"):
        for lhs, body in tr.derivation.recursion(name).equations:
            if lhs.role == role:
                return body
    return None


def check_lines(tr: Truth, param: str, lines: tuple[Line, ...]) -> MatrixVerdict:
    """The verdict on an answer's lines: definitions first, then the one gradient line."""
    names = tr.names
    gradient = [ln for ln in lines if ln.defines is None]
    if not gradient:
        raise SymrnnError(f"no line gives ∂L/∂{param} (the lines define {', '.join(text(ln.defines) for ln in lines)})")
    if len(gradient) > 1:
        raise SymrnnError(f"{gradient[0].label} and {gradient[1].label} both give the gradient; give it once")
    for ln in gradient:
        if ln.wrt is not None and ln.wrt != param:
            raise SymrnnError(f"the left-hand side is ∂L/∂{ln.wrt} but --param is {param}")
    general = any(reads_T(ln.rhs) or free_indices(ln.rhs) or (ln.defines is not None and
                                                             ln.defines.step.free_symbols) for ln in lines)
    cfgs = tr.configs(general)
    verdicts = []
    defined = {}
    for ln in lines:
        if ln.defines is not None:
            defined.setdefault(ln.defines.role, []).append(ln)
    for ln in lines:
        if ln.defines is None:
            verdicts.append(_line_check(tr, ln, param, cfgs))
            continue
        # a start (δ_T = …, δ_{T+1} = 0) given beside the general line overrides it at that step
        general_line = bool(ln.defines.step.free_symbols - {naming.T})
        fixed = frozenset(o.defines.step for o in defined[ln.defines.role]
                          if o is not ln and not (o.defines.step.free_symbols - {naming.T})) if general_line else frozenset()
        verdicts.append(_definition_check(tr, ln, cfgs, fixed))
    for d in (v for v in verdicts if v.means):      # the gradient line, read with the student's meaning of the name
        for n, g in enumerate(verdicts):
            if g.line.defines is None and not g.ok:
                line = replace(g.line, rhs=renamed(g.line.rhs, d.line.defines.role, d.means))
                if _line_check(tr, line, param, cfgs).ok:
                    verdicts[n] = replace(g, slips=(f"{NOTE}right with {naming.text_role(d.line.defines.role)}_t as "
                                                    f"{d.line.label} defines it ({meaning(d.means)})",))
    used = {v.role for ln in lines for v in ln.rhs.atoms(Vec)}
    notes = tuple(f"read {naming.text_role(r)}_t as {meaning(r)} (not defined in the answer)"
                  for r in sorted(used) if r in names.quantities and r not in defined)
    ok = all(v.ok for v in verdicts)
    coverage = _drawn_coverage(tr, cfgs) if tr.scalar and any(c.pattern is not None for c in cfgs) else None
    if ok and coverage and coverage[0] < coverage[1]:
        # a slip may show only in a pattern no drawn point reached: "correct" would rest on evidence that could not fail
        raise SymrnnError(f"{tr.spec.cell.name} with relu: no mismatch in the {coverage[0]} of {coverage[1]} sign patterns "
                          f"of {described(tr.spec)} that drawn points reached, but the others were not checked, so "
                          f"the answer is not called correct; the matrix form refuses this cell too")
    Ts = sorted({c.T for c in cfgs})
    sizes = sorted({c.sizes for c in cfgs})
    patterns = len({c.pattern for c in cfgs if c.pattern is not None})
    if tr.scalar:
        where = _scalar_coverage(tr, cfgs) if patterns else "random"
        how = (f"{'equal ' if ok else ''}at {len(cfgs)} points ({where}), T in {', '.join(map(str, Ts))} (the scalar "
               f"form, checked as the matrix form with k = m = o = 1)")
    elif patterns:
        how = (f"{'equal ' if ok else ''}entry by entry at one point in each of {len(cfgs)} sign patterns of "
               f"{described(tr.spec)} ({_coverage(cfgs)}): (k, m, o) in {', '.join(map(str, sizes))}"
               f"{_raised(tr, sizes)}, T in {', '.join(map(str, Ts))}")
    else:
        how = (f"{'equal ' if ok else ''}entry by entry at {len(cfgs)} random points: (k, m, o) in "
               f"{', '.join(map(str, sizes))}, T in {', '.join(map(str, Ts))}")
    v = MatrixVerdict(ok, "", param, tuple(verdicts), how, notes)
    return replace(v, report=_report(tr, v))


def _drawn_coverage(tr: Truth, cfgs) -> tuple[int, int] | None:
    """(patterns reached, patterns in all) when a scalar relu verdict's points were drawn, not placed; else None."""
    if any(isinstance(c.pattern, Pattern) for c in cfgs):
        return None
    total = sum(2 ** (len(_piecewise_args(tr.spec)) * T) for T in {c.T for c in cfgs})
    return len({c.pattern for c in cfgs if c.pattern is not None}), total


def _scalar_coverage(tr: Truth, cfgs) -> str:
    """Which sign patterns a scalar relu verdict rests on: placed in each (how chosen), or drawn: how many of all."""
    placed = [c for c in cfgs if isinstance(c.pattern, Pattern)]
    if placed:
        return f"one in each of {len(placed)} sign patterns of {described(tr.spec)}, placed there: {_coverage(placed)}"
    drawn, total = _drawn_coverage(tr, cfgs)
    if drawn == total:
        return f"one in each of the {total} sign patterns of {described(tr.spec)}, found by drawing points"
    return (f"one in each of only {drawn} of the {total} sign patterns of {described(tr.spec)} (found by drawing "
            f"points; the others were not reached) and {sum(c.pattern is None for c in cfgs)} random points")


def _coverage(cfgs) -> str:
    """Which patterns were checked: every one, or (where there are too many entries) adversarial and random ones."""
    sampled = {}
    for c in cfgs:
        if c.pattern.kind != "every":
            sampled.setdefault((c.sizes, c.T, c.T * len(c.pattern.signs[0])), []).append(c.pattern.kind)
    if not sampled:
        return "every pattern at each size and T"
    where = "; ".join(f"{kinds.count('adversarial')} adversarial and {kinds.count('random')} random sign patterns of "
                      f"{n} entries at (k, m, o) = {sz}, T = {T}" for (sz, T, n), kinds in sampled.items())
    return (f"every pattern where there are at most {MAX_PATTERN_ENTRIES} entries; where there are more, the "
            f"adversarial ones (all positive, all negative, alternating per step, one step flipped) and "
            f"{RANDOM_PATTERNS} random ones: {where}")


def _raised(tr: Truth, sizes) -> str:
    """The note that m was raised from the requested size (so that the inputs place every pattern)."""
    if tr.dims in sizes:
        return ""
    return (f" (m raised from the requested {tr.dims[1]}: with fewer inputs than relu argument entries per step "
            f"some patterns cannot be placed)")


def _report(tr: Truth, v: MatrixVerdict) -> str:
    lines = [f"∂L/∂{v.param}: correct ({v.how})" if v.ok else f"∂L/∂{v.param}: wrong"]
    lines += [f"  {n}" for n in v.notes]
    several = len(v.lines) > 1
    for lv in v.lines:
        head = f"  {lv.line.label}, {lv.what} = {shorten(text(lv.line.rhs), 400)}: " if several else "  "
        if lv.ok:
            if several:
                lines.append(head + "right")
            continue
        lines.append(head + "wrong" if several else "  yours: " + shorten(text(lv.line.rhs), 400))
        lines.append(f"    {lv.problem}")
        for s in lv.slips:
            lines.append(f"    {s.removeprefix(NOTE)}" if s.startswith((NOTE, "(")) else
                         f"    the slip: {s} (with that one change the line is right)")
        if not lv.slips:
            lines.append("    no single slip (a transpose, ⊙/product, diag's side, a step off by one, Σ_t, the sign) "
                         "explains the difference")
    if not v.ok:
        lines.append(f"  (checked {v.how})")
        lines.append(f"  the true gradient: ∂L/∂{v.param} = {text(tr.gradient_form(v.param))}")
        rec = tr.derivation.recursion("delta")
        lines += [f"      {text(lhs)} = {text(body)}" for lhs, body in rec.equations]
        if rec.start_step == naming.T + 1:
            lines.append("      " + ", ".join(f"{text(lhs)} = 0" for lhs, _ in rec.starts))
        else:                                    # many-to-one: the recursion starts at T with L_T's own terms
            lines += [f"      {text(lhs)} = {text(body)}" for lhs, body in rec.starts]
        state = tr.derivation.recursion("state")
        lines += [f"      or with {text(lhs)} = {meaning(lhs.role)}: {text(lhs)} = {text(body)}"
                  for lhs, body in state.equations]
    return "\n".join(lines)


def verify_matrix(spec: ModelSpec, param: str, source: str, latex: bool, steps: int, dims, what: str,
                  scalar: bool = False) -> MatrixVerdict:
    """Check a matrix-form answer (one line, or definitions and the gradient) to ∂L/∂param at sizes dims;
    `scalar`: a scalar answer (dims (1, 1, 1)), for cells the lecture-shaped scalar checker does not model."""
    notes = ()
    if scalar and spec.loss == "ce":
        # the lecture's scalar ce is the two-class softmax over (0, Y_t): L_t = log(1 + e^{Y_t}) − z_t Y_t, bce's
        # loss at one output unit (primitives._ce), so every gradient is bce's and is checked as bce's
        spec, notes = replace(spec, loss="bce"), (SCALAR_CE,)
    if scalar and spec.loss_rule.min_outputs > 1:
        raise SymrnnError(f"--loss {spec.loss}: the scalar form of a {spec.cell.name} cell is checked through its "
                          f"matrix form, and {spec.loss} needs o ≥ {spec.loss_rule.min_outputs} there; "
                          f"check with --dims K,M,O")
    tr = truth(spec, steps, tuple(dims), scalar)
    tr.derivation.get(param)          # an unknown parameter is named before the answer is read
    lines = parse_answer(source, tr.names, what, latex)
    v = check_lines(tr, param, lines)
    if notes:
        v = replace(v, notes=notes + v.notes)
        v = replace(v, report=_report(tr, v))
    return v


__all__ = ["verify_matrix", "MatrixVerdict", "LineVerdict", "shape", "ShapeError", "names_for", "truth", "edits"]
