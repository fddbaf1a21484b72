"""The system's invariants, checked over what it stored: nothing lost, nothing doubled, nothing stuck.

Pure: every check takes data already read (through the DAL, by ``accesswatch verify``) and returns
the problems it found. A problem names ids, keys and counts only, never an access line's content.

The invariants (docs/reliability.md says which test proves each):

- files: for every file lines_read = accepted + quarantined; its quarantine object holds exactly
  its quarantined lines (or the one whole-file record of a rejected file); no file is left
  ingesting, detecting, failed, or waiting for reference data once reference data is published;
- partitions: every accepted event is in exactly one partition (rows per file = accepted, each
  (file, line) once), partitions hold only their own file's lines, in the system and New Zealand
  date their path names, and the file's manifest lists exactly its partitions; no event_id of a system
  and date is accepted with two different contents (ingest quarantines the second);
- findings: each finding's id is derived from (system, event_id, rule) (a finding kept for an event
  that reused an id with other content: from its content too, naming an earlier finding that really
  differs), it names a reference
  snapshot whose index exists, and it points to an existing event (its partition holds that
  event_id for the same user and client); each appears exactly once in the findings export,
  whose every line is a JSON object equal to the table's item;
- cases (data contract v2): each case lists existing findings of its own user that name it back, no
  finding is in two cases, every immediate-tier finding is in a case, no record-tier (staging) or
  suppressed finding is, a user has at most one open (undecided) case, no case was opened by the risk
  threshold from a lone finding, and the case's history agrees with its state; a decision and an outcome
  are recorded once, under the claim the case names, saying what the case holds (what their actor was
  told, or what a later ``amended`` entry made it), and no claim is left on a case that waits on nobody;
  a reopened case is checked from its last ``reopened`` entry on (its earlier decision is history); a case a
  person opened (complaint, manager's concern, privacy request) may list no findings;
- reference: each kind's current snapshot is its newest accepted upload;
- executions: no detection execution is left running and every failed one was redriven to
  success; every case has one live workflow, waiting only on a person or finished (a reopened case: one
  of its current round, ``<case>-reopen-<n>``).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from accesswatch.cases.workflow import CLOSED, OPENED, REOPENED, STATUSES, WAITING_ON_A_PERSON, reached
from accesswatch.contract import FINDING_EXPORT_FIELDS
from accesswatch.dal.cases import UNDECIDED as UNDECIDED_STATUSES
from accesswatch.findings import expected_finding_id
from accesswatch.ingest.identity import content_digest
from accesswatch.rules import tier_of

# Ledger file states after which nothing more happens to a file by itself.
SETTLED_FILE_STATES = frozenset({"detected", "ingested", "rejected"})
FAILED_EXECUTION_STATES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})

PARTITION_KEY = re.compile(
    r"^events/system=(?P<system>[^/]+)/nz_date=(?P<day>\d{4}-\d{2}-\d{2})/(?P<ingest>[^/]+)-(?P<seq>\d+)\.parquet$"
)
PARTITION_COLUMNS = ("system", "event_id", "nz_date", "user_id", "client_id", "source_key", "line",
                     "occurred_at_utc", "action", "screen", "site", "session_id")


@dataclass(frozen=True)
class Problem:
    check: str  # files | partitions | findings | export | cases | executions | reference | endpoints
    subject: str  # an id or key
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


@dataclass
class Partition:
    """One curated partition: its key and the identifying columns of its rows."""

    key: str
    rows: pl.DataFrame  # PARTITION_COLUMNS

    @property
    def parts(self) -> dict[str, str] | None:
        match = PARTITION_KEY.match(self.key)
        return match.groupdict() if match else None


@dataclass
class Observed:
    """Everything the checks read, gathered by ``accesswatch verify`` through the DAL."""

    files: list[dict[str, Any]]  # ledger file items
    snapshot_id: str | None  # the published reference index, if any
    partitions: list[Partition]
    manifests: dict[str, list[str]]  # ingest_id -> partition keys its manifest lists
    quarantine_records: dict[str, int]  # ingest_id -> records in its quarantine object
    index_ids: set[str]  # reference indexes that exist
    findings: list[dict[str, Any]]  # findings table items
    export_lines: list[str]  # the findings export, one JSON text per line
    cases: list[dict[str, Any]]
    histories: dict[str, list[dict[str, Any]]]  # case_id -> history entries
    detection_executions: list[dict[str, Any]]  # name, executionArn, status, ingest_id (when known)
    case_executions: list[dict[str, Any]]  # name, executionArn, status, startDate
    waiting_statuses: frozenset[str] = WAITING_ON_A_PERSON
    reference: dict[str, Any] | None = None  # the ledger's REFERENCE#CURRENT item (each kind's current upload)


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    counted: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "counted": self.counted, "problems": [asdict(p) for p in self.problems]}


def check(observed: Observed) -> Report:
    for item in observed.files:
        # A function that failed before recording the file leaves an item with its key only.
        item.setdefault("ingest_id", str(item.get("pk", "")).removeprefix("FILE#"))
    partitions = _partition_rows(observed.partitions)
    problems = [
        *check_files(observed),
        *check_partitions(observed, partitions),
        *check_findings(observed, partitions),
        *check_export(observed.findings, observed.export_lines),
        *check_cases(observed),
        *check_executions(observed),
        *check_reference(observed),
    ]
    counted = {
        "files": len(observed.files),
        "partitions": len(observed.partitions),
        "events": partitions.height,
        "findings": len(observed.findings),
        "export_lines": len(observed.export_lines),
        "cases": len(observed.cases),
        "detection_executions": len(observed.detection_executions),
        "case_executions": len(observed.case_executions),
    }
    return Report(problems, counted)


# ---------------------------------------------------------------------------------- files
def _count(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return None if value in (None, "") else int(value)


def check_files(observed: Observed) -> list[Problem]:
    problems = []
    for item in observed.files:
        key = str(item.get("key") or item["ingest_id"])
        status = item.get("status")
        kind = item.get("kind", "access-log")
        read, accepted, quarantined = (_count(item, n) for n in ("lines_read", "accepted", "quarantined"))
        if read is not None and (accepted or 0) + (quarantined or 0) != read:
            problems.append(Problem("files", key, f"lines_read {read} != accepted {accepted} + quarantined "
                                                  f"{quarantined}"))
        if status == "rejected":
            if not item.get("reason"):
                problems.append(Problem("files", key, "rejected without a reason"))
            if accepted:
                problems.append(Problem("files", key, f"rejected but {accepted} events accepted"))
        if status == "awaiting_reference":
            if observed.snapshot_id is not None:
                problems.append(Problem("files", key, "still awaiting reference data, though an index is published"))
        elif status not in SETTLED_FILE_STATES:
            reason = f" ({item['reason']})" if item.get("reason") else ""
            problems.append(Problem("files", key, f"left {status}{reason}"))
        if kind == "access-log" and status is not None:
            problems.extend(_quarantine_problems(item, key, observed.quarantine_records))
    return problems


def _quarantine_problems(item: dict[str, Any], key: str, records: dict[str, int]) -> list[Problem]:
    if item.get("status") not in SETTLED_FILE_STATES | {"awaiting_reference", "detecting"}:
        return []  # an unfinished ingest has not written its quarantine yet (reported above)
    expected = 1 if item.get("status") == "rejected" else int(item.get("quarantined") or 0)
    got = records.get(str(item.get("ingest_id")), 0)
    if got != expected:
        return [Problem("files", key, f"quarantine holds {got} records where the ledger counts {expected}")]
    return []


# ---------------------------------------------------------------------------------- partitions
def _partition_rows(partitions: list[Partition]) -> pl.DataFrame:
    """All partitions' rows with the partition key and the ingest id and path parts of each."""
    frames = []
    for p in partitions:
        parts = p.parts or {"system": "", "day": "", "ingest": ""}
        frames.append(p.rows.select(PARTITION_COLUMNS).with_columns(
            pl.col("nz_date").cast(pl.String), pl.col("occurred_at_utc").cast(pl.String),
            pl.lit(p.key).alias("partition_key"),
            pl.lit(parts["ingest"]).alias("ingest_id"),
            pl.lit(parts["system"]).alias("path_system"),
            pl.lit(parts["day"]).alias("path_day"),
        ))
    if not frames:
        return pl.DataFrame(schema={**{c: pl.String for c in PARTITION_COLUMNS}, "line": pl.Int64,
                                    "partition_key": pl.String, "ingest_id": pl.String,
                                    "path_system": pl.String, "path_day": pl.String})
    return pl.concat(frames, how="vertical_relaxed")


