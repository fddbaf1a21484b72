"""``accesswatch redrive``: the redrive service (accesswatch.services.redrive) on the local endpoint or a
stack, as a command: what was done, as JSON, and exit 1 when something needs an operator."""

from __future__ import annotations

import argparse
import json
from typing import Any

from accesswatch.services.redrive import Redrive, RedriveReport, RedriveTimeout
from accesswatch_tools.cli.context import CliError, add_target_options, deployment
from accesswatch_tools.operate.deployment import Deployment


def redrive_service(aws: Deployment) -> Redrive:
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.executions import Executions
    from accesswatch.dal.functions import Functions
    from accesswatch.dal.ledger import Ledger
    from accesswatch.dal.queues import DeadLetters

    dynamodb = aws.resource("dynamodb")
    return Redrive(
        ledger=Ledger(aws.resource_name("LedgerTable"), dynamodb),
        cases=CaseStore(aws.resource_name("CasesTable"), dynamodb),
        executions=Executions(aws.client("stepfunctions")),
        functions=Functions(aws.client("lambda")),
        dead_letters=DeadLetters(aws.resource_name("CaseDeadLetterQueue"), aws.client("sqs")),
        detection_state_machine_arn=aws.resource_name("DetectionStateMachine"),
        case_state_machine_arn=aws.resource_name("CaseStateMachine"),
        ingest_function=aws.resource_name("IngestFunction"),
        reference_function=aws.resource_name("ReferenceFunction"),
    )


def redrive(aws: Deployment, *, wait: bool = True, dry_run: bool = False, timeout_s: float = 1800.0) -> RedriveReport:
    try:
        return redrive_service(aws).run(wait=wait, dry_run=dry_run, timeout_s=timeout_s)
    except RedriveTimeout as exc:
        raise CliError(str(exc)) from None


def cmd_redrive(args: argparse.Namespace) -> int:
    report = redrive(deployment(args), wait=not args.no_wait, dry_run=args.dry_run, timeout_s=args.timeout)
    print(json.dumps(report.as_dict(), indent=2))
    if not report.actions and not report.left:
        print("accesswatch redrive: nothing failed, nothing to do")
    if not report.ok and not args.dry_run:
        raise CliError(f"{len(report.left)} item(s) need an operator; "
                       f"{len(report.failed_again)} "
                       "redriven item(s) failed again")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("redrive", help="finish failed ingests, detections and case workflows without duplicates")
    parser.add_argument("--dry-run", action="store_true", help="say what would be redriven, change nothing")
    parser.add_argument("--no-wait", action="store_true", help="start the work and return without waiting")
    parser.add_argument("--timeout", type=float, default=1800.0)
    add_target_options(parser)
    parser.set_defaults(func=cmd_redrive)
