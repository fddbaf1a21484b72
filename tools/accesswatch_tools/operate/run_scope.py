"""What one ``accesswatch run`` did, worked out from links the system records (pure: no AWS here).

The local endpoint, like a deployed stack, keeps everything earlier runs stored, so a run's outputs are chosen,
not the whole tables:

- **The run's files**: every file it uploaded, and every access-log file that waited for reference data before
  the run and that the run's reference uploads released (``origin`` ``uploaded`` or ``released``). A file the
  ingest ledger already held before the run (an identical re-upload: ingestion is idempotent on bucket, key and
  ETag) is ``seen_before``.
- **The run's findings**: the findings of the events in its files' curated partitions (the ledger names each
  file's manifest, the manifest its partitions). A finding is tied to an event by the event's identity
  (system, event id, user, client and instant), the same content its id derives from, so a finding raised
  before by another file holding the same event is found too.
- **New or already known**: detection writes a finding once and records the partition it judged
  (``partition_key``). A finding is new to the run when that partition is one of a file the run judged for
  the first time (uploaded and not seen before, or released); any other finding of the run's events existed
  before the run (``already_known``).
- **The run's cases**: the cases its findings are in. ``opened`` when the case's opening findings (its first
  history entry) include a finding new to the run, ``joined`` when new findings of the run joined an older
  case, ``already_held`` when the case held the run's findings before the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from accesswatch_tools.operate.export import export_case, export_finding, file_summary, finding_route

# The columns that tie a finding to the event it judged (a finding item holds the same attributes).
EVENT_IDENTITY = ("system", "event_id", "user_id", "client_id", "occurred_at_utc")
PARTITION_COLUMNS = ("event_id", "user_id", "client_id", "occurred_at_utc")
_INSTANT = pl.Datetime("us", "UTC")

UPLOADED = "uploaded"
RELEASED = "released"
CASE_OPENED = "opened"
CASE_JOINED = "joined"
CASE_ALREADY_HELD = "already_held"
CASE_ROLES = (CASE_OPENED, CASE_JOINED, CASE_ALREADY_HELD)
# A file's ledger states in which all of its events had been judged (or there was nothing to judge).
FINISHED_FILE_STATES = frozenset({"detected", "ingested", "rejected"})


@dataclass(frozen=True)
class RunFile:
    """One file of the run: ``file_id`` is the ledger's id for it (an access log's ingest id, a reference
    upload's put id); ``status_before`` its ledger status before the run (None: not in the ledger)."""

    file_id: str
    key: str
    origin: str  # UPLOADED or RELEASED
    status_before: str | None = None

    @property
    def seen_before(self) -> bool:
        return self.status_before is not None

    @property
    def judged_by_run(self) -> bool:
        """Whether the run judged this file's events for the first time: new findings can come only from
        such a file's partitions (a file finished before the run raises no new finding)."""
        return self.status_before not in FINISHED_FILE_STATES


def partition_events(frame: pl.DataFrame, *, system: str, source_key: str) -> pl.DataFrame:
    """A curated partition's events (``PARTITION_COLUMNS``) with their system and the run's file holding them
    (``source_key``), in the types a finding's identity is compared in."""
    return frame.select(
        pl.lit(system, pl.String).alias("system"),
        pl.col("event_id").cast(pl.String),
        pl.col("user_id").cast(pl.String),
        pl.col("client_id").cast(pl.String),
        pl.col("occurred_at_utc").cast(_INSTANT),
        pl.lit(source_key, pl.String).alias("source_key"),
    )


@dataclass(frozen=True)
class RunEvents:
    """The run's events, kept small (a few bytes an event, whatever the run's size): ``keys`` holds a 64-bit
    hash of each event's identity (``EVENT_IDENTITY``) and the index in ``sources`` of the run's file holding
    it; ``spans`` each user's first and last instant. A finding matches an event when the hash of its own
    identity is among ``keys`` (a false match needs a 64-bit collision between a foreign finding and one of
    the run's events)."""

    keys: pl.DataFrame  # _identity (UInt64), _source (UInt32)
    spans: pl.DataFrame  # user_id, first, last
    sources: tuple[str, ...]


