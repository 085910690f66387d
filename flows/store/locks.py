"""One writer per dataset: an OS file lock per dataset name, plus a note of who holds it.

`<root>/.locks/<name>.lock` is locked with `filelock` (flock on POSIX): the kernel releases it when the
holder exits or is killed, so a stale lock of a dead process is simply taken over by the next writer.
`<name>.holder.json` beside it names the holder (pid, host, start time, what it is doing) for the
message a second writer gets. The lock is reentrant within a process (a `synthloom run` holds it from
planning to publish, and its publish task, on another thread, takes it again).

How long a second writer waits: the caller's default (a run: 0, fail at once; a publish: for good),
or SYNTHLOOM_LOCK_WAIT seconds (-1: for good).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from schemas.errors import ConfigError, DatasetLockedError

LOCK_DIR = ".locks"
WAIT_ENV = "SYNTHLOOM_LOCK_WAIT"
FOREVER = -1.0

log = logging.getLogger(__name__)
_guard = threading.Lock()
_held: dict[str, tuple[FileLock, int]] = {}


def lock_path(root: Path | str, name: str) -> Path:
    return Path(root) / LOCK_DIR / f"{name}.lock"


def wait_seconds(default: float) -> float:
    raw = os.environ.get(WAIT_ENV)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{WAIT_ENV}={raw!r} is not a number: give seconds to wait, or -1 to wait for good") from None
    return FOREVER if value < 0 else value


def holder(root: Path | str, name: str) -> str:
    """Who holds the lock, in words (best effort: the note may be mid-write)."""
    try:
        info = json.loads(lock_path(root, name).with_suffix(".holder.json").read_text(encoding="utf-8"))
        return f"{info['what']} (pid {info['pid']} on host {info['host']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (no holder note)"


@contextlib.contextmanager
def dataset_lock(root: Path | str, name: str, what: str, wait: float | None = None) -> Iterator[None]:
    """Hold `name`'s lock for the block. `wait`: seconds (-1 for good); None: SYNTHLOOM_LOCK_WAIT or 0."""
    path = lock_path(root, name)
    key = str(path.absolute())
    with _guard:
        if key in _held:
            lock, depth = _held[key]
            _held[key] = (lock, depth + 1)
            reentered = True
        else:
            reentered = False
    if not reentered:
        _acquire(root, name, what, wait_seconds(0.0) if wait is None else wait)
    try:
        yield
    finally:
        _release(key, path)


def _acquire(root: Path | str, name: str, what: str, wait: float) -> None:
    path = lock_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, thread_local=False, preserve_lock_file=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if wait == 0:
            raise _locked(root, name, wait) from None
        log.warning("dataset %s is locked by %s; waiting", name, holder(root, name))
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise _locked(root, name, wait) from None
    with _guard:
        _held[str(path.absolute())] = (lock, 1)
    note = {"what": what, "pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
    tmp = path.with_suffix(f".holder.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(note), encoding="utf-8")
    os.replace(tmp, path.with_suffix(".holder.json"))


def _release(key: str, path: Path) -> None:
    with _guard:
        lock, depth = _held[key]
        if depth > 1:
            _held[key] = (lock, depth - 1)
            return
        del _held[key]
    with contextlib.suppress(FileNotFoundError):
        path.with_suffix(".holder.json").unlink()  # before the release: the next holder writes its own
    lock.release()


def _locked(root: Path | str, name: str, wait: float) -> DatasetLockedError:
    waited = f" (waited {wait:g}s)" if wait > 0 else ""
    return DatasetLockedError(
        f"dataset {name!r} is being written by {holder(root, name)}{waited}: let it finish, or set "
        f"{WAIT_ENV}=SECONDS to wait for it (-1: for good)"
    )


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
