"""The derivation document as LaTeX source: golden files, escaping, row breaking, the strict templates,
the CLI's --tex/--pdf handling (TeX itself is exercised in test_pdf.py).

Refresh the golden files after an intended change with:

    SYMRNN_UPDATE_GOLDEN=1 python -m pytest tests/test_latex.py

and the gallery (docs/gallery, .tex and .pdf) with:  python -m symrnn.documents.gallery
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import jinja2
import pytest
import sympy as sp

import symrnn
from symrnn import cli
from symrnn import printers as printing
from symrnn.documents import gallery, latex, templating
from symrnn.printers import texescape
from symrnn.errors import BuildFailed, SymrnnError
from symrnn.model.spec import Cell, ModelSpec, Param

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("SYMRNN_UPDATE_GOLDEN") == "1"
REFRESH = "SYMRNN_UPDATE_GOLDEN=1 python -m pytest tests/test_latex.py"
EVIL = r"\input{/etc/passwd}"


@lru_cache(maxsize=None)
def gallery_sources() -> dict[str, str]:
    return gallery.sources()


@lru_cache(maxsize=None)
def lecture() -> symrnn.Derivation:
    return symrnn.derive(symrnn.cells.elman(), steps=2)


# -- golden files ------------------------------------------------------------------------------

@pytest.mark.parametrize("example", [ex.name for ex in gallery.GALLERY])
def test_golden_tex(example):
    path = GOLDEN / f"{example}.tex"
    source = gallery_sources()[example]
    if UPDATE:
        path.write_text(source, encoding="utf-8")
        pytest.skip(f"updated {path}")
    assert path.exists(), f"missing golden file {path}; create it with: {REFRESH}"
    assert source == path.read_text(encoding="utf-8"), (
        f"the document for {example!r} differs from {path}; if the change is intended, refresh with: {REFRESH}"
        " (and python -m symrnn.documents.gallery for docs/gallery)")


@pytest.mark.parametrize("example", [ex.name for ex in gallery.GALLERY])
def test_gallery_is_current(example):
    committed = ROOT / "docs" / "gallery" / f"{example}.tex"
    assert committed.exists(), f"missing {committed}; regenerate the gallery with: python -m symrnn.documents.gallery"
    assert committed.read_text(encoding="utf-8") == gallery_sources()[example], (
        f"{committed} is stale; regenerate the gallery with: python -m symrnn.documents.gallery")
    assert (committed.with_suffix(".pdf")).exists(), "regenerate the gallery with: python -m symrnn.documents.gallery"


def test_rendering_is_deterministic_and_pathless():
    a, b = lecture().latex(), symrnn.derive(symrnn.cells.elman(), steps=2).latex()
    assert a == b
    assert str(ROOT) not in a and "/tmp" not in a and "\\today" not in a
    assert a.startswith(latex.MARKER)


# -- the lecture, step by step, in order ------------------------------------------------------

def test_lecture_document_has_every_step_in_order():
    tex = lecture().latex()
    steps = [
        r"a_{1} &= W h_{0} + U x_{1} + b",                                        # the unrolled model
        r"L &= L_{1} + L_{2}",                                                   # L = L1 + L2
        r"\nabla_{\Theta} L",                                                    # what we want
        r"$L_{1}$ depends on $W$ only through",                                  # the dependence sentence
        r"\frac{\partial L}{\partial W} &= \frac{\partial L_{1}}{\partial W} + \frac{\partial L_{2}}{\partial W}",
        r"\frac{\partial L_{2}}{\partial h_{2}} \, \frac{\partial h_{2}}{\partial h_{1}} \, \frac{\partial^{+} h_{1}}{\partial W}",
        r"= (Y_{1} - z_{1}) \, h_{1} + (Y_{2} - z_{2}) \, h_{2}",                # ∂L/∂V right away
        "It suffices to compute",
        r"\operatorname{sech}^{2}{\left(a_{1} \right)} \, \frac{\partial a_{1}}{\partial W}",  # sech²
        r"(1 - \tanh^{2}{\left(a_{1} \right)}) \, h_{0} = (1 - h_{1}^{2}) \, h_{0}",            # → 1 − tanh² → 1 − h²
        r"(1 - h_{2}^{2}) \, W",                                                 # ∂h2/∂h1
        r"(1)~equals sympy.diff",                                                # the checks, stated once
        r"(Y_{1} - z_{1}) \, V \, (1 - h_{1}^{2}) \, h_{0} + (Y_{2} - z_{2}) \, V \, (1 - h_{2}^{2}) \, W \, (1 - h_{1}^{2}) \, h_{0}",
        r"\certpass(1) exact identity, error",                                   # then a ✓ per check
        r"\section{The $\delta$-recursion}",
        r"\section{Any number of steps $T$}",
        r"\sum_{t=1}^{T} \sum_{s=1}^{t}",
        r"\section{The matrix form}",
        r"\delta_{t} h_{t-1}^{\top}",
        r"\section{How the results were certified}",
    ]
    at = 0
    for s in steps:
        found = tex.find(s, at)
        assert found >= 0, f"missing (or out of order): {s}"
        at = found
    assert "Every result in this document passed all of its checks." in tex
    assert r"\certfail" not in tex.split(r"\begin{document}")[1]


def test_failed_certification_is_visible():
    d = lecture()
    from dataclasses import replace
    from symrnn.certification import Certificate, Check
    bad = Certificate((Check("equals sympy.diff of the substituted loss", False, 6, 0.5, False),))
    broken = replace(d, gradients=(replace(d.gradients[0], certificate=bad),) + d.gradients[1:])
    tex = latex.render(broken, with_matrix=False)
    assert r"\certfail(1) equals sympy.diff" in tex
    assert "Certification failed for at least one result" in tex


def test_certificate_sentence_is_stated_once():
    tex = lecture().latex()
    assert tex.count("equals sympy.diff of the substituted loss") == 1
    scalar_part = tex.split(r"\section{The matrix form}")[0]
    assert scalar_part.count(r"\certpass(1)") == len(lecture().gradients)


def test_switched_off_certification_is_said():
    tex = symrnn.derive(symrnn.cells.elman(), steps=2, certify=False).latex()
    assert "certification switched off: none of them is certified" in tex
    assert "passed all of its checks" not in tex and r"\certpass" not in tex.split(r"\begin{document}")[1]


@pytest.mark.parametrize("kw", [dict(loss="ce", output="last"), dict(activation="sigmoid", loss="bce"),
                                dict(activation="relu"), dict(activation="identity")])
def test_every_model_renders(kw):
    tex = latex.render(symrnn.derive(symrnn.cells.elman(**kw), steps=3))
    assert r"\end{document}" in tex and r"\section{The matrix form}" in tex
    if kw.get("output") == "last":
        assert r"L = L_{T}" in tex and r"$L_{3}$ depends on $W$ only through" in tex


def test_matrix_only_document():
    d = symrnn.derive(symrnn.cells.elman(), steps=2, dims=(3, 2, 2))
    tex = d.latex()
    assert r"\section{The matrix form}" in tex and "It suffices to compute" not in tex
    assert r"$k = 3$, $m = 2$, $o = 2$" in tex
    assert r"\delta_{1} h_{0}^{\top} + \delta_{2} h_{1}^{\top}" in tex


# -- pictures from the model ------------------------------------------------------------------

@pytest.mark.parametrize("steps", [1, 2, 5, 12])
def test_unfolded_picture_follows_the_model(steps):
    tex = latex.render(symrnn.derive(symrnn.cells.elman(), steps=steps, certify=False), with_matrix=False)
    for t in range(1, steps + 1):
        assert rf"\node[var] (h{t}) at ({t},0) {{$h_{{{t}}}$}};" in tex
        assert rf"\draw[->] (h{t - 1}) -- node[above, lab] {{\ensuremath{{W}}}} (h{t});" in tex
    assert rf"(h{steps + 1})" not in tex


def test_many_to_one_picture_has_one_loss():
    tex = latex.render(symrnn.derive(symrnn.cells.elman(loss="ce", output="last"), steps=3, certify=False),
                       with_matrix=False)
    assert r"\node[var] (L3)" in tex and r"\node[var] (L1)" not in tex and r"\node[var] (L2)" not in tex


# -- long expansions break into rows that fit ---------------------------------------------------

@pytest.mark.parametrize("steps", [4, 8, 12])
def test_rows_stay_within_the_budget(steps):
    d = symrnn.derive(symrnn.cells.elman(), steps=steps, certify=False)
    g = d.gradients[0]
    out = latex.rows(sp.Symbol("L"), [g.leibniz, g.shown])
    assert len(out) > 2
    assert all(r.count(r"\frac{\partial L_") <= 12 for r in out)
    widths = []
    for form in (g.leibniz, g.shown):
        for term in latex.pieces(form):
            widths.append(sum(w for _, w in term))
    assert max(widths) > latex.ROW_BUDGET or steps < 8  # some terms need breaking inside
    # every term's factors are all present, in order, across the rows
    joined = " ".join(out)
    assert joined.count(r"\partial^{+} h_{1}}{\partial W}") == steps


def test_rows_keep_short_equations_on_one_line():
    f = lecture().factors()[0]
    assert len(latex.rows(f.symbol, f.steps)) == 1


# -- escaping: no LaTeX injection from user names ---------------------------------------------

def test_escape_specials():
    assert texescape.escape(EVIL) == r"\textbackslash{}input\{/etc/passwd\}"
    assert texescape.escape("a$b&c%d#e_f~g^h") == r"a\$b\&c\%d\#e\_f\textasciitilde{}g\textasciicircum{}h"
    assert texescape.escape("δ-recursion") == r"\ensuremath{\delta}-recursion"
    assert texescape.escape("x\ny") == "x y"
    assert texescape.escape("é") == "é" and texescape.escape("☃") == r"\texttt{[U+2603]}"


def test_symbol_names_cannot_inject():
    assert printing.latex(sp.Symbol(EVIL)) == r"\mathord{\text{\textbackslash{}input\{/etc/passwd\}}}"
    assert printing.latex(sp.Symbol("W_in")) == "W_{in}"


def _evil_spec():
    """A cell whose name, parameter roles and note are LaTeX commands (equation and parameter names are
    identifiers by the cell grammar, so only free text can carry them)."""
    from symrnn.model.cells import define
    cell = define(EVIL, (Param("W", EVIL, ("k", "k")), Param("U", "input }\\end{document}", ("k", "m")),
                         Param("g", EVIL, ())),
                  [("a", "W @ h_prev + U @ x"), ("h", "act(g * a)")], "h", "tanh", notes=(EVIL + " $&%#_^~",))
    return ModelSpec(cell)


def test_user_names_are_escaped_everywhere():
    tex = latex.render(symrnn.derive(_evil_spec(), steps=2, certify=False))
    body = tex.split("\n", 2)[2]                       # after the two comment lines
    assert "\\input" not in body and "\\end{document}\n" == body[-len("\\end{document}\n"):]
    assert body.count("\\end{document}") == 1
    assert r"\textbackslash{}input\{/etc/passwd\}" in body
    assert "\n" not in latex.model_command(symrnn.derive(_evil_spec(), steps=1, certify=False))


def test_spec_file_names_are_escaped(tmp_path):
    spec = tmp_path / "evil.toml"
    spec.write_text('name = "\\\\input{/etc/passwd}"\nactivation = "tanh"\npreactivation = "W*h_prev + U*x"\n'
                    'output_map = "h"\n[params.W]\nrole = "\\\\input{/etc/passwd}"\n[params.U]\nrole = "u"\n')
    tex = latex.render(symrnn.derive(symrnn.load_spec(spec), steps=2, certify=False))
    assert "\\input" not in tex.split("\n", 2)[2]


# -- the strict template environment ------------------------------------------------------------

def test_templates_are_strict():
    env = templating.latex_env()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string(r"\VAR{missing}").render()
    assert env.from_string(r"\VAR{x|tex}").render(x="%") == r"\%"
    assert env.from_string("%% if x\nyes\n%% endif\n").render(x=True) == "yes\n"


def test_templates_dir_is_found():
    assert (templating.templates_dir() / "derivation.tex.jinja").is_file()
    assert (templating.templates_dir() / "macros" / "pictures.jinja").is_file()


def test_templates_compute_no_math():
    """The templates place strings: no arithmetic in any \\VAR{…} or statement (string literals aside)."""
    import re
    for path in templating.templates_dir().rglob("*.jinja"):
        if path.name.endswith(".py.jinja"):  # code templates: tests/test_codegen.py
            continue
        text = path.read_text(encoding="utf-8")
        exprs = re.findall(r"\\VAR\{(.*?)\}(?=[^}]|$)", text) + re.findall(r"^%%(.*)$", text, re.M)
        assert exprs, path
        for e in exprs:
            bare = re.sub(r'"[^"]*"', '""', e).rstrip("-").strip()
            assert not re.search(r"[+*/%]|\s-\s|\d\s*-", bare), f"{path.name}: arithmetic in {e!r}"


# -- Jupyter and the API --------------------------------------------------------------------------

def test_repr_latex():
    r = lecture()._repr_latex_()
    assert r.startswith("$$\\begin{aligned}") and r.endswith("\\end{aligned}$$")
    assert r"= (Y_{1} - z_{1}) \, V \, (1 - h_{1}^{2}) \, h_{0}" in r and r"\text{The gradients, assembled}" in r
    m = symrnn.derive(symrnn.cells.elman(), steps=2, dims=(2, 2, 2), certify=False)._repr_latex_()
    assert r"\delta_{1} h_{0}^{\top}" in m


# -- the command line ---------------------------------------------------------------------------

def test_cli_writes_tex(tmp_path, capsys):
    out = tmp_path / "lecture.tex"
    assert cli.main(["derive", "--tex", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == lecture().latex()
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert cli.main(["derive", "--tex", str(out), "--steps", "3"]) == 0     # ours: replaced without --force
    assert "T = 3" in out.read_text(encoding="utf-8")


def test_cli_refuses_to_overwrite_foreign_files(tmp_path, capsys):
    out = tmp_path / "notes.tex"
    out.write_text("my own notes\n")
    assert cli.main(["derive", "--tex", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and len(err.strip().splitlines()) == 1
    assert out.read_text() == "my own notes\n"
    assert cli.main(["derive", "--tex", str(out), "--force"]) == 0
    assert out.read_text().startswith(latex.MARKER)


def test_cli_without_tex_writes_source_and_says_how(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(latex, "tex_engine", lambda: None)
    pdf = tmp_path / "lecture.pdf"
    assert cli.main(["derive", "--pdf", str(pdf)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install" in err and "lecture.tex" in err
    assert not pdf.exists() and (tmp_path / "lecture.tex").read_text().startswith(latex.MARKER)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lecture.tex"]       # no partial files


def test_cli_latex_failure_exits_1_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    def failing(tex, out_path, timeout=180, force=False):
        raise BuildFailed("LaTeX failed building x:\n./doc.tex:12: Undefined control sequence.")
    monkeypatch.setattr(latex, "build_pdf", failing)
    pdf = tmp_path / "out.pdf"
    assert cli.main(["derive", "--pdf", str(pdf)]) == 1
    assert "Undefined control sequence" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_written_by_symrnn_recognises_its_pdfs(tmp_path):
    pdf = tmp_path / "big.pdf"
    pdf.write_bytes(b"%PDF-1.5\n" + b"x" * (3 << 20) + b"<< /Creator (symrnn) /Producer (x) >>\n%%EOF\n")
    assert latex.written_by_symrnn(pdf)
    pdf.write_bytes(b"%PDF-1.5\n" + b"x" * 100 + b"%%EOF\n")
    assert not latex.written_by_symrnn(pdf)


def test_cli_same_file_for_tex_and_pdf(tmp_path, capsys):
    assert cli.main(["derive", "--tex", str(tmp_path / "a"), "--pdf", str(tmp_path / "a")]) == 2
    assert "same file" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_cli_missing_directory_is_bad_input(tmp_path, capsys):
    assert cli.main(["derive", "--tex", str(tmp_path / "nope" / "x.tex")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_log_excerpt_shows_the_error_lines():
    log = "This is pdfTeX\n(./doc.tex\n./doc.tex:7: Undefined control sequence.\nl.7 \\oops\n\nmore\n" + "x\n" * 50
    ex = latex.log_excerpt(log)
    assert "./doc.tex:7: Undefined control sequence." in ex and "l.7 \\oops" in ex and "x\nx\nx\nx" not in ex


# -- documents for any cell: pictures from the equation list, notes, the general-T names ------------

def test_pictures_are_drawn_from_the_equation_list():
    """A node per equation and an arrow per quantity read: GRU's r, u, n, h; LSTM's gates and both states."""
    from symrnn.documents import pictures
    g = pictures.graph(symrnn.cells.gru().cell)
    assert g.nodes == ("r", "u", "n", "h")
    reads = {n: [k for k, _ in g.reads[n]] for n in g.nodes}
    assert reads["n"] == ["x", ("prev", "h"), "r"] and reads["h"] == [("prev", "h"), "u", "n"]
    assert dict(g.reads["r"]) == {"x": ("W_ir",), ("prev", "h"): ("W_hr",)}
    lstm = pictures.graph(symrnn.cells.lstm().cell)
    assert lstm.nodes == ("i", "f", "g", "o", "c", "h") and lstm.states == ("h", "c")
    assert [k for k, _ in lstm.reads["c"]] == [("prev", "c"), "i", "f", "g"]
    # Elman's a_t is the argument of h_t = f(a_t): drawn inside h_t, with W and U on its arrows
    elman = pictures.graph(symrnn.cells.elman().cell)
    assert elman.nodes == ("h",) and dict(elman.reads["h"]) == {"x": ("U",), ("prev", "h"): ("W",)}
    tex = latex.render(symrnn.derive(symrnn.cells.lstm(), steps=2, certify=False), with_matrix=False)
    for node in (r"(c1) at", r"(f2) at", r"(c0) at", r"(c-prev) at", r"(delay-c)", r"(delay-h)"):
        assert node in tex
    assert r"\draw[->] (c0)" in tex and r"\draw[->] (h1)" in tex   # both states carried to the next step


def test_picture_ids_cannot_collide_with_equation_names(tmp_path):
    """An equation may be called hprev or delayh (letters only): the circuit's own nodes carry a hyphen."""
    spec = tmp_path / "odd.toml"
    spec.write_text('name = "odd"\nactivation = "tanh"\noutput_map = "V @ h + c"\n[equations]\n'
                    'hprev = "sigmoid(W @ h_prev + U @ x)"\ndelayh = "act(W @ h_prev)"\nh = "hprev * delayh"\n'
                    '[params.W]\nshape = ["k", "k"]\n[params.U]\nshape = ["k", "m"]\n'
                    '[params.V]\nshape = ["o", "k"]\n[params.c]\nshape = ["o"]\n')
    from symrnn.documents import pictures
    c = pictures.circuit(symrnn.load_spec(spec).cell, "every")
    ids = [n["id"] for n in c["nodes"]] + [loop["id"] for loop in c["loops"]]
    assert len(ids) == len(set(ids)) and {"hprev", "delayh", "h-prev", "delay-h"} <= set(ids)


