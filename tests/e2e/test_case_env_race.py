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

Setting and then removing only the function's own variables still raced: botocore creating a client
walks ``os.environ.items()`` for proxies, and a variable removed between the walk's listing of the keys
and its read of one raised ``KeyError: 'CASE_ER_TYPES'`` in a task (a case to the dead-letter queue, a
file's detection failed: seen in CI). The runtime now never removes a variable while it runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pytest

from accesswatch_tools.embedded.runtime import EmbeddedAws

pytestmark = pytest.mark.e2e

SENTINEL = "ACCESSWATCH_TEST_SENTINEL"


def test_other_threads_never_see_the_environment_emptied_while_a_handler_finishes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SENTINEL, "present")
    misses: list[str] = []
    reads = [0]
    stop = threading.Event()

    def watch() -> None:  # what botocore does while a client is created on another thread
        import urllib.request

        while not stop.is_set():
            reads[0] += 1
            if SENTINEL not in os.environ or "AWS_DEFAULT_REGION" not in os.environ:
                misses.append("missing")
            try:
                urllib.request.getproxies_environment()  # walks os.environ.items()
            except KeyError as exc:
                misses.append(f"KeyError {exc}")
            time.sleep(0)  # let the handlers run

    with EmbeddedAws() as aws:
        function = aws.resource_name("CaseStepFunction")
        client = aws.client("lambda")
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            # At least 100 invocations, and as many more as it takes for the watcher to have looked 500 times
            # (how often it gets the GIL depends on the machine's load, not on the code)
            invocations = 0
            while invocations < 100 or (reads[0] <= 500 and invocations < 2_000):
                response = client.invoke(FunctionName=function,
                                         Payload=json.dumps({"step": "triage", "case_id": "CASE-NONE"}).encode())
                assert response.get("FunctionError")  # no such case: the handler ran and raised
                invocations += 1
        finally:
            stop.set()
            watcher.join()
        # The function's variables stay set while the runtime runs (removing them is what raced) ...
        assert os.environ["CASE_ER_TYPES"]
    # ... and go with it.
    assert "CASE_ER_TYPES" not in os.environ
    assert reads[0] > 500
    assert misses == []
    assert os.environ[SENTINEL] == "present"


def test_reading_a_case_while_its_workflow_writes_it_never_breaks_the_reader(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's DynamoDB is not thread-safe: a read serialises an item while another thread adds
    attributes to it -> ``RuntimeError: dictionary changed size during iteration`` (seen when ``run``
    queried the status index while cases were triaged). The CLI polls a case while its workflow moves
    it on, so the runtime serialises DynamoDB requests. Serialising an item is slowed down here to
    make the window wide: without the runtime's lock the reader fails at once."""
    from moto.dynamodb.models.dynamo_type import Item

    original = Item.describe_attrs

    def slow_describe(self: Item, *args: Any, **kwargs: Any) -> Any:
        for _key in self.attrs:  # iterate the live attributes slowly, as a big item would
            time.sleep(0.002)
        return original(self, *args, **kwargs)

    errors: list[str] = []
    stop = threading.Event()
    with EmbeddedAws() as aws:
        name = aws.resource_name("CasesTable")
        table = aws.resource("dynamodb").Table(name)
        table.put_item(Item={"pk": "CASE#RACE", "sk": "CASE", "case_id": "RACE", "status": "opened"})
        monkeypatch.setattr(Item, "describe_attrs", slow_describe)
        writes = [0]

        def write() -> None:  # a workflow adding attributes as it goes
            writer = aws.resource("dynamodb").Table(name)
            while not stop.is_set() and writes[0] < 200:
                writes[0] += 1
                writer.update_item(Key={"pk": "CASE#RACE", "sk": "CASE"}, UpdateExpression="SET #a = :v",
                                   ExpressionAttributeNames={"#a": f"field_{writes[0]}"},
                                   ExpressionAttributeValues={":v": writes[0]})

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        try:
            for _ in range(20):
                try:
                    table.get_item(Key={"pk": "CASE#RACE", "sk": "CASE"}, ConsistentRead=True)
                except RuntimeError as exc:  # the failure this test is about, counted rather than raised
                    errors.append(str(exc))
        finally:
            stop.set()
            writer.join()
    assert errors == [] and writes[0] > 0
