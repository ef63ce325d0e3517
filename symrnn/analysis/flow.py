"""Gradient flow through time: ‖∂h_T/∂h_s‖ for every lag T − s, from the derived Jacobian-product form.

The matrix derivation's Jacobian-product form (`derivation.matrix.jacobian_product`) is evaluated at
numeric weights along one run of random inputs:

    ∂s_T/∂s_s = Π_{i=s+1}^{T} ∂s_i/∂s_{i−1}          (s = h, or the stacked (h, c) of an LSTM)

For an Elman-shaped hop ∂h_i/∂h_{i−1} = diag(f'(a_i)) W the derivation also gives a bound that reads
the weights only (Bengio et al. 1994; Pascanu et al. 2013):

    ‖∂h_T/∂h_s‖₂ ≤ Π_i ‖diag(f'(a_i))‖₂ ‖W‖₂ ≤ (γ σ_max(W))^{T−s},    γ = sup |f'|

so a contraction (γ σ_max(W) < 1, the lecture's stability condition |f'(h*)| < 1) makes gradients
vanish; expansion lets them explode. Saturation (|f'(a_i)| ≪ γ) pulls the norm below the bound.
Other cells get the run's own bound Π_i ‖∂s_i/∂s_{i−1}‖₂ (submultiplicativity), which always holds.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np

from .. import naming
from ..certification.matrix import forward, shapes
from ..derivation.matrix import jacobian_product
from ..errors import SymrnnError
from ..files import read_bytes
from ..ir.evaluate import evaluate, float_backend
from ..derivation.program import primal
from ..ir.nodes import Block, Diag, Map, Mat, MatProd, Minus, Neg, Node, Ones, Plus, Vec, vec
from ..ir.primitives import FUNCTIONS
from ..ir.rules import derivative_of
from ..model.spec import ModelSpec
from . import pictures

MAX_STEPS = 10_000            # T: the run and its T Jacobians stay a few seconds' work
MAX_SIZE = 256                # k, m, o: a hop is (k·states)² and T of them are multiplied
MAX_WEIGHTS = 256 << 20       # bytes of a weights file
TOLERANCE = 0.05              # a change of less than 5 % per step is called stable
DEFAULT_STEPS = 50


# -- the bound the derivation gives ---------------------------------------------------------------

@dataclass(frozen=True)
class ElmanShape:
    """A hop diag(f'(·)) W: the f' node, the recurrent weight's name, γ = sup|f'|."""

    fprime: Node
    weight: str
    gamma: float
    function: str


def elman_shape(spec: ModelSpec, hop: Node, idx) -> ElmanShape | None:
    """The hop's diag(f'(·)) W structure when it has one (W alone: f' = 1 on the path), else None."""
    if len(spec.cell.states) != 1:
        return None
    if isinstance(hop, Mat):
        d, w, name, gamma = Ones(), hop, "identity", 1.0
    elif isinstance(hop, MatProd) and len(hop.args) == 2 and isinstance(hop.args[0], Diag) \
            and isinstance(hop.args[1], Mat):
        d, w = hop.args[0].args[0], hop.args[1]
        found = [m.fname for m, fprime in _derivatives(spec, idx) if fprime == d]
        if not found or FUNCTIONS[found[0]].bounded is None:
            return None
        name, gamma = found[0], float(FUNCTIONS[found[0]].bounded)
    else:
        return None
    return ElmanShape(d, w.name, gamma, name) if w.name in spec.cell.state_params else None


def hop_bound(spec: ModelSpec, hop: Node, idx, params: dict, dims) -> float | None:
    """β with ‖∂s_i/∂s_{i−1}‖₂ ≤ β at every step, read off the hop's structure and the weights alone.

        ‖A + B‖ ≤ ‖A‖ + ‖B‖,  ‖A B‖ ≤ ‖A‖ ‖B‖,  ‖diag(f'(·))‖ ≤ γ_f = sup|f'|,  a part free of the run's vectors:
        its own norm at the weights (W: σ_max(W); (1 − α) I: |1 − α|).
    Elman: β = γ σ_max(W). None when some factor has no such bound (a gate's value, a state's own entries).
    """
    slopes = {fprime: FUNCTIONS[m.fname].bounded for m, fprime in _derivatives(spec, idx)}
    k = dims[0]
    env = _point(spec, params, dims, np.zeros((0, dims[1])))

    def bound(x: Node) -> float | None:
        if not x.atoms(Vec):
            value = np.asarray(evaluate(x, env, float_backend(), k), dtype=float)
            return float(abs(value)) if value.ndim == 0 else float(np.linalg.norm(value, 2))
        if isinstance(x, Diag):
            return slopes.get(x.args[0])
        if isinstance(x, Neg):
            return bound(x.args[0])
        parts = [bound(a) for a in x.args]
        if any(b is None for b in parts):
            return None
        if isinstance(x, MatProd):
            return float(np.prod(parts))
        if isinstance(x, (Plus, Minus)):
            return float(sum(parts))
        return None

    return None if isinstance(hop, Block) else bound(hop)


def diagonal_blocks(spec: ModelSpec, hop: Node) -> dict:
    """state -> v where the state's own block of a block hop is diag(v): an additive path (LSTM: ∂c_i/∂c_{i−1} = diag(f_i))."""
    if not isinstance(hop, Block):
        return {}
    return {state: hop.rows[j][j].args[0] for j, state in enumerate(spec.cell.states) if isinstance(hop.rows[j][j], Diag)}


def _derivatives(spec: ModelSpec, idx):
    """(f(·), f' as the derivation writes it at step idx) for every activation in the step."""
    t = naming.t
    for e in primal(spec.cell).equations:
        for m in e.rhs.atoms(Map):
            out = vec(e.name, t) if m == e.rhs else m
            for square in (False, True):     # 1 − h ⊙ h, or 1 − h² as the diag forms write it
                yield m, derivative_of(m, out, square).xreplace({t: idx})


# -- weights ---------------------------------------------------------------------------------------

def kernel_shapes(spec: ModelSpec, dims) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape as the kernels hold it (biases (k,), gains ()), and h0 (c0) as (k,)."""
    size = dict(zip("kmo", dims))
    out = {p.name: tuple(size[d] for d in p.shape) for p in spec.cell.params}
    out.update({name: (size["k"],) for name in spec.cell.initial})
    return out


def random_params(spec: ModelSpec, dims, radius: float, seed: int) -> dict[str, np.ndarray]:
    """Entries uniform in ±1/√k (PyTorch's RNN default); every k×k weight R·Q, Q a random orthogonal matrix,
    so its spectral radius and its largest singular value are both R."""
    check_radius(radius)
    k = dims[0]
    rng = np.random.default_rng(seed)
    out = {}
    for p in spec.cell.params:
        shape = kernel_shapes(spec, dims)[p.name]
        if p.shape == ("k", "k"):
            q, r = np.linalg.qr(rng.standard_normal((k, k)))
            out[p.name] = radius * q * np.sign(np.diag(r))     # the sign fix makes Q Haar-distributed
        else:
            out[p.name] = rng.uniform(-1 / math.sqrt(k), 1 / math.sqrt(k), shape)
    return out


def check_radius(radius) -> float:
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) or radius <= 0:
        raise SymrnnError(f"--radius {radius!r}: the recurrent spectral radius R must be a finite number > 0")
    return float(radius)


def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= MAX_STEPS:
        raise SymrnnError(f"--steps {steps!r}: gradient flow needs a whole number of steps from 2 to {MAX_STEPS}")
    return steps


def infer_dims(spec: ModelSpec, params: dict, where: str) -> tuple[int, int, int]:
    """(k, m, o) read off the arrays in parameter order; each size from the first parameter that has it."""
    size: dict[str, int] = {}
    for p in spec.cell.params:
        if p.name not in params:
            raise SymrnnError(f"{where}: missing {p.name} ({p.role}, shape ({', '.join(p.shape)}))"
                              if p.shape else f"{where}: missing {p.name} ({p.role}, a scalar)")
        shape = np.shape(params[p.name])
        if len(shape) == len(p.shape):
            for letter, n in zip(p.shape, shape):
                size.setdefault(letter, n)
    return tuple(size.get(letter, 1) for letter in "kmo")


def check_params(spec: ModelSpec, params: dict, where: str = "params") -> tuple[dict, tuple[int, int, int]]:
    """The parameters (and optional h0, c0) as float64 arrays of the kernel's shapes, and (k, m, o); else one line."""
    dims = infer_dims(spec, params, where)
    expected = kernel_shapes(spec, dims)
    unknown = sorted(set(params) - set(expected))
    if unknown:
        raise SymrnnError(f"{where}: unknown key {unknown[0]!r}; the {spec.name} cell's parameters are "
                          f"{', '.join(spec.params)} (and optionally {', '.join(spec.cell.initial)})")
    out = {}
    for name, value in params.items():
        a = np.asarray(value)
        if a.shape != expected[name]:
            raise SymrnnError(f"{where}: {name} has shape {a.shape}, expected {expected[name]}")
        if a.dtype.kind not in "iuf":
            raise SymrnnError(f"{where}: {name} holds {a.dtype} values, expected real numbers")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise SymrnnError(f"{where}: {name} has entries that are not finite numbers")
        out[name] = a
    if max(dims) > MAX_SIZE:
        raise SymrnnError(f"{where}: sizes (k, m, o) = {dims} above {MAX_SIZE} are not supported")
    return out, dims


def load_weights(path) -> dict[str, np.ndarray]:
    """The arrays of a .npz file (np.savez of a kernel's params), read without pickles."""
    data = read_bytes(path, "weights file", MAX_WEIGHTS)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except Exception as e:      # noqa: BLE001  (zipfile, pickle refusal, bad header: all one line for the user)
        raise SymrnnError(f"cannot read weights file {str(path)!r}: not a NumPy .npz archive of arrays "
                          f"({type(e).__name__})") from None


# -- the run --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Flow:
    """The norms ‖∂s_T/∂s_s‖₂ per lag T − s = 1 … (each state s of the cell), beside the bound.

    Arrays are indexed by lag − 1 and stop before `overflow` (the first lag whose product leaves float64).
    """

    spec: ModelSpec
    steps: int
    dims: tuple[int, int, int]
    seed: int
    radius: float | None                   # None when the weights were given
    form: tuple[Node, Node]                # (∂s_t/∂s_s, its Π): the derived form that was evaluated
    lags: np.ndarray
    norms: dict                            # state -> ‖∂state_T/∂state_s‖₂
    step_norms: np.ndarray                 # ‖∂s_i/∂s_{i−1}‖₂ in lag order, i = T, T − 1, …
    run_bound: np.ndarray                  # Π of the last `lag` step norms
    shape: ElmanShape | None
    sigma: float | None                    # σ_max(W) for an Elman-shaped hop
    bound: np.ndarray | None               # β^lag, β = beta (Elman: (γ σ_max(W))^lag)
    gammas: np.ndarray | None              # max_j |f'(a_i)_j|, i = 1 … T: what saturation leaves of γ
    beta: float | None = None              # the per-step bound from the hop's structure (Elman: γ σ_max(W))
    paths: dict = field(default_factory=dict)    # state -> max_j v_i[j] when its own hop block is diag(v_i) (LSTM: f_i)
    mean_slope: float | None = None        # |f'(a_i)_j| averaged over units and steps: how saturated the run is
    overflow: int | None = None
    forward_overflow: int | None = None    # the first step whose state is not finite
    rates: dict = field(default_factory=dict)
    verdicts: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rates[naming.STATE]

    @property
    def verdict(self) -> str:
        return self.verdicts[naming.STATE]

    @property
    def bound_rate(self) -> float | None:
        return self.beta

    @property
    def saturated_rate(self) -> float | None:
        """(Π_i max|f'(a_i)|)^{1/T} σ_max(W): the bound's rate with the run's own f' in place of γ."""
        if self.gammas is None or not np.all(self.gammas > 0):
            return None if self.gammas is None else 0.0
        return float(np.exp(np.mean(np.log(self.gammas)))) * self.sigma

    def _repr_png_(self):
        """Jupyter shows the flow as its figure when matplotlib is installed (else as text)."""
        if not pictures.available():
            return None
        return pictures.render(pictures.flow_figure(self), "png")

    def __repr__(self) -> str:
        return (f"<Flow of {self.spec.name}, T = {self.steps}, (k, m, o) = {self.dims}: {self.verdict}, "
                f"rate {self.rate:.4g} per step>")


def fit_rate(lags: np.ndarray, norms: np.ndarray) -> float:
    """exp of the least-squares slope of log‖·‖ against the lag (over the lags with a positive norm)."""
    keep = norms > 0
    if keep.sum() < 2:
        return 0.0 if keep.sum() < len(norms) else 1.0
    slope = np.polyfit(lags[keep].astype(float), np.log(norms[keep]), 1)[0]
    return float(np.exp(slope))


def verdict(rate: float) -> str:
    if rate < 1 - TOLERANCE:
        return "vanishing"
    if rate > 1 + TOLERANCE:
        return "exploding"
    return "stable"


def _point(spec: ModelSpec, params: dict, dims, xs: np.ndarray) -> dict:
    """The forward pass's input: the parameters as the IR holds them (vectors as columns), h0, x_t."""
    ir_shapes = shapes(spec, dims)
    point = {}
    for name, shape in ir_shapes.items():
        value = params.get(name, np.zeros(shape))
        point[name] = float(value) if shape == () else np.asarray(value, dtype=float).reshape(shape)
    for t, x in enumerate(xs, start=1):
        point[(naming.INPUT, t)] = x.reshape(-1, 1)
    return point


def flow(spec: ModelSpec, params: dict | None = None, steps: int = DEFAULT_STEPS, *, dims="scalar",
         radius: float = 1.0, seed: int = 0, inputs=None) -> Flow:
    """‖∂h_T/∂h_s‖₂ (and ‖∂c_T/∂c_s‖₂ for an LSTM) for every lag, from the derived Jacobian-product form.

    params: the kernel's parameters by name (np.savez of `init_params` or `from_torch`), optionally h0 (c0);
    None draws them (seed) with every k×k weight of spectral radius `radius`, at dims = "scalar" or (k, m, o).
    inputs: (T, m) or None for x_t ~ N(0, 1) from `seed`.
    """
    steps = check_steps(steps)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise SymrnnError(f"seed {seed!r}: expected a whole number from 0 to 2^63 - 1")
    if params is None:
        dims = (1, 1, 1) if dims == "scalar" else tuple(dims)
        if len(dims) != 3 or any(isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SIZE
                                 for n in dims):
            raise SymrnnError(f"--dims {','.join(map(str, dims))}: expected 'scalar' or three sizes from 1 to {MAX_SIZE}")
        given_radius: float | None = check_radius(radius)
        params, dims = check_params(spec, random_params(spec, dims, radius, seed))
    else:
        params, dims = check_params(spec, params)
        given_radius = None
    with np.errstate(over="ignore", invalid="ignore"):
        env = run(spec, params, dims, steps, inputs, seed)
        return _measure(spec, env, params, steps, dims, seed, given_radius)


def run(spec: ModelSpec, params: dict, dims, steps: int, inputs=None, seed: int = 0) -> dict:
    """The forward pass by the cell's own equations: every vector of every step, keyed (role, t)."""
    k, m, _ = dims
    xs = np.random.default_rng([seed, 1]).standard_normal((steps, m)) if inputs is None \
        else np.asarray(inputs, dtype=float)
    if xs.shape != (steps, m):
        raise SymrnnError(f"inputs have shape {xs.shape}, expected {(steps, m)}")
    return forward(spec, _point(spec, params, dims, xs), steps, float_backend(), k)


def products(spec: ModelSpec, env: dict, k: int, steps: int):
    """(lag, ∂s_{T−lag+1}/∂s_{T−lag}, ∂s_T/∂s_{T−lag}) for lag = 1 … T: the derived Π evaluated one factor at a time.

    The hop (the Π's body) is evaluated at i = T, T − 1, …, and multiplied on the right, as the Π's largest
    index stands leftmost; only the running product is kept, so long runs need no T matrices in memory.
    """
    prod = jacobian_product(spec)[1]
    hop, (idx, _, _) = prod.body, prod.limits
    n = k * len(spec.cell.states)
    P = np.eye(n)
    for lag in range(1, steps + 1):
        J = np.asarray(evaluate(hop, env, float_backend(), k, {idx: steps - lag + 1}), dtype=float)
        J = np.broadcast_to(J, (n, n)) if J.ndim == 0 else J.reshape(n, n)
        P = P @ J
        yield lag, J, P


def _measure(spec, env, params, steps, dims, seed, radius) -> Flow:
    k = dims[0]
    form = jacobian_product(spec)
    prod = form[1]
    hop, (idx, _, _) = prod.body, prod.limits
    backend = float_backend()
    states = spec.cell.states
    forward_overflow = next((t for t in range(1, steps + 1)
                             if not all(np.all(np.isfinite(env[(s, t)])) for s in states)), None)
    norms = {s: [] for s in states}
    step_norms, overflow = [], None
    for lag, J, P in products(spec, env, k, steps):
        step_norms.append(float(np.linalg.norm(J, 2)) if np.all(np.isfinite(J)) else math.inf)
        if not np.all(np.isfinite(P)):
            overflow = lag
            break
        for j, s in enumerate(states):
            norms[s].append(float(np.linalg.norm(P[j * k:(j + 1) * k, j * k:(j + 1) * k], 2)))
    done = len(norms[states[0]])
    lags = np.arange(1, done + 1)
    norms = {s: np.array(v) for s, v in norms.items()}
    step_norms = np.array(step_norms)
    with np.errstate(over="ignore"):
        run_bound = np.cumprod(step_norms)[:done]
    shape = elman_shape(spec, hop, idx)
    beta = hop_bound(spec, hop, idx, params, dims)
    bound = None
    if beta is not None:
        with np.errstate(over="ignore"):
            bound = beta ** lags.astype(float)
    sigma = gammas = mean_slope = None
    if shape is not None:
        sigma = float(np.linalg.norm(np.atleast_2d(params[shape.weight]), 2))
        slopes = [np.abs(np.broadcast_to(evaluate(shape.fprime, env, backend, k, {idx: i}), (k, 1)))
                  for i in range(1, steps + 1)]
        gammas = np.array([float(np.max(v)) for v in slopes])
        mean_slope = float(np.mean(slopes))
    paths = {state: np.array([float(np.max(np.abs(evaluate(v, env, backend, k, {idx: i})))) for i in range(1, steps + 1)])
             for state, v in diagonal_blocks(spec, hop).items()}
    rates = {s: fit_rate(lags, v) for s, v in norms.items()}
    if overflow is not None and done < 2:
        rates = {s: math.inf for s in states}
    verdicts = {s: ("exploding" if overflow is not None else verdict(r)) for s, r in rates.items()}
    return Flow(spec, steps, dims, seed, radius, form, lags, norms, step_norms, run_bound, shape, sigma, bound, gammas,
                beta, paths, mean_slope, overflow, forward_overflow, rates, verdicts)


__all__ = ["Flow", "flow", "run", "products", "load_weights", "check_params", "random_params", "kernel_shapes", "fit_rate", "verdict",
           "elman_shape", "hop_bound", "TOLERANCE", "MAX_STEPS", "DEFAULT_STEPS"]
