"""read.sql on a real SQLite file and on the real PostgreSQL of the suite: types, streaming, errors."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sqlite3
import tempfile
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamill import Pipeline
from datamill.core.errors import ConfigError, NotFoundError, SchemaError
from datamill.ingest import SqlReader
from datamill.pipeline import resolve_step
from datamill.pipeline.step import StepContext
from datamill.store import Workspace
from datamill.testing import StepResult, run_step

PASSWORD_VAR = "DATAMILL_TEST_SQL_PASSWORD"


def sqlite_db(path: Path, schema: str, rows: Sequence[tuple[Any, ...]] = ()) -> str:
    """A SQLite file holding one table ``t``; returns its URL."""
    with sqlite3.connect(path) as conn:
        conn.execute(f"create table t ({schema})")
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"insert into t values ({marks})", rows)
    conn.close()
    return f"sqlite:///{path}"


def quarantined(result: StepResult) -> list[dict[str, Any]]:
    return result.quarantine.select(["id", "reason", "error", "row"]).to_pylist()


@pytest.fixture
def shop(tmp_path: Path) -> str:
    return sqlite_db(
        tmp_path / "shop.db",
        "id integer primary key, name text, price numeric(10, 2), born date, seen datetime, "
        "active boolean, tags json, photo blob, visits int",
        [
            (3, "Zoë ünïcödé 🎉", 12.5, "1815-12-10", "2024-01-02 03:04:05.123456", 1, '["a", "b"]', b"\x00\xff", 7),
            (1, "Ada", None, None, None, 0, None, None, None),
            (2, None, 0.25, "2024-02-29", "2024-02-29T23:59:59", None, "{}", b"", -1),
        ],
    )


# ---------------------------------------------------------------------------- SQLite
def test_sql_reader_reads_a_table_with_declared_types_nulls_and_unicode(shop: str) -> None:
    result = run_step(SqlReader(url=shop, table="t"))

    out = result.output
    assert out.schema.field("price").type == pa.decimal128(10, 2)
    assert out.schema.field("born").type == pa.date32()
    assert out.schema.field("seen").type == pa.timestamp("us")
    assert out.schema.field("active").type == pa.bool_()
    assert out.schema.field("photo").type == pa.binary()
    assert out.schema.field("visits").type == pa.int64()
    rows = out.to_pylist()
    # Ordered by the primary key, whatever order the rows were inserted in.
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert rows[2]["name"] == "Zoë ünïcödé 🎉" and rows[0]["price"] is None
    assert rows[2]["price"] == decimal.Decimal("12.50") and rows[1]["born"] == dt.date(2024, 2, 29)
    assert rows[2]["seen"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert rows[2]["tags"] == '["a", "b"]' and rows[2]["photo"] == b"\x00\xff" and rows[1]["photo"] == b""
    assert rows[0]["source"].endswith("shop.db#table=t")
    assert result.ledger.balanced and result.ledger.rows_out == 3


def test_sql_reader_reads_a_query_with_ids_made_from_its_hash(shop: str) -> None:
    query = "select name, 'a:b' as colon, '50%' as pct, visits * 2 as twice from t order by id"

    result = run_step(SqlReader(url=shop, query=query, batch_rows=2))

    ids = result.output["id"].to_pylist()
    assert ids[0].startswith("query-") and [i.rsplit(":", 1)[1] for i in ids] == ["0", "1", "2"]
    # `:b` and `%` are the database's SQL, not parameters.
    assert result.output["colon"].to_pylist() == ["a:b"] * 3 and result.output["pct"].to_pylist() == ["50%"] * 3
    assert result.output["twice"].to_pylist() == [None, -2, 14]
    assert result.output["source"][0].as_py().endswith("#query=" + ids[0].split(":")[0].removeprefix("query-"))
    assert [b.num_rows for b in result.output.to_batches()] == [2, 1]
    assert result.ledger.balanced


def test_sql_reader_quarantines_rows_whose_values_do_not_convert(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "d.db", "id integer primary key, n int, day date, name text",
                    [(1, 5, "2024-01-01", "ok"), (2, "five", "2024-01-02", "word in an int column"),
                     (3, 7, "yesterday", "bad date"), (4, 8, "2024-01-04", "ok too")])

    result = run_step(SqlReader(url=url, table="t"))

    assert result.output["id"].to_pylist() == ["1", "4"]
    bad = {q["id"]: q for q in quarantined(result)}
    assert set(bad) == {"2", "3"} and {q["reason"] for q in bad.values()} == {"bad_value"}
    assert "column 'n': 'five' does not convert to int64" in bad["2"]["error"]
    assert "column 'day': 'yesterday' does not convert to date32" in bad["3"]["error"]
    assert json.loads(bad["3"]["row"])["row_index"] == 2
    assert result.ledger.balanced and result.ledger.quarantined == {"bad_value": 2}


def test_sql_reader_quarantines_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    url = sqlite_db(path, "id integer primary key, name text")
    with sqlite3.connect(path) as conn:  # SQLite stores whatever bytes it is given as TEXT
        conn.execute("insert into t values (1, cast(x'6f6b' as text)), (2, cast(x'fffe41' as text))")
    conn.close()

    result = run_step(SqlReader(url=url, table="t"))

    assert result.output["name"].to_pylist() == ["ok"]
    [bad] = quarantined(result)
    assert bad["id"] == "2" and bad["reason"] == "bad_value" and "column 'name'" in bad["error"]
    assert result.ledger.balanced


def test_sql_reader_quarantines_rows_without_an_id(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "d.db", "key text, v int", [("a", 1), (None, 2), ("", 3), ("d", 4)])

    result = run_step(SqlReader(url=url, query="select * from t", id_column="key"))

    assert result.output["id"].to_pylist() == ["a", "d"] and "key" not in result.output.column_names
    assert [q["reason"] for q in quarantined(result)] == ["missing_id", "missing_id"]
    assert "the id column `key` is null or empty" in quarantined(result)[0]["error"]
    assert result.ledger.balanced


def test_sql_reader_infers_a_query_column_from_its_first_batch(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "d.db", "v", [(1,), (2,), (3.5,), ("text",), (None,)])

    result = run_step(SqlReader(url=url, query="select v from t order by rowid", batch_rows=2))

    # The first batch says int64: a float and a word later do not convert and are quarantined.
    assert result.output.schema.field("v").type == pa.int64()
    assert result.output["v"].to_pylist() == [1, 2, None]
    assert [q["reason"] for q in quarantined(result)] == ["bad_value", "bad_value"]
    assert result.ledger.balanced and result.ledger.rows_in == 5


def test_sql_reader_gives_an_empty_result_its_columns(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "d.db", "id integer primary key, price real")

    result = run_step(SqlReader(url=url, table="t"))

    assert result.output.num_rows == 0
    assert result.output.schema.field("price").type == pa.float64()
    assert result.ledger.balanced


@pytest.mark.slow
def test_sql_reader_streams_a_large_table_in_bounded_batches(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    url = sqlite_db(path, "id integer primary key, text text", [(i, f"row {i} " + "x" * 100) for i in range(200_000)])
    step = SqlReader(url=url, table="t", batch_rows=20_000)
    ctx = StepContext(step_id="read.sql")

    tracemalloc.start()
    try:
        sizes = [batch.num_rows for batch in step.read(step.partitions()[0], ctx)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert sizes == [20_000] * 10
    # All 200k rows as Python objects take about 60 MiB; one batch at a time, a fraction.
    assert peak < 25 * (1 << 20)
    assert ctx.ledger.quarantined == {}


def test_sql_reader_names_the_sqlite_file_as_its_input(shop: str) -> None:
    pieces = SqlReader(url=shop, table="t").partitions()

    assert pieces == [{"path": shop.removeprefix("sqlite:///")}]


def test_sql_reader_resolves_a_relative_sqlite_path_when_built(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = Path(shop.removeprefix("sqlite:///")).parent
    monkeypatch.chdir(folder)

    step = SqlReader(url="sqlite:///shop.db", table="t")

    assert step.config.url == shop


def test_sql_reader_reads_partitions_of_a_numeric_column(tmp_path: Path) -> None:
    rows = [(i, i % 7 if i % 10 else None, f"r{i}") for i in range(100)]
    url = sqlite_db(tmp_path / "d.db", "id integer primary key, k int, v text", rows)

    step = SqlReader(url=url, query="select * from t", partition_column="k", num_partitions=3)
    pieces = step.partitions()
    result = run_step(step)

    assert len(pieces) == 4 and pieces[-1]["nulls"] is True
    assert sorted(result.output["id"].to_pylist(), key=int) == [str(i) for i in range(100)]
    assert result.ledger.balanced


def test_sql_reader_partitions_need_an_id(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "d.db", "k int, v text", [(1, "a"), (2, "b")])

    with pytest.raises(SchemaError, match=r"reading in partitions needs a stable id: set `id_column`"):
        run_step(SqlReader(url=url, table="t", partition_column="k", num_partitions=2))


# ---------------------------------------------------------------------------- errors
def test_sql_reader_names_a_bad_query(shop: str) -> None:
    with pytest.raises(ConfigError, match=r"step 'read.sql': the query failed on 'sqlite:///.*shop.db' "
                                          r"\(OperationalError: near \"selec\": syntax error\)\. Fix the SQL"):
        run_step(SqlReader(url=shop, query="selec * from t"))


def test_sql_reader_suggests_the_table_it_did_not_find(shop: str) -> None:
    with pytest.raises(NotFoundError, match=r"no table 'tt' in 'sqlite:///.*shop.db'. Did you mean 't'\?"):
        run_step(SqlReader(url=shop, table="tt"))


def test_sql_reader_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"the SQLite database '.*nope.db' does not exist"):
        run_step(SqlReader(url=f"sqlite:///{tmp_path / 'nope.db'}", table="t"))
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"query": "select 1", "table": "t"}, r"give `query` \(SQL to run\) or `table`"),
        ({}, r"give `query` \(SQL to run\) or `table`"),
        ({"query": "  "}, r"`query` is empty"),
        ({"table": "t", "num_partitions": 4}, r"`num_partitions` is 4 but no `partition_column` is set"),
    ],
)
def test_sql_reader_config_errors_say_what_to_do(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SqlReader(url="sqlite:///x.db", **options)


def test_sql_reader_refuses_a_password_written_in_the_url_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        SqlReader(url="postgresql+psycopg://bob:S3cr3tPW@db.example/shop", table="t")

    message = str(caught.value)
    assert "S3cr3tPW" not in message and "bob:***@db.example" in message
    assert "Write `${VAR}` in its place" in message


def test_sql_reader_says_which_variable_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAMILL_NO_SUCH_VAR", raising=False)

    with pytest.raises(ConfigError, match=r"`url` uses `\$\{DATAMILL_NO_SUCH_VAR\}`, but the environment variable"):
        SqlReader(url="postgresql+psycopg://bob:${DATAMILL_NO_SUCH_VAR}@h/db", table="t")


def test_sql_reader_hides_the_password_when_the_server_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_VAR, "S3cr3t/With@Odd:chars")
    step = SqlReader(url=f"postgresql+psycopg://bob:${{{PASSWORD_VAR}}}@127.0.0.1:1/shop", table="t")

    with pytest.raises(ConfigError) as caught:
        step.partitions()  # nothing listens on port 1

    message = str(caught.value)
    assert "cannot connect to 'postgresql+psycopg://bob:***@127.0.0.1:1/shop'" in message
    assert "S3cr3t" not in message and "Check the host, port" in message


def test_sql_reader_rejects_an_unknown_dialect() -> None:
    with pytest.raises(ConfigError, match=r"cannot use 'nosuchdb://h/x'.*Check the dialect and driver"):
        SqlReader(url="nosuchdb://h/x", table="t").partitions()


# ---------------------------------------------------------------------------- any values
VALUES = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=20),
                   st.binary(max_size=10), st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.tuples(VALUES, VALUES), max_size=30), batch_rows=st.integers(1, 8))
def test_sql_reader_accounts_for_every_row_of_any_values(values: list[tuple[Any, Any]], batch_rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = sqlite_db(Path(folder) / "d.db", "a, b int", values)

        result = run_step(SqlReader(url=url, query="select a, b from t order by rowid", batch_rows=batch_rows))

    assert result.ledger.rows_in == len(values)
    assert result.ledger.balanced
    assert set(result.ledger.quarantined) <= {"bad_value"}


# ---------------------------------------------------------------------------- PostgreSQL
@pytest.fixture
def pg(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, sa.Engine]]:
    """The test database's URL with its password as ``${VAR}``, and an engine to fill it."""
    url = sa.engine.make_url(pg_url)
    monkeypatch.setenv(PASSWORD_VAR, str(url.password or ""))
    with_var = pg_url.replace(f":{url.password}@", f":${{{PASSWORD_VAR}}}@") if url.password else pg_url
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    yield with_var, engine
    engine.dispose()


