"""The `symrnn` command line: argparse in front of the pipeline; the only place that exits."""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from .model import cells
from .documents import report
from .api import derive
from .errors import BuildFailed, CheckFailed, SymrnnError
from .files import check_target, write_atomic
from .ir.primitives import ACTIVATIONS, LOSSES
from .model.spec import OUTPUTS
from .model.specfile import load_spec
from .terminal import ascii_fallback
from . import __version__


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2, as every symrnn error is."""

    def error(self, message):
        # main() prefixes "symrnn: error: "; name the subcommand once, not "symrnn derive" after "symrnn".
        command = self.prog.partition(" ")[2]
        raise SymrnnError(f"{command}: {message}" if command else message)


def positive_int(text: str) -> int:
    """An argparse type: a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text[:40]!r}")
    return value


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


def add_model_options(p: argparse.ArgumentParser, *, unrolled: bool = True) -> None:
    """The model options every subcommand shares; `unrolled` adds --steps and --dims (not for kernels)."""
    p.add_argument("--cell", default="elman", help="elman (the lecture's RNN), gru, lstm (PyTorch's) or a spec file "
                                                   "PATH.toml; default elman")
    # None = "not given": a spec file's own choice stands, else the lecture's default.
    p.add_argument("--activation", choices=list(ACTIVATIONS), help="the activation; default tanh")
    p.add_argument("--loss", choices=list(LOSSES), help="mse, ce (softmax cross-entropy) or bce; default mse")
    p.add_argument("--output", choices=list(OUTPUTS), help="a loss at every step or only the last; default every")
    if unrolled:
        p.add_argument("--steps", type=positive_int, default=2, metavar="T", help="number of time steps T; default 2")
        p.add_argument("--dims", default="scalar", metavar="scalar|K,M,O",
                       help="scalar (the lecture), or matrix form with K the state size, M the input size and "
                            "O the output size, e.g. 2,3,2; default scalar")


def model_from(args):
    if args.cell.endswith(".toml"):
        return load_spec(args.cell, activation=args.activation, loss=args.loss, output=args.output)
    return cells.build(args.cell, activation=args.activation or "tanh", loss=args.loss or "mse",
                       output=args.output or "every")


FLOW_STEPS = 50     # the run of `derive --flow`'s chapter (symrnn flow's defaults)


def cmd_derive(args) -> int:
    spec = model_from(args)
    if args.flow and not (args.tex or args.pdf):
        raise SymrnnError("--flow adds a chapter to the document: give --tex FILE or --pdf FILE")
    d = derive(spec, steps=args.steps, dims=parse_dims(args.dims, spec.loss), params=args.param)
    documents = args.tex or args.pdf
    fmt = args.format or (None if documents else "text")
    if fmt:
        out = {"text": report.text, "json": report.to_json, "latex": report.latex_fragments}[fmt](d)
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if documents:
        from .documents import latex
        flow = None
        if args.flow:
            from .analysis.flow import flow as gradient_flow
            flow = gradient_flow(spec, None, FLOW_STEPS, dims=d.dims, radius=1.0, seed=0)
        for path in latex.write_documents(d, tex=args.tex, pdf=args.pdf, force=args.force, flow=flow):
            print(f"wrote {path}", file=sys.stderr if fmt else sys.stdout)
    if not d.certified:
        raise CheckFailed("a derived gradient failed certification (a bug in symrnn: please report it)")
    return 0


def cmd_codegen(args) -> int:
    from .kernels.codegen import catalogue_specs, codegen
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


def parse_numbers(text: str, what: str) -> tuple[float, ...]:
    """Comma-separated finite floats, e.g. `0.5` or `1,2`."""
    items = [item.strip() for item in text.split(",")]
    values = []
    for item in items:
        try:
            v = float(item)
        except ValueError:
            raise SymrnnError(f"{what} {text!r}: {item!r} is not a number") from None
        if not math.isfinite(v):
            raise SymrnnError(f"{what} {text!r}: {item!r} is not a finite number")
        values.append(v)
    return tuple(values)


def parse_sequence(text: str, what: str) -> tuple[tuple[float, ...], ...]:
    """Inputs one per step: `1,0,2` (scalar x), or `1,2;0,1;…` (vector x, steps separated by ';')."""
    if ";" in text:
        rows = tuple(parse_numbers(row, what) for row in text.split(";"))
        if len({len(r) for r in rows}) != 1:
            raise SymrnnError(f"{what} {text!r}: every step needs the same number of components")
        return rows
    return tuple((v,) for v in parse_numbers(text, what))


