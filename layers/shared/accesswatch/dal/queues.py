"""The case dead-letter queue: messages of cases whose workflow failed (ids only)."""

from __future__ import annotations

import json
from typing import Any

import boto3


class DeadLetters:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.sqs = client or boto3.client("sqs")
        self.url = queue_url

    def remove_cases(self, case_ids: set[str]) -> int:
        """Delete the messages of these cases (restarted); every other message stays for an operator."""
        seen: set[str] = set()
        removed = 0
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                                WaitTimeSeconds=0).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                return removed
            for message in fresh:
                seen.add(message["MessageId"])
                try:
                    case_id = json.loads(message["Body"]).get("case_id")
                except ValueError:
                    case_id = None
                if case_id in case_ids:
                    self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                    removed += 1
                else:
                    self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"],
                                                       VisibilityTimeout=0)
