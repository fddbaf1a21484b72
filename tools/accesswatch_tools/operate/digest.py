"""The weekly digest per team manager: its sources on a deployment, and the deployed digest function that
publishes it (as its weekly schedule does)."""

from __future__ import annotations

from typing import Any

from accesswatch_tools.operate.deployment import Deployment, invoke_function


def digest_sources(dep: Deployment) -> Any:
    """The digest's sources on ``dep``: the same code for the local endpoint, an in-process runtime and AWS."""
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.digests import DigestFindings
    from accesswatch.dal.ledger import Ledger
    from accesswatch.dal.objects import ObjectStore
    from accesswatch.dal.risk import RiskStore
    from accesswatch.services.digest import DigestSources

    dynamodb = dep.resource("dynamodb")
    return DigestSources(
        findings=DigestFindings(dep.resource_name("FindingsTable"), dynamodb),
        ledger=Ledger(dep.resource_name("LedgerTable"), dynamodb),
        risk=RiskStore(CaseStore(dep.resource_name("CasesTable"), dynamodb)),
        store=ObjectStore(dep.client("s3")),
        curated_bucket=dep.resource_name("CuratedBucket"),
    )


def invoke_digest(dep: Deployment, payload: dict[str, Any]) -> dict[str, Any]:
    """Run the deployed digest function (as its schedule does) and return its result."""
    return invoke_function(dep, "DigestFunction", payload, "digest")
