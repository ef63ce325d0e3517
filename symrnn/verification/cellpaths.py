"""The chain-rule paths of any cell, read off its equation list: what a gated cell's answer is localised against.

The unrolled graph (sizes 1, T steps) has one node per named quantity of every step (the gates r_t,
u_t, their pre-activations aʳ_t, the candidate n_t, the states h_t, c_t), the outputs Y_t, the loss
terms L_t and the parameters; q reads v when v is a free symbol of q's definition. Each edge is a
Leibniz factor ∂q/∂v, split where a slip happens:

    activation   q = f(p), p a named pre-activation   ∂q/∂p = f'(p), output form: σ'(aᵘ_t) = u_t (1 − u_t)
    read         q reads a quantity v directly        ∂h_t/∂n_t = 1 − u_t, ∂h_t/∂c_t = o_t (1 − tanh²(c_t))
    entry        q reads the parameter θ              ∂aᵘ_t/∂W_hu = h_{t−1}
    loss/output  ∂L_t/∂Y_t = Y_t − z_t,  ∂Y_t/∂h_t = V

    ∂L/∂θ = Σ_{t ∈ loss steps} Σ_{paths L_t → Y_t → … → θ} Π_{edges e of the path} ∂e

A path is a route through the step's named vectors, so a wrong factor is named on the path it sits
on. The paths multiply (about 4^(t−s) between steps t and s for a GRU, more for an LSTM):
`count` says how many there are without listing them, and `MAX_PATHS` bounds what is listed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property, lru_cache

import mpmath
import sympy as sp

from .. import naming
from ..api import derive
from ..derivation.scalar import activation_of, partial_shown
from ..errors import CheckFailed
from ..ir.scalar import Chain, Partial
from ..model.spec import ModelSpec
from .numeric import DIGITS, Program
from .printing import text

MAX_PATHS = 400          # paths listed at most (GRU T = 3: 54 for a recurrent weight; LSTM T = 3: a few hundred)
POINTS = 4               # random points the explanations are compared at (50 digits)
RANGE = 1.2              # inputs drawn from [−1.2, 1.2], as the scalar checker's


@dataclass(frozen=True)
class Edge:
    """One Leibniz factor ∂num/∂den of the unrolled graph (num reads den directly), its kind and value."""

    num: sp.Symbol
    den: sp.Symbol
    value: sp.Expr
    kind: str          # "loss", "output", "activation", "read", "entry"
    step: int

    @property
    def symbol(self) -> Partial:
        return Partial(self.num, self.den)

    def __str__(self) -> str:
        return f"{text(self.symbol)} = {text(self.value)}"


@dataclass(frozen=True)
class CellPath:
    """One chain-rule path from L_t to θ: its edges from the loss down to the parameter."""

    loss_step: int
    edges: tuple[Edge, ...]

    @property
    def value(self) -> sp.Expr:
        return sp.Mul(*(e.value for e in self.edges))

    @property
    def leibniz(self) -> sp.Expr:
        return Chain(*(e.symbol for e in self.edges))

    @property
    def shown(self) -> sp.Expr:
        return Chain(*(e.value for e in self.edges if e.value != 1))

    @property
    def route(self) -> str:
        """L2 → Y2 → h2 → u2 → aᵘ2 → h1 → W_hu: the quantities the path passes, in the lecture's names."""
        return " → ".join([text(self.edges[0].num)] + [text(e.den) for e in self.edges])

    def __str__(self) -> str:
        return f"{self.route}: {text(self.shown)}"


