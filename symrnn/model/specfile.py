"""User-defined cells from a TOML file, read without running anything.

    name = "leaky"                       # any text; escaped wherever it is printed
    activation = "tanh"                  # what act(…) means in the equations (--activation overrides it)
    states = ["h"]                       # optional, default ["h"]; h first; each state is the equation of its name
    output_map = "V @ h + c"             # Y_t, in h and the parameters
    loss = "mse"                         # optional: mse | ce | bce
    output = "every"                     # optional: every | last

    [equations]                          # in order; each may use x, the previous states (h_prev), the
    a = "W @ h_prev + U @ x + b"         # parameters and the equations above it
    h = "(1 - alpha) * h_prev + alpha * act(a)"

    [params.W]                           # one table per parameter, in order
    role = "hidden-to-hidden weights"    # optional
    shape = ["k", "k"]                   # optional, in the sizes k, m, o; [] (the default) is a scalar

The notation of the equations is `model.equations`. The first engine's format (a single
`preactivation` in h_prev and x, with `activation` applied to it) still loads: it is the
two-equation cell a = preactivation, h = act(a), read scalar-first as it always was.
"""
from __future__ import annotations

import builtins
import keyword
import re
import sys
from pathlib import Path

import sympy

from .. import naming
from ..files import read_toml
from ..errors import SymrnnError
from .cells import define
from .spec import ModelSpec, Param

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KEYS = {"name", "activation", "states", "equations", "output_map", "loss", "output", "params"}
OLD_KEYS = {"name", "activation", "preactivation", "output_map", "loss", "output", "params"}
PARAM_KEYS = {"role", "shape"}
MAX_PARAMS = 64
MAX_EQUATIONS = 24
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
VECTOR_NAME = re.compile(r"^[A-Za-z][A-Za-z]{0,11}$")
# Names the derivation gives itself: placeholders, step symbols (h2, x1, delta3 …) and indices.
RESERVED = re.compile(r"^(h_prev|x|t|s|i|j|T|L|Y|z|e|eta|delta|gamma|[a-zA-Z]+_prev|"
                      r"(a|delta|gamma|eta)_.*|.*bar)$")


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
    old = "preactivation" in data and "equations" not in data
    known = OLD_KEYS if old else KEYS
    unknown = set(data) - known
    if unknown:
        raise SymrnnError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    for key in ("activation", "output_map", "params") + (("preactivation",) if old else ("equations",)):
        if key not in data:
            also = " (or 'preactivation', the single-equation format)" if key == "equations" else ""
            raise SymrnnError(f"{where}: missing key {key!r}{also}")
    params = _params(data["params"], where)
    act = _text(activation or data["activation"], f"{where}: activation")
    name = _text(data.get("name", path.stem), f"{where}: name")
    if old:   # a_t = preactivation, h_t = act(a_t): the first engine's cell, scalar-first as before
        cell = define(name, params, [(naming.PREACT, _text(data["preactivation"], f"{where}: preactivation", 2000)),
                                     (naming.STATE, "act(a)")],
                      _text(data["output_map"], f"{where}: output_map", 2000), act, strict=False, where=where)
    else:
        states = _states(data.get("states", [naming.STATE]), where)
        equations = _equations(data["equations"], where, params)
        vectors = {n for n, _ in equations}
        for p in params:
            split = naming.split_symbol(p.name)
            if split and split[0] in vectors:
                raise SymrnnError(f"{where}: parameter name {p.name!r} is not allowed: it is the symbol of "
                                  f"{split[0]} at step {split[1]}")
        missing = [s for s in states if s not in dict(equations)]
        if missing:
            raise SymrnnError(f"{where}: the state {missing[0]!r} is never updated: add an equation "
                              f"{missing[0]} = \"…\" under [equations]")
        cell = define(name, params, equations, _text(data["output_map"], f"{where}: output_map", 2000), act,
                      states=states, where=where)
    return ModelSpec(cell, loss=loss or _text(data.get("loss", "mse"), f"{where}: loss"),
                     output=output or _text(data.get("output", "every"), f"{where}: output"))


