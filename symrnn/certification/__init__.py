"""The certification stage: every derived gradient checked against computations that share none of its reasoning."""
from ..derivation.matrix import MatrixDerivation
from .matrix import certify_matrix
from .certificate import Certificate, Check
from .scalar import certify_scalar


def certify(d):
    """d with a certificate on every gradient (scalar or matrix form)."""
    return certify_matrix(d) if isinstance(d, MatrixDerivation) else certify_scalar(d)


__all__ = ["certify", "Certificate", "Check"]
