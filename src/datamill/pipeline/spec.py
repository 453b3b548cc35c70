"""Pipeline specs: YAML (GitHub-Actions-like) or Python, validated before anything runs.

.. code-block:: yaml

    name: spam
    steps:
      - {id: raw, uses: read.csv, with: {paths: [data/*.csv]}}
      - {id: ham, uses: filter.expr, input: raw, with: {expr: "pl.col('CLASS') == 0"}}
    outputs: {ham: ham}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from datamill.core.errors import ConfigError, DatamillError, did_you_mean
from datamill.pipeline.registry import relative_to, resolve_step
from datamill.pipeline.step import Step
from datamill.store.refs import check_name

__all__ = ["PipelineSpec", "PlannedStep", "StepSpec", "in_step", "load_spec", "plan"]


class StepSpec(BaseModel):
    """One entry of ``steps:``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=100)
    uses: str
    input: str | list[str] | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")

    @property
    def inputs(self) -> list[str]:
        if self.input is None:
            return []
        return [self.input] if isinstance(self.input, str) else list(self.input)


class PipelineSpec(BaseModel):
    """A whole pipeline: a name, steps, and which step outputs become named datasets."""

    model_config = ConfigDict(extra="forbid")

    name: str
    steps: list[StepSpec] = Field(min_length=1)
    outputs: dict[str, str] = Field(default_factory=dict)
    seed: int = 0

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_name(value)


@dataclass
class PlannedStep:
    """A validated step: its spec, its step object and its position in the DAG."""

    spec: StepSpec
    step: Step[Any]
    consumers: list[str]

    @property
    def id(self) -> str:
        return self.spec.id


def _pydantic_message(where: str, err: ValidationError) -> str:
    lines = []
    for problem in err.errors():
        loc = ".".join(str(p) for p in problem["loc"])
        if problem["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key `{loc}`.")
        elif problem["type"] == "missing":
            lines.append(f"{where}: `{loc}` is required.")
        else:
            lines.append(f"{where}: `{loc}` {problem['msg'].lower()}, got {problem.get('input')!r}.")
    return "\n".join(lines)


def in_step(err: DatamillError, step_id: str, uses: str, label: str) -> DatamillError:
    """The same error, naming the pipeline's step id where the step named itself by label."""
    own = f"step {label!r}"
    where = f"step {step_id!r} ({uses})"
    text = str(err)
    text = text.replace(own, where) if own in text else f"{where}: {text}"
    return type(err)(text)


def load_spec(source: str | Path | Mapping[str, Any]) -> tuple[PipelineSpec, Path]:
    """Read a spec from a YAML file or a dict; returns it with the directory paths are relative to."""
    if isinstance(source, Mapping):
        data: Any = dict(source)
        base_dir = Path.cwd()
        where = "pipeline"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"pipeline file {str(path)!r} does not exist.")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        base_dir = path.resolve().parent
        where = str(path)
        if isinstance(data, dict):
            data.setdefault("name", path.stem)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a pipeline is a mapping with `name`, `steps` and `outputs`.")
    try:
        return PipelineSpec.model_validate(data), base_dir
    except ValidationError as err:
        raise ConfigError(_pydantic_message(where, err)) from err


def plan(spec: PipelineSpec, base_dir: Path) -> list[PlannedStep]:
    """Validate a spec and return its steps in a valid execution order.

    Checks unique ids, known steps, configs, inputs, cycles, arity and outputs; each error names
    the step and the field.
    """
    by_id: dict[str, StepSpec] = {}
    for index, step_spec in enumerate(spec.steps):
        if step_spec.id in by_id:
            raise ConfigError(f"steps[{index}]: id {step_spec.id!r} is used twice; ids must be unique.")
        by_id[step_spec.id] = step_spec

    planned: dict[str, PlannedStep] = {}
    for step_spec in spec.steps:
        where = f"step {step_spec.id!r}"
        with relative_to(base_dir):
            try:
                cls = resolve_step(step_spec.uses, base_dir=base_dir)
            except DatamillError as err:
                raise type(err)(f"{where}: {err}") from err
            try:
                step = cls(step_spec.with_)
            except DatamillError as err:
                raise in_step(err, step_spec.id, step_spec.uses, cls.name or cls.__name__) from err
        for name in step_spec.inputs:
            if name not in by_id:
                raise ConfigError(
                    f"{where}: input {name!r} is not a step of this pipeline."
                    f"{did_you_mean(name, by_id)} Steps: {', '.join(by_id)}."
                )
        n_inputs = len(step_spec.inputs)
        if cls.kind == "source" and n_inputs:
            raise ConfigError(f"{where}: {step_spec.uses} reads files itself and takes no `input`.")
        if cls.kind != "source" and n_inputs == 0:
            raise ConfigError(f"{where}: {step_spec.uses} needs an `input` (the id of a step).")
        if n_inputs > 1 and not cls.multi_input:
            raise ConfigError(
                f"{where}: {step_spec.uses} takes one input, got {n_inputs}; "
                "combine them first with a `concat` step."
            )
        planned[step_spec.id] = PlannedStep(step_spec, step, [])

    for step_spec in spec.steps:
        for name in step_spec.inputs:
            planned[name].consumers.append(step_spec.id)

    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = [*path[path.index(node):], node]
            raise ConfigError(f"pipeline {spec.name!r} has a cycle: {' -> '.join(cycle)}.")
        state[node] = 1
        for upstream in by_id[node].inputs:
            visit(upstream, [*path, node])
        state[node] = 2
        order.append(node)

    for step_spec in spec.steps:
        visit(step_spec.id, [])

    for out_name, step_id in spec.outputs.items():
        check_name(out_name)
        if step_id not in planned:
            raise ConfigError(
                f"outputs.{out_name}: {step_id!r} is not a step.{did_you_mean(step_id, planned)}"
            )
    return [planned[s] for s in order]