def _text(value, what: str, limit: int = 64) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise SymrnnError(f"{what}: expected a non-empty string of at most {limit} characters, got {value!r:.40}")
    return value


def _reserved_name(name: str) -> str | None:
    """Why a user's name cannot be used, or None: a name SymPy or Python reads as something else would not
    survive the JSON round trip through sympify (E is Euler's number, I the imaginary unit, …)."""
    if RESERVED.match(name):
        return "the derivation uses it (h_prev, x, Y, z, L, δ, γ, a step index, or a name it makes: a_…, delta_…, …bar)"
    if hasattr(sympy, name) or hasattr(builtins, name) or keyword.iskeyword(name) or name in ("N", "S", "O", "Q"):
        return "SymPy or Python reads it as something else (E, I, N, S, pi, oo, exp, …)"
    return None


def _params(table, where: str) -> tuple[Param, ...]:
    if not isinstance(table, dict) or not table:
        raise SymrnnError(f"{where}: 'params' must be a table with one sub-table per parameter, e.g. [params.W]")
    if len(table) > MAX_PARAMS:
        raise SymrnnError(f"{where}: {len(table)} parameters is more than the limit {MAX_PARAMS}")
    out = []
    for name, info in table.items():
        if not IDENTIFIER.match(name) or naming.split_symbol(name) and naming.split_symbol(name)[0] in "hxaYzL":
            raise SymrnnError(f"{where}: parameter name {name!r} is not allowed (a letter, then letters, digits or _; "
                              f"not a step symbol like h1)")
        why = _reserved_name(name)
        if why:
            raise SymrnnError(f"{where}: parameter name {name!r} is not allowed: {why}")
        if not isinstance(info, dict):
            raise SymrnnError(f"{where}: parameter {name!r} must be a table ([params.{name}] with optional role and "
                              f"shape), not {type(info).__name__} {info!r:.20}")
        extra = set(info) - PARAM_KEYS
        if extra:
            raise SymrnnError(f"{where}: parameter {name!r}: unknown key(s) {', '.join(sorted(extra))}; "
                              f"known: role, shape")
        shape = info.get("shape", [])
        if not isinstance(shape, list) or len(shape) > 2 or not all(s in ("k", "m", "o") for s in shape):
            raise SymrnnError(f"{where}: parameter {name!r}: shape {shape!r:.40} is not a list of at most two of "
                              f"'k', 'm', 'o'")
        out.append(Param(name, _text(info.get("role", "parameter"), f"{where}: parameter {name!r} role"),
                         tuple(shape)))
    return tuple(out)


def _states(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value) or len(value) > 4:
        raise SymrnnError(f"{where}: 'states' must be a list of one to four names, h first, e.g. [\"h\", \"c\"]")
    if value[0] != naming.STATE:
        raise SymrnnError(f"{where}: 'states' must start with \"h\" (the output map reads h_t), got {value!r}")
    if len(set(value)) != len(value):
        raise SymrnnError(f"{where}: 'states' names a state twice: {value!r}")
    return tuple(value)


def _equations(table, where: str, params) -> list[tuple[str, str]]:
    if not isinstance(table, dict) or not table:
        raise SymrnnError(f"{where}: 'equations' must be a table of name = \"right-hand side\" lines, in order")
    if len(table) > MAX_EQUATIONS:
        raise SymrnnError(f"{where}: {len(table)} equations is more than the limit {MAX_EQUATIONS}")
    names = {p.name for p in params}
    out = []
    for name, rhs in table.items():
        if not VECTOR_NAME.match(name):
            raise SymrnnError(f"{where}: equation name {name!r} is not allowed (letters only, at most 12, so that "
                              f"its value at step 2 reads {name}2)")
        why = _reserved_name(name)
        if why and name != naming.STATE:
            raise SymrnnError(f"{where}: equation name {name!r} is not allowed: {why}")
        if name in names:
            raise SymrnnError(f"{where}: equation {name!r} has the name of a parameter; rename one of them")
        out.append((name, _text(rhs, f"{where}: equation {name}", 2000)))
    return out


__all__ = ["load_spec"]
