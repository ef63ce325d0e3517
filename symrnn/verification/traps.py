"""The slips a hand derivation makes, as named transformations of a true chain-rule path.

Each trap turns a true path into the values a student writes after one slip, with what the slip
means. A path's factors are split into parts (model.Local): ∂L_t/∂h_t = ∂L_t/∂Y_t · ∂Y_t/∂h_t,
∂h_s/∂(·) = act'(a_s) · ∂a_s/∂(·), so a trap changes exactly the part the slip is in. The
registry is ordered: when two traps give the same value, the first names it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache

import sympy as sp

from ..ir.scalar import Chain, sigmoid
from .model import Local, Model, Path
from .printing import text


class Variant:
    """A true path changed by one slip: `scale` times the path with `edits` (k, j, new) applied, what the slip
    means, and the trap that names it. Its value and written form are built only when asked for (a T = 12
    gradient has thousands of slips; most are only ever compared by their numbers)."""

    def __init__(self, path: Path, edits=(), message: str = "", trap: str = "", scale=sp.Integer(1)):
        self.path, self.edits, self.message, self.trap, self.scale = path, tuple(edits), message, trap, scale

    @cached_property
    def _changed(self) -> tuple[sp.Expr, sp.Expr]:
        value, shown = changed(self.path, self.edits)
        if self.scale != 1:
            value, shown = self.scale * value, Chain(self.scale, shown)
        return value, shown

    @property
    def value(self) -> sp.Expr:
        return self._changed[0]

    @property
    def shown(self) -> sp.Expr:
        return self._changed[1]

    def named(self, trap: str) -> "Variant":
        return Variant(self.path, self.edits, self.message, trap, self.scale)


@dataclass(frozen=True)
class Context:
    """What a trap may look at: the model, the parameter, the answer (to quote the student's own form)."""

    m: Model
    param: str
    yours: sp.Expr = sp.Integer(0)


Trap = Callable[[Context, Path], Iterator[Variant]]
TRAPS: dict[str, Trap] = {}


def registrar(table: dict):
    """A decorator factory registering rules into `table` by name (the order of registration is the order of
    preference): `trap` here, `celltraps.cell_trap` for gated and user cells."""
    def named(name: str):
        def register(f):
            table[name] = f
            return f
        return register
    return named


trap = registrar(TRAPS)


def _name(f: Local) -> str:
    return text(f.symbol)


Edit = tuple  # (factor k, part j or None for the whole factor, the new value)


def changed(path: Path, edits) -> tuple[sp.Expr, sp.Expr]:
    """(value, written form) of the path with each edit (k, j, new) applied: part j of factor k (the whole
    factor when j is None) replaced by new."""
    by_factor = {}
    for k, j, new in edits:
        by_factor.setdefault(k, {})[j] = new
    values, shown = [], []
    for k, f in enumerate(path.factors):
        e = by_factor.get(k, {})
        if None in e:
            values.append(e[None])
            shown.append(e[None])
        elif e:
            parts = [e.get(j, p) for j, p in enumerate(f.parts)]
            values.append(sp.Mul(*parts))
            shown.extend(parts)
        else:
            values.append(f.value)
            shown.append(f.shown)
    return sp.Mul(*values), Chain(*(x for x in shown if x != 1))


def variant(path: Path, edits, message: str) -> Variant:
    """The path with the edits (k, j, new) applied, and what they mean."""
    return Variant(path, edits, message)


@dataclass(frozen=True)
class Swap:
    """One slip at one part of one factor: part j of factor k (the whole factor when j is None) becomes `new`.
    `key` names the slip apart from the step, so the same slip in several factors, or in every term, is
    recognised as one; `general` says it for any step."""

    k: int
    j: int | None
    new: sp.Expr
    message: str
    key: tuple
    general: str


SwapRule = Callable[["Context", Path], Iterator[Swap]]
SWAPS: dict[str, SwapRule] = {}


def swap_trap(name: str):
    """Register a slip that replaces parts of factors: as single slips, and as the same slip in every factor
    of a term it applies to."""
    def register(rule: SwapRule) -> SwapRule:
        def as_variants(c: Context, path: Path) -> Iterator[Variant]:
            swaps = list(rule(c, path))
            for w in swaps:
                yield variant(path, [(w.k, w.j, w.new)], w.message)
            by_key: dict[tuple, list[Swap]] = {}
            for w in swaps:
                by_key.setdefault(w.key, []).append(w)
            for group in by_key.values():
                if len({(w.k, w.j) for w in group}) == len(group) > 1:
                    yield variant(path, [(w.k, w.j, w.new) for w in group],
                                  "; ".join(dict.fromkeys(w.message for w in group)))
        TRAPS[name] = as_variants
        SWAPS[name] = rule
        return rule
    return register


def everywhere(c: "Context") -> Iterator[tuple[str, sp.Expr, str]]:
    """(trap, ∂L/∂θ with one slip made in every factor it applies to, the slip in words), for each slip."""
    paths = c.m.gradient(c.param).paths
    for name, rule in SWAPS.items():
        per_path = [list(rule(c, p)) for p in paths]
        keys = dict.fromkeys(w.key for swaps in per_path for w in swaps)
        for key in keys:
            total, general = [], ""
            for p, swaps in zip(paths, per_path):
                mine = [w for w in swaps if w.key == key]
                if len({(w.k, w.j) for w in mine}) != len(mine):
                    mine = mine[:1]
                total.append(changed(p, [(w.k, w.j, w.new) for w in mine])[0] if mine else p.value)
                general = general or (mine[0].general if mine else "")
            yield name, sp.Add(*total), general


def _loss_factor(path: Path) -> int | None:
    return next((k for k, f in enumerate(path.factors) if f.kind == "loss"), None)


def _act_factors(path: Path) -> Iterator[tuple[int, Local]]:
    return ((k, f) for k, f in enumerate(path.factors) if f.through_activation and f.parts[0] != 1)


# -- the loss's derivative ---------------------------------------------------------------

@swap_trap("loss derivative")
def _loss_derivative(c: Context, path: Path):
    """∂L_t/∂Y_t of another loss: Y − z where σ(Y) − z belongs (cross-entropy), or the other way; an extra σ'(Y)."""
    k = _loss_factor(path)
    if k is None:
        return
    t = path.factors[k].step
    right = c.m.loss_prime(t)
    for loss, other in c.m.other_loss_primes(t).items():
        kind = "squared error's" if loss == "mse" else "cross-entropy's"
        yield Swap(k, 0, other, f"{text(other)} where ∂L{t}/∂Y{t} = {text(right)}: {text(other)} is the {kind} "
                                f"∂L/∂Y, not this model's ({c.m.loss})", ("loss", kind),
                   f"the {kind} ∂L_t/∂Y_t where this model's ({c.m.loss}) belongs")
    if c.m.loss in ("bce", "ce"):
        s = sigmoid(c.m.step(t).Y)
        yield Swap(k, 0, right * s * (1 - s), f"an extra σ'(Y{t}) = {text(s * (1 - s))}: the cross-entropy's "
                                              f"∂L{t}/∂Y{t} = {text(right)} already includes it (L = log(1 + e^Y) − zY)",
                   ("σ'",), "an extra σ'(Y_t) after σ(Y_t) − z_t")


@swap_trap("½ cancellation")
def _half(c: Context, path: Path):
    """Squared error: the ½ of L_t = ½(Y_t − z_t)² not cancelled against the 2 of the square, or kept."""
    k = _loss_factor(path)
    if k is None or c.m.loss != "mse":
        return
    t = path.factors[k].step
    right = c.m.loss_prime(t)
    yield Swap(k, 0, sp.Mul(2, right, evaluate=False), f"a factor 2 too many: 2 ({text(right)}) — the ½ in L{t} = ½({text(right)})² cancels "
                                f"the 2 of the square, ∂L{t}/∂Y{t} = {text(right)} (or the term is counted twice)",
               ("2",), "2 (Y_t − z_t): the ½ of L_t = ½(Y_t − z_t)² cancels the 2 of the square")
    yield Swap(k, 0, sp.Mul(sp.Rational(1, 2), right, evaluate=False), f"a stray factor ½: ½ ({text(right)}) — the ½ of L{t} = ½({text(right)})² was kept "
                                f"after differentiating; ∂L{t}/∂Y{t} = {text(right)}",
               ("½",), "½ (Y_t − z_t): the ½ of the squared error kept after differentiating")


@swap_trap("sign")
def _sign(c: Context, path: Path):
    """The whole term with the opposite sign (z − Y for Y − z)."""
    k = _loss_factor(path)
    if k is None:
        return
    t = path.factors[k].step
    right = c.m.loss_prime(t)
    yield Swap(k, 0, -right, "the sign is flipped", ("sign",), "the sign flipped: z_t − Y_t where Y_t − z_t belongs")


# -- lost factors (first: under a sign pattern H(h2) H(h2) = H(h2), so a lost factor can look like a shifted
#    index), time indices ----------------------------------------------------------------------

@swap_trap("lost factor")
def _lost_factor(c: Context, path: Path):
    """A whole Leibniz factor, or one part of one, left out."""
    for k, f in enumerate(path.factors):
        if f.kind == "hop":
            yield Swap(k, None, sp.Integer(1), f"the recurrent factor {_name(f)} is missing", ("hop",),
                       "a recurrent factor ∂h_t/∂h_{t−1} left out")
        else:
            yield Swap(k, None, sp.Integer(1), f"the factor {_name(f)} = {text(f.shown)} is missing", (f.kind,),
                       f"the factor {'∂L_t/∂h_t' if f.kind == 'loss' else 'of the parameter'} left out")
        if len(f.parts) < 2:
            continue
        for j, part in enumerate(f.parts):
            if part == 1:
                continue
            if f.through_activation and j == 0:
                yield Swap(k, j, sp.Integer(1), f"the activation's derivative {text(part)} is missing from {_name(f)}",
                           ("act'",), "the activation's derivative left out")
            elif f.kind == "hop":
                yield Swap(k, j, sp.Integer(1), f"the recurrent factor {_name(f)} lost its {text(part)}", ("W",),
                           f"the recurrent {text(part)} left out")
            else:
                yield Swap(k, j, sp.Integer(1), f"{text(part)} is missing from {_name(f)}", (f.kind, j),
                           f"{text(part) if part.is_Symbol else 'a part'} left out of {'∂L_t/∂h_t' if f.kind == 'loss' else 'a factor'}")


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
                    yield variant(path, [(k, None, new)], f"wrong time index in {_name(f)}: {other} where the chain rule "
                                                     f"has {sym}")


# -- the activation's derivative -----------------------------------------------------------

@swap_trap("tanh' as 1 - h")
def _one_minus_h(c: Context, path: Path):
    """tanh'(a_t) written 1 − h_t instead of 1 − h_t²."""
    if c.m.activation != "tanh":
        return
    for k, f in _act_factors(path):
        h = c.m.step(f.step).h
        yield Swap(k, 0, 1 - h, f"tanh' written as 1 - {h} instead of 1 - {h}² in {_name(f)}", ("1-h",),
                   "tanh' written as 1 − h_t instead of 1 − h_t²")


@swap_trap("other activation's derivative")
def _other_activation(c: Context, path: Path):
    """σ' where tanh' belongs (h(1 − h) for 1 − h²) and the other way; σ' as 1 − h."""
    for k, f in _act_factors(path):
        a, h = c.m.step(f.step).a, c.m.step(f.step).h
        if c.m.activation == "tanh":
            yield Swap(k, 0, h * (1 - h), f"{text(h * (1 - h))} is σ'({a}) written in {h}; for tanh, tanh'({a}) = "
                                          f"{text(1 - h ** 2)} (in {_name(f)})", ("σ'",),
                       "σ' (h_t (1 − h_t)) where tanh' (1 − h_t²) belongs")
        elif c.m.activation == "sigmoid":
            yield Swap(k, 0, 1 - h ** 2, f"{text(1 - h ** 2)} is tanh'({a}) written in {h}; for σ, σ'({a}) = "
                                         f"{text(h * (1 - h))} (in {_name(f)})", ("tanh'",),
                       "tanh' (1 − h_t²) where σ' (h_t (1 − h_t)) belongs")
            yield Swap(k, 0, 1 - h, f"σ' written as {text(1 - h)} instead of {text(h * (1 - h))} in {_name(f)}",
                       ("1-h",), "σ' written as 1 − h_t instead of h_t (1 − h_t)")


@swap_trap("activation of h")
def _activation_of_h(c: Context, path: Path):
    """act'(h_t) where act'(a_t) belongs: 1 − tanh(h_t)², σ(h_t)(1 − σ(h_t)) — the activation applied twice."""
    for k, f in _act_factors(path):
        s = c.m.step(f.step)
        for n, form in enumerate(c.m.act_forms(s.a, s.h)[:-1]):
            wrong = form.xreplace({s.a: s.h})
            if wrong != form and wrong.has(s.h):
                yield Swap(k, 0, wrong, f"{text(wrong)} where {text(form)} = {text(c.m.act_prime(f.step))} belongs: "
                                        f"the activation is applied to {s.h}, not to {s.a} (in {_name(f)})", ("h", n),
                           "the activation's derivative taken at h_t instead of a_t")


@swap_trap("activation for its derivative")
def _activation_itself(c: Context, path: Path):
    """h_t = act(a_t) where act'(a_t) belongs."""
    for k, f in _act_factors(path):
        s = c.m.step(f.step)
        if c.m.act_prime(f.step) != s.h:
            yield Swap(k, 0, s.h, f"{s.h} = {text(c.m.act(s.a))} where {c.m.activation}'({s.a}) = "
                                  f"{text(c.m.act_prime(f.step))} belongs: the activation instead of its derivative "
                                  f"(in {_name(f)})", ("act",), "the activation h_t where its derivative belongs")


# -- recurrent factors and parameters ---------------------------------------------------

@swap_trap("W squared")
def _w_squared(c: Context, path: Path):
    """W² in a recurrent factor, where each step contributes one W."""
    for k, f in enumerate(path.factors):
        if f.kind == "hop" and f.parts[1] != 1:
            w = f.parts[1]
            yield Swap(k, 1, w ** 2, f"{text(w ** 2)} in {_name(f)}: each recurrent step contributes {text(w)} once",
                       ("W²",), "W² in a recurrent factor, where each step contributes W once")


@swap_trap("other parameter")
def _other_parameter(c: Context, path: Path):
    """The entry factor of another parameter: x_s where h_{s−1} belongs (∂⁺h_s/∂U given for ∂⁺h_s/∂W), …"""
    for k, f in enumerate(path.factors):
        if f.kind != "entry":
            continue
        s = c.m.step(f.step)
        defining = s.a_def if f.through_activation else s.Y_def
        j = 1 if f.through_activation else 0
        for q in c.m.param_symbols:
            if q == f.den:
                continue
            part = sp.diff(defining, q)
            if part != 0 and part != f.parts[j]:
                what = f"∂⁺{f.num}/∂{q}" if f.through_activation else f"∂{f.num}/∂{q}"
                yield Swap(k, j, part, f"{text(part)} where {text(f.parts[j])} belongs in {_name(f)}: {text(part)} is "
                                       f"the factor of {what} (another parameter's gradient)", ("param", str(q)),
                           f"the entry factor of ∂L/∂{q} where that of ∂L/∂{c.param} belongs")


@trap("factor 2")
def _factor_two(c: Context, path: Path):
    """The term twice (counted twice), or halved."""
    yield Variant(path, (), "a factor 2 too many: the term is counted twice (or ½(Y − z)² differentiated to "
                            "2(Y − z))", scale=sp.Integer(2))
    yield Variant(path, (), "a stray factor ½: the ½ of the squared error was kept after differentiating",
                  scale=sp.Rational(1, 2))


def variants(c: Context, path: Path) -> tuple[Variant, ...]:
    """Every registered slip of the path, in the registry's order, each tagged with its trap's name (built once
    per model, parameter and path)."""
    return _variants(c.m, c.param, path)


@lru_cache(maxsize=16384)
def _variants(m: Model, param: str, path: Path) -> tuple[Variant, ...]:
    c, seen, out = Context(m, param), set(), []
    for name, rule in TRAPS.items():
        for v in rule(c, path):
            key = (v.edits, v.scale)
            if key not in seen and v.edits != ():
                seen.add(key)
                out.append(v.named(name))
            elif v.edits == () and v.scale != 1 and key not in seen:
                seen.add(key)
                out.append(v.named(name))
    return tuple(out)


def sign_detail(c: Context, path: Path) -> str:
    """For a sign slip: the student's own z_t − Y_t, when the answer writes it so."""
    k = _loss_factor(path)
    if k is None:
        return ""
    t = path.factors[k].step
    right = c.m.loss_prime(t)
    return f": {text(-right)} where ∂L{t}/∂Y{t} = {text(right)}" if (-right) in set(sp.preorder_traversal(c.yours)) \
        else ""


__all__ = ["TRAPS", "SWAPS", "trap", "swap_trap", "Swap", "Variant", "Context", "variants", "changed", "everywhere",
           "sign_detail"]
