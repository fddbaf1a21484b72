"""Running a query in the stack's Athena workgroup and reading its result as a polars frame.

The workgroup (template.yaml ``ReportsWorkGroup``) fixes where results go (encrypted, in the
curated bucket); queries name the Glue database and table of curated events (``EventsDatabase``,
``EventsTable``). The query text comes from ``accesswatch.footprint`` builders, with every value
passed as an execution parameter, never pasted into the SQL. Moto does not run Athena, so this
path runs only against a deployed stack (docs/reports.md).
"""

from __future__ import annotations

import time
from typing import Any

import polars as pl


class AthenaQueryFailed(RuntimeError):
    """The query ended FAILED or CANCELLED (the message carries Athena's reason, never data)."""


class AthenaQueries:
    def __init__(self, client: Any, workgroup: str, database: str, *, poll_s: float = 0.5,
                 timeout_s: float = 300.0) -> None:
        self.athena = client
        self.workgroup = workgroup
        self.database = database
        self.poll_s = poll_s
        self.timeout_s = timeout_s

    def run(self, sql: str, parameters: list[str]) -> pl.DataFrame:
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "WorkGroup": self.workgroup,
            "QueryExecutionContext": {"Database": self.database},
        }
        if parameters:
            kwargs["ExecutionParameters"] = parameters
        query_id = self.athena.start_query_execution(**kwargs)["QueryExecutionId"]
        deadline = time.monotonic() + self.timeout_s
        while True:
            status = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                break
            if state in {"FAILED", "CANCELLED"}:
                raise AthenaQueryFailed(f"Athena query {query_id} {state}: {status.get('StateChangeReason', '')}")
            if time.monotonic() > deadline:
                self.athena.stop_query_execution(QueryExecutionId=query_id)
                raise AthenaQueryFailed(f"Athena query {query_id} still {state} after {self.timeout_s:.0f}s")
            time.sleep(self.poll_s)
        return self._results(query_id)

    def _results(self, query_id: str) -> pl.DataFrame:
        header: list[str] | None = None
        rows: list[list[str | None]] = []
        for page in self.athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            for row in page["ResultSet"]["Rows"]:
                values = [d.get("VarCharValue") for d in row["Data"]]
                if header is None:
                    header = [str(v) for v in values]
                    continue
                rows.append(values)
        if header is None:
            return pl.DataFrame()
        return pl.DataFrame(rows, schema={h: pl.String for h in header}, orient="row")
