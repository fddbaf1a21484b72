"""The pieces of durable local state that need no endpoint: the journal's framing (a torn last entry is
dropped, whole ones kept), which requests go into it, and the gate a checkpoint closes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from accesswatch_tools.embedded import persistence
from accesswatch_tools.embedded.adapters.cloudformation import stable_suffix


def test_the_journal_gives_back_every_whole_entry_in_order(tmp_path: Path) -> None:
    journal = persistence.Journal(tmp_path / "journal.bin")
    entries = [{"method": "PUT", "path": f"/bucket/k{i}", "body": bytes([i]) * 1000} for i in range(5)]
    for entry in entries:
        journal.append(entry)
    journal.close()
    assert persistence.Journal(tmp_path / "journal.bin").entries() == entries


@pytest.mark.parametrize("cut", [1, 20, 45, 1030])
def test_a_torn_last_entry_is_dropped_and_cut_off_the_file(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "journal.bin"
    journal = persistence.Journal(path)
    journal.append({"n": 1})
    whole = path.stat().st_size
    journal.append({"n": 2, "body": b"x" * 1000})
    journal.close()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - cut])  # the process died while writing the second entry
    assert persistence.Journal(path).entries() == [{"n": 1}]
    assert path.stat().st_size == whole
    again = persistence.Journal(path)
    again.append({"n": 3})
    again.close()
    assert persistence.Journal(path).entries() == [{"n": 1}, {"n": 3}]


def test_a_corrupted_entry_ends_the_journal_there(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    journal = persistence.Journal(path)
    for n in range(3):
        journal.append({"n": n})
    journal.close()
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a flipped byte in the last entry's payload: its SHA-256 no longer matches
    path.write_bytes(bytes(data))
    assert persistence.Journal(path).entries() == [{"n": 0}, {"n": 1}]


def test_clearing_the_journal_empties_it(tmp_path: Path) -> None:
    journal = persistence.Journal(tmp_path / "journal.bin")
    journal.append({"n": 1})
    journal.clear()
    journal.append({"n": 2})
    journal.close()
    assert persistence.Journal(tmp_path / "journal.bin").entries() == [{"n": 2}]


@pytest.mark.parametrize(("method", "headers", "body", "changes"), [
    ("POST", {"x-amz-target": "DynamoDB_20120810.PutItem"}, b"{}", True),
    ("POST", {"x-amz-target": "DynamoDB_20120810.TransactWriteItems"}, b"{}", True),
    ("POST", {"x-amz-target": "DynamoDB_20120810.GetItem"}, b"{}", False),
    ("POST", {"x-amz-target": "DynamoDB_20120810.Query"}, b"{}", False),
    ("POST", {"x-amz-target": "DynamoDB_20120810.BatchGetItem"}, b"{}", False),
    ("POST", {"x-amz-target": "AWSStepFunctions.SendTaskSuccess"}, b"{}", True),
    ("POST", {"x-amz-target": "AWSStepFunctions.ListExecutions"}, b"{}", False),
    ("POST", {"x-amz-target": "AWSStepFunctions.GetExecutionHistory"}, b"{}", False),
    ("PUT", {}, b"log,lines", True),
    ("DELETE", {}, b"", True),
    ("GET", {}, b"", False),
    ("HEAD", {}, b"", False),
    ("POST", {"content-type": "application/x-www-form-urlencoded"}, b"Action=Publish&TopicArn=x", True),
    ("POST", {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}, b"Action=ListTopics", False),
    ("POST", {}, b"<Delete><Object><Key>k</Key></Object></Delete>", True),  # S3 DeleteObjects
    ("GET", {"x-accesswatch-console": "1"}, b"", True),  # a console page: its audit record, its access events
    ("POST", {"x-accesswatch-console": "1"}, b"decision=founded", True),  # a console action
    ("GET", {"x-accesswatch-console": "static"}, b"", False),  # the console's stylesheet
])
def test_requests_that_change_state_go_into_the_journal(method: str, headers: dict[str, str], body: bytes,
                                                        changes: bool) -> None:
    assert persistence.changes_state(method, headers, body) is changes


def test_a_checkpoint_waits_for_requests_in_flight_and_holds_new_ones_back() -> None:
    gate = persistence.Gate()
    order: list[str] = []
    in_flight = threading.Event()
    release = threading.Event()

    def request(name: str, hold: threading.Event | None = None) -> None:
        with gate.request():
            order.append(f"{name} in")
            if hold is not None:
                in_flight.set()
                hold.wait(5)
            order.append(f"{name} out")

    first = threading.Thread(target=request, args=("first", release))
    first.start()
    assert in_flight.wait(5)

    def checkpoint() -> None:
        with gate.closed():
            order.append("checkpoint")
            time.sleep(0.1)
            later = threading.Thread(target=request, args=("later",))
            later.start()
            time.sleep(0.1)  # the later request waits while the gate is closed
            order.append("checkpoint done")
        later.join(5)

    closer = threading.Thread(target=checkpoint)
    closer.start()
    time.sleep(0.1)
    assert "checkpoint" not in order  # it waits for the request in flight
    release.set()
    first.join(5)
    closer.join(5)
    assert order == ["first in", "first out", "checkpoint", "checkpoint done", "later in", "later out"]


def test_generated_names_are_stable_and_differ_by_logical_id() -> None:
    assert stable_suffix("accesswatch", "CasesTable") == stable_suffix("accesswatch", "CasesTable")
    assert stable_suffix("accesswatch", "CasesTable") != stable_suffix("accesswatch", "FindingsTable")
    assert len(stable_suffix("s", "L")) == 12 and stable_suffix("s", "L").isalnum()


def test_reset_deletes_the_saved_state(tmp_path: Path) -> None:
    assert persistence.reset(tmp_path) is False
    persistence.saved_dir(tmp_path).mkdir(parents=True)
    journal = persistence.Journal(persistence.saved_dir(tmp_path) / persistence.JOURNAL)
    journal.append({"n": 1})
    journal.close()
    assert persistence.has_saved_state(tmp_path)
    assert persistence.reset(tmp_path) is True
    assert not persistence.has_saved_state(tmp_path)


def test_an_unreadable_checkpoint_is_one_clear_error_naming_reset(tmp_path: Path) -> None:
    persistence.saved_dir(tmp_path).mkdir(parents=True)
    (persistence.saved_dir(tmp_path) / persistence.CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="cannot be read .*`accesswatch local reset` discards it"):
        persistence.read_checkpoint(tmp_path)