def test_sql_reader_maps_postgres_types(pg: tuple[str, sa.Engine]) -> None:
    url, engine = pg
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "create table t (id serial primary key, name text, price numeric(10,2), ratio numeric, "
            "at timestamptz, naive timestamp, day date, clock time, span interval, raw bytea, doc jsonb, "
            "nums int[], key uuid, ok boolean, big bigint, f real)")
        conn.exec_driver_sql(
            "insert into t (name, price, ratio, at, naive, day, clock, span, raw, doc, nums, key, ok, big, f) "
            "values ('Zoë 🎉', 12.34, 1.23456789, '2024-01-02 03:04:05+02', '2024-01-02 03:04:05', "
            "'2024-01-02', '10:11:12', '1 day 2 hours', '\\x00ff', '{\"a\": [1, 2]}', '{1,2}', "
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, 9007199254740993, 1.5), "
            "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")

    result = run_step(SqlReader(url=url, table="t"))

    schema = result.output.schema
    assert schema.field("price").type == pa.decimal128(10, 2)
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("span").type == pa.duration("us") and schema.field("clock").type == pa.time64("us")
    first, second = result.output.to_pylist()
    assert first["name"] == "Zoë 🎉" and first["price"] == decimal.Decimal("12.34")
    assert first["ratio"] == decimal.Decimal("1.23456789")
    assert first["at"] == dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    assert first["span"] == dt.timedelta(days=1, hours=2) and first["raw"] == b"\x00\xff"
    assert json.loads(first["doc"]) == {"a": [1, 2]} and json.loads(first["nums"]) == [1, 2]
    assert uuid.UUID(first["key"]).version == 4 and first["big"] == 9007199254740993
    assert all(value is None for key, value in second.items() if key not in ("id", "source"))
    assert ":***@" in first["source"] and first["source"].endswith("#table=t")
    assert result.ledger.balanced


