"""User-defined cells from a TOML file, read without running anything.

    name = "scaled"                          # any text; escaped wherever it is printed
    activation = "tanh"                      # a name from the activation registry
    preactivation = "W*h_prev + U*x + b"     # in h_prev, x and the parameters
    output_map = "V*h + c"                   # in h and the parameters
    loss = "mse"                             # optional: mse | ce | bce
    output = "every"                         # optional: every | last

    [params.W]                               # one table per parameter, in order
    role = "hidden-to-hidden weights"        # optional
    shape = ["k", "k"]                       # optional, in the sizes k, m, o
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from .. import naming
from ..files import read_toml
from ..errors import SymrnnError
from .parsing import parse_expr
from .spec import Cell, ModelSpec, Param

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KEYS = {"name", "activation", "preactivation", "output_map", "loss", "output", "params"}
PARAM_KEYS = {"role", "shape"}
MAX_PARAMS = 32
# Names the derivation gives itself: placeholders, step symbols (h2, x1, delta3 …) and indices.
RESERVED = re.compile(r"^(h_prev|h|x|t|s|i|T|L|(h|x|a|Y|z|L|delta)\d+)$")
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def load_spec(path, activation=None, loss=None, output=None) -> ModelSpec:
    """The model in a TOML spec file; the keyword arguments, when given, override the file."""
    path = Path(path)
    try:
        data = read_toml(path, "spec file")
    except OSError as e:
        raise SymrnnError(f"cannot read spec file {str(path)!r}: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SymrnnError(f"spec file {str(path)!r} is not valid TOML: {e}") from None
    where = f"spec file {str(path)!r}"
    unknown = set(data) - KEYS
    if unknown:
        raise SymrnnError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}")
    for key in ("activation", "preactivation", "output_map", "params"):
        if key not in data:
            raise SymrnnError(f"{where}: missing key {key!r}")
    params = _params(data["params"], where)
    names = {p.name: naming.param(p.name) for p in params}
    cell = Cell(
        name=_text(data.get("name", path.stem), f"{where}: name"),
        activation=_text(activation or data["activation"], f"{where}: activation"),
        params=params,
        preactivation=parse_expr(data["preactivation"], {**names, "h_prev": naming.PREV, "x": naming.X},
                                 f"{where}: preactivation"),
        output_map=parse_expr(data["output_map"], {**names, "h": naming.CUR}, f"{where}: output_map"),
    )
    return ModelSpec(cell, loss=loss or _text(data.get("loss", "mse"), f"{where}: loss"),
                     output=output or _text(data.get("output", "every"), f"{where}: output"))


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise SymrnnError(f"{what}: expected a short non-empty string, got {value!r:.40}")
    return value


def _params(table, where: str) -> tuple[Param, ...]:
    if not isinstance(table, dict) or not table:
        raise SymrnnError(f"{where}: 'params' must be a table with one sub-table per parameter")
    if len(table) > MAX_PARAMS:
        raise SymrnnError(f"{where}: {len(table)} parameters is more than the limit {MAX_PARAMS}")
    out = []
    for name, info in table.items():
        if not IDENTIFIER.match(name) or RESERVED.match(name):
            raise SymrnnError(f"{where}: parameter name {name!r} is not allowed "
                              "(a letter, then letters, digits or _; not h, x, h_prev or a step symbol like h1)")
        info = info if isinstance(info, dict) else {}
        extra = set(info) - PARAM_KEYS
        if extra:
            raise SymrnnError(f"{where}: parameter {name!r}: unknown key(s) {', '.join(sorted(extra))}")
        shape = info.get("shape", [])
        if not isinstance(shape, list) or not all(s in ("k", "m", "o") for s in shape):
            raise SymrnnError(f"{where}: parameter {name!r}: shape must be a list of 'k', 'm', 'o'")
        out.append(Param(name, _text(info.get("role", "parameter"), f"{where}: parameter {name!r} role"),
                         tuple(shape)))
    return tuple(out)
