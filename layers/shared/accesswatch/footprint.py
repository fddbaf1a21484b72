"""A client's access footprint (a Privacy Act request): every access to their record, explained.

One row per access: when (as the source wrote it, and in New Zealand time), the system and event id,
the user id with their role, team and account type, the action and screen, whether an assignment
covered the access on its New Zealand date (the test detection uses), and the findings it raised
with their cases. Staff names are left out unless asked for.

The events come from the curated partitions: read with polars (``services.footprint`` locally or
wherever the partitions can be listed) or queried with Athena (``footprint_sql``). Both give the
same columns, so ``build_footprint`` serves either.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import polars as pl

from accesswatch.contract import EVENT_SCHEMA
from accesswatch.quarters import NZ_TZ_NAME
from accesswatch.reports.safe import safe_cell

# The event columns a footprint reads (from Parquet or from Athena).
EVENT_COLUMNS: Final = ("system", "event_id", "occurred_at", "occurred_at_utc", "nz_date", "user_id", "client_id",
                        "action", "screen", "site")
FOOTPRINT_COLUMNS: Final = (
    "occurred_at", "occurred_at_nz", "nz_date", "system", "event_id", "user_id", "account_type", "role", "team",
    "action", "screen", "site", "assignment_covered", "findings", "finding_ids", "case_ids",
)
NAME_COLUMNS: Final = ("staff_family_name", "staff_given_names")


def quote_identifier(name: str) -> str:
    """An Athena (Trino) identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """A SQL string literal, as Athena's execution parameters take them."""
    return "'" + value.replace("'", "''") + "'"


def footprint_sql(database: str, table: str, client_id: str, start: date, end: date,
                  systems: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """The Athena query for one client's accesses on NZ dates ``start..end``, and its parameters.

    ``nz_date`` and ``system`` are partition columns (projected), so Athena reads only the days
    asked for. Every value is an execution parameter (``?``), never pasted into the text.
    """
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    columns = ", ".join(
        f"CAST({quote_identifier(c)} AS varchar) AS {quote_identifier(c)}"
        if c in ("nz_date", "occurred_at_utc") else quote_identifier(c)
        for c in EVENT_COLUMNS
    )
    where, parameters = _period_filter(start, end, systems, client_id=client_id)
    sql = (f"SELECT {columns} FROM {quote_identifier(database)}.{quote_identifier(table)} "
           f"WHERE {' AND '.join(where)} ORDER BY occurred_at_utc, system, event_id")
    return sql, parameters


def _period_filter(start: date, end: date, systems: Sequence[str] | None,
                   client_id: str | None = None) -> tuple[list[str], list[str]]:
    """WHERE clauses and their parameters for New Zealand dates start..end, the client if given, and the
    systems if given."""
    where = ["nz_date BETWEEN CAST(? AS date) AND CAST(? AS date)"]
    parameters = [sql_string(start.isoformat()), sql_string(end.isoformat())]
    if client_id is not None:
        where.append("client_id = ?")
        parameters.append(sql_string(client_id))
    if systems:
        where.append("system IN (" + ", ".join("?" for _ in systems) + ")")
        parameters += [sql_string(s) for s in systems]
    return where, parameters


def distinct_users_sql(database: str, table: str, start: date, end: date,
                       systems: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """(user_id, nz_date) pairs for the unique-users table, from Athena."""
    where, parameters = _period_filter(start, end, systems)
    sql = (f"SELECT DISTINCT user_id, CAST(nz_date AS varchar) AS nz_date "
           f"FROM {quote_identifier(database)}.{quote_identifier(table)} WHERE {' AND '.join(where)}")
    return sql, parameters


def typed_events(frame: pl.DataFrame) -> pl.DataFrame:
    """Athena's text columns (or Parquet's typed ones) as the EVENT_SCHEMA types the footprint uses."""
    out = frame
    if out.schema.get("nz_date") == pl.String:
        out = out.with_columns(pl.col("nz_date").str.to_date("%Y-%m-%d"))
    if out.schema.get("occurred_at_utc") == pl.String:
        out = out.with_columns(
            pl.col("occurred_at_utc").str.replace(r" UTC$", "").str.to_datetime(time_zone="UTC", time_unit="us")
        )
    for column in EVENT_COLUMNS:
        if column not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=EVENT_SCHEMA[column]).alias(column))
    return out.select(EVENT_COLUMNS)


