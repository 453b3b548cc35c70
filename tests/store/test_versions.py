"""Versions and refs in a local workspace: content addressing, sequence numbers, the Dataset
handle, manifests and verification."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pyarrow as pa
import pytest

from datamill.core.errors import ConfigError, NotFoundError, SchemaError
from datamill.store import Workspace


def _table(n: int, *, start: int = 0) -> pa.Table:
    return pa.table({
        "id": [f"r{i}" for i in range(start, start + n)],
        "n": list(range(start, start + n)),
        "text": [None if i % 3 == 0 else f"doc {i}" for i in range(start, start + n)],
    })


def _fake_manifest(version_id: str) -> dict[str, Any]:
    """A minimal manifest for catalog-only tests that need chosen version ids."""
    return {"id": version_id, "schema": {"fields": [{"name": "id"}]}, "num_rows": 0,
            "num_bytes": 0, "shards": []}


# ---------------------------------------------------------------------------- sequence numbers
def test_write_same_content_twice_gives_same_version_and_seq(ws: Workspace) -> None:
    first = ws.write("numbers", _table(5))
    second = ws.write("numbers", _table(5))

    assert second.id == first.id
    assert (first.seq, second.seq) == (1, 1)
    assert [h["seq"] for h in ws.catalog.history("numbers")] == [1]


def test_write_new_content_adds_the_next_seq(ws: Workspace) -> None:
    first = ws.write("numbers", _table(5))
    second = ws.write("numbers", _table(6))
    back_again = ws.write("numbers", _table(5))

    assert second.id != first.id
    assert (first.seq, second.seq, back_again.seq) == (1, 2, 3)
    assert back_again.id == first.id
    assert [h["id"] for h in ws.catalog.history("numbers")] == [first.id, second.id, first.id]


def test_write_same_content_under_two_names_shares_one_version(ws: Workspace) -> None:
    a = ws.write("a", _table(4))
    b = ws.write("b", _table(4))

    assert a.id == b.id
    assert (a.seq, b.seq) == (1, 1)
    assert {d["name"]: d["id"] for d in ws.catalog.datasets()} == {"a": a.id, "b": a.id}


def test_write_rejects_an_invalid_name(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match=r"dataset name 'bad name' is not valid"):
        ws.write("bad name", _table(1))


# ---------------------------------------------------------------------------- refs
def test_open_resolves_every_ref_form(ws: Workspace) -> None:
    v1 = ws.write("numbers", _table(5))
    v2 = ws.write("numbers", _table(7))

    assert ws.open("numbers").id == v2.id
    assert ws.open("numbers@latest").id == v2.id
    assert ws.open("numbers@1").id == v1.id
    assert ws.open("numbers@2").id == v2.id
    assert ws.open(f"numbers@{v1.id[:8]}").id == v1.id
    assert ws.open(f"@{v2.id[:10]}").id == v2.id
    assert ws.open(f"@{v2.id.upper()[:10]}").id == v2.id
    opened = ws.open("numbers@1")
    assert (opened.name, opened.seq) == ("numbers", 1)
    assert opened.ref == f"numbers@{v1.id[:12]}"
    assert ws.open(opened.ref).id == v1.id
    assert ws.resolve(f"@{v1.id[:6]}") == (v1.id, "numbers", 1)


def test_open_unknown_name_suggests_the_closest(ws: Workspace) -> None:
    ws.write("numbers", _table(2))

    with pytest.raises(NotFoundError, match=r"no dataset named 'nmbers'\. Did you mean 'numbers'\?"):
        ws.open("nmbers")
    with pytest.raises(NotFoundError, match=r"no dataset named 'zzz'\. `datamill datasets`"):
        ws.open("zzz")


def test_open_missing_seq_says_which_versions_exist(ws: Workspace) -> None:
    ws.write("numbers", _table(2))
    ws.write("numbers", _table(3))

    with pytest.raises(NotFoundError, match=r"numbers@7 does not exist; 'numbers' has versions 1 to 2"):
        ws.open("numbers@7")


def test_open_unknown_hash_prefix_raises_not_found(ws: Workspace) -> None:
    version = ws.write("numbers", _table(2))
    other = "f" * 8 if not version.id.startswith("ffff") else "e" * 8

    with pytest.raises(NotFoundError, match=rf"no version id starts with '{other}'"):
        ws.open(f"@{other}")
    with pytest.raises(NotFoundError, match=rf"numbers@{other} does not exist"):
        ws.open(f"numbers@{other}")


def test_resolve_ambiguous_hash_prefix_asks_for_more_digits(ws: Workspace) -> None:
    one, two = "abcd1" + "1" * 59, "abcd2" + "2" * 59
    ws.catalog.add_version(_fake_manifest(one), name="x")
    ws.catalog.add_version(_fake_manifest(two), name="x")

    with pytest.raises(NotFoundError, match=r"version prefix 'abcd' is ambiguous; give more hex"):
        ws.resolve("@abcd")
    with pytest.raises(NotFoundError, match=r"x@abcd is ambiguous; give more hex digits"):
        ws.resolve("x@abcd")
    assert ws.resolve("@abcd2") == (two, "x", 2)
    assert ws.resolve("x@abcd1") == (one, "x", 1)


def test_resolve_all_digit_hash_prefix_without_a_name(ws: Workspace) -> None:
    digits = "1234567" + "0" * 57
    ws.catalog.add_version(_fake_manifest(digits), name="x")
    ws.catalog.add_version(_fake_manifest("b" * 64), name="x")

    assert ws.resolve("@1234") == (digits, "x", 1)
    assert ws.resolve("@12345670") == (digits, "x", 1)
    assert ws.resolve("x@1") == (digits, "x", 1)  # with a name, short digits are a seq


def test_open_malformed_refs_raise_config_error(ws: Workspace) -> None:
    ws.write("numbers", _table(1))
    assert ws.open("numbers@").seq == 1  # `name@` means latest

    for bad, pattern in [("numbers@xyz", r"after '@' write a version number"),
                         ("numbers@ab", r"at least 4 hex digits"),
                         ("@3", r"has a sequence number but no name"),
                         ("", r"empty dataset reference"),
                         ("bad name@1", r"dataset name 'bad name' is not valid")]:
        with pytest.raises(ConfigError, match=pattern):
            ws.open(bad)


# ---------------------------------------------------------------------------- the Dataset handle
def test_dataset_handle_reads_back_what_was_written(ws: Workspace) -> None:
    table = _table(1000)
    ws.write("numbers", table, rows_per_shard=300)

    ds = ws.open("numbers")

    assert ds.schema == table.schema
    assert ds.num_rows == len(ds) == 1000
    assert len(ds.shards) == 4
    assert ds.roles == {"id": "id", "text": "text"}
    assert ds.to_arrow().equals(table)
    assert ds.to_arrow(columns=["n"]).column_names == ["n"]
    batches = list(ds.batches(columns=["id", "n"], batch_size=128))
    assert all(b.num_rows <= 128 for b in batches)
    assert all(b.schema.names == ["id", "n"] for b in batches)
    assert sum(b.num_rows for b in batches) == 1000
    assert pa.Table.from_batches(batches).column("n").to_pylist() == list(range(1000))


def test_dataset_converts_to_polars_and_pandas(ws: Workspace) -> None:
    ds = ws.write("numbers", _table(50), rows_per_shard=20)

    frame = ds.to_polars()
    assert frame.shape == (50, 3)
    assert frame["n"].to_list() == list(range(50))
    assert frame["text"].null_count() == 17
    pandas_frame = ds.to_pandas(columns=["id", "n"])
    assert list(pandas_frame.columns) == ["id", "n"]
    assert pandas_frame["n"].sum() == sum(range(50))


def test_dataset_converts_to_hf(ws: Workspace) -> None:
    pytest.importorskip("datasets")  # the `hf` extra
    ds = ws.write("numbers", _table(50), rows_per_shard=20)

    hf = ds.to_hf(columns=["id", "n", "text"])
    assert hf.num_rows == 50
    assert hf.column_names == ["id", "n", "text"]
    assert hf[3] == {"id": "r3", "n": 3, "text": None}
    assert hf[4] == {"id": "r4", "n": 4, "text": "doc 4"}


def test_dataset_unknown_column_raises_schema_error(ws: Workspace) -> None:
    ds = ws.write("numbers", _table(3))

    with pytest.raises(SchemaError, match=r"has no column 'nope'; it has id, n, text"):
        list(ds.batches(columns=["nope"]))


def test_write_empty_table_gives_an_empty_version(ws: Workspace) -> None:
    empty = _table(0)
    ds = ws.write("empty", empty)

    opened = ws.open("empty")
    assert opened.id == ds.id
    assert opened.num_rows == 0
    assert opened.shards == []
    assert opened.to_arrow().schema == empty.schema
    assert ws.verify(ds.id) is None


def test_write_batches_needs_a_schema(ws: Workspace) -> None:
    batches = _table(10).to_batches(max_chunksize=3)
    with pytest.raises(ConfigError, match=r"pass `schema=`"):
        ws.write("b", iter(batches))

    ds = ws.write("b", iter(batches), schema=batches[0].schema)
    assert ds.to_arrow().equals(_table(10))


# ---------------------------------------------------------------------------- manifests
def test_manifest_records_shard_hashes_rows_and_summary(ws: Workspace) -> None:
    ds = ws.write("numbers", _table(100), rows_per_shard=40)

    manifest = ws.manifest(ds.id)
    assert manifest["id"] == ds.id
    assert manifest["num_rows"] == 100
    assert [s["rows"] for s in manifest["shards"]] == [40, 40, 20]
    for shard in manifest["shards"]:
        data = ws.objects.fs.cat_file(ws.objects.path(shard["path"]))
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
        assert len(data) == shard["bytes"]
        assert shard["path"] == f"shards/{shard['sha256'][:2]}/{shard['sha256']}.parquet"
    assert manifest["num_bytes"] == sum(s["bytes"] for s in manifest["shards"])
    assert [f["name"] for f in manifest["schema"]["fields"]] == ["id", "n", "text"]
    summary = manifest["summary"]
    assert summary["n"] == {"nulls": 0, "min": 0, "max": 99}
    assert summary["text"]["nulls"] == 34  # every third row, 0..99
    assert summary["id"]["min"] == "r0"
    assert summary["id"]["max"] == "r99"
    assert ds.summary == summary


def test_version_id_depends_on_content_not_on_time(ws: Workspace, tmp_path_factory: Any) -> None:
    first = ws.write("numbers", _table(10))
    time.sleep(0.01)
    other = Workspace.init(tmp_path_factory.mktemp("other"))
    again = other.write("elsewhere", _table(10))
    other.close()

    assert again.id == first.id
    assert again.manifest["created_at"] != first.manifest["created_at"]


# ---------------------------------------------------------------------------- verify
def test_verify_reports_a_deleted_shard(ws: Workspace) -> None:
    ds = ws.write("numbers", _table(100), rows_per_shard=40)
    assert ws.verify(ds.id) is None
    assert ws.verify(ds.id, deep=True) is None
    gone = ds.shards[1]["path"]

    ws.objects.fs.rm(ws.objects.path(gone))

    assert ws.verify(ds.id) == f"shard {gone} is missing"


def test_verify_deep_reports_a_changed_shard(ws: Workspace) -> None:
    ds = ws.write("numbers", _table(100))
    path = ws.objects.path(ds.shards[0]["path"])
    data = bytearray(ws.objects.fs.cat_file(path))
    data[len(data) // 2] ^= 0xFF
    ws.objects.fs.pipe_file(path, bytes(data))

    assert ws.verify(ds.id) is None  # same size: only a deep check notices
    assert ws.verify(ds.id, deep=True) == f"shard {ds.shards[0]['path']} does not match its hash"


def test_verify_reports_a_missing_manifest(ws: Workspace) -> None:
    ds = ws.write("numbers", _table(3))
    ws.objects.fs.rm(ws.objects.path(f"versions/{ds.id}.json"))

    assert ws.verify(ds.id) == f"manifest versions/{ds.id}.json is missing"
