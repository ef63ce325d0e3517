"""Cells as equation lists: GRU, LSTM and user cells derived in both forms, checked against an independent
NumPy BPTT (tests/numpy_gated.py) and PyTorch, certified, and certification shown able to fail."""
import itertools
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

import symrnn
from numpy_gated import column_forward_backward
from symrnn import naming
from symrnn import printers as printing
from symrnn.certification.matrix import certify_matrix, forward, run_recursion, with_deltas
from symrnn.derivation import derive_pure
from symrnn.derivation.matrix import derive_matrix, vec
from symrnn.ir.evaluate import evaluate, float_backend
from symrnn.ir.nodes import Zeros, rebuild

CELLS = {"gru": symrnn.cells.gru, "lstm": symrnn.cells.lstm}
LOSSES_OUTPUTS = list(itertools.product(("mse", "ce", "bce"), ("every", "last")))


def _point(spec, dims, T, seed):
    """Parameters as columns for the oracle and as arrays for the IR, inputs and targets, at one random point."""
    rng = np.random.default_rng(seed)
    k, m, o = dims
    size = {"k": k, "m": m, "o": o}
    p = {}
    for par in spec.cell.params:
        shape = tuple(size[s] for s in par.shape) + ((1,) if len(par.shape) == 1 else ())
        p[par.name] = rng.normal(0, 0.6, shape) / (np.sqrt(k) if len(par.shape) == 2 else 1)
    for init in spec.cell.initial:
        p[init] = rng.normal(0, 0.5, (k, 1))
    X = {t: rng.normal(0, 1, (m, 1)) for t in range(1, T + 1)}
    if spec.loss == "ce":
        Z = {t: int(rng.integers(0, o)) for t in range(1, T + 1)}
    elif spec.loss == "bce":
        Z = {t: rng.integers(0, 2, (o, 1)).astype(float) for t in range(1, T + 1)}
    else:
        Z = {t: rng.normal(0, 1, (o, 1)) for t in range(1, T + 1)}
    return p, X, Z


def _every_form(md, p, X, Z, T, k):
    """{(name, form): value} of every form of every gradient, evaluated in float64 from the derivation."""
    point = dict(p)
    point.update({(naming.INPUT, t): X[t] for t in X})
    point.update({(naming.TARGET, t): Z[t] for t in Z})
    be = float_backend()
    env = forward(md.spec, point, T, be, k)
    out = {}
    for g in md.gradients:
        out[(g.wrt, "at_T")] = evaluate(g.at_T, with_deltas(md.deltas, env, be, k), be, k)
        for f in g.forms:
            e = run_recursion(f.recursion, env, T, be, k) if f.recursion else env
            out[(g.wrt, f.name)] = evaluate(f.expr, e, be, k, {naming.T: sp.Integer(T)})
    return out


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("loss,output", LOSSES_OUTPUTS)
def test_every_matrix_form_is_the_independent_numpy_bptt(cell, loss, output):
    """δ, diag, state and Jacobian forms and the written-out one, at (4, 3, 3) and T = 5: the hand-written BPTT."""
    spec = CELLS[cell](loss=loss, output=output)
    dims, T = (4, 3, 3), 5
    md = derive_matrix(spec, T, dims, spec.params + spec.cell.initial)
    p, X, Z = _point(spec, dims, T, seed=3)
    _, want = column_forward_backward(cell, p, X, Z, loss=loss, output=output)
    values = _every_form(md, p, X, Z, T, dims[0])
    for (name, form), got in values.items():
        got = np.broadcast_to(np.asarray(got, dtype=float), want[name].shape)
        np.testing.assert_allclose(got, want[name], rtol=1e-10, atol=1e-12, err_msg=f"{cell} {name} {form}")


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_scalar_gradients_are_the_independent_numpy_bptt(cell):
    """The scalar chain rule, evaluated at a point of 1×1 sizes, is the hand-written BPTT (T = 1..3)."""
    for T, (loss, output) in itertools.product((1, 2, 3), (("mse", "every"), ("bce", "last"))):
        spec = CELLS[cell](loss=loss, output=output)
        d = symrnn.derive(spec, steps=T, certify=False)
        p, X, Z = _point(spec, (1, 1, 1), T, seed=T)
        _, want = column_forward_backward(cell, p, X, Z, loss=loss, output=output)
        values = d.unrolled.forward({**{naming.param(n): sp.Float(float(np.ravel(v)[0]), 30) for n, v in p.items()
                                        if n not in spec.cell.initial},
                                     **{naming.at(s, 0): sp.Float(float(p[i][0, 0]), 30)
                                        for s, i in zip(spec.cell.states, spec.cell.initial)},
                                     **{naming.at("x", t): sp.Float(float(X[t][0, 0]), 30) for t in X},
                                     **{naming.at("z", t): sp.Float(float(Z[t][0, 0]), 30) for t in Z}})
        for name in spec.params + spec.cell.initial:
            got = float(d.gradient(name).xreplace(values))
            assert got == pytest.approx(float(want[name].ravel()[0]), rel=1e-9, abs=1e-12), (cell, T, loss, name)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_matches_torch_autograd(cell):
    torch = pytest.importorskip("torch")
    from numpy_gated import to_torch_state
    spec = CELLS[cell](loss="mse", output="every")
    dims, T = (3, 2, 2), 4
    k, m, o = dims
    md = derive_matrix(spec, T, dims, spec.params + spec.cell.initial)
    p, X, Z = _point(spec, dims, T, seed=11)
    got = _every_form(md, p, X, Z, T, k)
    vectors = {par.name for par in spec.cell.params if len(par.shape) == 1}
    rnn_state, head_state = to_torch_state(cell, {n: v.ravel() if n in vectors else v for n, v in p.items()})
    rnn = (torch.nn.GRU if cell == "gru" else torch.nn.LSTM)(m, k).double()
    head = torch.nn.Linear(k, o).double()
    rnn.load_state_dict({key: torch.tensor(v) for key, v in rnn_state.items()})
    head.load_state_dict({key: torch.tensor(v) for key, v in head_state.items()})
    h0 = torch.tensor(p["h0"].T[None], requires_grad=True)
    init = (h0, torch.tensor(p["c0"].T[None], requires_grad=True)) if cell == "lstm" else h0
    out, _ = rnn(torch.tensor(np.stack([X[t].T for t in range(1, T + 1)])), init)
    Y = head(out)
    loss = 0.5 * ((Y - torch.tensor(np.stack([Z[t].T for t in range(1, T + 1)]))) ** 2).sum()
    loss.backward()
    np.testing.assert_allclose(got[("h0", "delta")].ravel(), h0.grad.numpy().ravel(), rtol=1e-10)
    gates = ("r", "u", "n") if cell == "gru" else ("i", "f", "g", "o")
    weight_hh = rnn.weight_hh_l0.grad.numpy()
    for j, gate in enumerate(gates):
        for form in ("delta", "state", "jacobian"):
            np.testing.assert_allclose(got[(f"W_h{gate}", form)], weight_hh[j * k:(j + 1) * k], rtol=1e-9,
                                       err_msg=f"W_h{gate} {form}")


