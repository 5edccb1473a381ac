"""Safe shared files: an exclusive lock across processes, atomic replacement, and respect for read-only files.

Two notebooks (two kernels) may save quiz progress at the same moment: `locked` serialises their
read-modify-write, and `write_atomic` makes sure a reader only ever sees a whole old or a whole new file.
A file someone made read-only is never replaced, even where the folder would allow it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK_TIMEOUT_S = 10.0
_ANY_WRITE_BIT = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def is_read_only(path: Path) -> bool:
    """True if `path` exists and must not be written: it has no write permission bit, or this user may not write it.

    The bits are checked as well as `os.access` because root may write any file, yet a file made read-only
    (``chmod a-w``) is a clear sign that it should be left alone.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not mode & _ANY_WRITE_BIT or not os.access(path, os.W_OK)


def json_bytes(data: object) -> bytes:
    """`data` as UTF-8 JSON, as `write_json` stores it; raises (TypeError, ValueError, ...) if it cannot be."""
    return json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8")


def write_json(path: Path, data: object) -> None:
    """Replace `path` atomically with `data` as JSON (serialised first, so a failure leaves no trace)."""
    write_atomic(path, json_bytes(data))


def write_atomic(path: Path, payload: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `payload`: write a temp file next to it, fsync, then rename over it.

    `mode` is the new file's permissions (private by default; 0o644 for files others should read).
    Raises PermissionError, writing nothing, if `path` is read-only.
    """
    if is_read_only(path):
        raise PermissionError(errno.EACCES, "the file is read-only", str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode != 0o600:
            os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    if fcntl is not None:  # make the rename itself durable
        with suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on `fd` if it is free."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except BlockingIOError:
        return False
    except OSError:
        if fcntl is not None:
            raise
        return False  # msvcrt reports a held lock as EACCES/EDEADLOCK
    return True


@contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold ``<path>.lock`` exclusively (across processes) for a read-modify-write of `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline, wait = time.monotonic() + timeout, 0.002
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise TimeoutError(f"another process has held {path.name}.lock for over {timeout:.0f} s")
            time.sleep(wait)
            wait = min(2 * wait, 0.05)
        yield
    finally:
        if fcntl is None:
            with suppress(OSError):
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        os.close(fd)  # closing releases a flock
