"""Why a case execution occasionally failed (CaseFailed via the dead-letter queue, the case left
`triaged`, no function error), and the guard against it.

The embedded runtime ran each handler inside ``mock.patch.dict(os.environ, <function env>)``. On
exit that clears os.environ and refills it. Step Functions tasks run on their own threads, outside
the runtime's lock; the first SNS publish of a run creates the SNS client then, and botocore reads
the environment while creating it (``if 'REQUESTS_CA_BUNDLE' in os.environ: os.environ[...]``).
When a handler finished in that instant the key was gone: a raw ``KeyError`` inside the task,
which Step Functions reports as ``States.Runtime`` (not retried), so the Catch sent the case to the
dead-letter queue. One case per run at most (the client is cached once created), and only now and
then: the run's first Notify had to overlap the end of some other invocation.

The runtime now sets and restores only the function's own variables; every other variable stays
visible to every thread throughout.
"""

from __future__ import annotations

import json
import os
import threading

import pytest

from accesswatch.local.runtime import EmbeddedAws

pytestmark = pytest.mark.e2e

SENTINEL = "ACCESSWATCH_TEST_SENTINEL"


def test_other_threads_never_see_the_environment_emptied_while_a_handler_finishes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SENTINEL, "present")
    misses: list[str] = []
    reads = [0]
    stop = threading.Event()

    def watch() -> None:  # what botocore does while a client is created on another thread
        while not stop.is_set():
            reads[0] += 1
            if SENTINEL not in os.environ or "AWS_DEFAULT_REGION" not in os.environ:
                misses.append("missing")

    with EmbeddedAws() as aws:
        function = aws.resource_name("CaseStepFunction")
        client = aws.client("lambda")
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            for _ in range(300):
                response = client.invoke(FunctionName=function,
                                         Payload=json.dumps({"step": "triage", "case_id": "CASE-NONE"}).encode())
                assert response.get("FunctionError")  # no such case: the handler ran and raised
        finally:
            stop.set()
            watcher.join()
        # The function's own variables are set while it runs and gone afterwards.
        assert "CASES_TABLE" not in os.environ or os.environ.get("CASES_TABLE") != aws.resource_name("CasesTable")
    assert reads[0] > 1000
    assert misses == []
    assert os.environ[SENTINEL] == "present"
