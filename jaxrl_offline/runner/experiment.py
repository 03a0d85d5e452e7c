"""The experiment loop: one (algorithm, dataset) run of vmapped seeds, evaluated, recorded, resumed.

:class:`RunSpec` describes a run completely (final algorithm ``Config`` included; the command line
and sweep files build it in ``experiments/sweep.py``); :func:`run_experiment` trains it in
chunks (``training.make_multi_seed_chunk``), evaluates every ``eval_every`` updates, checkpoints
every ``checkpoint_every`` chunks and writes ``<workdir>/runs/<name>.json``
(``jaxrl_offline.reporting.results``). A rerun skips a finished run and resumes an interrupted one
from its latest checkpoint; since chunk ``k`` folds ``k`` into every seed's data key and evaluation
seeds depend only on the step and each seed's own value, the resumed run ends with the same record
(timing aside), and seed ``i`` of a multi-seed run scores as a run of seed ``i`` alone. With
``online_steps`` the offline phase is followed by fine-tuning in the eval env
(``jaxrl_offline.runner.finetune``), checkpointed and resumed the same way. The progress bar moves
inside chunks (``jaxrl_offline.runner.progress``); a first Ctrl-C finishes the current chunk, saves
a checkpoint and the partial record and raises :class:`RunInterrupted`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxrl_offline.algorithms import get_algorithm
from jaxrl_offline.datasets import data, dataset_spec
from jaxrl_offline.local_suite import suite
from jaxrl_offline.reporting import results
from jaxrl_offline.reporting.formatting import significant
from jaxrl_offline.runner import checkpoints, distributed, evaluation, finetune, training
from jaxrl_offline.runner import progress as progress_lib
from jaxrl_offline.runner import tracking, validation
# The run's description and paths (run_spec) and its record (run_record), re-exported: callers
# use ``experiment.RunSpec``, ``experiment.record_path``, ``experiment.summary_line``, ...
from jaxrl_offline.runner.run_record import finish_record, new_record, summary_line
from jaxrl_offline.runner.run_spec import (  # noqa: F401
    RunConflictError, RunSpec, check_schedule, checkpoint_dir, config_to_json, finished_record,
    has_final_checkpoint, partial_record_path, record_path, remove_run, spec_hash_of)


class RunInterrupted(Exception):
    """Ctrl-C stopped a run between chunks, after saving its checkpoint and partial record."""


STOP_MESSAGE = ("Ctrl-C: finishing the current chunk, then saving a checkpoint and the partial "
                "record. Press Ctrl-C again to exit at once (losing the current chunk).")


# --- The run -------------------------------------------------------------------------------------


def run_experiment(spec: RunSpec, workdir: str | os.PathLike, *, overwrite: bool = False,
                   progress: bool = True, command: str | None = None,
                   log: Callable[[str], None] = print,
                   on_chunk: Callable[[int], None] | None = None,
                   log_to: tuple[str, ...] = ()) -> dict:
    """Runs (or skips, or resumes) one run and returns its record.

    Args:
      spec: the run.
      workdir: output folder (``runs/``, ``checkpoints/``).
      overwrite: redo the run even if a record or checkpoint exists.
      progress: show a tqdm bar (updates/s, ETA, latest score).
      command: the command line to store in the record.
      log: where the one-line summaries go.
      on_chunk: called with the number of chunks done after each chunk (and its checkpoint);
        during fine-tuning with ``chunks + online evaluations done``.
      log_to: live tracking backends (``jaxrl_offline.runner.tracking``: ``"tensorboard"``,
        ``"wandb"``) for the offline phase's chunks and evaluations, under
        ``<workdir>/tracking/``; a failing backend warns and is switched off.

    Returns:
      The complete record, as written to ``record_path(workdir, spec)``.

    Raises:
      RunInterrupted: after a first Ctrl-C (SIGINT) during the offline phase: the current chunk
        was finished, a checkpoint and ``partial_record_path`` were written, and rerunning the
        same run resumes from them (or, when that chunk was the last, the run was completed).
    """
    if spec.online_steps and distributed.multi_process():
        raise ValueError(f"{spec.name}: online fine-tuning runs in one process only; launch "
                         "runs with --online_steps without jax.distributed.")
    if overwrite and distributed.is_primary():
        remove_run(spec, workdir)
    distributed.barrier(f"start {spec.name}")  # Every process sees the same files from here.
    done = finished_record(spec, workdir, log)
    if done is not None:
        log(f"{spec.name}: already finished ({record_path(workdir, spec)}), skipped; "
            f"--redo={spec.name} redoes it.")
        return done
    return train_run(spec, workdir, seed_setup, progress=progress, command=command, log=log,
                     on_chunk=on_chunk, log_to=log_to, finish=write_finished)


def seed_setup(spec: RunSpec, algo, dataset) -> tuple[Any, training.SeedLayout, tuple, dict]:
    """The members of a plain run: its seeds. Returns ``(algorithm, layout, (states,
    data_keys), record fields)`` for :func:`train_run`."""
    layout = training.make_seed_layout(spec.seeds)
    return algo, layout, training.init_seed_states(algo, spec.config, layout, dataset), {}


def write_finished(spec: RunSpec, workdir: str | os.PathLike, record: dict,
                   log: Callable[[str], None]) -> dict:
    """Completes a plain run's record (:func:`finish_record`), writes and summarizes it."""
    record = finish_record(record)
    if distributed.is_primary():
        results.write_record(record_path(workdir, spec), record)
    log(summary_line(record))
    return record


