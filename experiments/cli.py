"""Flags and ``main`` of ``python -m experiments.run`` (the entry point is ``experiments/run.py``).

``--config.<field>=value`` and ``--config.<algorithm>.<field>=value`` arguments are taken out of
argv before absl parses the rest (absl cannot define them up front: which fields exist depends on
``--algos``); they are checked against the selected algorithms' ``Config`` fields (every selected
algorithm must have a plain ``<field>``), types and ranges when the runs are planned
(``experiments/sweep.py``). ``--grid.<field>=v1,v2,...`` and ``--grid.<algorithm>.<field>=...``
(a hyperparameter grid trained in one program, ``experiments/grids.py``) are taken out the same
way.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from collections.abc import Sequence

from absl import app, flags, logging

from jaxrl_offline.datasets import data
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import checkpoints, distributed, experiment, grid, tracking
from jaxrl_offline.local_suite.synthetic import DEFAULT_DATASET

from experiments import dry_run, sweep, tables

_DEFAULTS = sweep.SweepSettings()
flags.DEFINE_list("algos", None, "Algorithms (registry names), e.g. bc,td3_bc,iql.")
flags.DEFINE_list("datasets", None, f"Dataset specs, e.g. {DEFAULT_DATASET} (Minari ids, "
                  "d4rl:PATH.hdf5, A+B mixtures).")
flags.DEFINE_integer("num_seeds", _DEFAULTS.num_seeds, "Seeds per run (vmapped).")
flags.DEFINE_integer("seed", _DEFAULTS.seed, "First seed; seeds are seed, seed+1, ...")
flags.DEFINE_integer("steps", _DEFAULTS.steps, "Updates per seed (a multiple of --chunk).")
flags.DEFINE_integer("eval_every", _DEFAULTS.eval_every,
                     "Updates between evaluations (a multiple of --chunk; 0: final only).")
flags.DEFINE_integer("eval_episodes", _DEFAULTS.eval_episodes, "Episodes per seed and evaluation.")
flags.DEFINE_integer("chunk", _DEFAULTS.chunk, "Updates per jitted lax.scan call.")
flags.DEFINE_integer("max_episode_steps", None, "Cap on evaluation episode length.")
flags.DEFINE_integer("checkpoint_every", _DEFAULTS.checkpoint_every,
                     "Chunks between checkpoints (0: none; resume needs checkpoints).")
flags.DEFINE_integer("online_steps", _DEFAULTS.online_steps,
                     "Env steps of online fine-tuning per seed after the offline phase (0: none; "
                     "aca, sac_ml, iql, td3_bc).")
flags.DEFINE_integer("online_eval_every", _DEFAULTS.online_eval_every,
                     "Env steps between online evaluations (0: at the start and end only).")
flags.DEFINE_integer("online_update_every", _DEFAULTS.online_update_every,
                     "Env steps per jitted learning call while fine-tuning (as many updates).")
flags.DEFINE_string("workdir", None, "Output folder (default: workdir/<sweep name>, or "
                    f"{_DEFAULTS.workdir} for runs given by --algos/--datasets).")
flags.DEFINE_string("sweep", None, "Sweep file (experiments/sweeps/NAME.py or NAME). Without "
                    "--sweep, --algos and --datasets the embedded 'default' sweep runs; flags "
                    "given explicitly override the sweep's values.")
flags.DEFINE_bool("overwrite", False, "Redo finished runs and discard their checkpoints.")
flags.DEFINE_list("redo", [], "Runs to redo from scratch (their record and checkpoints are "
                  "deleted), by name, e.g. bc__jaxrl_offline_invpend_mixed-v0 (a record's file "
                  "name without .json); the sweep's other runs are skipped or resumed as usual.")
flags.DEFINE_bool("progress", True, "Show a progress bar per run.")
flags.DEFINE_enum("score", "last", results.SCORES, "Score of the final table.")
flags.DEFINE_list("log_to", [], "Live tracking of every run that trains: tensorboard, wandb "
                  "(offline) or both, under <workdir>/tracking/ (pip install "
                  "'jaxrl_offline[tracking]'); a tracking failure warns and the run goes on.")
flags.DEFINE_bool("dry_run", False, "List every run (finished, partial or new) with an estimated "
                  "time from a short measured probe of each new kind of run; train nothing and "
                  "write nothing under the workdir.")

flags.DEFINE_integer("task_index", None, "Run only this share of the sweep's runs (0 to "
                     "--num_tasks - 1; runs sorted by name, dealt round-robin). Default: "
                     "SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN in a SLURM array, else 0.")
flags.DEFINE_integer("num_tasks", None, "Shares the sweep is split into (default: "
                     "SLURM_ARRAY_TASK_COUNT in a SLURM array, else 1).")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 for a run over "
                    "several processes (jax.distributed; also found from JAX_COORDINATOR_ADDRESS "
                    "or a SLURM/Open MPI job); the seeds are sharded over every process's devices.")
flags.DEFINE_integer("num_processes", None, "Processes of a jax.distributed run.")
flags.DEFINE_integer("process_id", None, "This process's index in a jax.distributed run (0 "
                     "writes the records and tables).")

FLAGS = flags.FLAGS
SETTING_FLAGS = tuple(name for name in sweep.SETTING_NAMES
                      if name not in ("config", "variants", "grid"))


@dataclasses.dataclass(frozen=True)
class Args:
    """What ``main`` receives: positional arguments and ``{field: text}`` of ``--config.*`` and
    of ``--grid.*``."""

    argv: list[str]
    config: dict[str, str]
    grid: dict[str, str] = dataclasses.field(default_factory=dict)


def split_config_args(argv: Sequence[str],
                      prefix: str = "--config") -> tuple[list[str], dict[str, str]]:
    """Separates ``--config.<field>=value`` (or ``--config.<field> value``; ``prefix`` names
    another flag family, e.g. ``--grid``) from the rest."""
    rest, config, args = [argv[0]], {}, list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg == "--":
            rest += [arg, *args]
            break
        if not arg.startswith(f"{prefix}."):
            rest.append(arg)
            continue
        name, has_value, value = arg[len(prefix) + 1:].partition("=")
        if not has_value:
            if not args:
                raise flags.Error(f"{arg} needs a value: {arg}=VALUE")
            value = args.pop(0)
        parts = name.split(".")
        if len(parts) > 2 or not all(part.isidentifier() for part in parts):
            raise flags.Error(f"bad {prefix} argument {arg!r}; use {prefix}.<field>=VALUE or "
                              f"{prefix}.<algorithm>.<field>=VALUE")
        config[name] = value
    return rest, config


def parse_args(argv: Sequence[str]) -> Args:
    """Parses absl flags plus ``--config.*`` and ``--grid.*``; raises ``flags.Error`` on bad
    flags."""
    rest, config = split_config_args(argv)
    rest, grid_values = split_config_args(rest, "--grid")
    return Args(argv=FLAGS(rest), config=config, grid=grid_values)


def parse_flags(argv: Sequence[str]) -> Args:
    """The ``flags_parser`` of ``app.run``: :func:`parse_args`, exiting with absl's message."""
    try:
        return parse_args(argv)
    except flags.Error as err:
        sys.stderr.write(f"FATAL Flags parsing error: {err}\n"
                         "Pass --helpshort or --helpfull to see help on flags.\n")
        sys.exit(1)


