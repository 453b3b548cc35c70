"""Shared fixtures: a fresh workspace per test, a fresh PostgreSQL database, a moto S3 bucket.

PostgreSQL and S3 tests skip when their service is unavailable, except under ``CI=true``,
where they fail: CI must never pass by silently skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from datamill.store import Workspace

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

PG_URL_VAR = "DATAMILL_TEST_PG_URL"
S3_BUCKET = "datamill-test"
S3_KEY, S3_SECRET, S3_REGION = "testing", "testing", "us-east-1"


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where no service may be skipped."""
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(message: str) -> NoReturn:
    """Skip the test, or fail it under ``CI=true``."""
    if in_ci():
        pytest.fail(f"{message} (CI=true, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use the services, so ``-m "not postgres"`` works even where a test
    forgot the marker."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "pg_url" in fixtures:
            item.add_marker(pytest.mark.postgres)
        if "s3" in fixtures:
            item.add_marker(pytest.mark.s3)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """An empty workspace (SQLite + local objects) in a temp directory."""
    workspace = Workspace.init(tmp_path)
    yield workspace
    workspace.close()


# ---------------------------------------------------------------------------- PostgreSQL
@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test.

    ``DATAMILL_TEST_PG_URL`` names a database whose user may ``CREATE DATABASE``
    (``.ci/run`` starts such a server).
    """
    admin_url = os.environ.get(PG_URL_VAR)
    if not admin_url:
        unavailable(f"{PG_URL_VAR} is not set; it should name a PostgreSQL database whose "
                    "user may CREATE DATABASE (`.ci/run` starts one)")
    try:
        import psycopg  # noqa: F401
        import sqlalchemy as sa
    except ImportError as err:
        unavailable(f"PostgreSQL tests need psycopg: {err}")

    name = f"datamill_test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.SQLAlchemyError as err:
        admin.dispose()
        unavailable(f"cannot create a test database through {PG_URL_VAR}: {err}")
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:  # FORCE (PostgreSQL 13+) ends connections a test left open
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# ---------------------------------------------------------------------------- S3 (moto)
@pytest.fixture(scope="session")
def _moto_endpoint() -> Iterator[str]:
    """A moto S3 server on a free local port for the whole session, with one bucket."""
    try:
        import boto3
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError as err:
        unavailable(f"S3 tests need moto[server], boto3 and s3fs: {err}")

    with pytest.MonkeyPatch.context() as mp:
        # Dummy credentials, and no user config that could point boto at real AWS.
        mp.setenv("AWS_ACCESS_KEY_ID", S3_KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        mp.setenv("AWS_DEFAULT_REGION", S3_REGION)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            client = boto3.client("s3", endpoint_url=endpoint, region_name=S3_REGION)
            client.create_bucket(Bucket=S3_BUCKET)
            yield endpoint
        finally:
            server.stop()


@pytest.fixture
def s3(_moto_endpoint: str) -> Iterator[dict[str, Any]]:
    """An empty ``s3://`` prefix in the moto bucket.

    Yields ``store`` (the URL), ``storage_options`` (for s3fs/fsspec), ``endpoint_url``,
    ``bucket`` and ``prefix``.
    """
    import s3fs

    prefix = f"t-{uuid.uuid4().hex[:12]}"
    options = {"key": S3_KEY, "secret": S3_SECRET,
               "client_kwargs": {"endpoint_url": _moto_endpoint, "region_name": S3_REGION}}
    yield {"store": f"s3://{S3_BUCKET}/{prefix}", "storage_options": options,
           "endpoint_url": _moto_endpoint, "bucket": S3_BUCKET, "prefix": prefix}
    s3fs.S3FileSystem.clear_instance_cache()