@pytest.mark.parametrize("cell,dims,steps", [("gru", "scalar", 2), ("lstm", "scalar", 2),
                                             ("gru", (3, 2, 2), 3), ("lstm", (3, 2, 2), 3)])
def test_gated_cells_are_certified(cell, dims, steps):
    d = symrnn.derive(CELLS[cell](), steps=steps, dims=dims)
    assert d.certified
    assert d.names == d.spec.params + d.spec.cell.initial


def test_gru_recursion_reads_as_written():
    md = derive_matrix(symrnn.cells.gru(), 2, (3, 2, 2), ("W_hr",))
    rows = [f"{printing.text(l)} = {printing.text(b)}" for l, b in md.recursion("delta").equations]
    assert rows == ["h̄_t = Vᵀ(Y_t - z_t) + W_hrᵀ δʳ_{t+1} + W_huᵀ δᵘ_{t+1} + W_hnᵀ(r_{t+1} ⊙ δⁿ_{t+1}) + u_{t+1} ⊙ h̄_{t+1}",
                    "δⁿ_t = (1 - n_t ⊙ n_t) ⊙ (1 - u_t) ⊙ h̄_t",
                    "δᵘ_t = u_t ⊙ (1 - u_t) ⊙ (h_{t-1} - n_t) ⊙ h̄_t",
                    "δʳ_t = r_t ⊙ (1 - r_t) ⊙ (W_hn h_{t-1} + b_hn) ⊙ δⁿ_t"]
    assert printing.text(md.get("W_hr").general) == "Σ_{t=1..T} δʳ_t h_{t-1}ᵀ"


def test_lstm_cell_state_carries_the_forget_gate():
    md = derive_matrix(symrnn.cells.lstm(), 2, (3, 2, 2), ("c0",))
    rows = dict((printing.text(l), printing.text(b)) for l, b in md.recursion("delta").equations)
    assert rows["c̄_t"] == "f_{t+1} ⊙ c̄_{t+1} + (1 - tanh(c_t) ⊙ tanh(c_t)) ⊙ o_t ⊙ h̄_t"
    assert printing.text(md.get("c0").general) == "f1 ⊙ c̄1"


# -- certification can fail ----------------------------------------------------------------------

def _certify_with(md, name, form, mutate):
    g = md.get(name)
    bad = tuple(replace(f, expr=rebuild(mutate(f.expr))) if f.name == form else f for f in g.forms)
    return certify_matrix(replace(md, gradients=(replace(g, forms=bad),)))


