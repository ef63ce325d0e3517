"""Speed of a generated kernel's loss_and_grads against PyTorch autograd and a naive NumPy BPTT (a benchmark, not a test).

    python benchmarks/kernel_speed.py [--reps 15] [--T 50 --B 32 --m 16 --k 64 --o 10] [--model elman_tanh_mse_every]
    python benchmarks/kernel_speed.py --cells gru,lstm,elman [--sizes 100x1x32,100x32x64] [--dtypes float64]
                                      [--threads 1] [--reps 15]

With --cells, the generated generated/<cell>_tanh_mse_every.py kernels are timed against torch.nn.GRU/LSTM/RNN
(+ Linear, summed loss, forward + backward) and the hand-written NumPy BPTT of benchmarks/handwritten.py, at the
issue's sizes (T, B, H) = (100, 1, 32), (100, 32, 64), (100, 64, 256), (1000, 16, 128) unless --sizes says
otherwise, float64 and float32, one thread and default threads: benchmarks/baseline_speed.py's machinery
(interleaved, paired ratios, the fraction of the machine's GEMM rate), with its kernel contender.

Contenders, interleaved in one loop (each repetition times every contender once, the order rotated; median
reported):
  kernel   generated/<model>.py, loss_and_grads (forward + loss + BPTT), float64 and float32;
  torch    nn.RNN + nn.Linear + the summed loss, forward + backward (autograd), float64 and float32
           (only tanh/relu models, skipped when PyTorch is not installed);
  naive    the hand-written column-vector BPTT of tests/numpy_bptt_matrix.py, one sequence at a time
           (the textbook loop), float64.
All compute the same loss and gradients (checked once before timing). Ratios matter; absolute times
on a shared 2-core machine are noisy.

Single-threaded by default (OPENBLAS/OMP/MKL_NUM_THREADS=1 unless already set): at these sizes threads
do not pay, and PyTorch's spinning OpenMP workers next to OpenBLAS's on two cores slow every
contender by an order of magnitude.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def load_kernel(model: str):
    path = ROOT / "generated" / f"{model}.py"
    spec = importlib.util.spec_from_file_location(model, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def problem(kernel, T, B, m, k, o, seed=0):
    rng = np.random.default_rng(seed)
    p = kernel.init_params(m, k, o, seed=seed)
    X = rng.normal(size=(T, B, m))
    loss = kernel.MODEL["loss"]
    zshape = (T, B) if kernel.MODEL["output"] == "every" else (B,)
    if loss == "ce":
        Z = rng.integers(0, o, zshape)
    elif loss == "bce":
        Z = rng.integers(0, 2, zshape + (o,)).astype(float)
    else:
        Z = rng.normal(size=zshape + (o,))
    return p, X, Z, rng.normal(0, 0.5, (B, k))


def contenders(kernel, p, X, Z, h0):
    """name -> zero-argument callable computing (loss, grads) the same way each time."""
    from numpy_bptt_batched import batched_loss_and_grads
    model = kernel.MODEL
    T, B, _ = X.shape
    lengths = np.full(B, T)
    p32, X32, h032 = ({n: v.astype(np.float32) for n, v in p.items()}, X.astype(np.float32), h0.astype(np.float32))
    Z32 = Z if model["loss"] == "ce" else Z.astype(np.float32)
    out = {
        "kernel f64": lambda: kernel.loss_and_grads(p, X, Z, h0),
        "kernel f32": lambda: kernel.loss_and_grads(p32, X32, Z32, h032),
        "naive f64": lambda: batched_loss_and_grads(p, X, Z, h0, lengths, model["activation"], model["loss"], model["output"]),
    }
    try:
        import torch
    except ImportError:
        return out
    if model["activation"] not in ("tanh", "relu"):
        return out
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        out[f"torch {tag}"] = torch_step(torch, model, p, X, Z, h0, dtype)
    return out


def torch_step(torch, model, p, X, Z, h0, dtype):
    F = torch.nn.functional
    T, B, m = X.shape
    k, o = p["W"].shape[0], p["V"].shape[0]
    rnn = torch.nn.RNN(m, k, nonlinearity=model["activation"]).to(dtype)
    lin = torch.nn.Linear(k, o).to(dtype)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.tensor(p["W"])), rnn.weight_ih_l0.copy_(torch.tensor(p["U"]))
        rnn.bias_ih_l0.copy_(torch.tensor(p["b"])), rnn.bias_hh_l0.zero_()
        lin.weight.copy_(torch.tensor(p["V"])), lin.bias.copy_(torch.tensor(p["c"]))
    tX, tZ = torch.tensor(X, dtype=dtype), torch.tensor(Z) if model["loss"] == "ce" else torch.tensor(Z, dtype=dtype)
    th0 = torch.tensor(h0, dtype=dtype)[None].requires_grad_()
    params = [rnn.weight_hh_l0, rnn.weight_ih_l0, rnn.bias_ih_l0, lin.weight, lin.bias, th0]

    def step():
        for q in params:
            q.grad = None
        Y = lin(rnn(tX, th0)[0])
        Y = Y if model["output"] == "every" else Y[-1]
        if model["loss"] == "mse":
            L = 0.5 * ((Y - tZ) ** 2).sum()
        elif model["loss"] == "bce":
            L = F.binary_cross_entropy_with_logits(Y, tZ, reduction="sum")
        else:
            L = F.cross_entropy(Y.reshape(-1, o), tZ.reshape(-1), reduction="sum")
        L.backward()
        return float(L.detach()), {n: q.grad.numpy() for n, q in zip(("W", "U", "b", "V", "c", "h0"), params)}
    return step


def by_cell(a) -> None:
    """The generated kernels of the cells in a.cells against torch and the hand-written BPTT (baseline_speed's run)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import baseline_speed
    args = ["--cells", a.cells, "--reps", str(a.reps), "--dtypes", a.dtypes, "--threads", a.threads]
    args += ["--sizes", a.sizes] if a.sizes else []
    args += [f"--kernel={cell}={ROOT / 'generated' / f'{cell}_tanh_mse_every.py'}" for cell in a.cells.split(",")]
    baseline_speed.main(args)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="elman_tanh_mse_every")
    ap.add_argument("--reps", type=int, default=15)
    for name, default in (("T", 50), ("B", 32), ("m", 16), ("k", 64), ("o", 10)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--cells", help="comma-separated of elman,gru,lstm: their kernels against torch and handwritten")
    ap.add_argument("--sizes", help="with --cells: TxBxH,... (default: the four of benchmarks/baseline_speed.py)")
    ap.add_argument("--dtypes", default="float64,float32", help="with --cells")
    ap.add_argument("--threads", default="1,default", help="with --cells: 1, default, or both")
    a = ap.parse_args(argv)
    if a.cells:
        return by_cell(a)
    kernel = load_kernel(a.model)
    p, X, Z, h0 = problem(kernel, a.T, a.B, a.m, a.k, a.o)
    runs = contenders(kernel, p, X, Z, h0)
    L, g = runs["kernel f64"]()
    for name, run in runs.items():  # same answer before timing
        L2, g2 = run()
        tol = 1e-3 if "f32" in name else 1e-9
        assert abs(L2 - L) <= tol * abs(L), (name, L2, L)
        worst = max(np.abs(np.asarray(g2[n]).reshape(g[n].shape) - g[n]).max() / np.abs(g[n]).max() for n in g)
        assert worst <= 10 * tol, (name, worst)
    times = {name: [] for name in runs}
    names = list(runs)
    for rep in range(a.reps):   # the order rotated each time: no contender always runs right after torch
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["kernel f64"])
    print(f"{a.model}: T={a.T} B={a.B} m={a.m} k={a.k} o={a.o}, loss_and_grads (forward + backward), "
          f"median of {a.reps}, interleaved, {os.environ['OMP_NUM_THREADS']} thread(s)")
    print(f"{'contender':<12} {'median ms':>10} {'time / kernel f64':>18}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<12} {1e3 * med:>10.2f} {med / base:>18.2f}")


if __name__ == "__main__":
    main()
