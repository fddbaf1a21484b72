"""The embedded runtime's limit on glibc's malloc arenas (embedded/memory.py)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from unittest import mock

import pytest

from accesswatch_tools.embedded import memory

_THREADS_ALLOCATING = """
import ctypes, sys, threading
from accesswatch_tools.embedded import memory
if sys.argv[1] == "limited":
    assert memory.fewer_malloc_arenas()
held = []
alive = threading.Barrier(8)
def allocate():
    held.append([bytearray(4096) for _ in range(200)])
    alive.wait()  # every thread holds its arena at once
threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(None).malloc_stats()  # to stderr, an "Arena n:" per arena
"""


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 1


def test_the_limit_is_set_once_per_process_and_a_set_variable_is_kept() -> None:
    libc = FakeLibc()
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    with mock.patch.object(memory, "_done", []), mock.patch.dict(os.environ, env, clear=True):
        assert memory.fewer_malloc_arenas(libc) is True
        assert memory.fewer_malloc_arenas(libc) is False
    assert libc.calls == [(memory.M_ARENA_MAX, memory.ARENAS)]

    chosen = FakeLibc()
    for variable, value in (("MALLOC_ARENA_MAX", "4"), ("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")):
        with mock.patch.object(memory, "_done", []), mock.patch.dict(os.environ, {variable: value}):
            assert memory.fewer_malloc_arenas(chosen) is False
    assert chosen.calls == []


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_threads_allocating_share_two_arenas_with_the_limit() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}

    def arenas(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", _THREADS_ALLOCATING, mode], env=env, capture_output=True,
                              text=True, timeout=60, check=True)
        return len(re.findall(r"^Arena \d+:", done.stderr, flags=re.MULTILINE))

    assert arenas("unlimited") > memory.ARENAS
    assert 1 <= arenas("limited") <= memory.ARENAS