def build_footprint(events: pl.DataFrame, *, staff: pl.DataFrame, assignments: pl.DataFrame,
                    findings: Sequence[dict[str, Any]], with_names: bool = False) -> pl.DataFrame:
    """One row per access (``FOOTPRINT_COLUMNS``, plus the staff names if ``with_names``).

    ``staff``: the staff snapshot (strings); ``assignments``: the reference index's assignments
    (user_id, client_id, valid_from, valid_to as dates, null = open); ``findings``: the client's
    findings (system, event_id, rule, finding_id, case_id).
    """
    ev = typed_events(events).unique(subset=["system", "event_id"], keep="first", maintain_order=True)
    ev = ev.with_row_index("_row")
    wanted = ["user_id", "role", "team", "account_type"] + (["family_name", "given_names"] if with_names else [])
    people = staff.select([c for c in wanted if c in staff.columns]).unique(subset=["user_id"], keep="first")
    for column in wanted:
        if column not in people.columns:
            people = people.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    d = pl.col("nz_date")
    covered = (
        ev.select("_row", "user_id", "client_id", "nz_date")
        .join(assignments.select("user_id", "client_id", "valid_from", "valid_to"), on=["user_id", "client_id"])
        .filter((pl.col("valid_from").is_null() | (pl.col("valid_from") <= d))
                & (pl.col("valid_to").is_null() | (d <= pl.col("valid_to"))))
        .select("_row").unique().with_columns(pl.lit(True).alias("assignment_covered"))
    )
    found_schema = {"system": pl.String, "event_id": pl.String, "rule": pl.String, "finding_id": pl.String,
                    "case_id": pl.String}
    found = pl.DataFrame([{k: (None if f.get(k) in (None, "") else str(f.get(k))) for k in found_schema}
                          for f in findings], schema=found_schema)
    per_event = found.sort("rule").group_by(["system", "event_id"]).agg(
        pl.col("rule").str.join(";").alias("findings"),
        pl.col("finding_id").str.join(";").alias("finding_ids"),
        pl.col("case_id").drop_nulls().unique().sort().str.join(";").alias("case_ids"),
    )
    out = (
        ev.join(people, on="user_id", how="left")
        .join(covered, on="_row", how="left")
        .join(per_event, on=["system", "event_id"], how="left")
        .with_columns(
            pl.col("occurred_at_utc").dt.convert_time_zone(NZ_TZ_NAME).dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
            .alias("occurred_at_nz"),
            pl.col("assignment_covered").fill_null(False),
            pl.col("findings").fill_null(""),
            pl.col("finding_ids").fill_null(""),
            pl.col("case_ids").fill_null(""),
        )
        .sort(["occurred_at_utc", "system", "event_id"])
    )
    columns = list(FOOTPRINT_COLUMNS)
    if with_names:
        out = out.rename({"family_name": "staff_family_name", "given_names": "staff_given_names"})
        columns += list(NAME_COLUMNS)
    return out.select(columns)


# --------------------------------------------------------------------------- the client id asked about
@dataclass(frozen=True)
class ClientIdCheck:
    """Whether a client id is in the current clients snapshot, and the known ids it may have meant.

    Ids are text and compared as text: ``10693250`` is not ``010693250``. ``suggestions`` holds ids only
    (never a name or any other personal detail)."""

    client_id: str
    known: bool
    checked: bool  # False when there is no clients snapshot to check against
    suggestions: tuple[str, ...] = ()
    kind: str = "client"  # what the id names: "client", or "user" (checked against the staff snapshot)

    @property
    def snapshot(self) -> str:
        return "staff" if self.kind == "user" else "clients"

    def problem(self) -> str | None:
        """One line saying what is wrong with the id, or None when it is a known client (or user)."""
        if not self.checked:
            return (f"{self.kind} {self.client_id!r} cannot be checked: no {self.snapshot} reference snapshot has "
                    f"been delivered")
        if self.known:
            return None
        text = f"{self.kind} {self.client_id!r} is not in the current {self.snapshot} reference snapshot"
        if self.suggestions:
            text += "; did you mean " + " or ".join(self.suggestions) + "?"
        return text


