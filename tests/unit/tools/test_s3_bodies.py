"""Object bodies kept in files above a small size (tools/accesswatch_tools/embedded/adapters/s3.py,
``bodies_spilled_to_disk``) against moto's ordinary in-memory bodies, on plain moto.

Differential: the same S3 calls (puts small and large, gets whole and ranged, heads, copies, overwrites,
versions, multipart uploads, deletes, and their errors) answer the same with the adapter on and off, the ids
and times each run draws normalised away. And the adapter's own promises: a large body is in a file, a small
one is not, no file descriptor stays open for a spilled body, a deleted body's file is removed, and the body
object answers each operation moto makes on it as a ``SpooledTemporaryFile`` does.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws

from accesswatch_tools.embedded.adapters import s3

REGION = "ap-southeast-2"
ABOVE = 1024  # a small threshold, so that the scenario has bodies on both sides of it

SMALL = b"small body\n" * 10  # 110 bytes: stays in memory
LARGE = bytes(range(256)) * 40  # 10,240 bytes: spilled
PART = b"p" * (5 * 1024 * 1024)  # a multipart upload's first part must be 5 MiB


def _error(call: Any) -> dict[str, Any]:
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        return {"error": exc.response["Error"]["Code"], "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]}
    return {"error": None}


def _body(response: dict[str, Any]) -> dict[str, Any]:
    out = dict(response)
    out["Body"] = response["Body"].read()
    return out


def scenario() -> list[Any]:
    """Every kind of S3 call the system makes on object bodies, and their errors; the answers in order."""
    client = boto3.client("s3", region_name=REGION)
    conf = {"LocationConstraint": REGION}
    client.create_bucket(Bucket="plain", CreateBucketConfiguration=conf)
    client.create_bucket(Bucket="versioned", CreateBucketConfiguration=conf)
    client.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    answers: list[Any] = []
    for bucket in ("plain", "versioned"):
        answers.append(client.put_object(Bucket=bucket, Key="small", Body=SMALL))
        answers.append(client.put_object(Bucket=bucket, Key="large", Body=LARGE, ContentType="application/x"))
        answers.append(client.put_object(Bucket=bucket, Key="empty", Body=b""))
        client.upload_fileobj(io.BytesIO(LARGE * 3), bucket, "streamed")
        for key in ("small", "large", "empty", "streamed"):
            answers.append(_body(client.get_object(Bucket=bucket, Key=key)))
            answers.append(client.head_object(Bucket=bucket, Key=key))
        answers.append(_body(client.get_object(Bucket=bucket, Key="large", Range="bytes=100-5000")))
        answers.append(_body(client.get_object(Bucket=bucket, Key="large", Range="bytes=-10")))
        answers.append(_body(client.get_object(Bucket=bucket, Key="small", Range="bytes=3-")))
        answers.append(_error(lambda b=bucket: client.get_object(Bucket=b, Key="large", Range="bytes=99999-")))
        answers.append(client.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "large"}))
        answers.append(_body(client.get_object(Bucket=bucket, Key="copy")))
        # overwritten: larger to smaller and back
        answers.append(client.put_object(Bucket=bucket, Key="large", Body=SMALL))
        answers.append(_body(client.get_object(Bucket=bucket, Key="large")))
        answers.append(client.put_object(Bucket=bucket, Key="small", Body=LARGE + b"!"))
        answers.append(_body(client.get_object(Bucket=bucket, Key="small")))
        upload = client.create_multipart_upload(Bucket=bucket, Key="multi")
        parts = []
        for number, data in ((1, PART), (2, LARGE)):
            part = client.upload_part(Bucket=bucket, Key="multi", UploadId=upload["UploadId"], PartNumber=number,
                                      Body=data)
            parts.append({"PartNumber": number, "ETag": part["ETag"]})
            answers.append({k: v for k, v in part.items() if k != "ResponseMetadata"})
        answers.append(client.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=upload["UploadId"],
                                                        MultipartUpload={"Parts": parts}))
        multi = _body(client.get_object(Bucket=bucket, Key="multi"))
        assert multi["Body"] == PART + LARGE
        answers.append(multi)
        answers.append(client.delete_object(Bucket=bucket, Key="copy"))
        answers.append(_error(lambda b=bucket: client.get_object(Bucket=b, Key="copy")))
        answers.append(_error(lambda b=bucket: client.head_object(Bucket=b, Key="copy")))
    versions = client.list_object_versions(Bucket="versioned")
    answers.append(versions)
    for version in versions["Versions"]:
        answers.append(_body(client.get_object(Bucket="versioned", Key=version["Key"], VersionId=version["VersionId"])))
    old = next(v for v in versions["Versions"] if v["Key"] == "large" and not v["IsLatest"])
    answers.append(client.delete_object(Bucket="versioned", Key="large", VersionId=old["VersionId"]))
    answers.append(_error(lambda: client.get_object(Bucket="versioned", Key="large", VersionId=old["VersionId"])))
    answers.append(client.list_objects_v2(Bucket="plain"))
    return answers


def _normalised(value: Any, ids: dict[str, str]) -> Any:
    """Request ids, dates and version ids drawn by each run replaced by stand-ins (the same id, the same one)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("ResponseMetadata", "LastModified", "Date"):
                continue
            if key in ("VersionId", "UploadId", "CopySourceVersionId") and isinstance(item, str):
                item = ids.setdefault(item, f"id-{len(ids)}")
            out[key] = _normalised(item, ids)
        return out
    if isinstance(value, list):
        return [_normalised(item, ids) for item in value]
    return value


