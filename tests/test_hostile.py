"""Hostile input, one class per test: a one-line error naming the culprit, exit 2, no traceback, no hang,
nothing lost or half-written. Most run in-process through `symrnn.cli.main`; a few as real processes to see
that nothing reaches stderr but the one line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from symrnn import cli, files

CELL = """activation = "tanh"
preactivation = "{pre}"
output_map = "V*h + c"
[params.W]
[params.U]
[params.b]
[params.V]
[params.c]
"""


def main(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *args) -> str:
    """The one-line error of a refused command (exit 2, nothing on stdout)."""
    code, out, err = main(capsys, *args)
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("symrnn: error: ") and err.count("\n") == 1, err
    return err.strip()


def run(*args, timeout=120, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kwargs.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "symrnn", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def tower(depth: int, inner: str = "h1", outer: str = "tanh(") -> str:
    return outer * depth + inner + ")" * depth


# -- user math: the whitelist parser -------------------------------------------------------------
# verify reads a whole derivation: up to 20 000 characters and brackets 200 deep (a model's equation:
# 10 000 and 100); every other bound is the parser's, the same for every reader of user math.

@pytest.mark.parametrize("expr,culprit", [
    ("log(0)", "'log(0)' is undefined or infinite (SymPy makes it zoo)"),
    ("0**-1", "'0**-1' divides by zero (0 to a negative power)"),
    ("h1/(cosh(1)**2 - sinh(1)**2 - 1)", "division by zero: the denominator '(cosh(1)**2 - sinh(1)**2 - 1)' is 0"),
    ("sqrt(-1)*h1", "'sqrt(-1)' is not a real number"),
    ("log(-1)*h1", "'log(-1)' is not a real number"),
    ("exp(exp(exp(100)))", "'exp(exp(100))' is larger than 10^400"),
    ("((2**64)**64)**64", "'(2**64)**64' has more than 400 digits"),
    ("10**10**10", "exponent '10**10' (= 10000000000) is larger than 64"),
    ("9" * 5000, "is too long (at most 400 digits"),
    ("h" + "1" * 5000, "unknown name 'h111111111111"),
    (tower(3000, outer="("), "brackets nested more than 200 deep at position 201"),
    (tower(1600), "brackets nested more than 200 deep"),
    ("**".join(["h1"] * 2000), "powers nested more than 200 deep"),
    (tower(5), "functions nested more than 4 deep at position 21"),
    ("+".join(["h1"] * 3000), "a sum of more than 1000 terms"),
    ("*".join(["h1"] * 4900), "has the factor 'h1' more than 64 times"),
    ("+".join(["h1"] * 7000), "20999 characters, more than the limit 20000"),
    ("__import__('os').system('true')", "unknown function '__import__'"),
], ids=lambda v: v if len(v) < 40 else f"{v[:20]}…{len(v)}")
def test_verify_expr(capsys, expr, culprit):
    err = refused(capsys, "verify", "--param", "W", "--expr", expr)
    assert culprit in err and len(err) < 400


@pytest.mark.parametrize("f,culprit", [
    ("log(0*h)", "undefined or infinite"),
    (tower(1600, "h"), "nested more than 100 deep"),
    (tower(10, "h"), "functions nested more than 4 deep"),
    ("+".join(["h"] * 3000), "more than 1000 terms"),
    ("[" + ", ".join(["h[0]"] * 300) + "]", "--h0"),
], ids=lambda v: v if len(v) < 40 else f"{v[:20]}…{len(v)}")
def test_dynamics_f(capsys, f, culprit):
    assert culprit in refused(capsys, "dynamics", "--f", f)


@pytest.mark.parametrize("pre,culprit", [
    ("W*h_prev + U*x + b + log(0)", "unknown function 'log'"),   # the cell grammar has the registry's functions only
    ("W*h_prev + U*x + b*" + "*".join(["1"] * 1500), "expected a non-empty string of at most 2000 characters"),
    ("W*h_prev + U*x + " + tower(150, "b"), "brackets nested deeper than 60"),
    ("W*h_prev + U*x + b*(2**64)**64", "exponent 64: the only power allowed is ** 2"),
    ("(W*h_prev + U*x + b)**64", "exponent 64: the only power allowed is ** 2"),   # was a hang in SymPy
], ids=lambda v: v if len(v) < 40 else f"{v[:20]}…{len(v)}")
def test_toml_equations(capsys, tmp_path, pre, culprit):
    cell = tmp_path / "cell.toml"
    cell.write_text(CELL.format(pre=pre), encoding="utf-8")
    err = refused(capsys, "derive", "--cell", str(cell))
    assert culprit in err and len(err) < 400


@pytest.mark.parametrize("pre", [
    "W*h_prev + U*x + b*" + "*".join(["x"] * 65),      # x⊙x⊙…: each factor's rule is one term, no blow-up
    "W*h_prev + U*x + b + " + tower(10, "x"),          # tanh(tanh(…)): was minutes in SymPy, each hop is 1 − f²
], ids=lambda v: f"{v[:20]}…{len(v)}")
def test_toml_equations_that_are_cells(capsys, tmp_path, pre):
    """Legal but heavy-looking cells derive and certify (the engine's rules keep the work linear in the nesting)."""
    cell = tmp_path / "cell.toml"
    cell.write_text(CELL.format(pre=pre), encoding="utf-8")
    code, out, err = main(capsys, "derive", "--cell", str(cell))
    assert code == 0 and "certified" in out, err


# -- files read: spec files ----------------------------------------------------------------------

def test_spec_file_hostile_kinds(capsys, tmp_path):
    zero = tmp_path / "zero.toml"
    zero.symlink_to("/dev/zero")
    assert "it is a character device, not a regular file" in refused(capsys, "derive", "--cell", str(zero))
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:
        f.truncate(3 * 10**9)         # sparse: 3 GB that take no disk
    assert "3.0 GB is larger than the limit of 1.0 MB" in refused(capsys, "derive", "--cell", str(big))
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 3000 + "]" * 3000 + "\n")
    assert "arrays or tables nested too deeply" in refused(capsys, "derive", "--cell", str(deep))
    (tmp_path / "dir.toml").mkdir()
    assert "it is a directory" in refused(capsys, "derive", "--cell", str(tmp_path / "dir.toml"))


