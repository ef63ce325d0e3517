"""Generated NumPy kernels: against a hand-written BPTT, central differences and PyTorch; padding, dtypes, errors, staleness."""
import ast
import re
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symrnn
from numpy_bptt_batched import batched_loss_and_grads
from symrnn import naming
from symrnn.kernels.codegen import HEADER, Statement, _rebound, catalogue_specs, kernel_source, per_workspace
from symrnn.errors import SymrnnError

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"
REFRESH = "symrnn codegen --all -o generated"
ALL_SPECS = {s.name: s for s in catalogue_specs()}
#: This file tests the Elman kernels; the gated cells' kernels are tests/test_gated_kernels.py's.
SPECS = {name: s for name, s in ALL_SPECS.items() if s.cell.name == "elman"}
COMBOS = sorted(SPECS)
NAMES = ("W", "U", "b", "V", "c", "h0")


def file_name(spec):
    return naming.kernel_module(spec.cell.name, spec.cell.activation, spec.loss, spec.output)


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"kernel_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """Every catalogue kernel, rendered afresh (not the committed copies) and imported."""
    out = tmp_path_factory.mktemp("kernels")
    mods = {}
    for name, spec in SPECS.items():
        path = out / file_name(spec)
        path.write_text(kernel_source(spec), encoding="utf-8")
        mods[name] = load(path)
    return mods


def point(spec, T=6, B=4, m=3, k=5, o=4, seed=0, dtype=np.float64):
    """Random parameters, inputs, targets, h0 and lengths (one full, one of length 1)."""
    rng = np.random.default_rng(seed)
    p = {"W": rng.normal(0, 0.6 / np.sqrt(k), (k, k)), "U": rng.normal(0, 0.6 / np.sqrt(m), (k, m)),
         "b": rng.normal(0, 0.3, k), "V": rng.normal(0, 0.6 / np.sqrt(k), (o, k)), "c": rng.normal(0, 0.3, o)}
    X = rng.normal(0, 1, (T, B, m))
    h0 = rng.normal(0, 0.5, (B, k))
    lengths = np.array([T, 3, 1, T - 1][:B])
    zshape = (T, B) if spec.output == "every" else (B,)
    if spec.loss == "ce":
        Z = rng.integers(0, o, zshape)
    elif spec.loss == "bce":
        Z = rng.integers(0, 2, zshape + (o,)).astype(float)
    else:
        Z = rng.normal(0, 1, zshape + (o,))
    cast = {n: v.astype(dtype) for n, v in p.items()}
    return cast, X.astype(dtype), (Z if spec.loss == "ce" else Z.astype(dtype)), h0.astype(dtype), lengths


# -- correctness ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(GENERATED.glob("*.py")), ids=lambda p: p.stem)
def test_every_kernel_runs_without_a_warning(path):
    """No call a kernel makes warns (NumPy deprecates ways of calling, e.g. np.maximum's output by position: a
    warning today, an error later), in float64 and float32, with padding and with the training options."""
    import warnings

    k = load(path)
    rng = np.random.default_rng(0)
    T, B, m, n, o = 5, 3, 2, 4, 3
    every = k.MODEL["output"] == "every"
    zshape = (T, B) if every else (B,)
    for dtype in (np.float64, np.float32):
        p = k.init_params(m, n, o, dtype=dtype)
        X = rng.normal(size=(T, B, m)).astype(dtype)
        Z = (rng.integers(0, o, zshape) if k.MODEL["loss"] == "ce"
             else rng.integers(0, 2, zshape + (o,)).astype(dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            k.forward(p, X, lengths=np.array([T, 2, 1]))
            k.loss_and_grads(p, X, Z, lengths=np.array([T, 2, 1]), truncate=2, clip_norm=1.0, clip_value=0.5,
                             check_finite=True)


@pytest.mark.parametrize("combo", COMBOS)
def test_matches_hand_written_bptt_with_lengths(kernels, combo):
    spec, k = SPECS[combo], kernels[combo]
    p, X, Z, h0, lengths = point(spec)
    for lens in (lengths, None):
        L, g = k.loss_and_grads(p, X, Z, h0, lens)
        want_L, want = batched_loss_and_grads(p, X, Z, h0, np.full(4, 6) if lens is None else lens,
                                              spec.cell.activation, spec.loss, spec.output)
        assert set(g) == set(NAMES) and k.PARAMS == NAMES[:-1]
        np.testing.assert_allclose(L, want_L, rtol=1e-12)
        for name in NAMES:
            assert g[name].shape == (h0 if name == "h0" else p[name]).shape
            np.testing.assert_allclose(g[name], want[name], rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("combo", COMBOS)
def test_central_differences(kernels, combo):
    spec, k = SPECS[combo], kernels[combo]
    p, X, Z, h0, lengths = point(spec, T=4, B=3, m=2, k=3, o=3, seed=1)
    _, g = k.loss_and_grads(p, X, Z, h0, lengths)
    args = {**p, "h0": h0}
    eps = 1e-6
    for name in NAMES:
        num = np.zeros_like(args[name])
        for idx in np.ndindex(args[name].shape):
            plus, minus = ({n: v.copy() for n, v in args.items()} for _ in range(2))
            plus[name][idx] += eps
            minus[name][idx] -= eps
            lp = k.loss_and_grads({n: plus[n] for n in k.PARAMS}, X, Z, plus["h0"], lengths)[0]
            lm = k.loss_and_grads({n: minus[n] for n in k.PARAMS}, X, Z, minus["h0"], lengths)[0]
            num[idx] = (lp - lm) / (2 * eps)
        scale = max(np.abs(num).max(), 1e-3)
        assert np.abs(g[name] - num).max() / scale < 1e-7, (name, g[name], num)


@pytest.mark.parametrize("combo", COMBOS)
def test_padding_changes_nothing(kernels, combo):
    spec, k = SPECS[combo], kernels[combo]
    p, X, Z, h0, lengths = point(spec, seed=2)
    L, g = k.loss_and_grads(p, X, Z, h0, lengths)
    Y, _ = k.forward(p, X, h0, lengths)
    pad = np.arange(X.shape[0])[:, None] >= lengths[None, :]          # (T, B): steps at or past lengths[i]
    X2 = X.copy()
    X2[pad] = np.nan                                                   # garbage of any kind
    Z2 = Z.copy()
    if spec.output == "every":
        Z2[pad] = -1 if spec.loss == "ce" else np.inf                  # even an invalid class index
    L2, g2 = k.loss_and_grads(p, X2, Z2, h0, lengths)
    Y2, _ = k.forward(p, X2, h0, lengths)
    assert L2 == pytest.approx(L, rel=1e-14)
    for name in NAMES:
        np.testing.assert_allclose(g2[name], g[name], rtol=1e-13, atol=1e-15, err_msg=name)
    np.testing.assert_array_equal(Y2[~pad], Y[~pad])


@pytest.mark.parametrize("combo", ["elman_tanh_mse_every", "elman_relu_ce_last", "elman_sigmoid_bce_every"])
def test_float32_in_float32_out(kernels, combo):
    spec, k = SPECS[combo], kernels[combo]
    p64, X64, Z64, h064, lengths = point(spec)
    p, X, Z, h0, _ = point(spec, dtype=np.float32)
    Y, cache = k.forward(p, X, h0, lengths)
    L, g = k.loss_and_grads(p, X, Z, h0, lengths)
    assert Y.dtype == np.float32 and cache["H"].dtype == np.float32 and np.asarray(L).dtype == np.float32
    assert all(v.dtype == np.float32 for v in g.values())
    L64, g64 = k.loss_and_grads(p64, X64, Z64, h064, lengths)
    assert float(L) == pytest.approx(L64, rel=1e-4)
    for name in NAMES:
        np.testing.assert_allclose(g[name], g64[name], rtol=2e-3, atol=2e-4, err_msg=name)
    params32 = k.init_params(3, 5, 4, dtype=np.float32, seed=4)
    assert all(v.dtype == np.float32 for v in params32.values())


def test_defaults_are_zero_state_and_full_lengths(kernels):
    spec, k = SPECS["elman_tanh_ce_every"], kernels["elman_tanh_ce_every"]
    p, X, Z, h0, _ = point(spec)
    L, g = k.loss_and_grads(p, X, Z)
    L2, g2 = k.loss_and_grads(p, X, Z, np.zeros_like(h0), np.full(X.shape[1], X.shape[0]))
    assert L == L2 and all(np.array_equal(g[n], g2[n]) for n in NAMES)


def test_init_params_contract(kernels):
    k = kernels["elman_tanh_mse_every"]
    p = k.init_params(3, 5, 2)
    assert {n: v.shape for n, v in p.items()} == {"W": (5, 5), "U": (5, 3), "b": (5,), "V": (2, 5), "c": (2,)}
    assert all(v.dtype == np.float64 for v in p.values()) and np.abs(p["W"]).max() <= 1 / np.sqrt(5)
    np.testing.assert_array_equal(k.init_params(3, 5, 2, seed=0)["W"], p["W"])
    assert not np.array_equal(k.init_params(3, 5, 2, seed=1)["W"], p["W"])
    Y, cache = k.forward(p, np.zeros((7, 2, 3)))
    assert Y.shape == (7, 2, 2) and cache["H"].shape == (8, 2, 5)


# -- bad input: ValueError naming the argument and the expected shape -------------------------------

def _bad_cases(spec):
    p, X, Z, h0, lengths = point(spec)
    W_bad = {**p, "W": p["W"][:, :4]}
    cases = [
        (({"W": p["W"]}, X, Z), "params"),
        ((W_bad, X, Z), "params['W']: expected shape (k, k) = (5, 5), got (5, 4)"),
        (({**p, "U": p["U"].astype(int)}, X, Z), "params['U']"),
        ((p, X[0], Z), "X: expected shape (T, B, m), got (4, 3)"),
        ((p, X[..., :2], Z), "params['U']: expected shape (k, m) = (5, 2), got (5, 3)"),
        ((p, X.astype(int), Z), "X: expected a floating-point"),
        ((p, X, Z, h0[:, :3]), "h0: expected shape (B, k) = (4, 5), got (4, 3)"),
        ((p, X, Z, h0, lengths[:3]), "lengths: expected an int array of shape (4,)"),
        ((p, X, Z, h0, lengths.astype(float)), "lengths"),
        ((p, X, Z, h0, np.array([0, 1, 1, 1])), "lengths: expected 1 <= lengths[i] <= T = 6"),
        ((p, X, Z, h0, np.array([7, 1, 1, 1])), "lengths: expected 1 <= lengths[i] <= T = 6"),
        ((p, X, Z[..., :1] if spec.loss != "ce" else Z[:1]), "Z: expected"),
    ]
    if spec.loss == "ce":
        cases += [((p, X, Z.astype(float)), "Z: expected int class indices"),
                  ((p, X, Z + 4), "Z: expected class indices in 0..3")]
    return cases


@pytest.mark.parametrize("combo", ["elman_tanh_mse_every", "elman_relu_ce_every", "elman_tanh_bce_last"])
def test_bad_input_raises_value_error_naming_the_argument(kernels, combo):
    k = kernels[combo]
    for args, message in _bad_cases(SPECS[combo]):
        with pytest.raises(ValueError) as e:
            k.loss_and_grads(*args)
        assert message in str(e.value), (message, str(e.value))
    with pytest.raises(ValueError, match="n_hidden"):
        k.init_params(3, 0, 2)
    with pytest.raises(ValueError, match="dtype"):
        k.init_params(3, 4, 2, dtype=np.int32)


# -- the module itself ------------------------------------------------------------------------------

STDLIB = set(sys.stdlib_module_names)


@pytest.mark.parametrize("path", sorted(GENERATED.glob("*.py")), ids=lambda p: p.stem)
def test_module_imports_only_numpy_and_stdlib(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= STDLIB | {"numpy"}, imported
    assert "symrnn" not in imported
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER
    assert "/work" not in text and "/tmp" not in text and "/home" not in text
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"init_params", "forward", "loss_and_grads"} <= names


def test_generated_kernels_are_up_to_date():
    """The committed kernels are exactly what symrnn prints today; refresh them with the command in the message."""
    want = {file_name(spec): kernel_source(spec) for spec in ALL_SPECS.values()}
    stale = [name for name, text in want.items()
             if not (GENERATED / name).is_file() or (GENERATED / name).read_text(encoding="utf-8") != text]
    extra = sorted(p.name for p in GENERATED.glob("*.py") if p.name not in want)
    assert not stale and not extra, (f"generated/ is stale ({', '.join(stale + extra)}); refresh it from the "
                                     f"repository root with: {REFRESH}  (and delete files no catalogue model names)")


def test_source_is_reproducible_and_reads_like_the_derivation():
    spec = symrnn.cells.elman()
    text = kernel_source(spec)
    assert text == kernel_source(spec)
    assert "symrnn codegen --cell elman --activation tanh --loss mse --output every" in text
    assert "#   δ_t = (1 - h_t ⊙ h_t) ⊙ (Vᵀ g_t + Wᵀ δ_{t+1})" in text and "#   δ_{T+1} = 0" in text
    assert "#   ∂L/∂W = Σ_{t=1..T} δ_t h_{t-1}ᵀ" in text
    # the printed statements, from the adjoint program, each citing its equation, into rows bound by the loop;
    # a_t, read by no later step, into one row buffer (HW, A its view) that every step reuses
    assert "HW = _empty(ws, 'HW', (X.shape[1], 1 * H.shape[2]), X.dtype)" in text
    assert "        np.add(HW, PRE_H_tm1, HW)  # a_t = W h_{t-1} + U x_t + b" in text
    assert "        np.tanh(A, H_t)  # h_t = tanh(a_t)" in text
    # the input projection's buffer made once per workspace (it depends only on the sizes), the GEMM into it every call
    assert "        PRE_H = _empty(ws, 'PRE_H', (T, X.shape[1], 1 * H.shape[2]), X.dtype)" in text
    assert "    np.matmul(X.reshape(-1, X.shape[2]), WX_H, PRE_H.reshape(-1, PRE_H.shape[2]))\n    PRE_H += BX_H\n" in text
    assert text.index("        PRE_H = _empty(") < text.index('    buffers = ws["forward buffers"] = (')
    assert "    for t, H_t, H_tm1, PRE_H_tm1 in steps:" in text
    # h̄_t, read once, substituted into δ_t; δ_t's forward-only factor computed a block of steps at a time, in δ_t's
    # own rows, then multiplied in place (written in place, so bound to no name: the module binds nothing it does
    # not read) (its operand h̄_t first into a scratch row: one ufunc call per operation, no array made per step)
    assert ("            np.add(DH_tm1, carry_h, TMP0)  # δ_t = (1 - h_t ⊙ h_t) ⊙ (Vᵀ g_t + Wᵀ δ_{t+1}), through "
            "h_t = tanh(a_t)\n            np.multiply(VB_H_0_tm1, TMP0, VB_H_0_tm1)\n") in text
    assert ("np.subtract(1, H[start + 1:stop + 1] * H[start + 1:stop + 1], VB_H_0[start:stop])  # 1 - h_t ⊙ h_t, "
            "a factor of δ_t") in text
    # each step's carry into one of two rows used in turn (never the row holding the carry it reads)
    assert "carry_h = np.matmul(VB_H_tm1, WB_H, CARRY_H_tm1)  #" in text
    assert "[CARRY_H[t % 2] for t in range(1, T + 1)]" in text
    # the weight gradients: one GEMM over all T·B rows per stacked run, each gradient a block of its rows
    assert "VB_H_R0 = VB_H.reshape(T * B, -1).T @ H[:-1].reshape(T * B, -1)  # the gradients of W:" in text
    assert '"W": VB_H_R0[0 * H.shape[2]:1 * H.shape[2]],' in text


def test_code_template_is_strict_and_computes_no_math():
    """The kernel template lays out functions and loops; every expression in it is a printed value or a choice."""
    import re

    import jinja2

    from symrnn.documents import templating
    with pytest.raises(jinja2.UndefinedError):
        templating.code_env().from_string("{{ missing }}").render()
    text = (templating.templates_dir() / "kernel.py.jinja").read_text(encoding="utf-8")
    exprs = re.findall(r"\{\{(.*?)\}\}", text) + re.findall(r"\{%(.*?)%\}", text)
    assert len(exprs) > 20
    for e in exprs:
        bare = re.sub(r'"[^"]*"', '""', e).strip("- ")
        assert not re.search(r"[+*/%@]|\s-\s|\d\s*-", bare), f"arithmetic in the template: {e!r}"


@pytest.mark.parametrize("activation,code", [
    ("tanh", "np.subtract(1, H[start + 1:stop + 1] * H[start + 1:stop + 1], VB_H_0[start:stop])"),
    ("sigmoid", "np.multiply(H[start + 1:stop + 1], 1 - H[start + 1:stop + 1], VB_H_0[start:stop])"),
    ("relu", "np.greater(H[start + 1:stop + 1], 0, out=VB_H_0[start:stop])"),  # H(h) = [h > 0], in place
    ("identity", "            np.add(DH_tm1, carry_h, VB_H_0_tm1)  # δ_t = Vᵀ g_t + Wᵀ δ_{t+1}")])
def test_activation_derivative_is_in_terms_of_the_output(activation, code):
    assert code in kernel_source(symrnn.cells.elman(activation=activation))


@pytest.mark.parametrize("loss,code", [("mse", "G = Y - Z"),
                                       # lse(Y) once, for L and for softmax(Y) = exp(Y - lse(Y)) in g
                                       ("ce", "    LSE_Y = _logsumexp(Y)  # lse(Y_t)"),
                                       ("ce", "G = np.exp(Y - LSE_Y) - _onehot(Z, Y)"),
                                       ("ce", "L = LSE_Y - np.take_along_axis(Y, Z[..., None], axis=-1)"),
                                        ("bce", "G = (0.5 * np.tanh(0.5 * Y) + 0.5) - Z")])
def test_loss_gradient(loss, code):
    assert code in kernel_source(symrnn.cells.elman(loss=loss))


def test_stable_for_large_logits(kernels):
    for combo in ("elman_tanh_ce_every", "elman_tanh_bce_every", "elman_sigmoid_bce_last"):
        spec, k = SPECS[combo], kernels[combo]
        p, X, Z, h0, lengths = point(spec)
        p = {**p, "c": p["c"] + 800.0}
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            L, g = k.loss_and_grads(p, X, Z, h0, lengths)
        assert np.isfinite(L) and all(np.isfinite(v).all() for v in g.values())


# -- user cells ------------------------------------------------------------------------------------

def _check_by_central_differences(k, p, X, Z, h0, lengths, tol=1e-7):
    """Every gradient entry of kernel k (parameters and h0) against central differences of its loss."""
    _, g = k.loss_and_grads(p, X, Z, h0, lengths)
    args, eps = {**p, "h0": h0}, 1e-6
    for name in (*k.PARAMS, "h0"):
        assert g[name].shape == np.shape(args[name]) and g[name].dtype == np.float64
        for idx in np.ndindex(np.shape(args[name])):
            up, down = ({n: np.array(v, dtype=float) for n, v in args.items()} for _ in range(2))
            up[name][idx] += eps
            down[name][idx] -= eps
            lu = k.loss_and_grads({n: up[n] for n in k.PARAMS}, X, Z, up["h0"], lengths)[0]
            ld = k.loss_and_grads({n: down[n] for n in k.PARAMS}, X, Z, down["h0"], lengths)[0]
            num = (lu - ld) / (2 * eps)
            assert abs(g[name][idx] - num) <= tol * max(1.0, abs(num)), (name, idx, g[name][idx], num)


USER_CELLS = {
    # the documented example: a learned scalar gain on the recurrent term
    "scaled": (None, "scaled_tanh_mse_every.py", ("W", "g", "U", "b", "V", "c")),
    # no input at all, an output gain and no output bias, many-to-one softmax
    "free": ('name = "free"\nactivation = "sigmoid"\npreactivation = "W*h_prev + b"\noutput_map = "r*V*h"\n'
             'loss = "ce"\noutput = "last"\n[params.W]\nshape = ["k", "k"]\n[params.b]\nshape = ["k"]\n'
             '[params.r]\n[params.V]\nshape = ["o", "k"]\n', "free_sigmoid_ce_last.py", ("W", "b", "r", "V")),
    # the identity as the recurrent map (h_prev + …), two input matrices
    "skip": ('name = "skip"\nactivation = "relu"\npreactivation = "h_prev + U*x + R*x"\noutput_map = "V*h + c"\n'
             'loss = "bce"\n[params.U]\nshape = ["k", "m"]\n[params.R]\nshape = ["k", "m"]\n'
             '[params.V]\nshape = ["o", "k"]\n[params.c]\nshape = ["o"]\n', "skip_relu_bce_every.py", ("U", "R", "V", "c")),
}


@pytest.mark.parametrize("cell", sorted(USER_CELLS))
def test_affine_user_cells(tmp_path, cell):
    text, file, params = USER_CELLS[cell]
    spec_file = ROOT / "docs" / "examples" / "scaled_tanh.toml" if text is None else tmp_path / f"{cell}.toml"
    if text is not None:
        spec_file.write_text(text, encoding="utf-8")
    spec = symrnn.load_spec(spec_file)
    path = symrnn.codegen(spec, tmp_path, check=False)
    assert path.name == file
    k = load(path)
    assert k.PARAMS == params
    rng = np.random.default_rng(5)
    T, B, m, kk, o = 4, 3, 2, 3, 3
    p = {n: rng.normal(0, 0.5, v.shape) if v.shape else np.array(0.7) for n, v in k.init_params(m, kk, o).items()}
    X, h0, lengths = rng.normal(size=(T, B, m)), rng.normal(size=(B, kk)), np.array([4, 2, 1])
    if spec.loss == "ce":
        Z = rng.integers(0, o, (T, B) if spec.output == "every" else (B,))
    else:
        Z = rng.integers(0, 2, (T, B, o) if spec.output == "every" else (B, o)).astype(float)
    _check_by_central_differences(k, p, X, Z, h0, lengths)
    p32 = {n: np.asarray(v, np.float32) for n, v in p.items()}   # every gradient an array of X's dtype, a gain's too
    _, g = k.loss_and_grads(p32, X.astype(np.float32), Z.astype(np.float32) if spec.loss != "ce" else Z, h0.astype(np.float32), lengths)
    assert all(type(v) is np.ndarray and v.dtype == np.float32 for v in g.values()), {n: type(v) for n, v in g.items()}


def test_elementwise_products_of_the_state_get_kernels(tmp_path):
    """a_t = (W h_{t−1}) ⊙ h_{t−1} + U x_t is no affine map of h_{t−1}; the adjoint program prints it all the same."""
    cell = tmp_path / "square.toml"
    cell.write_text('name = "square"\nactivation = "tanh"\npreactivation = "W*h_prev*h_prev + U*x"\n'
                    'output_map = "V*h"\n[params.W]\nshape = ["k", "k"]\n[params.U]\nshape = ["k", "m"]\n'
                    '[params.V]\nshape = ["o", "k"]\n', encoding="utf-8")
    k = load(symrnn.codegen(symrnn.load_spec(cell), tmp_path))
    rng = np.random.default_rng(3)
    p = {n: rng.normal(0, 0.5, v.shape) for n, v in k.init_params(2, 3, 2).items()}
    X, h0, Z = rng.normal(size=(4, 3, 2)), rng.normal(size=(3, 3)), rng.normal(size=(4, 3, 2))
    _check_by_central_differences(k, p, X, Z, h0, np.array([4, 2, 1]))


def test_cell_of_mismatched_shapes_is_refused(tmp_path):
    cell = tmp_path / "odd.toml"
    cell.write_text('name = "odd"\nactivation = "tanh"\npreactivation = "W*h_prev + U"\n'
                    'output_map = "V*h"\n[params.W]\nshape = ["k", "k"]\n[params.U]\nshape = ["k", "m"]\n'
                    '[params.V]\nshape = ["o", "k"]\n', encoding="utf-8")
    with pytest.raises(SymrnnError, match="U"):
        symrnn.codegen(symrnn.load_spec(cell), tmp_path)
    assert not list(tmp_path.glob("*.py"))


# -- writing files: the CLI and the API --------------------------------------------------------------

def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symrnn", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def test_cli_writes_prints_path_and_guards_foreign_files(tmp_path):
    r = run("codegen", "--activation", "relu", "--loss", "ce", "--output", "last", "-o", str(tmp_path / "k"))
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path == tmp_path / "k" / "elman_relu_ce_last.py"
    assert path.read_text(encoding="utf-8") == (GENERATED / path.name).read_text(encoding="utf-8")
    # its own file may be overwritten
    assert run("codegen", "--activation", "relu", "--loss", "ce", "--output", "last", "-o", str(tmp_path / "k")).returncode == 0
    # a file symrnn did not write may not, unless --force
    foreign = tmp_path / "k" / "elman_tanh_mse_every.py"
    foreign.write_text("my own code\n", encoding="utf-8")
    r = run("codegen", "-o", str(tmp_path / "k"))
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert "--force" in r.stderr and foreign.read_text(encoding="utf-8") == "my own code\n"
    assert run("codegen", "-o", str(tmp_path / "k"), "--force").returncode == 0
    assert foreign.read_text(encoding="utf-8").startswith(HEADER)
    assert not [p for p in (tmp_path / "k").iterdir() if p.name.startswith(".")]  # no temporary files left


def test_cli_default_directory_is_generated(tmp_path):
    r = run("codegen", "--activation", "identity", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(Path("generated") / "elman_identity_mse_every.py")
    assert (tmp_path / "generated" / "elman_identity_mse_every.py").is_file()


@pytest.mark.parametrize("args,culprit", [(["--loss", "hinge"], "hinge"), (["--activation", "swish"], "swish"),
                                          (["--cell", "nope"], "nope"), (["--all", "--loss", "ce"], "--all"),
                                          (["--cell", "missing.toml"], "missing.toml")])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, args, culprit):
    r = run("codegen", *args, "-o", str(tmp_path))
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0], r.stderr


def test_api_codegen_returns_the_path(tmp_path):
    path = symrnn.codegen(symrnn.cells.elman(loss="bce"), tmp_path)
    assert path == tmp_path / "elman_tanh_bce_every.py" and path.read_text(encoding="utf-8").startswith(HEADER)


# -- PyTorch oracle ----------------------------------------------------------------------------------

def _torch_loss_and_grads(spec, p, X, Z, h0):
    """The same model in PyTorch: nn.RNN (b = b_ih + b_hh) + Linear for tanh and relu, else an autograd loop."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    T, B, m = X.shape
    k, o = p["W"].shape[0], p["V"].shape[0]
    tX, th0 = torch.tensor(X), torch.tensor(h0, requires_grad=True)
    act = spec.cell.activation
    if act in ("tanh", "relu"):
        rnn = torch.nn.RNN(m, k, nonlinearity=act, batch_first=False).double()
        lin = torch.nn.Linear(k, o).double()
        with torch.no_grad():
            rnn.weight_hh_l0.copy_(torch.tensor(p["W"]))
            rnn.weight_ih_l0.copy_(torch.tensor(p["U"]))
            rnn.bias_ih_l0.copy_(torch.tensor(p["b"]) * 0.25)
            rnn.bias_hh_l0.copy_(torch.tensor(p["b"]) * 0.75)
            lin.weight.copy_(torch.tensor(p["V"]))
            lin.bias.copy_(torch.tensor(p["c"]))
        Hs, _ = rnn(tX, th0[None])
        Y = lin(Hs)
        leaves = {"W": rnn.weight_hh_l0, "U": rnn.weight_ih_l0, "V": lin.weight, "c": lin.bias}
    else:
        tp = {n: torch.tensor(v, requires_grad=True) for n, v in p.items()}
        f = torch.sigmoid if act == "sigmoid" else (lambda a: a)
        h, outs = th0, []
        for t in range(T):
            h = f(h @ tp["W"].T + tX[t] @ tp["U"].T + tp["b"])
            outs.append(h @ tp["V"].T + tp["c"])
        Y = torch.stack(outs)
        leaves = tp
    Yl = Y if spec.output == "every" else Y[-1]
    tZ = torch.tensor(Z)
    if spec.loss == "mse":
        L = 0.5 * ((Yl - tZ) ** 2).sum()
    elif spec.loss == "bce":
        L = F.binary_cross_entropy_with_logits(Yl, tZ, reduction="sum")
    else:
        L = F.cross_entropy(Yl.reshape(-1, o), tZ.reshape(-1), reduction="sum")
    L.backward()
    grads = {n: leaves[n].grad.numpy() for n in leaves}
    if act in ("tanh", "relu"):
        grads["b"] = rnn.bias_ih_l0.grad.numpy()
        np.testing.assert_allclose(rnn.bias_hh_l0.grad.numpy(), grads["b"], rtol=1e-14)
    grads["h0"] = th0.grad.numpy()
    return float(L.detach()), grads