def train_run(spec: RunSpec, workdir: str | os.PathLike, setup: Callable, *, finish: Callable,
              progress: bool = True, command: str | None = None,
              log: Callable[[str], None] = print, on_chunk: Callable[[int], None] | None = None,
              log_to: tuple[str, ...] = ()):
    """Loads the data, then trains, evaluates, checkpoints and resumes ``spec``'s members.

    ``setup(spec, algo, dataset) -> (algorithm, layout, (states, data_keys), record fields)``
    says what the members of the seed axis are (:func:`seed_setup`: the seeds;
    ``jaxrl_offline.runner.grid_run``: (grid point, seed) pairs); ``finish(spec, workdir, record,
    log)`` turns the trained record into what is written and returned.
    """
    algo = get_algorithm(spec.algorithm)
    parsed = dataset_spec.parse(spec.dataset)  # Once, for generation, loading and the online env.
    ensure_local(parsed, spec.name)  # Generated on first use when the project can make it.
    dataset, info = data.load_dataset(parsed, algorithm=spec.algorithm, config=spec.config)
    warnings = check_dataset_info(info, log)  # Before any update: refuse data that cannot work.
    if hasattr(algo, "prepare_dataset"):  # e.g. ReBRAC adds the dataset's next actions.
        dataset = algo.prepare_dataset(spec.config, dataset)
    if progress:
        seeds = f"{len(spec.seeds)} seed{'s' if len(spec.seeds) > 1 else ''}"
        log(f"{spec.name}: compiling init and initializing {seeds} ...")
    start = time.perf_counter()
    algo, layout, states_and_keys, fields = setup(spec, algo, dataset)
    carry = (*states_and_keys, training.initial_active(layout))
    init_s = time.perf_counter() - start
    dataset = training.place_dataset(dataset, layout)
    record, start_chunk = {**new_record(spec, info, layout, command), **fields}, 0
    record["warnings"] = warnings
    tracker = tracking.Tracker(log_to if distributed.is_primary() else (), workdir, record, log)
    ckpt_dir = checkpoint_dir(workdir, spec)
    checkpointer = None
    if spec.checkpoint_every or ckpt_dir.exists():
        checkpointer = checkpoints.RunCheckpointer(ckpt_dir, spec.spec_hash)
    num_chunks = spec.steps // spec.chunk
    latest = None if checkpointer is None else checkpointer.latest_step()
    online_resume = latest is not None and latest > num_chunks  # run_online restores it.
    try:
        with progress_lib.GracefulInterrupt(STOP_MESSAGE) as stop:
            if latest is not None and not online_resume:
                start_chunk, carry, meta = checkpointer.restore(carry)
                record = _resumed_record(meta, checkpointer, start_chunk * spec.chunk)
                record["warnings"] = warnings
                log(f"{spec.name}: resuming from the checkpoint at step "
                    f"{start_chunk * spec.chunk}.")
            record["timing"]["compile_s"] += init_s
            if start_chunk < num_chunks and not online_resume:
                carry, start_chunk = _train(spec, algo, info, layout, dataset, carry, record,
                                            start_chunk, checkpointer, progress, on_chunk, stop,
                                            tracker)
            if stop.requested and (start_chunk < num_chunks or spec.online_steps):
                checkpointer = checkpointer or checkpoints.RunCheckpointer(ckpt_dir, spec.spec_hash)
                _save_interrupted(spec, workdir, checkpointer, start_chunk, carry, record)
        if spec.online_steps:
            record = finetune.run_online(spec, algo, info, dataset, layout.unpad(carry[0]), record,
                                         checkpointer, num_chunks, progress=progress, log=log,
                                         on_block=on_chunk)
    except BaseException:
        tracker.finish(record)  # Interrupted or failed: close the writers with what they logged.
        raise
    finally:
        if checkpointer is not None:
            checkpointer.close()
    record = finish(spec, workdir, record, log)  # Process 0 writes the record(s).
    if tracker.active:  # Grid runs track nothing (and finish with one record per point).
        tracker.finish(record)
    if distributed.is_primary():
        partial_record_path(workdir, spec).unlink(missing_ok=True)
    distributed.barrier(f"written {spec.name}")
    if stop.requested:  # Ctrl-C during the last chunk: the run is complete, the sweep stops.
        raise RunInterrupted(f"{spec.name}: finished; stopped before the next run.")
    return record


