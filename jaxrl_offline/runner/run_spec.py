"""What a run is and where it lives: :class:`RunSpec` (every setting that determines a run's
result, and its ``spec_hash``), the schedule checks, the record, checkpoint and partial-record
paths under a workdir, and finding or removing a finished run
(``jaxrl_offline.runner.experiment`` runs it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import shutil
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jaxrl_offline.datasets import transforms as transforms_lib
from jaxrl_offline.reporting import formatting, results
from jaxrl_offline.runner import finetune, tracking


class RunConflictError(ValueError):
    """A finished record exists for this run name but was produced with other settings."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's result, plus how to checkpoint it.

    Attributes:
      algorithm: registry name (``"iql"``).
      dataset: dataset spec for ``data.load_dataset``.
      config: the algorithm's final ``Config`` (built by ``experiments.sweep.build_config``).
      seeds: seeds trained together (vmapped, seed axis first).
      steps: updates per seed; a multiple of ``chunk``.
      chunk: updates per jitted ``lax.scan`` call.
      eval_every: evaluate every this many updates (a multiple of ``chunk``; 0 = final only). The
        final step is always evaluated.
      eval_episodes: episodes per seed and evaluation.
      overrides: provenance of ``config``: ``{layer: {field: value}}`` (recorded, not applied).
      variant: optional sweep-variant label; runs of one algorithm and dataset with different
        variants get different records and table columns.
      max_episode_steps: cap on evaluation episode length (``None``: the env's own limit).
      checkpoint_every: save a checkpoint every this many chunks (0 = never); while fine-tuning,
        every this many online evaluations.
      online_steps: env steps of online fine-tuning per seed after the offline phase (0 = none;
        ``jaxrl_offline.runner.finetune``).
      online_eval_every: env steps between online evaluations (0 = only at the start and end).
      online_update_every: env steps per jitted learning call (as many updates; 1 = the policy is
        updated before every env step).
      grid_fields: for one point of a hyperparameter grid (``--grid``), the gridded config
        fields: the grid's points train together in one program (``jaxrl_offline.runner.grid_run``).
        Not part of ``spec_hash``: a point's record is the record of a plain run of its config.
    """

    algorithm: str
    dataset: str
    config: Any
    seeds: tuple[int, ...]
    steps: int
    chunk: int
    eval_every: int
    eval_episodes: int
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    variant: str = ""
    max_episode_steps: int | None = None
    checkpoint_every: int = 0
    online_steps: int = 0
    online_eval_every: int = 0
    online_update_every: int = 1
    grid_fields: tuple[str, ...] = ()

    def __post_init__(self):
        check_schedule(self.steps, self.chunk, self.eval_every)
        finetune.check_online_schedule(self.online_steps, self.online_eval_every,
                                       self.online_update_every)
        if self.eval_episodes < 1:
            raise ValueError(f"eval_episodes must be >= 1, got {self.eval_episodes}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0 chunks, got {self.checkpoint_every}")
        if self.variant and not re.fullmatch(r"[A-Za-z0-9._=-]+", self.variant):
            raise ValueError(f"variant {self.variant!r} may only use letters, digits and ._=-")

    @property
    def name(self) -> str:
        """File-system name of the run: ``<algorithm>[-<variant>]__<dataset slug>``."""
        algorithm = f"{self.algorithm}-{self.variant}" if self.variant else self.algorithm
        return f"{algorithm}__{formatting.file_slug(self.dataset)}"

    @property
    def eval_steps(self) -> list[int]:
        every = self.eval_every or self.steps
        return sorted({*range(every, self.steps + 1, every), self.steps})

    @property
    def spec_hash(self) -> str:
        """Hash of every setting that changes the result (not ``checkpoint_every``)."""
        online = None
        if self.online_steps:  # Offline-only runs keep their hashes (and records) unchanged.
            online = [self.online_steps, self.online_eval_every, self.online_update_every]
        return spec_hash_of(
            algorithm=self.algorithm, variant=self.variant, dataset=self.dataset,
            config=config_to_json(self.config), seeds=list(self.seeds), steps=self.steps,
            chunk=self.chunk, eval_every=self.eval_every, eval_episodes=self.eval_episodes,
            max_episode_steps=self.max_episode_steps, online=online)


def spec_hash_of(*, online: list[int] | None, **fingerprint: Any) -> str:
    """``RunSpec.spec_hash`` of its fields as JSON values (also recomputed from records)."""
    if online is not None:
        fingerprint["online"] = online
    text = json.dumps(fingerprint, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_to_json(value: Any) -> Any:
    """A config (dataclass or dict) as JSON values; non-finite floats become ``"inf"`` etc."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(key): config_to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [config_to_json(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return results.to_jsonable(value)


def check_schedule(steps: int, chunk: int, eval_every: int) -> None:
    """Raises ``ValueError`` unless steps and eval_every are multiples of chunk."""
    if chunk < 1 or steps < 1:
        raise ValueError(f"steps and chunk must be >= 1, got steps={steps}, chunk={chunk}")
    if steps % chunk:
        raise ValueError(
            f"--steps={steps} is not a multiple of --chunk={chunk}: every chunk has the same "
            f"length (one compiled scan). Use e.g. --steps={(steps // chunk + 1) * chunk}.")
    if eval_every < 0 or eval_every % chunk:
        raise ValueError(
            f"--eval_every={eval_every} is not a multiple of --chunk={chunk}: evaluation happens "
            "between chunks. Pick a multiple of the chunk (or a smaller --chunk).")


# --- Paths and skipping --------------------------------------------------------------------------


def record_path(workdir: str | os.PathLike, spec: RunSpec) -> pathlib.Path:
    return pathlib.Path(workdir) / "runs" / f"{spec.name}.json"


def checkpoint_dir(workdir: str | os.PathLike, spec: RunSpec) -> pathlib.Path:
    return pathlib.Path(workdir) / "checkpoints" / spec.name


def partial_record_path(workdir: str | os.PathLike, spec: RunSpec) -> pathlib.Path:
    """Where an interrupted run leaves its record so far (``status`` ``"interrupted"``); deleted
    when the run finishes. Tables never read it."""
    return pathlib.Path(workdir) / "partial" / f"{spec.name}.json"


def finished_record(spec: RunSpec, workdir: str | os.PathLike,
                    log: Callable[[str], None] | None = None) -> dict | None:
    """The record of an already finished identical run, ``None`` if there is none.

    A damaged record (unreadable, invalid, or with scores not matching its digest) of a run whose
    final checkpoint exists also gives ``None``: :func:`run_experiment` then rebuilds the record
    from that checkpoint without training. Otherwise raises ``RecordError`` for a damaged record,
    and :class:`RunConflictError` for a record of this name made with other settings.
    """
    path = record_path(workdir, spec)
    if not path.exists():
        return None
    try:
        record = results.read_record(path)
    except results.RecordError as err:
        if not has_final_checkpoint(spec, workdir):
            raise
        if log is not None:
            log(f"{spec.name}: {path} is damaged ({str(err).split('. ')[0]}); rebuilding it from "
                "the run's final checkpoint.")
        return None
    if record["spec_hash"] != spec.spec_hash:
        raise RunConflictError(
            f"{path} holds a finished run of {spec.algorithm} on {record['dataset_id']} made with "
            f"other settings (steps, seeds, config, ...). Rerun with --redo={spec.name} to replace "
            "just this run, or use another --workdir.")
    stale = stale_transforms(spec, record)
    if stale:
        raise RunConflictError(
            f"{path} holds a finished run of {spec.algorithm} on {record['dataset_id']} whose data "
            f"transforms are no longer the table's ({stale}; jaxrl_offline/datasets/"
            f"transforms.py changed since it ran). Rerun with --redo={spec.name} to replace just "
            "this run, or use another --workdir.")
    return record


_TABLE_SOURCE = re.compile(r"^TRANSFORM_TABLE\[([a-z_]+)/[^\]]+\]")


def stale_transforms(spec: RunSpec, record: Mapping[str, Any]) -> str:
    """How a finished record's table-chosen data transforms differ from what the transform table
    (and the run's ``Config.dataset_transforms``) gives its run now, ``""`` when they agree.

    The transforms are not part of ``spec_hash`` (they follow from the dataset and algorithm), so
    a change of the table would otherwise leave older records counted as finished. Records with
    explicit transforms, or without a ``transforms`` entry, are not checked.
    """
    made_with = record.get("transforms") or {}
    matched = _TABLE_SOURCE.match(str(made_with.get("source", "")))
    if not matched or "config" not in made_with:
        return ""
    now = transforms_lib.resolve_transforms(matched.group(1), spec.algorithm)
    if hasattr(spec.config, "dataset_transforms"):
        now = spec.config.dataset_transforms(now)
    expected = dataclasses.asdict(now)
    differing = {key: (made_with["config"].get(key), value) for key, value in expected.items()
                 if made_with["config"].get(key) != value}
    return ", ".join(f"{key}: {old!r} then, {new!r} now" for key, (old, new) in differing.items())


def has_final_checkpoint(spec: RunSpec, workdir: str | os.PathLike) -> bool:
    """Whether an offline run's checkpoint after its last chunk exists (it holds every score)."""
    final = checkpoint_dir(workdir, spec) / str(spec.steps // spec.chunk)
    return not spec.online_steps and final.is_dir()


def remove_run(spec: RunSpec, workdir: str | os.PathLike) -> None:
    """Deletes a run's record, checkpoints and TensorBoard events (``--overwrite``)."""
    record_path(workdir, spec).unlink(missing_ok=True)
    partial_record_path(workdir, spec).unlink(missing_ok=True)
    shutil.rmtree(checkpoint_dir(workdir, spec), ignore_errors=True)
    shutil.rmtree(tracking.tensorboard_dir(workdir, spec.name), ignore_errors=True)
