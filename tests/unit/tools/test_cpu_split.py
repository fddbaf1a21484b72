"""The benchmark's CPU split (``bench.stages.CpuSplit``): each thread's CPU charged to the region it is in,
nested regions, threads and garbage collections, with no second counting of any of it."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from accesswatch_tools.bench import stages
from accesswatch_tools.bench.stages import CpuSplit


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_nested_regions_are_charged_their_own_time_and_add_up_to_the_threads() -> None:
    split = CpuSplit()
    before = time.thread_time()
    split.enter("handler")
    _spin(0.05)
    split.enter("client")
    _spin(0.05)
    split.enter("service")
    _spin(0.03)
    split.leave()
    split.leave()
    _spin(0.02)
    split.leave()
    spent = time.thread_time() - before
    seconds = dict(split.seconds)
    assert seconds["handler"] == pytest.approx(0.07, abs=0.01)
    assert seconds["client"] == pytest.approx(0.05, abs=0.01)
    assert seconds["service"] == pytest.approx(0.03, abs=0.01)
    assert sum(seconds.values()) == pytest.approx(spent, abs=0.005)


class _CollectingClock:
    """A thread CPU clock that stands still except where told, and runs a collection of ``duration`` seconds (the
    split's ``gc.callbacks`` entry, as the collector calls it) at its ``at``-th reading: after the reading has been
    taken (as Python 3.12 does at the eval breaker that follows a call), or before (a collection that ran just
    before the clock was read, after the split had read its total of collections)."""

    def __init__(self, split: CpuSplit, at: int, after: bool, duration: float = 100.0) -> None:
        self.split, self.at, self.after, self.duration = split, at, after, duration
        self.now, self.readings, self.collecting = 0.0, 0, False

    def thread_time(self) -> float:
        taken = self.now
        if not self.collecting:
            self.readings += 1
            if self.readings == self.at:
                self.collecting = True
                self.split._collecting("start", {})
                self.now += self.duration
                self.split._collecting("stop", {})
                self.collecting = False
        return taken if self.after else self.now


@pytest.mark.parametrize("after", [True, False], ids=["after", "before"])
@pytest.mark.parametrize("at", range(1, 7))
def test_a_collection_at_any_reading_of_the_clock_is_charged_to_gc_alone(
        at: int, after: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    split = CpuSplit()
    clock = _CollectingClock(split, at, after)
    monkeypatch.setattr(stages, "time", clock)

    def work(seconds: float) -> None:
        clock.now += seconds

    split.enter("handler")
    work(1.0)
    split.enter("client")
    work(2.0)
    split.enter("service")
    work(4.0)
    split.leave()
    work(8.0)
    split.leave()
    work(16.0)
    split.leave()
    assert clock.readings >= at, "the collection ran"  # six readings: one at each entry and each exit
    assert dict(split.seconds) == {"handler": 17.0, "client": 10.0, "service": 4.0, "gc": 100.0}


def test_garbage_collections_are_their_own_region_and_nothing_is_counted_twice() -> None:
    """Real collections, at every allocation, with another thread allocating too: on Python 3.12 a collection
    runs at the eval breaker in whichever thread comes to it first, so anywhere in the split's own bookkeeping.
    The other thread's collections are charged to ``gc`` too, from that thread's clock, so they are measured
    apart and taken out of the sum."""
    split = CpuSplit()
    held = [[[] for _ in range(20)] for _ in range(2_000)]  # objects for each collection to walk
    ours, elsewhere, started = threading.get_ident(), [0.0], threading.local()

    def measured_elsewhere(phase: str, _info: dict[str, object]) -> None:
        if threading.get_ident() == ours:
            return
        if phase == "start":
            started.at = time.thread_time()
        elif getattr(started, "at", None) is not None:
            elsewhere[0] += time.thread_time() - started.at
            started.at = None

    stop = threading.Event()

    def allocate() -> None:
        while not stop.is_set():
            _ = [[] for _ in range(50)]
            stop.wait(0.001)

    other = threading.Thread(target=allocate)
    thresholds = gc.get_threshold()
    with split.installed():
        gc.callbacks.append(measured_elsewhere)
        other.start()
        before = time.thread_time()
        gc.set_threshold(1, 1, 1)
        try:
            split.enter("handler")
            for _ in range(300):
                split.enter("client")
                split.enter("service")
                split.leave()
                split.leave()
            gc.collect()
            split.leave()
        finally:
            gc.set_threshold(*thresholds)
            spent = time.thread_time() - before
            stop.set()
            other.join()
            gc.callbacks.remove(measured_elsewhere)
    assert held
    seconds = dict(split.seconds)
    assert seconds["gc"] > 0 and seconds["handler"] > 0
    ours_counted = sum(seconds.values()) - elsewhere[0]
    assert ours_counted <= spent + 0.005
    assert ours_counted == pytest.approx(spent, abs=0.02)


def test_each_thread_is_charged_to_its_own_region() -> None:
    split = CpuSplit()

    def work(region: str, seconds: float) -> None:
        split.enter(region)
        _spin(seconds)
        split.leave()

    threads = [threading.Thread(target=work, args=("handler", 0.06)), threading.Thread(target=work, args=("service", 0.03))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert split.seconds["handler"] == pytest.approx(0.06, abs=0.01)
    assert split.seconds["service"] == pytest.approx(0.03, abs=0.01)
    figures = split.as_dict(process_cpu_s=0.2)
    assert figures["deployed_code"] == pytest.approx(figures["handler"] + figures["client"])
    assert figures["other"] == pytest.approx(0.2 - figures["handler"] - figures["service"], abs=0.002)


def test_a_call_made_during_a_collection_counts_none_of_it() -> None:
    """A finalizer run by a collection can make a wrapped call: the collection is ``gc``'s, however far it got."""
    split = CpuSplit()
    clock = _CollectingClock(split, at=0, after=True)
    original = stages.time
    stages.time = clock  # type: ignore[assignment]
    try:
        split.enter("handler")
        clock.now += 1.0
        split._collecting("start", {})
        clock.now += 50.0
        split.enter("client")  # a finalizer's call, halfway through the collection
        clock.now += 2.0  # (its own work is inside the collection's clock: gc's)
        split.leave()
        clock.now += 50.0
        split._collecting("stop", {})
        clock.now += 4.0
        split.leave()
    finally:
        stages.time = original
    assert dict(split.seconds) == {"handler": 5.0, "client": 0.0, "gc": 102.0}
