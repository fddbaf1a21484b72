"""No personal information leaves the system through its logs, metrics, notifications or errors.

A synthesised world (with IRD numbers added to the client and staff snapshots as the extra columns
the contract allows) runs through the embedded runtime, including a rejected file. Everything an
operator or a subscriber could see is captured: every log line each invocation wrote (and what the
runtime stored in CloudWatch Logs), every metric (namespace, name, dimensions, values), every SNS
message on the stack's topics, every error message (failed invocations and failed Step Functions
events) and the alarm reasons; then the weekly digest of every week the world covers: its messages to
the team managers, its file in the curated bucket and what ``accesswatch digest`` prints. Then every name, address, date of birth and IRD number of the
reference data is searched for.

Names are matched as whole words of at least four letters, and as whole "given family" pairs.
A name token that is also a word of the system's own source code or of an identifier or code
column of the reference data (user ids, sites, teams, roles ...) is not searched alone: finding it
would prove nothing, and ids must not raise false alarms.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from accesswatch_tools.embedded.metrics import publish_invocation_metrics
from accesswatch_tools.embedded.runtime import EmbeddedAws, Invocation
from accesswatch_tools.embedded.template import PROJECT_ROOT
from accesswatch_tools.operate.alarms import alarm_rows
from accesswatch_tools.operate.world_run import run_world, upload

pytestmark = pytest.mark.e2e

PERSON_FILES = ("staff", "clients")
NON_PII_COLUMNS = {"user_id", "client_id", "manager_user_id", "related_client_id", "role", "team", "site",
                   "cost_centre", "status", "account_type", "flags", "source_system", "relationship", "nature",
                   "reason"}


# ------------------------------------------------------------------ reference files (any contract format)


def _open_text(path: Path, mode: str) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8", newline="")
    return path.open(mode, encoding="utf-8", newline="")


def read_records(path: Path) -> list[dict[str, str]]:
    with _open_text(path, "r") as handle:
        text = handle.read().lstrip("\ufeff")
    if ".jsonl" in path.name:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return list(csv.DictReader(io.StringIO(text)))


def write_records(path: Path, records: list[dict[str, str]]) -> None:
    with _open_text(path, "w") as handle:
        if ".jsonl" in path.name:
            handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        else:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)


def reference_file(reference: Path, kind: str) -> Path:
    (path,) = [p for p in reference.iterdir() if p.name.split(".", 1)[0] == kind]
    return path


def add_ird_numbers(reference: Path, rng: random.Random) -> None:
    """Give every person an IRD number (an extra column: the contract keeps unknown columns)."""
    taken: set[str] = set()
    for kind in PERSON_FILES:
        for record in read_records(reference_file(reference, kind)):
            taken |= {v for v in record.values() if isinstance(v, str) and v.isdigit()}
    for kind in PERSON_FILES:
        path = reference_file(reference, kind)
        records = read_records(path)
        for record in records:
            while (ird := str(rng.randrange(100_000_000, 150_000_000))) in taken:
                pass
            taken.add(ird)
            record["ird_number"] = f"{ird[:3]}-{ird[3:6]}-{ird[6:]}" if rng.random() < 0.5 else ird
        write_records(path, records)


# ------------------------------------------------------------------ what counts as personal information


def fold(text: str) -> str:
    """Case-folded, macrons and other accents removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text.casefold())


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", fold(text)))


def system_vocabulary() -> set[str]:
    """Every word of the system's own code and definitions (the synthetic generator excluded)."""
    vocab: set[str] = set()
    package = PROJECT_ROOT / "layers" / "shared" / "accesswatch"
    sources = [p for p in package.rglob("*.py") if "synth" not in p.relative_to(package).parts]
    sources += list((PROJECT_ROOT / "functions").rglob("*.py")) + list((PROJECT_ROOT / "statemachines").glob("*"))
    sources.append(PROJECT_ROOT / "template.yaml")
    for path in sources:
        vocab |= words(path.read_text(encoding="utf-8"))
    return vocab


