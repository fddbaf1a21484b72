"""A client's footprint on a deployment (a Privacy Act request): every access to one client's record, with
role, team, assignment cover and findings, from the curated partitions or the stack's Athena workgroup, and
written out as formula-safe CSV or JSON Lines."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from accesswatch.reports.safe import safe_cell
from accesswatch_tools.operate.deployment import Deployment, OperationError


def footprint_sources(dep: Deployment, *, engine: str, cache_dir: Path | None = None) -> Any:
    from accesswatch.dal.athena import AthenaQueries
    from accesswatch.dal.ledger import Ledger
    from accesswatch.dal.objects import ObjectStore
    from accesswatch.dal.partitions import PartitionStore
    from accesswatch.dal.reporting import FindingQueries
    from accesswatch.services.footprint import AthenaEvents, EventSource, FootprintSources, PartitionEvents

    dynamodb = dep.resource("dynamodb")
    s3 = dep.client("s3")
    bucket = dep.resource_name("CuratedBucket")
    events: EventSource
    if engine == "athena":
        try:
            queries = AthenaQueries(dep.client("athena"), dep.resource_name("ReportsWorkGroup"),
                                    dep.resource_name("EventsDatabase"))
            table = dep.resource_name("EventsTable")
        except KeyError as exc:
            raise OperationError(f"the deployment has no Athena resources ({exc}); use --engine partitions") from None
        events = AthenaEvents(queries, table)
    else:
        events = PartitionEvents(PartitionStore(s3, bucket, cache_dir=cache_dir))
    return FootprintSources(events, FindingQueries(dep.resource_name("FindingsTable"), dynamodb),
                            Ledger(dep.resource_name("LedgerTable"), dynamodb), ObjectStore(s3), bucket)


def footprint(dep: Deployment, client_id: str, start: date, end: date, *, engine: str = "partitions",
              cache_dir: Path | None = None, systems: Sequence[str] | None = None,
              with_names: bool = False) -> pl.DataFrame:
    from accesswatch.services.footprint import client_footprint

    return client_footprint(footprint_sources(dep, engine=engine, cache_dir=cache_dir), client_id, start, end,
                            systems=systems, with_names=with_names)


def write_footprint(frame: pl.DataFrame, out: Path | None) -> None:
    """CSV (or JSON Lines for .jsonl/.json) with formula-safe text; stdout when ``out`` is None."""
    rows = frame.to_dicts()
    if out is not None and out.suffix.lower() in {".jsonl", ".json"}:
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(frame.columns)
        for r in rows:
            writer.writerow([("yes" if v else "no") if isinstance(v, bool) else safe_cell("" if v is None else v)
                             for v in r.values()])
        text = buffer.getvalue()
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
