"""symrnn: backpropagation through time derived symbolically, certified, and printed as the lecture writes it."""
from . import cells
from .codegen import codegen
from .derive import Derivation, derive
from .errors import CheckFailed, SymrnnError
from .spec import Cell, ModelSpec, Param
from .specfile import load_spec
from .verify import Verdict, verify

__all__ = ["cells", "codegen", "derive", "Derivation", "Cell", "ModelSpec", "Param", "load_spec", "SymrnnError", "CheckFailed", "verify", "Verdict"]
__version__ = "0.1.0"
