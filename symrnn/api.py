"""The public `derive`: the derivation stage, then certification, then a result that prints itself.

    spec -> derivation.derive_pure -> certification.certify -> Derivation (text, LaTeX, JSON, notebook views)

This module sits on top of every stage, so the results' presentation methods (`d.latex()`,
`d.text()`, Jupyter's `_repr_latex_`) can call the documents without the stages knowing them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .certification import certify as run_checks
from .derivation import MatrixDerivation, ScalarDerivation, derive_pure
from .documents import latex as latex_document
from .documents import notebook, report


class Derivation:
    """What every derivation offers: its gradients by name, and the derivation as text, LaTeX and JSON.

    `gradient(name)` is a SymPy expression (scalar form) or a matrix-IR node (matrix form),
    `expansion(name)` its chain-rule terms, `certified` whether every check ran and passed.
    """

    def latex(self, flow=None) -> str:
        """The derivation as a complete LaTeX document (templates/derivation.tex.jinja); with `flow`
        (`symrnn.flow(spec, …)` of the same model) also the chapter "Why gradients vanish or explode"."""
        return latex_document.render(self, flow=flow)

    def text(self) -> str:
        """The derivation as a student reads it in a terminal."""
        return report.text(self)

    def json(self) -> str:
        return report.to_json(self)

    def __str__(self) -> str:
        return self.text()

    def _repr_latex_(self) -> str:
        """Jupyter shows a derivation as the document does: expansion, local factors, results, certificate."""
        return notebook.repr_latex(self)

    def _repr_html_(self) -> str:
        return notebook.repr_html(self)

    def __repr__(self) -> str:
        form = "scalar" if self.dims == "scalar" else f"matrix (k, m, o) = {self.dims}"
        state = "certified" if self.certified else "not certified"
        return (f"<Derivation of {self.spec.name}, T = {self.steps}, {form}: ∂L/∂{{{', '.join(self.names)}}}, "
                f"{state}>")


@dataclass(frozen=True, repr=False)
class ScalarResult(Derivation, ScalarDerivation):
    """A scalar derivation (the lecture's chain rule) with its presentation."""


@dataclass(frozen=True, repr=False)
class MatrixResult(Derivation, MatrixDerivation):
    """A matrix-form derivation with its presentation."""


def _present(d):
    cls = MatrixResult if isinstance(d, MatrixDerivation) else ScalarResult
    return cls(**{f.name: getattr(d, f.name) for f in fields(d)})


def derive(spec, steps: int = 2, dims="scalar", params=None, certify: bool = True) -> Derivation:
    """Derive ∂L/∂θ for every parameter (or those named in `params`) and the initial states, then certify them.

    dims = "scalar" (k = m = o = 1, the lecture's expansion) or (k, m, o): the matrix form.
    """
    d = derive_pure(spec, steps, dims, params)
    return _present(run_checks(d) if certify else d)


__all__ = ["derive", "Derivation", "ScalarResult", "MatrixResult"]