def check_partitions(observed: Observed, rows: pl.DataFrame) -> list[Problem]:
    problems = [Problem("partitions", p.key, "key is not events/system=<s>/nz_date=<d>/<ingest>-<n>.parquet")
                for p in observed.partitions if p.parts is None]
    logs = {str(f["ingest_id"]): f for f in observed.files if f.get("kind", "access-log") == "access-log"}
    per_file = dict(rows.group_by("ingest_id").agg(pl.len()).iter_rows()) if rows.height else {}
    for ingest_id, item in logs.items():
        accepted = int(item.get("accepted") or 0)
        if item.get("status") in ("rejected", "ingesting", "failed") and not per_file.get(ingest_id):
            continue  # nothing accepted, or an unfinished ingest (reported under files)
        if per_file.get(ingest_id, 0) != accepted:
            problems.append(Problem("partitions", str(item["key"]), f"partitions hold {per_file.get(ingest_id, 0)}"
                                                                    f" events where the ledger accepted {accepted}"))
        listed = observed.manifests.get(ingest_id)
        if listed is not None:
            stored = set(rows.filter(pl.col("ingest_id") == ingest_id)["partition_key"].unique().to_list())
            if set(listed) != stored or len(listed) != len(set(listed)):
                problems.append(Problem("partitions", str(item["key"]),
                                        f"manifest lists {len(listed)} partitions, {len(stored)} are stored"))
    for ingest_id in sorted(set(per_file) - set(logs)):
        problems.append(Problem("partitions", ingest_id, f"{per_file[ingest_id]} events in partitions of no ledger file"))
    if not rows.height:
        return problems
    doubled = rows.group_by("ingest_id", "line").agg(pl.len().alias("n"), pl.col("partition_key").first())
    for ingest_id, line, n, key in doubled.filter(pl.col("n") > 1).head(20).iter_rows():
        problems.append(Problem("partitions", key, f"line {line} of file {ingest_id} is stored {n} times"))
    keys = {i: str(f.get("key")) for i, f in logs.items()}
    foreign = rows.filter(pl.col("source_key") != pl.col("ingest_id").replace_strict(keys, default=None))
    for key, n in foreign.group_by("partition_key").agg(pl.len()).sort("partition_key").head(20).iter_rows():
        problems.append(Problem("partitions", key, f"{n} rows come from another file than the one it belongs to"))
    misplaced = rows.filter((pl.col("system") != pl.col("path_system")) | (pl.col("nz_date") != pl.col("path_day")))
    for key, n in misplaced.group_by("partition_key").agg(pl.len()).sort("partition_key").head(20).iter_rows():
        problems.append(Problem("partitions", key, f"{n} rows of another system or New Zealand date than its path"))
    # Ingest quarantines a line that reuses an accepted event_id of the same date with other content
    # (ingest/identity.py); two such events side by side mean that check was bypassed.
    reused = (rows.with_columns(content_digest()).group_by("system", "nz_date", "event_id")
              .agg(pl.col("_digest").n_unique().alias("contents"), pl.col("partition_key").unique().sort())
              .filter(pl.col("contents") > 1).sort("system", "event_id"))
    for system, day, event_id, _n, keys_ in reused.head(20).iter_rows():
        problems.append(Problem("partitions", f"{system}/{event_id}", f"event_id accepted with different content "
                                                                     f"on {day} (in {', '.join(keys_)})"))
    return problems