def test_spec_file_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "cell.toml"
    os.mkfifo(fifo)
    r = run("derive", "--cell", str(fifo), timeout=60)
    assert r.returncode == 2 and r.stderr == f"symrnn: error: cannot read spec file '{fifo}': it is a named pipe " \
                                              f"(FIFO), not a regular file\n"


# -- files written: .tex, PDF, kernels, plots ---------------------------------------------------------

@pytest.mark.parametrize("make", [os.mkfifo, os.mkdir], ids=["fifo", "directory"])
def test_special_targets(capsys, tmp_path, make):
    target = tmp_path / "t.svg"
    make(target)
    kind = "a named pipe (FIFO)" if make is os.mkfifo else "a directory"
    expected = f"symrnn: error: cannot write {target}: it is {kind}, not a regular file; give a file name"
    assert refused(capsys, "dynamics", "--plot", str(target), "--force") == expected
    assert refused(capsys, "derive", "--tex", str(target)) == expected
    kernels = tmp_path / "k"
    kernels.mkdir()
    make(kernels / "elman_tanh_mse_every.py")
    assert f"it is {kind}, not a regular file" in refused(capsys, "codegen", "-o", str(kernels))


def test_unwritable_places(capsys):
    assert refused(capsys, "dynamics", "--plot", "/proc/h.svg") == \
        "symrnn: error: cannot write /proc/h.svg: cannot create a file in /proc (No such file or directory)"
    assert "cannot write /proc/self/status" in refused(capsys, "derive", "--tex", "/proc/self/status", "--force")
    assert "/dev/null: it is a character device" in refused(capsys, "derive", "--tex", "/dev/null", "--force")
    if os.geteuid() == 0 and os.path.ismount("/sys"):      # root ignores permission bits; /sys is read-only
        assert "cannot create a file in /sys (" in refused(capsys, "dynamics", "--plot", "/sys/h.svg")


