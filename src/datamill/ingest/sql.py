"""``read.sql``: the rows of a query or a table of any SQLAlchemy database, streamed in batches.

How it reads, and why:

- Rows stream through a server-side cursor (SQLAlchemy ``yield_per``: PostgreSQL declares a
  cursor and fetches ``batch_rows`` at a time; SQLite steps through the result), so memory
  holds one batch, never the whole result.
- The query runs as the database's own SQL (``:name`` and ``%`` are literal, not parameters).
  A ``table`` is read whole, ordered by its primary key when it has one, so row numbers and
  the output version are stable.
- Column types: a ``table``'s declared types map to Arrow (integers → int64, floats → float64,
  ``NUMERIC(p, s)`` → decimal128(p, s), ``TIMESTAMP WITH TIME ZONE`` → timestamp[us, UTC],
  dates, times, intervals, bytes → binary, JSON and arrays → JSON text, UUID and text →
  string). A query's types (and a column whose type does not map) come from the values of the
  first batch. A value that does not convert to its column's type quarantines its row
  (``bad_value``), not the run; so do text that is not valid UTF-8 and a null or empty id
  (``missing_id``).
- ``id`` is the ``id_column`` (or a column named ``id``) as a string, else
  ``<table>:<row>`` / ``query-<sha256 of the query, 12 hex>:<row>`` with the row's 0-based
  index. ``source`` is the URL with its password hidden, plus ``#table=<name>`` or
  ``#query=<hash>``.
- ``${VAR}`` in the URL is read from the environment when the step runs, so the password
  stays out of the pipeline file and the run record; a password written in the URL is
  refused for that reason. Error messages show the URL with the password hidden.
- A SQLite database file is the step's input file: its content hash feeds the cache key and
  the lineage, so a changed database is read again. A server database has no such hash: the
  step's output is cached by its config.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import math
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from pydantic import Field, field_validator

from datamill.core.columns import ID, SOURCE
from datamill.core.env import ENV_VAR, expand_env
from datamill.core.errors import ConfigError, NotFoundError, SchemaError, did_you_mean
from datamill.ingest._files import QUARANTINE_CHUNK, unique_name
from datamill.pipeline import base_dir
from datamill.pipeline.registry import register
from datamill.pipeline.step import Source, StepConfig, StepContext
from datamill.store.db import hide_password

__all__ = ["SqlReader", "SqlReaderConfig", "arrow_type_of", "is_database_url"]

_CONVERT_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError,
                   OverflowError)
# Values shown in an error message are cut to this many characters.
_SHOWN = 80


class SqlReaderConfig(StepConfig):
    """Options of ``read.sql``."""

    url: str = Field(
        description="SQLAlchemy database URL, e.g. `sqlite:///shop.db` (relative to the pipeline's "
        "folder) or `postgresql+psycopg://bob:${PGPASSWORD}@db.example/shop`. `${VAR}` is read from "
        "the environment when the step runs; a password written in the URL is refused (the run "
        "record keeps the config): use `${VAR}`, or leave it out and let the driver find it "
        "(PGPASSWORD, ~/.pgpass).",
    )
    query: str | None = Field(None, description="SQL query to read; give this or `table`.")
    table: str | None = Field(
        None, description="Table (or view) to read whole, `name` or `schema.name`; give this or `query`."
    )
    batch_rows: int = Field(65_536, ge=1, description="Rows fetched, and given out, per batch.")
    id_column: str | None = Field(
        None,
        description="Column to use as `id` (cast to string; a row where it is null or empty is "
        "quarantined as missing_id). Default: a column named `id` when the result has one, else "
        "`<table>:<row>` or `query-<hash>:<row>`.",
    )
    source_column: bool = Field(
        True, description="Add a `source` column: the URL (password hidden) and the table or query hash."
    )
    partition_column: str | None = Field(
        None,
        description="Numeric column to split the read into `num_partitions` ranges of values, read "
        "in parallel (rows where it is null are one more partition). Needs an id column.",
    )
    num_partitions: int = Field(1, ge=1, description="How many value ranges of `partition_column` to read.")

    @field_validator("url")
    @classmethod
    def _absolute_sqlite_path(cls, value: str) -> str:
        # Resolved once, here: workers in other processes (or other directories) then agree.
        if ENV_VAR.search(value) or not value.lower().startswith("sqlite"):
            return value
        try:
            url = sa.engine.make_url(value)
        except Exception:  # reported with the step's name when the step is built
            return value
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:") or os.path.isabs(database):
            return value
        path = os.path.normpath(os.path.join(base_dir(), os.path.expanduser(database)))
        return url.set(database=path).render_as_string(hide_password=False)


def is_database_url(text: str) -> bool:
    """Whether ``text`` is a URL of a database SQLAlchemy knows (rather than a file URL).

    >>> is_database_url("sqlite:///shop.db"), is_database_url("s3://bucket/a.csv"), is_database_url("a.csv")
    (True, False, False)
    """
    if "://" not in text:
        return False
    try:
        sa.engine.make_url(text).get_dialect()
    except Exception:  # not a URL, or no dialect of that name: a file URL
        return False
    return True


def arrow_type_of(sql_type: sa.types.TypeEngine[Any]) -> pa.DataType | None:
    """The Arrow type for a column's SQL type, or None when the values must tell.

    >>> arrow_type_of(sa.Numeric(10, 2)), arrow_type_of(sa.DateTime(timezone=True))
    (Decimal128Type(decimal128(10, 2)), TimestampType(timestamp[us, tz=UTC]))
    >>> arrow_type_of(sa.JSON()), arrow_type_of(sa.Numeric()) is None
    (DataType(string), True)
    """
    if _is_json(sql_type):
        return pa.string()
    try:
        python = sql_type.python_type
    except NotImplementedError:
        return None
    if python is bool:
        return pa.bool_()
    if python is int:
        return pa.int64()
    if python is float:
        return pa.float64()
    if python is decimal.Decimal:
        precision = getattr(sql_type, "precision", None)
        scale = getattr(sql_type, "scale", None) or 0
        return pa.decimal128(precision, scale) if precision and precision <= 38 else None
    if python is datetime:
        return pa.timestamp("us", tz="UTC" if getattr(sql_type, "timezone", False) else None)
    if python is date:
        return pa.date32()
    if python is time:
        return pa.time64("us")
    if python is timedelta:
        return pa.duration("us")
    if python is bytes:
        return pa.binary()
    if python in (str, dict, list, uuid.UUID):
        return pa.string()
    return None


def _is_json(sql_type: sa.types.TypeEngine[Any]) -> bool:
    if isinstance(sql_type, sa.JSON):
        return True
    try:
        return sql_type.python_type in (dict, list)
    except NotImplementedError:
        return False


def _has_literal_password(url: str) -> bool:
    try:
        password = sa.engine.make_url(url).password
    except Exception:  # checked again with the ${VAR}s filled in, when the step connects
        return False
    return bool(password) and bool(ENV_VAR.sub("", str(password)))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _safe(value: Any) -> Any:
    """A value fit for a quarantine record (JSON, valid UTF-8)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return {"bytes": len(raw), "head": raw[:32].hex()}
    return value


