import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

# CI sets SYMRNN_REQUIRE_TORCH=1: then the PyTorch oracle tests must run, and a missing torch fails
# the run instead of turning pytest.importorskip("torch") into a silent skip.
if os.environ.get("SYMRNN_REQUIRE_TORCH") == "1":
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise RuntimeError(f"SYMRNN_REQUIRE_TORCH=1 but torch cannot be imported ({e}); see .ci/run") from None

# ... and with SYMRNN_REQUIRE_MATPLOTLIB=1 the figure tests (tests/test_pictures.py) must run too.
if os.environ.get("SYMRNN_REQUIRE_MATPLOTLIB") == "1":
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise RuntimeError(f"SYMRNN_REQUIRE_MATPLOTLIB=1 but matplotlib cannot be imported ({e}); see .ci/run") from None
