"""Reading and writing user files: all or nothing, never over someone's file (not even one that appears
meanwhile), never hanging on a pipe, never reading without bound."""
from __future__ import annotations

import errno
import os
import re
import signal

import pytest

from symrnn import files
from symrnn.errors import SymrnnError

MINE = b"MINE\n"


def ours(path):
    with open(path, "rb") as f:
        return f.read(4) == b"OURS"


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def appear_after_check(monkeypatch, path, content=b"user's file\n", make=None):
    """Create a file at path right after write_atomic's own check: the window a check-then-write leaves."""
    check = files.check_target

    def check_then_appear(*args, **kwargs):
        result = check(*args, **kwargs)
        (make or (lambda: path.write_bytes(content)))()
        return result
    monkeypatch.setattr(files, "check_target", check_then_appear)


def test_new_file_written_whole(tmp_path):
    target = tmp_path / "a.txt"
    assert files.write_atomic(target, "δ text") == target
    assert target.read_text(encoding="utf-8") == "δ text" and leftovers(tmp_path) == []


def test_own_file_replaced_foreign_file_kept(tmp_path):
    target = tmp_path / "a.txt"
    target.write_bytes(b"OURS old")
    files.write_atomic(target, b"OURS new", ours=ours)
    assert target.read_bytes() == b"OURS new"
    target.write_bytes(MINE)
    with pytest.raises(SymrnnError, match="was not written by symrnn; use --force"):
        files.write_atomic(target, b"OURS newer", ours=ours)
    assert target.read_bytes() == MINE
    files.write_atomic(target, b"OURS forced", ours=ours, force=True)
    assert target.read_bytes() == b"OURS forced" and leftovers(tmp_path) == []


def test_a_file_appearing_after_the_check_is_not_replaced(tmp_path, monkeypatch):
    target = tmp_path / "k.py"
    appear_after_check(monkeypatch, target, MINE)
    with pytest.raises(SymrnnError, match=f"{target} exists and was not written by symrnn"):
        files.write_atomic(target, b"OURS", ours=ours)
    assert target.read_bytes() == MINE and leftovers(tmp_path) == []


def test_own_file_swapped_for_a_foreign_one_after_the_check_is_kept(tmp_path, monkeypatch):
    target = tmp_path / "k.py"
    target.write_bytes(b"OURS old")
    inode = None

    def swap():
        nonlocal inode
        target.unlink()
        target.write_bytes(MINE)
        inode = target.stat().st_ino
    appear_after_check(monkeypatch, target, make=swap)
    with pytest.raises(SymrnnError, match="was not written by symrnn"):
        files.write_atomic(target, b"OURS new", ours=ours)
    assert target.read_bytes() == MINE and target.stat().st_ino == inode and leftovers(tmp_path) == []


def test_no_hard_links_falls_back_to_claiming_the_name(tmp_path, monkeypatch):
    def no_links(*a):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "a.txt"
    files.write_atomic(target, b"OURS 1", ours=ours)
    files.write_atomic(target, b"OURS 2", ours=ours)
    assert target.read_bytes() == b"OURS 2" and leftovers(tmp_path) == []
    other = tmp_path / "b.txt"
    appear_after_check(monkeypatch, other, MINE)
    with pytest.raises(SymrnnError, match="was not written by symrnn"):
        files.write_atomic(other, b"OURS", ours=ours)
    assert other.read_bytes() == MINE and leftovers(tmp_path) == []


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def full(*a):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "link", full)
    with pytest.raises(SymrnnError, match="^cannot write .*x.pdf: No space left on device$"):
        files.write_atomic(tmp_path / "x.pdf", b"data")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_a_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    real_link = os.link

    def interrupted_link(src, dst):
        os.kill(os.getpid(), signal.SIGINT)     # Ctrl-C between the temporary file and its final name
        real_link(src, dst)
    monkeypatch.setattr(os, "link", interrupted_link)
    target = tmp_path / "x.tex"
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(target, b"whole")
    assert target.read_bytes() == b"whole" and leftovers(tmp_path) == []


@pytest.mark.parametrize("make,kind", [(os.mkdir, "a directory"), (os.mkfifo, "a named pipe (FIFO)")])
def test_special_targets_are_refused_even_with_force(tmp_path, make, kind):
    target = tmp_path / "t.svg"
    make(target)
    for force in (False, True):
        with pytest.raises(SymrnnError, match="^" + re.escape(f"cannot write {target}: it is {kind}, not a regular file")):
            files.write_atomic(target, b"x", force=force)
    assert leftovers(tmp_path) == []


def test_unwritable_places(tmp_path):
    with pytest.raises(SymrnnError, match="^cannot write /proc/x.svg: cannot create a file in /proc"):
        files.write_atomic("/proc/x.svg", b"x")
    with pytest.raises(SymrnnError, match="directory .*nope does not exist"):
        files.write_atomic(tmp_path / "nope" / "x", b"x")
    (tmp_path / "f").write_text("")
    with pytest.raises(SymrnnError, match="f is not a directory"):
        files.write_atomic(tmp_path / "f" / "x", b"x")
    with pytest.raises(SymrnnError, match="/dev/null: it is a character device"):
        files.write_atomic("/dev/null", b"x", force=True)


def test_read_only_directory(tmp_path):
    if os.geteuid() == 0:        # root writes anywhere a permission bit forbids; /sys is mounted read-only
        ro = "/sys" if not os.access("/sys", os.W_OK) or os.path.ismount("/sys") else pytest.skip("no read-only dir")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
    with pytest.raises(SymrnnError, match=f"^cannot write {ro}/x.svg: cannot create a file in {ro} "):
        files.write_atomic(f"{ro}/x.svg", b"x")


# -- reading ---------------------------------------------------------------------------------------

def test_read_text(tmp_path):
    p = tmp_path / "cell.toml"
    p.write_text("a = 'δ'\n", encoding="utf-8")
    assert files.read_text(p, "spec file") == "a = 'δ'\n"


@pytest.mark.parametrize("setup,message", [
    (lambda d: "/dev/zero", "it is a character device, not a regular file"),
    (lambda d: (os.mkfifo(d / "fifo"), d / "fifo")[1], "it is a named pipe (FIFO), not a regular file"),
    (lambda d: d, "it is a directory, not a regular file"),
    (lambda d: d / "missing", "No such file or directory"),
    (lambda d: (os.truncate(d / "big", 3 * 10**9) if (d / "big").touch() is None else 0, d / "big")[1],
     "3.0 GB is larger than the limit of 1.0 MB"),
    (lambda d: ((d / "bin").write_bytes(b"ok\xff"), d / "bin")[1], "not UTF-8 text (byte 2 is 0xff)"),
])
def test_read_text_refuses(tmp_path, setup, message):
    path = setup(tmp_path)
    with pytest.raises(SymrnnError, match="^" + re.escape(f"cannot read spec file {str(path)!r}: {message}")):
        files.read_text(path, "spec file")


def test_read_text_limit_holds_when_the_size_lies():
    with pytest.raises(SymrnnError, match="larger than the limit of 100 bytes"):
        files.read_text("/proc/self/maps", "file", limit=100)     # st_size 0, content longer
