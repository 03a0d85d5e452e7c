"""What a sweep runs: its settings, from defaults, a sweep file and the command line.

Settings come from three places, later winning: :class:`SweepSettings` defaults (the papers'
protocol: 1M steps, eval every 5k with 10 episodes, 5 seeds), a sweep file's ``SWEEP`` dict
(:func:`load_sweep`; bare names are files of ``experiments/sweeps/``), and the flags given on the
command line (:func:`make_settings`). :func:`check_numbers` checks the numeric settings before
anything is planned. ``experiments.sweep`` turns the settings into runs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
import types
from collections.abc import Mapping
from typing import Any

from jaxrl_offline.local_suite.synthetic import DEFAULT_DATASET

SWEEPS_DIR = pathlib.Path(__file__).parent / "sweeps"
DEFAULT_SWEEP = "default"


@dataclasses.dataclass(frozen=True)
class SweepSettings:
    """What to run: algorithms x datasets x variants, each with ``num_seeds`` vmapped seeds.

    Attributes:
      algos: registry names.
      datasets: dataset specs (Minari ids, ``d4rl:PATH``, mixtures ``A+B``); default: the
        generated ``synthetic.DEFAULT_DATASET`` (created on first use).
      num_seeds: seeds per run; they are ``seed, seed + 1, ...``.
      seed: first seed.
      steps: updates per seed.
      eval_every: updates between evaluations (multiple of ``chunk``; 0 = final only).
      eval_episodes: episodes per seed and evaluation.
      chunk: updates per jitted scan.
      max_episode_steps: cap on evaluation episode length (``None``: the env's limit).
      checkpoint_every: chunks between checkpoints (0 = none).
      online_steps: env steps of online fine-tuning per seed after the offline phase (0 = none).
      online_eval_every: env steps between online evaluations (0 = at the start and end only).
      online_update_every: env steps per jitted learning call during fine-tuning.
      config: config overrides for every algorithm that has the field.
      variants: ``{name: {field: value}}``; one run per variant (none: a single plain run).
      grid: ``{field: [values]}`` (or ``{algo: {field: [values]}}``) of float config fields; one
        run per grid point, all points of a run trained in one program (``experiments/grids.py``).
      workdir: output folder (``runs/``, ``checkpoints/``, ``tables/``, ``plots/``).
    """

    algos: tuple[str, ...] = ()
    datasets: tuple[str, ...] = (DEFAULT_DATASET,)
    num_seeds: int = 5
    seed: int = 0
    steps: int = 1_000_000
    eval_every: int = 5_000
    eval_episodes: int = 10
    chunk: int = 1_000
    max_episode_steps: int | None = None
    checkpoint_every: int = 10
    online_steps: int = 0
    online_eval_every: int = 0
    online_update_every: int = 1
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    variants: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    grid: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    workdir: str = "workdir/main"


SETTING_NAMES = tuple(field.name for field in dataclasses.fields(SweepSettings))


def sweep_path(sweep: str) -> pathlib.Path:
    """A sweep file path, or the bare name of a file in ``experiments/sweeps/``."""
    path = pathlib.Path(sweep)
    if path.suffix != ".py" and not path.exists():
        path = SWEEPS_DIR / f"{sweep}.py"
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in SWEEPS_DIR.glob("[!_]*.py")))
        raise ValueError(f"--sweep={sweep}: no such file. Sweeps in {SWEEPS_DIR}: {available}.")
    return path


def sweep_module(sweep: str) -> types.ModuleType:
    """A sweep file (:func:`sweep_path`), executed as a module: its ``SWEEP`` and, for the
    tables, its ``PUBLISHED``."""
    path = sweep_path(sweep)
    module_spec = importlib.util.spec_from_file_location(f"_sweep_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def load_sweep(sweep: str) -> dict[str, Any]:
    """The ``SWEEP`` dict of a sweep file (plus ``workdir=workdir/<name>`` unless it sets one)."""
    path = sweep_path(sweep)
    module = sweep_module(sweep)
    values = getattr(module, "SWEEP", None)
    if not isinstance(values, dict):
        raise ValueError(f"sweep file {path} must define SWEEP = dict(...)")
    unknown = sorted(set(values) - set(SETTING_NAMES))
    if unknown:
        raise ValueError(f"sweep file {path}: unknown keys {unknown}; valid: {SETTING_NAMES}")
    return {"workdir": f"workdir/{path.stem}", **values}


def make_settings(sweep: str | None, explicit: Mapping[str, Any]) -> SweepSettings:
    """Defaults <- sweep file <- explicitly given flags. With no sweep and neither ``algos`` nor
    ``datasets`` given, the embedded default sweep (``sweeps/default.py``) is used."""
    if sweep is None and not {"algos", "datasets"} & set(explicit):
        sweep = DEFAULT_SWEEP
    values = load_sweep(sweep) if sweep is not None else {}
    values.update(explicit)
    for name in ("algos", "datasets"):
        if name in values:
            values[name] = tuple(values[name])
    return SweepSettings(**values)


# (setting, smallest allowed value, what it is): checked before anything is loaded or trained.
NUMBER_LIMITS = (
    ("num_seeds", 1, "seeds per run"), ("seed", 0, "the first seed"),
    ("steps", 1, "updates per seed"), ("chunk", 1, "updates per jitted scan"),
    ("eval_every", 0, "updates between evaluations (0: final only)"),
    ("eval_episodes", 1, "episodes per seed and evaluation"),
    ("max_episode_steps", 1, "the cap on evaluation episode length"),
    ("checkpoint_every", 0, "chunks between checkpoints (0: none)"),
    ("online_steps", 0, "env steps of fine-tuning (0: none)"),
    ("online_eval_every", 0, "env steps between online evaluations"),
    ("online_update_every", 1, "env steps per learning call"),
)


def check_numbers(settings: SweepSettings) -> None:
    """``ValueError`` naming the flag for a numeric setting of the wrong type or range."""
    for name, low, meaning in NUMBER_LIMITS:
        value = getattr(settings, name)
        if value is None and name == "max_episode_steps":
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"--{name}={value!r} must be a whole number ({meaning}).")
        if value < low:
            raise ValueError(f"--{name}={value} is out of range: {meaning} must be >= {low}. "
                             f"Use e.g. --{name}={max(low, getattr(SweepSettings, name) or low)}.")
