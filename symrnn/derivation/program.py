"""A cell's step as a program of named vectors, and its adjoint program: reverse mode, as data.

The primal program is the cell's equations at step t, with the argument of every activation
named (the pre-activation a^e of e = f(…), the lecture's a_t for Elman), so that its error
δ^e_t = ∂L/∂a^e_t is a named vector too. The adjoint program walks the equations in reverse
order with one rule per node (`ir.rules`): each named vector v receives v̄_t = ∂L/∂v_t from the
equations that read it, the states also from the loss at t (h̄_t ∋ (∂Y_t/∂h_t)ᵀ g_t) and from
step t + 1 (the carry, ∂L/∂s_t through s_{t+1}); a parameter θ collects its contribution to
∂L/∂θ = Σ_t (…). For Elman:

    h̄_t = Vᵀ g_t + Wᵀ δ_{t+1},   δ_t = f'(h_t) ⊙ h̄_t,   ∂L/∂W += δ_t h_{t−1}ᵀ,   carry to h_{t−1}: Wᵀ δ_t

Every view of the derivation is this program with some names kept and the others substituted:
the δ-recursion keeps what is read more than once, the state-gradient form keeps the states
only, the kernels keep what their loops store.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .. import naming
from ..errors import SymrnnError
from ..ir.nodes import Map, Node, Vec, Zeros, plus, rebuild
from ..ir.rules import pullback
from ..model.spec import Cell, Equation, ModelSpec, param_node
from ..ir.rules import vjp

SUFFIXES = ("",) + tuple("bcdefghijklmnopqrstuvwxyz")   # a^e, a^eb, … (a digit would read as a step)
CARRY = "carry"   # placeholder role: ∂L/∂s_t arriving from step t + 1


@dataclass(frozen=True)
class Step:
    """The primal program of one step at the symbolic t: equations with every activation's argument named."""

    cell: Cell
    equations: tuple[Equation, ...]
    preacts: tuple[tuple[str, str], ...]      # (pre-activation, the equation it feeds): (a, h), (a_r, r)

    def definition(self, v: Vec) -> Node | None:
        """The right-hand side defining v (a vector of this step, at any step index), None for inputs."""
        for e in self.equations:
            if e.name == v.role:
                return e.rhs.xreplace({naming.t: v.step})
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.equations)

    def adjoint_name(self, name: str) -> str:
        """δ (δ^e) for a pre-activation, v̄ for any other named vector."""
        feeds = dict(self.preacts)
        if name not in feeds:
            return naming.bar(name)
        if len(self.preacts) == 1:
            return naming.delta(None)
        # δ^e for the argument of e = f(…); nested ones are told apart by their own tag (a^eb: δ^eb)
        tag = name.removeprefix(naming.preactivation(""))
        return naming.delta(tag if name == naming.preactivation(tag) else feeds[name])


@lru_cache(maxsize=None)
def primal(cell: Cell) -> Step:
    """The cell's equations with each compound activation argument named a^e (e = f(…) becomes a^e = …, e = f(a^e))."""
    t = naming.t
    out, preacts = [], []
    for e in cell.equations:
        extra: list[Equation] = []

        def name_args(node, root):
            if isinstance(node, Map) and not isinstance(node.arg, Vec):
                arg = name_args(node.arg, False)   # inner activations first: they are computed first
                if len(extra) >= len(SUFFIXES):
                    raise SymrnnError(f"equation {e.name}: more than {len(SUFFIXES)} activations in one equation; "
                                      f"give some of them equations of their own")
                pre = naming.preactivation(e.name + SUFFIXES[len(extra)])
                extra.append(Equation(pre, arg))
                preacts.append((pre, e.name))
                return Map(node.fname, Vec(pre, t))
            if isinstance(node, Vec) or not node.args or not isinstance(node, Node):
                return node
            return rebuild(type(node)(*(name_args(a, False) if isinstance(a, Node) else a for a in node.args)))

        rhs = name_args(e.rhs, True)
        out.extend(extra)
        # an explicit pre-activation p: e = f(p), p read inside e as f(p), or (the identity applied) e = p
        earlier = {x.name for x in out} - set(cell.states) - set(dict(preacts))
        args = [m.arg for m in rhs.atoms(Map)] + ([rhs] if isinstance(rhs, Vec) else [])
        for arg in args:
            if isinstance(arg, Vec) and arg.step == t and arg.role in earlier:
                preacts.append((arg.role, e.name))
                earlier.discard(arg.role)
        out.append(Equation(e.name, rhs))
    return Step(cell, tuple(out), tuple(preacts))