def test_a_file_created_after_the_check_is_not_clobbered(capsys, tmp_path, monkeypatch):
    target = tmp_path / "h.svg"
    check = files.check_target

    def user_writes_meanwhile(*args, **kwargs):
        result = check(*args, **kwargs)
        if not target.exists():
            target.write_text("my drawing\n")
        return result
    monkeypatch.setattr(files, "check_target", user_writes_meanwhile)
    code, _, err = main(capsys, "dynamics", "--plot", str(target))      # the report is printed before the plot
    assert code == 2 and err == f"symrnn: error: {target} exists and was not written by symrnn; use --force to overwrite it\n"
    assert target.read_text() == "my drawing\n" and sorted(os.listdir(tmp_path)) == ["h.svg"]
    kernel = tmp_path / "k" / "elman_identity_mse_every.py"
    kernel.parent.mkdir()
    target = kernel
    assert "exists and was not written by symrnn" in refused(capsys, "codegen", "--activation", "identity",
                                                             "-o", str(kernel.parent))
    assert kernel.read_text() == "my drawing\n" and os.listdir(kernel.parent) == [kernel.name]


# -- the command line ---------------------------------------------------------------------------------

def test_options_that_do_not_apply_are_refused(capsys):
    assert refused(capsys, "codegen", "--steps", "-5") == "symrnn: error: codegen: unrecognized arguments: --steps -5"
    assert refused(capsys, "codegen", "--dims", "0,0,0") == "symrnn: error: codegen: unrecognized arguments: --dims 0,0,0"
    assert refused(capsys, "derive", "--steps", "-5") == \
        "symrnn: error: derive: argument --steps: expected a whole number ≥ 1, got '-5'"


def test_choices_are_listed_once(capsys):
    assert refused(capsys, "derive", "--activation", "swish") == "symrnn: error: derive: argument --activation: " \
        "invalid choice: 'swish' (choose from 'tanh', 'sigmoid', 'relu', 'identity')"
    assert "(choose from 'mse', 'ce', 'bce')" in refused(capsys, "verify", "--loss", "hinge")
    help_text = run("derive", "--help").stdout
    assert "{tanh,sigmoid,relu,identity}" in help_text and "K the state size, M the input size and O the output" \
        in " ".join(help_text.split())
    codegen_help = run("codegen", "--help").stdout
    assert "--steps" not in codegen_help and "--dims" not in codegen_help


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"symrnn {__import__('symrnn').__version__}"


def test_ascii_terminal_gets_ascii_notation():
    r = run("derive", "--dims", "2,2,2", env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "delta_t = (1 - h_t (.) h_t) (.) (V^T(Y_t - z_t) + W^T delta_{t+1})" in r.stdout
    assert "dL/dW" in r.stdout and "h_t^2" in r.stdout
    r = run("derive", "--activation", "swish", env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_derive", interrupted)
    assert main(capsys, "derive") == (130, "", "symrnn: interrupted\n")


def test_ctrl_c_in_a_real_process(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "symrnn", "dynamics", "--steps", "10000000", "--plot",
                             str(tmp_path / "h.svg")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    time.sleep(5)           # past the package imports, inside the 10-million-step loop
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    # -SIGINT: after a Ctrl-C inside SymPy's exec() CPython ends the process by the signal itself (the shell
    # shows 130 either way), which is also how a program that handled Ctrl-C should end.
    assert proc.returncode in (130, -signal.SIGINT) and err == "symrnn: interrupted\n"
    assert os.listdir(tmp_path) == []


# -- dynamics --------------------------------------------------------------------------------------

@pytest.mark.parametrize("f", ["sqrt(h - 5)", "log(h)", "(h - 5)**(1/3)"])
def test_complex_valued_f_is_reported(capsys, f):
    code, out, err = main(capsys, "dynamics", "--f", f)
    assert code == 0 and err == "" and "leaves the domain of f" in out


def test_large_state_is_refused_quickly(capsys):
    f = "[" + ", ".join(f"tanh(h[{(i + 1) % 300}])" for i in range(300)) + "]"
    start = time.monotonic()
    err = refused(capsys, "dynamics", "--f", f, "--h0", ",".join(["0.5"] * 300))
    assert err == "symrnn: error: --h0: 300 components; dynamics analyses states and inputs of at most 32 " \
                  "components (the Jacobian alone is k² symbolic derivatives)"
    assert time.monotonic() - start < 10
