"""symrnn: backpropagation through time derived symbolically, certified, and printed as the lecture writes it."""
__version__ = "0.2.0"

from .model import cells  # noqa: E402  (the version first: the documents print it)
from .api import Derivation, derive  # noqa: E402
from .errors import CheckFailed, SymrnnError  # noqa: E402
from .kernels.codegen import codegen  # noqa: E402
from .model.spec import Cell, ModelSpec, Param  # noqa: E402
from .model.specfile import load_spec  # noqa: E402
from .verification.verify import Verdict, verify  # noqa: E402
from .analysis.flow import Flow, flow  # noqa: E402

__all__ = ["cells", "codegen", "derive", "Derivation", "Cell", "ModelSpec", "Param", "load_spec", "SymrnnError",
           "CheckFailed", "verify", "Verdict", "flow", "Flow"]
