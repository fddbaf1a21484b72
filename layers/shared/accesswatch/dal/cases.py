"""The cases table: cases, their append-only history, each user's open-case pointer, the per-user
risk ledger and the case queue (dal/risk.py), exceptions (dal/exceptions.py) and per-rule decision counts.

Keys (``pk`` / ``sk``):

- ``CASE#<id>`` / ``CASE``: the case; ``CASE#<id>`` / ``HIST#<time>#<n>``: a history entry (never updated);
- ``USER#<user>`` / ``OPEN``: the user's open (undecided) case: at most one per user (data contract v2);
- ``RULESTATS`` / ``<rule>``: the cases founded and unfounded for the rule (string sets of case ids; they
  scale its weight).

A case item keeps its findings as ``parts``, one text ``finding_id|rule|client_id|score`` each (the score
the finding had when it joined), from which ``finding_ids``, ``client_ids`` and the score breakdown derive.
Concurrent writers (two partitions of one user at once) are ordered by the case's ``version``; people acting
on a waiting case at once, by its ``claim`` (``claim_action``: compare-and-set before the task token is sent).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from accesswatch.dal.ledger import _plain, now_iso
from accesswatch.dal.paging import batch_get, items

# A case item keeps up to INLINE_PARTS parts; beyond that, chunks of CHUNK_PARTS in items of their own
# (``CASE#<id>`` / ``PARTS#<version>#<writer>#<n>``), so that a user with thousands of findings never hits
# DynamoDB's 400 KB item limit. Chunks are keyed by the version and a token of the writer, which the case
# item names (``part_chunks_key``): a writer that loses the conditional write leaves only orphan chunks no
# case item names. Chunks two versions old are dropped (a reader of the previous version may still be
# reading its chunks), by a time to live: no role that writes this table may delete a CASE# item, so that
# its append-only history cannot be deleted (template.yaml grants DeleteItem on USER# and QUEUE keys only).
INLINE_PARTS = 2500
CHUNK_PARTS = 2500

# The cases table's TTL attribute (template.yaml, CasesTable.TimeToLiveSpecification): epoch seconds after
# which DynamoDB deletes the item. Only dropped part chunks and idle risk ledgers (dal/risk.py) carry it; a
# case or history item never does.
PURGE_AT = "purge_at"

# Statuses in which a case still takes findings (undecided). Kept here, not imported from the workflow,
# because the workflow imports this module.
UNDECIDED = ("opened", "triaged", "notified", "investigating", "reopened")


class ConcurrentUpdate(Exception):
    """Another writer changed the user's pointer or case first: plan again."""


def _case_condition_failed(exc: ClientError) -> bool:
    """A cancelled transaction whose first item (the case's conditional update) failed its condition."""
    reasons = exc.response.get("CancellationReasons") or []
    return bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] in {"ConditionalCheckFailedException", "TransactionCanceledException"})


def decimal(value: float) -> Decimal:
    return Decimal(str(round(float(value), 4)))


