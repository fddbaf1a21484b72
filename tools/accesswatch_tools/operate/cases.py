"""People acting on cases: the case service over a deployment, the scoring settings detection runs with, and
the deployed case-queue function (drain, weekly random review)."""

from __future__ import annotations

from typing import Any

from accesswatch_tools.operate.deployment import Deployment, invoke_function


def deployed_scoring(dep: Deployment) -> Any:
    """The scoring settings the deployed detect function runs with (from its environment)."""
    from accesswatch.cases.scoring import ScoringSettings
    from accesswatch.dal.functions import Functions

    return ScoringSettings.from_env(Functions(dep.client("lambda")).environment(dep.resource_name("DetectFunction")))


def invoke_case_queue(dep: Deployment, payload: dict[str, Any]) -> dict[str, Any]:
    """Run the deployed case-queue function (as its schedule does) and return its result."""
    return invoke_function(dep, "CaseQueueFunction", payload, "case-queue")


def case_service(dep: Deployment) -> Any:
    """A CaseService over ``dep``: the same code for the local endpoint, an in-process runtime and AWS."""
    from accesswatch.cases.service import CaseService
    from accesswatch.cases.vocabulary import CaseVocabulary
    from accesswatch.dal.cases import CaseStore, CaseTasks
    from accesswatch.dal.findings import FindingStore
    from accesswatch.dal.functions import Functions

    dynamodb = dep.resource("dynamodb")
    return CaseService(
        cases=CaseStore(dep.resource_name("CasesTable"), dynamodb),
        findings=FindingStore(dep.resource_name("FindingsTable"), dynamodb),
        tasks=CaseTasks(dep.client("stepfunctions")),
        load_vocabulary=lambda: CaseVocabulary.from_mapping(
            Functions(dep.client("lambda")).environment(dep.resource_name("CaseStepFunction"))),
    )


def case_router_for(dep: Deployment) -> Any:
    """The case router as the deployed case-queue function builds it (the rule weights in force now), for a
    person opening a case from a complaint, a concern or a privacy request (``cases open``)."""
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.executions import Executions
    from accesswatch.dal.findings import FindingStore
    from accesswatch.services.routing import case_router

    dynamodb = dep.resource("dynamodb")
    return case_router(cases=CaseStore(dep.resource_name("CasesTable"), dynamodb),
                       findings=FindingStore(dep.resource_name("FindingsTable"), dynamodb),
                       executions=Executions(dep.client("stepfunctions")),
                       case_state_machine_arn=dep.resource_name("CaseStateMachine"), scoring=deployed_scoring(dep))


def case_teamwork(dep: Deployment) -> Any:
    """Assign, note, amend and reopen over ``dep`` (``accesswatch.cases.teamwork``)."""
    from accesswatch.cases.teamwork import CaseTeamwork
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.executions import Executions

    return CaseTeamwork(cases=CaseStore(dep.resource_name("CasesTable"), dep.resource("dynamodb")),
                        executions=Executions(dep.client("stepfunctions")),
                        case_state_machine_arn=dep.resource_name("CaseStateMachine"))
