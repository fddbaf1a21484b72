"""What a command pays to talk to the local endpoint: ``LocalEndpoint`` reads template.yaml only when asked
for it, and makes every client and resource from one boto3 session (a lost endpoint still reported for each);
the layer's case modules load no polars when imported (a case command's ``accesswatch.cases.service``), nor
does an unfiltered listing's id check. Fresh interpreters and counts; no timing."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from accesswatch_tools.embedded import template as template_module
from accesswatch_tools.embedded.endpoint import LocalEndpoint


class Lost(Exception):
    pass


def _closed_port() -> str:
    """A loopback URL nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _endpoint(url: str = "http://127.0.0.1:9", **kwargs: Any) -> LocalEndpoint:
    return LocalEndpoint(url, {"CasesTable": "cases-table"}, Path("."), "ap-southeast-2", **kwargs)


def test_the_template_is_read_when_first_asked_for_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    real = template_module.load_template

    def counted(path: Path) -> dict[str, Any]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(template_module, "load_template", counted)
    dep = _endpoint()
    dep.client("dynamodb")
    assert dep.resource_name("CasesTable") == "cases-table"
    assert reads == []
    assert dep.template == real(template_module.TEMPLATE_PATH)
    assert dep.template is dep.template
    assert reads == [template_module.TEMPLATE_PATH]


@pytest.fixture
def sessions_made(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every boto3 Session made while the test runs."""
    made: list[dict[str, Any]] = []
    real = boto3.session.Session

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(boto3.session, "Session", counted)
    return made


def test_every_client_and_resource_comes_from_one_session(sessions_made: list[dict[str, Any]]) -> None:
    made = sessions_made
    dep = _endpoint()
    clients = [dep.client("dynamodb"), dep.client("s3"), dep.client("stepfunctions"), dep.resource("dynamodb")]
    assert len(made) == 1
    assert made[0]["region_name"] == "ap-southeast-2"
    assert all(c is not None for c in clients)
    assert clients[0].meta.endpoint_url == dep.url
    assert clients[0].meta.region_name == "ap-southeast-2"


def test_clients_made_from_many_threads_at_once_share_the_session(sessions_made: list[dict[str, Any]]) -> None:
    made = sessions_made
    dep = _endpoint()
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def make(service: str) -> None:
        start.wait()
        try:
            dep.client(service)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(s,)) for s in ("s3", "dynamodb", "sqs", "sns", "lambda", "s3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(made) == 1


def test_a_lost_endpoint_is_reported_for_every_client_of_the_session() -> None:
    seen: list[str] = []

    def lost(exc: Exception) -> None:
        seen.append(type(exc).__name__)
        raise Lost("the local endpoint stopped")

    dep = _endpoint(_closed_port(), on_connection_error=lost)
    with pytest.raises(Lost):
        dep.client("dynamodb").list_tables()
    with pytest.raises(Lost):
        dep.client("s3").list_buckets()
    with pytest.raises(Lost):
        list(dep.resource("dynamodb").tables.all())
    assert seen == ["EndpointConnectionError"] * 3


_IMPORTS = r"""
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_layers_case_modules_load_no_polars() -> None:
    """The case service and the other case modules a command imports: polars comes with the rule catalog,
    which they load only when a function needs a rule's tier."""
    modules = ["accesswatch.cases.service", "accesswatch.cases.teamwork", "accesswatch.cases.digest",
               "accesswatch.cases.exceptions", "accesswatch.cases.assign", "accesswatch.cases.scoring",
               "accesswatch.cases.queue", "accesswatch.cases.sources", "accesswatch_tools.operate.cases",
               "accesswatch_tools.embedded.endpoint"]
    done = subprocess.run([sys.executable, "-c", _IMPORTS, json.dumps(modules)], capture_output=True, text=True,
                          timeout=120, check=True)
    loaded = json.loads(done.stdout)
    assert [m for m in ("polars", "accesswatch.rules", "yaml") if m in loaded] == []


_CHECK = r"""
import json, sys
from accesswatch_tools.operate.reference_ids import check_ids
print(json.dumps({"warnings": check_ids(None), "polars": "polars" in sys.modules}))
"""


def test_an_unfiltered_listing_checks_no_ids_and_loads_no_polars() -> None:
    done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == {"warnings": [], "polars": False}


def test_the_rules_tiers_are_still_used_where_the_case_modules_route() -> None:
    """The imports moved into the functions still find the catalog: a rule's tier decides suppression."""
    from accesswatch.cases.exceptions import suppressing
    from accesswatch.rules import TIER_OF

    accumulate = next(rule for rule, tier in TIER_OF.items() if tier == "accumulate")
    immediate = next(rule for rule, tier in TIER_OF.items() if tier == "immediate")
    exception = {"exception_id": "EXC-1", "user_id": "u1", "client_id": None, "rule": None,
                 "expires_on": "2999-01-01", "revoked_at": None}
    finding = {"user_id": "u1", "client_id": "c1", "occurred_at": "2025-04-01T09:00:00+12:00"}
    assert suppressing({**finding, "rule": accumulate}, [exception]) == "EXC-1"
    assert suppressing({**finding, "rule": immediate}, [exception]) is None
