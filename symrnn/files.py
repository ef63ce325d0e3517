"""Writing files, the one way every writer does it: through a temporary file, then `os.replace`."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path, data: bytes | str) -> None:
    """Write data (text is UTF-8, LF) to path so that no reader ever sees half a file."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
