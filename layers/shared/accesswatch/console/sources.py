"""The console's data-access objects, built once per container from its settings (``ConsoleSettings``): the
same services the CLI builds over a deployment (``accesswatch_tools.operate``), here from the function's
environment. Each is made on first use, so a page pays only for what it reads."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from accesswatch.config import ConsoleSettings


class ConsoleSources:
    def __init__(self, settings: ConsoleSettings, *, dynamodb: Any = None, clients: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self._dynamodb = dynamodb
        self._clients: dict[str, Any] = dict(clients or {})

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(service)
        return self._clients[service]

    @cached_property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            import boto3

            self._dynamodb = boto3.resource("dynamodb")
        return self._dynamodb

    @cached_property
    def cases(self) -> Any:
        from accesswatch.dal.cases import CaseStore

        return CaseStore(self.settings.cases_table, self.dynamodb)

    @cached_property
    def case_service(self) -> Any:
        from accesswatch.cases.service import CaseService
        from accesswatch.cases.vocabulary import CaseVocabulary
        from accesswatch.dal.cases import CaseTasks
        from accesswatch.dal.findings import FindingStore

        return CaseService(cases=self.cases, findings=FindingStore(self.settings.findings_table, self.dynamodb),
                           tasks=CaseTasks(self.client("stepfunctions")),
                           load_vocabulary=lambda: CaseVocabulary.from_env())

    @cached_property
    def teamwork(self) -> Any:
        from accesswatch.cases.teamwork import CaseTeamwork
        from accesswatch.dal.executions import Executions

        return CaseTeamwork(cases=self.cases, executions=Executions(self.client("stepfunctions")),
                            case_state_machine_arn=self.settings.case_state_machine_arn)

    @cached_property
    def exceptions(self) -> Any:
        from accesswatch.dal.exceptions import ExceptionStore

        return ExceptionStore(self.cases)

    @cached_property
    def audit(self) -> Any:
        from accesswatch.dal.audit import AuditStore

        return AuditStore(self.settings.audit_table, self.dynamodb)

    @cached_property
    def store(self) -> Any:
        from accesswatch.dal.objects import ObjectStore

        return ObjectStore(self.client("s3"))

    @cached_property
    def ledger(self) -> Any:
        from accesswatch.dal.ledger import Ledger

        return Ledger(self.settings.ledger_table, self.dynamodb)