@pytest.mark.slow
def test_sql_reader_streams_postgres_through_a_server_side_cursor(pg: tuple[str, sa.Engine]) -> None:
    url, engine = pg
    with engine.begin() as conn:
        conn.exec_driver_sql("create table big as select g as id, 'row ' || g as text "
                             "from generate_series(1, 200000) g")
    step = SqlReader(url=url, query="select * from big order by id", batch_rows=50_000)
    ctx = StepContext(step_id="read.sql")
    batches = step.read(step.partitions()[0], ctx)

    first = next(batches)
    with engine.connect() as conn:  # what the reading session is doing now
        running = conn.exec_driver_sql(
            "select query from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        ).scalars().all()
    rest = [b.num_rows for b in batches]

    assert first.num_rows == 50_000 and rest == [50_000] * 3
    # The rows come 50,000 at a time from a declared cursor, not all at once.
    assert any(q.lstrip().upper().startswith("FETCH FORWARD") for q in running), running
    assert ctx.ledger.quarantined == {}


def test_sql_reader_bad_postgres_query_names_the_step(pg: tuple[str, sa.Engine]) -> None:
    url, _ = pg
    with pytest.raises(ConfigError, match=r"step 'read.sql': the query failed on .*:\*\*\*@.*UndefinedTable"):
        run_step(SqlReader(url=url, query="select * from no_such_table"))


def test_sql_reader_wrong_postgres_password_is_hidden(
    pg: tuple[str, sa.Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = pg
    monkeypatch.setenv(PASSWORD_VAR, "Wr0ngPassw0rd")

    with pytest.raises(ConfigError) as caught:
        run_step(SqlReader(url=url, table="t"))

    message = str(caught.value)
    assert "password authentication failed" in message and "Wr0ngPassw0rd" not in message
    assert ":***@" in message


# ---------------------------------------------------------------------------- the docs' examples
DOC = Path(__file__).resolve().parents[2] / "docs" / "readers-sql-archives.md"


def _yaml_blocks() -> list[dict[str, Any]]:
    text = DOC.read_text()
    return [yaml.safe_load(block.split("```", 1)[0]) for block in text.split("```yaml\n")[1:]]


def test_the_documented_sql_pipeline_runs_as_written(ws: Workspace, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        conn.execute("create table customers (id integer primary key, country text)")
        conn.execute("create table orders (id integer primary key, customer_id int, placed_at datetime, "
                     "total numeric(10, 2))")
        conn.executemany("insert into customers values (?, ?)", [(1, "FR"), (2, "JP")])
        conn.executemany("insert into orders values (?, ?, ?, ?)",
                         [(1, 1, "2023-12-31 23:00:00", 5), (2, 2, "2024-01-02 10:00:00", 12.5),
                          (3, 1, "2024-03-04 05:06:07", 7.25)])
    conn.close()
    [spec] = [b for b in _yaml_blocks() if b.get("name") == "shop"]

    result = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)

    orders = ws.open("orders").to_arrow()
    assert result.step("orders").rows_out == 2
    assert orders["id"].to_pylist() == ["2", "3"] and orders["country"].to_pylist() == ["JP", "FR"]
    # A query's types come from its values: SQLite gives floats for NUMERIC and text for dates.
    assert orders.schema.field("total").type == pa.float64()
    assert orders["placed_at"].to_pylist() == ["2024-01-02 10:00:00", "2024-03-04 05:06:07"]


def test_the_documented_archive_steps_are_valid_configs(tmp_path: Path) -> None:
    [block] = [b for b in _yaml_blocks() if "name" not in b]

    steps = [resolve_step(s["uses"])(s["with"]) for s in block["steps"]]

    assert [s.config.max_compression_ratio for s in steps] == [500, 200]
    assert [s.config.max_decompressed_bytes for s in steps] == [8 * (1 << 30), 1 << 30]
