"""Unroll a model over T steps into the lecture's per-step scalar equations.

    a1 = W h0 + U x1 + b,   h1 = tanh(a1),   Y1 = V h1 + c,   L1 = ½(Y1 − z1)²,   …

The cell's equations (IR, `derivation.program.primal`) are written with every size 1: matrix
and elementwise products become products, transposes and diag disappear, and each vector v at
step 2 becomes the lecture's symbol v2. A step may be a number (symbols h1, a2, …) or a symbol t
(indexed h[t−1], a[t], …), so the same equations serve the T-step derivation and the general-T forms.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.nodes import (Diag, Hadamard, Map, Mat, MatProd, Minus, Neg, Num, Ones, Plus, Square, Transposed, Vec,
                        Zeros)
from ..ir.scalar import Terms, relu
from ..model.spec import ModelSpec
from .program import primal


def lower(node, reference: bool = False, eta: sp.Expr | None = None, written: bool = False) -> sp.Expr:
    """An IR expression with every size 1, as SymPy: the lecture's functions, or SymPy's built-ins (`reference`).

    `eta`: a sign pattern's symbol η imposed on the piecewise functions (relu(a) = η a, H(a) = η).
    `written`: sums kept in their written order (for display: W h_{t−1} + U x_t + b).
    """
    if isinstance(node, Vec):
        return naming.at(node.role, node.step)
    if isinstance(node, Mat):
        return naming.param(node.name)
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Ones):
        return sp.Integer(1)
    if isinstance(node, Zeros):
        return sp.Integer(0)
    if isinstance(node, Map) and eta is not None and node.function.piecewise:
        return eta * lower(node.arg, reference, eta) if node.fname == "relu" else eta
    args = [lower(a, reference, eta, written) for a in node.args if not isinstance(a, sp.core.symbol.Str)]
    if isinstance(node, Plus):
        return Terms(*args) if written else sp.Add(*args)
    if isinstance(node, Minus):
        return args[0] - args[1]
    if isinstance(node, Neg):
        return -args[0]
    if isinstance(node, (MatProd, Hadamard)):
        return sp.Mul(*args)
    if isinstance(node, Square):
        return args[0] ** 2
    if isinstance(node, (Transposed, Diag)):
        return args[0]
    if isinstance(node, Map):
        f = node.function
        return (f.reference if reference else f.apply)(args[0])
    raise SymrnnError(f"the scalar form cannot write {type(node).__name__}")


@dataclass(frozen=True)
class Step:
    """The equations of one step: each quantity's symbol and its definition, then the output and the loss."""

    t: sp.Expr
    equations: tuple[tuple[sp.Expr, sp.Expr], ...]
    Y: sp.Expr
    Y_def: sp.Expr
    L: sp.Expr
    L_def: sp.Expr
    preacts: tuple[tuple[sp.Expr, sp.Expr], ...]    # (pre-activation, the quantity it feeds): (a1, h1)
    L_written: sp.Expr = None                        # L_def as the lecture writes it (printed, never evaluated)

    def definition(self, symbol) -> sp.Expr | None:
        return dict(self.equations).get(symbol)

    @property
    def h(self) -> sp.Expr:
        return naming.at(naming.STATE, self.t)

    @property
    def h_prev(self) -> sp.Expr:
        return naming.at(naming.STATE, self.t - 1)

    @property
    def x(self) -> sp.Expr:
        return naming.at(naming.INPUT, self.t)

    @property
    def z(self) -> sp.Expr:
        return naming.at(naming.TARGET, self.t)

    @property
    def a(self) -> sp.Expr | None:
        """The pre-activation of a cell with exactly one (the lecture's a_t), else None."""
        return self.preacts[0][0] if len(self.preacts) == 1 else None

    @property
    def a_def(self) -> sp.Expr | None:
        return None if self.a is None else self.definition(self.a)

    @property
    def h_def(self) -> sp.Expr:
        return self.definition(self.h)


@lru_cache(maxsize=None)
def step(spec: ModelSpec, t) -> Step:
    """The equations of step t (a number or a symbol)."""
    t = sp.sympify(t)
    program = primal(spec.cell)
    eqs = tuple((naming.at(e.name, t), lower(e.rhs.xreplace({naming.t: t}))) for e in program.equations)
    Y, L = naming.at(naming.OUTPUT, t), naming.at(naming.LOSS, t)
    Y_def = lower(spec.cell.output.xreplace({naming.t: t}))
    preacts = tuple((naming.at(p, t), naming.at(e, t)) for p, e in program.preacts)
    z = naming.at(naming.TARGET, t)
    return Step(t, eqs, Y, Y_def, L, spec.loss_rule.apply(Y, z), preacts, spec.loss_rule.written(Y, z))


