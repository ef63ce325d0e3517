"""Points that really lie in a sign pattern of a cell's piecewise functions (relu), to decide relu per pattern.

A relu answer is right when it is right in every region sign(v) = s of the relu arguments v (a_t for the
lecture's cell), and a slip may show in one region only (H(a_{t−1}) for H(a_t) differs only where a_{t−1}
and a_t differ in sign; a term times 1 − H(a_t) only where some a_t < 0). So the answer and the truth are
compared at a real point in each region, not under an imposed η: nothing in the student's notation (H(a),
relu′(a), relu(a) for h, H(h)) has to be rewritten to be read right.

A point in the pattern s: parameters, h_0 and x_t drawn at random, then x_t moved, step by step, until the
arguments take wanted values s ⊙ r with r ∈ [R_LOW, R_HIGH] (away from relu's kink, so 1[a ≥ 0] and
1[a > 0] agree there):

    x_t ← x_t + α J⁺ (goal − v_t(x_t)),    J = ∂v_t/∂x_t (forward differences: exact enough for signs),

the goal holding the entries that already have their sign and pulling the others to s ⊙ r, α halved until
the shortfall falls, restarts from farther inputs when it stalls (a gate's σ). J⁺ gives the smallest move,
so x_t stays random in the directions the arguments do not see. For a_t = W h_{t−1} + U x_t + b one step
is exact when U has full row rank (m ≥ k, so the checker raises m to k). A point is used only when its own
forward pass shows the pattern with every |v| ≥ MARGIN; a pattern that no input reaches (some cells cannot
reach some patterns: c_t = f_t ⊙ c_{t−1} keeps c_{t−1}'s sign where relu(g) is 0) is named in a refusal
rather than skipped.

Which patterns: all 2^n when the n entries of v_1 … v_T are at most MAX_PATTERN_ENTRIES, else RANDOM_PATTERNS
random ones and the adversarial ones: all positive, all negative, alternating per step (both phases), one
step flipped against all others (each step, both ways).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from .. import naming
from ..certification.matrix import MAX_PATTERN_ENTRIES, RANDOM_PATTERNS, draw, forward_step
from ..derivation.program import primal
from ..errors import SymrnnError
from ..ir.evaluate import evaluate, float_backend
from ..ir.nodes import Map, Node, Vec
from ..model.spec import ModelSpec
from ..printers.lecture import text

R_LOW, R_HIGH = 0.3, 1.2      # |v| wanted: of order 1 like a random point's, away from 0
MARGIN = 0.1                  # |v| accepted
ITERATIONS = 20               # Gauss–Newton steps per time step (one suffices for an affine argument)
HALVINGS = 30                 # of a step that does not reduce the residual
RESTARTS = 6                  # from other starting inputs, when the steps stall
FD_STEP = 1e-6
SATURATED = 1e-6              # a σ or tanh this close to its bound hides the factors behind it (1 − u_t = 0)
BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


@dataclass(frozen=True)
class Slot:
    """The argument of a piecewise function in one equation: a_t in h_t = relu(a_t)."""

    equation: str
    arg: Node

    @property
    def name(self) -> str:
        return text(self.arg) if isinstance(self.arg, Vec) else f"the argument of relu in {self.equation}_t"


@dataclass(frozen=True)
class Pattern:
    """A sign pattern: signs[t − 1][j] is True where entry j of step t's arguments is positive."""

    signs: tuple[tuple[bool, ...], ...]
    kind: str            # "every" (one of all 2^n), "adversarial" or "random"
    text: str


@lru_cache(maxsize=32)
def slots(spec: ModelSpec) -> tuple[Slot, ...]:
    """Every piecewise function's argument in the cell's equations, in order."""
    out = []
    for e in primal(spec.cell).equations:
        for m in sorted(e.rhs.atoms(Map), key=str):
            if m.function.piecewise:
                out.append(Slot(e.name, m.arg))
    return tuple(dict.fromkeys(out))


def described(spec: ModelSpec) -> str:
    """The arguments in words: 'the pre-activations a_t'."""
    names = [s.name for s in slots(spec)]
    if names == [text(Vec(naming.PREACT, naming.t))]:
        return f"the pre-activations {names[0]}"
    return "the relu arguments " + ", ".join(names)


def inputs_needed(spec: ModelSpec, k: int) -> int:
    """The input size m at which x_t can place every entry of a step's arguments (one input per entry)."""
    return len(slots(spec)) * k


def sign_patterns(spec: ModelSpec, k: int, steps: int, rng) -> list[Pattern]:
    """Every pattern of the n = steps × (entries per step) signs when n ≤ MAX_PATTERN_ENTRIES, else
    RANDOM_PATTERNS random ones after the adversarial ones."""
    width = inputs_needed(spec, k)
    n = width * steps
    if n <= MAX_PATTERN_ENTRIES:
        kinds = {bits: "every" for bits in itertools.product((True, False), repeat=n)}
    else:
        by_step = [[True] * steps, [False] * steps, [t % 2 == 0 for t in range(steps)],
                   [t % 2 == 1 for t in range(steps)]]
        for t in range(steps):
            by_step += [[u != t for u in range(steps)], [u == t for u in range(steps)]]
        kinds = {tuple(s for s in row for _ in range(width)): "adversarial" for row in by_step}
        wanted = len(kinds) + RANDOM_PATTERNS     # n > 8: 2^n far exceeds it, so the loop ends
        while len(kinds) < wanted:
            kinds.setdefault(tuple(rng.random() < 0.5 for _ in range(n)), "random")
    out = []
    for bits, kind in kinds.items():
        signs = tuple(tuple(bits[t * width:(t + 1) * width]) for t in range(steps))
        out.append(Pattern(signs, kind, _words(spec, k, signs)))
    return out


