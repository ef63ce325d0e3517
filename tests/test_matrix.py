"""The matrix (vector) form: certification sweep, independent oracles, the scalar case, Goodfellow et al., I/O."""
import json
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

import symrnn
from numpy_bptt_matrix import forward_backward
from symrnn import cli
from symrnn import printers as printing
from symrnn.errors import SymrnnError
from symrnn.derivation.matrix import derive_matrix, vec
from symrnn.ir.nodes import MatProd, Transposed, matmul, rebuild
from symrnn.certification.matrix import certify_matrix, forward, run_recursion, with_deltas
from symrnn.ir.evaluate import evaluate, float_backend, parse, sympy_backend
from symrnn.ir.primitives import ACTIVATIONS, LOSSES

NAMES = ("W", "U", "b", "V", "c", "h0")
COMBOS = [(a, l, o) for a in ACTIVATIONS for l in LOSSES for o in ("every", "last")]


def model(activation="tanh", loss="mse", output="every"):
    return symrnn.cells.elman(activation=activation, loss=loss, output=output)


# -- the sweep: every activation × loss × output, dims (2,3,2), T = 1..3 ----------------------

@pytest.mark.parametrize("activation,loss,output", COMBOS)
def test_certified_at_232_for_T_1_to_3(activation, loss, output):
    for T in (1, 2, 3):
        d = symrnn.derive(model(activation, loss, output), steps=T, dims=(2, 3, 2))
        md = d.matrix
        assert d.certified, [str(c) for g in md.gradients for c in g.certificate.checks if not c.passed]
        assert md.names == NAMES
        for g in md.gradients:
            hows = [c.how for c in g.certificate.checks]
            # component-wise at the requested sizes and T: all four general forms, the written-out one, the expanded one
            exact = [h for h in hows if "sympy.diff" in h]
            assert len(exact) == 6 and all(f"(k, m, o) = (2, 3, 2), T = {T}," in h for h in exact)
            # numeric at (8, 5, 4), T = 20: the four general-T forms
            assert sum("(8, 5, 4), T = 20," in h for h in hows) == 4
            assert all(c.max_error <= c.tolerance for c in g.certificate.checks)


# -- an independent NumPy BPTT at (8, 5, 4), T = 20 --------------------------------------------

def _numeric_point(spec, dims, T, seed):
    rng = np.random.default_rng(seed)
    k, m, o = dims
    p = {"W": rng.normal(0, 0.6 / np.sqrt(k), (k, k)), "U": rng.normal(0, 0.6 / np.sqrt(m), (k, m)),
         "b": rng.normal(0, 0.3, (k, 1)), "V": rng.normal(0, 0.6 / np.sqrt(k), (o, k)),
         "c": rng.normal(0, 0.3, (o, 1)), "h0": rng.normal(0, 0.5, (k, 1))}
    X = {t: rng.normal(0, 1, (m, 1)) for t in range(1, T + 1)}
    if spec.loss == "ce":
        Z = {t: int(rng.integers(o)) for t in range(1, T + 1)}
    elif spec.loss == "bce":
        Z = {t: rng.integers(0, 2, (o, 1)).astype(float) for t in range(1, T + 1)}
    else:
        Z = {t: rng.normal(0, 1, (o, 1)) for t in range(1, T + 1)}
    return p, X, Z


@pytest.mark.parametrize("activation,loss,output", COMBOS)
def test_general_forms_match_hand_written_numpy_bptt_at_854_T20(activation, loss, output):
    spec, dims, T = model(activation, loss, output), (8, 5, 4), 20
    md = derive_matrix(spec, 3, dims, NAMES)
    p, X, Z = _numeric_point(spec, dims, T, seed=7)
    _, want = forward_backward(p, X, Z, activation, loss, output)
    point = dict(p)
    point.update({("x", t): X[t] for t in X})
    point.update({("z", t): Z[t] for t in Z})
    env = forward(spec, point, T, float_backend(), 8)
    for g in md.gradients:
        for f in g.forms:
            e = run_recursion(f.recursion, env, T, float_backend(), 8) if f.recursion else env
            got = np.asarray(evaluate(f.expr, e, float_backend(), 8, {symrnn.naming.T: sp.Integer(T)}), dtype=float)
            np.testing.assert_allclose(got.reshape(want[g.wrt].shape), want[g.wrt], rtol=1e-9, atol=1e-11,
                                       err_msg=f"{g.wrt} {f.name}")