def _text(value: Any, as_json: bool) -> str | None:
    """A value stored in a string column: JSON text for structures, ``str`` for scalars."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8")  # UnicodeDecodeError: the row is quarantined
    if as_json or isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return str(value)


def _infer(values: Sequence[Any]) -> tuple[pa.DataType, bool]:
    """A column's type from its first batch of values, and whether it holds JSON text."""
    present = [v for v in values if v is not None]
    if not present:
        return pa.string(), False
    if any(isinstance(v, (dict, list, tuple)) for v in present):
        return pa.string(), True
    if any(isinstance(v, uuid.UUID) for v in present):
        return pa.string(), False
    try:
        found = pa.array(present).type
    except (*_CONVERT_ERRORS, UnicodeError):  # mixed kinds of value: keep them as text
        return pa.string(), False
    if pa.types.is_integer(found):
        return pa.int64(), False
    if pa.types.is_floating(found):
        return pa.float64(), False
    if pa.types.is_decimal(found):
        scale = found.scale
        return (pa.decimal128(38, scale), False) if found.precision <= 38 and 0 <= scale <= 38 else (pa.string(), False)
    if pa.types.is_timestamp(found):
        return pa.timestamp("us", tz="UTC" if found.tz else None), False
    if pa.types.is_time(found):
        return pa.time64("us"), False
    if pa.types.is_duration(found):
        return pa.duration("us"), False
    if pa.types.is_date(found):
        return pa.date32(), False
    if pa.types.is_binary(found) or pa.types.is_large_binary(found):
        return pa.binary(), False
    if pa.types.is_boolean(found):
        return pa.bool_(), False
    return pa.string(), False


