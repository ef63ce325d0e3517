"""Reading and writing user files, the one way every reader and writer does it.

Writes are all or nothing (a temporary file in the target's directory, then a link or rename) and
never replace a file symrnn did not write unless forced — not even one that appears while symrnn
works: a new name is taken with `os.link`, which fails when the name exists, and an existing file
is first moved aside and judged there, where nobody can swap it any more. Reads of user files are
bounded and refuse pipes and devices, so a FIFO cannot hang symrnn and /dev/zero cannot fill memory.
Every failure is a one-line SymrnnError naming the file.
"""
from __future__ import annotations

import errno
import os
import secrets
import signal
import stat
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from .errors import SymrnnError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_READ = 1 << 20          # bytes of a user's spec or derivation file; real ones are a few kB

Judge = Callable[[Path], bool]


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def read_text(path, what: str = "file", limit: int = MAX_READ) -> str:
    """The UTF-8 text of a user's regular file of at most `limit` bytes; a one-line SymrnnError otherwise."""
    where = f"{what} {str(path)!r}"
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SymrnnError(f"cannot read {where}: not UTF-8 text (byte {e.start} is {data[e.start]:#04x})") from None


def read_bytes(path, what: str = "file", limit: int = MAX_READ) -> bytes:
    """The bytes of a user's regular file of at most `limit` bytes; a one-line SymrnnError otherwise."""
    where = f"{what} {str(path)!r}"
    try:
        # O_NONBLOCK: opening a FIFO returns at once (to be refused below) instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise SymrnnError(f"cannot read {where}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind:
            raise SymrnnError(f"cannot read {where}: it is {kind}, not a regular file")
        if st.st_size > limit:
            raise SymrnnError(f"cannot read {where}: {_size(st.st_size)} is larger than the limit of {_size(limit)}")
        data = b""
        while len(data) <= limit:    # st_size can lie (/proc) or grow meanwhile: read at most limit + 1
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as e:
        raise SymrnnError(f"cannot read {where}: {e.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SymrnnError(f"cannot read {where}: it is larger than the limit of {_size(limit)}")
    return data


def read_toml(path, what: str = "file", limit: int = MAX_READ) -> dict:
    """The table in a user's TOML file, read as `read_text` does; syntax errors and deep nesting are one line."""
    text = read_text(path, what, limit)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SymrnnError(f"{what} {str(path)!r} is not valid TOML: {e}") from None
    except RecursionError:     # tomllib recurses once per nested array or inline table
        raise SymrnnError(f"{what} {str(path)!r}: arrays or tables nested too deeply") from None


OURS_IS = "written by symrnn"


def _refusal(path: Path, ours: Judge | None, force: bool, name: Path | None = None,
             ours_is: str = OURS_IS) -> str | None:
    """Why symrnn may not put a file at path (one line, calling it `name`), or None when it may."""
    name = name or path
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):   # a dangling symbolic link: someone's, not ours
            return None if force else f"{name} exists (a symbolic link) and was not {ours_is}; " \
                                      f"use --force to overwrite it"
        return None
    except OSError as e:
        return f"cannot write {name}: {e.strerror}"
    kind = _kind(st.st_mode)
    if kind:
        return f"cannot write {name}: it is {kind}, not a regular file; give a file name"
    if force or (ours is not None and ours(path)):
        return None
    return f"{name} exists and was not {ours_is}; use --force to overwrite it"


def check_target(path, ours: Judge | None = None, force: bool = False, *, ours_is: str = OURS_IS) -> Path:
    """path, when symrnn may write it: its directory exists, and it is new, or `ours(path)`, or `force`.

    `ours_is` says in the refusal what `ours` recognises (default "written by symrnn"). Writers call
    this before expensive work; `write_atomic` checks again when it puts the file in place.
    """
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise SymrnnError(f"cannot write {path}: directory {parent} does not exist" if not parent.exists()
                          else f"cannot write {path}: {parent} is not a directory")
    reason = _refusal(path, ours, force, ours_is=ours_is)
    if reason:
        raise SymrnnError(reason)
    # Permission bits do not tell (root ignores them; /proc and read-only mounts refuse anyway): try.
    probe = _temporary_name(path)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        raise SymrnnError(f"cannot write {path}: cannot create a file in {parent} ({e.strerror})") from None
    os.unlink(probe)
    return path


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")


