"""Generated kernel files against the hand-written NumPy BPTT, without torch in the loop (a benchmark, not a test).

    python benchmarks/kernel_ab.py gru 100x1x32 generated/gru_tanh_mse_every.py [OTHER.py ...]
                                   [--dtype float32] [--reps 150] [--loss ce --output last --activation relu]

For A/B work on the code generator: write the old kernels somewhere (e.g. `symrnn codegen --cell gru -o /tmp/old`
on the old commit) and time them next to the new ones. Each repetition times the hand-written
benchmarks/handwritten.py and every file once, in an order rotated by one each time; reported: each one's median
time and the median of its paired ratios to the hand-written code. Every file's loss and gradients are checked
against the hand-written code's first. One thread (OPENBLAS/OMP/MKL_NUM_THREADS=1 unless already set).
benchmarks/kernel_speed.py --cells is the run with torch; with torch in the loop the kernels measure a few
percent slower at B = 1 (torch's run leaves the caches cold for whoever follows).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import handwritten  # noqa: E402  (benchmarks/handwritten.py)


def load(path: Path, index: int):
    spec = importlib.util.spec_from_file_location(f"kernel_ab_{index}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cell", choices=("elman", "gru", "lstm"))
    ap.add_argument("size", help="TxBxH (m = H, o = 10)")
    ap.add_argument("kernels", nargs="+", type=Path, help="generated kernel files of this cell")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--reps", type=int, default=150)
    ap.add_argument("--loss", default="mse", choices=("mse", "ce", "bce"))
    ap.add_argument("--output", default="every", choices=("every", "last"))
    ap.add_argument("--activation", default="tanh")
    a = ap.parse_args(argv)
    T, B, k = map(int, a.size.split("x"))
    dtype, o = np.dtype(a.dtype), 10
    rng = np.random.default_rng(0)
    mods = [load(path, i) for i, path in enumerate(a.kernels)]
    p = {n: v.astype(dtype) for n, v in mods[0].init_params(k, k, o).items()}
    X = rng.normal(size=(T, B, k)).astype(dtype)
    zshape = (T, B) if a.output == "every" else (B,)
    Z = (rng.integers(0, o, zshape) if a.loss == "ce" else
         rng.integers(0, 2, zshape + (o,)).astype(dtype) if a.loss == "bce" else rng.normal(size=zshape + (o,)).astype(dtype))
    h0 = rng.normal(size=(B, k)).astype(dtype)
    extra = {"c0": rng.normal(size=(B, k)).astype(dtype)} if a.cell == "lstm" else {}
    runs = {"hand-written": lambda: handwritten.loss_and_grads(a.cell, p, X, Z, h0, extra.get("c0"), loss=a.loss,
                                                               output=a.output, activation=a.activation)}
    for i, (path, m) in enumerate(zip(a.kernels, mods)):
        runs[f"{i}: {path}"] = lambda m=m: m.loss_and_grads(p, X, Z, h0, **extra)
    L, g = runs["hand-written"]()
    tol = 1e-4 if dtype == np.float32 else 1e-9
    for name, run in runs.items():
        L2, g2 = run()
        assert abs(L2 - L) <= tol * abs(L), (name, "loss", L2, L)
        for n in g:
            assert np.abs(g2[n] - g[n]).max() <= tol * np.abs(g[n]).max(), (name, n)
    names, times = list(runs), {name: [] for name in runs}
    for rep in range(a.reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    print(f"{a.cell} {a.size} {a.dtype} {a.activation} {a.loss} {a.output}, {a.reps} repetitions, "
          f"{os.environ['OMP_NUM_THREADS']} thread(s)")
    for name in names:
        ratio = statistics.median(x / y for x, y in zip(times[name], times["hand-written"]))
        print(f"  {name:<60} {1e3 * statistics.median(times[name]):9.3f} ms  {ratio:.3f} x hand-written")


if __name__ == "__main__":
    main()