MAX_SUGGESTIONS: Final = 8


def _one_edit_away(client_id: str, alphabet: str) -> Iterator[str]:
    """Every text one edit away: a character changed, dropped or added, or two neighbours swapped."""
    n = len(client_id)
    for i in range(n):
        yield client_id[:i] + client_id[i + 1:]
        for c in alphabet:
            if c != client_id[i]:
                yield client_id[:i] + c + client_id[i + 1:]
        if i + 1 < n and client_id[i] != client_id[i + 1]:
            yield client_id[:i] + client_id[i + 1] + client_id[i] + client_id[i + 2:]
    for i in range(n + 1):
        for c in alphabet:
            yield client_id[:i] + c + client_id[i:]


def check_user_id(user_id: str, known_ids: Collection[str] | None) -> ClientIdCheck:
    """``check_client_id`` for a staff user id, against the staff snapshot's user ids."""
    checked = check_client_id(user_id, known_ids)
    return ClientIdCheck(checked.client_id, checked.known, checked.checked, checked.suggestions, kind="user")


def check_client_id(client_id: str, known_ids: Collection[str] | None) -> ClientIdCheck:
    """Check ``client_id`` against the known ids (None: no snapshot) and suggest near misses.

    Near misses, in this order: the id without surrounding blanks; the id with the leading zeros a
    spreadsheet drops restored, to the length of the known ids that are all digits; and, if still none,
    the known ids one edit away (one character changed, dropped or added, or two neighbours swapped)."""
    if known_ids is None:
        return ClientIdCheck(client_id, known=False, checked=False)
    known = known_ids if isinstance(known_ids, (set, frozenset)) else set(known_ids)
    if client_id in known:
        return ClientIdCheck(client_id, known=True, checked=True)
    found: list[str] = []

    def add(candidate: str) -> None:
        if candidate != client_id and candidate in known and candidate not in found:
            found.append(candidate)

    stripped = client_id.strip()
    add(stripped)
    if stripped.isdigit():
        lengths = sorted({len(k) for k in known if k.isdigit() and len(k) > len(stripped)})
        for length in lengths:
            add(stripped.zfill(length))
    if not found and stripped and len(stripped) <= 64:
        alphabet = "".join(sorted({c for k in _sample(known) for c in k} | set(stripped)))
        if len(alphabet) <= 64:
            for candidate in sorted(set(_one_edit_away(stripped, alphabet))):
                add(candidate)
    return ClientIdCheck(client_id, known=False, checked=True, suggestions=tuple(found[:MAX_SUGGESTIONS]))


def _sample(known: Collection[str], size: int = 2000) -> list[str]:
    """Enough known ids to learn the characters ids are made of."""
    out = []
    for n, k in enumerate(known):
        if n >= size:
            break
        out.append(k)
    return out


# --------------------------------------------------------------------------- what the logs cover
GAPS_SHOWN: Final = 6  # gaps named in the text (the JSON carries every one)


@dataclass(frozen=True)
class Gap:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def text(self) -> str:
        if self.start == self.end:
            return f"{self.start} (1 day)"
        return f"{self.start} to {self.end} ({self.days} days)"