# -- the scalar engine is the k = m = o = 1 case ------------------------------------------------

def _scalar_env(T):
    env = {name: np.array([[sp.Symbol(name)]], dtype=object) for name in "WUbVc"}
    for role in ("h", "x", "Y", "z"):
        for t in range(0, T + 1):
            env[(role, t)] = np.array([[sp.Symbol(f"{role}{t}")]], dtype=object)
    return env


@pytest.mark.parametrize("activation,loss,output", [c for c in COMBOS if c[1] != "ce"])
def test_scalar_results_are_the_1_1_1_case(activation, loss, output):
    """Evaluated on 1×1 matrices of the lecture's symbols, every matrix form is the scalar result, exactly."""
    spec = model(activation, loss, output)
    for T in (1, 2, 3):
        scalar = symrnn.derive(spec, steps=T, certify=False)
        md = derive_matrix(spec, T, (1, 1, 1), NAMES)
        env, be = _scalar_env(T), sympy_backend()
        for g in md.gradients:
            want = scalar.gradient(g.wrt)
            values = [evaluate(g.expr, env, be, 1), evaluate(g.at_T, with_deltas(md.deltas, env, be, 1), be, 1)]
            for f in g.forms:
                e = run_recursion(f.recursion, env, T, be, 1) if f.recursion else env
                values.append(evaluate(f.expr, e, be, 1, {symrnn.naming.T: sp.Integer(T)}))
            for v in values:
                assert sp.expand(np.asarray(v).reshape(-1)[0] - want) == 0, (g.wrt, T)


def test_matrix_ce_needs_two_outputs_and_is_the_real_softmax():
    with pytest.raises(SymrnnError, match="o ≥ 2"):
        symrnn.derive(model(loss="ce"), steps=2, dims=(2, 3, 1))
    md = derive_matrix(model(loss="ce"), 1, (2, 3, 2), NAMES)
    assert printing.text(md.get("c").expr) == "softmax(Y1) - onehot(z1)"


# -- the lecture's notation --------------------------------------------------------------------

def test_prints_the_issue_formulas():
    md = symrnn.derive(model(), steps=2, dims=(2, 3, 2), certify=False).matrix
    delta, delta_diag, gamma = md.recursions
    assert printing.text(delta.lhs) + " = " + printing.text(delta.body) == \
        "δ_t = (1 - h_t ⊙ h_t) ⊙ (Vᵀ(Y_t - z_t) + Wᵀ δ_{t+1})"
    assert printing.text(vec("delta", delta.start_step)) + " = " + printing.text(delta.start) == "δ_{T+1} = 0"
    assert printing.text(delta_diag.body) == "diag(1 - h_t²)(Vᵀ(Y_t - z_t) + Wᵀ δ_{t+1})"
    general = {g.wrt: printing.text(g.general) for g in md.gradients}
    assert general == {"W": "Σ_{t=1..T} δ_t h_{t-1}ᵀ", "U": "Σ_{t=1..T} δ_t x_tᵀ", "b": "Σ_{t=1..T} δ_t",
                       "V": "Σ_{t=1..T} (Y_t - z_t) h_tᵀ", "c": "Σ_{t=1..T} [Y_t - z_t]", "h0": "Wᵀ δ1"}
    assert printing.text(md.jacobian[0]) + " = " + printing.text(md.jacobian[1]) == \
        "∂h_t/∂h_s = Π_{i=s+1..t} diag(1 - h_i²) W"
    assert printing.text(md.get("W").form("jacobian").expr) == \
        "Σ_{t=1..T} Σ_{s=1..t} diag(1 - h_s²)(Π_{i=s+1..t} diag(1 - h_i²) W)ᵀ Vᵀ(Y_t - z_t) h_{s-1}ᵀ"
    assert printing.text(md.get("W").at_T) == "δ1 h0ᵀ + δ2 h1ᵀ"
    tex = printing.latex(delta.body) + printing.latex(md.get("W").general) + printing.latex(delta_diag.body)
    for piece in (r"\odot", r"\operatorname{diag}", r"^{\top}", "h_{t-1}", r"\delta_{t+1}", r"\sum_{t=1}^{T}"):
        assert piece in tex


