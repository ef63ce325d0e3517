"""Canonical forms: one polynomial for all the ways of writing the same chain-rule term.

canonical(m, e) rewrites e in the lecture's quantities and expands it:

- act(a_t) → h_t, and every other form of act'(a_t) into the lecture's: sech²(a_t), 1/cosh²(a_t),
  1 − tanh²(a_t) → 1 − h_t²; σ(a_t)(1 − σ(a_t)), e^{−a_t}/(1 + e^{−a_t})² → h_t(1 − h_t);
- e^{±Y_t} → (σ(Y_t)/(1 − σ(Y_t)))^{±1}, σ(−Y_t) → 1 − σ(Y_t) (the cross-entropy's σ(Y_t) − z_t);
- a piecewise function of ±a_t or ±h_t becomes a polynomial in the 0/1 symbol η_t = H(a_t):
  H(a_t) = η_t, H(−a_t) = 1 − η_t, relu(a_t) = η_t a_t, |a_t| = (2η_t − 1) a_t, and for relu
  H(h_t) = η_t (h_t = η_t a_t, so h_t = 0 where η_t = 0); then η_t^k = η_t.

Each rewrite holds at every point of every sign pattern (a_t ≠ 0), so equal canonical forms
prove equality (the converse is left to the numbers). Expansion is bounded: an expression
whose expansion would exceed `BUDGET` monomials has no canonical form (None).
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache

import sympy as sp

from .. import naming
from ..ir.scalar import relu, sigmoid
from .model import Model

BUDGET = 2500             # monomials an expansion may produce (the tanh gradient at T = 8: 2008, 0.7 s)
PIECEWISE = (sp.Heaviside, sp.Max, sp.Min, sp.Abs, sp.sign, relu)


def eta(t: int) -> sp.Symbol:
    """η_t = H(a_t), the sign pattern's 0/1 symbol of step t."""
    return sp.Symbol(f"η{t}")


