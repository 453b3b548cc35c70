"""Metadata operations: versions and refs, runs and executions, checkpoints, file hashes.

Every write is one short transaction. SQLite serialises writers (WAL, BEGIN IMMEDIATE);
PostgreSQL may let two writers race for the same ``name@N``, so assigning a sequence number
retries on the unique-key conflict.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from datamill.core.errors import NotFoundError, StoreError, did_you_mean
from datamill.store.db import checkpoints, executions, files, refs, runs, versions, writer
from datamill.store.refs import Ref

__all__ = ["Catalog", "VersionRow"]

VersionRow = dict[str, Any]


def _row(result: Any) -> dict[str, Any] | None:
    return None if result is None else dict(result._mapping)


class Catalog:
    """The metadata database of a workspace."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    # ------------------------------------------------------------------ versions and refs
    def add_version(
        self,
        manifest: dict[str, Any],
        *,
        name: str | None = None,
        run_id: str | None = None,
        execution_id: int | None = None,
        kind: str = "dataset",
    ) -> int | None:
        """Record a version (idempotent) and, given a name, point ``name`` at it.

        Returns the sequence number of ``name`` that now holds the version. Writing the same
        content under the same name twice in a row does not add a sequence number.
        """
        columns = json.dumps([f["name"] for f in manifest["schema"]["fields"]])
        for attempt in range(20):
            try:
                with self._writer.begin() as conn:
                    if name is not None and conn.dialect.name == "postgresql":
                        # Writers of one name queue here instead of racing for name@N+1.
                        key = int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
                    exists = conn.execute(
                        sa.select(versions.c.id).where(versions.c.id == manifest["id"])
                    ).first()
                    if exists is None:
                        conn.execute(versions.insert().values(
                            id=manifest["id"], created_at=time.time(),
                            num_rows=manifest["num_rows"], num_bytes=manifest["num_bytes"],
                            num_shards=len(manifest["shards"]), columns=columns,
                            run_id=run_id, execution_id=execution_id,
                        ))
                    if name is None:
                        return None
                    latest = conn.execute(
                        sa.select(refs.c.seq, refs.c.version_id)
                        .where(refs.c.name == name).order_by(refs.c.seq.desc()).limit(1)
                    ).first()
                    if latest is not None and latest.version_id == manifest["id"]:
                        return int(latest.seq)
                    seq = 1 if latest is None else int(latest.seq) + 1
                    conn.execute(refs.insert().values(
                        name=name, seq=seq, version_id=manifest["id"], created_at=time.time(),
                        run_id=run_id, kind=kind,
                    ))
                    return seq
            except sa.exc.IntegrityError:
                time.sleep(0.01 * (attempt + 1))
        raise StoreError(f"could not assign a version number to {name!r} after 20 attempts")

    def has_version(self, version_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(versions.c.id).where(versions.c.id == version_id)
            ).first() is not None

    def resolve(self, ref: Ref) -> tuple[str, str | None, int | None]:
        """Find ``(version id, name, seq)`` for a parsed reference."""
        with self.engine.connect() as conn:
            if ref.name is None:
                assert ref.prefix is not None
                ids = conn.execute(
                    sa.select(versions.c.id).where(versions.c.id.like(f"{ref.prefix}%")).limit(2)
                ).scalars().all()
                if len(ids) != 1:
                    raise NotFoundError(
                        f"no version id starts with {ref.prefix!r}" if not ids else
                        f"version prefix {ref.prefix!r} is ambiguous; give more hex digits."
                    )
                named = conn.execute(
                    sa.select(refs.c.name, refs.c.seq).where(refs.c.version_id == ids[0])
                    .order_by(refs.c.seq.desc()).limit(1)
                ).first()
                return ids[0], (named.name if named else None), (named.seq if named else None)
            query = sa.select(refs.c.seq, refs.c.version_id).where(refs.c.name == ref.name)
            if ref.seq is not None:
                query = query.where(refs.c.seq == ref.seq)
            elif ref.prefix is not None:
                query = query.where(refs.c.version_id.like(f"{ref.prefix}%"))
            found = conn.execute(query.order_by(refs.c.seq.desc())).all()
            if not found:
                self._not_found(conn, ref)
            if ref.prefix is not None and len({r.version_id for r in found}) > 1:
                raise NotFoundError(f"{ref} is ambiguous; give more hex digits.")
            return found[0].version_id, ref.name, int(found[0].seq)

    def _not_found(self, conn: Any, ref: Ref) -> None:
        names = conn.execute(sa.select(refs.c.name).distinct()).scalars().all()
        if ref.name not in names:
            raise NotFoundError(
                f"no dataset named {ref.name!r}.{did_you_mean(ref.name or '', names)} "
                "`datamill datasets` lists them."
            )
        latest = conn.execute(
            sa.select(sa.func.max(refs.c.seq)).where(refs.c.name == ref.name)
        ).scalar()
        raise NotFoundError(f"{ref} does not exist; {ref.name!r} has versions 1 to {latest}.")

    def datasets(self, *, include_internal: bool = False) -> list[dict[str, Any]]:
        """Each name with its latest version, newest first."""
        latest = (
            sa.select(refs.c.name, sa.func.max(refs.c.seq).label("seq"))
            .group_by(refs.c.name).subquery()
        )
        query = (
            sa.select(refs.c.name, refs.c.seq, refs.c.kind, refs.c.created_at,
                      versions.c.id, versions.c.num_rows, versions.c.num_bytes,
                      versions.c.num_shards, versions.c.columns)
            .join(latest, sa.and_(refs.c.name == latest.c.name, refs.c.seq == latest.c.seq))
            .join(versions, versions.c.id == refs.c.version_id)
            .order_by(refs.c.name)
        )
        if not include_internal:
            query = query.where(refs.c.kind == "dataset")
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every version of ``name``, oldest first."""
        query = (
            sa.select(refs.c.seq, refs.c.created_at, refs.c.run_id, versions.c.id,
                      versions.c.num_rows, versions.c.num_bytes)
            .join(versions, versions.c.id == refs.c.version_id)
            .where(refs.c.name == name).order_by(refs.c.seq)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # ------------------------------------------------------------------ runs
    def start_run(self, run_id: str, pipeline: str, spec: dict[str, Any],
                  environment: dict[str, Any]) -> None:
        with self._writer.begin() as conn:
            conn.execute(runs.insert().values(
                id=run_id, pipeline=pipeline, status="running", started_at=time.time(),
                spec=json.dumps(spec), environment=json.dumps(environment),
            ))

    def finish_run(self, run_id: str, status: str, *, error: str | None = None,
                   outputs: dict[str, str] | None = None) -> None:
        with self._writer.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                status=status, ended_at=time.time(), error=error,
                outputs=json.dumps(outputs or {}),
            ))

    def run(self, run_id: str) -> dict[str, Any]:
        """A run by id, unique id prefix or ``latest`` (the newest), with its executions."""
        with self.engine.connect() as conn:
            if run_id == "latest":
                found = conn.execute(sa.select(runs).order_by(runs.c.started_at.desc()).limit(1)).all()
                if not found:
                    raise NotFoundError("this workspace has no runs yet; `datamill run PIPELINE.yaml` records one.")
            else:
                found = conn.execute(
                    sa.select(runs).where(runs.c.id.like(f"{run_id}%")).limit(2)
                ).all()
            if len(found) != 1:
                raise NotFoundError(
                    f"no run with id {run_id!r}; `datamill runs list` shows them." if not found
                    else f"run id prefix {run_id!r} is ambiguous; give more characters."
                )
            run = dict(found[0]._mapping)
            run["steps"] = [
                dict(r._mapping) for r in conn.execute(
                    sa.select(executions).where(executions.c.run_id == run["id"])
                    .order_by(executions.c.id)
                )
            ]
        return run

    def runs(self, *, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(runs.c.id, runs.c.pipeline, runs.c.status, runs.c.started_at,
                          runs.c.ended_at, runs.c.outputs)
                .order_by(runs.c.started_at.desc()).limit(limit).offset(offset)
            )]

    # ------------------------------------------------------------------ executions
    def start_execution(self, **values: Any) -> int:
        with self._writer.begin() as conn:
            result = conn.execute(executions.insert().values(started_at=time.time(), **values))
            key = result.inserted_primary_key
            if key is None:
                raise StoreError("the database did not return the new execution's id")
            return int(key[0])

    def finish_execution(self, execution_id: int, **values: Any) -> None:
        with self._writer.begin() as conn:
            conn.execute(executions.update().where(executions.c.id == execution_id).values(**values))

    def cached_execution(self, fingerprint: str) -> dict[str, Any] | None:
        """The newest finished execution with this fingerprint."""
        with self.engine.connect() as conn:
            return _row(conn.execute(
                sa.select(executions)
                .where(executions.c.fingerprint == fingerprint,
                       executions.c.status.in_(("ran", "cached")))
                .order_by(executions.c.id.desc()).limit(1)
            ).first())

    def side_version(self, fingerprint: str, suffix: str = ".removed") -> str | None:
        """The side table (``kind`` side, name ending in ``suffix``) an execution with this
        fingerprint wrote, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(refs.c.version_id)
                .join(versions, versions.c.id == refs.c.version_id)
                .join(executions, executions.c.id == versions.c.execution_id)
                .where(executions.c.fingerprint == fingerprint, refs.c.kind == "side",
                       refs.c.name.endswith(suffix, autoescape=True))
                .order_by(refs.c.created_at.desc()).limit(1)
            ).first()
        return None if row is None else str(row.version_id)

    def previous_execution(self, pipeline: str, step_id: str) -> dict[str, Any] | None:
        """The newest finished execution of the same step of the same pipeline."""
        with self.engine.connect() as conn:
            return _row(conn.execute(
                sa.select(executions).join(runs, runs.c.id == executions.c.run_id)
                .where(runs.c.pipeline == pipeline, executions.c.step_id == step_id,
                       executions.c.status.in_(("ran", "cached")))
                .order_by(executions.c.id.desc()).limit(1)
            ).first())

    def producer(self, version_id: str) -> dict[str, Any] | None:
        """The first execution that wrote this version."""
        with self.engine.connect() as conn:
            return _row(conn.execute(
                sa.select(executions).where(executions.c.output_version == version_id,
                                            executions.c.status == "ran")
                .order_by(executions.c.id).limit(1)
            ).first())

    def outputs_of(self, uses: str, input_version: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Finished executions of step kind ``uses`` that read version ``input_version``, newest first
        (a version's statistics are found this way: ``stats.profile`` over it)."""
        needle = f'%"version": "{input_version}"%'
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(executions).where(executions.c.uses == uses, executions.c.inputs.like(needle),
                                            executions.c.output_version.is_not(None),
                                            executions.c.status.in_(("ran", "cached")))
                .order_by(executions.c.id.desc()).limit(limit))]

    def named_by(self, name: str, seq: int) -> dict[str, Any] | None:
        """The execution that produced ``name@seq`` in the run that named it (the last step of
        that run with this output, e.g. ``write.dataset`` rather than an identical upstream)."""
        with self.engine.connect() as conn:
            ref = conn.execute(sa.select(refs.c.run_id, refs.c.version_id)
                               .where(refs.c.name == name, refs.c.seq == seq)).first()
            if ref is None or ref.run_id is None:
                return None
            return _row(conn.execute(
                sa.select(executions).where(executions.c.run_id == ref.run_id,
                                            executions.c.output_version == ref.version_id)
                .order_by(executions.c.id.desc()).limit(1)
            ).first())

    def execution_in_run(self, run_id: str, step_id: str) -> dict[str, Any] | None:
        """The execution of ``step_id`` in run ``run_id``."""
        with self.engine.connect() as conn:
            return _row(conn.execute(
                sa.select(executions).where(executions.c.run_id == run_id,
                                            executions.c.step_id == step_id)
                .order_by(executions.c.id.desc()).limit(1)
            ).first())

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, fingerprint: str, part: int, result: dict[str, Any]) -> None:
        with self._writer.begin() as conn:
            conn.execute(checkpoints.delete().where(
                checkpoints.c.fingerprint == fingerprint, checkpoints.c.part == part))
            conn.execute(checkpoints.insert().values(
                fingerprint=fingerprint, part=part, result=json.dumps(result),
                created_at=time.time()))

    def checkpoints(self, fingerprint: str) -> dict[int, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {
                int(r.part): json.loads(r.result) for r in conn.execute(
                    sa.select(checkpoints).where(checkpoints.c.fingerprint == fingerprint))
            }

    def clear_checkpoints(self, fingerprint: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(checkpoints.delete().where(checkpoints.c.fingerprint == fingerprint))

    # ------------------------------------------------------------------ file hashes
    def known_file_hash(self, url: str, size: int, mtime: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(files).where(files.c.url == url)).first()
        if row is not None and row.size == size and row.mtime == mtime:
            return str(row.sha256)
        return None

    def save_file_hash(self, url: str, size: int, mtime: str, sha256: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(files.delete().where(files.c.url == url))
            conn.execute(files.insert().values(url=url, size=size, mtime=mtime, sha256=sha256))