def test_a_toml_cell_is_drawn_from_its_equations():
    from symrnn.documents import pictures
    mgu = pictures.graph(symrnn.load_spec(ROOT / "docs" / "examples" / "mgu.toml").cell)
    assert mgu.nodes == ("f", "n", "h") and dict(mgu.reads["n"])["f"] == ("W_n",)
    leaky = pictures.graph(symrnn.load_spec(ROOT / "docs" / "examples" / "leaky.toml").cell)
    assert leaky.nodes == ("h",) and set(dict(leaky.reads["h"])[("prev", "h")]) == {"W", "alpha"}


def test_activations_of_activations_are_drawn_in_one_node(tmp_path):
    """a = W h_prev + U x, b = act(a), h = act(b): a inside b inside h, W and U still on h's arrows."""
    spec = tmp_path / "nest.toml"
    spec.write_text('name = "nest"\nactivation = "tanh"\noutput_map = "V @ h + c"\n[equations]\n'
                    'a = "W @ h_prev + U @ x"\nb = "act(a)"\nh = "act(b)"\n[params.W]\nshape = ["k", "k"]\n'
                    '[params.U]\nshape = ["k", "m"]\n[params.V]\nshape = ["o", "k"]\n[params.c]\nshape = ["o"]\n')
    from symrnn.documents import pictures
    g = pictures.graph(symrnn.load_spec(spec).cell)
    assert g.nodes == ("h",) and dict(g.reads["h"]) == {"x": ("U",), ("prev", "h"): ("W",)}


