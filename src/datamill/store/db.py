"""The metadata database: tables, engine set-up and migrations (SQLAlchemy Core + Alembic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from datamill.core.errors import ConfigError

__all__ = ["HEAD_REVISION", "hide_password", "make_engine", "metadata", "migrate", "writer"]

HEAD_REVISION = "0001"
_MIGRATION_LOCK = 0x646D_6D69_6772  # PostgreSQL advisory lock key for migrations ("dmmigr")

metadata = sa.MetaData()

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("num_rows", sa.BigInteger, nullable=False),
    sa.Column("num_bytes", sa.BigInteger, nullable=False),
    sa.Column("num_shards", sa.Integer, nullable=False),
    sa.Column("columns", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("execution_id", sa.Integer),
)

refs = sa.Table(
    "refs",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("version_id", sa.String(64), sa.ForeignKey("versions.id"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("kind", sa.String(20), nullable=False, server_default="dataset"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("environment", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("outputs", sa.Text),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("step_id", sa.String(200), nullable=False),
    sa.Column("uses", sa.String(500), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("seconds", sa.Float),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("code_version", sa.String(200), nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("output_version", sa.String(64)),
    sa.Column("quarantine_version", sa.String(64)),
    sa.Column("ledger", sa.Text),
    sa.Column("metrics", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("error", sa.Text),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("part", sa.Integer, primary_key=True),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

files = sa.Table(
    "files",
    metadata,
    sa.Column("url", sa.String(2000), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook issue BEGIN IMMEDIATE: a deferred transaction that later
    # writes can fail at once with "database is locked" instead of waiting for the other writer.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def hide_password(url: str) -> str:
    """A database URL fit to print: its password replaced by ``***``.

    >>> hide_password("postgresql+psycopg://bob:s3cret@db/x")
    'postgresql+psycopg://bob:***@db/x'
    """
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: print nothing of it that could be secret
        return "<unparseable database URL>"


def _sqlite_begin(conn: Any) -> None:
    # Writers take the write lock up front; readers use a plain (deferred) transaction so
    # that, in WAL mode, they never wait for a writer or for each other.
    write = conn.get_execution_options().get("datamill_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The engine to use for transactions that write (SQLite takes its write lock at BEGIN)."""
    return engine.execution_options(datamill_write=True)


def make_engine(url: str) -> Engine:
    """Create an engine for a SQLAlchemy URL; SQLite gets WAL mode and immediate transactions."""
    try:
        engine = sa.create_engine(url, future=True, pool_pre_ping=not url.startswith("sqlite"))
    except (sa.exc.ArgumentError, ImportError, ValueError) as err:
        raise ConfigError(
            f"cannot use metadata database {hide_password(url)!r}: {type(err).__name__}. "
            "Use `sqlite:///path/meta.db` or `postgresql+psycopg://user:${PGPASSWORD}@host/db` "
            "(pip install 'datamill[postgres]')."
        ) from err
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision with Alembic (a no-op when it is current)."""
    try:
        with engine.connect() as conn:
            current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            conn.rollback()
        if current == HEAD_REVISION:
            return
    except sa.exc.OperationalError:
        pass
    except sa.exc.ProgrammingError:
        pass
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            # Processes opening a fresh database at once would all CREATE TABLE and all but
            # one fail; this lock (held to commit) makes the others wait, then find it current.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
