"""The notebook experience: every result object has a short repr, a readable str in the lecture's
notation and Jupyter views that render the derivation; docs/notebook.ipynb runs.

The example notebook is our own file: its code cells are executed here in one namespace (as a kernel
would, the value of a cell's last expression is what Jupyter displays), and with nbclient in a real
kernel when it is installed (python -m pip install ".[notebook]").
"""
from __future__ import annotations

import ast
import json
from functools import lru_cache
from pathlib import Path

import pytest

import symrnn

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"
RAW = ("MatProd(", "Plus(", "Hadamard(", "Partial(", "Chain(", "Terms(", "Gradient(wrt=", "Term(loss_step")


@lru_cache(maxsize=None)
def lecture():
    return symrnn.derive(symrnn.cells.elman(), steps=2)


@lru_cache(maxsize=None)
def gru_matrix():
    return symrnn.derive(symrnn.cells.gru(), steps=2, dims=(2, 2, 2))


def _short(obj, limit=200):
    r = repr(obj)
    assert "\n" not in r and len(r) <= limit, r
    assert not any(raw in r for raw in RAW), r
    return r


# -- each object: repr, str, Jupyter ----------------------------------------------------------------

def test_derivation_views():
    d = lecture()
    assert _short(d).startswith("<Derivation of elman_tanh_mse_every, T = 2, scalar")
    assert str(d) == d.text()
    html, tex = d._repr_html_(), d._repr_latex_()
    for heading in ("The model", "The chain rule over the unrolled graph", "Local factors",
                    "The gradients, assembled", "Certificate"):
        assert f"<h4>{heading}</h4>" in html and rf"\text{{{heading}}}" in tex
    # the simplification steps of a local factor, and a ✓ per check
    assert r"\operatorname{sech}^{2}" in tex and r"1 - h_{1}^{2}" in tex
    assert html.count("✓") == 3 * len(d.gradients) and "✗" not in html
    assert tex.startswith("$$\\begin{aligned}") and tex.endswith("\\end{aligned}$$")
    assert "<script" not in html and "&amp;=" in html        # LaTeX's & escaped: nothing in it is markup


def test_matrix_derivation_views():
    m = gru_matrix()
    assert "matrix (k, m, o) = (2, 2, 2)" in _short(m, 400)
    html = m._repr_html_()
    assert "Backwards in time" in html and r"\bar{h}_{t}" in html and "✓" in html
    assert r"\odot" in m._repr_latex_() and "Plus(" not in html


def test_gradient_term_factor():
    g = lecture().get("W")
    assert _short(g) == "<Gradient ∂L/∂W: 3 chain-rule terms, certified>"
    text = str(g)
    assert text.splitlines()[0] == "∂L/∂W = ∂L1/∂h1 ∂⁺h1/∂W + ∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W + ∂L2/∂h2 ∂⁺h2/∂W"
    assert "∂⁺h1/∂W = ∂/∂W tanh(a1) = sech(a1)² ∂a1/∂W = (1 - tanh(a1)²) h0 = (1 - h1²) h0" in text
    assert "✓ equals sympy.diff" in text
    term = g.terms[1]
    assert _short(term) == "<Term of L2: ∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W>"
    assert str(term) == "∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W = (Y2 - z2) V (1 - h2²) W (1 - h1²) h0"
    hop = term.factors[1]
    assert str(hop).startswith("∂h2/∂h1 = ") and str(hop).endswith("= (1 - h2²) W")
    assert _short(hop) == "<Factor ∂h2/∂h1 = (1 - h2²) W>"
    assert term._repr_latex_().startswith("$\\frac{\\partial L_{2}}{\\partial h_{2}}")
    assert "Local factors" in g._repr_html_()


def test_matrix_gradient_and_nodes():
    g = gru_matrix().get("W_hu")
    assert _short(g).startswith("<MatrixGradient ∂L/∂W_hu = Σ_{t=1..T} δᵘ_t h_{t-1}ᵀ")
    assert "(written out at the given T)" in str(g) and "✓" in str(g)
    node = g.at_T
    assert str(node) == "δᵘ1 h0ᵀ + δᵘ2 h1ᵀ"
    assert _short(node) == "<Plus: δᵘ1 h0ᵀ + δᵘ2 h1ᵀ>"
    assert node._repr_latex_() == r"$\delta^{u}_{1} h_{0}^{\top} + \delta^{u}_{2} h_{1}^{\top}$"
    big = symrnn.cells.gru().cell.equations[2].rhs          # n = tanh(W_in x + b_in + r ⊙ (W_hn h_prev + b_hn))
    assert str(big) == "tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))"
    assert _short(g.certificate).startswith("<Certificate: ")


def test_verdict_views():
    v = symrnn.verify(symrnn.cells.elman(), "W", "(Y1 - z1)*V*(1 - h1**2)*h0 + (Y2 - z2)*V*(1 - h2**2)*h1", steps=2)
    assert _short(v) == "<Verdict ∂L/∂W: wrong — missing ∂L2/∂h2 ∂h2/∂h1 ∂⁺h1/∂W>"
    assert str(v) == v.report
    html = v._repr_html_()
    assert "<h4>Yours</h4>" in html and "<h4>The true gradient</h4>" in html and "Missing terms" in html
    ok = symrnn.verify(symrnn.cells.elman(), "c", "Y1 - z1 + Y2 - z2", steps=2)
    assert _short(ok).startswith("<Verdict ∂L/∂c: correct")


# -- the example notebook -----------------------------------------------------------------------------

def _notebook() -> dict:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    return nb


def test_notebook_is_stored_without_outputs():
    """Reproducible: no outputs, no execution counts (run it to see them)."""
    for cell in _notebook()["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_notebook_code_runs_and_renders():
    """Each code cell runs in one namespace; each cell's displayed value renders as Jupyter would show it."""
    namespace: dict = {}
    shown = []
    for cell in _notebook()["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, "<notebook>", "exec"), namespace)              # our own file, see the docstring
        if last is not None:
            shown.append(eval(compile(ast.Expression(last.value), "<notebook>", "eval"), namespace))
    assert len(shown) >= 8
    for value in shown:
        view = getattr(value, "_repr_html_", None) or getattr(value, "_repr_latex_", None)
        rendered = view() if view else repr(value)
        assert rendered and not any(raw in rendered for raw in RAW), rendered[:200]
    assert isinstance(namespace["d"], symrnn.api.Derivation) and namespace["v"].ok is False


def test_notebook_runs_in_a_kernel():
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.reads(NOTEBOOK.read_text(encoding="utf-8"), as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("text/html" in o.get("data", {}) and "Local factors" in o["data"]["text/html"] for o in outputs)