# ---------------------------------------------------------------------------------- findings
def _conflict_is_real(finding: dict[str, Any], earlier: dict[str, Any] | None) -> bool:
    keys = ("user_id", "client_id", "occurred_at_utc")
    return earlier is not None and any(str(earlier.get(k)) != str(finding.get(k)) for k in keys)


def check_findings(observed: Observed, rows: pl.DataFrame) -> list[Problem]:
    problems = []
    cases = {c["case_id"]: c for c in observed.cases}
    by_id = {str(f.get("finding_id")): f for f in observed.findings}
    for f in observed.findings:
        fid = str(f.get("finding_id"))
        if fid != expected_finding_id(f):
            problems.append(Problem("findings", fid, "id is not derived from (system, event_id, rule)"
                                    + (" and its event's content" if f.get("event_conflict_of") else "")))
        earlier = f.get("event_conflict_of")
        if earlier and not _conflict_is_real(f, by_id.get(str(earlier))):
            problems.append(Problem("findings", fid, f"kept as an event-id conflict with {earlier}, which does not "
                                                     "exist or has the same user, client and time"))
        snapshot = f.get("snapshot_id")
        if not snapshot:
            problems.append(Problem("findings", fid, "names no reference snapshot"))
        elif snapshot not in observed.index_ids:
            problems.append(Problem("findings", fid, f"names reference snapshot {snapshot}, whose index does not exist"))
        case_id = f.get("case_id")
        if case_id:
            case = cases.get(case_id)
            if case is None:
                problems.append(Problem("findings", fid, f"names case {case_id}, which does not exist"))
            elif fid not in case.get("finding_ids", []):
                problems.append(Problem("findings", fid, f"names case {case_id}, which does not list it"))
        tier = finding_tier(f)
        if tier == "immediate" and not case_id:
            problems.append(Problem("findings", fid, "immediate-tier finding in no case"))
        if tier == "record" and case_id:
            problems.append(Problem("findings", fid, f"staging-rule (record-tier) finding in case {case_id}"))
        if f.get("suppressed_by") and case_id:
            problems.append(Problem("findings", fid, f"suppressed by {f['suppressed_by']} yet in case {case_id}"))
    problems.extend(_findings_point_to_events(observed.findings, rows))
    return problems