@dataclass
class Catalogue:
    names: set[str] = field(default_factory=set)  # single tokens, folded
    full_names: set[str] = field(default_factory=set)  # "given family", folded
    addresses: set[str] = field(default_factory=set)  # full address and street line, folded
    dates_of_birth: set[str] = field(default_factory=set)  # ISO and d/m/Y forms
    ird_numbers: set[str] = field(default_factory=set)  # digits only
    not_searched_alone: set[str] = field(default_factory=set)

    @classmethod
    def from_reference(cls, reference: Path) -> Catalogue:
        catalogue = cls()
        harmless = system_vocabulary()
        for kind in PERSON_FILES:
            for record in read_records(reference_file(reference, kind)):
                for column in NON_PII_COLUMNS & set(record):
                    harmless |= words(str(record[column] or ""))
        for kind in PERSON_FILES:
            for record in read_records(reference_file(reference, kind)):
                family, given = fold(record.get("family_name") or ""), fold(record.get("given_names") or "")
                for token in re.findall(r"\w+", f"{family} {given}"):
                    if len(token) >= 4:
                        (catalogue.not_searched_alone if token in harmless else catalogue.names).add(token)
                if family and given:
                    catalogue.full_names.add(f"{given.split()[0]} {family}")
                    catalogue.full_names.add(f"{family}, {given.split()[0]}")
                address = fold(record.get("address") or "").strip()
                if address:
                    catalogue.addresses.add(address)
                    street = address.split(",")[0].strip()
                    if re.search(r"\d", street) and re.search(r"[a-z]{4,}", street):
                        catalogue.addresses.add(street)
                dob = (record.get("date_of_birth") or "").strip()
                if re.fullmatch(r"\d{4}-\d{2}-\d{2}", dob):
                    y, m, d = dob.split("-")
                    catalogue.dates_of_birth |= {dob, f"{d}/{m}/{y}", f"{int(d)}/{int(m)}/{y}"}
                ird = re.sub(r"\D", "", record.get("ird_number") or "")
                if ird:
                    catalogue.ird_numbers.add(ird)
        return catalogue

    def _patterns(self) -> dict[str, re.Pattern[str]]:
        key = (len(self.full_names), len(self.addresses), len(self.dates_of_birth))
        if getattr(self, "_compiled_for", None) != key:
            def alternation(values: set[str]) -> str:
                return "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)) or "(?!)"

            self._compiled = {
                "full name": re.compile(rf"(?<!\w)(?:{alternation(self.full_names)})(?!\w)"),
                "address": re.compile(alternation(self.addresses)),
                # a date inside a timestamp or an id is not a date of birth
                "date of birth": re.compile(rf"(?<![\w/-])(?:{alternation(self.dates_of_birth)})(?![\w/-])"),
            }
            self._compiled_for = key
        return self._compiled

    def leaks(self, text: str) -> list[tuple[str, str]]:
        """(kind, value) of every piece of personal information in ``text``."""
        folded = fold(text)
        patterns = self._patterns()
        found = [("name", token) for token in sorted(words(text) & self.names)]
        found += [("full name", m.group(0)) for m in patterns["full name"].finditer(folded)]
        found += [("address", m.group(0)) for m in patterns["address"].finditer(folded)]
        found += [("date of birth", m.group(0)) for m in patterns["date of birth"].finditer(text)]
        for run in set(re.findall(r"(?<![0-9A-Za-z])\d{3}-?\d{3}-?\d{3}(?![0-9A-Za-z])", text)):
            if re.sub(r"\D", "", run) in self.ird_numbers:
                found.append(("IRD number", run))
        return found


# ------------------------------------------------------------------ capture everything an observer sees


@dataclass
class Captured:
    items: list[tuple[str, str]] = field(default_factory=list)  # (where, text)

    def add(self, where: str, text: Any) -> None:
        if text:
            self.items.append((where, text if isinstance(text, str) else json.dumps(text, default=str)))

    def of(self, prefix: str) -> list[str]:
        return [text for where, text in self.items if where.startswith(prefix)]