def settings_from_flags() -> sweep.SweepSettings:
    """Sweep settings from parsed ``FLAGS``: only flags given explicitly override the sweep."""
    explicit = {name: FLAGS[name].value for name in SETTING_FLAGS if FLAGS[name].present}
    return sweep.make_settings(FLAGS.sweep, explicit)


def task_runs(runs: list) -> list:
    """This task's share of ``runs`` (``--task_index``/``--num_tasks``, defaulting from a SLURM
    array's variables; the whole sweep when neither is set)."""
    task_index, num_tasks = sweep.task_from_environ(os.environ)
    task_index = task_index if FLAGS.task_index is None else FLAGS.task_index
    num_tasks = num_tasks if FLAGS.num_tasks is None else FLAGS.num_tasks
    share = sweep.task_share(runs, task_index, num_tasks)
    if num_tasks > 1:
        print(f"task {task_index} of {num_tasks}: {len(share)} of the sweep's {len(runs)} runs"
              + (f" ({', '.join(run.name for run in share)})" if share else ""), flush=True)
    return share


def resume_command(argv: Sequence[str]) -> str:
    """The command that resumes an interrupted sweep: the same one, less ``--overwrite`` (which
    would discard the checkpoint)."""
    kept = [arg for arg in argv
            if not (arg == "--overwrite" or arg.startswith("--overwrite="))]
    return " ".join(["python -m experiments.run", *map(shlex.quote, kept)])


def main(args: Args) -> None:
    if len(args.argv) > 1:
        raise app.UsageError(f"unexpected arguments {args.argv[1:]}")
    if not FLAGS["verbosity"].present:  # orbax logs every save at INFO; --verbosity=0 shows it.
        logging.set_verbosity(logging.WARNING)
    try:
        distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
        settings = settings_from_flags()
        all_runs = sweep.plan_runs(settings, args.config, args.grid)
        sweep.check_redo(all_runs, FLAGS.redo)
        runs = task_runs(all_runs)
        redo = [name for name in FLAGS.redo if name in {run.name for run in runs}]
        log_to = tracking.parse_log_to(FLAGS.log_to)
    except ValueError as err:
        raise app.UsageError(str(err)) from None
    command = " ".join(["python -m experiments.run", *map(shlex.quote, sys.argv[1:])])
    if not runs:
        print("Nothing to run: this task's share of the sweep is empty.")
        return
    try:
        if FLAGS.dry_run:
            print(dry_run.dry_run(runs, settings.workdir, overwrite=FLAGS.overwrite))
            return
        sweep.run_all(runs, settings.workdir, overwrite=FLAGS.overwrite,
                      progress=FLAGS.progress, command=command, redo=redo, log_to=log_to)
        if not distributed.is_primary():  # Process 0 writes the records and the tables.
            return
        markdown = tables.write_reports(settings.workdir, score=FLAGS.score)
    except (results.RecordError, checkpoints.CheckpointError, experiment.RunConflictError,
            data.DatasetError, grid.GridFieldError) as err:
        raise SystemExit(f"error: {err}") from None
    except experiment.RunInterrupted as err:
        print(f"\n{err}\nResume with: {resume_command(sys.argv[1:])}", flush=True)
        raise SystemExit(130) from None
    print(f"\n{markdown}\nRecords: {settings.workdir}/runs/  tables: {settings.workdir}/tables/  "
          f"plots: {settings.workdir}/plots/")
