"""The e2e stage's memory timeline (``bench.stages.RssTimeline``): where in a run its memory peaked, in which step,
with which handlers running."""

from __future__ import annotations

import time

import pytest

from accesswatch_tools.bench import stages
from accesswatch_tools.embedded.runtime import Invocation


def test_the_memory_timeline_says_where_the_highest_sample_came_and_what_ran_then() -> None:
    recorder = stages.RunRecorder()
    recorder.t0 = 100.0
    recorder.handled = [("DetectFunction", 104.0, 107.0), ("CaseStepFunction", 106.5, 106.7),
                        ("IngestFunction", 101.0, 102.0), ("ReferenceFunction", 107.5, 108.0)]
    # an invocation's span includes its wait for the runtime's lock: it places no handler
    recorder.invocations = [Invocation("CaseQueueFunction", "q", 100.0, 10.0, False)]
    timeline = stages.RssTimeline(recorder)
    timeline.samples = [(99.0, 300.0, 5, "starting the runtime"), (101.5, 500.0, 9, "uploading logs (a.csv.gz)"),
                        (106.6, 900.0, 40, "uploading logs (b.csv.gz)"), (110.0, 600.0, 12, "export")]
    summary = timeline.summary(points=2)
    assert summary["sampled_peak_mb"] == 900.0 and summary["at_s"] == 6.6 and summary["threads"] == 40
    assert summary["step"] == "uploading logs (b.csv.gz)"
    assert summary["handlers_running"] == {"DetectFunction": 1, "CaseStepFunction": 1}
    assert summary["max_mb_by_step"] == {"starting the runtime": 300.0, "uploading logs": 900.0, "export": 600.0}
    assert summary["max_threads"] == 40
    # detect ran 104-107 s: 900 MB at 106.6 less 500 MB before it; the case step too (its only sample, 106.6);
    # ingest (101-102 s) 500 less 300; the reference function (107.5-108 s) had no sample while it ran
    assert summary["largest_rise_mb_by_function"] == {"DetectFunction": 400.0, "CaseStepFunction": 400.0,
                                                      "IngestFunction": 200.0}
    # the highest sample of each half of the run, then the last one
    assert summary["timeline"] == [[1.5, 500, 9], [6.6, 900, 40], [10.0, 600, 12]]


def test_the_memory_timeline_samples_until_it_is_closed() -> None:
    recorder = stages.RunRecorder()
    recorder.step = "export"
    with stages.RssTimeline(recorder, interval_s=0.01) as timeline:
        time.sleep(0.1)
    taken = len(timeline.samples)
    time.sleep(0.05)
    assert taken >= 3 and len(timeline.samples) == taken
    assert timeline.summary()["max_mb_by_step"]["export"] == pytest.approx(stages.resident_mb(), rel=0.5)


def test_every_step_is_sampled_however_short_and_the_end_too() -> None:
    recorder = stages.RunRecorder()
    with stages.RssTimeline(recorder, interval_s=60.0) as timeline:  # the sampler's own samples: the first only
        recorder.step = "export"
        recorder.step = "measuring item sizes"
    assert [step for _, _, _, step in timeline.samples] == [
        "starting the runtime", "export", "measuring item sizes", "measuring item sizes"]
    assert set(timeline.summary()["max_mb_by_step"]) == {"starting the runtime", "export", "measuring item sizes"}
    recorder.step = "closing the runtime"
    assert len(timeline.samples) == 4  # no longer listening
