"""Digest: each Monday, one message per team manager and a file for the ISO week that just ended (NZ time)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.cases.digest import Week
from accesswatch.config import DigestSettings
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.digests import DigestFindings, DigestTopic
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.dal.risk import RiskStore
from accesswatch.models import DigestRequest
from accesswatch.observability import observability
from accesswatch.quarters import previous_nz_week
from accesswatch.services.digest import DigestSources, produce, publish

SETTINGS = DigestSettings.from_env()
logger, metrics, tracer = observability("digest")
STORE = ObjectStore()
TOPIC = DigestTopic(SETTINGS.digest_topic_arn)


def sources() -> DigestSources:
    return DigestSources(
        findings=DigestFindings(SETTINGS.findings_table),
        ledger=Ledger(SETTINGS.ledger_table),
        risk=RiskStore(CaseStore(SETTINGS.cases_table)),
        store=STORE,
        curated_bucket=SETTINGS.curated_bucket,
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=DigestRequest)
    now = datetime.now(UTC)
    week = Week.of(request.week or previous_nz_week(now))
    logger.append_keys(week=week.id, source=request.source)
    digest = produce(sources(), week, now=now)
    result = publish(digest, store=STORE, bucket=SETTINGS.curated_bucket, topic=TOPIC, republish=request.republish)
    metrics.add_metric(name="DigestsPublished", unit=MetricUnit.Count, value=result["messages"])
    if not result["already_published"]:
        metrics.add_metric(name="DigestUsersBelowThreshold", unit=MetricUnit.Count,
                           value=result["users_below_threshold"])
    logger.info("digest published" if not result["already_published"] else "digest already published",
                extra={k: result[k] for k in ("key", "groups", "messages", "users_below_threshold")}
                | {"team_source": digest.team_source, "findings": digest.counts["findings"]})
    return {**result, "team_source": digest.team_source, "totals": digest.as_dict()["totals"]}
