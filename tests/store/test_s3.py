"""A workspace whose object store is S3 (moto's standalone server)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest

from datamill.store import Workspace

pytestmark = pytest.mark.s3


def _table(n: int, start: int = 0) -> pa.Table:
    rows = range(start, start + n)
    return pa.table({"id": [f"r{i}" for i in rows], "n": list(rows),
                     "text": [f"document {i}" for i in rows]})


def _keys(s3: dict[str, Any]) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=s3["endpoint_url"])
    listing = client.list_objects_v2(Bucket=s3["bucket"], Prefix=s3["prefix"] + "/")
    return {
        obj["Key"][len(s3["prefix"]) + 1:]:
            client.get_object(Bucket=s3["bucket"], Key=obj["Key"])["Body"].read()
        for obj in listing.get("Contents", [])
    }


def test_s3_workspace_writes_reads_and_verifies(tmp_path: Path, s3: dict[str, Any]) -> None:
    ws = Workspace.init(tmp_path, store=s3["store"], storage_options=s3["storage_options"])
    table = _table(500)

    written = ws.write("docs", table, rows_per_shard=200)

    opened = ws.open("docs")
    assert opened.id == written.id
    assert opened.seq == 1
    assert opened.to_arrow().equals(table)
    assert sum(b.num_rows for b in opened.batches(columns=["id"], batch_size=64)) == 500
    assert ws.verify(written.id, deep=True) is None
    assert ws.objects.url == s3["store"]
    assert not ws.objects.is_local
    ws.close()


def test_s3_workspace_puts_shards_and_manifest_in_the_bucket(tmp_path: Path,
                                                            s3: dict[str, Any]) -> None:
    ws = Workspace.init(tmp_path, store=s3["store"], storage_options=s3["storage_options"])
    written = ws.write("docs", _table(500), rows_per_shard=200)
    ws.close()

    objects = _keys(s3)
    shard_keys = {s["path"] for s in written.shards}
    assert len(shard_keys) == 3
    assert shard_keys <= set(objects)
    for shard in written.shards:
        assert hashlib.sha256(objects[shard["path"]]).hexdigest() == shard["sha256"]
    manifest = json.loads(objects[f"versions/{written.id}.json"])
    assert manifest["id"] == written.id
    assert manifest["num_rows"] == 500
    assert not [k for k in objects if k.startswith("tmp/")]  # temp files were moved, not copied
    assert not list((tmp_path / ".datamill").glob("objects*"))  # nothing stored locally


def test_s3_workspace_reopens_from_its_config_and_adds_versions(
        tmp_path: Path, s3: dict[str, Any]) -> None:
    first = Workspace.init(tmp_path, store=s3["store"], storage_options=s3["storage_options"])
    v1 = first.write("docs", _table(10))
    first.close()

    ws = Workspace.find(tmp_path)
    same = ws.write("docs", _table(10))
    v2 = ws.write("docs", _table(10, start=10))

    assert ws.config.storage_options == s3["storage_options"]
    assert (same.id, same.seq) == (v1.id, 1)
    assert v2.seq == 2
    assert ws.open("docs@1").to_arrow().equals(_table(10))
    assert ws.open(f"docs@{v2.id[:8]}").to_arrow()["n"].to_pylist() == list(range(10, 20))
    ws.close()


def test_s3_verify_reports_a_deleted_shard(tmp_path: Path, s3: dict[str, Any]) -> None:
    ws = Workspace.init(tmp_path, store=s3["store"], storage_options=s3["storage_options"])
    written = ws.write("docs", _table(100), rows_per_shard=40)
    gone = written.shards[0]["path"]

    boto3.client("s3", endpoint_url=s3["endpoint_url"]).delete_object(
        Bucket=s3["bucket"], Key=f"{s3['prefix']}/{gone}")

    assert ws.verify(written.id) == f"shard {gone} is missing"
    ws.close()
