"""From command-line settings and sweep files to a list of ``RunSpec``s, and running them.

Settings come from three places, later winning: :class:`SweepSettings` defaults (the papers'
protocol: 1M steps, eval every 5k with 10 episodes, 5 seeds), a sweep file's ``SWEEP`` dict, and
the flags given on the command line. Each algorithm's ``Config`` is then built from layers, later
winning: the per-dataset table (``experiments/overrides.py``), the sweep's ``config``, the
variant's ``config``, ``--config.<field>=value``, and finally derived fields
(``overrides.DERIVED``) that no layer set.

A sweep file is a Python file defining ``SWEEP = dict(...)`` with any of the
:class:`SweepSettings` fields; ``variants={"name": {field: value}}`` adds one run per variant
(records ``<algo>-<name>__<dataset>.json``, table columns ``algo/name``). ``online_steps`` adds
online fine-tuning after the offline phase (``jaxrl_offline.runner.finetune``; algorithms without an
online definition are refused when the runs are planned). ``grid={field: [values]}`` (or
``--grid.<field>=v1,v2``) turns each run into one run per grid point, trained together in one
compiled program (``experiments/grids.py``, ``jaxrl_offline.runner.grid_run``).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import itertools
import pathlib
import time
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from jaxrl_offline.runner import experiment, finetune, grid_run
from jaxrl_offline.runner import progress as progress_lib
from jaxrl_offline.algorithms import ALGORITHMS, get_algorithm
from jaxrl_offline.local_suite.synthetic import DEFAULT_DATASET

from experiments import dry_run, field_rules, grids, migrations, overrides

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


def load_sweep(sweep: str) -> dict[str, Any]:
    """The ``SWEEP`` dict of a sweep file (plus ``workdir=workdir/<name>`` unless it sets one)."""
    path = sweep_path(sweep)
    module_spec = importlib.util.spec_from_file_location(f"_sweep_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
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


# --- Config values -------------------------------------------------------------------------------


def parse_text(text: str) -> Any:
    """Command-line text to a value: Python literals (``(64, 64)``, ``0.9``, ``None``, ``True``);
    ``true``/``false``/``none`` in any case; anything else stays a string (``inf`` included)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.strip().lower()
        return {"true": True, "false": False, "none": None, "null": None}.get(lowered, text)


def setting_name(where: str, name: str, value: Any) -> str:
    """How the user wrote a value: ``--config.<name>=<value>`` for the command line,
    ``--grid.<name>=<value>`` for a grid point, else ``<layer>: <name>=<value>``."""
    if where in ("command_line", "grid"):
        flag = "config" if where == "command_line" else "grid"
        return f"--{flag}.{name}={value!r}"
    return f"{where}: {name}={value!r}"


def coerce_value(config_cls: type, name: str, value: Any, where: str) -> Any:
    """``value`` converted to the type of ``config_cls.<name>`` and range-checked
    (``field_rules``), or a ``ValueError`` naming the setting, what is wrong and what to do."""
    hint = typing.get_type_hints(config_cls)[name]
    default = getattr(config_cls(), name)
    algo = config_cls.__module__.rsplit(".", 1)[-1]
    try:
        coerced = _coerce(value, hint)
    except (TypeError, ValueError):
        why = (f" (a bare {type(value).__name__} for a tuple of layer sizes would silently build "
               "other layers; one layer is '(64,)')"
               if _is_tuple(hint) and not isinstance(value, (list, tuple)) else "")
        raise ValueError(
            f"{setting_name(where, name, value)} is not a valid {_hint_name(hint)} for "
            f"{algo}.Config.{name}{why}. Give a {_hint_name(hint)} like the default, "
            f"{name}={default!r}.") from None
    problem = field_rules.range_error(name, coerced)
    if problem:
        raise ValueError(f"{setting_name(where, name, value)}: {algo}.Config.{name} {problem} "
                         f"(default {default!r}); give a value in that range.")
    return coerced


def _is_tuple(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is_tuple(arg) for arg in typing.get_args(hint))
    return typing.get_origin(hint) is tuple


def _coerce(value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _coerce(value, arg)
                except (TypeError, ValueError):
                    pass
        raise TypeError(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):  # A bare 64 is not the network (64,).
            raise TypeError(value)
        items = value
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(item, args[0]) for item in items)
        if len(items) != len(args):
            raise TypeError(value)
        return tuple(_coerce(item, arg) for item, arg in zip(items, args))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise TypeError(value)


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) if not typing.get_args(hint) else str(hint)


