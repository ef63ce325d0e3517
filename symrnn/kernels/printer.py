"""The NumPy printer for generated kernels: matrix-IR nodes as batched, time-major NumPy code.

The IR is written in column vectors (a_t = W h_{t−1} + U x_t + b). A kernel holds a batch of
them as rows: a vector v_t of size n is an array (B, n) at one step, or (T, B, n) for all steps
at once, so every product turns around:

    W v            ->  v @ W.T          Wᵀ v        ->  v @ W          g W v  ->  g * (v @ W.T)
    u ⊙ v          ->  u * v            1 − h ⊙ h   ->  1 - h * h      σ(v)   ->  0.5 * np.tanh(0.5 * v) + 0.5
    Σ_b u vᵀ       ->  u.T @ v          Σ_{t,b} u vᵀ ->  _rows(u).T @ _rows(v)   (T·B rows)
    Σ_b v          ->  v.sum(axis=0)    Σ_b uᵀ A v  ->  np.sum(u * (v @ A.T))

Which array a vector is (`H[t - 1]`, `X`, `delta` …) is the printer's `names` setting, one
dict from IR vectors (and scalar symbols, for loss values) to code, chosen by `codegen`.
"""
from __future__ import annotations

from sympy.printing.numpy import NumPyPrinter

from ..errors import SymrnnError
from ..ir.nodes import (Diag, Hadamard, Map, Mat, MatProd, Minus, Neg, Node, Num, Ones, Plus, SumOver, Transposed, Vec,
                        is_scalar)
from ..printers import lecture as printing


class BatchSum(Node):
    """Σ over the batch (and over t, when the body is a Σ_t) of a per-example gradient term."""


class LogSumExp(Node):
    """log Σ_j exp(v_j), per example (kept as a trailing axis of size 1)."""


class Pick(Node):
    """v[z]: the entry of v at the class index z, per example (a trailing axis of size 1)."""


#: Small numerically stable primitives a kernel defines when its printed code calls them.
PRIMITIVES = {
    "_logsumexp": (
        "def _logsumexp(v):\n"
        '    """log Σ_j exp(v_j) over the last axis, kept as an axis of size 1 (shifted by the max: no overflow)."""\n'
        "    top = v.max(axis=-1, keepdims=True)\n"
        "    return top + np.log(np.exp(v - top).sum(axis=-1, keepdims=True))\n"),
    "_softmax": (
        "def _softmax(v):\n"
        '    """exp(v) / Σ_j exp(v_j) over the last axis (shifted by the max: no overflow)."""\n'
        "    e = np.exp(v - v.max(axis=-1, keepdims=True))\n"
        "    return e / e.sum(axis=-1, keepdims=True)\n"),
    "_rows": (
        "def _rows(a):\n"
        '    """(T, B, n) as T·B rows (T·B, n): Σ_t Σ_b u vᵀ is then one 2-D product (np.tensordot costs ~8 µs more)."""\n'
        "    return a.reshape(-1, a.shape[-1])\n"),
    "_onehot": (
        "def _onehot(z, like):\n"
        '    """The unit vectors of the class indices z, shaped and typed like the logits `like`."""\n'
        "    out = np.zeros_like(like)\n"
        "    np.put_along_axis(out, z[..., None], 1, axis=-1)\n"
        "    return out\n"),
}

_COMPOUND = (Plus, Minus, Neg, Hadamard, MatProd, BatchSum)


def _one_call(form: str) -> bool:
    """Whether a registry NumPy form is a single call np.f(…) (its first parenthesis closes at the end)."""
    if not form.startswith("np.") or "(" not in form:
        return False
    depth = 0
    for i, ch in enumerate(form[form.index("("):], form.index("(")):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return i == len(form) - 1
    return False


def blend(e) -> tuple[Node, Node, Node] | None:
    """(a, b, c) when e is (1 − a) ⊙ b + a ⊙ c in either order (a gate mixing two vectors), else None.

    It prints as b + a ⊙ (c − b): equal up to rounding, three element-wise operations where the equation as the
    cell writes it takes four (1 − a, two products, a sum), the form a hand-written GRU step uses."""
    if not isinstance(e, Plus) or len(e.args) != 2 or not all(isinstance(x, Hadamard) for x in e.args):
        return None
    for left, right in (e.args, e.args[::-1]):
        for i, f in enumerate(left.args):
            if not (isinstance(f, Minus) and isinstance(f.args[0], Ones)):
                continue
            a = f.args[1]
            if a not in right.args:
                continue
            rest_b = left.args[:i] + left.args[i + 1:]
            j = right.args.index(a)
            rest_c = right.args[:j] + right.args[j + 1:]
            if not rest_b or not rest_c:
                continue
            b = rest_b[0] if len(rest_b) == 1 else Hadamard(*rest_b)
            c = rest_c[0] if len(rest_c) == 1 else Hadamard(*rest_c)
            return a, b, c
    return None


