"""Footprints that state what they cover, on the embedded runtime: a small world runs through the system,
one day's partitions are then deleted (a day without logs), and the CLI answers footprints in-process."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.partitions import PartitionStore
from accesswatch_tools.cli.commands import footprint as footprint_command
from accesswatch_tools.cli.context import CliError

pytestmark = pytest.mark.e2e


@dataclass
class World:
    aws: Any
    days: list[date]  # the NZ dates with logs, before the gap was made
    gap: date  # the day whose partitions were deleted
    clients: list[str]  # the clients snapshot's ids
    findings: list[dict[str, Any]]
    case_ids: set[str]
    case_finding_ids: set[str]  # the findings in a case
    events: pl.DataFrame  # every event left after the gap was made


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from accesswatch_tools.embedded.runtime import EmbeddedAws
    from accesswatch_tools.operate.world_run import run_world
    from accesswatch_tools.world import generate

    base = tmp_path_factory.mktemp("footprint-world")
    generate(base / "world", staff=30, clients=600, days=3, seed=19)
    with EmbeddedAws() as aws:
        outcome = run_world(aws, base / "world" / "reference", base / "world" / "logs", base / "run")
        assert outcome.ok, outcome.problems
        s3 = aws.client("s3")
        bucket = aws.resource_name("CuratedBucket")
        store = PartitionStore(s3, bucket)
        objects = store.list(date(2000, 1, 1), date(2100, 1, 1))
        days = sorted({o.nz_date for o in objects})
        assert len(days) >= 3, days
        gap = days[len(days) // 2]
        for obj in objects:
            if obj.nz_date == gap:
                s3.delete_object(Bucket=bucket, Key=obj.key)
        events = store.read(store.list(date(2000, 1, 1), date(2100, 1, 1)), ["system", "event_id", "client_id",
                                                                                "nz_date"])
        clients = pl.read_csv(base / "world" / "reference" / "clients.csv.gz", infer_schema=False)
        findings = [json.loads(line) for line in (base / "run" / "findings.jsonl").read_text().splitlines()]
        cases = list(CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb")).scan_cases())
        yield World(aws, days, gap, clients["client_id"].to_list(), findings, {c["case_id"] for c in cases},
                    {f for c in cases for f in c.get("finding_ids", [])}, events)


@pytest.fixture
def run(world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> Any:
    """``accesswatch footprint ...`` in this process, against the world's runtime: (exit, stdout, stderr).
    (Only the footprint command is registered, as ``accesswatch_tools.cli.main`` registers it.)"""
    monkeypatch.setattr(footprint_command, "deployment", lambda args: world.aws)
    monkeypatch.setenv("ACCESSWATCH_STATE_DIR", str(tmp_path / "state"))

    parser = argparse.ArgumentParser(prog="accesswatch")
    footprint_command.register(parser.add_subparsers(dest="command", required=True))

    def call(*args: str) -> tuple[int, str, str]:
        parsed = parser.parse_args(["footprint", *args])
        try:  # as accesswatch_tools.cli.main does
            code = int(parsed.func(parsed))
        except CliError as exc:
            print(f"accesswatch: {exc}", file=sys.stderr)
            code = 1
        out, err = capsys.readouterr()
        return code, out, err

    return call


def test_an_unknown_id_is_an_error_naming_it_and_with_the_flag_a_warning(run: Any) -> None:
    code, out, err = run("999999999")
    assert code == 1 and out == ""
    assert "'999999999' is not in the current clients reference snapshot" in err
    assert "--allow-unknown-client" in err
    code, out, err = run("999999999", "--allow-unknown-client")
    assert code == 0
    assert "WARNING: client '999999999' is not in the current clients reference snapshot" in err
    assert "# WARNING: client '999999999'" in out  # the CSV carries it too
    assert "0 access(es)" in err


def test_a_zero_stripped_id_is_refused_with_the_real_id_suggested_and_never_read_as_a_number(
        run: Any, world: World, tmp_path: Path) -> None:
    real = next(c for c in sorted(world.clients) if c.startswith("0") and not c.startswith("00"))
    stripped = real.lstrip("0")
    assert stripped not in world.clients
    code, out, err = run(stripped)
    assert code == 1 and out == ""
    assert f"client '{stripped}' is not in the current clients reference snapshot" in err
    assert f"did you mean {real}" in err
    # ids only: nothing else of the clients snapshot is shown
    assert re.sub(r"\d{6,}", "", err).count("'") == 2
    # with the flag the id is looked up as typed: the real client's accesses are not counted under it
    code, out, err = run(stripped, "--allow-unknown-client", "--out", str(tmp_path / "f.jsonl"))
    assert code == 0 and "0 access(es)" in err and f"did you mean {real}?" in err
    meta = json.loads((tmp_path / "f.jsonl").read_text().splitlines()[0])["footprint"]
    assert meta["client_id"] == stripped and meta["client_known"] is False and meta["suggestions"] == [real]
    assert meta["accesses"] == 0
    # one typed digit wrong: the known ids one edit away are suggested
    typo = real[:-1] + next(d for d in "0123456789" if real[:-1] + d not in world.clients)
    code, _, err = run(typo)
    assert code == 1 and real in err.split("did you mean", 1)[1]


def test_every_footprint_states_the_period_and_each_systems_coverage_with_the_gap_day(
        run: Any, world: World, tmp_path: Path) -> None:
    first, last, gap = world.days[0], world.days[-1], world.gap
    client = Counter(world.events["client_id"].to_list()).most_common(1)[0][0]
    start, end = first - timedelta(days=2), last + timedelta(days=1)
    out_file = tmp_path / "footprint.json"
    code, _, err = run(client, "--from", start.isoformat(), "--to", end.isoformat(), "--out", str(out_file))
    assert code == 0, err
    days = (end - start).days + 1
    with_logs = len(world.days) - 1
    assert f"period asked for: {start} to {end} (New Zealand dates)" in err
    expected_gaps = [f"{start} to {first - timedelta(days=1)} (2 days)", f"{gap} (1 day)", f"{end} (1 day)"]
    cms = next(line for line in err.splitlines() if line.strip().startswith("cms:"))
    assert cms.strip() == (f"cms: logs held from {first} to {last}; {with_logs} of the {days} day(s) asked for "
                           f"have logs; no logs " + ", ".join(expected_gaps))
    assert "payment: no logs held at all" in err  # the deployment accepts payment logs, but none are held
    document = json.loads(out_file.read_text())
    meta = document["footprint"]
    assert meta["client_id"] == client and meta["client_known"] is True
    assert meta["period"] == {"from": start.isoformat(), "to": end.isoformat(), "dates": "New Zealand"}
    coverage = {c["system"]: c for c in meta["coverage"]}
    assert coverage["cms"]["logs_from"] == first.isoformat() and coverage["cms"]["logs_to"] == last.isoformat()
    assert {"from": gap.isoformat(), "to": gap.isoformat(), "days": 1} in coverage["cms"]["gaps"]
    assert coverage["cms"]["days_with_logs"] == with_logs and coverage["cms"]["days_in_period"] == days
    expected = world.events.filter(pl.col("client_id") == client).unique(subset=["system", "event_id"])
    assert meta["accesses"] == len(document["accesses"]) == expected.height > 0
    assert all(a["nz_date"] != gap.isoformat() for a in document["accesses"])
    # CSV: the same statement heads the table as '#' lines, and the table reads with comment_prefix
    code, out, _ = run(client, "--from", start.isoformat(), "--to", end.isoformat())
    head = [line for line in out.splitlines() if line.startswith("#")]
    assert head[1] == f"# period asked for: {start} to {end} (New Zealand dates)"
    assert any(line.startswith("# cms: logs held from") and str(gap) in line for line in head)
    table = pl.read_csv(out.encode(), comment_prefix="#", infer_schema=False)
    assert table.height == expected.height
    # without --from the period starts on the first day with logs, and says so
    code, _, err = run(client)
    assert code == 0 and f"period asked for: {first} to " in err
    assert f"no --from: the period starts on the first day any logs are held ({first})" in err


def test_the_client_safe_footprint_carries_no_finding_or_case_id(run: Any, world: World, tmp_path: Path) -> None:
    present = set(world.events["client_id"].to_list())
    in_cases = Counter(f["client_id"] for f in world.findings if f["finding_id"] in world.case_finding_ids)
    client = next(c for c, _ in in_cases.most_common() if c in present)
    finding_ids = {f["finding_id"] for f in world.findings}
    forbidden = re.compile("|".join(re.escape(i) for i in sorted(finding_ids | world.case_ids)))
    rules = re.compile(r"\b[A-Z]+_[A-Z_]+\b")
    code, internal, _ = run(client)
    assert code == 0 and forbidden.search(internal), "the internal footprint of this client names findings"
    assert re.search(r"CASE-[0-9A-F]{16}", internal), "and cases"
    user_ids = set(pl.read_csv(internal.encode(), comment_prefix="#", infer_schema=False)["user_id"].to_list())
    for suffix in ("csv", "html"):
        path = tmp_path / f"footprint.{suffix}"
        code, _, err = run(client, "--client-safe", "--out", str(path))
        assert code == 0, err
        text = path.read_text()
        assert not forbidden.search(text), forbidden.search(text)
        assert not re.search(r"\b[0-9a-f]{32}\b|CASE-", text)  # nor anything shaped like one
        assert not rules.search(text), rules.search(text)
        assert not any(u in text for u in user_ids)
        assert "raised findings" not in err
    csv_text = (tmp_path / "footprint.csv").read_text()
    table = pl.read_csv(csv_text.encode(), comment_prefix="#", infer_schema=False)
    assert table.columns == ["date", "time", "time_zone", "system", "staff_role", "staff_team", "what_happened"]
    assert table.height == world.events.filter(pl.col("client_id") == client).unique(
        subset=["system", "event_id"]).height
    assert set(table["time_zone"].to_list()) <= {"NZDT (New Zealand daylight time)",
                                                  "NZST (New Zealand standard time)"}
    assert f"We hold no records of it for {world.gap.day} {world.gap:%B %Y}" in csv_text
    page = (tmp_path / "footprint.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "We hold no records of it for" in page
    code, _, err = run(client, "--client-safe", "--out", str(tmp_path / "x.jsonl"))
    assert code == 1 and "written as .csv, .html" in err


def test_the_other_commands_refuse_a_user_or_client_id_not_in_the_reference_data(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`cases list`, `findings list` and `exceptions add` check --user and --client as the footprint checks
    its client: a zero-stripped or mistyped id is refused with the id it may have meant, never "0 found"."""
    from accesswatch_tools.cli import main as cli_main
    from accesswatch_tools.cli.commands import cases, exceptions, findings

    for module in (cases, exceptions, findings):
        monkeypatch.setattr(module, "deployment", lambda args: world.aws)
    client = next(c for c in world.clients if c.startswith("0"))
    user = world.findings[0]["user_id"]

    def call(*argv: str) -> tuple[int, str]:
        code = cli_main.main(list(argv))
        return code, capsys.readouterr().err

    for argv in (["cases", "list", "--client", client.lstrip("0")],
                 ["findings", "list", "--client", client.lstrip("0")],
                 ["exceptions", "add", "--client", client.lstrip("0"), "--rule", "sensitive_lookup",
                  "--expires", (date.today() + timedelta(days=7)).isoformat(), "--reason", "test"]):
        code, err = call(*argv)
        assert code == 1, argv
        assert f"client '{client.lstrip('0')}' is not in the current clients reference snapshot; did you mean " \
               f"{client}" in err, err
    code, err = call("findings", "list", "--user", user + "x")
    assert code == 1 and f"user '{user}x' is not in the current staff reference snapshot; did you mean {user}" in err
    code, _err = call("findings", "list", "--user", user, "--json")
    assert code == 0
