"""File locks (``flock``) that say who owns a directory while a process runs: the kernel drops them when the
process ends, however it ends. Used by the local endpoint (its state directory) and the S3 adapter (its
spill directory)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def open_lock(path: Path) -> int:
    """A descriptor on the lock file ``path`` (created if absent), for ``try_flock``."""
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def try_flock(fd: int, operation: int) -> bool:
    """Take ``operation`` (``fcntl.LOCK_EX`` or ``LOCK_SH``) without waiting: False if another holds it."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