def finding_tier(finding: dict[str, Any]) -> str:
    if finding.get("rule_status", "live") != "live":
        return "record"
    return str(finding.get("tier") or tier_of(str(finding.get("rule", ""))))


def _findings_point_to_events(findings: list[dict[str, Any]], rows: pl.DataFrame) -> list[Problem]:
    if not findings:
        return []
    names = ("finding_id", "partition_key", "event_id", "user_id", "client_id", "system")
    wanted = pl.DataFrame([{k: str(f.get(k) or "") for k in names} for f in findings],
                          schema={k: pl.String for k in names})
    events = rows.select("partition_key", "event_id", pl.col("user_id").alias("e_user"),
                         pl.col("client_id").alias("e_client"), pl.col("system").alias("e_system"))
    judged = (
        wanted.join(events, on=["partition_key", "event_id"], how="left")
        .with_columns(
            pl.col("e_system").is_not_null().alias("present"),
            ((pl.col("e_user") == pl.col("user_id")) & (pl.col("e_client") == pl.col("client_id"))
             & (pl.col("e_system") == pl.col("system"))).fill_null(False).alias("same"),
        )
        .group_by("finding_id")
        .agg(pl.col("present").any(), pl.col("same").any())
        .sort("finding_id")
    )
    problems = []
    for fid, present, same in judged.iter_rows():
        if not present:
            problems.append(Problem("findings", fid, "its partition holds no event with its event_id"))
        elif not same:
            problems.append(Problem("findings", fid, "its event in the partition has another user, client or system"))
    return problems


