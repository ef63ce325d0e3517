"""What a certification says: the checks made, each with its worst error, and whether all passed."""

from __future__ import annotations

from dataclasses import dataclass

DIGITS = 50   # the working precision of every reference evaluation


@dataclass(frozen=True)
class Check:
    """One comparison: what against what, whether shown exactly, and the worst relative error at the points."""

    name: str
    exact: bool
    points: int
    max_error: float
    passed: bool

    def __str__(self):
        how = "exact identity; " if self.exact else ""
        verdict = "passed" if self.passed else "FAILED"
        return (f"{self.name}: {verdict} ({how}{self.points} random points at {DIGITS} digits, "
                f"max relative error {self.max_error:.1e})")


@dataclass(frozen=True)
class Certificate:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def __str__(self):
        return "\n".join(("✓ " if c.passed else "✗ ") + str(c) for c in self.checks)

    def __repr__(self):
        failed = sum(not c.passed for c in self.checks)
        return f"<Certificate: {len(self.checks)} checks, {'all passed' if not failed else f'{failed} FAILED'}>"
