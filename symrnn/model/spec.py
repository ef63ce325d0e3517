"""A model as data: a cell (named per-step equations over vectors), a loss and an output mode.

A cell is an ordered list of equations at a step t, each defining one vector from the previous
states, the input x_t, the parameters and the vectors defined before it; its states (h, and c
for an LSTM) are the equations of the same name, read at the next step as h_{t−1}, c_{t−1} and
given at t = 0 as h0, c0; an output map gives Y_t from h_t:

    elman:  a_t = W h_{t−1} + U x_t + b,   h_t = tanh(a_t),                        Y_t = V h_t + c
    gru:    r_t = σ(…), u_t = σ(…), n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn)),
            h_t = (1 − u_t) ⊙ n_t + u_t ⊙ h_{t−1}

    L = Σ_{t ∈ loss steps} loss(Y_t, z_t)

The right-hand sides are IR trees (`symrnn.ir.nodes`) at the symbolic step `naming.t`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import naming
from ..errors import SymrnnError
from ..ir.nodes import Gain, Map, Mat, Node, Vec
from ..ir.primitives import ACTIVATIONS, FUNCTIONS, LOSSES

OUTPUTS = ("every", "last")
SIZES = ("k", "m", "o")


@dataclass(frozen=True)
class Param:
    """A trainable parameter: its name, role, and shape in the sizes k (state), m (input), o (output); () a scalar."""

    name: str
    role: str
    shape: tuple[str, ...]


@dataclass(frozen=True)
class Equation:
    """`name`_t = rhs: one vector of the step, defined from what comes before it."""

    name: str
    rhs: Node


@dataclass(frozen=True)
class Cell:
    """The recurrence as equations, its states, parameters and output map Y_t (in h_t)."""

    name: str
    params: tuple[Param, ...]
    states: tuple[str, ...]
    equations: tuple[Equation, ...]
    output: Node
    activation: str                       # the swappable nonlinearity (--activation): elman's f, a gated cell's candidate
    notes: tuple[str, ...] = field(default=(), compare=False)   # said wherever the cell is printed

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise SymrnnError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        where = f"cell {self.name!r}"
        names = [p.name for p in self.params]
        defined = [e.name for e in self.equations]
        for group in (names, defined):
            for n in group:
                if group.count(n) > 1:
                    raise SymrnnError(f"{where}: the name {n!r} is defined twice")
        read = {m.name for e in self.equations for m in e.rhs.atoms(Mat)}
        for n in set(names) & set(defined) & read:   # (the LSTM's state c beside the output bias c is fine)
            raise SymrnnError(f"{where}: the equation {n!r} has the name of a parameter the equations read")
        if not self.states or self.states[0] != naming.STATE:
            raise SymrnnError(f"{where}: the first state must be {naming.STATE!r} (the output map reads h_t)")
        for s in self.states:
            if s not in defined:
                raise SymrnnError(f"{where}: the state {s!r} is never updated (no equation {s} = …)")
        params = {p.name for p in self.params}
        earlier: set[str] = set()
        for e in self.equations:
            self._check_reads(e.rhs, f"{where}: equation {e.name}", params, earlier, defined)
            earlier.add(e.name)
        self._check_reads(self.output, f"{where}: output map", params, set(), defined, output=True)
        for m in self.output.atoms(Map):
            # certification and verify decide a piecewise function per sign pattern of its argument, and those
            # patterns are placed and imposed on the cell's equations only: in Y_t it would be decided at random points
            if m.function.piecewise:
                raise SymrnnError(f"{where}: the output map applies {m.function.name}, which is piecewise: its sign "
                                  f"patterns are decided only inside the cell's equations; keep the output map smooth "
                                  f"(V @ h + c) and put {m.function.name} in the equations")
        used = {m.name for e in self.equations for m in e.rhs.atoms(Mat)} | {m.name for m in self.output.atoms(Mat)}
        unused = [n for n in names if n not in used]
        if unused:
            raise SymrnnError(f"{where}: parameter {unused[0]!r} is declared but no equation uses it")
        if not any(v.role in self.states and v.step == naming.t - 1 for e in self.equations for v in e.rhs.atoms(Vec)):
            raise SymrnnError(f"{where}: no equation reads a previous state (h_prev): there is no recurrence")

    def _check_reads(self, rhs: Node, what: str, params, earlier, defined, output=False):
        t = naming.t
        for m in rhs.atoms(Mat):
            if m.name not in params:
                raise SymrnnError(f"{what} uses the unknown parameter {m.name!r}")
        for v in rhs.atoms(Vec):
            if output:
                ok = v.role == naming.STATE and v.step == t
            else:
                ok = ((v.role == naming.INPUT and v.step == t) or (v.role in self.states and v.step == t - 1)
                      or (v.role in earlier and v.step == t))
            if not ok:
                if v.role in defined and v.step == t and not output:
                    raise SymrnnError(f"{what} uses {v.role}, which is defined later (equations are in order)")
                raise SymrnnError(f"{what} uses the unknown name {naming.placeholder(v)!r}")
        for f in rhs.atoms(Map):
            if f.fname not in FUNCTIONS:
                raise SymrnnError(f"{what} uses the unknown function {f.fname!r}")
            if f.function.derivative is None:
                raise SymrnnError(f"{what} applies {f.fname}, which has no derivative to propagate (BPTT needs one "
                                  f"for every function of a cell)")

    def equation(self, name: str) -> Equation:
        return next(e for e in self.equations if e.name == name)

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def output_params(self) -> tuple[str, ...]:
        """Parameters of the output map."""
        used = {m.name for m in self.output.atoms(Mat)}
        return tuple(p.name for p in self.params if p.name in used)

    @property
    def state_params(self) -> tuple[str, ...]:
        """Parameters of the state update, in declaration order."""
        used = {m.name for e in self.equations for m in e.rhs.atoms(Mat)}
        return tuple(p.name for p in self.params if p.name in used)

    @property
    def gains(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if not p.shape)

    @property
    def initial(self) -> tuple[str, ...]:
        """The initial states' names: h0 (and c0)."""
        return tuple(naming.initial(s) for s in self.states)


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
        return self.cell.param_names

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


def scalar_gain(p: Param) -> bool:
    return not p.shape


def param_node(p: Param) -> Mat:
    """The IR leaf of a parameter: a Gain for a scalar, else a Mat."""
    return Gain(p.name) if scalar_gain(p) else Mat(p.name)


__all__ = ["Param", "Equation", "Cell", "ModelSpec", "OUTPUTS", "SIZES", "param_node"]
