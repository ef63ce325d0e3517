"""Where each of a catalogue cell's parameters lives in PyTorch's state_dicts (INTERFACE §3), as data.

torch.nn.RNN/GRU/LSTM (one layer) stack the gates' rows in their own order and keep two biases;
the head is a torch.nn.Linear(k, o):

    elman  W = weight_hh_l0, U = weight_ih_l0, b = bias_ih_l0 + bias_hh_l0 (both bias gradients are ∂L/∂b)
    gru    W_i· = rows of weight_ih_l0, W_h· = rows of weight_hh_l0, b_i·, b_h· likewise; gates r, z, n (our u is z)
    lstm   the same with gates i, f, g, o
    head   V = weight, c = bias
"""
from __future__ import annotations

from ..model.cells import CELLS
from ..model.spec import ModelSpec

#: The torch module of each catalogue cell and its gates in torch's row-block order ("" for the one block of elman).
MODULES = {"elman": ("torch.nn.RNN", ("",)), "gru": ("torch.nn.GRU", ("r", "u", "n")),
           "lstm": ("torch.nn.LSTM", ("i", "f", "g", "o"))}
HEAD = "torch.nn.Linear"


def torch_layout(spec: ModelSpec) -> dict | None:
    """param -> (state dict "rnn" or "head", its keys (summed), the row block, the number of blocks); None: no torch cell.

    A user cell (a spec file) may reuse a catalogue name but not its equations, so only the catalogue's own count.
    """
    name = spec.cell.name
    if name not in MODULES or CELLS[name](activation=spec.cell.activation).cell.equations != spec.cell.equations:
        return None
    _, gates = MODULES[name]
    layout = {"V": ("head", ("weight",), 0, 1), "c": ("head", ("bias",), 0, 1)}
    if name == "elman":
        layout.update(W=("rnn", ("weight_hh_l0",), 0, 1), U=("rnn", ("weight_ih_l0",), 0, 1),
                      b=("rnn", ("bias_ih_l0", "bias_hh_l0"), 0, 1))
    else:
        for block, gate in enumerate(gates):
            for side in "ih":
                layout[f"W_{side}{gate}"] = ("rnn", (f"weight_{side}h_l0",), block, len(gates))
                layout[f"b_{side}{gate}"] = ("rnn", (f"bias_{side}h_l0",), block, len(gates))
    return {p: layout[p] for p in spec.params}


def torch_module(spec: ModelSpec) -> str | None:
    return MODULES[spec.cell.name][0] if torch_layout(spec) is not None else None


__all__ = ["torch_layout", "torch_module", "MODULES", "HEAD"]
