"""Every ``accesswatch`` command starts without what it does not need: building the parser (the top-level help,
a command's help, the parse of an everyday command) imports no polars, moto, boto3 or replay service. Each
case runs in a fresh interpreter and reads its ``sys.modules``; no timing. Also: the CLI's copies of the case
vocabulary are the layer's own, and its boto3 clients are made on first use, once per service."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

import pytest

from accesswatch_tools.cli import vocabulary
from accesswatch_tools.cli.context import lazy_clients

NOT_IMPORTED = ("polars", "moto", "accesswatch.services.replay", "boto3")

_CHILD = r"""
import contextlib, io, json, sys
from accesswatch_tools.cli.main import build_parser
argv = json.loads(sys.argv[1])
out = io.StringIO()
code = None
with contextlib.redirect_stdout(out):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"exit": code, "stdout": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _fresh_parse(*argv: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(list(argv))], capture_output=True, text=True,
                          timeout=120, check=True)
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("argv", [
    ("--help",),
    ("cases", "list", "--help"),
    ("local", "status", "--help"),
    ("cases", "list"),
    ("cases", "list", "--json", "--status", "open", "--priority", "high", "--source", "complaint"),
    ("cases", "show", "CASE-0000000000000000"),
    ("local", "status"),
    ("findings", "list", "--user", "u1"),
    ("alarms",),
    ("replay", "--from", "2025-04-01", "--to", "2025-04-02"),
    ("export", "findings", "--out", "x.jsonl"),
    ("footprint", "010693250"),
    ("history", "u112017"),
    ("verify",),
])
def test_the_parser_of_an_everyday_command_imports_nothing_heavy(argv: tuple[str, ...]) -> None:
    child = _fresh_parse(*argv)
    assert child["exit"] in (None, 0), child
    if "--help" in argv:
        assert child["stdout"].startswith("usage: ")
    heavy = [name for name in NOT_IMPORTED if name in child["modules"]]
    assert heavy == [], f"accesswatch {' '.join(argv)} imported {heavy} before running"


def test_a_command_module_imports_nothing_heavy_either() -> None:
    """Tests and other tools import command modules for their renderers: those stay light too."""
    modules = [f"accesswatch_tools.cli.commands.{name}" for name in (
        "alarms", "audit", "bench", "cases", "digest", "evidence", "exceptions", "export", "findings", "footprint",
        "history", "local", "redrive", "replay", "report", "sam_env", "verify", "world")]
    code = (f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                                       check=True).stdout)
    assert [name for name in NOT_IMPORTED if name in loaded] == []


def test_the_parsers_case_vocabulary_is_the_layers() -> None:
    from accesswatch.cases.service import PRIORITY_RANK, STATUS_GROUPS, TIERS
    from accesswatch.cases.sources import MAX_CLIENTS, PERSON_SOURCES, SOURCES
    from accesswatch.cases.vocabulary import UNFOUNDED_REASONS
    from accesswatch.cases.workflow import STATUSES

    assert vocabulary.STATUSES == STATUSES
    assert vocabulary.STATUS_GROUPS == STATUS_GROUPS
    assert vocabulary.PRIORITIES == tuple(PRIORITY_RANK)
    assert vocabulary.TIERS == TIERS
    assert vocabulary.SOURCES == SOURCES
    assert vocabulary.PERSON_SOURCES == PERSON_SOURCES
    assert vocabulary.MAX_CLIENTS == MAX_CLIENTS
    assert vocabulary.UNFOUNDED_REASONS == UNFOUNDED_REASONS


def test_the_export_kinds_are_the_operations() -> None:
    from accesswatch_tools.cli.commands import export
    from accesswatch_tools.operate.export import EXPORT_KINDS

    assert export.EXPORT_KINDS == EXPORT_KINDS


class _Deployment:
    """A deployment whose clients and resources count how often each is made."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []

    def client(self, service: str) -> Any:
        self.made.append(("client", service))
        return _Client(service)

    def resource(self, service: str) -> Any:
        self.made.append(("resource", service))
        return _Client(f"{service} resource")


class _Client:
    def __init__(self, service: str) -> None:
        self.service = service

    def describe(self, name: str) -> str:
        return f"{self.service}: {name}"

    def __repr__(self) -> str:
        return f"<client {self.service}>"


def test_clients_are_made_on_first_use_once_per_service_and_the_deployment_keeps_its_type() -> None:
    dep = lazy_clients(_Deployment())
    assert isinstance(dep, _Deployment)
    sfn, s3 = dep.client("stepfunctions"), dep.client("s3")
    dynamodb = dep.resource("dynamodb")
    assert dep.made == []  # nothing made until used
    assert s3.describe("bucket") == "s3: bucket"
    assert dep.made == [("client", "s3")]
    assert dep.client("s3").describe("other") == "s3: other" and dep.client("s3") is s3
    assert dynamodb.service == "dynamodb resource" and repr(dep.resource("dynamodb")) == "<client dynamodb resource>"
    assert dep.made == [("client", "s3"), ("resource", "dynamodb")]
    with pytest.raises(AttributeError):
        sfn.no_such_operation  # noqa: B018 - an unknown attribute fails as on the client itself
    assert dep.made[-1] == ("client", "stepfunctions")


def test_a_client_first_used_from_many_threads_is_made_once() -> None:
    dep = lazy_clients(_Deployment())
    s3 = dep.client("s3")
    start = threading.Barrier(8)

    def use() -> None:
        start.wait()
        s3.describe("key")

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert dep.made == [("client", "s3")]


def test_the_commands_operations_are_the_operate_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """alarms, replay and redrive keep a module-level name tests can replace; each calls the operation."""
    from accesswatch_tools.cli.commands import alarms, redrive, replay
    from accesswatch_tools.operate import alarms as operate_alarms
    from accesswatch_tools.operate import redrive as operate_redrive
    from accesswatch_tools.operate import replay as operate_replay

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def recorder(name: str) -> Any:
        def record(*a: Any, **k: Any) -> Any:
            calls.append((name, a, k))
        return record

    monkeypatch.setattr(operate_alarms, "alarm_rows", recorder("alarms"))
    monkeypatch.setattr(operate_replay, "replay", recorder("replay"))
    monkeypatch.setattr(operate_redrive, "redrive", recorder("redrive"))
    alarms.alarm_rows("dep")
    replay.replay("dep", 1, 2, timeout_s=3.0)
    redrive.redrive("dep", wait=False, dry_run=True, timeout_s=4.0)
    assert calls == [("alarms", ("dep",), {}), ("replay", ("dep", 1, 2), {"timeout_s": 3.0}),
                     ("redrive", ("dep",), {"wait": False, "dry_run": True, "timeout_s": 4.0})]
