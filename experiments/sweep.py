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

This module plans the runs (:func:`plan_runs`), runs them (:func:`run_all`: skip, resume,
``--redo``) and splits a sweep over machines (:func:`task_share`). The settings and sweep files
are ``experiments/sweep_settings.py``; turning the layers into a ``Config`` (text, types, ranges,
per-algorithm fields) is ``experiments/config_layers.py``. Their public names are importable from
here too.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence

from jaxrl_offline.runner import experiment, finetune, grid_run
from jaxrl_offline.runner import progress as progress_lib
from jaxrl_offline.algorithms import get_algorithm

from experiments import dry_run, grids, overrides
# The settings and the config layers live in their own modules; re-exported here, where the
# command line, the tables and the tests have always found them.
from experiments.config_layers import (build_config, coerce_value,  # noqa: F401
                                       parse_command_line, parse_text, select_fields,
                                       setting_name)
from experiments.sweep_settings import (DEFAULT_SWEEP, NUMBER_LIMITS,  # noqa: F401
                                        SETTING_NAMES, SWEEPS_DIR, SweepSettings,
                                        check_numbers, load_sweep, make_settings, sweep_path)


# --- Planning and running ------------------------------------------------------------------------


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