@pytest.mark.parametrize("activation,derivative", [("sigmoid", "h_t ⊙ (1 - h_t)"), ("relu", "H(h_t)"),
                                                   ("identity", None)])
def test_activation_derivative_in_terms_of_the_output(activation, derivative):
    body = printing.text(derive_matrix(model(activation), 2, (2, 3, 2), NAMES).recursions[0].body)
    rest = "(Vᵀ(Y_t - z_t) + Wᵀ δ_{t+1})"
    assert body == (f"{derivative} ⊙ {rest}" if derivative else "Vᵀ(Y_t - z_t) + Wᵀ δ_{t+1}")


def test_last_output_has_one_loss_step():
    md = derive_matrix(model(output="last"), 3, (2, 3, 2), NAMES)
    delta = md.recursions[0]
    assert printing.text(delta.body) == "(1 - h_t ⊙ h_t) ⊙ Wᵀ δ_{t+1}"
    assert printing.text(delta.start) == "(1 - h_T ⊙ h_T) ⊙ Vᵀ(Y_T - z_T)"
    assert printing.text(md.get("V").general) == "(Y_T - z_T) h_Tᵀ"


# -- Goodfellow et al., Deep Learning §10.2.2 ----------------------------------------------------

# Eqs. 10.18-10.28 for a tanh RNN with softmax outputs (a = b + W h + U x, o = c + V h, ŷ = softmax(o)),
# with eq. 10.21 in its dimensionally consistent form (diag left of the gradient, as the transposed
# Jacobian (∂h^(t+1)/∂h^(t))ᵀ = Wᵀ diag(1 − (h^(t+1))²) requires), written in the syntax of
# symrnn.ir.evaluate.parse with Goodfellow's names:
GOODFELLOW = {
    "10.19": ("grad_h[T]", "V.T @ grad_o[T]"),
    "10.21": ("grad_h[t]", "W.T @ diag(1 - h[t + 1]**2) @ grad_h[t + 1] + V.T @ grad_o[t]"),
    "10.22": ("c", "Sum(grad_o[t], (t, 1, T))"),
    "10.23": ("b", "Sum(diag(1 - h[t]**2) @ grad_h[t], (t, 1, T))"),
    "10.24": ("V", "Sum(grad_o[t] @ h[t].T, (t, 1, T))"),
    "10.26": ("W", "Sum(diag(1 - h[t]**2) @ grad_h[t] @ h[t - 1].T, (t, 1, T))"),
    "10.28": ("U", "Sum(diag(1 - h[t]**2) @ grad_h[t] @ x[t].T, (t, 1, T))"),
}
# The correspondence of notation: Goodfellow's  ->  symrnn's (lecture) symbols.
#   h^(t) -> h_t,  x^(t) -> x_t,  o^(t) -> Y_t,  y^(t) -> z_t (class index),  ŷ^(t) = softmax(o^(t)) -> softmax(Y_t),
#   ∇_{o^(t)} L = ŷ^(t) − 1_{y^(t)}  (eq. 10.18)  ->  softmax(Y_t) − onehot(z_t),   ∇_{h^(t)} L -> γ_t,  τ -> T.
NOTATION = {"grad_o[T]": "(softmax(Y[T]) - onehot(z[T]))", "grad_o[t]": "(softmax(Y[t]) - onehot(z[t]))",
            "grad_h": "gamma"}


def _in_symrnn_notation(text):
    for theirs, ours in NOTATION.items():
        text = text.replace(theirs, ours)
    return parse(text)


