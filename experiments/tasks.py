"""D4RL task names and the dataset ids that stand for them on each data source.

Papers report scores per D4RL *task* (``hopper-medium-replay-v2``); this project can run a task
on three sources of data, which are different data for the same task:

* ``local``: the project's regenerated suite, ``jaxrl_offline/<env>/<kind>-v0`` (Gymnasium v5
  envs, the shipped SAC behavior policies; generated on first use, no network);
* ``minari``: Farama's remote Minari datasets, ``mujoco/<env>/<medium|expert>-v0`` (regenerated
  on v5 envs; no random or medium-replay, medium-expert is the medium+expert mixture) and
  ``D4RL/antmaze/<maze>-v1``;
* ``d4rl:<dir>``: the original D4RL hdf5 files in ``<dir>`` (``<task>-v2.hdf5``).

:func:`task_name` maps any dataset id back to its task (tables use it to put published numbers
beside ours); :func:`dataset_for` maps a task to a source's id (sweep files use it). Sweep files of
paper tables read the source from the ``JAXRL_OFFLINE_DATA`` environment variable (``local`` when
unset), e.g. ``JAXRL_OFFLINE_DATA=d4rl:/data/d4rl python -m experiments.run --sweep=iql_table1``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

from jaxrl_offline.datasets import dataset_spec
from jaxrl_offline.local_suite import suite

DATA_ENV_VAR = "JAXRL_OFFLINE_DATA"
LOCOMOTION_ENVS = ("halfcheetah", "hopper", "walker2d")
ANTMAZE_MAZES = ("umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play",
                 "large-diverse")
MINARI_MUJOCO_KINDS = ("medium", "expert")
SOURCE_LABELS = {"local": "local suite", "minari": "Minari", "d4rl": "D4RL files",
                 "synthetic": "generated InvertedPendulum", "other": "other data"}

def locomotion_tasks(kinds: Sequence[str], envs: Sequence[str] = LOCOMOTION_ENVS) -> list[str]:
    """``[<env>-<kind>]`` in the papers' row order (kind-major: medium rows of every env first)."""
    return [f"{env}-{kind}" for kind in kinds for env in envs]


def task_name(dataset_id: str) -> str | None:
    """The D4RL task a dataset id stands for (``hopper-medium``), or ``None`` if unknown
    (``jaxrl_offline.datasets.dataset_spec.DatasetSpec.task``).

    A mixture of one env's parts is ``<env>-<kind>+<kind>``, except medium+expert, which is D4RL's
    medium-expert (exactly the two concatenated)."""
    return dataset_spec.parse(dataset_id).task


def source_of(dataset_id: str) -> str:
    """``local``, ``minari``, ``d4rl``, ``synthetic`` or ``other`` (of the first part)."""
    return dataset_spec.parse(dataset_id).source


def dataset_for(task: str, source: str = "local") -> str | None:
    """The dataset id of ``task`` on ``source`` (``local``, ``minari``, ``d4rl:<dir>``), or
    ``None`` when that source has no such data (Minari: random, medium-replay)."""
    env, kind = task.split("-", 1)
    if "+" in kind:  # A mixture: every part on the same source.
        parts = [dataset_for(f"{env}-{part}", source) for part in kind.split("+")]
        return None if None in parts else "+".join(parts)
    if source == "local":
        return suite.dataset_id(env, kind) if env in LOCOMOTION_ENVS else None
    if source == "minari":
        if env == "antmaze":
            return f"D4RL/antmaze/{kind}-v1"
        if kind == "medium-expert":
            return dataset_for(f"{env}-medium+expert", source)
        return f"mujoco/{env}/{kind}-v0" if kind in MINARI_MUJOCO_KINDS else None
    if source.startswith(dataset_spec.D4RL_PREFIX):
        folder = pathlib.Path(source[len(dataset_spec.D4RL_PREFIX):])
        return str(dataset_spec.DatasetPart(path=str(folder / f"{task}-v2.hdf5")))
    raise ValueError(f"unknown data source {source!r}; use local, minari or d4rl:<dir>")


def data_source(environ: dict | None = None) -> str:
    """The source named by ``$JAXRL_OFFLINE_DATA`` (default ``local``)."""
    source = (os.environ if environ is None else environ).get(DATA_ENV_VAR, "").strip() or "local"
    if source not in ("local", "minari") and not source.startswith("d4rl:"):
        raise ValueError(f"{DATA_ENV_VAR}={source!r}: use local, minari or d4rl:<dir>")
    return source


def sweep_datasets(tasks: Sequence[str], source: str | None = None) -> tuple[str, ...]:
    """The ids of ``tasks`` on ``source`` (default: ``$JAXRL_OFFLINE_DATA``), skipping tasks the
    source does not have."""
    source = data_source() if source is None else source
    found = (dataset_for(task, source) for task in tasks)
    return tuple(dataset for dataset in found if dataset is not None)


def sweep_workdir(name: str, source: str | None = None) -> str:
    """``workdir/<name>`` for the local suite, ``workdir/<name>-<minari|d4rl>`` otherwise, so
    runs on different data never share a table."""
    source = data_source() if source is None else source
    return f"workdir/{name}" if source == "local" else f"workdir/{name}-{source.split(':')[0]}"


def paper_sweep(name: str, tasks: Sequence[str], *, algos: Sequence[str], num_seeds: int,
                steps: int, eval_every: int, eval_episodes: int = 10) -> dict:
    """The ``SWEEP`` of a paper-table sweep file ``experiments/sweeps/<name>.py``: ``algos`` on the
    datasets of ``tasks`` on the current data source (:func:`sweep_datasets`), in
    :func:`sweep_workdir` ``(name)``, with the paper's seeds, updates, evaluation interval and
    episodes per evaluation (D4RL's 10 unless given)."""
    return dict(algos=tuple(algos), datasets=sweep_datasets(tasks), num_seeds=num_seeds,
                steps=steps, eval_every=eval_every, eval_episodes=eval_episodes,
                workdir=sweep_workdir(name))
