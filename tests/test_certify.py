"""Certification can fail: a wrong rule yields an uncertified derivation and exit 1."""
import dataclasses

import pytest

import symrnn
from symrnn import cli
from symrnn.ir import primitives as rules
from symrnn.derivation import clear_caches


@pytest.fixture
def wrong_tanh(monkeypatch):
    """tanh'(a) = 1 − h: the slip of forgetting the square."""
    good = rules.FUNCTIONS["tanh"]
    bad = dataclasses.replace(good, derivative=lambda a, h: (1 - h,))
    monkeypatch.setitem(rules.FUNCTIONS, "tanh", bad)
    clear_caches()
    yield
    clear_caches()


def test_wrong_rule_fails_certification(wrong_tanh):
    d = symrnn.derive(symrnn.cells.elman(), steps=2)
    assert not d.certified
    failed = {g.wrt for g in d.gradients if not g.certificate.ok}
    assert failed == {"W", "U", "b", "h0"}  # V and c do not pass through tanh'
    brute = d._get("W").certificate.checks[0]
    assert not brute.passed and brute.max_error > 1e-3


def test_cli_exits_1_on_failed_certification(wrong_tanh, capsys):
    assert cli.main(["derive"]) == 1
    assert "CERTIFICATION FAILED" in capsys.readouterr().out


def test_wrong_loss_rule_fails(monkeypatch):
    bad = dataclasses.replace(rules.LOSSES["mse"], gradient=lambda Y, z: (z - Y,))
    monkeypatch.setitem(rules.LOSSES, "mse", bad)
    clear_caches()
    try:
        d = symrnn.derive(symrnn.cells.elman(), steps=1)
        assert not d.certified
    finally:
        clear_caches()