def expansion_size(expr: sp.Expr) -> float:
    """An upper bound on the number of monomials expand(expr) produces (without expanding)."""
    memo: dict = {}
    stack = [expr]
    while stack:                      # iterative: deep answers never hit the recursion limit
        e = stack[-1]
        pending = [a for a in e.args if a not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if e.is_Add:
            memo[e] = sum(memo[a] for a in e.args)
        elif e.is_Mul:
            size = 1.0
            for a in e.args:
                size *= memo[a]
            memo[e] = size
        elif e.is_Pow and e.exp.is_Integer and e.exp > 0:
            memo[e] = memo[e.base] ** int(e.exp)
        else:
            memo[e] = 1.0
    return memo[expr]


def _signs(m: Model, q: sp.Symbol):
    """(positive, zero) indicators of quantity q (a_t or h_t) in η_t, or None for other symbols."""
    role = m.role(q)
    if role is None or role[0] not in (naming.PREACT, naming.STATE) or role[1] < 1:
        return None
    n = eta(role[1])
    if role[0] == naming.PREACT or m.activation in ("tanh", "identity"):
        return n, sp.Integer(0)
    if m.activation == "relu":
        return n, 1 - n
    return sp.Integer(1), sp.Integer(0)          # sigmoid: h_t > 0


def _sign_of(m: Model, arg: sp.Expr):
    """(pos, zero, neg) indicators of arg = c·q, q = a_t or h_t, c a nonzero number; None otherwise."""
    c, q = arg.as_coeff_Mul()
    if not q.is_Symbol:                                  # a_t written out: W h_{t−1} + U x_t + b
        for s in m.equations:
            ratio = sp.cancel(arg / s.a_def)
            if ratio.is_Number:
                c, q = ratio, s.a
                break
    if not (q.is_Symbol and c.is_nonzero):
        return None
    signs = _signs(m, q)
    if signs is None:
        return None
    pos, zero = signs
    neg = 1 - pos - zero
    return (pos, zero, neg) if c > 0 else (neg, zero, pos)


def _piecewise(m: Model, e: sp.Expr):
    """A piecewise function of ±a_t, ±h_t as a polynomial in η_t; None if its argument is not one."""
    if isinstance(e, (sp.Max, sp.Min)):
        if len(e.args) != 2 or 0 not in e.args:
            return None
        arg = e.args[0] if e.args[1] == 0 else e.args[1]
        s = _sign_of(m, arg)
        return None if s is None else (s[0] if isinstance(e, sp.Max) else s[2]) * arg
    arg = e.args[0]
    s = _sign_of(m, arg)
    if s is None:
        return None
    pos, zero, neg = s
    if isinstance(e, sp.Heaviside):
        at_zero = e.args[1] if len(e.args) > 1 else sp.Rational(1, 2)
        return pos + zero * at_zero
    if isinstance(e, relu):
        return pos * arg
    if isinstance(e, sp.Abs):
        return (pos - neg) * arg
    return pos - neg                                  # sign


def uncovered(m: Model, expr: sp.Expr) -> tuple[sp.Expr, ...]:
    """The piecewise subexpressions whose argument is not ±a_t or ±h_t (their sign regions are not covered)."""
    return tuple(sorted((e for e in _lecture(m, expr).atoms(*PIECEWISE) if _piecewise(m, e) is None),
                        key=sp.default_sort_key))


def pattern_steps(m: Model, expr: sp.Expr) -> frozenset[int]:
    """The steps t whose sign of a_t decides a value: every step of a relu model (its forward pass is
    piecewise), else those a piecewise subexpression of expr depends on."""
    if m.activation == "relu":
        return frozenset(s.t for s in m.equations)
    steps = set()
    for e in _lecture(m, expr).atoms(*PIECEWISE):
        for q in e.free_symbols:
            role = m.role(q)
            if role and role[0] in (naming.PREACT, naming.STATE) and role[1] >= 1:
                steps.add(role[1])
    return frozenset(steps)


def _lecture(m: Model, expr: sp.Expr) -> sp.Expr:
    """act(a_t) → h_t and the exp/cosh forms of act(a_t), σ(Y_t) in the lecture's quantities."""
    env = {}
    for s in m.equations:
        a, h = s.a, s.h
        env[m.act(a)] = h
        if m.activation == "identity":
            env[a] = h
        elif m.activation == "sigmoid":
            env[sigmoid(-a)] = 1 - h
        elif m.activation == "relu":
            env[sp.Max(0, a)] = h
        sig = sigmoid(s.Y)
        env[sigmoid(-s.Y)] = 1 - sig
    out = expr.xreplace(env)

    def exp_form(e):
        k, q = e.args[0].as_coeff_Mul()
        if not (k.is_Integer and q.is_Symbol):
            return e
        role = m.role(q)
        if role and role[0] == naming.OUTPUT:
            s = sigmoid(q)
            return (s / (1 - s)) ** k
        if role and role[0] == naming.PREACT and role[1] >= 1:
            h = m.step(role[1]).h
            if m.activation == "sigmoid":
                return (h / (1 - h)) ** k
            if m.activation == "tanh" and k % 2 == 0:
                return ((1 + h) / (1 - h)) ** (k // 2)
        return e

    def hyperbolic(e):
        if m.activation != "tanh" or e.args[0] not in {s.a for s in m.equations}:
            return e
        h = m.step(m.role(e.args[0])[1]).h
        c = sp.Symbol(f"cosh_{e.args[0]}")   # cosh(a) stays a symbol; only its even powers have an h form
        return {sp.cosh: c, sp.sech: 1 / c, sp.sinh: h * c}[e.func]

    out = out.replace(lambda e: isinstance(e, sp.exp), exp_form)
    out = out.replace(lambda e: isinstance(e, (sp.cosh, sp.sech, sp.sinh)), hyperbolic)
    cosh = {sp.Symbol(f"cosh_{s.a}"): s.h for s in m.equations}
    out = out.replace(lambda e: e.is_Pow and e.base in cosh and e.exp.is_even,
                      lambda e: (1 - cosh[e.base] ** 2) ** (-e.exp / 2))
    return out


def _etas(m: Model, expr: sp.Expr) -> sp.Expr:
    """Piecewise functions of ±a_t, ±h_t as polynomials in η_t."""
    def swap(e):
        p = _piecewise(m, e)
        return e if p is None else p
    return expr.replace(lambda e: isinstance(e, PIECEWISE), swap)


def _multilinear(expr: sp.Expr) -> sp.Expr:
    """η_t^k → η_t (η_t ∈ {0, 1})."""
    return expr.replace(lambda e: e.is_Pow and e.base.is_Symbol and e.base.name.startswith("η") and e.exp.is_positive,
                        lambda e: e.base)


def canonical(m: Model, expr: sp.Expr) -> sp.Expr | None:
    """expr in canonical expanded form, or None when it is too large to expand or not a polynomial."""
    return _canonical(m, sp.sympify(expr))


@lru_cache(maxsize=4096)
def _canonical(m: Model, expr: sp.Expr) -> sp.Expr | None:
    out = _etas(m, _lecture(m, expr))
    if expansion_size(out) > BUDGET:
        return None
    if any(p.exp.is_negative for p in out.atoms(sp.Pow) if p.base.free_symbols):
        num, den = sp.fraction(sp.cancel(sp.together(out)))
        if den.free_symbols:
            return None
        out = num / den
        if expansion_size(out) > BUDGET:
            return None
    return _multilinear(sp.expand(out))


def monomials(c: sp.Expr) -> Counter:
    """A canonical (expanded) expression as {monomial: coefficient}."""
    return Counter({k: v for k, v in c.as_coefficients_dict().items() if v != 0})


def equal(m: Model, a: sp.Expr, b: sp.Expr) -> bool | None:
    """Whether a = b is shown by equal canonical forms: True, False (forms differ, which proves
    nothing), or None (too large to tell)."""
    ca, cb = canonical(m, a), canonical(m, b)
    if ca is None or cb is None:
        return None
    return sp.expand(ca - cb) == 0


__all__ = ["canonical", "monomials", "equal", "eta", "expansion_size", "uncovered", "pattern_steps", "BUDGET"]