@contextlib.contextmanager
def _moto(spilled: bool) -> Iterator[str | None]:
    with mock_aws():
        if not spilled:
            yield None
            return
        with s3.bodies_spilled_to_disk(above=ABOVE):
            from moto.s3 import models

            body = models.tempfile.SpooledTemporaryFile(0)
            yield body._directory  # type: ignore[attr-defined]
            body.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_answers_and_errors_are_moto_s() -> None:
    with _moto(spilled=False):
        plain = _normalised(scenario(), {})
    with _moto(spilled=True) as directory:
        assert directory is not None
        spilled = _normalised(scenario(), {})
        assert list(Path(directory).glob("s3-body-*")), "no body was spilled: the scenario does not test the adapter"
    assert spilled == plain


def test_large_bodies_in_files_without_open_descriptors_and_removed_with_their_object() -> None:
    with _moto(spilled=True) as directory:
        assert directory is not None
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
        before = _open_fds()
        for i in range(40):
            client.put_object(Bucket="bucket", Key=f"large/{i}", Body=LARGE + bytes([i]))
        client.put_object(Bucket="bucket", Key="small", Body=SMALL)
        files = sorted(Path(directory).glob("s3-body-*"))
        assert len(files) == 40
        assert sorted(p.read_bytes() for p in files) == sorted(LARGE + bytes([i]) for i in range(40))
        assert _open_fds() - before < 5  # moto's own spooled files held one descriptor each
        assert client.get_object(Bucket="bucket", Key="large/7")["Body"].read() == LARGE + bytes([7])
        for i in range(40):
            client.delete_object(Bucket="bucket", Key=f"large/{i}")
        import gc

        gc.collect()
        assert list(Path(directory).glob("s3-body-*")) == []
    assert not Path(directory).exists()


