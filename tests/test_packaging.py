"""The sdist carries what the tests read: every tracked file (bar CI's own), and its test suite runs."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT

NOT_SHIPPED = (".ci/", ".gitignore")      # CI's script and VCS settings: not needed to build or test


def tracked() -> set[str]:
    r = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("not a git checkout (run from the repository to check the sdist)")
    return {f for f in r.stdout.splitlines() if not f.startswith(NOT_SHIPPED)}


@pytest.mark.slow
def test_sdist_holds_every_tracked_file_and_its_tests_run(tmp_path):
    files = tracked()
    pytest.importorskip("build", reason="python -m pip install '.[test]' brings build and hatchling")
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (archive,) = tmp_path.glob("symrnn-*.tar.gz")
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        shipped = {name.partition("/")[2] for name in tar.getnames()}
        tar.extractall(tmp_path, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    missing = sorted(files - shipped)
    assert not missing, f"the sdist leaves out {missing[:10]}: add their folders to [tool.hatch.build.targets.sdist] include"
    # The whole suite from the sdist would double the test time; collecting every test (imports, helpers)
    # and running the ones that read committed files (kernels, golden .tex, gallery, example cell, docs) shows it works.
    unpacked = tmp_path / top
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    r = subprocess.run([*run, "--collect-only"], cwd=unpacked, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    r = subprocess.run([*run, "tests/test_specfile.py", "tests/test_codegen.py::test_generated_kernels_are_up_to_date",
                        "tests/test_latex.py", "-k", "golden or gallery or example or up_to_date or spec"],
                       cwd=unpacked, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
