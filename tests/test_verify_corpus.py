"""The verify corpus: every hand-written answer gets the expected verdict and diagnosis, and the expected
verdict itself is checked against central differences of an independent float forward pass."""
import functools
import random

import mpmath
import pytest

import symrnn
from symrnn.errors import SymrnnError
from symrnn.verification.model import model
from symrnn.verification.numeric import Program
from symrnn.verification.reading import read

import verify_oracle as oracle
from verify_corpus import CASES, CORRECT, UNREADABLE, WRONG

IDS = [c.id for c in CASES]


def test_corpus_size_and_coverage():
    assert len(CORRECT) + len(WRONG) >= 80 and len(set(IDS)) == len(IDS)
    models = {c.model for c in CASES}
    assert {m.split("/")[0] for m in models} == {"tanh", "sigmoid", "relu", "identity"}
    assert {m.split("/")[1] for m in models} == {"mse", "ce", "bce"}
    assert {m.split("/")[2] for m in models} == {"every", "last"}
    assert {int(m.split("/")[3]) for m in models} == {1, 2, 3, 4}
    assert sum(c.latex for c in CASES) >= 25


def _points(case, n):
    rng = random.Random(case.id)
    act, loss, output, T = case.model.split("/")
    out = []
    while len(out) < n:
        p = oracle.sample(rng, loss, int(T))
        _, q = oracle.forward(act, loss, output, int(T), p)
        if min(abs(getattr(q, f"a{t}")) for t in range(1, int(T) + 1)) > 1e-3:   # away from relu's kinks
            out.append((p, q))
    return out


@pytest.mark.parametrize("case", [c for c in CASES if c.verdict != "unreadable"], ids=lambda c: c.id)
def test_expected_verdict_holds_by_central_differences(case):
    """The corpus cannot be wrong: a 'correct' twin equals the finite-difference gradient everywhere, a 'wrong'
    one differs somewhere; for relu, at points of every sign pattern."""
    act, loss, output, T = case.model.split("/")
    T = int(T)
    pts = _points(case, 300 if act == "relu" else 20)
    if act == "relu":
        patterns = {tuple(getattr(q, f"a{t}") > 0 for t in range(1, T + 1)) for _, q in pts}
        assert len(patterns) == 2 ** T, "the oracle's points must cover every sign pattern"
    errors = []
    for p, q in pts:
        g = oracle.gradient(act, loss, output, T, p, case.param)
        errors.append(abs(case.twin(q) - g) / max(1.0, abs(g)))
    if case.verdict == "correct":
        assert max(errors) < 1e-6, max(errors)
    else:
        assert max(errors) > 1e-4, max(errors)


@pytest.mark.parametrize("case", [c for c in CASES if c.verdict != "unreadable"], ids=lambda c: c.id)
def test_the_twin_is_the_answer(case):
    """The Python twin transcribes the answer: symrnn's reading of it has the same value at the oracle's points."""
    m = model(symrnn.cells.elman(**{k: v for k, v in case.options.items() if k != "steps"}), case.options["steps"])
    answer = read(m, case.param, latex=case.answer) if case.latex else read(m, case.param, text=case.answer)
    prog = Program(answer.expr)
    for p, q in _points(case, 12):
        values = {sym: mpmath.mpf(getattr(q, name)) for name, sym in m.names.items()}
        assert abs(float(prog(values)) - case.twin(q)) < 1e-9 * max(1.0, abs(case.twin(q))), case.answer


@functools.lru_cache(maxsize=None)
def verdict(case):
    spec = symrnn.cells.elman(**{k: v for k, v in case.options.items() if k != "steps"})
    kw = {"latex": case.answer} if case.latex else {}
    return symrnn.verify(spec, case.param, None if case.latex else case.answer, steps=case.options["steps"], **kw)


def diagnosed(case, v) -> bool:
    return case.diagnosis in v.report or case.diagnosis in {w.trap for w in v.wrong}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_symrnn_gives_the_expected_verdict_and_diagnosis(case):
    if case.verdict == "unreadable":
        with pytest.raises(SymrnnError) as e:
            verdict(case)
        assert case.diagnosis in str(e.value) and "\n" not in str(e.value)
        return
    v = verdict(case)
    assert v.ok == (case.verdict == "correct"), v.report
    if case.verdict == "wrong":
        assert diagnosed(case, v), f"expected {case.diagnosis!r} in:\n{v.report}"
        if "missing Σ_t" not in case.diagnosis:
            assert "missing Σ_t" not in v.report, v.report
        assert "*" not in v.report, "terms print in the lecture's notation"


def test_corpus_scores():
    """The measured accuracy, printed for the record (pytest -s): verdicts and diagnoses."""
    verdicts = diagnoses = 0
    for case in CORRECT + WRONG:
        v = verdict(case)
        verdicts += v.ok == (case.verdict == "correct")
        diagnoses += case.verdict == "correct" or diagnosed(case, v)
    n = len(CORRECT) + len(WRONG)
    print(f"\ncorpus: {n} answers ({len(CORRECT)} correct, {len(WRONG)} wrong) + {len(UNREADABLE)} refused; "
          f"verdicts {verdicts}/{n}, diagnoses {diagnoses - len(CORRECT)}/{len(WRONG)}")
    assert verdicts == n and diagnoses == n