def test_goodfellow_10_2_2_is_what_symrnn_prints_for_tanh_softmax():
    md = symrnn.derive(model("tanh", "ce", "every"), steps=3, dims=(2, 3, 2), certify=False).matrix
    gamma = md.recursion("gamma")
    ours = {"10.19": (vec("gamma", gamma.start_step), gamma.start), "10.21": (gamma.lhs, gamma.body)}
    ours.update({eq: (None, md.get(p).form("state").expr) for eq, (p, _) in GOODFELLOW.items() if eq not in ours})
    for eq, (lhs, rhs) in GOODFELLOW.items():
        want_lhs, want_rhs = ours[eq]
        assert _in_symrnn_notation(rhs) == want_rhs, eq
        if want_lhs is not None:
            assert _in_symrnn_notation(lhs) == want_lhs, eq
    assert printing.text(gamma.body) == "Wᵀ diag(1 - h_{t+1}²) γ_{t+1} + Vᵀ(softmax(Y_t) - onehot(z_t))"
    # and the state form is the δ form under δ_t = diag(1 − h_t²) γ_t
    t = symrnn.naming.t
    for p in ("W", "U", "b"):
        assert md.get(p).form("state").expr == rebuild(md.get(p).general.xreplace(
            {vec("delta", t): matmul(md.recursions[1].body.args[0], vec("gamma", t))}))


def test_goodfellows_misprinted_10_21_fails_certification():
    """diag on the other side of ∇_{h^(t+1)} L is not even a product of compatible shapes; as an elementwise
    product with W on the left instead of Wᵀ it is a valid expression, and certification rejects it."""
    md = derive_matrix(model("tanh", "ce", "every"), 2, (2, 3, 2), ("W",))
    g = md.get("W")
    state = g.form("state")
    wrong_body = state.recursion.body.xreplace({Transposed(symrnn.ir.nodes.Mat("W")): symrnn.ir.nodes.Mat("W")})
    assert wrong_body != state.recursion.body
    bad = replace(state, recursion=replace(state.recursion, equations=((state.recursion.lhs, wrong_body),)))
    md = replace(md, gradients=(replace(g, forms=tuple(bad if f.name == "state" else f for f in g.forms)),))
    out = certify_matrix(md)
    assert not out.certified
    failed = {c.name for c in out.gradients[0].certificate.checks if not c.passed}
    assert failed == {"state form"}


# -- certification can fail ----------------------------------------------------------------------

def _mutated(mutate_form):
    md = derive_matrix(model(), 2, (2, 3, 2), ("W", "b"))
    grads = tuple(replace(g, forms=tuple(mutate_form(g.wrt, f) for f in g.forms)) for g in md.gradients)
    return certify_matrix(replace(md, gradients=grads))


def test_wrong_time_index_fails():
    t = symrnn.naming.t
    out = _mutated(lambda wrt, f: replace(f, expr=f.expr.xreplace({vec("h", t - 1): vec("h", t)}))
                   if wrt == "W" and f.name == "delta" else f)
    checks = {c.name: c.passed for c in out.get("W").certificate.checks}
    assert checks["delta form"] is False and checks["diag form"] is True
    assert out.get("b").certificate.ok


def test_missing_recurrent_term_fails():
    def drop(wrt, f):
        if f.name != "diag":
            return f
        r = f.recursion
        inflow = r.body.args[1]                     # diag(f') · (Vᵀ g + Wᵀ δ_{t+1})
        return replace(f, recursion=replace(r, equations=((r.lhs, MatProd(r.body.args[0], inflow.args[0])),)))
    out = _mutated(drop)
    assert not out.certified
    for g in out.gradients:
        assert {c.name for c in g.certificate.checks if not c.passed} == {"diag form"}


# -- I/O: JSON parses back, CLI errors -------------------------------------------------------------