def test_a_swapped_gate_fails_certification():
    """∂L/∂W_ir read off the update gate's δ instead of the reset gate's: certification says which form is wrong."""
    md = derive_matrix(symrnn.cells.gru(), 2, (2, 2, 2), ("W_ir",))
    t = naming.t
    out = _certify_with(md, "W_ir", "delta", lambda e: e.xreplace({vec("delta_r", t): vec("delta_u", t)}))
    assert not out.certified
    assert {c.name for c in out.gradients[0].certificate.checks if not c.passed} == {"delta form"}


def test_a_dropped_hadamard_term_fails_certification():
    """The LSTM recursion without the forget gate's carry f_{t+1} ⊙ c̄_{t+1}: the δ form of ∂L/∂W_hf fails."""
    md = derive_matrix(symrnn.cells.lstm(), 3, (2, 2, 2), ("W_hf",))
    g = md.get("W_hf")
    rec = g.form("delta").recursion
    t = naming.t
    eqs = tuple((lhs, rebuild(body.xreplace({vec("cbar", t + 1): Zeros()})) if lhs.role == "cbar" else body)
                for lhs, body in rec.equations)
    bad = replace(g.form("delta"), recursion=replace(rec, equations=eqs))
    out = certify_matrix(replace(md, gradients=(replace(g, forms=tuple(bad if f.name == "delta" else f
                                                                        for f in g.forms)),)))
    assert not out.certified
    assert "delta form" in {c.name for c in out.gradients[0].certificate.checks if not c.passed}


def test_a_slip_in_one_sign_pattern_fails_certification():
    """relu: a form wrong only where a1 < 0 (H(h1) taken as 1) is caught, whatever the random points:
    every sign pattern is imposed (the first engine accepted such a slip when no point had a1 < 0)."""
    spec = symrnn.cells.elman("relu", "mse", "every")
    md = derive_matrix(spec, 3, (1, 1, 1), ("W",))
    from symrnn.ir.nodes import Map, Ones
    out = _certify_with(md, "W", "jacobian", lambda e: e.xreplace({Map("heaviside", vec("h", naming.s)): Ones()}))
    assert not out.certified
    assert "all 8 sign patterns" in out.gradients[0].certificate.checks[0].how
    scalar = derive_pure(spec, 3, "scalar", ("W",))
    from symrnn.certification.scalar import certify
    g = scalar.get("W")
    wrong = replace(g, terms=tuple(replace(term, factors=tuple(
        replace(f, steps=f.steps[:-1] + (f.steps[-1].xreplace({sp.Heaviside(naming.at("h", 1), 0): 1}),))
        for f in term.factors)) for term in g.terms))
    assert not certify(scalar, wrong).ok


# -- any T ----------------------------------------------------------------------------------------

def test_matrix_form_at_T20_is_certified():
    d = symrnn.derive(symrnn.cells.elman(), steps=20, dims=(2, 3, 2), params=["W"])
    assert d.certified and len(d.expansion("W")) == 20


def test_scalar_beyond_the_expansion_leads_with_the_delta_recursion():
    d = symrnn.derive(symrnn.cells.gru(), steps=14, params=["W_hr", "h0"])
    assert not d.expanded and d.certified
    assert d.expansion("W_hr") == ()
    assert "δ-recursion" in d.text() and "not written out at T = 14" in d.text()
    assert "chained forward" in str(d.get("W_hr").certificate)


def test_lstm_scalar_expansion_follows_both_states():
    """With two states a path chooses h or c at every step: 1 + 2 + 4 paths into W_ii from L3 at T = 3."""
    d = symrnn.derive(symrnn.cells.lstm(output="last"), steps=3, params=["W_ii"], certify=False)
    assert len(d.expansion("W_ii")) == 7
    assert {f.symbol.den for t in d.expansion("W_ii") for f in t.factors[1:-1]} == {
        naming.at(s, j) for s in "hc" for j in (1, 2)}


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("dims,steps", [("scalar", 2), ((2, 2, 2), 3)])
def test_relu_gated_cells_are_certified_per_sign_pattern(cell, dims, steps):
    """LSTM's h = o ⊙ relu(c) reads relu of a state that has no name of its own: its derivative is H(c_t)
    and, under a sign pattern, relu(c_t) = η c_t on both sides (it failed while it was H(relu(c_t)))."""
    spec = getattr(symrnn.cells, cell)(activation="relu")
    d = symrnn.derive(spec, steps=steps, dims=dims)
    assert d.certified, d.text()
    assert "H(relu" not in d.text()


@pytest.mark.parametrize("dims,steps", [((3, 2, 2), 300), ("scalar", 40)])
def test_lstm_at_large_T_is_certified_in_bounded_work(dims, steps):
    """No stage pays for the path expansion (4^T) or the substituted forms (5^T) it does not show: the δ form
    is certified at the requested T (central differences with their rounding measured at |L| of hundreds)."""
    d = symrnn.derive(symrnn.cells.lstm(), steps=steps, dims=dims, params=["W_hi", "V"])
    assert d.certified
    assert len(d.text()) < 200_000
