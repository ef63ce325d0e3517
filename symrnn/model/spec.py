"""A model as data: the cell's equations, its activation, the loss and the output mode.

    a_t = pre(h_{t−1}, x_t; θ)      (Elman: W h_{t−1} + U x_t + b)
    h_t = act(a_t)
    Y_t = out(h_t; θ)               (Elman: V h_t + c)
    L   = Σ_{t ∈ loss steps} loss(Y_t, z_t)
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.primitives import ACTIVATIONS, LOSSES

OUTPUTS = ("every", "last")


@dataclass(frozen=True)
class Param:
    """A trainable parameter: its name, role, and shape in the sizes k (state), m (input), o (output)."""

    name: str
    role: str
    shape: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """The recurrence: a pre-activation in h_prev, x and the parameters, an activation, an output map in h."""

    name: str
    activation: str
    params: tuple[Param, ...]
    preactivation: sp.Expr
    output_map: sp.Expr

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise SymrnnError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        known = {naming.PREV, naming.X} | {naming.param(p.name) for p in self.params}
        for what, expr, allowed in (("pre-activation", self.preactivation, known),
                                    ("output map", self.output_map, {naming.CUR} | known - {naming.PREV, naming.X})):
            unknown = expr.free_symbols - allowed
            if unknown:
                raise SymrnnError(f"cell {self.name!r}: {what} uses unknown name(s) {', '.join(sorted(map(str, unknown)))}")

    @property
    def state_params(self) -> tuple[str, ...]:
        """Parameters of the state update, in declaration order."""
        return tuple(p.name for p in self.params if naming.param(p.name) in self.preactivation.free_symbols)

    @property
    def output_params(self) -> tuple[str, ...]:
        """Parameters of the output map."""
        return tuple(p.name for p in self.params if naming.param(p.name) in self.output_map.free_symbols)


@dataclass(frozen=True)
class ModelSpec:
    """A cell with a loss (`mse`, `ce`, `bce`) and an output mode (`every` step or the `last` one)."""

    cell: Cell
    loss: str = "mse"
    output: str = "every"

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise SymrnnError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.output not in OUTPUTS:
            raise SymrnnError(f"unknown output mode {self.output!r}; choose one of {', '.join(OUTPUTS)}")

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.cell.params)

    @property
    def activation(self):
        return ACTIVATIONS[self.cell.activation]

    @property
    def loss_rule(self):
        return LOSSES[self.loss]

    def loss_steps(self, steps: int) -> tuple[int, ...]:
        """The steps that carry a loss term: all of 1..T, or only T for many-to-one."""
        return tuple(range(1, steps + 1)) if self.output == "every" else (steps,)

    @property
    def name(self) -> str:
        return f"{self.cell.name}_{self.cell.activation}_{self.loss}_{self.output}"

    def describe(self) -> dict:
        """The model as JSON-ready data."""
        return {"cell": self.cell.name, "activation": self.cell.activation, "loss": self.loss,
                "output": self.output, "params": list(self.params)}