def check_dataset(spec: RunSpec, log: Callable[[str], None] = print) -> list[str]:
    """Loads ``spec``'s dataset on the host (generating it on first use) and validates it.

    Raises ``data.DatasetError`` naming the dataset for data that cannot be trained on or
    evaluated (see ``jaxrl_offline.runner.validation``); returns the warnings (also logged).
    """
    ensure_local(spec.dataset, spec.name)
    _, info = data.load_numpy(spec.dataset, algorithm=spec.algorithm, config=spec.config)
    return check_dataset_info(info, log)


def ensure_local(dataset, run_name: str) -> None:
    """``suite.ensure_local(dataset)`` (a spec text or ``DatasetSpec``) for run ``run_name``, in
    process 0 only while the others wait."""
    if distributed.is_primary():
        suite.ensure_local(dataset)
    distributed.barrier(f"dataset {run_name}")


def check_dataset_info(info, log: Callable[[str], None] = print) -> list[str]:
    """``validation.check_eval_env`` plus the dataset's warnings, logged and returned."""
    validation.check_eval_env(info)
    warnings = validation.dataset_warnings(info)
    for warning in warnings:
        log(f"warning: {warning}")
    return warnings


def _save_interrupted(spec, workdir, checkpointer, chunks_done, carry, record) -> None:
    """Checkpoints a run stopped by Ctrl-C after ``chunks_done`` chunks, writes its partial record
    and raises :class:`RunInterrupted`."""
    if checkpointer.latest_step() != chunks_done:
        checkpointer.save(chunks_done, carry, {"record": record})
    path = partial_record_path(workdir, spec)
    if distributed.is_primary():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = {**results.to_jsonable(record), "status": "interrupted",
                   "steps_done": chunks_done * spec.chunk}
        path.write_text(json.dumps(partial, indent=1) + "\n")
    raise RunInterrupted(
        f"{spec.name}: stopped at step {chunks_done * spec.chunk} of {spec.steps}; checkpoint "
        f"{checkpointer.directory}, partial record {path}.")


def _resumed_record(meta: dict, checkpointer: checkpoints.RunCheckpointer, step: int) -> dict:
    record = meta.get("record")
    if not isinstance(record, dict) or not isinstance(record.get("timing"), dict):
        raise checkpoints.CheckpointError(
            f"checkpoint {checkpointer.directory} holds no partial run record; delete only that "
            f"folder (or rerun with --redo={checkpointer.directory.name}) to start just this run "
            "over.")
    record["timing"]["resumed_at_step"].append(step)
    return record


def _train(spec, algo, info, layout, dataset, carry, record, start_chunk, checkpointer,
           progress, on_chunk, stop, tracker) -> tuple:
    """The chunk loop: train, evaluate when due, checkpoint when due; fills ``record`` and
    returns ``(carry, chunks done)``, stopping early after the chunk in which ``stop.requested``
    became true. With ``progress`` the bar also moves inside chunks (``progress.ChunkProgress``)."""
    states, data_keys, active = carry
    num_chunks, eval_steps = spec.steps // spec.chunk, set(spec.eval_steps)
    chunks_done = start_chunk
    bar = progress_lib.make_bar(spec.steps, start_chunk * spec.chunk, spec.name,
                                disable=not progress)
    ticks = (progress_lib.ChunkProgress(bar, len(layout.padded_seeds), spec.chunk)
             if progress else None)
    active_host = progress_lib.wait_ready(active)
    run_chunk = training.make_multi_seed_chunk(algo, spec.config, spec.chunk, layout,
                                               progress=None if ticks is None else ticks.tick)
    every = () if ticks is None else (np.int32(1),)
    with bar:
        compiled, compile_s = progress_lib.compiling(bar, lambda: run_chunk.lower(
            states, data_keys, active, np.int32(0), dataset, *every).compile())
        record["timing"]["compile_s"] += compile_s
        policy = evaluation.make_batched_policy(algo, spec.config)
        for chunk_index in range(start_chunk, num_chunks):
            step = (chunk_index + 1) * spec.chunk
            every = () if ticks is None else (ticks.start_chunk(
                step - spec.chunk, training.ticking_seeds(active_host, layout)),)
            start = time.perf_counter()
            states, metrics, active = compiled(states, data_keys, active, np.int32(chunk_index),
                                               dataset, *every)
            active_host = progress_lib.wait_ready(active)  # The chunk is done.
            alive = layout.unpad(active_host)
            chunk_s = time.perf_counter() - start
            record["timing"]["train_s"] += chunk_s
            if ticks is None:
                bar.update(spec.chunk)
            else:
                ticks.end_chunk(step, chunk_s)
            _note_diverged(record, alive, step)
            if tracker.active or step in eval_steps:  # To the host once, after the chunk ended.
                metrics = layout.unpad(distributed.to_host(metrics))
                tracker.chunk(step, metrics)
            if step in eval_steps:
                score = evaluate_into_record(spec, record, policy, layout, states, alive, info,
                                             step, metrics)
                tracker.evaluation(step, record["normalized_scores"][-1], record["returns"])
                bar.set_postfix_str(f"score {significant(score, 2, 1)}", refresh=False)
            chunks_done = chunk_index + 1
            if checkpointer is not None and spec.checkpoint_every and (
                    chunks_done % spec.checkpoint_every == 0 or chunks_done == num_chunks):
                checkpointer.save(chunks_done, (states, data_keys, active), {"record": record})
            if on_chunk is not None:
                on_chunk(chunks_done)
            if stop.requested:
                break
    return (states, data_keys, active), chunks_done