def build_config(algorithm: str, layers: Sequence[tuple[str, Mapping[str, Any]]],
                 derived: Mapping[str, Any]) -> tuple[Any, dict[str, dict]]:
    """The final ``Config`` of ``algorithm`` and the provenance of its non-default values.

    Args:
      algorithm: registry name.
      layers: ``(layer name, {field: value})`` applied in order (later wins); values are
        type-checked against the field. An unknown field raises ``ValueError`` listing the valid
        ones.
      derived: ``{field: value}`` used for fields the config has and no layer set.

    Returns:
      ``(config, overrides)``, ``overrides = {layer name: {field: value}}`` for the layers that
      set something, then ``"derived"``.
    """
    config_cls = get_algorithm(algorithm).Config
    fields = [field.name for field in dataclasses.fields(config_cls)]
    values, provenance = {}, {}
    for layer, layer_values in layers:
        unknown = sorted(set(layer_values) - set(fields))
        if unknown:
            raise ValueError(f"{layer}: unknown {algorithm} config field(s) {unknown}. Valid "
                             f"fields of {algorithm}.Config: {', '.join(fields)}.")
        coerced = {name: coerce_value(config_cls, name, value, layer)
                   for name, value in layer_values.items()}
        values.update(coerced)
        if coerced:
            provenance[layer] = coerced
    computed = {name: coerce_value(config_cls, name, value, "derived")
                for name, value in derived.items() if name in fields and name not in values}
    if computed:
        provenance["derived"] = computed
    return config_cls(**values, **computed), provenance


def _renamed_hint(algos: Sequence[str], name: str) -> str:
    """`` (renamed: ...)`` for an old field name (``experiments/migrations.py``), else ``""``."""
    new = {algo: migrations.renamed(algo, name) for algo in algos if migrations.renamed(algo, name)}
    if not new:
        return ""
    parts = "; ".join(f"{algo}: {', '.join(names)}" for algo, names in new.items())
    return f" {name!r} was renamed (README, migration note): {parts}."


def select_fields(algos: Sequence[str], values: Mapping[str, Any], where: str, *,
                  strict_algorithms: bool = False):
    """``{algo: the part of values that applies to algo}``, or ``ValueError``.

    A plain entry ``{field: value}`` applies to every selected algorithm, so each of them must
    have the field: one that some lack is an error naming them (a name never means different
    things in two algorithms, but a value meant for one must not silently skip another). An entry
    keyed by a registered algorithm name with a dict value (``{"sfbc": {"batch_size": 1024}}``,
    on the command line ``--config.sfbc.batch_size=1024``) applies to that algorithm only, after
    the shared fields; entries of algorithms not selected are ignored, or an error with
    ``strict_algorithms`` (the command line).
    """
    fields = {algo: {f.name for f in dataclasses.fields(get_algorithm(algo).Config)}
              for algo in algos}
    own = {name: dict(value) for name, value in values.items()
           if name in ALGORITHMS and isinstance(value, Mapping)}
    shared = {name: value for name, value in values.items() if name not in own}
    unknown = sorted(name for name in shared if not any(name in f for f in fields.values()))
    if unknown:
        valid = "; ".join(f"{algo}: {', '.join(sorted(f))}" for algo, f in fields.items())
        hints = "".join(_renamed_hint(algos, name) for name in unknown)
        raise ValueError(f"{where}: unknown config field(s) {unknown} for {', '.join(algos)}. "
                         f"Valid fields: {valid}.{hints}")
    for name in shared:
        lacking = [algo for algo in algos if name not in fields[algo]]
        if lacking:
            having = [algo for algo in algos if algo not in lacking]
            example = (f"{where}.{having[0]}.{name}=..." if where.startswith("--")
                       else f"{{{having[0]!r}: {{{name!r}: ...}}}}")
            raise ValueError(
                f"{where}: config field {name!r} is not a field of {', '.join(lacking)} (only "
                f"of {', '.join(having)}){_renamed_hint(lacking, name)}. Set it per algorithm, "
                f"e.g. {example}, or select only algorithms that have it.")
    unselected = sorted(set(own) - set(algos))
    if strict_algorithms and unselected:
        raise ValueError(f"{where}: {', '.join(unselected)} not among the selected algorithms "
                         f"({', '.join(algos)}); its per-algorithm settings would do nothing.")
    for algo in algos:
        unknown = sorted(set(own.get(algo, {})) - fields[algo])
        if unknown:
            hints = "".join(_renamed_hint([algo], name) for name in unknown)
            raise ValueError(f"{where}: unknown {algo} config field(s) {unknown}{hints}. Valid "
                             f"fields of {algo}.Config: {', '.join(sorted(fields[algo]))}.")
    return {algo: {**shared, **own.get(algo, {})} for algo in algos}


# --- Planning and running ------------------------------------------------------------------------

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


