"""The derivation stage: a model and T in, the gradients out (pure; certification is the next stage).

`scalar` writes the lecture's chain rule over the unrolled graph (every size 1); `matrix` the
vector forms, both from the adjoint program of `program`.
"""
from ..errors import SymrnnError
from .matrix import MatrixDerivation, check_dims, derive_matrix
from .scalar import ScalarDerivation, derive_scalar
from . import matrix, program, scalar, unroll

MAX_MATRIX_STEPS = 1000   # the matrix forms hold for any T; written out beyond this they would not fit a page


def check_matrix_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise SymrnnError(f"steps must be a whole number ≥ 1, got {steps!r}")
    if steps > MAX_MATRIX_STEPS:
        raise SymrnnError(f"steps {steps} is above {MAX_MATRIX_STEPS}; the general-T forms hold for every T")
    return steps


def gradient_names(spec, params=None) -> tuple[str, ...]:
    """The parameters, then the initial states (h0, c0); or those of them named in `params`, in that order."""
    names = tuple(spec.params) + spec.cell.initial
    if params:
        for p in params:
            if p not in names:
                raise SymrnnError(f"unknown parameter {p!r}; this model has {', '.join(names)}")
        names = tuple(p for p in names if p in params)
    return names


def derive_pure(spec, steps: int = 2, dims="scalar", params=None):
    """The scalar derivation (dims = "scalar") or the matrix one (dims = (k, m, o)), not yet certified."""
    names = gradient_names(spec, params)
    if isinstance(dims, str) and dims == "scalar":
        return derive_scalar(spec, steps, names)
    check_matrix_steps(steps)
    return derive_matrix(spec, steps, check_dims(dims, spec), names)


def clear_caches() -> None:
    """Forget every memoised step, factor and view (after a rule of the registry changed, as the tests do)."""
    for f in (scalar.loss_by_output, scalar.output_by, scalar.loss_by_state, scalar.in_step, scalar.state_by,
              unroll.step, matrix.view, matrix._delta_keep, program.primal):
        f.cache_clear()


__all__ = ["ScalarDerivation", "MatrixDerivation", "derive_pure", "derive_scalar", "derive_matrix", "gradient_names",
           "clear_caches"]