def evaluate_into_record(spec: RunSpec, record: dict, policy, layout: training.SeedLayout,
                         states, alive: np.ndarray, info, step: int, metrics: dict) -> float:
    """Evaluates every seed of a run at ``step`` and appends the result to its record.

    The evaluation of :func:`run_experiment`, public for drivers that train outside its chunk
    loop but write the same record (``experiments/sfbc_staged.py``): ``spec.eval_episodes``
    episodes per seed with ``evaluation.evaluate``, keys and reset seeds from ``step`` and each
    seed's own value (a seed scores the same alone or beside others).

    Args:
      spec: the run (``eval_episodes``, ``max_episode_steps``).
      record: the run's record (``new_record``); gets ``eval_steps``, ``normalized_scores``
        (per seed, ``None`` for a seed with a non-finite score), ``returns`` (the latest
        evaluation's), ``train_metrics`` (``metrics`` at ``step``), ``timing.eval_s`` and
        ``diverged_at_step`` for seeds that are not ``alive`` or acted non-finitely.
      policy: ``evaluation.make_batched_policy(algo, config)``.
      layout: the run's ``training.SeedLayout``.
      states: agent states, seed axis first, padded as ``layout`` says.
      alive: [S] bool, the seeds still finite (``layout.unpad`` of the active mask).
      info: the dataset's ``DatasetInfo`` (eval env, normalization, reference scores).
      step: the update count evaluated at (also the evaluation seed).
      metrics: ``{name: [S] values}`` of the training metrics to record at ``step`` (host or
        device arrays; ``{}`` for none).

    Returns:
      The mean normalized score over the seeds with a finite score (NaN when none has).
    """
    # Keys and reset seeds come from (step, each seed's own value): a seed scores the same in any
    # run that trains it, alone or with others.
    if distributed.multi_process():  # Every process evaluates every seed, on its own devices.
        states = distributed.to_host(states)
    result = evaluation.evaluate(
        policy, layout.unpad(states), info, num_episodes=spec.eval_episodes, seed=step,
        seed_values=layout.seeds, active=alive, max_episode_steps=spec.max_episode_steps)
    record["timing"]["eval_s"] += result.wall_s
    _note_diverged(record, ~result.nonfinite_action, step)
    per_seed = [float(np.mean(row)) if np.isfinite(row).all() else None
                for row in result.normalized]
    record["eval_steps"].append(step)
    record["normalized_scores"].append(per_seed)
    record["returns"] = results.to_jsonable(result.returns)
    record["train_metrics"]["steps"].append(step)
    for name, values in sorted(jax.device_get(metrics).items()):
        record["train_metrics"].setdefault(name, []).append(results.to_jsonable(values))
    finite = [score for score in per_seed if score is not None]
    return float(np.mean(finite)) if finite else float("nan")


def _note_diverged(record: dict, alive: np.ndarray, step: int) -> None:
    # A grid run's members are (point, seed) pairs, numbered in "members"
    # (jaxrl_offline.runner.grid_run).
    for seed, ok in zip(record.get("members", record["seeds"]), alive):
        if not ok and str(seed) not in record["diverged_at_step"]:
            record["diverged_at_step"][str(seed)] = step
