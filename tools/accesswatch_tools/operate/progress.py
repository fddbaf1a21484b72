"""A small progress bar on stderr (plain lines when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = max(total, 1)
        self.done = done
        now = time.monotonic()
        if self.tty and (now - self._last > 0.1 or done >= self.total):
            self._last = now
            width = 30
            filled = int(width * min(done, self.total) / self.total)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r{self.label:<22} [{bar}] {done}/{self.total}")
            self.stream.flush()

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def close(self) -> None:
        elapsed = time.monotonic() - self.started
        end = "\n" if self.tty else ""
        prefix = "\r" if self.tty else ""
        self.stream.write(
            f"{prefix}{self.label:<22} {self.done}/{self.total} done in {elapsed:.1f}s{' ' * 20}{end}"
            + ("" if self.tty else "\n")
        )
        self.stream.flush()