def test_gru_document_says_pytorch_calls_u_z():
    tex = latex.render(symrnn.derive(symrnn.cells.gru(), steps=2, certify=False), with_matrix=False)
    assert "PyTorch calls the update gate z" in tex
    assert r"\begin{figure}[H]" in tex    # the figure stays before the unrolled rows


def test_wide_steps_unroll_one_equation_a_row():
    tex = latex.render(symrnn.derive(symrnn.cells.gru(), steps=2, certify=False), with_matrix=False)
    unrolled = tex.split(r"\section{Unrolled over $T = 2$ steps}")[1].split(r"\end{align*}")[0]
    assert unrolled.count(r"\\") == 9 and r"r_{2} &= \sigma" in unrolled


def test_general_t_names_print_like_the_step_names():
    """δᵘ_T, not δ_u_T: a decorated role at a symbolic step prints as at a numbered one (δᵘ2)."""
    from symrnn import naming
    from symrnn.printers import lecture
    assert lecture.text(naming.at("delta_u", naming.T)) == "δᵘ_T"
    assert lecture.text(naming.at("delta_u", 2)) == "δᵘ2"
    assert lecture.text(naming.at("gamma_c", naming.t)) == "γᶜ_t"
    assert lecture.text(naming.at("delta", naming.t)) == "δ_t"


@pytest.mark.parametrize("cell", ["elman", "gru", "lstm", "docs/examples/mgu.toml", "docs/examples/leaky.toml"])
def test_every_function_the_cell_applies_has_a_rule_row(cell):
    """One local rule per function application: LSTM's tanh(c_t) inside h_t = o_t ⊙ tanh(c_t) included."""
    spec = getattr(symrnn.cells, cell)() if "/" not in cell else symrnn.load_spec(ROOT / cell)
    rows = latex._activation_rules(spec)
    applied = {(m.fname, str(m.arg)) for e in spec.cell.equations for m in e.rhs.atoms(latex.Map)}
    assert len(rows) == len(applied)
    if cell == "lstm":
        c = sp.Symbol("c_t")
        assert rows[-1] == " = ".join(printing.latex(x) for x in (latex._d(sp.tanh(c), c), sp.sech(c) ** 2,
                                                                   1 - sp.tanh(c) ** 2))