def _identity() -> pl.Expr:
    return pl.struct(list(EVENT_IDENTITY)).hash(seed=0).alias("_identity")


def combine_events(frames: Iterable[pl.DataFrame]) -> RunEvents:
    """The run's events from its partitions (``partition_events``), each frame reduced as it arrives."""
    sources: dict[str, int] = {}
    keys: list[pl.DataFrame] = []
    spans: list[pl.DataFrame] = []
    for frame in frames:
        if frame.is_empty():
            continue
        for key in frame["source_key"].unique().to_list():
            sources.setdefault(str(key), len(sources))
        keys.append(frame.select(_identity(), pl.col("source_key").replace_strict(sources, return_dtype=pl.UInt32)
                                 .alias("_source")))
        spans.append(frame.group_by("user_id").agg(pl.col("occurred_at_utc").min().alias("first"),
                                                   pl.col("occurred_at_utc").max().alias("last")))
    if not keys:
        return RunEvents(pl.DataFrame(schema={"_identity": pl.UInt64, "_source": pl.UInt32}),
                         pl.DataFrame(schema={"user_id": pl.String, "first": _INSTANT, "last": _INSTANT}), ())
    merged_spans = pl.concat(spans).group_by("user_id").agg(pl.col("first").min(), pl.col("last").max())
    return RunEvents(pl.concat(keys).unique(), merged_spans, tuple(sources))


def user_windows(events: RunEvents) -> dict[str, tuple[str, str]]:
    """For each user of ``events``: the range of ``occurred_at_utc`` texts that holds every stored finding of
    their events in the run (findings store the instant as ``datetime.isoformat()``: ``...+00:00``, with or
    without microseconds). The bounds are seconds-wide on purpose: any form of the first and last instant sorts
    within them."""
    return {str(row["user_id"]): (row["first"].strftime("%Y-%m-%dT%H:%M:%S"),
                                  row["last"].strftime("%Y-%m-%dT%H:%M:%S") + "~")
            for row in events.spans.iter_rows(named=True)}


