"""What deciding relu per sign pattern costs in matrix-form verify (a benchmark, not a test).

    python benchmarks/verify_relu.py [--reps 5] [--steps 2,5]

For the lecture's cell with relu (mse, every step, (k, m, o) = (2, 3, 2)) and a general-T answer
(δ_t with H(a_t), then Σ_t δ_t h_{t−1}ᵀ), interleaved per repetition, the median of:
  random    the points the matrix form used before: 2 random points per (sizes, T) (built here as it did);
  patterns  one real point in each sign pattern (matrixcheck.configs: placed by solving for x_t);
  answer    checking the answer on those points once they exist (they are drawn once per model, so a
            class of answers pays `patterns` once and `answer` per answer);
and the ratio patterns / random in the same repetition. The derivation (cached) is not timed.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

from symrnn import cells
from symrnn.verification import matrixcheck
from symrnn.verification.matrixinput import parse_answer

ANSWER = (r"\delta_t = H(a_t) \odot (V^\top (Y_t - z_t) + W^\top \delta_{t+1})" "\n"
          r"\nabla_W L = \sum_t \delta_t h_{t-1}^\top")
DIMS = (2, 3, 2)


def random_points(tr) -> list:
    """The former procedure: POINTS random points at each size (and at the last size for the other T)."""
    rng = random.Random(0)
    sizes = [tr.dims] + list(matrixcheck.OTHER_SIZES)
    steps = [tr.steps] + [T for T in matrixcheck.GENERAL_STEPS if T != tr.steps]
    return [matrixcheck.Config(sz, T, tr.env(sz, T, rng)) for T in steps
            for sz in (sizes if T == tr.steps else sizes[-1:]) for _ in range(matrixcheck.POINTS)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", default="2,5")
    args = ap.parse_args(argv)
    spec = cells.elman(activation="relu")
    print(f"{'T':>3} {'points':>7} {'random ms':>10} {'patterns ms':>12} {'answer ms':>10} {'patterns/random':>16}")
    for steps in (int(s) for s in args.steps.split(",")):
        tr = matrixcheck.truth(spec, steps, DIMS)
        lines = parse_answer(ANSWER, tr.names, "--latex", True)
        times = {"random": [], "patterns": [], "answer": []}
        ratios = []
        count = 0
        for _ in range(args.reps):
            t0 = time.perf_counter()
            random_points(tr)
            t1 = time.perf_counter()
            cfgs = matrixcheck.configs(tr, True)
            t2 = time.perf_counter()
            tr.points[True] = tuple(cfgs)
            verdict = matrixcheck.check_lines(tr, "W", lines)
            t3 = time.perf_counter()
            assert verdict.ok, verdict.report
            count = len(cfgs)
            times["random"].append(t1 - t0)
            times["patterns"].append(t2 - t1)
            times["answer"].append(t3 - t2)
            ratios.append((t2 - t1) / (t1 - t0))
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        print(f"{steps:>3} {count:>7} {med['random']:>10.1f} {med['patterns']:>12.1f} {med['answer']:>10.1f} "
              f"{statistics.median(ratios):>16.1f}")


if __name__ == "__main__":
    main()
