"""The slips a hand derivation makes, as named transformations of a true chain-rule path.

Each trap turns a true path into the values a student writes after one slip, with what the slip
means. A path's factors are split into parts (model.Local): ∂L_t/∂h_t = ∂L_t/∂Y_t · ∂Y_t/∂h_t,
∂h_s/∂(·) = act'(a_s) · ∂a_s/∂(·), so a trap changes exactly the part the slip is in. The
registry is ordered: when two traps give the same value, the first names it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sympy as sp

from .. import naming
from ..ir.scalar import Chain, sigmoid
from .model import Local, Model, Path
from .printing import text


@dataclass(frozen=True)
class Variant:
    """A true path changed by one slip: its value, its factors in written order, what the slip means."""

    value: sp.Expr
    shown: sp.Expr
    message: str
    trap: str = ""


@dataclass(frozen=True)
class Context:
    """What a trap may look at: the model, the parameter, the answer (to quote the student's own form)."""

    m: Model
    param: str
    yours: sp.Expr = sp.Integer(0)


Trap = Callable[[Context, Path], Iterator[Variant]]
TRAPS: dict[str, Trap] = {}


def trap(name: str):
    """Register a trap under `name` (the order of registration is the order of preference)."""
    def register(f: Trap) -> Trap:
        TRAPS[name] = f
        return f
    return register


def _name(f: Local) -> str:
    return text(f.symbol)


def changed(path: Path, k: int, j: int | None, new: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(value, written form) of the path with part j of factor k (the whole factor when j is None) replaced."""
    value = path.with_factor(k, new) if j is None else path.with_part(k, j, new)
    shown = []
    for i, f in enumerate(path.factors):
        if i != k:
            shown.append(f.shown)
        elif j is None:
            shown.append(new)
        else:
            shown.extend(new if m == j else p for m, p in enumerate(f.parts))
    return value, Chain(*(f for f in shown if f != 1))


def variant(path: Path, k: int, j: int | None, new: sp.Expr, message: str) -> Variant:
    return Variant(*changed(path, k, j, new), message)


def _loss_factor(path: Path) -> int | None:
    return next((k for k, f in enumerate(path.factors) if f.kind == "loss"), None)


def _act_factors(path: Path) -> Iterator[tuple[int, Local]]:
    return ((k, f) for k, f in enumerate(path.factors) if f.through_activation and f.parts[0] != 1)


# -- the loss's derivative ---------------------------------------------------------------

@trap("loss derivative")
def _loss_derivative(c: Context, path: Path):
    """∂L_t/∂Y_t of another loss: Y − z where σ(Y) − z belongs (cross-entropy), or the other way."""
    k = _loss_factor(path)
    if k is None:
        return
    t = path.factors[k].step
    right = c.m.loss_prime(t)
    for loss, other in c.m.other_loss_primes(t).items():
        kind = "squared error's" if loss == "mse" else "cross-entropy's"
        yield variant(path, k, 0, other, f"{text(other)} where ∂L{t}/∂Y{t} = {text(right)}: {text(other)} is the "
                                         f"{kind} ∂L/∂Y, not this model's ({c.m.loss})")
    if c.m.loss in ("bce", "ce"):
        s = sigmoid(c.m.step(t).Y)
        yield variant(path, k, 0, right * s * (1 - s),
                      f"an extra σ'(Y{t}) = {text(s * (1 - s))}: the cross-entropy's ∂L{t}/∂Y{t} = {text(right)} "
                      f"already includes it (L = log(1 + e^Y) − zY)")


@trap("½ cancellation")
def _half(c: Context, path: Path):
    """Squared error: the ½ of L_t = ½(Y_t − z_t)² not cancelled against the 2 of the square, or kept."""
    k = _loss_factor(path)
    if k is None or c.m.loss != "mse":
        return
    t = path.factors[k].step
    right = c.m.loss_prime(t)
    yield variant(path, k, 0, 2 * right, f"a factor 2 too many: 2 ({text(right)}) — the ½ in L{t} = ½({text(right)})² "
                                         f"cancels the 2 of the square, ∂L{t}/∂Y{t} = {text(right)} (or the term is "
                                         f"counted twice)")
    yield variant(path, k, 0, right / 2, f"a stray factor ½: ½ ({text(right)}) — the ½ of L{t} = ½({text(right)})² "
                                         f"was kept after differentiating; ∂L{t}/∂Y{t} = {text(right)}")


@trap("sign")
def _sign(c: Context, path: Path):
    """The whole term with the opposite sign (z − Y for Y − z)."""
    k = _loss_factor(path)
    if k is None:
        yield Variant(-path.value, Chain(sp.Integer(-1), path.shown), "the sign is flipped")
        return
    t = path.factors[k].step
    right = c.m.loss_prime(t)
    message = "the sign is flipped"
    if (-right) in set(sp.preorder_traversal(c.yours)):
        message += f": {text(-right)} where ∂L{t}/∂Y{t} = {text(right)}"
    yield variant(path, k, 0, -right, message)


# -- lost factors (first: under a sign pattern H(h2) H(h2) = H(h2), a lost factor can look like a shifted index), time indices ---------------------------------------------------------

@trap("lost factor")
def _lost_factor(c: Context, path: Path):
    """A whole Leibniz factor, or one part of one, left out."""
    for k, f in enumerate(path.factors):
        if f.kind == "hop":
            what = f"the recurrent factor {_name(f)} is missing"
        else:
            what = f"the factor {_name(f)} = {text(f.shown)} is missing"
        yield variant(path, k, None, sp.Integer(1), what)
        if len(f.parts) < 2:
            continue
        for j, part in enumerate(f.parts):
            if part == 1:
                continue
            if f.through_activation and j == 0:
                why = f"the activation's derivative {text(part)} is missing from {_name(f)}"
            elif f.kind == "hop":
                why = f"the recurrent factor {_name(f)} lost its {text(part)}"
            else:
                why = f"{text(part)} is missing from {_name(f)}"
            yield variant(path, k, j, sp.Integer(1), why)


@trap("time index")
def _time_index(c: Context, path: Path):
    """One time-indexed symbol of one factor moved by ±1 step."""
    for k, f in enumerate(path.factors):
        for sym in sorted(f.value.free_symbols, key=str):
            role = c.m.role(sym)
            if role is None:
                continue
            for by in (-1, 1):
                other = c.m.at(role[0], role[1] + by)
                if other is not None:
                    new = f.value.xreplace({sym: other})
                    yield variant(path, k, None, new, f"wrong time index in {_name(f)}: {other} where the chain rule "
                                                     f"has {sym}")


# -- the activation's derivative -----------------------------------------------------------

@trap("tanh' as 1 - h")
def _one_minus_h(c: Context, path: Path):
    """tanh'(a_t) written 1 − h_t instead of 1 − h_t²."""
    if c.m.activation != "tanh":
        return
    for k, f in _act_factors(path):
        h = c.m.step(f.step).h
        yield variant(path, k, 0, 1 - h, f"tanh' written as 1 - {h} instead of 1 - {h}² in {_name(f)}")


@trap("other activation's derivative")
def _other_activation(c: Context, path: Path):
    """σ' where tanh' belongs (h(1 − h) for 1 − h²) and the other way; σ' as 1 − h."""
    for k, f in _act_factors(path):
        a, h = c.m.step(f.step).a, c.m.step(f.step).h
        if c.m.activation == "tanh":
            yield variant(path, k, 0, h * (1 - h), f"{text(h * (1 - h))} is σ'({a}) written in {h}; for tanh, "
                                                   f"tanh'({a}) = {text(1 - h ** 2)} (in {_name(f)})")
        elif c.m.activation == "sigmoid":
            yield variant(path, k, 0, 1 - h ** 2, f"{text(1 - h ** 2)} is tanh'({a}) written in {h}; for σ, "
                                                  f"σ'({a}) = {text(h * (1 - h))} (in {_name(f)})")
            yield variant(path, k, 0, 1 - h, f"σ' written as {text(1 - h)} instead of {text(h * (1 - h))} "
                                             f"in {_name(f)}")


@trap("activation of h")
def _activation_of_h(c: Context, path: Path):
    """act'(h_t) where act'(a_t) belongs: 1 − tanh(h_t)², σ(h_t)(1 − σ(h_t)) — the activation applied twice."""
    for k, f in _act_factors(path):
        s = c.m.step(f.step)
        for form in c.m.act_forms(s.a, s.h)[:-1]:
            wrong = form.xreplace({s.a: s.h})
            if wrong != form and wrong.has(s.h):
                yield variant(path, k, 0, wrong, f"{text(wrong)} where {text(form)} = {text(c.m.act_prime(f.step))} "
                                                 f"belongs: the activation is applied to {s.h}, not to {s.a} "
                                                 f"(in {_name(f)})")


@trap("activation for its derivative")
def _activation_itself(c: Context, path: Path):
    """h_t = act(a_t) where act'(a_t) belongs."""
    for k, f in _act_factors(path):
        s = c.m.step(f.step)
        if c.m.act_prime(f.step) != s.h:
            yield variant(path, k, 0, s.h, f"{s.h} = {text(c.m.act(s.a))} where {c.m.activation}'({s.a}) = "
                                           f"{text(c.m.act_prime(f.step))} belongs: the activation instead of its "
                                           f"derivative (in {_name(f)})")


# -- recurrent factors and parameters ---------------------------------------------------

@trap("W squared")
def _w_squared(c: Context, path: Path):
    """W² in a recurrent factor, where each step contributes one W."""
    for k, f in enumerate(path.factors):
        if f.kind == "hop" and f.parts[1] != 1:
            w = f.parts[1]
            yield variant(path, k, 1, w ** 2, f"{text(w ** 2)} in {_name(f)}: each recurrent step contributes "
                                              f"{text(w)} once")


@trap("other parameter")
def _other_parameter(c: Context, path: Path):
    """The entry factor of another parameter: x_s where h_{s−1} belongs (∂⁺h_s/∂U given for ∂⁺h_s/∂W), …"""
    for k, f in enumerate(path.factors):
        if f.kind != "entry":
            continue
        s = c.m.step(f.step)
        defining = s.a_def if f.through_activation else s.Y_def
        j = 1 if f.through_activation else 0
        for q in [*c.m.param_symbols, s.x]:
            if q == f.den:
                continue
            part = sp.diff(defining, q)
            if part != 0 and part != f.parts[j]:
                what = f"∂⁺{f.num}/∂{q}" if f.through_activation else f"∂{f.num}/∂{q}"
                yield variant(path, k, j, part, f"{text(part)} where {text(f.parts[j])} belongs in {_name(f)}: "
                                                f"{text(part)} is the factor of {what} (another parameter's gradient)")


@trap("factor 2")
def _factor_two(c: Context, path: Path):
    """The term twice (counted twice), or halved."""
    yield Variant(2 * path.value, Chain(sp.Integer(2), path.shown),
                  "a factor 2 too many: the term is counted twice (or ½(Y − z)² differentiated to 2(Y − z))")
    yield Variant(path.value / 2, Chain(sp.Rational(1, 2), path.shown),
                  "a stray factor ½: the ½ of the squared error was kept after differentiating")


def variants(c: Context, path: Path) -> Iterator[Variant]:
    """Every registered slip of the path, in the registry's order, each tagged with its trap's name."""
    seen = {path.value}
    for name, rule in TRAPS.items():
        for v in rule(c, path):
            if v.value not in seen:
                seen.add(v.value)
                yield Variant(v.value, v.shown, v.message, name)


__all__ = ["TRAPS", "trap", "Variant", "Context", "variants", "changed"]
