"""``local start|status|stop|env``: the background endpoint that keeps the embedded system running.

One endpoint per state directory: ``start`` joins the running one (or waits for the one being started),
``status`` and ``stop`` find every endpoint process of the directory, and each says what it found,
including an endpoint that crashed (its in-memory state is lost). ``env`` prints what the real AWS tools
(the AWS CLI, boto3, SDKs) need to talk to it: ``eval "$(accesswatch local env)"``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from accesswatch_tools.cli.context import CliError, add_state_dir_option, state_dir
from accesswatch_tools.cli.output import json_line, nz_time
from accesswatch_tools.embedded import server

EXIT_NOT_RUNNING = 3
EXIT_MORE_THAN_ONE = 4


def _start(directory: Any) -> int:
    try:
        started = server.start(directory)
    except server.EndpointError as exc:
        raise CliError(str(exc)) from None
    for note in started.notes:
        print(f"accesswatch: {note}", file=sys.stderr)
    how = "started" if started.started else "already running"
    print(f"local endpoint {started.info.get('url')} (pid {started.info.get('pid')}, {how}), state in {directory}")
    if started.info.get("console_url"):
        print(f"console_url {started.info['console_url']}")
    return 0


def _stop(directory: Any) -> int:
    stopped = server.stop(directory)
    if stopped.lost is not None:
        print(f"accesswatch: {server.lost_message(stopped.lost, directory)}; its record is cleared", file=sys.stderr)
    for endpoint in stopped.stopped:
        print(f"stopped local endpoint pid {endpoint.pid} ({endpoint.state}), state in {directory}")
    if not stopped.stopped:
        print("no local endpoint was running")
    return 0


def _status(directory: Any, as_json: bool = False) -> int:
    survey = server.status(directory)
    if survey.lost is not None:
        print(f"accesswatch: {server.lost_message(survey.lost, directory)}", file=sys.stderr)
    if not survey.endpoints:
        print("no local endpoint is running")
        return EXIT_NOT_RUNNING
    usable = survey.usable
    report: dict[str, Any] = usable.describe() if usable is not None else {}
    report["state_dir"] = str(directory)
    report["endpoints"] = [e.describe() for e in survey.endpoints]
    if as_json:
        print(json_line(report))
    else:
        if usable is not None:
            print(f"local endpoint {report.get('url')} (pid {report.get('pid')}, {report.get('state')}), "
                  f"state in {directory}")
            if report.get("console_url"):
                print(f"console_url {report['console_url']}")
        for endpoint in report["endpoints"]:
            since = (f", started {nz_time(endpoint['started_at'], seconds=True)}, up {endpoint['uptime_s']:.0f} s"
                     if endpoint.get("started_at") else "")
            print(f"  pid {endpoint['pid']}: {endpoint['state']}{since}")
    if survey.strays:
        pids = ", ".join(str(e.pid) for e in survey.strays)
        print(f"accesswatch: {len(survey.endpoints)} endpoint processes for one state directory (pid {pids} "
              "reached by no command); `accesswatch local stop` stops them all", file=sys.stderr)
        return EXIT_MORE_THAN_ONE
    return 0 if usable is not None else EXIT_NOT_RUNNING


# Any key works with moto; the SDKs only need one to sign requests.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}  # noqa: S105


def local_environment(directory: Any) -> dict[str, str]:
    """The variables that point the AWS CLI and SDKs at the running endpoint, then the stack's names
    (its outputs as ACCESSWATCH_* variables); CliError when no endpoint runs."""
    from accesswatch_tools.embedded.template import LOCAL_ABSENT_TYPES, STACK_NAME
    from accesswatch_tools.operate.stack_env import StackEnvError, read_stack, resolver_for, shell_variables

    try:
        target = server.connect(directory, lost_error=CliError)
    except server.EndpointError as exc:
        raise CliError(str(exc)) from None
    try:
        record = read_stack(target.client("cloudformation"), STACK_NAME)
        names = shell_variables(target.template, resolver_for(target.template, record,
                                                              absent_types=LOCAL_ABSENT_TYPES))
    except StackEnvError as exc:
        raise CliError(f"local endpoint {target.url}: {exc}") from None
    return {"AWS_ENDPOINT_URL": target.url, "AWS_REGION": target.region, "AWS_DEFAULT_REGION": target.region,
            **LOCAL_CREDENTIALS, **names}


def _env(directory: Any, as_json: bool) -> int:
    from accesswatch_tools.operate.stack_env import shell_lines

    variables = local_environment(directory)
    if as_json:
        print(json_line(variables))
    else:
        print("# the local endpoint for the AWS CLI and SDKs: eval \"$(accesswatch local env)\"")
        print("\n".join(shell_lines(variables)))
    return 0


def _reset(directory: Any) -> int:
    stopped, had_state = server.reset(directory)
    for endpoint in stopped.stopped:
        print(f"stopped local endpoint pid {endpoint.pid} ({endpoint.state})")
    print(f"deleted the saved state in {directory}" if had_state else f"no saved state in {directory}")
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    directory = state_dir(args)
    if args.action == "reset":
        return _reset(directory)
    if args.action == "start":
        return _start(directory)
    if args.action == "stop":
        return _stop(directory)
    if args.action == "env":
        return _env(directory, args.json)
    return _status(directory, args.json)


def register(sub: Any) -> None:
    local = sub.add_parser("local", help="manage the local endpoint (the embedded AWS runtime in the background)",
                           description="start: start the state directory's endpoint, or join the running one; "
                                       "status: every endpoint process of the directory (exit 0 one running, "
                                       f"{EXIT_NOT_RUNNING} none, {EXIT_MORE_THAN_ONE} more than one); "
                                       "stop: stop them all (each saves its state in the state directory, and "
                                       "the next start brings it back); reset: stop them and delete the saved "
                                       "state (buckets, tables, cases, decisions): the next start is empty; "
                                       "env: the running endpoint's URL, region, dummy credentials and the "
                                       "stack's bucket, table, topic and state machine names as shell "
                                       "variables, for the AWS CLI and SDKs: eval \"$(accesswatch local env)\" "
                                       "(exit 1 when none runs)")
    local.add_argument("action", choices=("start", "status", "stop", "reset", "env"),
                       help="start, status, stop or reset the state directory's local endpoint, or print its "
                            "environment")
    local.add_argument("--json", action="store_true",
                       help="status, env: one JSON object on one line, for scripts")
    add_state_dir_option(local)
    local.set_defaults(func=cmd_local)