class CaseStore:
    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self.resource = resource or boto3.resource("dynamodb")
        self.table = self.resource.Table(table_name)
        self.table_name = table_name

    # ------------------------------------------------------------------ the user's open case
    @staticmethod
    def user_key(user_id: str) -> dict[str, str]:
        return {"pk": f"USER#{user_id}", "sk": "OPEN"}

    def open_pointer(self, user_id: str) -> dict[str, Any] | None:
        """The user's open-case pointer (case_id, trigger, claimed_at), or None."""
        item = self.table.get_item(Key=self.user_key(user_id), ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def open_pointers_of(self, user_ids: Collection[str]) -> dict[str, dict[str, Any] | None]:
        """The open-case pointers of many users (strongly consistent, 100 a call): user -> pointer or None."""
        found = self.get_many([self.user_key(u) for u in user_ids])
        return {u: found.get((f"USER#{u}", "OPEN")) for u in user_ids}

    def get_many(self, keys: Collection[Mapping[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by key (``pk``/``sk``), strongly consistent, in BatchGetItem calls of 100 keys; what the
        service leaves unprocessed is asked again. Absent items are absent from the result."""
        unique = list({(k["pk"], k["sk"]): k for k in keys}.values())
        return {(str(item["pk"]), str(item["sk"])): _plain(item)
                for item in batch_get(self.resource.batch_get_item, self.table_name, unique)}

    def claim_user(self, user_id: str, case_id: str, trigger: str) -> None:
        """Make ``case_id`` the user's open case; ConcurrentUpdate if the user has one already."""
        try:
            self.table.put_item(Item={**self.user_key(user_id), "case_id": case_id, "trigger": trigger,
                                      "claimed_at": now_iso()},
                                ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _conditional_failed(exc):
                raise ConcurrentUpdate(user_id) from None
            raise

    def release_user(self, user_id: str, case_id: str) -> None:
        """A decided case takes no more findings: the user's next finding starts a new case."""
        try:
            self.table.delete_item(Key=self.user_key(user_id), ConditionExpression="case_id = :c",
                                   ExpressionAttributeValues={":c": case_id})
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def open_pointers(self) -> Iterator[dict[str, Any]]:
        """Every user's open-case pointer (a scan: for verify and the weekly draw)."""
        for item in items(self.table.scan, FilterExpression="sk = :s AND begins_with(pk, :p)",
                          ExpressionAttributeValues={":s": "OPEN", ":p": "USER#"}):
            yield _plain(item)

    # ------------------------------------------------------------------ a case's findings
    def save_findings(self, case: Mapping[str, Any], *, expected_version: int | None,
                      history: Mapping[str, Any] | None = None) -> None:
        """Create the case (``expected_version`` None) or replace its finding state, in one conditional
        write: creation only if absent; an update only at the version read and while undecided. ``history``
        (an update's history entry, ``history_item``): written with the update in one transaction, both or
        neither (ConcurrentUpdate, writing nothing, if the case moved on)."""
        fields = {k: v for k, v in case.items() if k not in ("pk", "sk")}
        version = (expected_version or 0) + 1
        fields["version"] = version
        fields = {k: decimal(v) if isinstance(v, float) else v for k, v in fields.items()}
        case_id = str(case["case_id"])
        if "parts" in fields:
            parts = list(fields["parts"])
            overflow = parts[INLINE_PARTS:]
            chunks = [overflow[i:i + CHUNK_PARTS] for i in range(0, len(overflow), CHUNK_PARTS)]
            prefix = f"PARTS#{version:06d}#{uuid.uuid4().hex[:12]}#"
            for n, chunk in enumerate(chunks):
                self.table.put_item(Item={"pk": f"CASE#{case_id}", "sk": f"{prefix}{n:04d}",
                                          "case_id": case_id, "parts": chunk})
            fields["parts"] = parts[:INLINE_PARTS]
            fields["part_chunks"] = len(chunks)
            fields["part_chunks_key"] = prefix
        try:
            if expected_version is None:
                self.table.put_item(Item={**self.case_key(case_id), **fields},
                                    ConditionExpression="attribute_not_exists(pk)")
                return
            fields = {k: v for k, v in fields.items() if k not in ("status", "case_id")}
            names = {f"#{k}": k for k in fields}
            values: dict[str, Any] = {f":{k}": v for k, v in fields.items()}
            names["#status"] = "status"
            values[":expected_version"] = expected_version
            keys = []
            for i, status in enumerate(UNDECIDED):
                values[f":undecided{i}"] = status
                keys.append(f":undecided{i}")
            change = {
                "Key": self.case_key(str(case["case_id"])),
                "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in fields),
                "ConditionExpression": f"#version = :expected_version AND #status IN ({', '.join(keys)})",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
            if history is None:
                self.table.update_item(**change)
            else:
                self.table.meta.client.transact_write_items(TransactItems=[
                    {"Update": {"TableName": self.table_name, **change}},
                    {"Put": {"TableName": self.table_name, "Item": dict(history),
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ])
        except ClientError as exc:
            if _conditional_failed(exc):
                raise ConcurrentUpdate(case_id) from None
            raise
        if expected_version is not None and int(fields.get("part_chunks") or 0):
            self._drop_chunks(case_id, before_version=version - 1)

    def _chunk_items(self, case_id: str, prefix: str) -> list[dict[str, Any]]:
        return [_plain(i) for i in items(self.table.query, ConsistentRead=True,
                                         KeyConditionExpression=Key("pk").eq(f"CASE#{case_id}")
                                         & Key("sk").begins_with(prefix))]

    def _drop_chunks(self, case_id: str, *, before_version: int) -> None:
        """Chunks of versions older than ``before_version`` (and orphans of writers that lost) expire now:
        DynamoDB's TTL deletes them (within days; no reader asks for them meanwhile: a case names only its
        own version's chunks). Conditional on the key being a part chunk, so this never marks anything else."""
        now = int(time.time())
        for chunk in self._chunk_items(case_id, "PARTS#"):
            if int(str(chunk["sk"]).split("#")[1]) < before_version and PURGE_AT not in chunk:
                try:
                    self.table.update_item(
                        Key={"pk": chunk["pk"], "sk": chunk["sk"]}, UpdateExpression="SET #purge = :now",
                        ConditionExpression="attribute_exists(pk) AND begins_with(sk, :parts)",
                        ExpressionAttributeNames={"#purge": PURGE_AT},
                        ExpressionAttributeValues={":now": now, ":parts": "PARTS#"})
                except ClientError as exc:
                    if not _conditional_failed(exc):
                        raise

    def live_chunk_items(self, case_id: str) -> list[dict[str, Any]]:
        """The case's part chunks not yet dropped (for checks: dropped ones wait for the TTL)."""
        return [c for c in self._chunk_items(case_id, "PARTS#") if PURGE_AT not in c]

    def _whole(self, item: dict[str, Any]) -> dict[str, Any]:
        """A case item with the parts its chunks hold, as one case."""
        if int(item.get("part_chunks") or 0):
            chunks = sorted(self._chunk_items(str(item["case_id"]), str(item["part_chunks_key"])),
                            key=lambda c: c["sk"])
            item = {**item, "parts": list(item.get("parts") or []) + [p for c in chunks for p in c["parts"]]}
        return _case(item)

    # ------------------------------------------------------------------ per-rule decisions
    def count_rule_decisions(self, case_id: str, rule_decisions: Mapping[str, str]) -> bool:
        """Add a decided case's per-rule verdicts to the rules' counts. Each rule's item holds the ids of the
        cases founded and unfounded for it as string sets, so adding is idempotent: a retry or a concurrent
        duplicate neither loses nor doubles a verdict. Returns whether any verdict was new."""
        new = False
        for rule, verdict in sorted(rule_decisions.items()):
            column = "founded_cases" if verdict == "founded" else "unfounded_cases"
            old = self.table.update_item(
                Key={"pk": "RULESTATS", "sk": rule}, UpdateExpression=f"ADD {column} :case SET updated_at = :now",
                ExpressionAttributeValues={":case": {case_id}, ":now": now_iso()}, ReturnValues="ALL_OLD",
            ).get("Attributes", {})
            new = new or case_id not in set(old.get(column) or ())
        return new

    def uncount_rule_decisions(self, case_id: str, rules: Collection[str]) -> None:
        """Take a reopened case's verdicts out of the rules' counts (its next decision counts again): the case id
        leaves both sets of each rule. Safe to repeat."""
        for rule in sorted(set(rules)):
            self.table.update_item(
                Key={"pk": "RULESTATS", "sk": rule},
                UpdateExpression="DELETE founded_cases :case, unfounded_cases :case SET updated_at = :now",
                ExpressionAttributeValues={":case": {case_id}, ":now": now_iso()})

    def rule_stats(self) -> dict[str, tuple[int, int]]:
        """rule -> (founded, unfounded), from per-rule decisions."""
        out: dict[str, tuple[int, int]] = {}
        for item in items(self.table.query, KeyConditionExpression=Key("pk").eq("RULESTATS")):
            out[str(item["sk"])] = (len(item.get("founded_cases") or ()), len(item.get("unfounded_cases") or ()))
        return out

    # ------------------------------------------------------------------ cases
    @staticmethod
    def case_key(case_id: str) -> dict[str, str]:
        return {"pk": f"CASE#{case_id}", "sk": "CASE"}

    def get(self, case_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key=self.case_key(case_id), ConsistentRead=True).get("Item")
        return self._whole(item) if item else None

    def get_cases(self, case_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The cases among ``case_ids`` as ``get`` reads each (strongly consistent, whole), in BatchGetItem
        calls of 100 keys: case id -> case; absent cases are absent."""
        keys = [self.case_key(c) for c in sorted(set(case_ids))]
        return {str(item["pk"]).removeprefix("CASE#"): self._whole(item)
                for item in batch_get(self.resource.batch_get_item, self.table_name, keys)}

    def update(self, case_id: str, *, expected_status: str | None = None, **attrs: Any) -> None:
        values = {**attrs, "updated_at": now_iso()}
        kwargs: dict[str, Any] = {
            "Key": self.case_key(case_id),
            "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in values),
            "ExpressionAttributeNames": {f"#{k}": k for k in values},
            "ExpressionAttributeValues": {f":{k}": v for k, v in values.items()},
        }
        if expected_status is not None:
            kwargs["ConditionExpression"] = "#status = :expected"
            kwargs["ExpressionAttributeNames"]["#status"] = "status"
            kwargs["ExpressionAttributeValues"][":expected"] = expected_status
        self.table.update_item(**kwargs)

    @staticmethod
    def history_item(case_id: str, at: str, *, state: str, actor: str, note: str = "",
                     **extra: Any) -> dict[str, Any]:
        # Sorted by time, then by the clock's nanoseconds within the millisecond, then at random.
        order = f"{time.time_ns() % 1_000_000:06d}{uuid.uuid4().hex[:6]}"
        return {"pk": f"CASE#{case_id}", "sk": f"HIST#{at}#{order}", "case_id": case_id,
                "at": at, "state": state, "actor": actor, "note": note, **extra}

    def append_history(self, case_id: str, *, state: str, actor: str, note: str = "", **extra: Any) -> None:
        self.table.put_item(Item=self.history_item(case_id, now_iso(), state=state, actor=actor, note=note, **extra),
                            ConditionExpression="attribute_not_exists(pk)")

    def join_source(self, case_id: str, *, request_id: str, source: str, entry: Mapping[str, Any]) -> bool:
        """A complaint, concern or privacy request joins the open case: its ``source`` is added to the case's
        ``sources`` and its ``request_id`` to ``source_requests``, with its history entry, in one transaction,
        only while the case is undecided and has not taken that request already. False, writing nothing, when
        either does not hold (the caller reads the case to tell which)."""
        values: dict[str, Any] = {":src": [source], ":empty": [], ":req": {request_id}, ":reqid": request_id,
                                  ":now": now_iso()}
        keys = []
        for i, status in enumerate(UNDECIDED):
            values[f":undecided{i}"] = status
            keys.append(f":undecided{i}")
        change = {
            "Key": self.case_key(case_id),
            "UpdateExpression": "SET #sources = list_append(if_not_exists(#sources, :empty), :src), "
                                "updated_at = :now ADD #requests :req",
            "ConditionExpression": (f"#status IN ({', '.join(keys)}) AND (attribute_not_exists(#requests) "
                                    "OR NOT contains(#requests, :reqid))"),
            "ExpressionAttributeNames": {"#sources": "sources", "#requests": "source_requests", "#status": "status"},
            "ExpressionAttributeValues": values,
        }
        item = self.history_item(case_id, now_iso(), **dict(entry))
        try:
            self.table.meta.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table_name, **change}},
                {"Put": {"TableName": self.table_name, "Item": item,
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException" and _case_condition_failed(exc):
                return False
            raise
        return True

    @staticmethod
    def opened_key(case_id: str, opened_at: str) -> dict[str, str]:
        """The key of a case's ``opened`` history entry (``record_opened``): known from the case alone."""
        return {"pk": f"CASE#{case_id}", "sk": f"HIST#{opened_at}#!opened"}

    def record_opened(self, case: Mapping[str, Any]) -> None:
        """The case's first history entry, at its ``opened_at``; written once however often it is retried."""
        case_id = str(case["case_id"])
        entry = {**self.opened_key(case_id, str(case["opened_at"])), "case_id": case_id,
                 "at": case["opened_at"], "state": "opened", "actor": str(case.get("opened_by") or "accesswatch"),
                 "note": opened_note(case), "finding_ids": list(case.get("finding_ids") or [])[:1000]}
        if case.get("source") not in (None, "detection", "random_review"):
            entry["source"] = case["source"]
        try:
            self.table.put_item(Item=entry, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def transition(self, case_id: str, *, expected: Collection[str], status: str | None = None,
                   attrs: Mapping[str, Any] | None = None, history: Mapping[str, Any] | None = None,
                   guard: tuple[str, Any] | None = None, version: int | None = None,
                   claim_id: str | None = None, remove: Collection[str] = (),
                   equals: Mapping[str, Any] | None = None) -> bool:
        """One state change of a case and its history entry (state, actor, note), in one write.

        The case item moves only while its status is one of ``expected`` (and, with
        ``guard=(attr, value)``, while ``attr`` is not already ``value``); its history entry is put in the
        same transaction (TransactWriteItems: both or neither), so every state change gets exactly one
        history entry and a step costs one read and one write. A case item that still parks an entry as
        ``pending_history`` (written before transitions were transactions) has it appended by
        ``flush_history``.

        With ``claim_id``, the case moves only while its ``claim`` is that one (the person's action recorded is
        the one claimed); ``remove`` names attributes the same update removes (the spent claim); ``equals``:
        attributes that must still hold the values read (an amendment changes only what its person saw).

        Returns False, writing nothing, when the case is not in an expected status or the guard holds.
        """
        at = now_iso()
        values: dict[str, Any] = {**(attrs or {}), "updated_at": at}
        if status is not None:
            values["status"] = status
        entry = self.history_item(case_id, at, **history) if history is not None else None
        names = {f"#{k}": k for k in values}
        names["#status"] = "status"
        placeholders = {f":{k}": v for k, v in values.items()}
        expected_keys = []
        for i, value in enumerate(sorted(expected)):
            placeholders[f":expected{i}"] = value
            expected_keys.append(f":expected{i}")
        condition = f"#status IN ({', '.join(expected_keys)})"
        if guard is not None:
            names["#guard"] = guard[0]
            placeholders[":guard"] = guard[1]
            condition += " AND (attribute_not_exists(#guard) OR #guard <> :guard)"
        if version is not None:  # and no finding joined since the case was read
            names["#version"] = "version"
            placeholders[":version"] = version
            condition += " AND #version = :version"
        if claim_id is not None:
            names["#claim"] = "claim"
            names["#claim_id"] = "claim_id"
            placeholders[":claim_id"] = claim_id
            condition += " AND #claim.#claim_id = :claim_id"
        for i, (attr, value) in enumerate(sorted((equals or {}).items())):
            names[f"#eq{i}"] = attr
            placeholders[f":eq{i}"] = value
            condition += f" AND #eq{i} = :eq{i}"
        update = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
        if remove:
            names.update({f"#{k}": k for k in remove})
            update += " REMOVE " + ", ".join(f"#{k}" for k in remove)
        change = {"Key": self.case_key(case_id), "UpdateExpression": update, "ConditionExpression": condition,
                  "ExpressionAttributeNames": names, "ExpressionAttributeValues": placeholders}
        try:
            if entry is None:
                self.table.update_item(**change)
            else:
                self.table.meta.client.transact_write_items(TransactItems=[
                    {"Update": {"TableName": self.table_name, **change}},
                    {"Put": {"TableName": self.table_name, "Item": entry,
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            if exc.response["Error"]["Code"] == "TransactionCanceledException" and _case_condition_failed(exc):
                return False
            raise
        return True

    # ------------------------------------------------------------------ a person's claim on a waiting step
    def claim_action(self, case_id: str, *, waiting: str, token: str, claim: Mapping[str, Any], now: str) -> bool:
        """Claim the step the case waits on for one person's action (compare-and-set), before its task token
        is sent. Succeeds only while the case waits in ``waiting`` holding ``token`` and no live claim is on
        it: none, one made for another token (a step since taken, rejected or escalated), or one never sent
        whose ``expires_at`` has passed (its CLI died between claim and send). False when another holds it."""
        try:
            self.table.update_item(
                Key=self.case_key(case_id),
                UpdateExpression="SET #claim = :claim",
                ConditionExpression=("#status = :waiting AND #task_token = :token AND (attribute_not_exists(#claim)"
                                     " OR #claim.#token_ref <> :token_ref"
                                     " OR (attribute_not_exists(#claim.#sent_at) AND #claim.#expires_at < :now))"),
                ExpressionAttributeNames={"#claim": "claim", "#status": "status", "#task_token": "task_token",
                                          "#token_ref": "token_ref", "#sent_at": "sent_at",
                                          "#expires_at": "expires_at"},
                ExpressionAttributeValues={":claim": dict(claim), ":waiting": waiting, ":token": token,
                                           ":token_ref": claim["token_ref"], ":now": now},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def mark_claim_sent(self, case_id: str, claim_id: str, at: str) -> bool:
        """The claim's token was sent: from now on the claim never lapses (only a new token ends it). Best
        effort: the action is already in the workflow's hands, so a failure here (throttling) is not the
        person's error; the unmarked claim then only lapses as a crashed one would."""
        try:
            return self._on_claim(case_id, claim_id, "SET #claim.#sent_at = :at", {":at": at},
                                  {"#sent_at": "sent_at"})
        except ClientError:
            return False

    def release_claim(self, case_id: str, claim_id: str) -> bool:
        """Give up a claim whose token was not taken (the send failed): others may act at once."""
        return self._on_claim(case_id, claim_id, "REMOVE #claim", {}, {})

    def _on_claim(self, case_id: str, claim_id: str, update: str, values: dict[str, Any],
                  names: dict[str, str]) -> bool:
        try:
            self.table.update_item(Key=self.case_key(case_id), UpdateExpression=update,
                                   ConditionExpression="#claim.#claim_id = :claim_id",
                                   ExpressionAttributeNames={"#claim": "claim", "#claim_id": "claim_id", **names},
                                   ExpressionAttributeValues={":claim_id": claim_id, **values})
        except ClientError as exc:
            if _conditional_failed(exc):  # the claim is gone (the step recorded or rejected it) or another's
                return False
            raise
        return True

    def flush_history(self, case: Mapping[str, Any]) -> None:
        """Append the history entry a partial state change left parked on the case item, if any."""
        entry = case.get("pending_history")
        if isinstance(entry, Mapping) and entry.get("sk"):
            self.append_pending(str(case["case_id"]), dict(entry))

    def append_pending(self, case_id: str, entry: dict[str, Any]) -> None:
        try:
            self.table.put_item(Item=entry, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            # Already appended (a retry) when the condition fails.
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        try:
            self.table.update_item(Key=self.case_key(case_id), UpdateExpression="REMOVE pending_history",
                                   ConditionExpression="pending_history.sk = :sk",
                                   ExpressionAttributeValues={":sk": entry["sk"]})
        except ClientError as exc:
            # Already cleared, or a later state change parked its own entry.
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def history(self, case_id: str) -> list[dict[str, Any]]:
        """The case's history, oldest first."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(f"CASE#{case_id}") & Key("sk").begins_with("HIST#"),
            "ConsistentRead": True,
        }
        entries: list[dict[str, Any]] = []
        while True:
            page = self.table.query(**kwargs)
            entries.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for entry in entries:
            entry.pop("pk", None)
        return sorted(entries, key=lambda e: e["sk"])

    def cases_with_status(self, status: str) -> Iterator[dict[str, Any]]:
        """Whole case items with this status (the by_status index projects every attribute)."""
        for item in items(self.table.query, IndexName="by_status", KeyConditionExpression=Key("status").eq(status)):
            if item.get("sk") == "CASE":
                yield self._whole(item)

    def ids_with_status(self, statuses: frozenset[str]) -> set[str]:
        """Case ids whose status is one of ``statuses`` (one query of the by_status index each)."""
        found: set[str] = set()
        for status in statuses:
            found.update(i["case_id"] for i in items(self.table.query, IndexName="by_status",
                                                     KeyConditionExpression=Key("status").eq(status),
                                                     ProjectionExpression="case_id") if "case_id" in i)
        return found

    def scan_cases(self, *, opened_from: str | None = None, opened_before: str | None = None
                   ) -> Iterator[dict[str, Any]]:
        """Every case, or those opened at or after ``opened_from`` and before ``opened_before`` (UTC instants in
        the form of ``opened_at``, either open): a whole-table scan, filtered by the service to case items."""
        condition = Attr("sk").eq("CASE")
        if opened_from:
            condition = condition & Attr("opened_at").gte(opened_from)
        if opened_before:
            condition = condition & Attr("opened_at").lt(opened_before)
        for item in items(self.table.scan, FilterExpression=condition):
            if item.get("sk") == "CASE":
                yield self._whole(item)


def opened_note(case: Mapping[str, Any]) -> str:
    if case.get("opened_by"):  # opened by a person from a complaint, a concern or a privacy request
        source = str(case.get("source"))
        words = {"manager_concern": "manager's concern"}.get(source, source.replace("_", " "))
        return (f"opened from a {words}: {case.get('source_note') or ''}; "
                f"{case.get('finding_count', 0)} finding(s) carried from the user's risk ledger")
    why = {"immediate": "an immediate-tier finding", "threshold": "the risk score crossed the threshold",
           "random_review": "drawn for the weekly random review"}.get(str(case.get("trigger")), "detection")
    return (f"opened by {why}: {case.get('finding_count', 0)} finding(s), {len(case.get('client_ids') or [])} "
            f"client(s), score {float(case.get('score') or 0):.2f}")


def split_part(part: str) -> tuple[str, str, str, float]:
    """``finding_id|rule|client_id|score`` -> its four fields."""
    finding_id, rule, client_id, score = part.split("|", 3)
    return finding_id, rule, client_id, float(score)


def _case(item: dict[str, Any]) -> dict[str, Any]:
    case = _plain(item)
    case.pop("pk", None)
    case.pop("sk", None)
    case.pop("part_chunks", None)
    case.pop("part_chunks_key", None)
    parts = [split_part(p) for p in case.get("parts") or []]
    case["finding_ids"] = [p[0] for p in parts]
    case["client_ids"] = sorted({p[2] for p in parts})
    case["rules"] = sorted({p[1] for p in parts})
    case["finding_count"] = len(parts)
    return dict(case)


class TaskTokenSpent(Exception):
    """The task token no longer names a waiting task (completed, timed out, or its execution ended)."""


class TaskNotSent(Exception):
    """Step Functions refused the call for another reason (access, throttling, a bad request): the token
    was not taken."""


_SPENT = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class CaseTasks:
    """Completing the task a waiting case execution holds (``states:SendTaskSuccess``)."""

    def __init__(self, sfn_client: Any) -> None:
        self.sfn = sfn_client

    def complete(self, token: str, output: Mapping[str, Any]) -> None:
        try:
            self.sfn.send_task_success(taskToken=token, output=json.dumps(dict(output)))
        except ClientError as exc:
            error = exc.response["Error"]
            if error["Code"] in _SPENT:
                raise TaskTokenSpent(error["Code"]) from None
            raise TaskNotSent(f"{error.get('Code')}: {error.get('Message', '')}".strip()) from exc

    def execution_status(self, execution_arn: str) -> str | None:
        try:
            return str(self.sfn.describe_execution(executionArn=execution_arn)["status"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise

