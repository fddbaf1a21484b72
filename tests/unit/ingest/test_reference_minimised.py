"""The reference function keeps minimised curated copies and compiles the index from the raw snapshots
(issue #20, item 2), on moto: a versioned raw bucket, the curated bucket and the ledger.

The pair rules still see names, dates of birth and addresses (read from the raw upload the pointer names, at
its version, even after a later put of the same key was rejected), while nothing the function writes to the
curated bucket holds them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import polars as pl
import pytest
from moto import mock_aws

from accesswatch.config import ReferenceSettings
from accesswatch.contract import ReferenceKind
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.models import SourceObject
from accesswatch.reference.index import ReferenceIndex
from accesswatch.reference.minimise import CURATED_FIELDS
from accesswatch.services.reference import RawSnapshotUnavailable, ingest_reference, read_raw_snapshot

STAFF = ("user_id,family_name,given_names,date_of_birth,address,role,team,site,manager_user_id,client_id,status,"
         "start_date,end_date,account_type,ird_number\n"
         "u1,Wihongi,Aroha,1963-02-05,\"2/12 Rata St, Newtown\",Case Manager,Team A,Akl,u2,,active,2020-01-01,,"
         "person,123-456-789\n"
         "u2,Ngata,Hemi,1970-07-07,9 Kauri Rd,Team Leader,Team A,Akl,,,active,2019-01-01,,person,987654321\n")
CLIENTS = ("client_id,family_name,given_names,date_of_birth,address,flags,ird_number\n"
           "000001,WIHONGI,aroha,1963-02-05,Somewhere else 1,,111111111\n"  # u1's own record by name and DOB
           "000002,Tane,Mere,1990-01-01,\"Flat 2, 12 Rata Street, Newtown\",media,222222222\n")  # u1's household
PERSONAL = ("Wihongi", "WIHONGI", "Aroha", "aroha", "Ngata", "Hemi", "Tane", "Mere", "1963-02-05", "1970-07-07",
            "1990-01-01", "Rata", "Kauri", "123-456-789", "987654321", "111111111", "222222222")


@dataclass
class World:
    s3: Any
    store: ObjectStore
    ledger: Ledger
    settings: ReferenceSettings

    def put(self, key: str, text: str) -> dict[str, Any]:
        response = self.s3.put_object(Bucket="raw", Key=key, Body=text.encode())
        source = SourceObject("raw", key, response["ETag"].strip('"'), response["VersionId"])
        return ingest_reference(source, settings=self.settings, store=self.store, ledger=self.ledger,
                                executions=None).as_dict()  # type: ignore[arg-type]  # nothing waits

    def curated(self) -> dict[str, bytes]:
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket="cur").get("Contents", [])]
        return {k: self.s3.get_object(Bucket="cur", Key=k)["Body"].read() for k in keys}

    def index(self) -> ReferenceIndex:
        snapshot_id = self.ledger.current_snapshot_id()
        assert snapshot_id
        return ReferenceIndex.from_bytes(self.store.get_bytes("cur", CuratedLayout.reference_index(snapshot_id)))


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="ap-southeast-2")
        for bucket in ("raw", "cur"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        s3.put_bucket_versioning(Bucket="raw", VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.resource("dynamodb", region_name="ap-southeast-2")
        dynamodb.create_table(  # as template.yaml's LedgerTable
            TableName="ledger", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "status", "updated_at")],
            GlobalSecondaryIndexes=[{"IndexName": "by_status", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                                                   {"AttributeName": "updated_at", "KeyType": "RANGE"}]}],
            BillingMode="PAY_PER_REQUEST")
        settings = ReferenceSettings(raw_bucket="raw", curated_bucket="cur", findings_table="f", cases_table="c",
                                     ledger_table="ledger", idempotency_table="i", max_decompressed_mib=10,
                                     detection_state_machine_arn="arn:aws:states:ap-southeast-2:1:stateMachine:d")
        yield World(s3, ObjectStore(s3), Ledger("ledger", dynamodb), settings)


def pairs(index: ReferenceIndex, rule: str) -> set[tuple[str, str]]:
    return set(index.conflicts_for(rule).select("user_id", "client_id").iter_rows())


def test_the_index_sees_names_and_addresses_while_the_curated_bucket_holds_none(world: World):
    world.put("reference/staff.csv", STAFF)
    assert world.put("reference/clients.csv", CLIENTS)["snapshot_id"]
    index = world.index()
    assert pairs(index, "SELF_RECORD") == {("u1", "000001")}  # same name and date of birth
    assert pairs(index, "HOUSEHOLD_RECORD") == {("u1", "000002")}  # the same normalised address

    objects = world.curated()
    for key, body in objects.items():
        text = body.decode("latin-1")  # Parquet and the index are compressed: their cells are checked below
        assert not [p for p in PERSONAL if p in text], key
    for kind in (ReferenceKind.STAFF, ReferenceKind.CLIENTS):
        (key,) = [k for k in objects if k.startswith(f"reference/snapshots/{kind.value}/")]
        frame = pl.read_parquet(io.BytesIO(objects[key]))
        assert frame.columns == list(CURATED_FIELDS[kind])
        assert not [v for c in frame.columns for v in frame[c].drop_nulls() if v in PERSONAL]
    for name in ("persons", "conflicts", "owners", "assignments", "watchlist"):
        table = getattr(index, name)
        assert not [v for c, t in table.schema.items() if t == pl.String for v in table[c].drop_nulls()
                    if any(p in v for p in PERSONAL)], name
    (report_key,) = [k for k in objects if k.startswith("reference/reports/staff/")]
    curated = json.loads(objects[report_key])["curated"]
    assert curated["dropped_unknown_columns"] == ["ird_number"]


def test_the_compile_reads_the_current_put_at_its_version_after_a_rejected_put_of_the_same_key(world: World):
    world.put("reference/staff.csv", STAFF)
    world.put("reference/clients.csv", CLIENTS)
    rejected = world.put("reference/staff.csv", "")  # an empty file: rejected, the first put stays current
    assert rejected["status"] == "rejected"
    # A new clients put compiles a new index: staff comes from the first staff put, not the key's latest.
    world.put("reference/clients.csv", CLIENTS + "000003,Ngata,Hemi,1970-07-07,elsewhere,,333333333\n")
    index = world.index()
    assert pairs(index, "SELF_RECORD") == {("u1", "000001"), ("u2", "000003")}
    assert pairs(index, "HOUSEHOLD_RECORD") == {("u1", "000002")}


def test_a_raw_snapshot_that_no_longer_reads_is_named_in_one_line(world: World):
    with pytest.raises(RawSnapshotUnavailable, match="names no raw object"):
        read_raw_snapshot(world.store, {"digest": "d1"}, ReferenceKind.STAFF, default_bucket="raw",
                          max_decompressed_bytes=10**6)
    world.s3.put_object(Bucket="raw", Key="reference/staff.csv", Body=b"")
    with pytest.raises(RawSnapshotUnavailable, match=r"reference/staff.csv .* no longer reads: empty file"):
        read_raw_snapshot(world.store, {"digest": "d1", "source_key": "reference/staff.csv"}, ReferenceKind.STAFF,
                          default_bucket="raw", max_decompressed_bytes=10**6)


def test_a_snapshot_whose_file_lacks_a_key_column_is_unusable_with_a_clear_reason() -> None:
    """A staff CSV without its user_id column used to pass: the reader added the column as nulls before
    validation looked for it."""
    from accesswatch.contract import REFERENCE_FIELDS, ReferenceKind
    from accesswatch.ingest.pipeline import read_table
    from accesswatch.reference.validate import validate_snapshot

    fields = REFERENCE_FIELDS[ReferenceKind.STAFF]
    header = [f for f in fields if f != "user_id"]
    body = ",".join(header) + "\n" + ",".join("x" if f in ("role", "team") else "" for f in header) + "\n"
    table = read_table([body.encode()], key="reference/staff.csv", fields=fields, max_decompressed_bytes=1 << 20)
    assert "user_id" in table.absent
    report = validate_snapshot(ReferenceKind.STAFF, table.rows, absent=table.absent)
    assert not report.usable
    assert any(i.code == "missing_column" and i.column == "user_id" and i.level == "error" for i in report.issues)
    # A column blank on every row that is not a key stays a blank value, not a missing column.
    assert not any(i.code == "missing_column" and i.column == "client_id" for i in report.issues)
