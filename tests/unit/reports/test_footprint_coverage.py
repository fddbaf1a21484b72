"""Footprints that state what they cover: the client id check, the coverage of each system's logs, the
client-safe form and the outputs that carry the coverage."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from accesswatch.footprint import (
    FOOTPRINT_COLUMNS,
    ClientIdCheck,
    FootprintMeta,
    Gap,
    check_client_id,
    client_safe_footprint,
    log_coverage,
    what_happened,
)
from accesswatch_tools.operate.footprint import (
    FootprintAnswer,
    client_safe_html,
    write_client_safe,
    write_footprint,
)

KNOWN = {"010693250", "046408704", "100000000", "010693251", "A-7"}


def test_a_known_id_is_known_and_ids_are_compared_as_text() -> None:
    assert check_client_id("010693250", KNOWN) == ClientIdCheck("010693250", known=True, checked=True)
    lost = check_client_id("10693250", KNOWN)  # the leading zero a spreadsheet drops
    assert not lost.known and lost.checked
    assert lost.suggestions[0] == "010693250"
    assert lost.problem() == ("client '10693250' is not in the current clients reference snapshot; "
                              "did you mean 010693250?")
    assert check_client_id(" 046408704 ", KNOWN).suggestions == ("046408704",)
    assert check_client_id("46408704", KNOWN).suggestions == ("046408704",)


def test_near_misses_are_ids_one_edit_away_and_nothing_else() -> None:
    assert set(check_client_id("010693259", KNOWN).suggestions) == {"010693250", "010693251"}  # a digit changed
    assert check_client_id("001693250", KNOWN).suggestions == ("010693250",)  # two neighbours swapped
    assert check_client_id("0106932500", KNOWN).suggestions == ("010693250",)  # one added
    assert check_client_id("999999999", KNOWN).suggestions == ()
    assert check_client_id("999999999", KNOWN).problem() == (
        "client '999999999' is not in the current clients reference snapshot")
    assert check_client_id("A-8", KNOWN).suggestions == ("A-7",)


def test_without_a_clients_snapshot_the_id_cannot_be_checked() -> None:
    check = check_client_id("010693250", None)
    assert not check.checked and not check.known
    assert check.problem() == "client '010693250' cannot be checked: no clients reference snapshot has been delivered"


def test_coverage_names_each_systems_days_and_the_gaps_in_the_period() -> None:
    held = {"cms": {date(2025, 3, 30), date(2025, 3, 31), date(2025, 4, 2), date(2025, 4, 3), date(2025, 5, 1)}}
    cms, payment = log_coverage(held, date(2025, 3, 31), date(2025, 4, 5), ["payment"])
    assert (cms.logs_from, cms.logs_to) == (date(2025, 3, 30), date(2025, 5, 1))  # held, inside the period or not
    assert (cms.days_in_period, cms.days_with_logs) == (6, 3)
    assert cms.gaps == (Gap(date(2025, 4, 1), date(2025, 4, 1)), Gap(date(2025, 4, 4), date(2025, 4, 5)))
    assert cms.text() == ("cms: logs held from 2025-03-30 to 2025-05-01; 3 of the 6 day(s) asked for have logs; "
                          "no logs 2025-04-01 (1 day), 2025-04-04 to 2025-04-05 (2 days)")
    assert payment.text() == "payment: no logs held at all"
    assert payment.as_json()["gaps"] == [{"from": "2025-03-31", "to": "2025-04-05", "days": 6}]
    with pytest.raises(ValueError):
        log_coverage(held, date(2025, 4, 5), date(2025, 4, 1))
    sparse = {"cms": {date(2025, 1, n) for n in range(1, 31, 2)}}
    (line,) = log_coverage(sparse, date(2025, 1, 1), date(2025, 1, 29))
    assert len(line.gaps) == 14 and line.text().endswith("and 8 more gap(s) of 8 day(s) in all")


def meta(client: ClientIdCheck | None = None) -> FootprintMeta:
    coverage = log_coverage({"cms": {date(2025, 4, 1), date(2025, 4, 3)}}, date(2025, 4, 1), date(2025, 4, 3))
    return FootprintMeta(client or ClientIdCheck("046408704", True, True), date(2025, 4, 1), date(2025, 4, 3),
                         tuple(coverage))


def footprint_rows() -> pl.DataFrame:
    rows = [
        {"occurred_at": "2025-04-01T10:22:20+13:00", "occurred_at_nz": "2025-04-01T10:22:20+13:00",
         "nz_date": date(2025, 4, 1), "system": "cms", "event_id": "cms-1", "user_id": "u412360",
         "account_type": "person", "role": "Team Leader", "team": "Case Management", "action": "print",
         "screen": "ird_number", "site": "Napier", "assignment_covered": False,
         "findings": "SELF_RECORD;SENSITIVE_LOOKUP", "finding_ids": "be680641f7e70eadfce945ba87816d8e;x2",
         "case_ids": "CASE-A5ECF88CAB97D51E"},
        {"occurred_at": "2025-05-20T23:00:00Z", "occurred_at_nz": "2025-05-21T11:00:00+12:00",
         "nz_date": date(2025, 5, 21), "system": "payment", "event_id": "p-1", "user_id": "svc.batch",
         "account_type": "service", "role": None, "team": "Batch", "action": "export", "screen": None,
         "site": None, "assignment_covered": False, "findings": "", "finding_ids": "", "case_ids": ""},
        {"occurred_at": "2025-04-03T09:00:00+13:00", "occurred_at_nz": "2025-04-03T09:00:00+13:00",
         "nz_date": date(2025, 4, 3), "system": "cms", "event_id": "cms-2", "user_id": "u.gone",
         "account_type": None, "role": None, "team": None, "action": "view", "screen": "=cmd|' /C calc'!A0",
         "site": None, "assignment_covered": True, "findings": "", "finding_ids": "", "case_ids": ""},
    ]
    return pl.DataFrame(rows).select(FOOTPRINT_COLUMNS)


def test_the_client_safe_footprint_says_when_who_and_what_in_plain_words_and_no_ids() -> None:
    safe = client_safe_footprint(footprint_rows())
    assert safe.columns == ["date", "time", "time_zone", "system", "staff_role", "staff_team", "what_happened"]
    first, service, unknown = safe.to_dicts()
    assert first == {"date": "2025-04-01", "time": "10:22", "time_zone": "NZDT (New Zealand daylight time)",
                     "system": "case management system", "staff_role": "Team Leader",
                     "staff_team": "Case Management", "what_happened": "Printed your IRD number"}
    assert service["time_zone"] == "NZST (New Zealand standard time)" and service["time"] == "11:00"
    assert service["staff_role"] == "Automated process (no person)"
    assert service["what_happened"] == "Copied your record out of the system (an export)"
    assert unknown["staff_role"] == "Staff member (role not recorded)" and unknown["staff_team"] == ""
    text = json.dumps(safe.to_dicts())
    for internal in ("u412360", "svc.batch", "cms-1", "CASE-", "be680641", "SELF_RECORD", "Napier"):
        assert internal not in text
    empty = client_safe_footprint(footprint_rows().head(0))
    assert empty.height == 0 and empty.columns == safe.columns
    assert what_happened("search", "search_results") == "Found your record in a search"
    assert what_happened("archive", None) == "Archive: your record"
    assert what_happened("view", "new_screen") == "Viewed your record (new screen)"


def test_staff_names_appear_in_the_client_safe_footprint_only_when_asked_for() -> None:
    named = footprint_rows().with_columns(pl.Series("staff_family_name", ["Ngata", None, None]),
                                          pl.Series("staff_given_names", ["Ana", None, None]))
    assert "staff_name" not in client_safe_footprint(named).columns
    with_names = client_safe_footprint(named, with_names=True)
    assert with_names["staff_name"].to_list() == ["Ana Ngata", "", ""]


def test_every_output_carries_the_coverage(tmp_path: Path) -> None:
    frame, m = footprint_rows(), meta()
    write_footprint(frame, tmp_path / "f.csv", m)
    text = (tmp_path / "f.csv").read_text()
    head = [line for line in text.splitlines() if line.startswith("#")]
    assert head == ["# accesswatch footprint of client 046408704",
                    "# period asked for: 2025-04-01 to 2025-04-03 (New Zealand dates)",
                    "# cms: logs held from 2025-04-01 to 2025-04-03; 2 of the 3 day(s) asked for have logs; "
                    "no logs 2025-04-02 (1 day)"]
    table = pl.read_csv(text.encode(), comment_prefix="#", infer_schema=False)
    assert table.columns == list(FOOTPRINT_COLUMNS) and table.height == 3
    assert table["screen"].to_list()[2].startswith("'=")  # formula-safe still
    write_footprint(frame, tmp_path / "f.jsonl", m)
    lines = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert lines[0]["footprint"]["coverage"][0]["gaps"] == [{"from": "2025-04-02", "to": "2025-04-02", "days": 1}]
    assert lines[0]["footprint"]["accesses"] == 3 and len(lines) == 4
    write_footprint(frame, tmp_path / "f.json", m)
    document = json.loads((tmp_path / "f.json").read_text())
    assert document["footprint"]["period"]["from"] == "2025-04-01" and len(document["accesses"]) == 3
    write_footprint(frame, tmp_path / "plain.csv")  # without coverage: the table alone, as before
    assert (tmp_path / "plain.csv").read_text().startswith("occurred_at,occurred_at_nz,")


def test_the_client_safe_outputs_state_the_coverage_in_plain_words(tmp_path: Path) -> None:
    answer = FootprintAnswer(footprint_rows(), meta(ClientIdCheck("46408704", False, True, ("046408704",))))
    write_client_safe(answer, tmp_path / "c.csv")
    text = (tmp_path / "c.csv").read_text()
    assert "# Accesses to the record of client 46408704 from 1 April 2025 to 3 April 2025" in text
    assert "We hold no records of it for 2 April 2025. Accesses on those days cannot be listed." in text
    assert "not a client number in our current records" in text
    assert "046408704" not in text  # suggestions are for the officer, not the client
    write_client_safe(answer, tmp_path / "c.html")
    page = (tmp_path / "c.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "&#x27;" in page or "=cmd" not in page  # values are escaped
    assert "Printed your IRD number" in page and "CASE-" not in page and "SELF_RECORD" not in page
    empty = client_safe_html(client_safe_footprint(footprint_rows().head(0)), answer.meta, ["x"])
    assert "No accesses were recorded in this period." in empty