def _convert_all(values: Sequence[Any], target: pa.DataType, as_json: bool) -> pa.Array:
    """Convert values to ``target``; raises when one of them does not convert without loss."""
    if target == pa.string():
        return pa.array([_text(v, as_json) for v in values], pa.string())
    if target == pa.binary():
        return pa.array([v if v is None or isinstance(v, bytes) else _to_bytes(v) for v in values], pa.binary())
    # Arrow's own type for the values, then a safe cast: `pa.array(values, type=int64)` would
    # truncate 3.5 to 3 without a word. The cast also parses the text a driver left unparsed
    # (SQLite keeps dates as text and booleans as 0/1).
    return pa.array(values).cast(target)


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"expected bytes, got {type(value).__name__}")


class _Column:
    """One result column: its Arrow type (fixed once known) and how its values convert."""

    def __init__(self, name: str, declared: pa.DataType | None, as_json: bool) -> None:
        self.name = name
        self.type = declared
        self.as_json = as_json

    def convert(self, values: Sequence[Any]) -> tuple[pa.Array, dict[int, str]]:
        """The values as an Arrow array, and the errors of those that did not convert (by index)."""
        if self.type is None:
            self.type, self.as_json = _infer(values)
        target = self.type
        try:
            return _convert_all(values, target, self.as_json), {}
        except (*_CONVERT_ERRORS, UnicodeError):
            pass
        bad: dict[int, str] = {}
        pieces = []
        for i, value in enumerate(values):
            try:
                pieces.append(_convert_all([value], target, self.as_json))
            except (*_CONVERT_ERRORS, UnicodeError) as err:
                bad[i] = f"column {self.name!r}: {_shown(value)} does not convert to {target}: {err}"
                pieces.append(pa.nulls(1, target))
        return pa.concat_arrays(pieces) if pieces else pa.array([], target), bad


def _literal_colons(query: str) -> str:
    # sqlalchemy.text() reads ":name" as a parameter; a query here is the database's own SQL.
    return query.replace(":", "\\:")


