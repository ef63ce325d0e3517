"""Everything verify needs from a derivation, in one place (adapting to a new engine touches this file only).

A `Model` is one scalar model unrolled over T steps, as a hand derivation sees it:

- the names an answer may use (parameters, h0 … hT, x_t, a_t, Y_t, z_t) and their roles;
- the true ∂L/∂θ and its chain-rule paths, each factor split into the parts a slip changes:
  ∂L_t/∂h_t = ∂L_t/∂Y_t · ∂Y_t/∂h_t, ∂h_s/∂(·) = act'(a_s) · ∂a_s/∂(·);
- the activation's and the loss's derivative forms (tanh'(a) = sech²(a) = 1 − tanh²(a) = 1 − h²);
- the forward pass at a point in 50-digit arithmetic, and points with a prescribed sign of
  each a_t (to decide piecewise answers pattern by pattern);
- the true value of any Leibniz factor a student may leave unevaluated (∂L2/∂h1, ∂L/∂a1 = δ1).
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

import mpmath
import sympy as sp

from .. import naming
from ..api import derive
from ..errors import CheckFailed, SymrnnError
from ..model.spec import ModelSpec
from .numeric import Program
from ..ir.primitives import LOSSES

ROLES = (naming.STATE, naming.INPUT, naming.PREACT, naming.OUTPUT, naming.TARGET)
RANGE = 1.2                 # inputs are drawn from [−1.2, 1.2], as certification does
PREACT_RANGE = (0.15, 1.5)  # |a_t| at a point built for a sign pattern


@dataclass(frozen=True)
class Step:
    """The lecture's symbols of one step: a_t = pre(h_{t−1}, x_t), h_t = act(a_t), Y_t = out(h_t), L_t(Y_t, z_t)."""

    t: int
    x: sp.Symbol
    a: sp.Symbol
    h: sp.Symbol
    Y: sp.Symbol
    z: sp.Symbol
    L: sp.Symbol
    h_prev: sp.Symbol
    a_def: sp.Expr
    Y_def: sp.Expr


@dataclass(frozen=True)
class Local:
    """One Leibniz factor ∂num/∂den of a path, as the product of the parts a slip changes.

    kind "loss": ∂L_t/∂h_t, parts (∂L_t/∂Y_t, ∂Y_t/∂h_t), or ∂L_t/∂Y_t, parts (∂L_t/∂Y_t,);
    kind "hop": ∂h_s/∂h_{s−1}, parts (act'(a_s), ∂a_s/∂h_{s−1});
    kind "entry": ∂⁺h_s/∂θ, parts (act'(a_s), ∂a_s/∂θ), or ∂Y_t/∂θ, parts (∂Y_t/∂θ,).
    """

    symbol: sp.Expr
    shown: sp.Expr
    kind: str
    step: int
    num: sp.Symbol
    den: sp.Symbol
    parts: tuple[sp.Expr, ...]

    @property
    def value(self) -> sp.Expr:
        return sp.Mul(*self.parts)

    @property
    def through_activation(self) -> bool:
        """Whether the first part is act'(a_step)."""
        return self.kind in ("hop", "entry") and str(self.num).startswith(naming.STATE)


@dataclass(frozen=True)
class Path:
    """One chain-rule path from the loss term L_t to θ: a product of Leibniz factors."""

    loss_step: int
    factors: tuple[Local, ...]
    leibniz: sp.Expr     # the factors' Leibniz symbols in written order (a Chain)
    shown: sp.Expr       # their lecture forms in written order

    @property
    def value(self) -> sp.Expr:
        return sp.Mul(*(f.value for f in self.factors))

    def with_part(self, k: int, j: int, part: sp.Expr) -> sp.Expr:
        """The path's value with part j of factor k replaced."""
        return sp.Mul(*(sp.Mul(*(part if (i, m) == (k, j) else p for m, p in enumerate(f.parts)))
                        for i, f in enumerate(self.factors)))

    def with_factor(self, k: int, value: sp.Expr) -> sp.Expr:
        """The path's value with factor k replaced by value."""
        return sp.Mul(*(value if i == k else f.value for i, f in enumerate(self.factors)))


