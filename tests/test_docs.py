"""Every command in README.md and docs/*.md runs, and says what the text claims it says.

Found automatically in indented code blocks, so a new example is tested without touching this file:
- a command is a line starting with `symrnn` or `python`/`python3` (not pip or pytest: they install or
  recurse); it runs in a scratch copy of docs/ and benchmarks/, with this checkout on PYTHONPATH;
- a block starting with `import symrnn` is run as one Python program;
- its comment on the same line describes it; in it, `prints X` claims X on stdout, `exit N` claims the
  exit status (else 0), and fields in backticks before "parse with sympy.sympify" must do so in its JSON;
- lines starting with `#` right below a command show its output: each piece between "…" must occur in
  what the command printed (white space compared loosely).
Commands that need TeX are skipped without it; benchmarks are run by hand (their numbers are
measurements), but the README's description of each is checked against the script.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sympy as sp

from conftest import ROOT
from symrnn.documents import latex

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HAVE_TEX = latex.tex_engine() is not None


@dataclass
class Example:
    source: str          # file:line
    command: str         # a shell line, or a Python program
    comment: str = ""
    shown: list[str] = field(default_factory=list)
    python: bool = False

    @property
    def id(self) -> str:
        return f"{self.source} {self.command.splitlines()[0][:60]}"


def _split_comment(line: str) -> tuple[str, str]:
    """A shell line and its trailing comment (a # outside quotes, at the start or after a space)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] == " "):
            return line[:i].strip(), line[i + 1:].strip()
    return line.strip(), ""


def _is_command(line: str) -> bool:
    words = line.split()
    if not words or words[0] not in ("symrnn", "python", "python3"):
        return False
    return not (len(words) > 2 and words[1] == "-m" and words[2] in ("pip", "pytest"))


def examples() -> list[Example]:
    """The examples of every indented code block (blank lines inside a block kept as separators)."""
    out: list[Example] = []
    for doc in DOCS:
        block: list[tuple[int, str]] = []
        for number, line in enumerate([*doc.read_text(encoding="utf-8").splitlines(), "end"], 1):
            if line.startswith("    ") or (block and not line.strip()):
                block.append((number, line[4:]))
            elif block:
                out += _from_block(str(doc.relative_to(ROOT)), block)
                block = []
    return out


def _from_block(name: str, block: list[tuple[int, str]]) -> list[Example]:
    out: list[Example] = []
    paragraph: list[tuple[int, str]] = []
    for number, text in [*block, (0, "")]:      # a paragraph starting with `import symrnn` is a program
        if text.strip():
            paragraph.append((number, text))
            continue
        if paragraph and paragraph[0][1].startswith("import symrnn"):
            program = "\n".join(t.split("  #")[0].rstrip() for _, t in paragraph)
            out.append(Example(f"{name}:{paragraph[0][0]}", program, python=True))
        elif paragraph:
            out += _commands(name, paragraph)
        paragraph = []
    return out


def _commands(name: str, block: list[tuple[int, str]]) -> list[Example]:
    out: list[Example] = []
    current = None
    for number, text in block:
        stripped = text.strip()
        command, comment = _split_comment(stripped)
        if command and _is_command(command):
            current = Example(f"{name}:{number}", command, comment)
            out.append(current)
        elif stripped.startswith("#") and current is not None and not command:
            if text.startswith("#"):          # flush left below the command: its output
                current.shown.append(comment)
            else:                              # indented: the command's description goes on
                current.comment += " " + comment
        else:                                  # other text: what follows is not this command's
            current = None
    return out


EXAMPLES = examples()


def _normal(text: str) -> str:
    return " ".join(text.split())


def _needs_tex(ex: Example) -> bool:
    return "--pdf" in ex.command or ("symrnn.documents.gallery" in ex.command and "--tex-only" not in ex.command)


def test_the_docs_have_examples():
    assert sum(not e.python for e in EXAMPLES) >= 15 and any(e.python for e in EXAMPLES)
    assert any(e.shown for e in EXAMPLES) and any("sympy.sympify" in e.comment for e in EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("ex", [e for e in EXAMPLES if not e.command.startswith(("python benchmarks", "python3 benchmarks"))],
                         ids=lambda e: e.id)
def test_example_runs_and_says_what_the_docs_say(ex, tmp_path):
    if _needs_tex(ex) and not HAVE_TEX:
        pytest.skip("needs TeX (latexmk or pdflatex)")
    for folder in ("docs", "benchmarks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    if ex.python:
        argv = [sys.executable, "-c", ex.command]
    else:
        words = shlex.split(ex.command)
        argv = [sys.executable, "-m", "symrnn", *words[1:]] if words[0] == "symrnn" else [sys.executable, *words[1:]]
    r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    expected = int(m.group(1)) if (m := re.search(r"\bexit (\d+)\b", ex.comment)) else 0
    assert r.returncode == expected, f"{ex.source}: `{ex.command}` exited {r.returncode}, the docs say {expected}:\n" \
                                     f"{r.stderr[-2000:]}"
    assert "Traceback" not in r.stderr, r.stderr
    printed = _normal(r.stdout + "\n" + r.stderr)
    for line in ex.shown:
        for piece in filter(None, (_normal(p).strip(" ,;") for p in line.split("…"))):
            assert piece in printed, f"{ex.source}: `{ex.command}` does not print {piece!r}; it printed:\n{r.stdout[:3000]}"
    if m := re.search(r"\bprints (\S+)", ex.comment):
        assert m.group(1) in r.stdout, f"{ex.source}: `{ex.command}` does not print {m.group(1)}"
    if "sympy.sympify" in ex.comment:
        data = json.loads(r.stdout)
        fields = re.findall(r"`([\w.]+)`", ex.comment.split("sympy.sympify")[0])
        assert fields, f"{ex.source}: name the JSON fields that parse with sympy.sympify in backticks"
        for name in fields:
            values = list(_find(data, name.split(".")))
            assert values, f"{ex.source}: no JSON field {name!r}"
            for value in values:
                for text in _strings(value):
                    sp.sympify(text)


def _find(data, path):
    """Every value whose key path ends with `path` (a list of keys), anywhere in the JSON; a single key
    names strings or lists of them (`delta` is each gradient's δ form, not the `delta` section)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == path[0]:
                if len(path) == 1:
                    if not isinstance(value, dict):
                        yield value
                else:
                    yield from _find_exact(value, path[1:])
            yield from _find(value, path)
    elif isinstance(data, list):
        for value in data:
            yield from _find(value, path)


def _find_exact(data, path):
    if isinstance(data, dict) and path[0] in data:
        yield from (_find_exact(data[path[0]], path[1:]) if len(path) > 1 else [data[path[0]]])


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_benchmark_descriptions_match_the_scripts():
    """The README's "median of N" for each benchmark is the script's default number of repetitions.

    A benchmark is a script (it has a `__main__` entry point) and takes --reps; a module the scripts
    import (benchmarks/handwritten.py, the hand-written baseline) measures nothing and claims no median.
    """
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    scripts = 0
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        source = script.read_text(encoding="utf-8")
        claims = re.findall(rf"{re.escape(script.name)}`(?:(?!\n\n).)*?median of\s+(\d+)", readme, flags=re.S)
        if not re.search(r"^if __name__ == .__main__.:", source, flags=re.M):
            assert not claims, f"README: {script.name} is a module, not a benchmark; it takes no median"
            continue
        scripts += 1
        assert claims or script.name not in readme, f"README: say how many runs {script.name} takes the median of"
        default = re.search(r'"--reps", type=int, default=(\d+)', source)
        assert default, f"{script}: no --reps default"
        for n in claims:
            assert n == default.group(1), f"README says {script.name} takes the median of {n} runs; " \
                                          f"the script's default is {default.group(1)}"
    assert scripts >= 3, "benchmarks/: no benchmark scripts found"
