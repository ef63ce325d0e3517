"""The catalogue of cells, each written as its equations. `elman` is the lecture's RNN.

`gru` and `lstm` are PyTorch's `torch.nn.GRU` and `torch.nn.LSTM`: their documented equations,
gate order and both biases, one parameter per gate and side, with the output head Y_t = V h_t + c.
"""
from __future__ import annotations

import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.nodes import Vec
from ..ir.primitives import ACTIVATIONS
from ..ir.nodes import apply
from .equations import Scope, from_sympy, parse_equation
from .spec import Cell, Equation, ModelSpec, Param, param_node


def define(name: str, params, equations, output: str, activation: str, states=(naming.STATE,),
           strict: bool = True, notes=(), where: str | None = None) -> Cell:
    """A cell from text: `equations` is [(name, rhs)] in order, each rhs in the notation of `model.equations`.

    Each equation may read x, the previous states (h_prev, c_prev), the parameters and the
    equations above it; `output` reads h. `where` prefixes error messages (a spec file's name).
    """
    where = where or f"cell {name!r}"
    if activation not in ACTIVATIONS:
        raise SymrnnError(f"{where}: unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    t = naming.t
    shapes = {p.name: (param_node(p), p.shape) for p in params}
    vectors = {naming.INPUT: (Vec(naming.INPUT, t), "m")}
    vectors.update({naming.previous(s): (Vec(s, t - 1), "k") for s in states})
    out = []
    names = [n for n, _ in equations]
    for k, (eq_name, text) in enumerate(equations):
        scope = Scope(dict(vectors), shapes, activation, strict, later=tuple(names[k:]))
        rhs = parse_equation(text, scope, f"{where}: equation {eq_name}")
        out.append(Equation(eq_name, rhs))
        vectors[eq_name] = (Vec(eq_name, t), "k")
    scope = Scope({naming.STATE: (Vec(naming.STATE, t), "k")}, shapes, activation, strict)
    output_node = parse_equation(output, scope, f"{where}: output map")
    try:
        return Cell(name, tuple(params), tuple(states), tuple(out), output_node, activation, tuple(notes))
    except SymrnnError as e:   # the cell's own checks name it `cell 'x'`; a file's reader wants the file named
        prefix = f"cell {name!r}: "
        raise SymrnnError(f"{where}: {str(e).removeprefix(prefix)}") from None


def _p(name, role, *shape) -> Param:
    return Param(name, role, shape)


HEAD = (_p("V", "hidden-to-output weights", "o", "k"), _p("c", "output bias", "o"))


def elman(activation: str = "tanh", loss: str = "mse", output: str = "every") -> ModelSpec:
    """The lecture's RNN: a_t = W h_{t−1} + U x_t + b, h_t = f(a_t), Y_t = V h_t + c."""
    params = (_p("W", "hidden-to-hidden weights", "k", "k"), _p("U", "input-to-hidden weights", "k", "m"),
              _p("b", "hidden bias", "k")) + HEAD
    cell = define("elman", params, [("a", "W @ h_prev + U @ x + b"), ("h", "act(a)")], "V @ h + c", activation)
    return ModelSpec(cell, loss=loss, output=output)


def _gate_params(gates: str, words: dict) -> tuple[Param, ...]:
    """W_i·, W_h·, b_i·, b_h· for each gate, in PyTorch's order."""
    out = []
    for g in gates:
        out += [_p(f"W_i{g}", f"input-to-hidden weights of {words[g]}", "k", "m"),
                _p(f"W_h{g}", f"hidden-to-hidden weights of {words[g]}", "k", "k"),
                _p(f"b_i{g}", f"input bias of {words[g]}", "k"), _p(f"b_h{g}", f"hidden bias of {words[g]}", "k")]
    return tuple(out)


def gru(activation: str = "tanh", loss: str = "mse", output: str = "every") -> ModelSpec:
    """torch.nn.GRU, its update gate named u (the lecture's targets are z):

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)      u_t = σ(W_iu x_t + b_iu + W_hu h_{t−1} + b_hu)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))     h_t = (1 − u_t) ⊙ n_t + u_t ⊙ h_{t−1}
    """
    words = {"r": "the reset gate r", "u": "the update gate u", "n": "the candidate n"}
    cell = define("gru", _gate_params("run", words) + HEAD, [
        ("r", "sigmoid(W_ir @ x + b_ir + W_hr @ h_prev + b_hr)"),
        ("u", "sigmoid(W_iu @ x + b_iu + W_hu @ h_prev + b_hu)"),
        ("n", "act(W_in @ x + b_in + r * (W_hn @ h_prev + b_hn))"),
        ("h", "(1 - u) * n + u * h_prev"),
    ], "V @ h + c", activation, notes=(
        "PyTorch calls the update gate z (weight rows W_iz, W_hz); here it is u, since z_t names the targets.",))
    return ModelSpec(cell, loss=loss, output=output)


def lstm(activation: str = "tanh", loss: str = "mse", output: str = "every") -> ModelSpec:
    """torch.nn.LSTM (gates i, f, g, o; cell state c):

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t−1} + b_hi)    f_t = σ(…)    g_t = tanh(…)    o_t = σ(…)
        c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t      h_t = o_t ⊙ tanh(c_t)
    """
    words = {"i": "the input gate i", "f": "the forget gate f", "g": "the candidate g", "o": "the output gate o"}
    gate = "{f}(W_i{g} @ x + b_i{g} + W_h{g} @ h_prev + b_h{g})"
    cell = define("lstm", _gate_params("ifgo", words) + HEAD, [
        ("i", gate.format(f="sigmoid", g="i")), ("f", gate.format(f="sigmoid", g="f")),
        ("g", gate.format(f="act", g="g")), ("o", gate.format(f="sigmoid", g="o")),
        ("c", "f * c_prev + i * g"),
        ("h", "o * act(c)"),
    ], "V @ h + c", activation, states=(naming.STATE, "c"), notes=(
        "The output bias c and the cell state c_t share a letter, as in the literature: c_t always carries a step.",))
    return ModelSpec(cell, loss=loss, output=output)


CELLS = {"elman": elman, "gru": gru, "lstm": lstm}


def build(cell: str = "elman", **options) -> ModelSpec:
    """A catalogue cell by name, with the model options."""
    if cell not in CELLS:
        raise SymrnnError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}, or a spec file PATH.toml")
    return CELLS[cell](**options)


def from_preactivation(name: str, activation: str, params, preactivation: sp.Expr, output_map: sp.Expr) -> Cell:
    """A single-equation cell from SymPy expressions in h_prev, x and h (the first engine's `Cell`):
    a_t = preactivation, h_t = f(a_t), Y_t = output_map (scalar-first, as that format was)."""
    t, params = naming.t, tuple(params)
    shapes = {p.name: (param_node(p), p.shape) for p in params}
    order = [p.name for p in params]
    pre = Scope({str(naming.PREV): (Vec(naming.STATE, t - 1), "k"), str(naming.X): (Vec(naming.INPUT, t), "m")},
                shapes, activation, strict=False)
    out = Scope({str(naming.CUR): (Vec(naming.STATE, t), "k")}, shapes, activation, strict=False)
    a = from_sympy(preactivation, pre, f"cell {name!r}: pre-activation", order)
    return Cell(name, params, (naming.STATE,),
                (Equation(naming.PREACT, a), Equation(naming.STATE, apply(activation, Vec(naming.PREACT, t)))),
                from_sympy(output_map, out, f"cell {name!r}: output map", order), activation)


__all__ = ["elman", "gru", "lstm", "CELLS", "build", "define", "from_preactivation"]
