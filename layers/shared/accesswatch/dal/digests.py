"""AWS access for the weekly digest: the week's findings (by_rule_quarter index), the digest topic.

The digest file goes to the curated bucket through ``ObjectStore`` under ``digests/week=<YYYY-Www>/``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

import boto3
from boto3.dynamodb.conditions import Key

from accesswatch.dal.reporting import FindingQueries

DIGESTS_PREFIX: Final = "digests/"
# What the digest reads of a finding: ids, rule, tier, routing state. No explanation, no evidence.
DIGEST_FIELDS: Final = ("finding_id", "rule", "rule_status", "tier", "user_id", "client_id", "nz_date",
                        "occurred_at_utc", "case_id", "suppressed_by")


def digest_key(week: str) -> str:
    return f"{DIGESTS_PREFIX}week={week}/digest.json"


class DigestFindings(FindingQueries):
    """Findings of a rule and quarter within [start, stop) (``occurred_at_utc``, ISO text, UTC)."""

    def in_rule_quarter_between(self, rule: str, quarter_end_iso: str, start_iso: str,
                                stop_iso: str) -> Iterator[dict[str, Any]]:
        condition = Key("rule_quarter").eq(f"{rule}#{quarter_end_iso}") & Key("occurred_at_utc").between(
            start_iso, stop_iso)
        return self._query(DIGEST_FIELDS, IndexName="by_rule_quarter", KeyConditionExpression=condition)


class DigestTopic:
    """The digest topic: one message per team manager; subscribers filter on ``manager_user_id``."""

    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self.topic_arn = topic_arn
        self.sns = client or boto3.client("sns")

    def publish(self, subject: str, message: str, attributes: Mapping[str, str]) -> str:
        response = self.sns.publish(
            TopicArn=self.topic_arn, Subject=subject, Message=message,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()})
        return str(response["MessageId"])