@dataclass(frozen=True)
class SystemCoverage:
    """One system's logs: the first and last NZ date with any logs at all, and within the period asked
    for how many days have logs and which days have none (``gaps``, as runs of days)."""

    system: str
    logs_from: date | None
    logs_to: date | None
    days_in_period: int
    days_with_logs: int
    gaps: tuple[Gap, ...]

    def text(self) -> str:
        if self.logs_from is None or self.logs_to is None:
            return f"{self.system}: no logs held at all"
        line = (f"{self.system}: logs held from {self.logs_from} to {self.logs_to}; "
                f"{self.days_with_logs} of the {self.days_in_period} day(s) asked for have logs")
        if self.gaps:
            shown = [g.text() for g in self.gaps[:GAPS_SHOWN]]
            if len(self.gaps) > GAPS_SHOWN:
                rest = self.gaps[GAPS_SHOWN:]
                shown.append(f"and {len(rest)} more gap(s) of {sum(g.days for g in rest)} day(s) in all")
            line += "; no logs " + ", ".join(shown)
        return line

    def as_json(self) -> dict[str, Any]:
        return {"system": self.system,
                "logs_from": self.logs_from.isoformat() if self.logs_from else None,
                "logs_to": self.logs_to.isoformat() if self.logs_to else None,
                "days_in_period": self.days_in_period, "days_with_logs": self.days_with_logs,
                "gaps": [{"from": g.start.isoformat(), "to": g.end.isoformat(), "days": g.days} for g in self.gaps]}


def _runs(days: Sequence[date]) -> list[Gap]:
    runs: list[Gap] = []
    for day in sorted(days):
        if runs and (day - runs[-1].end).days == 1:
            runs[-1] = Gap(runs[-1].start, day)
        else:
            runs.append(Gap(day, day))
    return runs


def log_coverage(days_by_system: Mapping[str, Collection[date]], start: date, end: date,
                 systems: Sequence[str] = ()) -> list[SystemCoverage]:
    """The coverage of each system (those with logs, and ``systems`` even without) over NZ dates start..end."""
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    asked = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    out = []
    for system in sorted(set(days_by_system) | set(systems)):
        held = set(days_by_system.get(system, ()))
        missing = [d for d in asked if d not in held]
        out.append(SystemCoverage(system, min(held) if held else None, max(held) if held else None,
                                  len(asked), len(asked) - len(missing), tuple(_runs(missing))))
    return out


@dataclass(frozen=True)
class FootprintMeta:
    """What a footprint answers and what it can answer from: carried by every output of it."""

    client: ClientIdCheck
    start: date
    end: date
    coverage: tuple[SystemCoverage, ...]
    notes: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The coverage statement, one line each (for people)."""
        out = [f"period asked for: {self.start} to {self.end} (New Zealand dates)", *self.notes]
        out += [c.text() for c in self.coverage]
        if not self.coverage:
            out.append("no logs of any system are held")
        problem = self.client.problem()
        if problem:
            out.append(f"WARNING: {problem}")
        return out

    def as_json(self) -> dict[str, Any]:
        return {"client_id": self.client.client_id, "client_known": self.client.known,
                "client_checked": self.client.checked, "suggestions": list(self.client.suggestions),
                "period": {"from": self.start.isoformat(), "to": self.end.isoformat(), "dates": "New Zealand"},
                "coverage": [c.as_json() for c in self.coverage], "notes": list(self.notes)}


# --------------------------------------------------------------------------- the client-safe footprint
CLIENT_SAFE_COLUMNS: Final = ("date", "time", "time_zone", "system", "staff_role", "staff_team", "what_happened")
ACTION_WORDS: Final = {"view": "Viewed {}", "search": "Found {} in a search", "update": "Changed {}",
                       "print": "Printed {}", "export": "Copied {} out of the system (an export)"}
SCREEN_WORDS: Final = {
    "summary": "your record's summary", "notes": "the notes on your record", "payments": "your payments",
    "relationships": "your relationships and household", "address": "your address",
    "contact": "your contact details", "date_of_birth": "your date of birth", "ird_number": "your IRD number",
    "documents": "your documents", "case_history": "your case history", "search_results": "your record",
}
SYSTEM_WORDS: Final = {"cms": "case management system", "payment": "payment system", "payments": "payment system"}


def what_happened(action: str | None, screen: str | None) -> str:
    """An access in plain words: ``Printed your IRD number``."""
    key = (action or "").strip().lower()
    template = ACTION_WORDS.get(key) or ((key.replace("_", " ").capitalize() + ": {}") if key else "Opened {}")
    screen_key = (screen or "").strip().lower()
    if key == "search":
        return template.format("your record")
    thing = SCREEN_WORDS.get(screen_key) or (f"your record ({screen_key.replace('_', ' ')})" if screen_key
                                            else "your record")
    return template.format(thing)


def client_safe_footprint(frame: pl.DataFrame, *, with_names: bool = False) -> pl.DataFrame:
    """The footprint a client may be given: when (NZ time, zone named), which system, who by role and team
    (staff names only if ``with_names`` and the frame has them), and what was done in plain words.

    No finding, case, event or user id, no rule and no assignment judgement: only the columns built here
    are kept."""
    columns = list(CLIENT_SAFE_COLUMNS)
    named = with_names and {"staff_family_name", "staff_given_names"} <= set(frame.columns)
    if named:
        columns.insert(columns.index("staff_team") + 1, "staff_name")
    if not frame.height:
        return pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    nz = pl.col("_nz")
    service = pl.col("account_type").fill_null("").str.strip_chars().str.to_lowercase() == "service"
    out = frame.with_columns(
        pl.col("occurred_at_nz").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_zone="UTC", time_unit="us")
        .dt.convert_time_zone(NZ_TZ_NAME).alias("_nz"),
    ).with_columns(
        nz.dt.strftime("%Y-%m-%d").alias("date"),
        nz.dt.strftime("%H:%M").alias("time"),
        nz.dt.strftime("%Z").map_elements(_zone_words, return_dtype=pl.String).alias("time_zone"),
        pl.col("system").map_elements(lambda s: SYSTEM_WORDS.get(s, s), return_dtype=pl.String).alias("system"),
        pl.when(service).then(pl.lit("Automated process (no person)"))
        .otherwise(pl.col("role").fill_null("Staff member (role not recorded)")).alias("staff_role"),
        pl.col("team").fill_null("").alias("staff_team"),
        pl.struct("action", "screen").map_elements(lambda r: what_happened(r["action"], r["screen"]),
                                                   return_dtype=pl.String).alias("what_happened"),
    )
    if named:
        out = out.with_columns(
            pl.when(service).then(pl.lit(""))
            .otherwise(pl.concat_str([pl.col("staff_given_names").fill_null(""),
                                      pl.col("staff_family_name").fill_null("")], separator=" ").str.strip_chars())
            .alias("staff_name"))
    return out.select(columns)


def _zone_words(abbreviation: str) -> str:
    return {"NZDT": "NZDT (New Zealand daylight time)",
            "NZST": "NZST (New Zealand standard time)"}.get(abbreviation, f"{abbreviation} ({NZ_TZ_NAME})")


# --------------------------------------------------------------------------- a footprint answered, written out
@dataclass(frozen=True)
class FootprintAnswer:
    """A footprint and what it covers."""

    frame: pl.DataFrame
    meta: FootprintMeta

    @property
    def users(self) -> int:
        return int(self.frame["user_id"].n_unique()) if self.frame.height else 0

    @property
    def flagged(self) -> int:
        return self.frame.filter(pl.col("findings") != "").height if self.frame.height else 0


def footprint_csv(frame: pl.DataFrame, preamble: Sequence[str] = ()) -> str:
    """Formula-safe CSV (``safe_cell``) after ``#`` lines (one cell each: their commas become semicolons, so
    that a spreadsheet shows each line whole and a reader with ``comment_prefix="#"`` skips them)."""
    buffer = io.StringIO()
    for line in preamble:
        buffer.write("# " + " ".join(line.replace(",", ";").split()) + "\n")
    _write_row(buffer, frame.columns)
    for r in frame.to_dicts():
        _write_row(buffer, [("yes" if v else "no") if isinstance(v, bool) else safe_cell("" if v is None else v)
                            for v in r.values()])
    return buffer.getvalue()


def _write_row(buffer: io.StringIO, values: Sequence[Any]) -> None:
    """One CSV row ending in a newline, with every field holding a carriage return or a newline quoted: the
    csv module quotes only the characters of its line terminator, so a row is written with ``\\r\\n`` and
    its terminator then made ``\\n``."""
    row = io.StringIO()
    csv.writer(row, lineterminator="\r\n").writerow(values)
    buffer.write(row.getvalue()[:-2] + "\n")


def internal_csv(answer: FootprintAnswer) -> str:
    """The internal footprint as CSV, headed by ``#`` lines stating the client, the period and the coverage."""
    return footprint_csv(answer.frame, [f"accesswatch footprint of client {answer.meta.client.client_id}",
                                        *answer.meta.lines()])