def check_export(findings: list[dict[str, Any]], export_lines: list[str]) -> list[Problem]:
    problems = []
    table = {str(f["finding_id"]): f for f in findings}
    exported: Counter[str] = Counter()
    for number, text in enumerate(export_lines, start=1):
        try:
            row = json.loads(text)
        except ValueError:
            problems.append(Problem("export", f"line {number}", "is not valid JSON"))
            continue
        if not isinstance(row, dict) or "finding_id" not in row:
            problems.append(Problem("export", f"line {number}", "is not a finding object"))
            continue
        fid = str(row["finding_id"])
        exported[fid] += 1
        item = table.get(fid)
        if item is None:
            problems.append(Problem("export", fid, "exported but not in the findings table"))
            continue
        differs = [k for k in FINDING_EXPORT_FIELDS if k != "evidence" and row.get(k) != item.get(k)]
        evidence = item.get("evidence")
        if isinstance(evidence, str):
            evidence = json.loads(evidence) if evidence else {}
        if row.get("evidence") != evidence:
            differs.append("evidence")
        if differs:
            problems.append(Problem("export", fid, f"differs from the table in {', '.join(differs)}"))
    for fid in sorted(table):
        if exported[fid] != 1:
            problems.append(Problem("export", fid, f"appears {exported[fid]} times in the export"))
    return problems


# ---------------------------------------------------------------------------------- reference
def check_reference(observed: Observed) -> list[Problem]:
    """Each kind's current snapshot is its newest accepted upload (services/reference.stale_reference)."""
    from accesswatch.services.reference import stale_reference

    return [Problem("reference", subject, detail) for subject, detail in stale_reference(observed.reference,
                                                                                         observed.files)]


# ---------------------------------------------------------------------------------- cases
def check_cases(observed: Observed) -> list[Problem]:
    problems = []
    findings = {str(f["finding_id"]): f for f in observed.findings}
    holder: dict[str, str] = {}
    for case in observed.cases:
        case_id = str(case["case_id"])
        ids = [str(i) for i in case.get("finding_ids", [])]
        if case.get("source", "detection") == "detection" and not ids:
            problems.append(Problem("cases", case_id, "lists no findings"))
        if len(set(ids)) != len(ids):
            problems.append(Problem("cases", case_id, "lists a finding more than once"))
        if case.get("finding_count") is not None and int(case["finding_count"]) != len(ids):
            problems.append(Problem("cases", case_id, f"finding_count {case['finding_count']} but lists {len(ids)}"))
        rules = set()
        for fid in ids:
            finding = findings.get(fid)
            if finding is None:
                problems.append(Problem("cases", case_id, f"lists finding {fid}, which does not exist"))
                continue
            rules.add(finding.get("rule"))
            if finding.get("case_id") != case_id:
                problems.append(Problem("cases", case_id, f"lists finding {fid}, which names case "
                                                          f"{finding.get('case_id')}"))
            if finding.get("user_id") != case.get("user_id"):
                problems.append(Problem("cases", case_id, f"lists finding {fid} of another user"))
            if finding_tier(finding) == "record":
                problems.append(Problem("cases", case_id, f"lists staging-rule finding {fid}"))
            if fid in holder and holder[fid] != case_id:
                problems.append(Problem("cases", case_id, f"shares finding {fid} with case {holder[fid]}"))
            holder[fid] = case_id
        if "rules" in case and ids and set(case["rules"]) != rules:
            problems.append(Problem("cases", case_id, "its rules are not its findings' rules"))
        immediate = any(finding_tier(findings[f]) == "immediate" for f in ids if f in findings)
        if ids and not immediate and len(ids) < 2 and case.get("source", "detection") == "detection":
            problems.append(Problem("cases", case_id, "a case of a lone accumulate-tier finding"))
        problems.extend(check_history(case, observed.histories.get(case_id, [])))
        problems.extend(check_actions(case, observed.histories.get(case_id, [])))
    open_cases: dict[str, list[str]] = defaultdict(list)
    for case in observed.cases:
        if str(case.get("status", "")) in UNDECIDED_STATUSES:
            open_cases[str(case.get("user_id"))].append(str(case["case_id"]))
    for user_id, ids in sorted(open_cases.items()):
        if len(ids) > 1:
            problems.append(Problem("cases", user_id, f"user has {len(ids)} open cases: {', '.join(sorted(ids))}"))
    return problems