def parse_command_line(command_line: Mapping[str, str], flag: str = "--config") -> dict[str, Any]:
    """``{"field": text, "algo.field": text}`` from ``--config.*`` (or ``flag``: ``--grid.*``)
    to ``{"field": value, "algo": {"field": value}}``; ``ValueError`` for an ``algo.`` prefix
    that is not a registered algorithm."""
    values: dict[str, Any] = {}
    for key, text in dict(command_line).items():
        algo, dot, name = key.rpartition(".")
        if not dot:
            values[name] = parse_text(text)
            continue
        if algo not in ALGORITHMS:
            raise ValueError(f"{flag}.{key}: {algo!r} is not a registered algorithm; write "
                             f"{flag}.<field>=VALUE or {flag}.<algorithm>.<field>=VALUE "
                             f"(algorithms: {', '.join(sorted(ALGORITHMS))}).")
        values.setdefault(algo, {})[name] = parse_text(text)
    return values


def plan_runs(settings: SweepSettings, command_line: Mapping[str, str] = (),
              grid_line: Mapping[str, str] = ()) -> list:
    """One ``experiment.RunSpec`` per (variant, algorithm, dataset, grid point); ``ValueError``
    on bad input.

    Args:
      settings: merged settings.
      command_line: ``{field: text}`` from ``--config.<field>=text``.
      grid_line: ``{field: text}`` from ``--grid.<field>=v1,v2,...``.
    """
    if not settings.algos or not settings.datasets:
        raise ValueError("give at least one algorithm (--algos) and one dataset (--datasets)")
    for algo in settings.algos:
        get_algorithm(algo)  # ValueError listing the registered algorithms.
    check_numbers(settings)
    experiment.check_schedule(settings.steps, settings.chunk, settings.eval_every)
    finetune.check_online_schedule(settings.online_steps, settings.online_eval_every,
                                   settings.online_update_every)
    per_algo_cli = select_fields(settings.algos, parse_command_line(command_line), "--config",
                                 strict_algorithms=True)
    per_algo_sweep = select_fields(settings.algos, settings.config, "sweep config")
    per_algo_grid = grids.merge(
        select_fields(settings.algos, settings.grid, "sweep grid"),
        select_fields(settings.algos, parse_command_line(grid_line, "--grid"), "--grid",
                      strict_algorithms=True), settings.online_steps)
    variants = dict(settings.variants) or {"": {}}
    per_algo_variant = {name: select_fields(settings.algos, values, f"variant {name!r}")
                        for name, values in variants.items()}
    # Fine-tuning continues the same optimizers (one update per env step), so schedules derived
    # from "steps" (IQL's actor cosine decay) span offline updates + online env steps.
    derived = {name: getattr(settings, attr) + (settings.online_steps if attr == "steps" else 0)
               for name, attr in overrides.DERIVED.items()}
    seeds = tuple(range(settings.seed, settings.seed + settings.num_seeds))
    runs = []
    for variant in variants:
        for algo in settings.algos:
            for dataset, point in itertools.product(settings.datasets,
                                                    grids.points(per_algo_grid[algo])):
                layers = [*overrides.table_layers(algo, dataset),
                          ("sweep", per_algo_sweep[algo]),
                          (f"variant {variant}", per_algo_variant[variant][algo]),
                          ("command_line", per_algo_cli[algo]), ("grid", point)]
                config, provenance = build_config(algo, layers, derived)
                if settings.online_steps:
                    finetune.online_config(get_algorithm(algo), config)  # ValueError if none.
                runs.append(experiment.RunSpec(
                    algorithm=algo, dataset=dataset, config=config, seeds=seeds,
                    steps=settings.steps, chunk=settings.chunk, eval_every=settings.eval_every,
                    eval_episodes=settings.eval_episodes, overrides=provenance,
                    variant=grids.variant(variant, config, point), grid_fields=tuple(point),
                    max_episode_steps=settings.max_episode_steps,
                    checkpoint_every=settings.checkpoint_every,
                    online_steps=settings.online_steps,
                    online_eval_every=settings.online_eval_every,
                    online_update_every=settings.online_update_every))
    names = [run.name for run in runs]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ValueError(f"several runs would write the same record: {clashes}")
    return runs


