"""docs/verify-notation.md holds: every 'you type' row is read as its 'symrnn reads' column, and every
refusal example is refused with the message the guide shows."""
import re

import pytest
import sympy as sp

import symrnn
from conftest import ROOT
from symrnn import cli
from symrnn.model.parsing import parse_expr
from symrnn.verification.model import model
from symrnn.verification.reading import read

GUIDE = (ROOT / "docs" / "verify-notation.md").read_text(encoding="utf-8")
M = model(symrnn.cells.elman(), 2)


def section(title: str) -> str:
    return GUIDE.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def table(title: str):
    return re.findall(r"^\| `(.+?)` \| `(.+?)` \|$", section(title), flags=re.M)


@pytest.mark.parametrize("form,typed,reads", [("latex", *row) for row in table("LaTeX")] +
                         [("sympy", *row) for row in table("SymPy syntax")])
def test_every_example_is_read_as_the_guide_says(form, typed, reads):
    answer = read(M, "W", latex=typed) if form == "latex" else read(M, "W", text=typed)
    assert sp.expand(answer.expr - parse_expr(reads, M.names)) == 0, answer.expr


REFUSALS = re.findall(r"^\| `--(expr|latex) '(.+?)'`(?: \(with `--param (\w+)`\))? \| `(.+?)` \|",
                      section("Refusals and what they mean"), flags=re.M)


def test_the_guide_lists_the_refusals():
    assert len(REFUSALS) >= 20 and len(table("LaTeX")) >= 20 and len(table("SymPy syntax")) >= 10


@pytest.mark.parametrize("option,text,param,message", REFUSALS)
def test_every_refusal_is_as_the_guide_says(option, text, param, message, capsys):
    assert cli.main(["verify", "--param", param or "W", f"--{option}", text]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