def test_json_expressions_parse_back(capsys):
    assert cli.main(["derive", "--dims", "2,3,2", "--steps", "2", "--loss", "bce", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    d = symrnn.derive(model(loss="bce"), steps=2, dims=(2, 3, 2), certify=False)
    assert out["dims"] == [2, 3, 2] and out["certified"] is True
    for name, g in out["gradients"].items():
        assert parse(g["expr"]) == d.gradient(name)
        assert parse(g["delta"]) == d.matrix.get(name).at_T
        assert [parse(t) for t in g["terms"]] == list(symrnn.ir.nodes.addends(d.gradient(name)))
        for form, body in g["forms"].items():
            assert parse(body["expr"]) == d.matrix.get(name).form(form).expr
        assert g["certified"] and g["latex"]
    assert parse(out["recursions"]["delta"]["expr"]) == d.matrix.recursions[0].body


def test_latex_and_text_formats():
    assert cli.main(["derive", "--dims", "2,3,2", "--format", "latex", "--param", "W"]) == 0
    assert cli.main(["derive", "--dims", "3,2,2", "--steps", "1"]) == 0


@pytest.mark.parametrize("argv,culprit", [
    (["--dims", "2,3"], "--dims '2,3'"),
    (["--dims", "2,3,x"], "--dims '2,3,x'"),
    (["--dims", "2,0,2"], "sizes must be ≥ 1"),
    (["--dims=-1,3,2"], "sizes must be ≥ 1"),
    (["--dims", "2,3,1", "--loss", "ce"], "needs O ≥ 2"),
])
def test_bad_dims_one_line_exit_2(argv, culprit, capsys):
    assert cli.main(["derive", *argv]) == 2
    err = capsys.readouterr().err
    assert culprit in err and err.count("\n") == 1


@pytest.mark.parametrize("dims", [(2, 3), (2, 3, 0), (2.0, 3, 2), "2,3,2", (True, 1, 1)])
def test_bad_dims_in_the_api(dims):
    with pytest.raises(SymrnnError, match="dims"):
        symrnn.derive(model(), steps=2, dims=dims)


def test_a_non_affine_cell_is_derived_and_certified():
    """The first engine refused anything but affine pre-activations; a cell is now any equations, so
    a_t = W h_{t-1} + U x_t + b + h_{t-1}² (elementwise) has a matrix form, certified like the others."""
    from symrnn.model.cells import from_preactivation
    from symrnn.model.spec import ModelSpec
    W, U, b, V, c = (symrnn.naming.param(n) for n in "WUbVc")
    PREV, X, CUR = symrnn.naming.PREV, symrnn.naming.X, symrnn.naming.CUR
    cell = from_preactivation("square", "tanh", model().cell.params, W * PREV + U * X + b + PREV ** 2, V * CUR + c)
    d = symrnn.derive(ModelSpec(cell), steps=2, dims=(2, 3, 2))
    assert d.certified
    assert printing.text(d.recursions[0].body) == "(1 - h_t ⊙ h_t) ⊙ (Vᵀ(Y_t - z_t) + 2 h_t ⊙ δ_{t+1} + Wᵀ δ_{t+1})"


def test_parse_refuses_what_it_does_not_know():
    for text in ("__import__('os')", "h[t] ^ 2", "W.T.T.foo", "lambda: 1", "h[t*2]"):
        with pytest.raises(SymrnnError):
            parse(text)


def test_beyond_T3_every_form_at_the_requested_T_against_sympy_diff():
    """sympy.diff of each step's equations, chained forward, is cheap at any T: every form is checked at T = 5
    (the first engine's whole-loss sympy.diff stopped at T = 3 and used 50-digit differences beyond)."""
    d = symrnn.derive(model("relu", "ce", "last"), steps=5, dims=(2, 3, 2))
    assert d.certified
    for g in d.matrix.gradients:
        hows = [c.how for c in g.certificate.checks]
        assert sum("sympy.diff" in h and "T = 5," in h for h in hows) >= 5
    md = derive_matrix(model("relu", "ce", "last"), 5, (2, 3, 2), ("U",))
    g = md.get("U")
    wrong = replace(g, at_T=rebuild(g.at_T.xreplace({vec("x", 3): vec("x", 4)})))
    out = certify_matrix(replace(md, gradients=(wrong,)))
    # (the δ-substituted form is the written-out one with δ_t replaced, so it fails with it)
    assert {c.name for c in out.gradients[0].certificate.checks if not c.passed} == {"written out at the given T",
                                                                                       "δ substituted"}


def test_a_user_cell_with_its_own_names_and_no_bias():
    from symrnn.model.cells import from_preactivation
    from symrnn.model.spec import ModelSpec, Param
    A, B, C, dd = (symrnn.naming.param(n) for n in ("A", "B", "C", "d"))
    params = (Param("A", "recurrent", ("k", "k")), Param("B", "input", ("k", "m")),
              Param("C", "readout", ("o", "k")), Param("d", "readout bias", ("o",)))
    cell = from_preactivation("nobias", "sigmoid", params, A * symrnn.naming.PREV + B * symrnn.naming.X,
                              C * symrnn.naming.CUR + dd)
    d = symrnn.derive(ModelSpec(cell, loss="bce"), steps=2, dims=(2, 3, 2))
    assert d.certified and d.names == ("A", "B", "C", "d", "h0")
    assert printing.text(d.matrix.recursions[0].body) == "h_t ⊙ (1 - h_t) ⊙ (Cᵀ(σ(Y_t) - z_t) + Aᵀ δ_{t+1})"
    assert printing.text(d.matrix.get("B").general) == "Σ_{t=1..T} δ_t x_tᵀ"


def test_a_scalar_gain_parameter(capsys):
    """docs/examples/scaled_tanh.toml: a_t = g W h_{t-1} + U x_t + b with a learned scalar gain g."""
    from symrnn.model.specfile import load_spec
    spec = load_spec(symrnn_root() / "docs" / "examples" / "scaled_tanh.toml")
    d = symrnn.derive(spec, steps=2, dims=(2, 3, 2))
    assert d.certified
    assert printing.text(d.matrix.get("g").general) == "Σ_{t=1..T} δ_tᵀ W h_{t-1}"
    assert printing.text(d.matrix.get("W").general) == "Σ_{t=1..T} g δ_t h_{t-1}ᵀ"
    assert cli.main(["derive", "--cell", str(symrnn_root() / "docs" / "examples" / "scaled_tanh.toml"),
                     "--dims", "2,3,2", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gains"] == ["g"]
    for name, g in out["gradients"].items():
        assert parse(g["expr"], gains=out["gains"]) == d.gradient(name)


def symrnn_root():
    from pathlib import Path
    return Path(__file__).resolve().parent.parent


def test_minus_groups_its_right_operand():
    from symrnn.ir.nodes import Minus, Ones
    e = Minus(Ones(), Minus(vec("Y", 1), vec("z", 1)))
    assert printing.text(e) == "1 - (Y1 - z1)"
    assert printing.latex(e) == r"1 - \left(Y_{1} - z_{1}\right)"
    assert parse(printing.parseable(e)) == e


def test_cells_whose_sizes_do_not_fit_are_refused_and_tied_sizes_work(tmp_path):
    from symrnn.model.specfile import load_spec
    spec_file = tmp_path / "tied.toml"
    spec_file.write_text('name = "tied"\nactivation = "tanh"\npreactivation = "W*h_prev + U*x"\noutput_map = "h"\n'
                         '[params.W]\n[params.U]\n')
    spec = load_spec(spec_file)
    with pytest.raises(SymrnnError, match="not a k-vector"):
        symrnn.derive(spec, steps=2, dims=(3, 2, 2))
    d = symrnn.derive(spec, steps=2, dims=(2, 2, 2))   # scalar gains W, U and Y = h: k = m = o
    assert d.certified
    assert printing.text(d.matrix.get("W").general) == "Σ_{t=1..T} δ_tᵀ h_{t-1}"


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(COMBOS), st.integers(1, 4), st.integers(1, 4), st.integers(2, 4), st.integers(1, 7),
       st.integers(0, 2**31 - 1))
def test_property_every_form_equals_numpy_bptt(combo, k, m, o, T, seed):
    """Any model, any sizes, any T, any point: every matrix form (and the written-out one) = hand-written BPTT."""
    activation, loss, output = combo
    spec, dims = model(activation, loss, output), (k, m, o)
    md = derive_matrix(spec, T, dims, NAMES)
    p, X, Z = _numeric_point(spec, dims, T, seed)
    _, want = forward_backward(p, X, Z, activation, loss, output)
    point = dict(p)
    point.update({("x", t): X[t] for t in X})
    point.update({("z", t): Z[t] for t in Z})
    be = float_backend()
    env = forward(spec, point, T, be, k)
    for g in md.gradients:
        values = [evaluate(g.expr, env, be, k), evaluate(g.at_T, with_deltas(md.deltas, env, be, k), be, k)]
        for f in g.forms:
            e = run_recursion(f.recursion, env, T, be, k) if f.recursion else env
            values.append(evaluate(f.expr, e, be, k, {symrnn.naming.T: sp.Integer(T)}))
        for v in values:
            got = np.broadcast_to(np.asarray(v, dtype=float), want[g.wrt].shape)
            np.testing.assert_allclose(got, want[g.wrt], rtol=1e-9, atol=1e-12, err_msg=g.wrt)
