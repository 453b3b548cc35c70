"""A workspace: where the object store and the metadata database of a project live.

``datamill init`` writes ``.datamill/config.json``; commands find it by walking up from the
current directory, or through ``DATAMILL_HOME``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from datamill.core.dataset import Dataset
from datamill.core.env import expand_env
from datamill.core.errors import ConfigError, NotFoundError, StoreError
from datamill.core.fingerprint import sha256_file
from datamill.core.statistics import OutputStats
from datamill.store.catalog import Catalog
from datamill.store.db import hide_password, make_engine, migrate
from datamill.store.objects import ObjectStore, ShardInfo, ShardWriter
from datamill.store.refs import check_name, parse_ref
from datamill.store.versions import build_manifest

__all__ = ["DIRNAME", "Workspace", "WorkspaceConfig", "active_workspace", "using_workspace"]

DIRNAME = ".datamill"

_ACTIVE: ContextVar[Workspace | None] = ContextVar("datamill_workspace", default=None)


@contextmanager
def using_workspace(ws: Workspace) -> Iterator[Workspace]:
    """Make ``ws`` the workspace that steps reading stored datasets (``read.dataset``) use.

    The runner does this for the length of a run.
    """
    token = _ACTIVE.set(ws)
    try:
        yield ws
    finally:
        _ACTIVE.reset(token)


def active_workspace() -> Workspace:
    """The workspace of the run in progress, else the one found from the current directory."""
    ws = _ACTIVE.get()
    return ws if ws is not None else Workspace.find()


class WorkspaceConfig(BaseModel):
    """Where objects and metadata live. ``${VAR}`` in a URL is read from the environment,
    so a password need not be written to disk."""

    model_config = ConfigDict(extra="forbid")

    store: str = "objects"
    db: str = "sqlite:///meta.db"
    storage_options: dict[str, Any] = {}


def _expand_all(value: Any) -> Any:
    """``${VAR}`` in every string of a nested config (credentials stay out of config.json)."""
    if isinstance(value, str):
        return expand_env(value, where="the workspace config")
    if isinstance(value, dict):
        return {k: _expand_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_all(v) for v in value]
    return value


class Workspace:
    """The store of one project: versions, runs, lineage.

    >>> import tempfile, pyarrow as pa
    >>> ws = Workspace.init(tempfile.mkdtemp())
    >>> ws.write("numbers", pa.table({"id": ["a", "b"], "n": [1, 2]})).num_rows
    2
    >>> ws.open("numbers@1").to_arrow()["n"].to_pylist()
    [1, 2]
    """

    def __init__(self, home: Path, config: WorkspaceConfig) -> None:
        self.home = home  # the .datamill directory
        self.config = config
        store = expand_env(config.store, where="the workspace config")
        if "://" not in store and not Path(store).is_absolute():
            store = str(home / store)
        db = expand_env(config.db, where="the workspace config")
        if db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
            rel = db[len("sqlite:///"):]
            if rel and rel != ":memory:":
                db = f"sqlite:///{home / rel}"
        self.objects = ObjectStore(store, _expand_all(config.storage_options))
        self.engine = make_engine(db)
        self.catalog = Catalog(self.engine)
        self._migrated = False

    @property
    def root(self) -> Path:
        """The project directory (the parent of ``.datamill``)."""
        return self.home.parent

    # ---------------------------------------------------------------- finding and making
    @classmethod
    def init(cls, directory: str | os.PathLike[str] = ".", *, store: str | None = None,
             db: str | None = None, storage_options: dict[str, Any] | None = None) -> Workspace:
        """Create (or re-open) a workspace in ``directory``; migrate its database.

        ``storage_options`` go to fsspec for the store (e.g. an S3 ``endpoint_url``).
        """
        home = Path(directory).resolve() / DIRNAME
        home.mkdir(parents=True, exist_ok=True)
        config_path = home / "config.json"
        created = not config_path.exists()
        if not created:
            config = WorkspaceConfig.model_validate_json(config_path.read_text())
            if ((store and store != config.store) or (db and db != config.db)
                    or (storage_options and storage_options != config.storage_options)):
                raise ConfigError(
                    f"{str(home)!r} is already a workspace with store {config.store!r} and db "
                    f"{hide_password(config.db)!r}; edit {str(config_path)!r} to move it."
                )
        else:
            config = WorkspaceConfig(**{k: v for k, v in (("store", store), ("db", db),
                                                          ("storage_options", storage_options))
                                        if v})
            tmp = config_path.with_name(f"config.json.{os.getpid()}.tmp")  # another process
            tmp.write_text(config.model_dump_json(indent=2) + "\n")   # may be reading it
            os.replace(tmp, config_path)
            (home / ".gitignore").write_text("*\n")
        try:
            ws = cls(home, config)
            ws.ensure_ready()
        except BaseException:
            if created:  # leave no half-made workspace (nor a typed-in password) behind
                config_path.unlink(missing_ok=True)
            raise
        return ws

    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None) -> Workspace:
        """The workspace of ``DATAMILL_HOME``, or the nearest ``.datamill`` above ``start``."""
        env = os.environ.get("DATAMILL_HOME")
        candidates: Iterable[Path]
        if env and start is None:
            path = Path(env).resolve()
            candidates = [path if path.name == DIRNAME else path / DIRNAME]
        else:
            here = Path(start or Path.cwd()).resolve()
            candidates = (p / DIRNAME for p in (here, *here.parents))
        for home in candidates:
            if (home / "config.json").is_file():
                config = WorkspaceConfig.model_validate_json((home / "config.json").read_text())
                ws = cls(home, config)
                ws.ensure_ready()
                return ws
        where = f"DATAMILL_HOME={env!r}" if env and start is None else f"{str(start or Path.cwd())!r} or above"
        raise NotFoundError(f"no datamill workspace at {where}. Run `datamill init` to make one.")

    def ensure_ready(self) -> None:
        """Create the store folder and bring the database schema up to date."""
        if not self._migrated:
            try:
                self.objects.fs.makedirs(self.objects.path("versions"), exist_ok=True)
                migrate(self.engine)
            except Exception as err:
                if isinstance(err, StoreError | ConfigError):
                    raise
                raise StoreError(
                    f"cannot open the workspace at {str(self.home)!r}: {type(err).__name__}: {err}"
                ) from err
            self._migrated = True

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    # ---------------------------------------------------------------- versions
    def resolve(self, ref: str) -> tuple[str, str | None, int | None]:
        """``(version id, name, seq)`` for a reference such as ``spam@3``."""
        return self.catalog.resolve(parse_ref(ref))

    def manifest(self, version_id: str) -> dict[str, Any]:
        """The manifest of a version id."""
        manifest: dict[str, Any] = self.objects.get_json(f"versions/{version_id}.json")
        return manifest

    def open(self, ref: str) -> Dataset:
        """Open a version for reading: ``ws.open("spam")``, ``"spam@3"``, ``"spam@a1b2"``."""
        version_id, name, seq = self.resolve(ref)
        return Dataset(self.manifest(version_id), self.objects, name=name, seq=seq)

    def commit_version(
        self,
        schema: pa.Schema,
        shards: list[ShardInfo],
        *,
        name: str | None = None,
        roles: dict[str, str] | None = None,
        run_id: str | None = None,
        execution_id: int | None = None,
        producer: dict[str, Any] | None = None,
        kind: str = "dataset",
        files: list[dict[str, Any]] | None = None,
        profile: dict[str, Any] | None = None,
    ) -> Dataset:
        """Make written shards a version: manifest first, then the catalog row (atomic).

        ``files``: other objects the version owns (``path``, ``sha256``; sizes are read here).
        ``profile``: the rows' statistics (``datamill.validate.profile``'s report), stored in the
        manifest so `datamill show` needs no scan; also added to an existing manifest of the
        same content that lacks them (they are not part of the version id).
        """
        if name is not None:
            check_name(name)
        owned = [{**f, "bytes": f.get("bytes", self.objects.size(f["path"]))} for f in files or ()]
        manifest = build_manifest(schema, shards, roles=roles, producer=producer, files=owned,
                                  profile=profile)
        key = f"versions/{manifest['id']}.json"
        if self.objects.exists(key):
            manifest = self.objects.get_json(key)
            if profile is not None and manifest.get("profile") is None:
                manifest = {**manifest, "profile": profile}
                self.objects.put_json_atomic(key, manifest)
        else:
            self.objects.put_json_atomic(key, manifest)
        seq = self.catalog.add_version(manifest, name=name, run_id=run_id,
                                       execution_id=execution_id, kind=kind)
        return Dataset(manifest, self.objects, name=name, seq=seq)

    def write(self, name: str | None, data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch],
              *, schema: pa.Schema | None = None, roles: dict[str, str] | None = None,
              rows_per_shard: int = 1_000_000, run_id: str | None = None,
              execution_id: int | None = None, producer: dict[str, Any] | None = None,
              kind: str = "dataset", stats: OutputStats | None = None) -> Dataset:
        """Write Arrow data as a new version of ``name`` (a run's side table when ``run_id`` is set).

        ``stats``, an empty statistics state such as ``datamill.validate.TableStats()``, is
        updated in the same pass and its report stored in the manifest, as ``write.dataset``
        does (``Dataset.profile``, `datamill show`).
        """
        if isinstance(data, pa.Table):
            schema = schema or data.schema
            batches: Iterable[pa.RecordBatch] = data.to_batches()
        elif isinstance(data, pa.RecordBatch):
            schema = schema or data.schema
            batches = [data]
        else:
            batches = data
            if schema is None:
                raise ConfigError("write(): pass `schema=` when writing an iterator of batches")
        writer = ShardWriter(self.objects, schema, rows_per_shard=rows_per_shard)
        for batch in batches:
            writer.write(batch)
            if stats is not None:
                stats.update(batch)
        return self.commit_version(schema, writer.close(), name=name, roles=roles, run_id=run_id,
                                   execution_id=execution_id, producer=producer, kind=kind,
                                   profile=stats.report() if stats is not None else None)

    def verify(self, version_id: str, *, deep: bool = False) -> str | None:
        """Why a version cannot be used (a missing manifest or shard), or None when it is whole.

        ``deep`` also re-hashes every shard.
        """
        key = f"versions/{version_id}.json"
        if not self.objects.exists(key):
            return f"manifest {key} is missing"
        manifest = self.manifest(version_id)
        for shard in [*manifest["shards"], *manifest.get("files", [])]:
            size = self.objects.size(shard["path"])
            if size is None:
                return f"shard {shard['path']} is missing"
            if size != shard["bytes"]:
                return f"shard {shard['path']} has {size} bytes, expected {shard['bytes']}"
            if deep and sha256_file(self.objects.fs, self.objects.path(shard["path"])) != shard["sha256"]:
                return f"shard {shard['path']} does not match its hash"
        return None

    # ---------------------------------------------------------------- source files
    def file_hash(self, url: str) -> dict[str, Any]:
        """``{url, size, sha256}`` of an input file, re-hashed only when size or mtime changed."""
        return self.file_hashes([url])[0]

    def file_hashes(self, urls: list[str], *, threads: int = 4,
                    before_hashing: Callable[[], None] | None = None) -> list[dict[str, Any]]:
        """`file_hash` for many files; the ones to hash are hashed in threads (hashlib
        releases the GIL, so two cores hash twice as fast). ``before_hashing`` is called
        once when some file must really be read."""
        stats = []
        for url in urls:
            fs, path = fsspec.core.url_to_fs(url)
            try:
                info = fs.info(path)
            except FileNotFoundError as err:
                raise NotFoundError(f"input file {url!r} does not exist") from err
            size = int(info.get("size") or 0)
            mtime = str(info.get("mtime") or info.get("LastModified") or info.get("ETag") or "")
            known = self.catalog.known_file_hash(url, size, mtime) if mtime else None
            stats.append((url, fs, path, size, mtime, known))
        todo = [s for s in stats if s[5] is None]
        if todo and before_hashing is not None:
            before_hashing()
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(todo)))) as pool:
            hashed = dict(zip([s[0] for s in todo],
                              pool.map(lambda s: sha256_file(s[1], s[2]), todo), strict=True))
        out = []
        for url, _fs, _path, size, mtime, known in stats:
            if known is None:
                known = hashed[url]
                if mtime:
                    self.catalog.save_file_hash(url, size, mtime, known)
            out.append({"url": url, "size": size, "sha256": known})
        return out

    def __repr__(self) -> str:
        return f"<Workspace {str(self.home)!r} store={self.objects.url!r}>"


def describe(ws: Workspace) -> dict[str, Any]:
    """The workspace's locations, with any password hidden (for `datamill init --json`)."""
    from sqlalchemy.engine import make_url

    return {"home": str(ws.home), "store": ws.objects.url,
            "db": make_url(str(ws.engine.url)).render_as_string(hide_password=True)}