@register("read.sql")
class SqlReader(Source[SqlReaderConfig]):
    """Read a SQL query or table in batches through SQLAlchemy; rows that do not convert are quarantined.

    >>> SqlReader(url="sqlite:///:memory:", query="select 1 as n").config.batch_rows
    65536
    """

    version = 1

    def __init__(self, config: SqlReaderConfig | Mapping[str, Any] | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        cfg = self.config
        if (cfg.query is None) == (cfg.table is None):
            raise ConfigError(f"step {self.label!r}: give `query` (SQL to run) or `table` (a table to read "
                              "whole), one of the two.")
        if cfg.query is not None and not cfg.query.strip():
            raise ConfigError(f"step {self.label!r}: `query` is empty.")
        if _has_literal_password(cfg.url):
            raise ConfigError(
                f"step {self.label!r}: `url` {hide_password(cfg.url)!r} has a password written in it, "
                "and the run record keeps the step's config. Write `${VAR}` in its place (e.g. "
                "postgresql+psycopg://bob:${PGPASSWORD}@host/db) and set VAR in the environment, or "
                "leave it out and let the driver find it (PGPASSWORD, ~/.pgpass)."
            )
        if cfg.num_partitions > 1 and cfg.partition_column is None:
            raise ConfigError(f"step {self.label!r}: `num_partitions` is {cfg.num_partitions} but no "
                              "`partition_column` is set; name a numeric column to split the rows by.")
        self._database_url()  # a missing ${VAR} or an unparseable URL fails now, not in a worker

    # -------------------------------------------------------------------------------- naming
    def _database_url(self) -> sa.URL:
        """The URL with its ``${VAR}``s filled in, part by part (a password may hold '@' or '/')."""
        raw = self.config.url
        where = f"step {self.label!r}: `url`"
        try:
            try:
                url = sa.engine.make_url(raw)
            except Exception:  # e.g. a ${PORT}: fill in the text, then parse
                return sa.engine.make_url(expand_env(raw, where=where))

            def fill(value: str | None) -> str | None:
                return None if value is None else expand_env(value, where=where)

            query = {k: tuple(expand_env(x, where=where) for x in v) if isinstance(v, tuple)
                     else expand_env(v, where=where) for k, v in url.query.items()}
            return url.set(username=fill(url.username), password=fill(url.password), host=fill(url.host),
                           database=fill(url.database), query=query)
        except ConfigError:
            raise
        except Exception:  # the parser's message repeats the URL, password included
            raise ConfigError(f"step {self.label!r}: `url` {hide_password(raw)!r} is not a database URL "
                              "SQLAlchemy can parse; it looks like `dialect+driver://user:${PASSWORD}@host/db` "
                              "or `sqlite:///path/file.db`.") from None

    def _hidden(self) -> str:
        return hide_password(self.config.url)

    def _what(self) -> str:
        """How ids and the source name the rows' origin: the table, or the query's hash."""
        if self.config.table is not None:
            return self.config.table
        return "query-" + hashlib.sha256(str(self.config.query).encode()).hexdigest()[:12]

    def _source(self) -> str:
        if self.config.table is not None:
            return f"{self._hidden()}#table={self.config.table}"
        return f"{self._hidden()}#query={self._what().removeprefix('query-')}"

    def _scrub(self, message: str) -> str:
        """A driver's message with the password (and the URL holding it) taken out."""
        url = self._database_url()
        message = message.replace(url.render_as_string(hide_password=False), url.render_as_string())
        if url.password:
            message = message.replace(str(url.password), "***")
        return message.strip()

    def _why(self, err: BaseException) -> str:
        orig = getattr(err, "orig", None)
        cause = orig if isinstance(orig, BaseException) else err
        return self._scrub(f"{type(cause).__name__}: {cause}")

    # -------------------------------------------------------------------------------- connecting
    def _sqlite_file(self) -> str | None:
        url = self._database_url()
        if url.get_backend_name() != "sqlite":
            return None
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return database

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        """A connection, or a ConfigError / NotFoundError that names the step and hides the password."""
        database = self._sqlite_file()
        if database is not None and not os.path.isfile(database):
            # SQLite would make an empty database there and find no table in it.
            raise NotFoundError(f"step {self.label!r}: the SQLite database {database!r} does not exist. "
                                "Check the path in `url`; a relative path is resolved against the "
                                "pipeline's folder.")
        try:
            engine = sa.create_engine(self._database_url(), poolclass=sa.pool.NullPool)
        except (ImportError, sa.exc.ArgumentError, ValueError) as err:
            raise ConfigError(
                f"step {self.label!r}: cannot use {self._hidden()!r}: {self._why(err)}. Check the dialect "
                "and driver (e.g. postgresql+psycopg://, sqlite:///) and that the driver is installed."
            ) from None
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_text)
        try:
            try:
                conn = engine.connect()
            except sa.exc.DBAPIError as err:
                raise ConfigError(
                    f"step {self.label!r}: cannot connect to {self._hidden()!r} ({self._why(err)}). Check "
                    "the host, port, database name, user and password (a `${VAR}` in the URL is read "
                    "from the environment)."
                ) from None
            with conn:
                yield conn
        finally:
            engine.dispose()

    def _table(self, conn: sa.Connection) -> sa.Table:
        name = str(self.config.table)
        schema, _, table = name.rpartition(".")
        inspector = sa.inspect(conn)
        try:
            return sa.Table(table, sa.MetaData(), schema=schema or None, autoload_with=conn)
        except sa.exc.NoSuchTableError:
            try:
                known = inspector.get_table_names(schema=schema or None) + inspector.get_view_names(
                    schema=schema or None)
            except sa.exc.DBAPIError:
                known = []
            listing = f" Tables: {', '.join(sorted(known)[:20])}." if known else " It has no tables."
            raise NotFoundError(f"step {self.label!r}: no table {name!r} in {self._hidden()!r}."
                                f"{did_you_mean(table, known) or listing}") from None

    def _statement(
        self, conn: sa.Connection, partition: Mapping[str, Any]
    ) -> tuple[Any, dict[str, sa.types.TypeEngine[Any]]]:
        """The SELECT for one partition, and the declared column types (empty for a query)."""
        cfg = self.config
        declared: dict[str, sa.types.TypeEngine[Any]] = {}
        if cfg.table is not None:
            table = self._table(conn)
            declared = {c.name: c.type for c in table.columns}
            # Untyped columns: SQLAlchemy applies no converters, so one bad value cannot stop a batch.
            statement: Any = sa.select(sa.text("*")).select_from(table)
            keys = list(table.primary_key.columns)
            if keys:
                statement = statement.order_by(*keys)
            relation: Any = table
        else:
            query = _literal_colons(str(cfg.query).strip().rstrip(";"))
            statement = sa.text(query)
            relation = None
        if "lower" in partition or "nulls" in partition:
            column = str(cfg.partition_column)
            if relation is None:
                relation = sa.text(query).columns(sa.column(column)).subquery("q")
            where = relation.c[column]
            if partition.get("nulls"):
                condition = where.is_(None)
            else:
                condition = where >= partition["lower"]
                upper = where <= partition["upper"] if partition.get("last") else where < partition["upper"]
                condition = sa.and_(condition, upper)
            statement = sa.select(sa.text("*")).select_from(relation).where(condition)
        return statement, declared

    # -------------------------------------------------------------------------------- the step
    def is_live(self) -> bool:
        """A database server is read on every run; a SQLite file is hashed like any input file."""
        return self._sqlite_file() is None

    def partitions(self) -> list[dict[str, Any]]:
        """One partition, or value ranges of ``partition_column``; checks the database is reachable.

        For a SQLite file each partition names it as ``path``, so its content hash feeds the
        cache key.
        """
        cfg = self.config
        pieces: list[dict[str, Any]] = [{}]
        with self._connection() as conn:
            if cfg.table is not None:
                self._table(conn)
            if cfg.partition_column is not None and cfg.num_partitions > 1:
                # Each partition infers nothing for itself: a partition of nulls would make
                # its column text while another makes it int64, and the version has one schema.
                types = self._sample_types(conn)
                pieces = [{**p, "types": types} for p in self._ranges(conn)]
        database = self._sqlite_file()
        return [{**p, "path": database} if database else p for p in pieces]

    def _sample_types(self, conn: sa.Connection) -> dict[str, list[Any]]:
        """Column types from the first ``batch_rows`` rows of the whole read: name → [Arrow type as
        IPC schema hex, holds JSON text]."""
        statement, declared = self._statement(conn, {})
        try:
            result = conn.execution_options(stream_results=True).execute(statement)
            rows = result.fetchmany(self.config.batch_rows)
            result.close()
        except sa.exc.DBAPIError as err:
            raise ConfigError(f"step {self.label!r}: the {'query' if self.config.query else 'read of table'} "
                              f"failed on {self._hidden()!r} ({self._why(err)}).") from None
        columns = self._columns(list(result.keys()), declared)
        values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        types: dict[str, list[Any]] = {}
        for column, column_values in zip(columns, values, strict=True):
            column.convert(column_values)
            schema = pa.schema([pa.field(column.name, column.type or pa.string())])
            types[column.name] = [schema.serialize().to_pybytes().hex(), column.as_json]
        return types

    @staticmethod
    def _columns(keys: Sequence[Any], declared: Mapping[str, sa.types.TypeEngine[Any]],
                 known: Mapping[str, list[Any]] | None = None) -> list[_Column]:
        """The result's columns, named uniquely, typed by ``known`` or declared types (else unknown)."""
        names: list[str] = []
        for key in keys:
            names.append(unique_name(str(key) or "column", names))
        columns = []
        for name in names:
            if known and name in known:
                hexed, as_json = known[name]
                schema = pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(hexed)))
                columns.append(_Column(name, schema.field(0).type, bool(as_json)))
            elif name in declared:
                columns.append(_Column(name, arrow_type_of(declared[name]), _is_json(declared[name])))
            else:
                columns.append(_Column(name, None, False))
        return columns

    def _ranges(self, conn: sa.Connection) -> list[dict[str, Any]]:
        cfg = self.config
        column = str(cfg.partition_column)
        if cfg.table is not None:
            relation: Any = self._table(conn)
            if column not in relation.c:
                raise SchemaError(f"step {self.label!r}: `partition_column` is {column!r}, which table "
                                  f"{cfg.table!r} does not have; it has {', '.join(relation.c.keys())}.")
        else:
            query = _literal_colons(str(cfg.query).strip().rstrip(";"))
            relation = sa.text(query).columns(sa.column(column)).subquery("q")
        try:
            low, high = conn.execute(sa.select(sa.func.min(relation.c[column]),
                                               sa.func.max(relation.c[column]))).one()
        except sa.exc.DBAPIError as err:
            raise ConfigError(f"step {self.label!r}: cannot find the range of `partition_column` "
                              f"{column!r}: {self._why(err)}") from None
        if low is None:
            return [{"nulls": True}]
        if not isinstance(low, (int, float, decimal.Decimal)) or isinstance(low, bool):
            raise SchemaError(f"step {self.label!r}: `partition_column` {column!r} holds "
                              f"{type(low).__name__} values; it must be numeric.")
        count = cfg.num_partitions
        integral = isinstance(low, int) and isinstance(high, int)
        step = (high - low) / count
        bounds = [low + (math.ceil(step * k) if integral else step * k) for k in range(count)] + [high]
        pieces: list[dict[str, Any]] = []
        for k in range(count):
            lower, upper = bounds[k], bounds[k + 1]
            if k and lower == bounds[k - 1]:
                continue
            pieces.append({"lower": _plain(lower), "upper": _plain(upper), "last": k == count - 1})
        pieces[-1]["last"] = True
        pieces.append({"nulls": True})
        return pieces

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """Yield the rows of the partition in batches of ``batch_rows``; quarantine rows that do not convert."""
        cfg = self.config
        with self._connection() as conn:
            statement, declared = self._statement(conn, partition)
            streaming = conn.execution_options(stream_results=True, yield_per=cfg.batch_rows)
            try:
                result = streaming.execute(statement)
            except sa.exc.DBAPIError as err:
                raise ConfigError(f"step {self.label!r}: the {'query' if cfg.query else 'read of table'} "
                                  f"failed on {self._hidden()!r} ({self._why(err)}). Fix the SQL in "
                                  f"`{'query' if cfg.query else 'table'}`.") from None
            columns = self._columns(list(result.keys()), declared, partition.get("types"))
            names = [c.name for c in columns]
            id_from = cfg.id_column if cfg.id_column is not None else (ID if ID in names else None)
            if id_from is not None and id_from not in names:
                raise SchemaError(f"step {self.label!r}: `id_column` is {id_from!r} but the result has no such "
                                  f"column; it has {', '.join(names)}.")
            if id_from is None and ("lower" in partition or "nulls" in partition):
                raise SchemaError(f"step {self.label!r}: reading in partitions needs a stable id: set "
                                  "`id_column` (or select a column named `id`).")
            done = 0
            try:
                for rows in result.partitions(cfg.batch_rows):
                    yield self._batch(rows, columns, names, id_from, done, ctx)
                    done += len(rows)
            except sa.exc.DBAPIError as err:
                raise ConfigError(f"step {self.label!r}: the database failed after {done:,} rows: "
                                  f"{self._why(err)}. If a value cannot be loaded (e.g. an infinite date), "
                                  "cast that column in the query (`CAST(col AS TEXT)`).") from None
            if not done:
                yield self._batch([], columns, names, id_from, 0, ctx)

    def _batch(self, rows: Sequence[Sequence[Any]], columns: list[_Column], names: list[str],
               id_from: str | None, first: int, ctx: StepContext) -> pa.RecordBatch:
        count = len(rows)
        by_column = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays: dict[str, pa.Array] = {}
        bad: dict[int, list[str]] = {}  # row → what did not convert
        for column, values in zip(columns, by_column, strict=True):
            array, errors = column.convert(values)
            arrays[column.name] = array
            for i, error in errors.items():
                bad.setdefault(i, []).append(error)
        if id_from is None:
            what = self._what()
            ids = pa.array([f"{what}:{n}" for n in range(first, first + count)], pa.string())
            no_id: list[int] = []
        else:
            raw = arrays.pop(id_from)
            ids = raw if raw.type == pa.string() else pc.cast(raw, pa.string())
            empty = pc.fill_null(pc.equal(ids, ""), True).to_pylist() if count else []
            no_id = [i for i, missing in enumerate(empty) if missing and i not in bad]
        data: dict[str, pa.Array] = {ID: ids}
        for key, value in arrays.items():
            data[unique_name(ID, [*arrays, *data]) if key == ID else key] = value
        if self.config.source_column and SOURCE not in data:
            data[SOURCE] = pa.repeat(pa.scalar(self._source(), pa.string()), count)
        batch = pa.RecordBatch.from_pydict(data)
        if not bad and not no_id:
            return batch
        id_error = f"the id column `{id_from}` is null or empty"
        self._quarantine(rows, names, ids, first, ctx, "bad_value", {i: "; ".join(e) for i, e in bad.items()})
        self._quarantine(rows, names, ids, first, ctx, "missing_id", dict.fromkeys(no_id, id_error))
        keep = [True] * count
        for i in [*bad, *no_id]:
            keep[i] = False
        return batch.filter(pa.array(keep, pa.bool_()))

    def _quarantine(self, rows: Sequence[Sequence[Any]], names: list[str], ids: pa.Array, first: int,
                    ctx: StepContext, reason: str, errors: dict[int, str]) -> None:
        """Quarantine rows by index, each with its original values, row index and error."""
        indexes = sorted(errors)
        for start in range(0, len(indexes), QUARANTINE_CHUNK):
            records: list[Mapping[str, Any]] = []
            for i in indexes[start : start + QUARANTINE_CHUNK]:
                record = {name: _safe(value) for name, value in zip(names, rows[i], strict=True)}
                record[ID] = ids[i].as_py()
                record[SOURCE] = self._source()
                record["row_index"] = first + i
                records.append(record)
            ctx.quarantine(records, reason=reason, error=[errors[i] for i in indexes[start : start + QUARANTINE_CHUNK]])


def _plain(value: Any) -> Any:
    """A bound as a JSON value (partitions travel to workers as JSON)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _sqlite_text(dbapi_connection: Any, _record: Any) -> None:
    # Text that is not valid UTF-8 would stop the whole fetch; read it with its bad bytes kept
    # (as lone surrogates), so only its row is quarantined.
    dbapi_connection.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