def cmd_dynamics(args) -> int:
    from .analysis import dynamics
    from .analysis import dynamics_report
    lecture = args.f is None
    f_text = dynamics.LECTURE_F if lecture else args.f
    theta = parse_numbers(args.theta, "--theta") if args.theta is not None else \
        (dynamics.LECTURE_THETA if lecture else ())
    h0 = parse_numbers(args.h0, "--h0") if args.h0 is not None else dynamics.LECTURE_H0
    xs = parse_sequence(args.x, "--x") if args.x is not None else None
    steps = args.steps if args.steps is not None else (len(xs) if xs else dynamics.LECTURE_STEPS)
    if not 1 <= steps <= dynamics.MAX_STEPS:
        raise SymrnnError(f"--steps {steps}: must be between 1 and {dynamics.MAX_STEPS}")
    starts = None
    if args.starts is not None:
        starts = [parse_numbers(s, "--starts") for s in args.starts.split(";")]
    system = dynamics.system(f_text, theta, k=len(h0), m=len(xs[0]) if xs else 1)
    if xs is not None and not system.driven:
        raise SymrnnError(f"--x: f = {f_text!r} does not use the input x")
    if args.plot:       # refuse a bad --plot before any work
        from .analysis import pictures
        fmt = pictures.plot_format(args.plot)
        drawn = pictures.available()
        if not drawn and fmt != "svg":
            pictures.require()
        ours = lambda p: pictures.written_by_symrnn(p) or dynamics_report.written_by_symrnn(p)  # noqa: E731
        check_target(args.plot, ours, args.force)
    analysis = dynamics.analyse(system, h0, steps, xs, starts)
    out = dynamics_report.to_json(analysis) if args.format == "json" else dynamics_report.text(analysis)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if args.plot:
        # without matplotlib an .svg still gets the trajectory, drawn by hand (no cobweb)
        data = pictures.render(pictures.dynamics_figure(analysis), fmt) if drawn else dynamics_report.svg(analysis)
        path = write_atomic(args.plot, data, ours=ours, force=args.force)
        print(f"wrote {path}", file=sys.stderr if args.format == "json" else sys.stdout)
        if not drawn:
            print(f"note: the trajectory only; the cobweb diagram needs matplotlib: {pictures.INSTALL}", file=sys.stderr)
    return 0


