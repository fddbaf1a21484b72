"""Finishing failed work on a deployment: the redrive service (accesswatch.services.redrive) over its
ledger, cases, executions, functions and case dead-letter queue."""

from __future__ import annotations

from accesswatch.services.redrive import Redrive, RedriveReport, RedriveTimeout
from accesswatch_tools.operate.deployment import Deployment, OperationError


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
        raise OperationError(str(exc)) from None