def _instant(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def match_findings(findings: Sequence[Mapping[str, Any]], events: RunEvents) -> dict[str, list[str]]:
    """The findings among ``findings`` that judged one of ``events``: finding id -> the run's files (keys)
    holding that event, sorted."""
    if not findings or events.keys.is_empty():
        return {}
    candidates = pl.DataFrame(
        {"finding_id": [str(f["finding_id"]) for f in findings],
         "system": [str(f.get("system") or "") for f in findings],
         "event_id": [str(f.get("event_id") or "") for f in findings],
         "user_id": [str(f.get("user_id") or "") for f in findings],
         "client_id": [str(f.get("client_id") or "") for f in findings],
         "occurred_at_utc": [_instant(f.get("occurred_at_utc")) for f in findings]},
        schema={"finding_id": pl.String, "system": pl.String, "event_id": pl.String, "user_id": pl.String,
                "client_id": pl.String, "occurred_at_utc": _INSTANT},
    )
    joined = candidates.select("finding_id", _identity()).join(events.keys, on="_identity", how="inner")
    found: dict[str, list[str]] = {}
    for finding_id, source in joined.select("finding_id", "_source").iter_rows():
        found.setdefault(str(finding_id), []).append(events.sources[int(source)])
    return {f: sorted(set(keys)) for f, keys in found.items()}


def new_finding_ids(findings: Iterable[Mapping[str, Any]], judged_partitions: Collection[str]) -> set[str]:
    """The findings written by the run's own detection: those whose recorded partition is one the run judged
    for the first time."""
    return {str(f["finding_id"]) for f in findings if f.get("partition_key") in judged_partitions}


def finding_line(item: Mapping[str, Any], *, already_known: bool, source_keys: Sequence[str]) -> dict[str, Any]:
    """A line of the run's ``findings.jsonl``: the export line (``export_finding``), then whether the finding
    existed before the run and which of the run's files hold its event."""
    return {**export_finding(dict(item)), "already_known": already_known, "source_keys": list(source_keys)}


def case_role(case_finding_ids: Collection[str], new_ids: Collection[str], opening_ids: Collection[str]) -> str:
    """What the run did to a case holding some of its findings (``CASE_ROLES``)."""
    if not any(f in new_ids for f in case_finding_ids):
        return CASE_ALREADY_HELD
    return CASE_OPENED if any(f in new_ids for f in opening_ids) else CASE_JOINED


def case_line(case: Mapping[str, Any], *, role: str, run_finding_ids: Collection[str]) -> dict[str, Any]:
    """A line of the run's ``cases.jsonl``: the export line (``export_case``), then what the run did to the
    case and which of its findings are the run's."""
    return {**export_case(dict(case)), "run_role": role,
            "run_finding_ids": sorted(f for f in (case.get("finding_ids") or []) if f in run_finding_ids)}


def summarise_run(files: Sequence[tuple[RunFile, Mapping[str, Any] | None]], findings: Sequence[Mapping[str, Any]],
                  finding_lines: Sequence[Mapping[str, Any]], cases: Sequence[Mapping[str, Any]],
                  case_lines: Sequence[Mapping[str, Any]], executions: Mapping[str, Counter[str]],
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``summary.json`` of a run: its files (each with its ledger row, ``origin`` and ``seen_before``), what
    its findings and cases were, all counted over this run only (``scope``)."""
    rows = []
    for run_file, item in files:
        row = file_summary(dict(item)) if item else {  # no ledger item: its function failed before writing one
            "key": run_file.key, "kind": "reference" if run_file.key.startswith("reference/") else "access-log",
            "status": "not recorded", "lines_read": 0, "accepted": 0, "quarantined": 0}
        rows.append({**row, "origin": run_file.origin, "seen_before": run_file.seen_before})
    rows.sort(key=lambda r: (r["kind"], r["key"]))
    logs = [r for r in rows if r["kind"] == "access-log"]
    known = sum(1 for f in finding_lines if f.get("already_known"))
    roles = Counter(str(c.get("run_role")) for c in case_lines)
    return {
        "scope": "this run: the files it uploaded (and any its reference data released), the findings of their "
                 "events, the cases those findings are in; `accesswatch export` gives everything the system holds",
        "files": rows,
        "totals": {
            "files": len(logs),
            "files_seen_before": sum(1 for r in logs if r["seen_before"]),
            "files_released": sum(1 for r in logs if r["origin"] == RELEASED),
            "lines_read": sum(r["lines_read"] for r in logs),
            "accepted": sum(r["accepted"] for r in logs),
            "quarantined": sum(r["quarantined"] for r in logs),
            "rejected_files": sum(1 for r in rows if r["status"] == "rejected"),
            "findings": len(finding_lines),
            "new_findings": len(finding_lines) - known,
            "already_known_findings": known,
            "cases": len(case_lines),
            "cases_opened": roles[CASE_OPENED],
            "cases_joined": roles[CASE_JOINED],
            "cases_already_held": roles[CASE_ALREADY_HELD],
        },
        "findings_by_rule": dict(sorted(Counter(str(f["rule"]) for f in findings).items())),
        "findings_by_route": dict(sorted(Counter(finding_route(dict(f)) for f in findings).items())),
        "cases_by_status": dict(sorted(Counter(str(c.get("status", "")) for c in cases).items())),
        "cases_by_trigger": dict(sorted(Counter(str(c.get("trigger") or "") for c in cases).items())),
        "executions": {name: dict(sorted(c.items())) for name, c in executions.items()},
        **(extra or {}),
    }
