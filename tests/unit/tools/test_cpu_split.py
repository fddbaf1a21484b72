"""The benchmark's CPU split (``bench.stages.CpuSplit``): each thread's CPU charged to the region it is in,
nested regions, threads and garbage collections, with no second counting of any of it."""

from __future__ import annotations

import gc
import threading
import time

import pytest

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


def test_garbage_collections_are_their_own_region_and_nothing_is_counted_twice() -> None:
    """With a collection at every allocation, the region entered allocating its stack entry included."""
    split = CpuSplit()
    held = [[[] for _ in range(20)] for _ in range(2_000)]  # objects for each collection to walk
    thresholds = gc.get_threshold()
    with split.installed():
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
    assert held
    seconds = dict(split.seconds)
    assert seconds["gc"] > 0 and seconds["handler"] > 0
    assert sum(seconds.values()) <= spent + 0.005
    assert sum(seconds.values()) == pytest.approx(spent, abs=0.02)


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
