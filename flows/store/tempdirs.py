"""Temp dirs that say who owns them, so cleanup removes only those of dead processes.

A writer (publish, checkpoint, dataset card) names its temp dir `<prefix>-<host>-<pid>-<id>`, where
<host> is a short hash of the host name. Cleanup removes a temp dir when its owner is gone: same host
and no such pid; another host's after a day (its pid means nothing here); an unnamed old-style
`<prefix>-<hex>` after an hour. A live writer's temp dir, in this process or another, is left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

OWNED = re.compile(r".*\.tmp-([0-9a-f]{8})-([0-9]+)-[0-9a-f]+")
FOREIGN_MAX_AGE_S = 24 * 3600
UNOWNED_MAX_AGE_S = 3600


def host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:8]


def temp_name(prefix: str = ".tmp") -> str:
    """A fresh temp dir name owned by this process, e.g. `.tmp-1a2b3c4d-4242-9f...`."""
    return f"{prefix}-{host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:16]}"


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # exists but not ours (or absurd pid: leave it)
    return True


def is_abandoned(path: Path, now: float | None = None) -> bool:
    """True when no live process can still be writing `path`."""
    now = time.time() if now is None else now
    try:
        age = now - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    m = OWNED.fullmatch(path.name)
    if m is None:
        return age > UNOWNED_MAX_AGE_S
    host, pid = m.group(1), int(m.group(2))
    if host != host_tag():
        return age > FOREIGN_MAX_AGE_S
    return not pid_alive(pid)


def remove_abandoned(paths: list[Path]) -> int:
    """Remove the abandoned ones among `paths`; returns how many."""
    gone = 0
    for p in paths:
        if is_abandoned(p):
            rmtree(p)
            gone += 1
    return gone


def rmtree(path: Path) -> None:
    """shutil.rmtree that also removes read-only folders (published parts are 0444/0555)."""

    def make_writable(func, failed, _exc_info):
        parent = os.path.dirname(failed)
        for p in (parent, failed):
            with contextlib.suppress(OSError):
                os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        with contextlib.suppress(OSError):
            func(failed)

    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if path.exists():
        shutil.rmtree(path, onerror=make_writable)  # onexc is 3.12+


@contextlib.contextmanager
def scratch_dir(parent: Path) -> Iterator[Path]:
    """A temp dir owned by this process under `parent`, removed on exit (a killed process's is
    removed by the next cleanup there: it is named like every other temp dir)."""
    path = parent / temp_name()
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        rmtree(path)
