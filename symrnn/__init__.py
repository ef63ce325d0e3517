"""symrnn: backpropagation through time derived symbolically, certified, and printed as the lecture writes it."""
from .model import cells
from .kernels.codegen import codegen
from .derivation.scalar import Derivation, derive
from .errors import CheckFailed, SymrnnError
from .model.spec import Cell, ModelSpec, Param
from .model.specfile import load_spec
from .verification.verify import Verdict, verify

__all__ = ["cells", "codegen", "derive", "Derivation", "Cell", "ModelSpec", "Param", "load_spec", "SymrnnError", "CheckFailed", "verify", "Verdict"]
__version__ = "0.1.0"
