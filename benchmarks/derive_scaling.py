"""Derive + certify against the naive approach, T = 1..12 (a benchmark, not a test).

    python benchmarks/derive_scaling.py [--reps 3] [--max-steps 12]

For each T, interleaved in one run and repeated (median reported), with SymPy's and
symrnn's caches cleared before every run:
  symrnn   derive all six gradients (W U b V c h0) in lecture symbols, then certify each
           (brute-force sympy.diff at 50-digit points, δ-form and general-T checks);
  naive    substitute every step into L and call sympy.diff for the same six (the result is
           in nested tanh of the raw inputs, not in lecture symbols);
  naive+expand  the naive ∂L/∂W put in a sum-of-products form like ours (sympy.expand),
           the step a reader of the naive result needs; it is stopped past --expand-max.
Sizes are sympy.count_ops of ∂L/∂W.

Matrix form (`matrix_rows`), dims (k, m, o) = (2, 3, 2), T = 1..5, every loss, caches cleared:
  derive   the matrix-form derivation of all six gradients (four general-T forms each, the
           written-out form at T, δ substituted), no certification;
  certify  the component-wise check (sympy.diff of the entry-wise loss, 50-digit points) and the
           numeric check (central differences at (8, 5, 4), T = 20); target: derive + certify < 5 s.
"""
from __future__ import annotations

import argparse
import statistics
import time

import sympy as sp
from sympy.core.cache import clear_cache

from symrnn import cells
from symrnn.certification.scalar import brute_force, points
from symrnn.derivation.scalar import derive, loss_by_output, loss_by_state, output_by, state_by
from symrnn.unroll import Unrolled

NAMES = ("W", "U", "b", "V", "c", "h0")


def fresh():
    clear_cache()
    for f in (brute_force, points, loss_by_output, loss_by_state, output_by, state_by):
        f.cache_clear()


def timed(fn):
    fresh()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def ours(T):
    d = derive(cells.elman(), steps=T)
    assert d.certified
    return d.gradient("W")


def naive(T):
    u = Unrolled(cells.elman(), T)
    L = u.reference_loss()
    grads = {n: sp.diff(L, u.h0 if n == "h0" else sp.Symbol(n)) for n in NAMES}
    return grads["W"]


def naive_expanded(T):
    return sp.expand(naive(T))


def scalar_rows(max_steps: int, reps: int, expand_max: int):
    print(f"{'T':>3} {'symrnn s':>9} {'naive s':>8} {'ratio':>6} {'size ours':>10} {'size naive':>11} "
          f"{'expand s':>9} {'size expanded':>14}")
    for T in range(1, max_steps + 1):
        t_ours, t_naive, t_exp = [], [], []
        for _ in range(reps):  # interleaved: one of each per repetition
            dt, e_ours = timed(lambda: ours(T))
            t_ours.append(dt)
            dt, e_naive = timed(lambda: naive(T))
            t_naive.append(dt)
            if T <= expand_max:
                dt, e_exp = timed(lambda: naive_expanded(T))
                t_exp.append(dt)
        mo, mn = statistics.median(t_ours), statistics.median(t_naive)
        exp_cols = (f"{statistics.median(t_exp):9.3f} {sp.count_ops(e_exp):14d}" if t_exp
                    else f"{'—':>9} {'—':>14}")
        print(f"{T:3d} {mo:9.3f} {mn:8.3f} {mo / mn:6.1f} {sp.count_ops(e_ours):10d} "
              f"{sp.count_ops(e_naive):11d} {exp_cols}", flush=True)


def matrix_rows(reps: int, max_steps: int = 5, dims=(2, 3, 2)):
    """Median matrix-form derive and certify times, tanh Elman, each loss (every step), T = 1..max_steps."""
    from symrnn.matrix import derive_matrix
    from symrnn.certification.matrix import certify_matrix, reference_gradients

    def cold(fn):
        fresh()
        reference_gradients.cache_clear()
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    print(f"{'loss':>5} {'T':>3} {'derive s':>9} {'certify s':>10} {'total s':>8}  certified")
    for loss in ("mse", "ce", "bce"):
        spec = cells.elman(loss=loss)
        for T in range(1, max_steps + 1):
            t_derive, t_cert, ok = [], [], True
            for _ in range(reps):
                dt, md = cold(lambda: derive_matrix(spec, T, dims, NAMES, certify=False))
                t_derive.append(dt)
                dt, md = cold(lambda: certify_matrix(md))
                t_cert.append(dt)
                ok = ok and md.certified
            a, b = statistics.median(t_derive), statistics.median(t_cert)
            print(f"{loss:>5} {T:3d} {a:9.3f} {b:10.3f} {a + b:8.3f}  {ok}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=12)
    ap.add_argument("--expand-max", type=int, default=7)
    ap.add_argument("--only", choices=("scalar", "matrix"), help="run one section only")
    args = ap.parse_args(argv)
    if args.only != "matrix":
        print("Scalar Elman (tanh, mse, every): derive + certify, all six gradients; median of", args.reps)
        scalar_rows(args.max_steps, args.reps, args.expand_max)
    if args.only != "scalar":
        print("\nMatrix form, (k, m, o) = (2, 3, 2), tanh Elman, all six gradients; median of", args.reps)
        matrix_rows(args.reps)


if __name__ == "__main__":
    main()
