"""The `symrnn` command line: argparse in front of the pipeline; the only place that exits."""
from __future__ import annotations

import argparse
import sys

from . import cells, report
from .derive import derive
from .errors import BuildFailed, CheckFailed, SymrnnError
from .rules import ACTIVATIONS, LOSSES
from .spec import OUTPUTS
from .specfile import load_spec


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2, as every symrnn error is."""

    def error(self, message):
        raise SymrnnError(f"{self.prog}: {message}")


def parse_dims(text: str, loss: str | None = None):
    """`scalar` or `K,M,O` (state, input, output sizes); softmax cross-entropy (`ce`) needs O ≥ 2."""
    if text == "scalar":
        return "scalar"
    parts = text.split(",")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or len(parts) != 3:
        raise SymrnnError(f"--dims {text!r}: expected 'scalar' or three sizes K,M,O such as 4,3,2")
    if min(dims) < 1:
        raise SymrnnError(f"--dims {text!r}: sizes must be ≥ 1")
    if loss == "ce" and dims[2] < 2:
        raise SymrnnError(f"--dims {text!r}: --loss ce (softmax cross-entropy) needs O ≥ 2 output units; "
                          f"use --loss bce for one output unit")
    return dims


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cell", default="elman", help="elman (the lecture's RNN) or a spec file PATH.toml; default elman")
    # None = "not given": a spec file's own choice stands, else the lecture's default.
    p.add_argument("--activation", help=f"{'|'.join(ACTIVATIONS)}; default tanh")
    p.add_argument("--loss", help=f"{'|'.join(LOSSES)}; default mse")
    p.add_argument("--output", help=f"{'|'.join(OUTPUTS)}; default every")
    p.add_argument("--steps", type=int, default=2, metavar="T", help="number of time steps T; default 2")
    p.add_argument("--dims", default="scalar", help="scalar or K,M,O; default scalar")


def model_from(args):
    if args.cell.endswith(".toml"):
        return load_spec(args.cell, activation=args.activation, loss=args.loss, output=args.output)
    return cells.build(args.cell, activation=args.activation or "tanh", loss=args.loss or "mse",
                       output=args.output or "every")


def cmd_derive(args) -> int:
    spec = model_from(args)
    d = derive(spec, steps=args.steps, dims=parse_dims(args.dims, spec.loss), params=args.param)
    documents = args.tex or args.pdf
    fmt = args.format or (None if documents else "text")
    if fmt:
        out = {"text": report.text, "json": report.to_json, "latex": report.latex_fragments}[fmt](d)
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if documents:
        from . import latex
        for path in latex.write_documents(d, tex=args.tex, pdf=args.pdf, force=args.force):
            print(f"wrote {path}", file=sys.stderr if fmt else sys.stdout)
    if not d.certified:
        raise CheckFailed("a derived gradient failed certification (a bug in symrnn: please report it)")
    return 0


def cmd_codegen(args) -> int:
    from .codegen import catalogue_specs, codegen
    if args.all:
        given = [o for o in ("cell", "activation", "loss", "output") if getattr(args, o) not in (None, "elman")]
        if given:
            raise SymrnnError(f"--all writes every catalogue kernel; drop --{given[0]}")
        specs = catalogue_specs()
    else:
        specs = [model_from(args)]
    for spec in specs:
        print(codegen(spec, args.o, force=args.force))
    return 0


def build_parser() -> Parser:
    parser = Parser(prog="symrnn", description="Backpropagation through time, derived symbolically and certified.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p = sub.add_parser("derive", help="derive ∂L/∂θ for every parameter, as the lecture does",
                       description="Derive ∂L/∂θ by the chain rule over the unrolled graph, certify it, print it.")
    add_model_options(p)
    p.add_argument("--param", action="append", metavar="NAME", help="only this parameter (repeatable)")
    p.add_argument("--format", choices=("text", "latex", "json"),
                   help="what to print; default text, or nothing but the written paths with --tex/--pdf")
    p.add_argument("--tex", metavar="FILE", help="write the derivation as a LaTeX document")
    p.add_argument("--pdf", metavar="FILE", help="build the derivation document as a PDF (needs TeX: latexmk or pdflatex)")
    p.add_argument("--force", action="store_true", help="overwrite files symrnn did not write")
    p.set_defaults(run=cmd_derive)
    p = sub.add_parser("codegen", help="write the NumPy BPTT kernel module of a model and print its path",
                       description="Derive and certify the model's matrix-form BPTT, write it as a standalone NumPy "
                                   "module <cell>_<activation>_<loss>_<output>.py (any T and sizes; --steps and "
                                   "--dims do not apply) and print its path.")
    add_model_options(p)
    p.add_argument("-o", metavar="DIR", default="generated", help="output directory; default generated")
    p.add_argument("--all", action="store_true",
                   help="write every catalogue kernel (cell × activation × loss × output); "
                        "symrnn codegen --all -o generated refreshes the committed ones")
    p.add_argument("--force", action="store_true", help="overwrite files symrnn did not write")
    p.set_defaults(run=cmd_codegen)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except SymrnnError as e:
        print(f"symrnn: error: {e}", file=sys.stderr)
        return 2
    except CheckFailed as e:
        print(f"symrnn: check failed: {e}", file=sys.stderr)
        return 1
    except BuildFailed as e:
        print(f"symrnn: {e}", file=sys.stderr)
        return 1