@pytest.mark.parametrize("max_size", [0, 8, 1 << 20])
def test_body_answers_as_a_spooled_file(max_size: int, tmp_path: Path) -> None:
    """The operations moto makes on a key's buffer, in the same order, on both."""
    ours = s3._SpillingBody(max_size, str(tmp_path))
    theirs = tempfile.SpooledTemporaryFile(max_size)  # noqa: SIM115
    steps: list[tuple[str, tuple[Any, ...]]] = [
        ("write", (b"hello world",)), ("seek", (0,)), ("read", ()), ("seek", (6,)), ("read", (3,)),
        ("read", (100,)), ("seek", (0,)), ("truncate", ()), ("write", (b"x" * 20,)), ("seek", (5,)),
        ("write", (b"YY",)), ("seek", (0,)), ("read", (-1,)), ("seek", (0, io.SEEK_END)), ("tell", ()),
        ("seek", (3,)), ("truncate", ()), ("seek", (0,)), ("read", (None,)), ("seek", (0,)), ("truncate", (1,)),
        ("seek", (0,)), ("read", ()),
    ]
    for name, args in steps:
        assert getattr(ours, name)(*args) == getattr(theirs, name)(*args), (name, args)
    ours.close()
    theirs.close()
    for body in (ours, theirs):
        with pytest.raises(ValueError):
            body.seek(0)
        with pytest.raises(ValueError):
            body.read()
    assert list(tmp_path.iterdir()) == []


def test_bodies_of_ended_processes_removed_by_the_next_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process killed (or a local endpoint ended by ``os._exit``) leaves its directory; the next runtime removes
    it, and never the directory of a runtime still running, whatever its process id says (two containers sharing
    /tmp see different ones): a running runtime holds its directory's lock."""
    import fcntl
    import subprocess
    import sys

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "accesswatch-s3-1-abc"  # its owner took the lock and ended
    alive = tmp_path / "accesswatch-s3-1-def"  # the same process id, but its owner still holds the lock
    other = tmp_path / "accesswatch-s3-notapid"  # no lock file: not a runtime's directory
    for path in (dead, alive, other):
        path.mkdir()
        (path / "s3-body-x").write_bytes(LARGE)
    subprocess.run([sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
                    "fcntl.flock(fd, fcntl.LOCK_EX); os._exit(0)", str(dead / ".owner.lock")], check=True)
    held = os.open(alive / ".owner.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        with _moto(spilled=True) as directory:
            assert directory is not None and Path(directory).parent == tmp_path
            assert not dead.exists()
            assert alive.exists() and other.exists()
            # A second runtime started now leaves the first one's directory alone: its lock is held.
            with s3.bodies_spilled_to_disk(above=ABOVE):
                assert Path(directory).exists()
                assert len(list(tmp_path.glob("accesswatch-s3-*"))) == 4  # alive, other, the first and the second
    finally:
        os.close(held)
    assert not Path(directory).exists()


def test_a_directory_being_made_is_passed_over_and_a_long_unfinished_one_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spill directory takes its name only once its lock is held, so cleanup never takes a directory between its
    making and its locking; one left half made (its process killed then) goes once it is an hour old and unlocked."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    making = tmp_path / ".accesswatch-s3-new-abc"  # being made now: no lock held yet
    old = tmp_path / ".accesswatch-s3-new-def"  # left by a process killed while making it
    for path in (making, old):
        path.mkdir()
        (path / ".owner.lock").touch()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    with s3.bodies_spilled_to_disk(above=ABOVE):
        assert making.exists() and not old.exists()
        made = list(tmp_path.glob("accesswatch-s3-*"))
        assert [p.name.split("-")[2] for p in made] == [str(os.getpid())]
        assert (made[0] / ".owner.lock").exists()
        assert list(tmp_path.glob(".accesswatch-s3-new-*")) == [making]  # the runtime's own took its final name
    assert not made[0].exists()


def test_remove_spilled_bodies_removes_the_running_runtimes_directory(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What a process ending by ``os._exit`` calls first (the local endpoint after a clean stop)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with s3.bodies_spilled_to_disk(above=ABOVE):
        from moto.s3 import models

        body = models.tempfile.SpooledTemporaryFile(0)
        body.write(LARGE)
        directory = Path(body._directory)  # type: ignore[attr-defined]
        assert list(directory.glob("s3-body-*"))
        s3.remove_spilled_bodies()
        assert not directory.exists()
        body.close()
