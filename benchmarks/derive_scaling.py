"""Derive + certify time against T, per cell, and against the naive approach (a benchmark, not a test).

    python benchmarks/derive_scaling.py [--reps 3] [--max-steps 12] [--only scalar|naive|matrix]

Every run starts cold (SymPy's and symrnn's caches cleared); the rows of one table are interleaved
per repetition and the median is reported.

scalar   the lecture's chain rule (every size 1), all gradients, derive then certify, per cell:
         elman to --max-steps, gru and lstm to 4 (their path expansions grow like 3^T and 4^T; past
         symrnn's expansion limit the δ form is derived and certified numerically instead);
naive    elman only: substitute every step into L and call sympy.diff for the same six gradients
         (nested tanh of raw inputs, not lecture symbols), and the naive ∂L/∂W expanded into a sum of
         products like ours (stopped past --expand-max); sizes are sympy.count_ops of ∂L/∂W;
matrix   the matrix forms at (k, m, o) = (3, 2, 2), every gradient, per cell, T = 1..5: derive (the
         general-T forms and the written-out form) and certify (sympy.diff of each step's component-wise
         equations chained forward at 50 digits, and central differences at (8, 5, 4), T = 20).
         Target from the any-cell issue: LSTM derive + certify at T = 5 under 10 s.
"""
from __future__ import annotations

import argparse
import statistics
import time

import sympy as sp
from sympy.core.cache import clear_cache

from symrnn import cells
from symrnn.certification import certify
from symrnn.certification import matrix as certify_matrix
from symrnn.certification import scalar as certify_scalar
from symrnn.derivation import clear_caches, derive_pure
from symrnn.derivation.unroll import Unrolled

CELLS = {"elman": cells.elman, "gru": cells.gru, "lstm": cells.lstm}
GATED_MAX_STEPS = 4
NAMES = ("W", "U", "b", "V", "c", "h0")


def cold(fn):
    """fn's wall time with every cache emptied first, and its result."""
    clear_cache()
    clear_caches()
    for f in (certify_scalar.points, certify_scalar.substituted_loss, certify_scalar.brute_force,
              certify_matrix.reference):
        f.cache_clear()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def staged(spec, steps, dims):
    """(derive seconds, certify seconds, certified) of one cold run."""
    t_derive, d = cold(lambda: derive_pure(spec, steps, dims))
    t0 = time.perf_counter()
    c = certify(d)
    return t_derive, time.perf_counter() - t0, c.certified


def cell_rows(title: str, dims, steps_of: dict, reps: int):
    print(f"\n{title}; median of {reps}")
    print(f"{'cell':>6} {'T':>3} {'derive s':>9} {'certify s':>10} {'total s':>8}  certified")
    for name, make in CELLS.items():
        spec = make()
        for T in steps_of[name]:
            runs = [staged(spec, T, dims) for _ in range(reps)]
            a, b = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            print(f"{name:>6} {T:3d} {a:9.3f} {b:10.3f} {a + b:8.3f}  {all(r[2] for r in runs)}", flush=True)


def naive(T):
    u = Unrolled(cells.elman(), T)
    L = u.reference_loss()
    grads = {n: sp.diff(L, u.at(0).h if n == "h0" else sp.Symbol(n)) for n in NAMES}
    return grads["W"]


def naive_rows(max_steps: int, reps: int, expand_max: int):
    print(f"\nScalar elman (tanh, mse, every), symrnn vs sympy.diff of the substituted loss; median of {reps}")
    print(f"{'T':>3} {'symrnn s':>9} {'naive s':>8} {'ratio':>6} {'size ours':>10} {'size naive':>11} "
          f"{'expand s':>9} {'size expanded':>14}")
    for T in range(1, max_steps + 1):
        t_ours, t_naive, t_exp = [], [], []
        for _ in range(reps):  # interleaved: one of each per repetition
            dt, d = cold(lambda: certify(derive_pure(cells.elman(), T, "scalar")))
            t_ours.append(dt)
            dt, e_naive = cold(lambda: naive(T))
            t_naive.append(dt)
            if T <= expand_max:
                dt, e_exp = cold(lambda: sp.expand(naive(T)))
                t_exp.append(dt)
        mo, mn = statistics.median(t_ours), statistics.median(t_naive)
        exp_cols = (f"{statistics.median(t_exp):9.3f} {sp.count_ops(e_exp):14d}" if t_exp
                    else f"{'—':>9} {'—':>14}")
        size = sp.count_ops(d.get("W").expr)
        print(f"{T:3d} {mo:9.3f} {mn:8.3f} {mo / mn:6.1f} {size:10d} {sp.count_ops(e_naive):11d} {exp_cols}",
              flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=12)
    ap.add_argument("--expand-max", type=int, default=7)
    ap.add_argument("--only", choices=("scalar", "naive", "matrix"), help="run one section only")
    args = ap.parse_args(argv)
    if args.only in (None, "scalar"):
        gated = range(1, GATED_MAX_STEPS + 1)
        cell_rows("Scalar form, every gradient, derive + certify", "scalar",
                  {"elman": range(1, args.max_steps + 1), "gru": gated, "lstm": gated}, args.reps)
    if args.only in (None, "naive"):
        naive_rows(args.max_steps, args.reps, args.expand_max)
    if args.only in (None, "matrix"):
        five = range(1, 6)
        cell_rows("Matrix form, (k, m, o) = (3, 2, 2), every gradient, derive + certify", (3, 2, 2),
                  {"elman": five, "gru": five, "lstm": five}, args.reps)


if __name__ == "__main__":
    main()