def _words(spec: ModelSpec, k: int, signs) -> str:
    """'a_1 = (+, −), a_2 = (−, −)'."""
    parts = []
    for t, row in enumerate(signs, start=1):
        for j, slot in enumerate(slots(spec)):
            named = slot.name.replace("_t", f"_{t}") if isinstance(slot.arg, Vec) else f"{slot.name} at t = {t}"
            parts.append(f"{named} = (" + ", ".join("+" if s else "−" for s in row[j * k:(j + 1) * k]) + ")")
    return ", ".join(parts)


def arguments(spec: ModelSpec, env: dict, t: int, k: int) -> np.ndarray:
    """Step t's piecewise arguments at env (which holds step t), stacked: one column of len(slots) × k."""
    backend = float_backend()
    cols = [np.broadcast_to(np.asarray(evaluate(s.arg, env, backend, k, {naming.t: sp.Integer(t)}), dtype=float),
                            (k, 1)) for s in slots(spec)]
    return np.vstack(cols)


def _reached(v: np.ndarray, want: np.ndarray) -> bool:
    return bool(np.all((v > 0) == want) and np.all(np.abs(v) >= MARGIN))


def place(spec: ModelSpec, sizes, pattern: Pattern, rng) -> dict:
    """A random point (parameters, initial states, x_t, z_t) whose forward pass lies in the pattern;
    SymrnnError naming the pattern when the inputs cannot place it."""
    k = sizes[0]
    steps = len(pattern.signs)
    point = {key: np.asarray(v, dtype=float) if isinstance(v, np.ndarray) else v
             for key, v in draw(rng, spec, sizes, steps, float).items()}
    env = dict(point)
    for s, init in zip(spec.cell.states, spec.cell.initial):
        env[(s, 0)] = point[init]
    backend = float_backend()
    for t in range(1, steps + 1):
        want = np.array(pattern.signs[t - 1])[:, None]
        target = np.where(want, 1.0, -1.0) * np.array([[rng.uniform(R_LOW, R_HIGH)] for _ in range(len(want))])

        def v_of(x):
            return arguments(spec, forward_step(spec, {**env, (naming.INPUT, t): x}, t, backend, k), t, k)
        x = _towards(v_of, point[(naming.INPUT, t)], target, want)
        for restart in range(1, RESTARTS + 1):    # a local minimum (a gate's σ): start afresh, farther out,
            if x is not None:                     # where the input's linear part dominates
                break
            start = np.array([[rng.uniform(-1.2, 1.2) * 2 ** restart] for _ in range(len(point[(naming.INPUT, t)]))])
            x = _towards(v_of, start, target, want)
        if x is None:
            raise SymrnnError(f"{spec.cell.name} with relu: no input x_{t} places the sign pattern {pattern.text} at "
                              f"(k, m, o) = {tuple(sizes)} (the cell may not reach it); matrix-form verify decides "
                              f"relu per sign pattern at real points and cannot decide this cell")
        point[(naming.INPUT, t)] = x
        env = forward_step(spec, {**env, (naming.INPUT, t): x}, t, backend, k)
    return point


def _towards(v_of, x, target, want):
    """x moved by damped Gauss–Newton until v_of(x) has the wanted signs (None if it does not get there).

    Only the entries short of their sign (or within R_LOW of 0) are pulled to their target; the others are
    held where they are (their rows ask for no change), so a target that cannot be met exactly (a gate's σ
    bounds what x reaches) does not stall the signs. Each step is halved until that shortfall falls, so a
    saturating σ cannot make it overshoot to huge inputs or cycle."""
    def goal(v):
        return np.where(((v > 0) == want) & (np.abs(v) >= R_LOW), v, target)
    v = v_of(x)
    for _ in range(ITERATIONS):
        if _reached(v, want):
            return x
        J = np.hstack([(v_of(x + FD_STEP * e) - v) / FD_STEP for e in np.eye(len(x))[:, :, None]])
        dx = np.linalg.lstsq(J, goal(v) - v, rcond=None)[0]
        now = np.linalg.norm(goal(v) - v)
        for halving in range(HALVINGS):
            tried = x + dx / 2 ** halving
            v_tried = v_of(tried)
            if np.linalg.norm(goal(v_tried) - v_tried) < now:
                break
        else:
            return None
        x, v = tried, v_tried
    return x if _reached(v, want) else None


def saturated(spec: ModelSpec, env: dict, steps: int) -> bool:
    """Whether a gate or a tanh of the point is at its bound to SATURATED (the far inputs a restart of place may
    reach): there 1 − u_t or tanh' is 0 in float64, and a slip behind that factor could not show."""
    for e in primal(spec.cell).equations:
        if isinstance(e.rhs, Map) and e.rhs.function.name in BOUNDS:
            lo, hi = BOUNDS[e.rhs.function.name]
            for t in range(1, steps + 1):
                v = np.asarray(env.get((e.name, t), 0.0), dtype=float)
                if np.any(v - lo < SATURATED) or np.any(hi - v < SATURATED):
                    return True
    return False


def lies_in(spec: ModelSpec, env: dict, pattern: Pattern, k: int) -> bool:
    """Whether env's forward pass shows the pattern, every argument at least MARGIN from 0."""
    return all(_reached(arguments(spec, env, t, k), np.array(row)[:, None])
               for t, row in enumerate(pattern.signs, start=1))


__all__ = ["Slot", "Pattern", "slots", "described", "inputs_needed", "sign_patterns", "place", "lies_in", "arguments",
           "saturated"]
