"""The events/ samples that `sam local invoke` uses drive the real handlers here too."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from accesswatch.dal.ledger import Ledger
from accesswatch.models import DetectionOutcome, DetectRequest, S3Notification

EVENTS = Path(__file__).parents[2] / "events"
# One event per staged object, its id unique in the module's runtime (a reused id of the same date would be
# quarantined as a duplicate by the next sample's ingest).
LOG = "event_id,occurred_at,user_id,client_id,action\n{event_id},2025-04-01T09:00:00Z,u1,000001,view\n"
LOG_JSONL = '{{"event_id": "{event_id}", "occurred_at": "2025-04-01T09:00:00Z", "user_id": "u1", "client_id": "000001", "action": "view"}}\n'
_event_ids = itertools.count(1)


@pytest.fixture(scope="module")
def aws() -> Iterator[object]:
    """One embedded deployment for the module: each sample stages and ingests objects of its own keys."""
    from accesswatch_tools.embedded.runtime import EmbeddedAws

    with EmbeddedAws() as runtime:
        yield runtime


def _sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize("name", ["ingest_s3_single.json", "ingest_s3_multiple.json",
                                  "ingest_s3_url_encoded_key.json", "reference_s3_staff.json"])
def test_s3_samples_parse(name: str):
    notification = S3Notification.model_validate(_sample(name))
    assert notification.created()
    for record in notification.created():
        source = record.source()
        assert "%" not in source.key and "+" not in source.key.replace("+ā", "")


def test_detect_and_outcome_samples_parse():
    assert DetectRequest.model_validate(_sample("detect_partition.json")).partition.rows == 250000
    assert DetectionOutcome.model_validate(_sample("detection_outcome_detected.json")).outcome == "detected"
    assert DetectionOutcome.model_validate(_sample("detection_outcome_failed.json")).outcome == "failed"


@pytest.mark.parametrize("name", ["ingest_s3_single.json", "ingest_s3_multiple.json", "ingest_s3_url_encoded_key.json"])
def test_ingest_handler_takes_every_record_of_the_sample(aws, name: str):
    """Stage the objects a sample names (bucket renamed to this stack's), then invoke with the sample."""
    event = _sample(name)
    raw = aws.resource_name("RawBucket")
    s3 = aws.client("s3")
    # Stage under a prefix with no notification, then copy to the sample's key (same content, same ETag).
    keys = []
    for record in event["Records"]:
        record["s3"]["bucket"]["name"] = raw
        key = unquote_plus(record["s3"]["object"]["key"])
        body = (LOG_JSONL if ".jsonl" in key else LOG).format(event_id=f"e{next(_event_ids)}").encode()
        body = gzip.compress(body) if key.endswith(".gz") else body
        record["s3"]["object"]["eTag"] = s3.put_object(Bucket=raw, Key=f"staging/{key}", Body=body)["ETag"].strip('"')
        s3.copy_object(Bucket=raw, Key=key, CopySource={"Bucket": raw, "Key": f"staging/{key}"})
        record["s3"]["object"].pop("versionId", None)
        keys.append(key)
    response = aws.client("lambda").invoke(FunctionName=aws.resource_name("IngestFunction"),
                                           Payload=json.dumps(event))
    assert "FunctionError" not in response, response["Payload"].read()
    files = {f["key"]: f for f in Ledger(aws.resource_name("LedgerTable")).all_files()}
    for key in keys:
        assert files[key]["accepted"] == 1 and files[key]["lines_read"] == 1, key


# The console's samples (HTTP API payload 2.0 as API Gateway sends it; the JWT authorizer's claims in
# requestContext): what each answers on a fresh stack, and the page it is.
CONSOLE_SAMPLES = {
    "console_queue.json": (200, 'id="signed-in-user">inv-sample<'),
    "console_operations.json": (200, 'id="signed-in-user">ops-sample<'),
    "console_footprint.json": (400, 'id="signed-in-user">privacy-sample<'),  # no client 000001 in an empty stack
    "console_case_note.json": (404, "There is no such case."),  # past the CSRF check (a 403 otherwise)
    "console_auth_sign_in.json": (303, ""),  # no Cognito locally: to the console's start
    "console_static.json": (200, "sessionStorage"),
}


def test_every_console_sample_is_checked():
    assert {p.name for p in EVENTS.glob("console_*.json")} == set(CONSOLE_SAMPLES)


@pytest.mark.parametrize("name", sorted(CONSOLE_SAMPLES))
def test_console_samples_drive_the_console_handler(aws, name: str):
    status, shows = CONSOLE_SAMPLES[name]
    response = aws.client("lambda").invoke(FunctionName=aws.resource_name("ConsoleFunction"),
                                           Payload=json.dumps(_sample(name)))
    assert "FunctionError" not in response
    answer = json.loads(response["Payload"].read())
    assert answer["statusCode"] == status, (name, answer.get("body", "")[:500])
    assert shows in answer["body"]
    assert answer["headers"]["Strict-Transport-Security"]  # x-forwarded-proto https, as on AWS
