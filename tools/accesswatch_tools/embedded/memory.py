"""The embedded runtime's process and glibc's allocator.

glibc gives each thread that allocates while others hold the heap an arena of its own, up to eight per core,
and keeps what each arena once held. The runtime runs every function, moto and the waiting case executions
(thousands of threads on the ministry day) in one process, so freed memory stays spread over many arenas.
Two arenas, as ``MALLOC_ARENA_MAX=2`` would give, cost nothing measurable here (the GIL already serialises
the threads): the 0.5M-event world peaked at 885 MB instead of 968-1,001 MB (docs/performance.md).
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
from typing import Any

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2
_done: list[bool] = []
_lock = threading.Lock()


def fewer_malloc_arenas(libc: Any = None) -> bool:
    """Limit glibc's arenas to ``ARENAS`` for the rest of the process, once; True if this call set the limit.

    Nothing is done where the C library is not glibc, or where ``MALLOC_ARENA_MAX`` or the ``arena_max`` tunable
    is set (the choice made for the process is kept). glibc fixes its limit once it has made more than eight
    arenas; arenas made before stay. So the runtime sets it as it starts: in an endpoint or ``accesswatch run``
    process, before any thread of its own; a pytest worker that ran many threads first may keep more."""
    with _lock:
        if _done:
            return False
        _done.append(True)
        if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
            return False
        if libc is None:
            if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
                return False
            libc = ctypes.CDLL(None)  # the process's own symbols, glibc's among them (no ldconfig run)
        return bool(libc.mallopt(M_ARENA_MAX, ARENAS))