def seed_int(text: str) -> int:
    """An argparse type for --seed: a whole number from 0 to 2^63 − 1."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2 ** 63:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2^63 - 1, got {text[:40]!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse type for --radius: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0 (the recurrent spectral radius R), "
                                         f"got {text[:40]!r}")
    return value


def cmd_flow(args) -> int:
    from .analysis import flow as gradient_flow
    from .analysis import flow_report
    spec = model_from(args)
    gradient_flow.check_steps(args.steps)
    pictures = None
    if args.plot:       # refuse a bad --plot before any work, and write nothing then
        from .analysis import pictures
        pictures.check_plot_target(args.plot, args.force)
    if args.weights:
        if args.dims != "scalar" or args.radius is not None:
            given = "--dims" if args.dims != "scalar" else "--radius"
            raise SymrnnError(f"{given}: the sizes and the weights come from --weights {args.weights}; drop {given}")
        params = gradient_flow.load_weights(args.weights)
        where = f"weights file {args.weights!r}"
        params, _ = gradient_flow.check_params(spec, params, where)
        result = gradient_flow.flow(spec, params, args.steps, seed=args.seed)
    else:
        dims = parse_dims(args.dims)
        result = gradient_flow.flow(spec, None, args.steps, dims=dims, seed=args.seed,
                                    radius=1.0 if args.radius is None else args.radius)
    source = args.weights
    out = flow_report.to_json(result, source) if args.format == "json" else flow_report.text(result, source)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if args.plot:
        path = pictures.save(pictures.flow_figure(result), args.plot, force=args.force)
        print(f"wrote {path}", file=sys.stderr if args.format == "json" else sys.stdout)
    return 0


def cmd_verify(args) -> int:
    from .verification.verify import verify
    spec = model_from(args)
    dims = parse_dims(args.dims, spec.loss)
    v = verify(spec, args.param, args.expr, latex=args.latex, file=args.file, steps=args.steps, dims=dims)
    print(v.report)
    return 0 if v.ok else 1


def cmd_grade(args) -> int:
    from .verification.grade import grade_file
    defaults = {k: getattr(args, k) for k in ("cell", "activation", "loss", "output", "steps", "dims")}
    results, seconds = grade_file(args.file, args.o, defaults=defaults, force=args.force,
                                  spec_for=lambda options: model_from(argparse.Namespace(**options)))
    counts = {v: sum(r.verdict == v for r in results) for v in ("correct", "wrong", "unreadable")}
    print(f"graded {len(results)} submissions in {seconds:.1f} s: {counts['correct']} correct, {counts['wrong']} wrong, "
          f"{counts['unreadable']} unreadable")
    print(f"wrote {Path(args.o) / 'summary.csv'} and {Path(args.o) / 'report.html'}")
    return 0


def build_parser() -> Parser:
    parser = Parser(prog="symrnn", description="Backpropagation through time, derived symbolically and certified.")
    parser.add_argument("--version", action="version", version=f"symrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p = sub.add_parser("derive", help="derive ∂L/∂θ for every parameter, as the lecture does",
                       description="Derive ∂L/∂θ by the chain rule over the unrolled graph, certify it, print it.")
    add_model_options(p)
    p.add_argument("--param", action="append", metavar="NAME", help="only this parameter (repeatable)")
    p.add_argument("--format", choices=("text", "latex", "json"),
                   help="what to print; default text, or nothing but the written paths with --tex/--pdf")
    p.add_argument("--tex", metavar="FILE", help="write the derivation as a LaTeX document")
    p.add_argument("--pdf", metavar="FILE", help="build the derivation document as a PDF (needs TeX: latexmk or pdflatex)")
    p.add_argument("--flow", action="store_true", help="add the chapter 'Why gradients vanish or explode' to the "
                   "document: the Jacobian-product form, its bound and a run of symrnn flow (T = 50, random "
                   "weights of spectral radius 1, seed 0, the derivation's sizes)")
    p.add_argument("--force", action="store_true", help="overwrite files symrnn did not write")
    p.set_defaults(run=cmd_derive)
    p = sub.add_parser("codegen", help="write the NumPy BPTT kernel module of a model and print its path",
                       description="Derive and certify the model's matrix-form BPTT, write it as a standalone NumPy "
                                   "module <cell>_<activation>_<loss>_<output>.py (for any T and sizes) and print "
                                   "its path.")
    add_model_options(p, unrolled=False)
    p.add_argument("-o", metavar="DIR", default="generated", help="output directory; default generated")
    p.add_argument("--all", action="store_true",
                   help="write every catalogue kernel (cell × activation × loss × output); "
                        "symrnn codegen --all -o generated refreshes the committed ones")
    p.add_argument("--force", action="store_true", help="overwrite files symrnn did not write")
    p.set_defaults(run=cmd_codegen)

    p = sub.add_parser("dynamics", help="iterate a state system h_t = f(h_{t-1}; θ): trajectory, fixed points, stability",
                       description="Iterate h_t = f(h_{t-1}; θ) (or f(h_{t-1}, x_t; θ) with --x), find the fixed "
                                   "points h* = f(h*) and classify them by |f'(h*)| (spectral radius of ∂f/∂h for a "
                                   "vector state). No arguments: the lecture's f = sigmoid(theta*h), θ = 0.5, h0 = 2.")
    p.add_argument("--f", metavar="EXPR", help="f in h, theta (θ) and x, e.g. 'tanh(theta*h + x)'; a vector state: "
                   "'[f0, f1]' in h[0], h[1]; default the lecture's sigmoid(theta*h)")
    p.add_argument("--theta", metavar="V", help="θ: one value (theta) or comma-separated (theta[0], theta[1], …); "
                   "default 0.5 with the default f")
    p.add_argument("--h0", metavar="V", help="initial state, comma-separated for a vector state (h[0], h[1], …); default 2")
    p.add_argument("--steps", type=int, metavar="N", help="number of steps; default 100, or the number of inputs --x")
    p.add_argument("--x", metavar="X", help="inputs x_1..x_N of a driven system: '1,0,2' (scalar x) or "
                   "'1,2;0,1' (vector x: x[0], x[1]; steps separated by ';')")
    p.add_argument("--starts", metavar="V;V", help="other initial states to test whether the limit depends on h0, "
                   "separated by ';'; default -10, -1, 0, 1, 10")
    p.add_argument("--format", choices=("text", "json"), default="text", help="what to print; default text")
    p.add_argument("--plot", metavar="FILE", help="draw h_t against t with the fixed points dashed and, for a scalar "
                   "state, the cobweb diagram beside it: FILE.png, .svg or .pdf (needs matplotlib: pip install "
                   "'symrnn[plot]'; without it an .svg of the trajectory only)")
    p.add_argument("--force", action="store_true", help="overwrite a --plot file symrnn did not write")
    p.set_defaults(run=cmd_dynamics)

    p = sub.add_parser("flow", help="gradient flow: ‖∂h_T/∂h_s‖ per lag from the derived Jacobian products, the "
                       "bound (γ σ_max(W))^(T−s), and whether gradients vanish or explode",
                       description="Run random inputs through a model with given or random weights and evaluate the "
                                   "derived Jacobian-product form ∂h_T/∂h_s = Π diag(f'(a_i)) W (any cell: the hop "
                                   "∂s_i/∂s_(i−1)) at every lag T − s, beside the bound from the derivation, with a "
                                   "verdict (vanishing / stable / exploding) and the rate per step. LSTM: also "
                                   "∂c_T/∂c_s.")
    add_model_options(p, unrolled=False)
    p.add_argument("--steps", type=int, default=50, metavar="T",
                   help="number of time steps T (≥ 2); default 50")
    p.add_argument("--dims", default="scalar", metavar="scalar|K,M,O",
                   help="sizes of random weights (state K, input M, output O); default scalar")
    p.add_argument("--weights", metavar="FILE.npz", help="the kernel's parameters by name (np.savez(FILE, **params), "
                   "e.g. from init_params or from_torch), optionally h0 (c0); default random weights")
    p.add_argument("--radius", type=positive_float, metavar="R",
                   help="random weights: every k×k weight is R times a random orthogonal matrix (spectral radius "
                        "and σ_max both R); default 1")
    p.add_argument("--seed", type=seed_int, default=0, metavar="S",
                   help="seed of the random weights and inputs (a whole number ≥ 0); default 0")
    p.add_argument("--format", choices=("text", "json"), default="text", help="what to print; default text")
    p.add_argument("--plot", metavar="FILE", help="draw log‖∂h_T/∂h_s‖ against the lag with the bound: FILE.png, "
                   ".svg or .pdf (needs matplotlib: pip install 'symrnn[plot]')")
    p.add_argument("--force", action="store_true", help="overwrite a --plot file symrnn did not write")
    p.set_defaults(run=cmd_flow)

    p = sub.add_parser("verify", help="check a hand derivation of ∂L/∂θ and say which chain-rule term is wrong",
                       description="Check a hand derivation of ∂L/∂NAME against the derived gradient (exactly where "
                                   "cheap, and at random points in 50-digit arithmetic). Exit 0: correct; exit 1: "
                                   "wrong, with a counterexample and the missing / extra / wrong chain-rule terms. "
                                   "With --dims K,M,O the answer is the matrix form (general T or written out), "
                                   "shape-checked and compared entry by entry at several sizes and T; an answer may "
                                   "be several lines, definitions (delta_t = ..., gamma_t = ...) then the gradient, "
                                   "each line checked (docs/verify-notation.md).")
    add_model_options(p)
    p.add_argument("--param", required=True, metavar="NAME", help="the parameter θ of ∂L/∂θ (W, U, b, V, c, h0, …)")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--expr", metavar="SYMPY", help="the derivation in SymPy syntax in the lecture's symbols, "
                       "e.g. '(Y1 - z1)*V*(1 - h1**2)*h0 + ...'; an optional 'dL/dW =' in front")
    given.add_argument("--latex", metavar="TEX", help=r"the derivation in LaTeX, e.g. '(Y_1 - z_1) V (1 - h_1^2) h_0 + "
                       r"...'; an optional '\frac{\partial L}{\partial W} =' in front")
    given.add_argument("--file", metavar="F", help="a file holding either: LaTeX when it contains a backslash or a "
                       "'_' subscript (matrix form: a backslash, '^' or a brace), else SymPy syntax; lines starting "
                       "with %% or # are comments")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("grade", help="check a class's hand derivations at once: DIR/summary.csv and DIR/report.html",
                       description="Check every submission of a class file against its model (one derivation per "
                                   "distinct model) and write DIR/summary.csv (student,param,verdict,diagnosis) and a "
                                   "self-contained DIR/report.html. Exit 0 when the file could be read (bad rows are "
                                   "'unreadable'), 2 when it cannot.")
    add_model_options(p)
    p.add_argument("file", metavar="FILE", help="CSV with the header student,param,answer (optional columns: steps, "
                   "activation, loss, output, dims, cell) or JSON lines with those keys; answers in SymPy syntax or "
                   "LaTeX")
    p.add_argument("-o", metavar="DIR", required=True, help="output directory (created if missing)")
    p.add_argument("--force", action="store_true", help="overwrite files symrnn did not write")
    p.set_defaults(run=cmd_grade)
    parser.commands = sub.choices      # name -> subparser
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status (0 done, 1 a check failed, 2 bad input, 130 Ctrl-C)."""
    with ascii_fallback():
        try:
            parser = build_parser()
            args, unknown = parser.parse_known_args(argv)
            if unknown:     # reported by the subcommand, which names itself and lists its own options
                parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
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
        except KeyboardInterrupt:
            print("symrnn: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # `symrnn derive | head`: the reader left; say nothing, and keep Python's exit-time flush quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
