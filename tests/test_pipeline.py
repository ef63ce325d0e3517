"""The stages consume their predecessor: derive (pure) → certify → documents; nothing derived twice."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import symrnn
from symrnn import derivation
from symrnn.derivation import matrix, scalar


@pytest.fixture
def counted(monkeypatch):
    """Counts of every call of the two derivation functions, wherever a stage reaches them from."""
    calls = {"scalar": 0, "matrix": 0}

    def counting(kind, fn):
        def wrapped(*args, **kwargs):
            calls[kind] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(derivation, "derive_scalar", counting("scalar", scalar.derive_scalar))
    monkeypatch.setattr(derivation, "derive_matrix", counting("matrix", matrix.derive_matrix))
    return calls


def test_a_document_derives_only_its_matrix_section(counted):
    """The lecture's document: the scalar derivation once, the matrix form of the same model once (its own
    section, a different derivation), and printing, JSON and the notebook view derive nothing."""
    d = symrnn.derive(symrnn.cells.elman(), steps=2)
    assert counted == {"scalar": 1, "matrix": 0}
    d.text(), d.json(), d._repr_latex_()
    assert counted == {"scalar": 1, "matrix": 0}
    d.latex()
    assert counted == {"scalar": 1, "matrix": 1}


def test_a_matrix_document_derives_nothing(counted):
    d = symrnn.derive(symrnn.cells.lstm(), steps=2, dims=(3, 2, 2), certify=False)
    d.latex(), d.text(), d.json()
    assert counted == {"scalar": 0, "matrix": 1}


def test_certification_takes_the_derivation_it_is_given(counted):
    d = derivation.derive_pure(symrnn.cells.gru(), 2, (2, 2, 2))
    assert not d.certified
    c = symrnn.certification.certify(d)
    assert c.certified and counted == {"scalar": 0, "matrix": 1}


def _imports(path: Path, package: str) -> tuple[set, set]:
    """(modules of symrnn imported at module level, those imported inside functions) by one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            names = [f"{base}.{node.module}" if node.module else f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("symrnn"):
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("symrnn")]
        else:
            continue
        (top if node in tree.body else inner).update(names)
    return top, inner


def _module_graph() -> dict[str, set]:
    root = Path(symrnn.__file__).parent
    graph = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package = name if rel.name == "__init__" else name.rsplit(".", 1)[0]
        top, inner = _imports(path, package)
        graph[name] = (top, inner)
    return graph


def test_no_function_level_imports_outside_the_command_line():
    """A function-level import is how a cycle hides; only cli.py imports lazily (each subcommand's stage, for
    start-up time)."""
    lazy = {m: sorted(inner) for m, (_, inner) in _module_graph().items() if inner and m != "symrnn.cli"}
    assert lazy == {}


def test_the_stages_import_without_a_cycle():
    """The module-level imports between symrnn's modules (a package counts as its __init__) form no cycle."""
    graph = _module_graph()
    known = set(graph)

    def target(name):   # `from .x import y` may name a module y or a name in x
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    edges = {m: {target(n) for n in top} - {m} for m, (top, _) in graph.items()}
    # a package's __init__ is imported before its submodules; an edge into the package itself from one
    # of its own submodules is the usual re-export order, not a cycle
    edges = {m: {n for n in out if not m.startswith(n + ".")} for m, out in edges.items()}
    state: dict = {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(edges.get(m, ())):
            if state.get(n) == "open":
                raise AssertionError(" → ".join(path[path.index(n):] + [n]) if n in path else f"{m} → {n}")
            if n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