class CellGraph:
    """A cell unrolled over T steps as a graph of named quantities, with the paths of each gradient."""

    def __init__(self, spec: ModelSpec, steps: int):
        self.spec, self.steps = spec, steps
        self.derivation = derive(spec, steps=steps, certify=False)   # compared with, never trusted: see `paths`
        self.unrolled = self.derivation.unrolled
        u = self.unrolled
        self.params = tuple(naming.param(p) for p in spec.params)
        self.initial = tuple(u.initial)
        self.loss_steps = tuple(u.loss_steps)
        self.definitions: dict[sp.Symbol, tuple[int, sp.Expr]] = {}
        for s in u.equations:
            for sym, d in s.equations:
                self.definitions[sym] = (int(s.t), d)
            self.definitions[s.Y] = (int(s.t), s.Y_def)
        self.gates = {q: p for s in u.equations for p, q in s.preacts      # q = f(p): u1 → aᵘ1
                      if activation_of(spec, int(s.t), q) is not None}

    # -- the graph -------------------------------------------------------------------------
    @cached_property
    def edges(self) -> dict[sp.Symbol, tuple[Edge, ...]]:
        """Each quantity's edges to what its definition reads (quantities in equation order, then parameters)."""
        order = {q: k for k, q in enumerate(self.definitions)}
        out: dict = {}
        spec = self.spec
        for s in self.unrolled.equations:
            t = int(s.t)
            out[s.L] = (Edge(s.L, s.Y, spec.loss_rule.gradient(s.Y, s.z)[-1], "loss", t),)
            for sym, d in list(s.equations) + [(s.Y, s.Y_def)]:
                reads = sorted((v for v in d.free_symbols if v in self.definitions or v in self.initial),
                               key=lambda v: -order.get(v, -1))
                mine = []
                for v in reads:
                    kind = "activation" if self.gates.get(sym) == v else "output" if sym == s.Y else "read"
                    value = sp.diff(d, v) if sym == s.Y else partial_shown(spec, t, sym, v)
                    mine.append(Edge(sym, v, value, kind, t))
                for p in self.params:
                    if p in d.free_symbols:
                        mine.append(Edge(sym, p, sp.diff(d, p), "output" if sym == s.Y else "entry", t))
                out[sym] = tuple(mine)
        return out

    @cached_property
    def known(self) -> frozenset[str]:
        """The names an answer may use: parameters, initial states, every step's quantities, x_t, Y_t, z_t."""
        inputs = [q for s in self.unrolled.equations for q in (s.x, s.z)]
        return frozenset(map(str, (*self.params, *self.initial, *self.definitions, *inputs)))

    def function_of(self, q: sp.Symbol):
        """The registry function f of a quantity q = f(p) (a gate's σ, the candidate's tanh), or None."""
        t = self.definitions[q][0]
        found = activation_of(self.spec, t, q)
        return None if found is None else found[0]

    def wrt(self, name: str) -> sp.Symbol:
        return naming.at(name[:-1], 0) if name in self.spec.cell.initial else naming.param(name)

    def count(self, name: str) -> int:
        """How many paths ∂L/∂name has (counted, not listed)."""
        target = self.wrt(name)

        @lru_cache(maxsize=None)
        def n(q) -> int:
            if q == target:
                return 1
            return sum(n(e.den) for e in self.edges.get(q, ()))
        return sum(n(self.unrolled.at(t).L) for t in self.loss_steps)

    @lru_cache(maxsize=64)
    def paths(self, name: str) -> tuple[CellPath, ...]:
        """Every path of ∂L/∂name, in the loss steps' order, each route in equation order (call `count` first:
        they multiply with T). Their sum is compared with the derivation's gradient at random points."""
        found = self.routes(name)
        total = _zeros(POINTS)
        with mpmath.workdps(DIGITS):
            for p in found:
                total = tuple(a + b for a, b in zip(total, self.path_numbers(p)))
        if not _close(total, self.numbers(self.derivation.gradient(name))):
            raise CheckFailed(f"the chain-rule paths of ∂L/∂{name} do not add up to the derived gradient "
                              f"(a bug in symrnn)")
        return found

    def path_numbers(self, p: CellPath) -> tuple:
        """A path's value at the points, the product of its edges' (each edge compiled once)."""
        with mpmath.workdps(DIGITS):
            out = None
            for e in p.edges:
                n = self.numbers(e.value)
                out = n if out is None else tuple(a * b for a, b in zip(out, n))
            return out

    @lru_cache(maxsize=64)
    def routes(self, name: str) -> tuple[CellPath, ...]:
        """The paths of ∂L/∂name as the graph gives them (`paths`: checked against the derivation)."""
        target = self.wrt(name)
        out = []

        def walk(q, t, trail):
            if q == target:
                out.append(CellPath(t, tuple(trail)))
                return
            for e in self.edges.get(q, ()):
                if self._reaches(e.den, target):
                    walk(e.den, t, trail + [e])
        for t in self.loss_steps:
            walk(self.unrolled.at(t).L, t, [])
        return tuple(out)

    @lru_cache(maxsize=4096)
    def _reaches(self, q, target) -> bool:
        return q == target or any(self._reaches(e.den, target) for e in self.edges.get(q, ()))

    # -- the lecture's forms ---------------------------------------------------------------
    @cached_property
    def _named(self) -> dict:
        """f(p) → q for each named q = f(p) (σ(aᵘ1) → u1, tanh(aⁿ1) → n1)."""
        env = {}
        for q, p in self.gates.items():
            f = self.function_of(q)
            if f is not None:
                env[f.apply(p)] = q
        return env

    def lecture(self, expr: sp.Expr) -> sp.Expr:
        """expr in the named quantities: σ(aᵘ1) → u1, tanh(aⁿ1) → n1, sech²(p) → 1 − tanh²(p)."""
        expr = expr.replace(sp.sech, lambda x: 1 / sp.cosh(x))
        expr = expr.replace(lambda e: e.is_Pow and isinstance(e.base, sp.cosh) and e.exp.is_even and e.exp < 0,
                            lambda e: (1 - sp.tanh(e.base.args[0]) ** 2) ** (-e.exp / 2))
        return expr.xreplace(self._named)

    # -- numbers -----------------------------------------------------------------------------
    @cached_property
    def points(self) -> tuple[dict, ...]:
        """POINTS random points: the inputs drawn, every quantity of every step at its forward value."""
        rng = random.Random(f"{self.spec.name}/{self.steps}/cellpaths")
        binary = self.spec.loss in ("ce", "bce")
        programs = [(q, Program(d)) for q, (_, d) in self.definitions.items()]
        out = []
        with mpmath.workdps(DIGITS):
            for _ in range(POINTS):
                values = {q: mpmath.mpf(rng.uniform(-RANGE, RANGE)) for q in (*self.params, *self.initial)}
                for s in self.unrolled.equations:
                    values[s.x] = mpmath.mpf(rng.uniform(-RANGE, RANGE))
                    values[s.z] = mpmath.mpf(rng.randint(0, 1)) if binary else mpmath.mpf(rng.uniform(-RANGE, RANGE))
                for q, prog in programs:
                    values[q] = prog(values)
                out.append(values)
        return tuple(out)

    def numbers(self, expr: sp.Expr) -> tuple:
        """expr at the points (50 digits)."""
        return _numbers(self, sp.sympify(expr))


@lru_cache(maxsize=65536)
def _numbers(g: CellGraph, expr: sp.Expr) -> tuple:
    prog = Program(expr)
    with mpmath.workdps(DIGITS):
        return tuple(prog(pt) for pt in g.points)


def _zeros(n: int) -> tuple:
    return tuple(mpmath.mpf(0) for _ in range(n))


TOLERANCE = mpmath.mpf(10) ** (20 - DIGITS)


def _close(a: tuple, b: tuple) -> bool:
    return all(abs(x - y) <= TOLERANCE * max(1, abs(y)) for x, y in zip(a, b))


@lru_cache(maxsize=32)
def graph(spec: ModelSpec, steps: int) -> CellGraph:
    """The unrolled graph of spec at T = steps, built once (a class of answers shares it)."""
    return CellGraph(spec, steps)


__all__ = ["CellGraph", "CellPath", "Edge", "graph", "MAX_PATHS", "TOLERANCE"]
