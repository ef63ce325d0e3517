"""Shapes of a cell's equations at given sizes (k, m, o): the matrix form needs every term conformable.

A cell from the single-equation format or the Python API is read scalar-first (every size 1
works); before its matrix form is derived, each equation must be a k-vector and the output map
an o-vector at the requested sizes, or the user hears which term does not fit and why.
"""
from __future__ import annotations

from .. import naming
from ..errors import SymrnnError
from ..ir.nodes import (Diag, Gain, Hadamard, Map, Mat, MatProd, Minus, Neg, Num, Ones, Plus, Square, Transposed, Vec,
                        addends)
from ..model.spec import Cell
from ..printers import text

ANY = "any"   # the all-ones vector: as long as whatever it meets


def _what(shape) -> str:
    if shape == ():
        return "a scalar"
    if shape == ANY:
        return "the all-ones vector"
    if len(shape) == 1:
        return f"a {shape[0]}-vector"
    return f"{shape[0]}×{shape[1]}"


class _Mismatch(Exception):
    pass


def shape_of(e, cell: Cell, dims) -> tuple:
    """(), (n,), (r, c) or ANY, at sizes dims; _Mismatch when the operands do not fit."""
    size = dict(zip("kmo", dims))
    if isinstance(e, Vec):
        return (size["m"],) if e.role == naming.INPUT else (size["o"],) if e.role == naming.OUTPUT else (size["k"],)
    if isinstance(e, (Gain, Num)):
        return ()
    if isinstance(e, Mat):
        return tuple(size[s] for s in cell.param(e.name).shape)
    if isinstance(e, Ones):
        return ANY
    if isinstance(e, (Plus, Minus, Hadamard)):
        shapes = {s for s in (shape_of(a, cell, dims) for a in e.args) if s != ANY}
        if len(shapes) > 1:
            raise _Mismatch(" and ".join(_what(s) for s in sorted(shapes, key=str)))
        return shapes.pop() if shapes else ANY
    if isinstance(e, (Neg, Map, Square)):
        return shape_of(e.args[-1], cell, dims)
    if isinstance(e, Transposed):
        return tuple(reversed(shape_of(e.args[0], cell, dims)))
    if isinstance(e, Diag):
        (n,) = shape_of(e.args[0], cell, dims)
        return (n, n)
    if isinstance(e, MatProd):
        out = ()
        for f in e.args:
            s = shape_of(f, cell, dims)
            if s == () or s == ANY:
                continue
            if out == ():
                out = s
            elif len(out) == 2 and out[1] == s[0]:
                out = (out[0],) + s[1:]
            else:
                raise _Mismatch(f"{_what(out)} times {_what(s)}")
        return out
    raise _Mismatch(f"no shape rule for {type(e).__name__}")


def check_cell(cell: Cell, dims) -> None:
    """Each equation a k-vector, the output map an o-vector, every term conformable; else one line naming the term."""
    size = dict(zip("kmo", dims))
    rows = [(f"equation {e.name}", e.rhs, "k") for e in cell.equations]
    if len(cell.equations) == 2 and cell.equations[0].name == naming.PREACT:
        rows[0] = ("pre-activation", cell.equations[0].rhs, "k")   # the single-equation format's own word
    rows.append(("output map", cell.output, "o"))
    for what, rhs, letter in rows:
        for term in addends(rhs):
            try:
                shape = shape_of(term, cell, dims)
                got = _what(shape)
            except _Mismatch as m:
                shape, got = None, f"not conformable ({m})"
            if shape not in ((size[letter],), ANY):
                raise SymrnnError(
                    f"cell {cell.name!r}: the {what} term {text(term)} is {got} at (k, m, o) = {dims}, not a "
                    f"{letter}-vector ({size[letter]}×1); declare each parameter's shape (e.g. shape = [\"k\", \"m\"]) "
                    f"so the matrix form is consistent")


__all__ = ["shape_of", "check_cell"]