def _split_gains(factors) -> tuple[list, list]:
    """(scalar factors, the other factors in order): gains (and 1 − α) commute with everything, so they lead."""
    return [f for f in factors if is_scalar(f)], [f for f in factors if not is_scalar(f)]


class KernelPrinter(NumPyPrinter):
    """NumPy code for IR nodes, rows = examples; `names` maps each vector (and loss symbol) to its array."""

    _default_settings = {**NumPyPrinter._default_settings, "names": {}, "shapes": {}}

    def __init__(self, settings=None):
        super().__init__(settings)
        self.primitives: set[str] = set()

    # -- plumbing ------------------------------------------------------------------------------

    def _module_format(self, fqn, register=True):
        """numpy.logaddexp -> np.logaddexp: kernels import numpy as np."""
        return "np." + fqn[len("numpy."):] if fqn.startswith("numpy.") else super()._module_format(fqn, register)

    def _name(self, key):
        names = self._settings["names"]
        if key not in names:
            raise SymrnnError(f"codegen: no array for {key} in this part of the kernel (a bug in symrnn: please report it)")
        return names[key]

    def _operand(self, e) -> str:
        """e as an operand of *, @ or a method call: parenthesised unless it is a name or a call."""
        s = self._print(e)
        return f"({s})" if isinstance(e, _COMPOUND) or (not isinstance(e, Node) and not e.is_Atom) else s

    def _is_matrix(self, e) -> bool:
        if isinstance(e, Transposed):
            return self._is_matrix(e.args[0])
        if isinstance(e, Diag):
            return True
        return isinstance(e, Mat) and not is_scalar(e) and len(self._settings["shapes"][e.name]) == 2

    def _unsupported(self, e):
        raise SymrnnError(f"codegen cannot print {printing.text(e)} as batched NumPy; the kernel supports affine cells "
                          f"(gains, one matrix per term) with elementwise activations")

    # -- vectors ---------------------------------------------------------------------------------

    def _print_Vec(self, e):
        return self._name(e)

    def _print_Mat(self, e):
        if self._is_matrix(e):
            self._unsupported(e)
        return e.name  # a bias vector (broadcast over rows) or a scalar gain

    def _print_Symbol(self, e):
        return self._name(e)

    def _print_Ones(self, e):
        return "1"

    def _print_Zeros(self, e):
        return "0"

    def _print_Num(self, e):
        return self._print(e.value)

    def _print_Neg(self, e):
        return f"-{self._operand(e.args[0])}"

    def _print_Plus(self, e):
        mixed = blend(e)
        if mixed:   # (1 − a) ⊙ b + a ⊙ c -> b + a ⊙ (c − b)
            a, b, c = mixed
            return f"{self._print(b)} + {self._print(Hadamard(a, Minus(c, b)))}"
        out = self._print(e.args[0])
        for a in e.args[1:]:
            out += f" - {self._operand(a.args[0])}" if isinstance(a, Neg) else f" + {self._print(a)}"
        return out

    def _print_Minus(self, e):
        a, b = e.args
        right = self._print(b)
        return f"{self._print(a)} - {f'({right})' if isinstance(b, (Plus, Minus)) else right}"

    def _print_Hadamard(self, e):
        return " * ".join(self._operand(a) for a in e.args)

    def _print_Square(self, e):
        return f"{self._operand(e.args[0])}**2"

    def _print_Map(self, e):
        """The registry's NumPy form of the function: {v} its argument, {o} the argument as an operand.

        A form that is more than one call (σ's 0.5 * np.tanh(0.5 * v) + 0.5) is parenthesised: it may be a factor."""
        form = e.function.numpy
        code = form.format(v=self._print(e.arg), o=self._operand(e.arg))
        return code if form == "{v}" or _one_call(form) else f"({code})"

    def _print_Softmax(self, e):
        lse = self._settings["names"].get(LogSumExp(e.args[0]))
        if lse is not None:   # lse(v) already computed: softmax(v) = exp(v − lse(v))
            return f"np.exp({self._print(e.args[0])} - {lse})"
        self.primitives.add("_softmax")
        return f"_softmax({self._print(e.args[0])})"

    def _print_OneHot(self, e):
        self.primitives.add("_onehot")
        return f"_onehot({self._print(e.args[0])}, {self._name('logits')})"

    def _print_LogSumExp(self, e):
        if e in self._settings["names"]:
            return self._settings["names"][e]
        self.primitives.add("_logsumexp")
        return f"_logsumexp({self._print(e.args[0])})"

    def _print_Pick(self, e):
        v, z = e.args
        return f"np.take_along_axis({self._print(v)}, {self._operand(z)}[..., None], axis=-1)"

    def _print_MatProd(self, e):
        """Gains first, then operators, then one vector: g A B v -> g * (v @ B.T @ A.T)."""
        gains, args = _split_gains(e.args)
        if not args:
            self._unsupported(e)
        *ops, v = args
        if self._is_matrix(v) or isinstance(v, Transposed):
            self._unsupported(e)
        out, compound = self._print(v), isinstance(v, _COMPOUND)
        for op in reversed(ops):
            if isinstance(op, Diag):
                out, compound = f"{self._operand(op.args[0])} * {f'({out})' if compound else out}", True
            elif isinstance(op, Mat) and self._is_matrix(op):
                out, compound = f"{f'({out})' if compound else out} @ {op.name}.T", True
            elif isinstance(op, Transposed) and isinstance(op.args[0], Mat) and self._is_matrix(op.args[0]):
                out, compound = f"{f'({out})' if compound else out} @ {op.args[0].name}", True
            else:
                self._unsupported(e)
        for g in reversed(gains):
            out, compound = f"{self._operand(g)} * {f'({out})' if compound else out}", True
        return out

    # -- sums over the batch (and time) ------------------------------------------------------------

    def _print_BatchSum(self, e):
        body, over_time = e.args[0], False
        if isinstance(body, SumOver):
            body, over_time = body.body, True
        axes = "(0, 1)" if over_time else "0"
        gains, args = _split_gains(body.args) if isinstance(body, MatProd) else ([], [body])
        if not args:  # Σ g: only a gain left
            self._unsupported(body)
        scale = "".join(f"{self._operand(g)} * " for g in gains)
        last = args[-1]
        if isinstance(last, Transposed) and not self._is_matrix(last):      # Σ u vᵀ: a matrix gradient
            u = args[0] if len(args) == 2 else MatProd(*args[:-1])
            if over_time:
                self.primitives.add("_rows")
            outer = (f"_rows({self._print(u)}).T @ _rows({self._print(last.args[0])})" if over_time
                     else f"{self._operand(u)}.T @ {self._operand(last.args[0])}")
            return f"{scale}({outer})" if scale else outer
        if isinstance(args[0], Transposed) and not self._is_matrix(args[0]):  # Σ uᵀ A v: a gain's gradient
            rest = args[1] if len(args) == 2 else MatProd(*args[1:])
            return f"{scale}np.sum({self._operand(args[0].args[0])} * {self._operand(rest)})"
        vec = args[0] if len(args) == 1 else MatProd(*args)                   # Σ v: a bias gradient
        return f"{scale}{self._operand(vec)}.sum(axis={axes})"

    # -- writing into a buffer -----------------------------------------------------------------------

    def print_into(self, e, out: str) -> str | None:
        """e written into the array `out` by its outermost operation, None when it has none to write with:
        u ⊙ v -> np.multiply(u, v, out=out), u + v -> np.add(…), u − v -> np.subtract(…),
        W v -> np.matmul(v, W.T, out=out) (no temporary, no copy)."""
        def rest(args):
            return args[0] if len(args) == 1 else type(e)(*args)

        if isinstance(e, Hadamard):
            *first, last = e.args
            return f"np.multiply({self._print(rest(first))}, {self._print(last)}, {out})"
        mixed = blend(e)
        if mixed:   # (1 − a) ⊙ b + a ⊙ c -> b + a ⊙ (c − b)
            a, b, c = mixed
            return f"np.add({self._print(b)}, {self._print(Hadamard(a, Minus(c, b)))}, {out})"
        if isinstance(e, Plus):
            *first, last = e.args
            ufunc, last = ("np.subtract", last.args[0]) if isinstance(last, Neg) else ("np.add", last)
            return f"{ufunc}({self._print(rest(first))}, {self._print(last)}, {out})"
        if isinstance(e, Minus):
            return f"np.subtract({self._print(e.args[0])}, {self._print(e.args[1])}, {out})"
        if isinstance(e, Map) and len(e.function.numpy_out) == 1:   # f(v) -> the registry's one in-place call
            return e.function.numpy_out[0].format(v=self._print(e.arg), out=out)
        if isinstance(e, MatProd) and len(e.args) == 2 and self._is_matrix(e.args[0]) and not self._is_matrix(e.args[1]):
            op, v = e.args   # W v -> v @ W.T, Wᵀ v -> v @ W: one GEMM into out
            if isinstance(op, Diag) or (isinstance(op, Transposed) and not isinstance(op.args[0], Mat)):
                return None
            weights = op.args[0].name if isinstance(op, Transposed) else f"{op.name}.T"
            return f"np.matmul({self._print(v)}, {weights}, {out})"
        return None


    def print_steps(self, e, out: str, scratch) -> list[str] | None:
        """e written into `out` as a list of calls, each element-wise operand that is itself a sum, difference or
        product computed first into the next free row of `scratch` (names of (B, k) buffers): no temporary array
        per call. None when e's outermost node has no ufunc (as print_into)."""
        calls: list[str] = []
        free = iter(scratch)

        def staged(x):
            into = next(free, None) if isinstance(x, (Plus, Minus, Hadamard, Neg)) and self._elementwise(x) else None
            if into is None:   # a name, a call, or no scratch row left: printed as an expression
                return self._print(x)
            calls.append(self._step(x, into, staged))
            return into

        last = self._step(e, out, staged) if isinstance(e, (Plus, Minus, Hadamard)) else self.print_into(e, out)
        return None if last is None else calls + [last]

    def _elementwise(self, e) -> bool:
        """Whether e is built of vectors, biases, numbers, sums, differences, negations and products ⊙ only."""
        if isinstance(e, (Plus, Minus, Hadamard, Neg)):
            return all(self._elementwise(a) for a in e.args)
        return isinstance(e, (Vec, Num, Ones)) or (isinstance(e, Mat) and not self._is_matrix(e))

    def _step(self, e, out: str, staged) -> str:
        """One ufunc call writing e's outermost operation into out, its operands through `staged`."""
        mixed = blend(e)
        if mixed:   # (1 − a) ⊙ b + a ⊙ c -> b + a ⊙ (c − b)
            a, b, c = mixed
            return f"np.add({staged(b)}, {staged(Hadamard(a, Minus(c, b)))}, {out})"
        if isinstance(e, Neg):
            return f"np.negative({staged(e.args[0])}, {out})"
        if isinstance(e, Minus):
            return f"np.subtract({staged(e.args[0])}, {staged(e.args[1])}, {out})"
        *first, last = e.args
        rest = first[0] if len(first) == 1 else type(e)(*first)
        if isinstance(e, Hadamard):
            return f"np.multiply({staged(rest)}, {staged(last)}, {out})"
        ufunc, last = ("np.subtract", last.args[0]) if isinstance(last, Neg) else ("np.add", last)
        return f"{ufunc}({staged(rest)}, {staged(last)}, {out})"


def kernel_code(expr, names: dict, shapes: dict) -> tuple[str, set[str]]:
    """expr as batched NumPy code, with the primitives (`_softmax`, …) the code calls."""
    p = KernelPrinter({"names": names, "shapes": shapes})
    return p.doprint(expr), p.primitives


def kernel_code_into(expr, out: str, names: dict, shapes: dict) -> tuple[str | None, set[str]]:
    """expr as batched NumPy code writing into the array `out` (None when its outermost node has no ufunc)."""
    p = KernelPrinter({"names": names, "shapes": shapes})
    return p.print_into(expr, out), p.primitives


def kernel_code_steps(expr, out: str, scratch, names: dict, shapes: dict) -> tuple[list[str] | None, set[str]]:
    """expr as calls writing into `out`, its compound operands staged in the `scratch` rows (KernelPrinter.print_steps)."""
    p = KernelPrinter({"names": names, "shapes": shapes})
    return p.print_steps(expr, out, scratch), p.primitives


__all__ = ["KernelPrinter", "BatchSum", "LogSumExp", "Pick", "PRIMITIVES", "kernel_code", "kernel_code_into",
           "kernel_code_steps"]
