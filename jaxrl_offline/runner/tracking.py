"""Live experiment tracking (optional): TensorBoard event files and offline wandb runs.

``python -m experiments.run --log_to=tensorboard,wandb`` (install the ``[tracking]`` extra) opens
one tracking run per run of the sweep (one ``(algorithm, dataset, config)``, its seeds as series)
under ``<workdir>/tracking/``:

- ``tensorboard/<run name>/``: event files written by ``tensorboardX``
  (``tensorboard --logdir <workdir>/tracking/tensorboard``);
- ``wandb/``: ``wandb`` runs in offline mode, named after the run (``wandb sync`` uploads them).

Logged, at the step each value belongs to: every chunk's training metrics
(``train/<metric>/seed_<s>`` and ``train/<metric>/mean``: the per-seed chunk means the chunk already
returns), every evaluation (``eval/normalized_score/seed_<s>``, ``eval/normalized_score/mean``,
``eval/return/seed_<s>``, the mean return of each seed's episodes), each chunk's learning rates
(``lr/<config field>``, see :func:`learning_rates`), and at the end the record's ``final`` scores
(wandb summary; TensorBoard text). The run record's config and provenance (:func:`run_config`) are
the run's config (wandb ``config``; TensorBoard text ``config``).

Metrics reach the host once per chunk, after the chunk has finished (the loop already waits for
it), and only while tracking. A backend that fails (not installed, or a writer raising) prints one
warning and is switched off; the run goes on. A resumed run appends to the same TensorBoard folder
and starts a new offline wandb run of the same name; a redone run (``--redo``, ``--overwrite``)
starts its TensorBoard folder afresh.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optax

# Record keys that hold results, not settings: left out of the run's config.
_RESULT_KEYS = ("status", "eval_steps", "normalized_scores", "returns", "final", "train_metrics",
                "diverged_seeds", "diverged_at_step", "timing", "warnings", "scores_digest")


def run_config(record: Mapping[str, Any]) -> dict:
    """The record's settings and provenance (config, overrides, dataset, seeds, versions,
    git commit, device, spec hash, command): the record without its results."""
    return {key: value for key, value in record.items() if key not in _RESULT_KEYS}


def parse_log_to(names: Sequence[str]) -> tuple[str, ...]:
    """Checks ``--log_to`` names against :data:`BACKENDS`; ``ValueError`` naming the valid ones."""
    names = tuple(name.strip() for name in names if name.strip())
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown:
        raise ValueError(f"--log_to: unknown tracking backend(s) {unknown}; choose from "
                         f"{', '.join(BACKENDS)}")
    return tuple(dict.fromkeys(names))


def tracking_dir(workdir: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(workdir) / "tracking"


def tensorboard_dir(workdir: str | os.PathLike, name: str) -> pathlib.Path:
    """A run's TensorBoard folder; ``--redo``/``--overwrite`` delete it with the run (offline wandb
    runs are kept: each is its own folder)."""
    return tracking_dir(workdir) / "tensorboard" / name


class TensorBoardWriter:
    """One ``tensorboardX.SummaryWriter`` per run: ``<workdir>/tracking/tensorboard/<name>/``."""

    def __init__(self, workdir, name: str, config: dict):
        from tensorboardX import SummaryWriter

        self.directory = tensorboard_dir(workdir, name)
        self.writer = SummaryWriter(logdir=str(self.directory))
        text = json.dumps(config, indent=1, sort_keys=True, default=str)
        self.writer.add_text("config", "```\n" + text + "\n```", global_step=0)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, global_step=step)
        self.writer.flush()

    def finish(self, summary: Mapping[str, Any]) -> None:
        text = json.dumps(summary, indent=1, sort_keys=True, default=str)
        self.writer.add_text("final", "```\n" + text + "\n```", global_step=0)
        self.writer.close()


class WandbWriter:
    """One offline ``wandb`` run per run, under ``<workdir>/tracking/wandb/``."""

    def __init__(self, workdir, name: str, config: dict):
        import wandb

        self.wandb = wandb
        directory = tracking_dir(workdir)
        directory.mkdir(parents=True, exist_ok=True)
        # console="off": the run's output (progress bars) is not captured.
        self.run = wandb.init(project="jaxrl_offline", name=name, group=name, dir=str(directory),
                              mode="offline", config=config,
                              settings=wandb.Settings(silent=True, console="off"))

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log(dict(values), step=step)

    def finish(self, summary: Mapping[str, Any]) -> None:
        self.run.summary.update(dict(summary))
        self.run.finish()
        # wandb's service writes the offline run file after finish() returns; shutting it down
        # waits for that, so the run is complete on disk when the experiment returns.
        self.wandb.teardown()


BACKENDS: dict[str, Callable[..., Any]] = {"tensorboard": TensorBoardWriter,
                                           "wandb": WandbWriter}


def learning_rates(config: Mapping[str, Any], step: int) -> dict[str, float]:
    """``{"lr/<field>": rate}`` of a run's config at update ``step``: every ``*_lr`` or
    ``learning_rate`` field, the actor's decayed by the same ``optax.cosine_decay_schedule`` that
    ``state.make_optimizer`` builds when the config has ``cosine_decay_steps`` (IQL's and IDQL's
    actor). Computed on the host from the config: no value leaves the device for it."""
    decay = config.get("cosine_decay_steps")
    rates = {}
    for name, value in config.items():
        if not (name.endswith("_lr") or name == "learning_rate") or not isinstance(
                value, (int, float)):
            continue
        if name == "actor_lr" and decay:
            value = optax.cosine_decay_schedule(value, decay)(step)
        rates[f"lr/{name}"] = float(value)
    return rates


class Tracker:
    """What the experiment loop calls: :meth:`chunk`, :meth:`evaluation`, :meth:`finish`.

    Every call goes to each open backend; a backend that raises is reported once through ``log``
    and closed, and the run goes on. With no backends every method does nothing.
    """

    def __init__(self, backends: Sequence[str], workdir, record: Mapping[str, Any],
                 log: Callable[[str], None] = print):
        self.log, self.writers = log, {}
        self.seeds = list(record["seeds"])
        self.algorithm_config = dict(record.get("config") or {})
        config = run_config(record)
        for backend in backends:
            writer = self._call(backend, BACKENDS[backend], workdir, record["name"], config,
                                opening=True)
            if writer is not None:
                self.writers[backend] = writer

    @property
    def active(self) -> bool:
        return bool(self.writers)

    def chunk(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Training metrics of the chunk ending at ``step``: ``{name: per-seed values [S]}`` on
        the host."""
        if self.active:
            values = {}
            for name, per_seed in sorted(metrics.items()):
                values.update(self._per_seed(f"train/{name}", per_seed))
            values.update(learning_rates(self.algorithm_config, step))
            self._scalars(step, values)

    def evaluation(self, step: int, normalized: Sequence[float | None],
                   returns: np.ndarray) -> None:
        """One evaluation: per-seed mean scores (``None``: diverged) and returns
        ``[S, episodes]``."""
        if self.active:
            scores = np.array([np.nan if s is None else s for s in normalized], dtype=float)
            values = self._per_seed("eval/normalized_score", scores)
            returns = np.asarray(returns, dtype=float).reshape(len(self.seeds), -1)
            values.update(self._per_seed("eval/return", returns.mean(axis=1), mean=False))
            self._scalars(step, values)

    def finish(self, record: Mapping[str, Any]) -> None:
        """Adds the record's ``final`` scores and closes every backend."""
        summary = {f"final/{score}/{key}": value
                   for score, stats in record.get("final", {}).items()
                   for key, value in stats.items() if not isinstance(value, (list, dict))}
        summary["diverged_seeds"] = list(record.get("diverged_seeds", []))
        for backend, writer in list(self.writers.items()):
            self._call(backend, writer.finish, summary)
        self.writers.clear()

    def _per_seed(self, tag: str, per_seed, mean: bool = True) -> dict[str, float]:
        per_seed = np.asarray(per_seed, dtype=float).reshape(-1)
        values = {f"{tag}/seed_{seed}": float(value)
                  for seed, value in zip(self.seeds, per_seed) if np.isfinite(value)}
        finite = per_seed[np.isfinite(per_seed)]
        if mean and finite.size:
            values[f"{tag}/mean"] = float(finite.mean())
        return values

    def _scalars(self, step: int, values: Mapping[str, float]) -> None:
        for backend, writer in list(self.writers.items()):
            self._call(backend, writer.scalars, step, values)

    def _call(self, backend: str, fn: Callable[..., Any], *args, opening: bool = False) -> Any:
        """``fn(*args)``; on an exception one warning, ``backend`` closed and ``None``."""
        try:
            return fn(*args)
        except Exception as err:  # noqa: BLE001 -- tracking must never stop a run.
            writer = self.writers.pop(backend, None)
            if writer is not None and fn != writer.finish:
                try:  # Close what it wrote so far, quietly: it failed once already.
                    writer.finish({})
                except Exception:  # noqa: BLE001, S110
                    pass
            hint = " (pip install 'jaxrl_offline[tracking]')" if isinstance(
                err, ImportError) else ""
            action = "could not start" if opening else "failed"
            self.log(f"warning: tracking to {backend} {action}: {type(err).__name__}: {err}"
                     f"{hint}; the run goes on without it.")
            return None