@dataclass(frozen=True)
class Unrolled:
    """A model unrolled over `steps` steps; L = Σ L_t over the loss steps."""

    spec: ModelSpec
    steps: int

    @cached_property
    def equations(self) -> tuple[Step, ...]:
        return tuple(step(self.spec, t) for t in range(1, self.steps + 1))

    def at(self, t: int) -> Step:
        return self.equations[t - 1]

    @property
    def loss_steps(self) -> tuple[int, ...]:
        return self.spec.loss_steps(self.steps)

    @property
    def h0(self) -> sp.Symbol:
        return naming.at(naming.STATE, 0)

    @property
    def initial(self) -> tuple[sp.Symbol, ...]:
        """h0 (and c0)."""
        return tuple(naming.at(s, 0) for s in self.spec.cell.states)

    @property
    def inputs(self) -> tuple[sp.Symbol, ...]:
        """The free quantities L depends on: parameters, initial states, x_t and z_t of the loss steps."""
        xs = tuple(s.x for s in self.equations)
        zs = tuple(self.at(t).z for t in self.loss_steps)
        return tuple(naming.param(p) for p in self.spec.params) + self.initial + xs + zs

    def _definitions(self, t, reference: bool, with_pattern: bool):
        """(symbol, definition) of step t's quantities; with_pattern: piecewise functions under the pattern η."""
        for e in primal(self.spec.cell).equations:
            eta = naming.at(naming.pattern(e.name), t) if with_pattern else None
            yield naming.at(e.name, t), lower(e.rhs.xreplace({naming.t: t}), reference, eta)

    @cached_property
    def pattern_symbols(self) -> tuple[sp.Symbol, ...]:
        """η_t of every piecewise equation at every step (a sign pattern is a 0/1 value for each)."""
        names = [e.name for e in primal(self.spec.cell).equations
                 if any(m.function.piecewise for m in e.rhs.atoms(Map))]
        return tuple(naming.at(naming.pattern(e), t) for t in range(1, self.steps + 1) for e in names)

    def imposed(self, expr: sp.Expr) -> sp.Expr:
        """A derived expression under the sign pattern: relu' = H(h_t) (or H(a_t)) written η_t."""
        env, args = {}, {}
        for e in primal(self.spec.cell).equations:
            maps = [m for m in e.rhs.atoms(Map) if m.function.piecewise]
            for t in range(1, self.steps + 1):
                eta = naming.at(naming.pattern(e.name), t)
                for m in maps:
                    env[naming.at(e.name, t)] = eta
                    if isinstance(m.arg, Vec):
                        env[naming.at(m.arg.role, t)] = args[naming.at(m.arg.role, t)] = eta
        expr = expr.replace(relu, lambda x: args[x] * x if x in args else relu(x))   # an unnamed relu(c_t)
        return expr.replace(sp.Heaviside, lambda x, *rest: env.get(x, sp.Heaviside(x, *rest)))

    def forward(self, point: dict, with_pattern: bool = False) -> dict:
        """Values of every quantity of every step, Y_t and L_t at `point` (values of `inputs`, and of η)."""
        values = dict(point)
        for s in self.equations:
            for sym, definition in (self._definitions(s.t, False, True) if with_pattern else s.equations):
                values[sym] = definition.xreplace(values)
            values[s.Y] = s.Y_def.xreplace(values)
            values[s.L] = s.L_def.xreplace(values)
        return values

    def reference_definitions(self, with_pattern: bool = False):
        """(symbol, definition) of each quantity of each step and Y_t, in SymPy built-ins, in order."""
        for s in self.equations:
            yield from self._definitions(s.t, True, with_pattern)
            yield s.Y, s.Y_def

    def reference_env(self, with_pattern: bool = False, real: bool = False) -> dict:
        """Each quantity of each step and Y_t as a function of `inputs` (and η) alone, in SymPy built-ins;
        `real`: in real twins of those symbols (`real_symbol`), which SymPy builds and differentiates far faster."""
        env: dict = {s: real_symbol(s) for s in self.inputs + self.pattern_symbols} if real else {}
        for sym, definition in self.reference_definitions(with_pattern):
            env[sym] = definition.xreplace(env)
        return env

    def reference_loss(self, with_pattern: bool = False, real: bool = False) -> sp.Expr:
        """L with every intermediate substituted: the naive starting point for `sympy.diff`."""
        env = self.reference_env(with_pattern, real)
        return sp.Add(*(self.at(t).L_def.xreplace(env) for t in self.loss_steps))


def real_symbol(s: sp.Symbol) -> sp.Symbol:
    """s's twin declared real. On symbols of unknown domain SymPy asks, building or differentiating each tanh and
    sech, whether its argument is real or a multiple of iπ: on a gated cell's nested loss that was most of a
    certificate's time (LSTM, T = 3: building the substituted loss 3.5 s complex, 0.26 s real)."""
    return sp.Symbol(s.name, real=True)


__all__ = ["Step", "Unrolled", "step", "lower", "real_symbol"]