@dataclass(frozen=True)
class Adjoint:
    """The adjoint of one step at the symbolic t, every equation's adjoint named.

    statements: (v̄_t, its definition) in reverse program order, each in later-named adjoints;
    params: θ -> the step's contribution to ∂L/∂θ; carry: state s -> the step's contribution to s̄_{t−1}.
    The states' definitions read CARRY placeholders, replaced by `close`.
    """

    step: Step
    statements: tuple[tuple[Vec, Node], ...]
    params: tuple[tuple[str, Node], ...]
    carry: tuple[tuple[str, Node], ...]


def own_gradient(spec: ModelSpec, t) -> Node | None:
    """(∂Y_t/∂h_t)ᵀ g_t: what the loss at step t sends to h_t."""
    return vjp(spec.cell.output.xreplace({naming.t: t}), Vec(naming.STATE, t), loss_vector(spec, t))


def loss_vector(spec: ModelSpec, t) -> Vec:
    """g_t = ∂L_t/∂Y_t as a named vector (its definition is the loss rule's, `matrix.loss_gradient`)."""
    roles = [e.name for e in spec.cell.equations]
    return Vec(naming.loss_gradient(roles), t)


def walk(spec: ModelSpec, seeds: dict, diag_form: bool = False, t=naming.t) -> Adjoint:
    """Reverse mode over the step at t: `seeds` maps each state to the list of its external adjoints."""
    step = primal(spec.cell)
    contributions: dict[str, list] = {name: list(seeds.get(name, ())) for name in step.names}
    params: dict[str, list] = {}
    carry: dict[str, list] = {}
    statements = []
    for e in reversed(step.equations):
        parts = contributions[e.name]
        if not parts:
            continue
        target = Vec(step.adjoint_name(e.name), t)
        statements.append((target, plus(*parts)))
        for leaf, received in pullback(e.rhs.xreplace({naming.t: t}), target, diag_form, out=Vec(e.name, t)):
            if isinstance(leaf, Vec) and leaf.step == t and leaf.role in contributions:
                contributions[leaf.role].append(received)
            elif isinstance(leaf, Vec) and leaf.step == t - 1:
                carry.setdefault(leaf.role, []).append(received)
            elif not isinstance(leaf, Vec):
                params.setdefault(leaf.name, []).append(received)
    order = [p for p in spec.params if p in params]
    return Adjoint(step, tuple(statements), tuple((p, plus(*params[p])) for p in order),
                   tuple((s, plus(*reversed(carry[s]))) for s in spec.cell.states if s in carry))


def substitute(e: Node, env: dict) -> Node:
    return rebuild(e.xreplace(env)) if env else e


def inline(statements, keep, uses_elsewhere) -> tuple[list, dict]:
    """Substitute every statement not in `keep` into its readers; returns (kept statements, env of the substituted).

    `uses_elsewhere(v)`: how often v is read outside the statements (gradients, carries); statements are in
    reverse program order, so a definition is substituted into the later statements that read it.
    """
    env: dict = {}
    kept = []
    for lhs, body in statements:
        body = substitute(body, env)
        if keep(lhs):
            kept.append((lhs, body))
        else:
            env[lhs] = body
    return kept, env


def count_reads(v: Vec, exprs) -> int:
    """How many times v (or v at the next step, v_{t+1}) occurs in the expressions."""
    shifted = Vec(v.role, v.step + 1)
    total = 0
    for e in exprs:
        if e is None:
            continue
        total += sum(1 for x in sp.preorder_traversal(e) if x == v or x == shifted)
    return total


def check_states(spec: ModelSpec):
    if spec.cell.states[0] != naming.STATE:
        raise SymrnnError(f"cell {spec.cell.name!r}: the first state must be h")


__all__ = ["Step", "primal", "Adjoint", "walk", "own_gradient", "loss_vector", "inline", "count_reads", "CARRY",
           "substitute", "param_node", "Zeros"]
