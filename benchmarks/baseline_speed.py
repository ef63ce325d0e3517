"""Hand-written NumPy BPTT (benchmarks/handwritten.py) against PyTorch autograd, for GRU, LSTM and Elman (a benchmark, not a test).

    python benchmarks/baseline_speed.py                       # everything: 5-40 min, the load decides
    python benchmarks/baseline_speed.py --quick               # gru, two small sizes, float64, one thread
    python benchmarks/baseline_speed.py --cells gru,lstm --dtypes float64 --threads 1 --reps 9
    python benchmarks/baseline_speed.py --kernel gru=generated/gru_tanh_mse_every.py

The problem: loss mse at every step, summed over steps and batch; X (T, B, m) with m = H, o = 10
outputs, h0 (and c0) random; forward + loss + full backward (every parameter, h0, c0).
Contenders, interleaved (each repetition times every contender once, in an order rotated by one each
time): the median time, and the median (and interquartile range) over repetitions of the ratio to
torch's time in the same repetition:
  handwritten  benchmarks/handwritten.py loss_and_grads;
  torch        torch.nn.GRU/LSTM/RNN + nn.Linear, weights from the same parameters (state_dict),
               the summed loss, loss.backward();
  kernel       optional, a generated module per cell (--kernel CELL=PATH) with
               loss_and_grads(params, X, Z, h0=None, lengths=None) (lstm: c0=None), same parameter names;
               its paired ratio to handwritten is reported too (benchmarks/kernel_speed.py --cells runs this).
Before timing, each contender's loss and gradients are checked against torch's.

Each thread setting runs in its own subprocess, since BLAS and OpenMP read their thread counts once
at import: "1" sets OPENBLAS/OMP/MKL_NUM_THREADS=1 and torch.set_num_threads(1); "default" leaves
both libraries their defaults. The GEMM rate is a large np.matmul at the dtype under the same
setting (the best of samples taken before each configuration); "% GEMM" is the model's GEMM FLOPs
per second over that rate. On a shared 2-core machine "default" is mostly a measure of the others'
load: BLAS and OpenMP workers spinning against busy cores made both contenders 5-15x slower there.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import handwritten  # noqa: E402  (benchmarks/handwritten.py)
import numpy_gated  # noqa: E402  (tests/numpy_gated.py: init and the torch state_dict mapping)

SIZES = ((100, 1, 32), (100, 32, 64), (100, 64, 256), (1000, 16, 128))
N_OUT = 10
GATES = {"elman": 1, "gru": 3, "lstm": 4}
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def model_flops(cell, T, B, H, m, o=N_OUT):
    """FLOPs of the GEMMs: input projections, recurrent products and head, forward and backward.

    Forward 2TB(m·Gk + k·Gk + k·o); backward the recurrent product again, dW_i, dW_h, dV and dH from
    the head: 2TB(Gk·k + Gk·m + Gk·k + 2·k·o). In all 2TB·(Gk(2m + 3k) + 3ko), k = H, G gates.
    """
    G, k = GATES[cell], H
    return 2 * T * B * (G * k * (2 * m + 3 * k) + 3 * k * o)


def gemm_rate(dtype, n=1536, reps=2):
    """GFLOP/s of the best of `reps` n×n np.matmul at dtype."""
    a = np.random.default_rng(0).random((n, n)).astype(dtype)
    out = np.empty_like(a)
    best = float("inf")
    for _ in range(reps + 1):
        start = time.perf_counter()
        np.matmul(a, a, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def problem(cell, T, B, H, dtype, seed=0):
    """Parameters (uniform ±1/√H), X, Z (T, B, ·), h0, c0 at dtype."""
    rng = np.random.default_rng(seed)
    p = {n: v.astype(dtype) for n, v in numpy_gated.init(cell, H, H, N_OUT, seed).items()}
    X = rng.normal(size=(T, B, H)).astype(dtype)
    Z = rng.normal(size=(T, B, N_OUT)).astype(dtype)
    return p, X, Z, rng.normal(0, 0.5, (B, H)).astype(dtype), rng.normal(0, 0.5, (B, H)).astype(dtype)


def torch_contender(cell, p, X, Z, h0, c0, threads):
    """(run, answer): run is PyTorch's forward, summed mse and backward; answer runs it and returns (L, grads
    under our names)."""
    import torch
    if threads == "1":
        torch.set_num_threads(1)
    dtype = {np.float64: torch.float64, np.float32: torch.float32}[X.dtype.type]
    T, B, m = X.shape
    o, k = p["V"].shape
    rnn = {"elman": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](m, k).to(dtype)
    head = torch.nn.Linear(k, o).to(dtype)
    rnn_state, head_state = numpy_gated.to_torch_state(cell, p)
    rnn.load_state_dict({key: torch.tensor(v, dtype=dtype) for key, v in rnn_state.items()})
    head.load_state_dict({key: torch.tensor(v, dtype=dtype) for key, v in head_state.items()})
    tX, tZ = torch.from_numpy(X), torch.from_numpy(Z)
    th0 = torch.from_numpy(h0.copy())[None].requires_grad_()
    tc0 = torch.from_numpy(c0.copy())[None].requires_grad_()
    leaves = list(rnn.parameters()) + list(head.parameters()) + [th0, tc0]

    def run():
        for q in leaves:
            q.grad = None
        out = rnn(tX, (th0, tc0) if cell == "lstm" else th0)[0]
        L = 0.5 * ((head(out) - tZ) ** 2).sum()
        L.backward()
        return L

    def answer():
        L = run()
        grads = numpy_gated.from_torch_state(cell, {n: q.grad for n, q in rnn.named_parameters()},
                                             {n: q.grad for n, q in head.named_parameters()})
        if cell == "elman":   # each torch bias's gradient is ∂L/∂b (the mapping would add the two)
            grads["b"] = rnn.bias_ih_l0.grad.numpy().astype(float)
        grads["h0"] = th0.grad[0].numpy().astype(float)
        if cell == "lstm":
            grads["c0"] = tc0.grad[0].numpy().astype(float)
        return float(L.detach()), grads
    return run, answer


def load_kernel(path):
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def contenders(cell, p, X, Z, h0, c0, threads, kernels):
    """name -> (timed callable, callable returning (L, grads)); plus notes on skipped contenders."""
    hw = lambda: handwritten.loss_and_grads(cell, p, X, Z, h0, c0 if cell == "lstm" else None)
    run_torch, torch_answer = torch_contender(cell, p, X, Z, h0, c0, threads)
    out = {"handwritten": (hw, hw), "torch": (run_torch, torch_answer)}
    notes = []
    if cell in kernels:
        path = Path(kernels[cell])
        if not path.exists():
            notes.append(f"kernel for {cell}: {path} does not exist, skipped")
        else:
            kernel = load_kernel(path)
            model = getattr(kernel, "MODEL", {})
            wanted = {"cell": cell, "activation": "tanh", "loss": "mse", "output": "every"}
            if any(model.get(key, value) != value for key, value in wanted.items()):
                notes.append(f"kernel {path} is not a {cell}/tanh/mse/every model ({model}), skipped")
            else:
                extra = {"c0": c0} if cell == "lstm" else {}
                ker = lambda: kernel.loss_and_grads(p, X, Z, h0, **extra)
                out["kernel"] = (ker, ker)
    return out, notes


def same_answer(name, got, want, dtype):
    """'' when (L, grads) agree with torch's to the dtype's precision, else what differs.

    Gradients are compared relative to their largest entry; handwritten's worst at T = 1000 was 1e-14
    in float64 and 5e-6 in float32.
    """
    tol = 1e-10 if dtype == np.float64 else 1e-5
    (L, g), (L_want, g_want) = got, want
    if abs(L - L_want) > tol * abs(L_want):
        return f"{name}: loss {L} vs torch {L_want}"
    for n, w in g_want.items():
        diff = np.abs(np.asarray(g[n], float).reshape(w.shape) - w).max() / max(np.abs(w).max(), 1e-30)
        if not diff <= tol * 10:
            return f"{name}: gradient {n} differs by {diff:.1e} (relative to its largest entry)"
    return ""


def measure(cell, T, B, H, dtype, threads, reps, kernels):
    p, X, Z, h0, c0 = problem(cell, T, B, H, dtype)
    runs, notes = contenders(cell, p, X, Z, h0, c0, threads, kernels)
    want = runs["torch"][1]()
    for name in list(runs):
        if name != "torch":
            try:
                problem_found = same_answer(name, runs[name][1](), want, dtype)
            except Exception as e:  # a kernel under development may raise or miss a gradient: report, go on
                problem_found = f"{name}: {type(e).__name__}: {e}"
            if problem_found:
                notes.append(problem_found + " -- not timed")
                del runs[name]
    times = {name: [] for name in runs}
    names = list(runs)
    for rep in range(reps):
        # the order rotates, so that each contender runs as often right after torch as the others: at B = 1 the one
        # that follows torch ran ~0.1 ms (20%) slower (its caches cold), which a fixed order charged to one of them
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            start = time.perf_counter()
            runs[name][0]()
            times[name].append(time.perf_counter() - start)
    # Ratios of the same repetition pair contenders timed moments apart: steadier than a ratio of medians
    # on a machine whose load drifts.
    ratios = {n: [a / b for a, b in zip(v, times["torch"])] for n, v in times.items() if n != "torch"}
    if "kernel" in times and "handwritten" in times:  # the generated kernel's target: <= 1.05 x the hand-written
        ratios["kernel/handwritten"] = [a / b for a, b in zip(times["kernel"], times["handwritten"])]
    return {"cell": cell, "T": T, "B": B, "H": H, "dtype": np.dtype(dtype).name, "threads": threads,
            "flops": model_flops(cell, T, B, H, H), "median": {n: statistics.median(v) for n, v in times.items()},
            "ratio": {n: [statistics.median(v)] + quartiles(v) for n, v in ratios.items()}, "notes": notes}


def quartiles(values):
    """[first, third] quartile (the values themselves when fewer than two)."""
    if len(values) < 2:
        return [values[0], values[0]]
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


def worker(a):
    """Measure every configuration under this process's thread setting; one JSON line each.

    The GEMM rate is sampled before each configuration; others' load only ever lowers it, so the
    table uses the best sample as this machine's rate.
    """
    for cell in a.cells:
        for T, B, H in a.sizes:
            for dtype in a.dtypes:
                print(json.dumps({"gemm": dtype, "threads": a.threads[0], "gflops": gemm_rate(np.dtype(dtype))}))
                print(json.dumps(measure(cell, T, B, H, np.dtype(dtype), a.threads[0], a.reps, a.kernels)), flush=True)


def table(rows, gemm):
    """The Markdown table: medians, paired ratios to torch (IQR), and each contender's share of the GEMM rate."""
    names = ["handwritten", "torch"] + (["kernel"] if any("kernel" in r["median"] for r in rows) else [])
    head = ["cell", "T", "B", "H", "dtype", "threads"] + [f"{n} ms" for n in names]
    head += [f"{n}/torch (IQR)" for n in names if n != "torch"]
    if "kernel" in names:
        head.append("kernel/handwritten (IQR)")
    head += [f"{n} % GEMM" for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        med, ratio = r["median"], r["ratio"]
        rate = gemm[(r["dtype"], r["threads"])]
        cells = [r["cell"], r["T"], r["B"], r["H"], r["dtype"], r["threads"]]
        cells += [f"{1e3 * med[n]:.2f}" if n in med else "–" for n in names]
        cells += ["{:.2f} ({:.2f}–{:.2f})".format(*ratio[n]) if n in ratio else "–" for n in names if n != "torch"]
        if "kernel" in names:
            cells.append("{:.2f} ({:.2f}–{:.2f})".format(*ratio["kernel/handwritten"])
                         if "kernel/handwritten" in ratio else "–")
        cells += [f"{100 * r['flops'] / med[n] / 1e9 / rate:.0f}" if n in med else "–" for n in names]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="gru,lstm,elman", help="comma-separated, of elman,gru,lstm")
    ap.add_argument("--sizes", default=",".join("x".join(map(str, s)) for s in SIZES), help="TxBxH,... (m = H)")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--threads", default="1,default", help="1, default, or both comma-separated")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="gru at the two smallest sizes, float64, one thread, 5 reps")
    ap.add_argument("--kernel", action="append", default=[], metavar="CELL=PATH",
                    help="time a generated kernel for CELL too (repeatable)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.cells, a.sizes, a.dtypes, a.threads, a.reps = "gru", "100x1x32,100x32x64", "float64", "1", 5
    a.cells, a.dtypes, a.threads = a.cells.split(","), a.dtypes.split(","), a.threads.split(",")
    a.sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
    bad = [c for c in a.cells if c not in GATES] + [t for t in a.threads if t not in ("1", "default")]
    if bad or not all(len(s) == 3 for s in a.sizes):
        ap.error(f"bad --cells/--threads/--sizes: {bad or a.sizes}")
    a.kernels = dict(k.split("=", 1) for k in a.kernel)
    if a.worker:
        return worker(a)

    rows, gemm = [], {}
    for threads in a.threads:
        env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
        if threads == "1":
            env.update({var: "1" for var in THREAD_VARS})
        args = [sys.executable, __file__, "--worker", "--threads", threads, "--reps", str(a.reps),
                "--cells", ",".join(a.cells), "--dtypes", ",".join(a.dtypes),
                "--sizes", ",".join("x".join(map(str, s)) for s in a.sizes)] + [f"--kernel={k}" for k in a.kernel]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            r = json.loads(line)
            if "gemm" in r:
                key = (r["gemm"], r["threads"])
                gemm[key] = max(gemm.get(key, 0.0), r["gflops"])
                continue
            rows.append(r)
            ratio = " ".join(f"{n}={1e3 * t:.2f}ms" for n, t in r["median"].items())
            print(f"{r['cell']} {r['T']}x{r['B']}x{r['H']} {r['dtype']} threads={threads}: {ratio}", file=sys.stderr)
            for note in r["notes"]:
                print(f"  note: {note}", file=sys.stderr)
        if proc.wait():
            sys.exit(f"worker for threads={threads} failed")
    print(f"\nloss_and_grads (forward + summed mse + backward), m = H, o = {N_OUT}, {a.reps} interleaved repetitions; "
          f"ratio < 1: faster than torch; % GEMM: the model's GEMM FLOPs per second over np.matmul's rate")
    print("GEMM rate (np.matmul 1536², best sample, GFLOP/s): "
          + ", ".join(f"{d} threads={t}: {g:.1f}" for (d, t), g in gemm.items()))
    print(table(rows, gemm))


if __name__ == "__main__":
    main()
