"""The CLI refuses what it cannot answer: every filter rejects an unknown value (exit 2, naming the valid ones)
instead of answering with an empty list; rule ids and words are taken in any case; every option says what it
is; ``local`` has no --stack. Parser-level only: no deployment is reached."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from accesswatch_tools.cli.main import build_parser, main
from accesswatch_tools.cli.output import nz_time

# (argv, the words the error must contain): each an unknown value of one filter of one command.
REFUSED = [
    (["cases", "list", "--status", "shut"], ["unknown status 'shut'", "closed_founded", "open, closed"]),
    (["cases", "list", "--status", "closed_found"], ["unknown status 'closed_found'"]),
    (["cases", "list", "--rule", "self_records"], ["unknown rule 'self_records'", "SELF_RECORD"]),
    (["cases", "list", "--priority", "urgent"], ["unknown priority 'urgent'", "critical, high, medium, low"]),
    (["cases", "list", "--tier", "record"], ["unknown tier 'record'", "immediate, accumulate"]),
    (["cases", "list", "--user", "u1 u2"], ["user 'u1 u2'", "one word"]),
    (["cases", "list", "--client", " "], ["client ' '"]),
    (["findings", "list", "--rule", "late_night"], ["unknown rule 'late_night'", "UNASSIGNED_VOLUME"]),
    (["findings", "list", "--status", "closed"], ["unknown rule status 'closed'", "live, staging"]),
    (["findings", "list", "--user", ""], ["user ''"]),
    (["findings", "list", "--client", "01 2"], ["client '01 2'"]),
    (["findings", "list", "--from", "2025-13-01"], ["'2025-13-01' is not a date"]),
    (["findings", "list", "--to", "31/03/2025"], ["'31/03/2025' is not a date"]),
    (["exceptions", "add", "--rule", "lookups", "--expires", "2025-01-01", "--reason", "x"], ["unknown rule 'lookups'"]),
    (["exceptions", "add", "--user", "a b", "--expires", "2025-01-01", "--reason", "x"], ["user 'a b'"]),
    (["cases", "decide", "CASE-1", "--decision", "founded", "--founded-rule", "selfrecord"],
     ["unknown rule 'selfrecord'"]),
    (["replay", "--from", "2025-04-01", "--to", "tomorrow"], ["'tomorrow' is not a date"]),
    (["replay", "--from", "2025-04-01", "--to", "2025-04-02", "--timeout", "0"], ["more than 0 seconds"]),
    (["redrive", "--timeout", "ten"], ["'ten' is not a number of seconds"]),
    (["local", "status", "--stack", "prod"], ["unrecognized arguments: --stack prod"]),
]


@pytest.mark.parametrize(("argv", "says"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_an_unknown_filter_value_is_refused_with_the_valid_ones(argv: list[str], says: list[str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    for words in says:
        assert words in captured.err, captured.err


def test_words_and_rule_ids_are_taken_in_any_case() -> None:
    parser = build_parser()
    args = parser.parse_args(["cases", "list", "--status", "CLOSED", "--rule", "self_record", "--priority", "High",
                              "--tier", "Immediate", "--client", "010693250"])
    assert (args.status, args.rule, args.priority, args.tier) == ("closed", "SELF_RECORD", "high", "immediate")
    assert args.client == "010693250", "an id stays text: the leading zero is kept"
    args = parser.parse_args(["findings", "list", "--rule", "out_of_hours_sensitive", "--status", "STAGING",
                              "--from", "2025-03-01", "--to", "2025-03-31"])
    assert (args.rule, args.status, str(args.date_from), str(args.date_to)) == (
        "OUT_OF_HOURS_SENSITIVE", "staging", "2025-03-01", "2025-03-31")


def test_a_status_group_means_its_statuses() -> None:
    from accesswatch.cases.service import CaseFilter, FilterError

    closed = CaseFilter(status="closed")
    assert closed.statuses == ("closed_unfounded", "closed_founded")
    assert closed({"status": "closed_founded"}) and closed({"status": "closed_unfounded"})
    assert not closed({"status": "investigating"})
    opened = CaseFilter(status="OPEN")
    assert opened({"status": "awaiting_outcome"}) and not opened({"status": "closed_founded"})
    assert CaseFilter(status="Investigating").statuses == ("investigating",)
    for field, value in (("status", "closed_found"), ("priority", "urgent"), ("tier", "record")):
        with pytest.raises(FilterError, match=f"unknown {field} '{value}'; one of "):
            CaseFilter(**{field: value})


def test_a_period_that_ends_before_it_starts_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["findings", "list", "--from", "2025-04-01", "--to", "2025-03-01", "--state-dir", "/nonexistent"]) == 1
    assert "--to 2025-03-01 is before --from 2025-04-01" in capsys.readouterr().err


def _actions(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _actions(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_every_option_and_argument_says_what_it_is() -> None:
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in _actions(build_parser(), "accesswatch")
               if not a.help]
    assert missing == []


def test_durations_and_output_folders_say_their_units() -> None:
    helps = {f"{path} {'/'.join(a.option_strings)}": a.help or "" for path, a in _actions(build_parser(), "accesswatch")}
    for key in ("accesswatch replay --timeout", "accesswatch redrive --timeout"):
        assert "seconds" in helps[key], key
    for key in ("accesswatch synth --out", "accesswatch run --reference", "accesswatch run --logs",
                "accesswatch run --out"):
        assert "directory" in helps[key], key
    assert "seed" in helps["accesswatch synth --seed"]
    assert not [k for k in helps if k.startswith("accesswatch local ") and "--stack" in k]


def test_alarms_help_is_plain_words(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["alarms", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and "accesswatch_tools" not in text and ".embedded" not in text
    assert "one object per alarm, one per line" in text


def test_times_for_people_are_new_zealand_times_with_the_zone_named() -> None:
    assert nz_time("2025-03-30T20:00:00Z") == "2025-03-31 09:00 NZDT"
    assert nz_time("2025-04-06T15:29:00+12:00", seconds=True) == "2025-04-06 15:29:00 NZST"
    assert nz_time("2026-11-29T23:10:37.567Z", seconds=True) == "2026-11-30 12:10:37 NZDT"
    assert nz_time(None) == "-" and nz_time("") == "-"
