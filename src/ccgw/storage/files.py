"""Files ccgw writes beside its config: never through a symlink, always 0600, replaced atomically."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

PRIVATE = 0o600


class UnsafeFile(OSError):
    """A file ccgw would write is a symlink (or not a regular file)."""


def refuse_link(path: Path) -> None:
    """Raise :class:`UnsafeFile` if `path` exists as a symlink or as something other than a regular file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise UnsafeFile(f"{path} is a symlink; ccgw does not write through symlinks (replace it with a regular file)")
    if not stat.S_ISREG(mode):
        raise UnsafeFile(f"{path} is not a regular file")


def make_private(path: Path) -> None:
    """Create `path` empty with mode 0600 if missing; tighten an existing file to 0600."""
    refuse_link(path)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), PRIVATE)
        os.close(fd)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, PRIVATE)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` (0600) so readers only ever see the old or the new whole file."""
    refuse_link(path)
    fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remove_stale_temps(path: Path, now: float, age: float = 60.0) -> None:
    """Temporary files of a writer killed mid-write (old enough that no live writer owns them)."""
    for stale in path.parent.glob(path.name + ".*.tmp"):
        with contextlib.suppress(OSError):
            if now - stale.lstat().st_mtime > age:
                stale.unlink()
