"""Unroll a model over T steps into the lecture's per-step equations.

    a1 = W h0 + U x1 + b,   h1 = tanh(a1),   Y1 = V h1 + c,   L1 = ½(Y1 − z1)²,   …

A step may be a number (symbols h1, a2, …) or a symbol t (indexed h[t−1], a[t], …), so the
same equations serve the T-step derivation and the general-T forms.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .. import naming
from ..naming import INPUT, LOSS, OUTPUT, PREACT, STATE, TARGET
from ..model.spec import ModelSpec


@dataclass(frozen=True)
class Step:
    """The equations of one step: each quantity's symbol and its definition in the step's inputs."""

    t: sp.Expr
    a: sp.Expr
    a_def: sp.Expr
    h: sp.Expr
    h_def: sp.Expr
    Y: sp.Expr
    Y_def: sp.Expr
    L: sp.Expr
    L_def: sp.Expr

    @property
    def h_prev(self) -> sp.Expr:
        return naming.at(STATE, self.t - 1)

    @property
    def x(self) -> sp.Expr:
        return naming.at(INPUT, self.t)

    @property
    def z(self) -> sp.Expr:
        return naming.at(TARGET, self.t)


def step(spec: ModelSpec, t) -> Step:
    """The equations of step t (a number or a symbol)."""
    t = sp.sympify(t)
    a, h, Y, L = (naming.at(r, t) for r in (PREACT, STATE, OUTPUT, LOSS))
    a_def = spec.cell.preactivation.xreplace({naming.PREV: naming.at(STATE, t - 1), naming.X: naming.at(INPUT, t)})
    Y_def = spec.cell.output_map.xreplace({naming.CUR: h})
    return Step(t, a, a_def, h, spec.activation.apply(a), Y, Y_def, L,
                spec.loss_rule.apply(Y, naming.at(TARGET, t)))


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
        return naming.at(STATE, 0)

    @property
    def inputs(self) -> tuple[sp.Symbol, ...]:
        """The free quantities L depends on: parameters, h0, x_t and z_t of the loss steps."""
        xs = tuple(s.x for s in self.equations)
        zs = tuple(self.at(t).z for t in self.loss_steps)
        return tuple(naming.param(p) for p in self.spec.params) + (self.h0,) + xs + zs

    def forward(self, point: dict) -> dict:
        """Values of every a_t, h_t, Y_t, L_t at `point` (values of `inputs`), by the reference functions."""
        values = dict(point)
        act = self.spec.activation.reference
        for s in self.equations:
            values[s.a] = s.a_def.xreplace(values)
            values[s.h] = act(values[s.a])
            values[s.Y] = s.Y_def.xreplace(values)
            values[s.L] = s.L_def.xreplace(values)
        return values

    def reference_env(self) -> dict:
        """Each a_t, h_t, Y_t as a function of `inputs` alone, in SymPy built-ins."""
        act = self.spec.activation.reference
        env: dict = {}
        for s in self.equations:
            env[s.a] = s.a_def.xreplace(env)
            env[s.h] = act(env[s.a])
            env[s.Y] = s.Y_def.xreplace(env)
        return env

    def reference_loss(self) -> sp.Expr:
        """L with every intermediate substituted: the naive starting point for `sympy.diff`."""
        env = self.reference_env()
        return sp.Add(*(self.at(t).L_def.xreplace(env) for t in self.loss_steps))