def capture_metrics(aws: EmbeddedAws, captured: Captured) -> None:
    cloudwatch = aws.client("cloudwatch")
    for page in cloudwatch.get_paginator("list_metrics").paginate():
        for metric in page["Metrics"]:
            captured.add("metric", metric)
            stats = cloudwatch.get_metric_statistics(
                Namespace=metric["Namespace"], MetricName=metric["MetricName"], Dimensions=metric["Dimensions"],
                StartTime="2000-01-01T00:00:00Z", EndTime="2100-01-01T00:00:00Z", Period=86400 * 365,
                Statistics=["Sum", "Minimum", "Maximum"])
            captured.add("metric value", [{k: f"{p[k]:.0f}" for k in ("Sum", "Minimum", "Maximum")}
                                          for p in stats["Datapoints"]])


def capture_stored_logs(aws: EmbeddedAws, captured: Captured) -> None:
    logs = aws.client("logs")
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            for events in logs.get_paginator("filter_log_events").paginate(logGroupName=group["logGroupName"]):
                for event in events["events"]:
                    captured.add(f"stored log {group['logGroupName']}", event["message"])


def capture_notifications(aws: EmbeddedAws, queues: dict[str, str], captured: Captured) -> None:
    sqs = aws.client("sqs")
    for topic, url in queues.items():
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:
                captured.add(f"notification {topic}", message["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def capture_workflow_errors(aws: EmbeddedAws, captured: Captured) -> None:
    sfn = aws.client("stepfunctions")
    for logical_id in ("DetectionStateMachine", "CaseStateMachine"):
        arn = aws.resource_name(logical_id)
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
            for execution in page["executions"]:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                captured.add("execution error", {k: described.get(k) for k in ("error", "cause")})
                if execution["status"] == "FAILED":
                    history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
                    for event in history:
                        for key, details in event.items():
                            if key.endswith("FailedEventDetails") or key.endswith("TimedOutEventDetails"):
                                captured.add("execution failure event", details)


def subscribe_queues(aws: EmbeddedAws) -> dict[str, str]:
    """A queue subscribed to each of the stack's topics, to read every notification sent."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    queues = {}
    for topic in ("IntegrityTopic", "OpsTopic", "DigestTopic"):
        url = sqs.create_queue(QueueName=f"pii-test-{topic}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=aws.resource_name(topic), Protocol="sqs", Endpoint=queue_arn)
        queues[topic] = url
    return queues


def world_weeks(findings_jsonl: Path) -> list[str]:
    """The ISO weeks (New Zealand time) in which the world's findings occurred."""
    from accesswatch.quarters import nz_date, nz_week, parse_instant

    lines = findings_jsonl.read_text(encoding="utf-8").splitlines()
    return sorted({nz_week(nz_date(parse_instant(json.loads(line)["occurred_at"]))) for line in lines if line.strip()})


def run_digests(aws: EmbeddedAws, weeks: list[str], captured: Captured) -> None:
    """The digest function for each week (as its schedule runs it), its files, and the CLI's rendering."""
    from accesswatch.cases.digest import Week
    from accesswatch.dal.digests import digest_key
    from accesswatch.services.digest import produce
    from accesswatch_tools.cli.commands.digest import render
    from accesswatch_tools.operate.digest import digest_sources

    s3 = aws.client("s3")
    for week in weeks:
        response = aws.client("lambda").invoke(FunctionName=aws.resource_name("DigestFunction"),
                                               Payload=json.dumps({"week": week, "source": "test"}))
        result = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, result
        body = s3.get_object(Bucket=aws.resource_name("CuratedBucket"), Key=digest_key(week))["Body"].read()
        captured.add("digest file", body.decode("utf-8"))
        captured.add("digest result", result)
        captured.add("digest cli", "\n".join(render(produce(digest_sources(aws), Week.of(week)))))


def run_and_capture(tmp_path: Path) -> Iterator[tuple[Captured, Catalogue, EmbeddedAws]]:
    from accesswatch_tools.world import generate

    world = tmp_path / "world"
    generate(world, staff=30, clients=600, days=2, seed=13)
    add_ird_numbers(world / "reference", random.Random(13))
    catalogue = Catalogue.from_reference(world / "reference")
    captured = Captured()
    holder: dict[str, EmbeddedAws] = {}

    def on_invocation(invocation: Invocation) -> None:
        captured.add(f"log {invocation.function}", invocation.logs)
        captured.add(f"error {invocation.function}", invocation.error_message)
        aws = holder["aws"]
        publish_invocation_metrics(invocation, aws.client("cloudwatch"), aws.resource_name(invocation.function))

    with EmbeddedAws(on_invocation=on_invocation) as aws:
        holder["aws"] = aws
        queues = subscribe_queues(aws)
        outcome = run_world(aws, world / "reference", world / "logs", tmp_path / "out")
        assert outcome.ok, outcome.problems
        # an error path: a file rejected whole
        log = next(p for p in sorted((world / "logs").iterdir()) if p.name.endswith(".gz"))
        truncated = tmp_path / "cut.csv.gz"
        truncated.write_bytes(log.read_bytes()[:200])
        upload(aws, truncated, "access-logs/cms/cut.csv.gz")
        run_digests(aws, world_weeks(tmp_path / "out" / "findings.jsonl"), captured)
        for row in alarm_rows(aws):
            captured.add("alarm reason", row)
        capture_metrics(aws, captured)
        capture_stored_logs(aws, captured)
        capture_notifications(aws, queues, captured)
        capture_workflow_errors(aws, captured)
        yield captured, catalogue, aws


def test_no_name_address_date_of_birth_or_ird_number_leaves_the_system(tmp_path: Path):
    for captured, catalogue, aws in run_and_capture(tmp_path):
        # The capture is real, not vacuous: logs of every function that ran, their metrics,
        # notifications of the cases opened, and personal information to look for.
        ran = {i.function for i in aws.invocations}
        assert {"IngestFunction", "ReferenceFunction", "DetectFunction", "CaseStepFunction"} <= ran
        assert all(captured.of(f"log {function}") for function in ran)
        # every invocation's own output was captured: its JSON log lines and its EMF metrics
        uncaptured = [(i.function, i.request_id) for i in aws.invocations
                      if '"level"' not in i.logs or '"_aws"' not in i.logs]
        assert not uncaptured, f"handler output escaped the runtime's capture: {uncaptured[:5]}"
        assert any("file ingested" in text for text in captured.of("log IngestFunction"))
        assert any("FindingsNew" in text for text in captured.of("metric"))
        assert captured.of("notification IntegrityTopic"), "cases were opened: the integrity team was notified"
        # the digest ran and had something to say: users below the threshold, to their managers
        digests = [json.loads(text) for text in captured.of("digest file")]
        assert digests and any(g["users"] for d in digests for g in d["groups"]), "no user below the threshold"
        assert any(g["manager_user_id"] for d in digests for g in d["groups"])
        assert len(captured.of("notification DigestTopic")) == sum(len(d["groups"]) for d in digests)
        assert any("weekly digest" in text for text in captured.of("digest cli"))
        assert captured.of("stored log")
        assert len(catalogue.names) > 50 and len(catalogue.addresses) > 50
        assert len(catalogue.dates_of_birth) > 50 and len(catalogue.ird_numbers) > 300

        leaks = [(where, kind, value) for where, text in captured.items for kind, value in catalogue.leaks(text)]
        assert not leaks, f"{len(leaks)} leak(s), first: {leaks[:10]}"


def test_the_detector_would_see_a_leak():
    """The search itself works: a log line carrying a client's details is caught, ids are not."""
    catalogue = Catalogue(names={"wihongi", "aroha"}, full_names={"aroha wihongi"},
                          addresses={"49 kauri st., newtown, wellington", "49 kauri st."},
                          dates_of_birth={"1963-02-05", "05/02/1963"}, ird_numbers={"123456789"})
    line = json.dumps({"message": "lookup", "client": "Aroha Wihongi", "dob": "1963-02-05",
                       "address": "49 Kauri St., Newtown, Wellington", "ird": "123-456-789"})
    kinds = {kind for kind, _ in catalogue.leaks(line)}
    assert kinds == {"name", "full name", "address", "date of birth", "IRD number"}
    assert catalogue.leaks('{"client_id": "000136865", "user_id": "u127588", "trace": "1-6a1b-123456789abc"}') == []
    # a longer word is not the name; a date inside a timestamp is an event time, not a date of birth
    assert catalogue.leaks('{"message": "Wihongite", "occurred_at": "1963-02-05T10:00:00Z"}') == []
    assert catalogue.leaks("born 05/02/1963") == [("date of birth", "05/02/1963")]