@contextmanager
def _interrupts_held():
    """Hold Ctrl-C (and SIGTERM, SIGHUP) until the block ends, so a write is never left half done."""
    if threading.current_thread() is not threading.main_thread():
        yield       # only the main thread may set handlers; Python delivers signals there anyway
        return
    held = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
            if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) is not None]
    arrived: list[int] = []
    # A handler that records, not a blocked mask: the kernel may hand the signal to any thread
    # (BLAS starts some), and Python then runs the handler in the main thread, mid-write.
    previous = {s: signal.signal(s, lambda signum, frame: arrived.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(arrived):      # after the write: what would have happened, happens now
            if callable(previous[s]):
                previous[s](s, None)
            elif previous[s] == signal.SIG_DFL:
                os.kill(os.getpid(), s)


def _move_to_free_name(source, path: Path) -> bool:
    """Move the file `source` to path only if that name is free (no window); False when it is taken."""
    try:
        os.link(source, path)
        os.unlink(source)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
    # No hard links on this file system (FAT, some network mounts): claim the name, then replace the claim.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return False
    os.replace(source, path)
    return True


def _put(tmp: str, path: Path, ours: Judge | None, force: bool, ours_is: str) -> None:
    """Move the finished temporary file to path under the same rule as `check_target`, with no window."""
    if force:
        os.replace(tmp, path)
        return
    if _move_to_free_name(tmp, path):
        return
    # The name is taken. Judge the file there only after moving it aside: judged in place, it could be
    # swapped for someone's file between the judgement and the replacement.
    aside = path.with_name(f".{path.name}.{secrets.token_hex(6)}.old")
    os.rename(path, aside)
    reason = _refusal(aside, ours, force, name=path, ours_is=ours_is)
    if reason is None:
        if not _move_to_free_name(tmp, path):
            os.unlink(aside)    # ours, and replaced anyway; the file that appeared meanwhile stays
            raise SymrnnError(f"{path} appeared while symrnn was writing it; left it alone, wrote nothing")
        os.unlink(aside)
        return
    if not _put_back(aside, path):
        raise SymrnnError(f"{reason} (it was moved to {aside} while another file appeared at {path}; "
                          f"nothing was deleted)")
    raise SymrnnError(reason)


def _put_back(aside: Path, path: Path) -> bool:
    """Return a file moved aside to its name, unless the name was taken meanwhile."""
    if os.path.isdir(aside) and not os.path.islink(aside):
        if os.path.lexists(path):
            return False
        os.rename(aside, path)
        return True
    return _move_to_free_name(aside, path)


def write_atomic(path, data: bytes | str, *, ours: Judge | None = None, force: bool = False,
                 ours_is: str = OURS_IS) -> Path:
    """Write data (text as UTF-8) to path, all or nothing, and return path.

    An existing file is replaced only when `force` or `ours(path)` (the writer recognises its own
    output; `ours_is` says what it recognises, for the refusal); a file that appears meanwhile is never
    replaced; directories, pipes and devices never are. `ours` may be shown the file under another
    name (moved aside while it is judged). Failures are one-line SymrnnErrors; a temporary file never
    outlives the call, even on Ctrl-C.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    check_target(path, ours, force, ours_is=ours_is)
    with _interrupts_held():
        tmp = _temporary_name(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as e:
            raise SymrnnError(f"cannot write {path}: cannot create a file in {path.parent} ({e.strerror})") from None
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            _put(str(tmp), path, ours, force, ours_is)
        except OSError as e:
            raise SymrnnError(f"cannot write {path}: {e.strerror}") from None
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    return path


__all__ = ["read_text", "read_bytes", "read_toml", "write_atomic", "check_target", "MAX_READ"]
