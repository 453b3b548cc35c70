"""Step registry: names used in ``uses:``, built-ins, and steps in a user's own file."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from datamill.core.errors import ConfigError, NotFoundError, did_you_mean
from datamill.pipeline.outcome import Outcome
from datamill.pipeline.step import Step, StepConfig, StepContext, Transform

__all__ = ["base_dir", "load_user_file", "register", "registered_steps", "relative_to", "resolve_step", "transform"]

_REGISTRY: dict[str, type[Step[Any]]] = {}
# Relative paths in a step's config (a function file) are relative to the pipeline file.
_BASE_DIR: ContextVar[Path | None] = ContextVar("datamill_base_dir", default=None)
# Built-in step name → module; a worker imports only the modules of the steps it runs.
_BUILTINS = {
    "read.csv": "datamill.ingest.csv",
    "read.jsonl": "datamill.ingest.jsonl",
    "read.parquet": "datamill.ingest.parquet",
    "read.text": "datamill.ingest.text",
    "read.html": "datamill.ingest.html",
    "read.pdf": "datamill.ingest.pdf",
    "read.docx": "datamill.ingest.docx",
    "read.sql": "datamill.ingest.sql",
    "read.api": "datamill.ingest.api",
    "read.web": "datamill.ingest.web",
    "read.dataset": "datamill.ingest.dataset",
    "clean.text": "datamill.clean.text",
    "clean.boilerplate": "datamill.clean.boilerplate",
    "clean.table": "datamill.clean.table",
    "lang.detect": "datamill.clean.language",
    "filter.language": "datamill.clean.language",
    "filter.gopher_quality": "datamill.clean.quality",
    "filter.gopher_repetition": "datamill.clean.quality",
    "filter.c4": "datamill.clean.quality",
    "filter.fineweb": "datamill.clean.quality",
    "chunk.text": "datamill.clean.chunk",
    "dedup.exact": "datamill.dedup.exact",
    "dedup.lines": "datamill.dedup.lines",
    "dedup.decontaminate": "datamill.dedup.decontaminate",
    "table.to_text": "datamill.clean.table_text",
    "filter.expr": "datamill.ops.filter",
    "map.python": "datamill.ops.map",
    "select": "datamill.ops.columns",
    "rename": "datamill.ops.columns",
    "sample": "datamill.ops.sample",
    "concat": "datamill.ops.concat",
    "write.dataset": "datamill.ops.write",
    "llm.tokenize": "datamill.llm.tokenize",
    "llm.pack": "datamill.llm.pack",
    "tokenize.train": "datamill.llm.train",
    "dedup.minhash": "datamill.dedup.minhash",
    "label.apply": "datamill.label.apply",
    "label.aggregate": "datamill.label.steps",
    "stats.profile": "datamill.validate.profile",
    "validate": "datamill.validate.step",
    "label.standardize": "datamill.label.standardize",
    "label.slices": "datamill.label.slicing",
    "label.errors": "datamill.label.errors",
}
_builtins_loaded = False

T = TypeVar("T", bound=type[Step[Any]])


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a step available as ``uses: <name>``.

    >>> from datamill.pipeline import Transform, register
    >>> @register("demo.noop")
    ... class Noop(Transform):
    ...     def process(self, batch, ctx):
    ...         return batch
    >>> resolve_step("demo.noop") is Noop
    True
    """

    def decorate(cls: T) -> T:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ConfigError(
                f"two steps claim the name {name!r}: {existing.__module__}.{existing.__qualname__} "
                f"and {cls.__module__}.{cls.__qualname__}. Rename one of them."
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def base_dir() -> Path:
    """The directory relative paths in step configs are resolved against."""
    return _BASE_DIR.get() or Path.cwd()


@contextmanager
def relative_to(directory: Path) -> Iterator[None]:
    """Resolve relative paths in step configs against ``directory`` while building steps."""
    token = _BASE_DIR.set(directory)
    try:
        yield
    finally:
        _BASE_DIR.reset(token)


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        for module in dict.fromkeys(_BUILTINS.values()):
            importlib.import_module(module)
        _builtins_loaded = True


def registered_steps() -> dict[str, type[Step[Any]]]:
    """All registered steps by name (built-ins included), sorted."""
    _load_builtins()
    return dict(sorted(_REGISTRY.items()))


def load_user_file(path: Path) -> Any:
    """Import a user's Python file once per content (its sha256 becomes the code version)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    module_name = f"datamill_user_{digest[:16]}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {str(path)!r} as Python; is it a .py file?")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # the user's code: report whatever it raised
            del sys.modules[module_name]
            raise ConfigError(f"importing {str(path)!r} failed: {type(err).__name__}: {err}") from err
    module.__dict__["__datamill_code_hash__"] = digest
    return module


def resolve_step(uses: str, *, base_dir: Path | None = None) -> type[Step[Any]]:
    """Find the step class for a ``uses:`` value.

    Accepts a registry name (``read.csv``), a file and attribute (``./steps.py:Shout``, relative
    to ``base_dir``) or a module and attribute (``my_pkg.steps:Shout``). A user step's source
    hash becomes part of its cache key.
    """
    if uses in _REGISTRY:
        return _REGISTRY[uses]
    if uses in _BUILTINS:
        importlib.import_module(_BUILTINS[uses])
        return _REGISTRY[uses]
    if ":" not in uses:
        _load_builtins()
        if uses in _REGISTRY:
            return _REGISTRY[uses]
        raise NotFoundError(
            f"no step named {uses!r}.{did_you_mean(uses, _REGISTRY)} `datamill steps` lists them; "
            "a step in your own file is written `./file.py:ClassName`."
        )
    target, _, attr = uses.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_absolute():
            path = (base_dir or _BASE_DIR.get() or Path.cwd()) / path
        if not path.is_file():
            raise NotFoundError(f"step {uses!r}: file {str(path)!r} does not exist.")
        module = load_user_file(path.resolve())
        code_hash = module.__datamill_code_hash__
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise NotFoundError(f"step {uses!r}: cannot import module {target!r}: {err}") from err
        file = getattr(module, "__file__", None)
        code_hash = hashlib.sha256(Path(file).read_bytes()).hexdigest() if file else None
    obj = getattr(module, attr, None)
    if obj is None:
        names = [n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, Step)]
        raise NotFoundError(f"step {uses!r}: {target!r} has no `{attr}`.{did_you_mean(attr, names)}")
    if not (inspect.isclass(obj) and issubclass(obj, Step)):
        raise ConfigError(
            f"step {uses!r}: `{attr}` is a {type(obj).__name__}, not a step. Subclass "
            "`datamill.pipeline.Transform` (or Source, Aggregate, Sink) or decorate a function "
            "with `@datamill.transform`."
        )
    obj.code_hash = code_hash
    if not obj.name:
        obj.name = uses
    return obj


def transform(
    fn: Callable[..., pa.RecordBatch | Outcome] | None = None,
    *,
    config: type[StepConfig] = StepConfig,
) -> Any:
    """Turn a function ``fn(batch[, ctx][, config]) -> batch | Outcome`` into a Transform step.

    >>> import pyarrow.compute as pc
    >>> @transform
    ... def shout(batch):
    ...     return batch.set_column(1, "text", pc.utf8_upper(batch["text"]))
    >>> shout.kind
    'transform'
    """

    def wrap(func: Callable[..., pa.RecordBatch | Outcome]) -> type[Transform[Any]]:
        params = list(inspect.signature(func).parameters)

        def process(self: Transform[Any], batch: pa.RecordBatch, ctx: StepContext) -> Any:
            kwargs = {}
            if "ctx" in params:
                kwargs["ctx"] = ctx
            if "config" in params:
                kwargs["config"] = self.config
            return func(batch, **kwargs)

        namespace = {"process": process, "__doc__": func.__doc__, "__module__": func.__module__,
                     "config_class": config}
        cls: type[Transform[Any]] = types.new_class(
            func.__name__, (Transform[config],),  # type: ignore[valid-type]
            exec_body=lambda ns: ns.update(namespace),
        )
        return cls

    return wrap(fn) if fn is not None else wrap
