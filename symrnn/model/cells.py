"""The catalogue of cells. `elman` is the lecture's RNN."""
from __future__ import annotations

from .. import naming
from ..errors import SymrnnError
from .spec import Cell, ModelSpec, Param

W, U, b, V, c = (naming.param(n) for n in "WUbVc")

ELMAN_PARAMS = (
    Param("W", "hidden-to-hidden weights", ("k", "k")),
    Param("U", "input-to-hidden weights", ("k", "m")),
    Param("b", "hidden bias", ("k",)),
    Param("V", "hidden-to-output weights", ("o", "k")),
    Param("c", "output bias", ("o",)),
)


def elman(activation: str = "tanh", loss: str = "mse", output: str = "every") -> ModelSpec:
    """The lecture's RNN: a_t = W h_{t−1} + U x_t + b, h_t = act(a_t), Y_t = V h_t + c."""
    cell = Cell(
        name="elman",
        activation=activation,
        params=ELMAN_PARAMS,
        preactivation=W * naming.PREV + U * naming.X + b,
        output_map=V * naming.CUR + c,
    )
    return ModelSpec(cell, loss=loss, output=output)


CELLS = {"elman": elman}


def build(cell: str = "elman", **options) -> ModelSpec:
    """A catalogue cell by name, with the model options."""
    if cell not in CELLS:
        raise SymrnnError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    return CELLS[cell](**options)