def run_all(runs: Sequence, workdir: str, *, overwrite: bool = False, progress: bool = True,
            command: str | None = None, redo: Sequence[str] = (),
            log_to: Sequence[str] = ()) -> None:
    """Runs (skips, resumes) every run; the caller then writes the reports
    (``experiments.tables.write_reports``, which imports this module, not the reverse).

    Every existing record, and the dataset of every run still to do, is checked before anything
    trains, so a conflict, a corrupt record or bad data stops the sweep at once rather than after
    hours. Runs named in ``redo`` (``--redo``) lose their record and checkpoints and train again;
    the others are skipped or resumed as usual (redoing a grid point redoes its whole grid).
    ``log_to`` (``--log_to``) names the live tracking
    backends of the runs that train (``jaxrl_offline.runner.tracking``).
    """
    redo = check_redo(runs, redo)
    for run in runs:
        if not (overwrite or run.name in redo):
            experiment.finished_record(run, workdir)
    check_datasets(runs, workdir, overwrite=overwrite, redo=redo)
    statuses = [("new", 0) if overwrite or run.name in redo else dry_run.run_status(run, workdir)
                for run in runs]
    sweep_line = progress_lib.SweepProgress(
        [(run.algorithm, run.steps - done) for run, (_, done) in zip(runs, statuses)])
    for group in grids.group_runs(runs):  # A grid's points train together.
        print(sweep_line.line(), flush=True)
        start = time.perf_counter()
        group_runs = [run for _, run in group]
        redone = overwrite or any(run.name in redo for run in group_runs)
        run_group = grid_run.run_grid if group_runs[0].grid_fields else (
            lambda points, *args, **kwargs: experiment.run_experiment(points[0], *args, **kwargs))
        run_group(group_runs, workdir, overwrite=redone, progress=progress, command=command,
                  log_to=tuple(log_to))
        for index, _ in group:
            status = statuses[index][0]
            sweep_line.run_done(index, (time.perf_counter() - start) / len(group),
                                skipped=status == "finished", resumed=status == "partial")
    print(sweep_line.line(), flush=True)


def check_redo(runs: Sequence, redo: Sequence[str]) -> set[str]:
    """The ``--redo`` run names as a set; ``ValueError`` listing the runs for an unknown one."""
    names = [run.name for run in runs]
    unknown = sorted(set(redo) - set(names))
    if unknown:
        raise ValueError(f"--redo={','.join(unknown)}: no such run in this sweep. Its runs are: "
                         f"{', '.join(names)} (the record file names without .json).")
    return set(redo)


def check_datasets(runs: Sequence, workdir: str, *, overwrite: bool = False,
                   redo: Sequence[str] = ()) -> None:
    """Loads and validates (``experiment.check_dataset``) each dataset of the runs still to do,
    once per dataset; raises ``DatasetError`` for the first bad one."""
    checked = set()
    for run in runs:
        redone = overwrite or run.name in redo
        if run.dataset in checked or (
                not redone and experiment.record_path(workdir, run).exists()):
            continue
        experiment.check_dataset(run, log=lambda line: None)  # Warnings print when it runs.
        checked.add(run.dataset)


# --- Sweeps split over machines ------------------------------------------------------------------


def task_from_environ(environ: Mapping[str, str]) -> tuple[int, int]:
    """``(task_index, num_tasks)`` of a SLURM array job (``SLURM_ARRAY_TASK_ID`` counted from
    ``SLURM_ARRAY_TASK_MIN``, ``SLURM_ARRAY_TASK_COUNT``), else ``(0, 1)``: the whole sweep."""
    if "SLURM_ARRAY_TASK_ID" not in environ or "SLURM_ARRAY_TASK_COUNT" not in environ:
        return 0, 1
    task_id = int(environ["SLURM_ARRAY_TASK_ID"]) - int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
    return task_id, int(environ["SLURM_ARRAY_TASK_COUNT"])


def task_share(runs: Sequence, task_index: int, num_tasks: int) -> list:
    """The runs of task ``task_index`` of ``num_tasks`` (``--task_index``, ``--num_tasks``).

    The runs are sorted by name (the record file name) and dealt out round-robin: task i gets
    sorted runs i, i + n, i + 2n, ..., and runs them in the sweep's order; the points of one
    hyperparameter grid count as one run (the name of its first point), since they train as one
    program. Every task computes the same partition from the same sweep
    and flags, so the shares are disjoint and together cover the sweep; a task whose index is past
    the number of runs gets none.
    """
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks < 1:
        raise ValueError(f"--num_tasks={num_tasks!r} must be a whole number >= 1.")
    if isinstance(task_index, bool) or not isinstance(task_index, int) or not (
            0 <= task_index < num_tasks):
        raise ValueError(f"--task_index={task_index!r} must be in [0, --num_tasks={num_tasks}) "
                         "(with SLURM arrays: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN).")
    # The points of one grid train together in one program, so they are dealt as one unit.
    units = sorted(([run.name for _, run in group] for group in grids.group_runs(runs)),
                   key=lambda names: names[0])
    share = {name for names in units[task_index::num_tasks] for name in names}
    return [run for run in runs if run.name in share]