@dataclass(frozen=True)
class Gradient:
    """∂L/∂θ: its value, the paths, and its written forms."""

    param: str
    expr: sp.Expr
    paths: tuple[Path, ...]
    shown: sp.Expr
    leibniz: sp.Expr
    certified: bool


class Model:
    """One scalar model unrolled over T steps, with what a hand derivation is checked against."""

    def __init__(self, spec: ModelSpec, steps: int, certify: bool = True):
        self.spec, self.steps = spec, steps
        self.derivation = derive(spec, steps=steps, certify=certify)
        u = self.derivation.unrolled
        self.h0 = u.h0
        self.loss_steps = tuple(u.loss_steps)
        self.equations = tuple(Step(s.t, s.x, s.a, s.h, s.Y, s.z, s.L, s.h_prev, s.a_def, s.Y_def) for s in u.equations)
        self.params = tuple(spec.params)
        self.param_symbols = tuple(naming.param(p) for p in self.params)
        self.gradient_names = tuple(self.derivation.names)        # the parameters and h0
        self.activation = spec.activation.name
        self.loss = spec.loss
        self.output = spec.output
        self.recurrent_params = tuple(p for p in self.param_symbols
                                      if any(p in sp.diff(s.a_def, s.h_prev).free_symbols for s in self.equations))

    # -- names -----------------------------------------------------------------------------
    @cached_property
    def names(self) -> dict[str, sp.Symbol]:
        """The names an answer may use. z_t of a step without a loss is allowed too (so that a term of
        L_t can be reported as extra instead of refused)."""
        symbols = list(self.param_symbols) + [self.h0]
        for s in self.equations:
            symbols += [s.x, s.a, s.h, s.Y, s.z]
        return {str(q): q for q in symbols}

    def step(self, t: int) -> Step:
        return self.equations[t - 1]

    def role(self, sym: sp.Symbol) -> tuple[str, int] | None:
        """(role letter, step) of a time-indexed name such as h2, or None for a parameter."""
        name = str(sym)
        stem = name.rstrip("0123456789")
        if stem not in ROLES or stem == name:
            return None
        return stem, int(name[len(stem):])

    def at(self, role: str, t: int) -> sp.Symbol | None:
        """The name of `role` at step t, if the answer may use it."""
        return self.names.get(f"{role}{t}")

    # -- the activation and the loss ----------------------------------------------------
    def act(self, a: sp.Expr) -> sp.Expr:
        """act(a) as the lecture writes it (tanh(a), σ(a), relu(a), a)."""
        return self.spec.activation.apply(a)

    def act_forms(self, a: sp.Expr, h: sp.Expr) -> tuple[sp.Expr, ...]:
        """The equal forms of act'(a), the last in the output h (1 − h² for tanh)."""
        return tuple(self.spec.activation.derivative(a, h))

    def act_prime(self, t: int) -> sp.Expr:
        """act'(a_t) in the lecture's form."""
        s = self.step(t)
        return self.act_forms(s.a, s.h)[-1]

    def loss_forms(self, Y: sp.Expr, z: sp.Expr) -> tuple[sp.Expr, ...]:
        """The equal forms of ∂L_t/∂Y_t, the last the lecture's (Y − z, σ(Y) − z)."""
        return tuple(self.spec.loss_rule.gradient(Y, z))

    def loss_prime(self, t: int) -> sp.Expr:
        s = self.step(t)
        return self.loss_forms(s.Y, s.z)[-1]

    def other_loss_primes(self, t: int) -> dict[str, sp.Expr]:
        """∂L_t/∂Y_t of the other losses (for the slip of using the wrong one)."""
        s = self.step(t)
        return {name: rule.gradient(s.Y, s.z)[-1] for name, rule in LOSSES.items()
                if rule.gradient(s.Y, s.z)[-1] != self.loss_prime(t)}

    # -- gradients ------------------------------------------------------------------------
    def gradient(self, param: str) -> Gradient:
        if param not in self._gradients:
            raise SymrnnError(f"unknown parameter {param!r}; this model has {', '.join(self.gradient_names)}")
        return self._gradients[param]

    @cached_property
    def _gradients(self) -> dict[str, Gradient]:
        out = {}
        for name in self.gradient_names:
            g = self.derivation._get(name)
            paths = tuple(Path(t.loss_step, tuple(self._local(f) for f in t.factors), t.leibniz, t.shown)
                          for t in g.terms)
            for p, t in zip(paths, g.terms):   # the split into parts must multiply back to the engine's factors
                if sp.expand(p.value - t.value) != 0:
                    raise CheckFailed(f"verify's model of ∂L/∂{name} disagrees with the derivation (a bug in symrnn)")
            out[name] = Gradient(name, g.expr, paths, g.shown, g.leibniz,
                                 g.certificate is not None and g.certificate.ok)
        return out

    def _local(self, f) -> Local:
        """The engine's factor as a Local: its kind and parts."""
        num, den = f.num, f.den
        role, t = self.role(num) or ("", 0)
        if str(num).startswith(naming.LOSS):
            t = int(str(num)[1:])
            s = self.step(t)
            parts = (self.loss_prime(t), sp.diff(s.Y_def, s.h)) if den == s.h else (self.loss_prime(t),)
            return Local(f.symbol, f.shown, "loss", t, num, den, parts)
        s = self.step(t)
        if role == naming.STATE:
            kind = "hop" if den == s.h_prev and not f.immediate else "entry"
            return Local(f.symbol, f.shown, kind, t, num, den, (self.act_prime(t), sp.diff(s.a_def, den)))
        return Local(f.symbol, f.shown, "entry", t, num, den, (sp.diff(s.Y_def, den),))

    @cached_property
    def every(self) -> "Model | None":
        """The same model with a loss at every step (to name a term of a step without a loss), or None."""
        return None if self.output == "every" else model(replace(self.spec, output="every"), self.steps, False)

    # -- numbers --------------------------------------------------------------------------
    @cached_property
    def _programs(self):
        out = []
        for s in self.equations:
            coef = sp.diff(s.a_def, s.x)
            linear = coef != 0 and sp.diff(coef, s.x) == 0
            out.append((Program(s.a_def), Program(self.act(s.a)), Program(s.Y_def), Program(coef) if linear else None,
                        Program(s.a_def.xreplace({s.x: 0})) if linear else None))
        return out

    def forward(self, values: dict) -> dict:
        """values (of the inputs) completed with a_t, h_t, Y_t, in 50-digit arithmetic."""
        for s, (a, act, Y, _, _) in zip(self.equations, self._programs):
            values[s.a] = a(values)
            values[s.h] = act(values)
            values[s.Y] = Y(values)
        return values

    def sample(self, rng: random.Random, signs: Mapping[int, int] | None = None, tries: int = 50) -> dict | None:
        """A random point (inputs and forward values); with `signs`, one where sign(a_t) = signs[t]
        (x_t solved for when a_t is linear in it, else drawn until the sign holds). None: not reached."""
        signs = signs or {}
        binary = self.loss in ("ce", "bce")
        for _ in range(tries):
            values = {q: mpmath.mpf(rng.uniform(-RANGE, RANGE)) for q in (*self.param_symbols, self.h0)}
            values.update({s.z: mpmath.mpf(rng.randint(0, 1)) if binary else mpmath.mpf(rng.uniform(-RANGE, RANGE))
                           for s in self.equations})
            reached = True
            for s, (a, act, Y, coef, rest) in zip(self.equations, self._programs):
                values[s.x] = mpmath.mpf(rng.uniform(-RANGE, RANGE))
                if s.t in signs and coef is not None:
                    c = coef(values)
                    if abs(c) < 0.1:
                        reached = False
                        break
                    target = signs[s.t] * mpmath.mpf(rng.uniform(*PREACT_RANGE))
                    values[s.x] = (target - rest(values)) / c
                values[s.a] = a(values)
                if s.t in signs and mpmath.sign(values[s.a]) != signs[s.t]:
                    reached = False
                    break
                values[s.h] = act(values)
                values[s.Y] = Y(values)
            if reached:
                return values
        return None

    # -- Leibniz factors a student leaves unevaluated -----------------------------------
    @cached_property
    def _graph(self) -> dict[sp.Symbol, tuple[tuple[sp.Symbol, sp.Expr], ...]]:
        """Each quantity's direct inputs with the local partial, in the lecture's form."""
        total = sp.Symbol(naming.LOSS)
        graph = {total: tuple((self.step(t).L, sp.Integer(1)) for t in self.loss_steps)}
        for s in self.equations:
            graph[s.L] = ((s.Y, self.loss_prime(s.t)),)
            graph[s.Y] = tuple((q, sp.diff(s.Y_def, q)) for q in sorted(s.Y_def.free_symbols, key=str))
            graph[s.h] = ((s.a, self.act_prime(s.t)),)
            graph[s.a] = tuple((q, sp.diff(s.a_def, q)) for q in sorted(s.a_def.free_symbols, key=str))
        return graph

    def _total(self, num: sp.Symbol, den: sp.Symbol, held: frozenset = frozenset()) -> sp.Expr:
        """d num / d den over every path of the unrolled graph, the quantities in `held` held fixed."""
        @lru_cache(maxsize=None)
        def d(q):
            if q == den:
                return sp.Integer(1)
            if q in held:
                return sp.Integer(0)
            return sp.Add(*(local * d(r) for r, local in self._graph.get(q, ()) if local != 0))
        return d(num)

    def leibniz(self, num: str, den: str, immediate: bool, graded: str) -> tuple[sp.Expr, str]:
        """(the true value of ∂num/∂den (∂⁺ if immediate), a note saying so) for a factor an answer
        leaves unevaluated; a one-line error when it is not a known quantity, is ambiguous, or is
        itself the gradient being checked (`graded`)."""
        sign = "∂⁺" if immediate else "∂"
        shown = f"{sign}{num}/∂{den}"
        numerators = {str(q) for q in self._graph}
        if num not in numerators:
            raise SymrnnError(f"{shown}: {num} is not a quantity of the unrolled network (known: L, L_t, Y_t, h_t, a_t)")
        if den not in self.names or den.startswith(naming.TARGET):
            raise SymrnnError(f"{shown}: {den} is not a quantity or parameter of this model")
        n, q = sp.Symbol(num), self.names[den]
        is_param = den in self.params or (den == str(self.h0) and graded == str(self.h0))
        if num.startswith(naming.LOSS) and is_param:
            raise SymrnnError(f"{shown} is a gradient of the loss, what the answer has to work out: "
                              f"write its chain-rule terms instead")
        earlier = frozenset(s.h for s in self.equations if self.role(n) and s.t < self.role(n)[1])
        value = self._total(n, q, earlier if immediate else frozenset())
        if not immediate and is_param and self.role(n):
            fixed = self._total(n, q, earlier)
            if sp.expand(value - fixed) != 0:
                raise SymrnnError(f"{shown} is ambiguous: {num} depends on {den} directly and through earlier steps; "
                                  f"write \\partial^+ {num} for the immediate partial (earlier states held fixed), "
                                  f"or write the factor out")
        return value, shown


@lru_cache(maxsize=32)
def model(spec: ModelSpec, steps: int, certify: bool = True) -> Model:
    """The model of spec at T = steps, derived and certified once (a class of answers shares it); uncertified
    only where its paths name a slip, never where they decide a verdict."""
    return Model(spec, steps, certify)


__all__ = ["Model", "model", "Path", "Local", "Gradient", "Step", "ROLES"]