# What a decision and an outcome record on the case, and the history entry's name for each (cases/workflow.py).
_ACTIONS = {
    "decided": ("decision_claim_id", {"actor": "decided_by", "decision": "decision", "er_type": "er_type",
                                      "reason": "decision_reason", "note": "decision_note"}),
    "outcome_recorded": ("outcome_claim_id", {"actor": "outcome_by", "outcome": "outcome", "note": "outcome_note"}),
}


def since_reopened(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries from the case's last reopening on (all of them if it was never reopened): a reopened case
    goes through the decision again, and only this round must agree with what the case holds now."""
    last = max((i for i, h in enumerate(history) if h.get("state") == REOPENED), default=0)
    return history[last:]


def _amended(history: list[dict[str, Any]], attr: str) -> Any:
    """The value the last amendment of ``attr`` gave it (cases amend), or None if it was never amended."""
    entries = [h for h in history if h.get("state") == "amended" and h.get("field") == attr]
    return entries[-1].get("to") if entries else None


def check_actions(case: dict[str, Any], history: list[dict[str, Any]]) -> list[Problem]:
    """A person's decision or outcome is recorded once, as that person was told (docs/cases.md, "Two
    people at once"): exactly one history entry (since the case was last reopened), made under the claim the
    case names, saying what the case holds (or what an amendment since made it); no rejection under the same
    claim; and no claim left on a case that waits on nobody."""
    case_id = str(case["case_id"])
    status = str(case.get("status", ""))
    history = since_reopened(history)
    problems = []
    for state, (claim_attr, fields) in _ACTIONS.items():
        if status not in STATUSES or not reached(status, state):
            continue
        entries = [h for h in history if h.get("state") == state]
        if len(entries) != 1:
            problems.append(Problem("cases", case_id, f"{len(entries)} '{state}' entries in its history"))
            continue
        entry, claim = entries[0], case.get(claim_attr)
        if claim is None:
            continue  # recorded before actions were claimed
        if str(entry.get("claim_id") or "") != str(claim):
            problems.append(Problem("cases", case_id, f"its '{state}' entry was made under claim "
                                                      f"{entry.get('claim_id') or 'none'}, the case names {claim}"))
        differs = sorted(k for k, attr in fields.items()
                         if str(_amended(history, attr) or entry.get(k) or "") != str(case.get(attr) or ""))
        if differs:
            problems.append(Problem("cases", case_id, f"its '{state}' entry differs from the case in "
                                                      f"{', '.join(differs)}"))
        rejected = state.replace("decided", "decision").replace("outcome_recorded", "outcome") + "_rejected"
        if any(h.get("state") == rejected and h.get("claim_id") == claim for h in history):
            problems.append(Problem("cases", case_id, f"claim {claim} was both recorded and rejected"))
    if case.get("claim") and status not in WAITING_ON_A_PERSON:
        problems.append(Problem("cases", case_id, f"holds a claim while {status}, waiting on nobody"))
    return problems


def check_history(case: dict[str, Any], history: list[dict[str, Any]]) -> list[Problem]:
    """The history agrees with the state: it records the opening and the current status, and no
    status the case has not passed through (the workflow's statuses form a tree from "opened")."""
    case_id = str(case["case_id"])
    status = str(case.get("status", ""))
    if not history:
        return [Problem("cases", case_id, f"status {status} but no history")]
    problems = []
    if OPENED not in {str(h.get("state", "")) for h in history}:
        problems.append(Problem("cases", case_id, "history does not record its opening"))
    # A reopened case starts its way to a decision again at "reopened": this round is checked.
    states = [str(h.get("state", "")) for h in since_reopened(history) if h.get("state") != REOPENED
              or status == REOPENED]
    if status not in states:
        problems.append(Problem("cases", case_id, f"status {status} is not recorded in its history"))
    if status not in STATUSES:
        problems.append(Problem("cases", case_id, f"unknown status {status}"))
    else:
        beyond = sorted({s for s in states if s in STATUSES and not reached(status, s)})
        if beyond:
            problems.append(Problem("cases", case_id, f"status {status} but its history records "
                                                      f"{', '.join(beyond)}, not on its way there"))
    if status in CLOSED and not case.get("closed_at"):
        problems.append(Problem("cases", case_id, f"status {status} without closed_at"))
    return problems


# ---------------------------------------------------------------------------------- executions
def check_executions(observed: Observed) -> list[Problem]:
    problems = []
    files = {str(f["ingest_id"]): f for f in observed.files}
    for ex in observed.detection_executions:
        name, status = str(ex["name"]), ex["status"]
        if status == "RUNNING":
            problems.append(Problem("executions", name, "detection execution left running"))
        elif status in FAILED_EXECUTION_STATES:
            item = files.get(str(ex.get("ingest_id")))
            if item is None or item.get("status") != "detected":
                problems.append(Problem("executions", name, f"detection execution {status} and not redriven "
                                                            f"(accesswatch redrive)"))
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    cases = {str(c["case_id"]): c for c in observed.cases}
    for ex in observed.case_executions:
        name = str(ex["name"])
        base = name.rsplit("-redrive-", 1)[0]
        owner = next((c for c in (name, base, base.rsplit("-reopen-", 1)[0]) if c in cases), None)
        if owner is None:
            problems.append(Problem("executions", name, "case execution of no case"))
            continue
        by_case[owner].append(ex)
    for case_id, case in cases.items():
        # A reopened case's earlier executions finished when it closed: its current round is the runs of
        # ``<case>-reopen-<n>`` (and their redrives), n its ``reopens``.
        reopens = int(case.get("reopens") or 0)
        runs = sorted((e for e in by_case.get(case_id, []) if _reopen_round(str(e["name"])) == reopens),
                      key=lambda e: str(e.get("startDate", "")))
        status = str(case.get("status", ""))
        if not runs:
            problems.append(Problem("executions", case_id, f"case ({status}) has no workflow execution"))
            continue
        live = [e for e in runs if e["status"] in ("RUNNING", "SUCCEEDED")]
        if len(live) > 1:
            problems.append(Problem("executions", case_id, f"{len(live)} workflow executions for one case"))
        last = runs[-1]["status"]
        if last == "RUNNING" and status not in observed.waiting_statuses:
            problems.append(Problem("executions", case_id, f"case workflow still running at {status}"))
        elif last in FAILED_EXECUTION_STATES:
            problems.append(Problem("executions", case_id, f"case workflow {last} at {status} (dead-letter queue; "
                                                           f"accesswatch redrive)"))
        elif last == "SUCCEEDED" and status not in CLOSED:
            problems.append(Problem("executions", case_id, f"case workflow finished but the case is {status}"))
    return problems


def _reopen_round(name: str) -> int:
    """0 for a case's first execution (and its redrives); n for ``<case>-reopen-<n>`` (and its redrives)."""
    base = name.rsplit("-redrive-", 1)[0]
    number = base.rsplit("-reopen-", 1)[1] if "-reopen-" in base else "0"
    return int(number) if number.isdigit() else 0
