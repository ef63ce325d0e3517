"""The two ways symrnn refuses: bad input from a user (exit 2) and a failed check (exit 1)."""


class SymrnnError(ValueError):
    """Bad input from a user; the message is one line that names the culprit."""


class CheckFailed(RuntimeError):
    """A check the user asked for, or a certification, did not pass."""


class BuildFailed(RuntimeError):
    """An external build (LaTeX) failed; the message carries the relevant lines of its log."""