def client_safe_csv(answer: FootprintAnswer, *, with_names: bool = False) -> str:
    """The client-safe footprint as CSV, headed by ``client_statement`` as ``#`` lines."""
    safe = client_safe_footprint(answer.frame, with_names=with_names)
    return footprint_csv(safe, client_statement(answer.meta, safe.height))


def _long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def client_statement(meta: FootprintMeta, accesses: int) -> list[str]:
    """What the client-safe footprint covers, in plain words (no internal ids)."""
    lines = [f"Accesses to the record of client {meta.client.client_id} from {_long_date(meta.start)} to "
             f"{_long_date(meta.end)} (New Zealand dates): {accesses}."]
    for c in meta.coverage:
        name = SYSTEM_WORDS.get(c.system, c.system)
        if c.logs_from is None or c.logs_to is None:
            lines.append(f"We hold no records of access to the {name} ({c.system}): it is not covered.")
            continue
        line = (f"Our records of access to the {name} ({c.system}) run from {_long_date(c.logs_from)} to "
                f"{_long_date(c.logs_to)}.")
        if c.gaps:
            line += (" We hold no records of it for " + "; ".join(
                _long_date(g.start) if g.start == g.end else f"{_long_date(g.start)} to {_long_date(g.end)}"
                for g in c.gaps) + ". Accesses on those days cannot be listed.")
        lines.append(line)
    if not meta.client.known:
        lines.append(f"Note: {meta.client.client_id} is not a client number in our current records.")
    return lines


CLIENT_SAFE_LABELS: Final = {"date": "Date", "time": "Time", "time_zone": "Time zone", "system": "System",
                             "staff_role": "Staff role", "staff_team": "Team", "staff_name": "Staff member",
                             "what_happened": "What was done"}


def client_safe_html(safe: pl.DataFrame, meta: FootprintMeta, statement: Sequence[str]) -> str:
    """A self-contained, printable HTML page (every value escaped, no scripts, no external resources)."""
    e = html.escape
    head = "".join(f"<th>{e(CLIENT_SAFE_LABELS.get(c, c))}</th>" for c in safe.columns)
    body = "".join("<tr>" + "".join(f"<td>{e('' if v is None else str(v))}</td>" for v in row) + "</tr>\n"
                   for row in safe.iter_rows())
    if not safe.height:
        body = f'<tr><td colspan="{len(safe.columns)}">No accesses were recorded in this period.</td></tr>\n'
    paragraphs = "".join(f"<p>{e(line)}</p>\n" for line in statement)
    title = f"Who accessed your record: client {meta.client.client_id}"
    return ("<!DOCTYPE html>\n<html lang=\"en-NZ\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title>\n<style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse;width:100%}th,td{border:1px solid #888;padding:4px 6px;"
            "text-align:left;font-size:10pt}th{background:#eee}tr{page-break-inside:avoid}"
            "@media print{body{margin:0}}</style></head>\n<body>\n"
            f"<h1>{e(title)}</h1>\n{paragraphs}<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}"
            "</tbody></table>\n<p>Times are New Zealand time (Pacific/Auckland). Staff are shown by role and "
            "team.</p>\n</body></html>\n")