@pytest.mark.parametrize("combo", COMBOS)
def test_matches_pytorch(kernels, combo):
    pytest.importorskip("torch")
    spec, k = SPECS[combo], kernels[combo]
    p, X, Z, h0, _ = point(spec, T=7, B=3, seed=6)
    L, g = k.loss_and_grads(p, X, Z, h0)
    want_L, want = _torch_loss_and_grads(spec, p, X, Z, h0)
    assert L == pytest.approx(want_L, rel=1e-12)
    for name in NAMES:
        np.testing.assert_allclose(g[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", ["steps", "F_tm1", "PRE_A_N_tm1", "H_tm1", "BLOCK_BYTES", "np"])
def test_parameter_named_like_a_kernel_local_is_refused(tmp_path, name):
    """A user parameter the printed module would also bind (a loop row, a buffer, a helper) is refused by name:
    the check reads the printed source, so a local the printer makes up cannot shadow a parameter unnoticed."""
    text = (ROOT / "docs" / "examples" / "mgu.toml").read_text(encoding="utf-8")
    spec_file = tmp_path / "clash.toml"
    spec_file.write_text(re.sub(r"\bb_f\b", name, text), encoding="utf-8")
    spec = symrnn.load_spec(spec_file)
    with pytest.raises(SymrnnError, match=rf"parameter name\(s\) {re.escape(name)} clash"):
        symrnn.codegen(spec, tmp_path, check=False)
    assert not list(tmp_path.glob("*.py"))


def test_the_printed_source_binds_no_catalogue_parameter_twice_and_nothing_it_never_reads():
    for spec in catalogue_specs():
        source = kernel_source(spec)
        assert not _rebound(source, spec.params)
        for f in ast.parse(source).body:
            if isinstance(f, ast.FunctionDef) and f.name in ("_forward", "loss_and_grads"):
                read = {n.id for n in ast.walk(f) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
                unread = {t.id for n in ast.walk(f) if isinstance(n, ast.Assign) for t in n.targets
                          if isinstance(t, ast.Name)} - read - {"steps"}   # steps: read by the loop header
                assert not unread, (spec.describe(), f.name, unread)


def test_per_workspace_takes_only_what_the_sizes_fix():
    """A setup statement is made once per workspace only when it reads nothing but the sizes, the dtype and the
    workspace's arrays: a buffer, a view, a constant row; whatever reads a parameter or X's values runs every call."""
    st = lambda target, code: Statement(target, code, "")
    once, every, names = per_workspace([
        st("HW", "_empty(ws, 'HW', (T, X.shape[1], 3 * H.shape[2]), X.dtype)"),
        st("A_R, A_U", "_blocks(HW, 2)"),
        st("HW_IN", "HW[:, :, :2 * H.shape[2]]"),
        st("ALPHA", "np.full(HW_IN.shape[1:], 0.5, X.dtype)"),
        st("CBAR", "_empty(ws, 'CBAR', (min(T, block),) + H.shape[1:], X.dtype)"),
        st("WT_H", "np.concatenate([W.T * 0.5, U.T], axis=1)"),         # a parameter's values
        st("X0", "X[0]"),                                                 # X's values, not its shape
        st("PRE", "np.matmul(X.reshape(-1, X.shape[2]), WT_H, HW)"),     # a product
        st("BUF", "_empty(ws, 'BUF', WT_H.shape, X.dtype)"),             # reads a statement that runs every call
        st("", "np.tanh(HW, HW)"),                                       # no target: a call for its effect
    ], ("H",))
    assert [s.target for s in once] == ["HW", "A_R, A_U", "HW_IN", "ALPHA", "CBAR"]
    assert [s.target for s in every] == ["WT_H", "X0", "PRE", "BUF", ""]
    assert names == ("H", "HW", "A_R", "A_U", "HW_IN", "ALPHA", "CBAR")
