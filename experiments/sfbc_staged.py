"""Runs SfBC's official staged pipeline (``jaxrl_offline.algorithms.sfbc_staged``) and writes a
normal run record.

    python -m experiments.sfbc_staged --dataset=mujoco/hopper/medium-v0 --num_seeds=4 \\
        --eval_every=1220 --config.critic_steps=24400

Stages, every one vmapped over the seeds with the dataset shared: behavior (``behavior_steps``
steps, in scans of ``--chunk``), presample (M_V actions per dataset state, once), then
``planning_iterations`` x ``critic_steps`` critic steps in scans of ``--chunk``, with a target
refresh (backward sweep, critic reset) between iterations. The record is the runner's
(``experiment.new_record`` / ``evaluate_into_record`` / ``write_finished``) with algorithm
``sfbc_staged``: ``steps`` counts critic steps (K x ``critic_steps``) and evaluations run every
``--eval_every`` critic steps; ``timing.train_s`` covers every stage and ``timing.stages_s``
splits it.
``--config.<field>=VALUE`` sets a ``sfbc_staged.Config`` field.

**Resume.** Like ``experiments.run``, the run checkpoints under
``<workdir>/checkpoints/<run name>/<stage chunks done>/`` (orbax, latest only): every
``--checkpoint_every`` stage chunks (behavior and critic chunks count alike), right after
presampling and after the last chunk, with the partial record and the last behavior metrics. Up
to the end of the behavior stage a checkpoint holds the seeds' states; from presampling on also
the critic targets and the cached actions [S, N, M_V, action_dim]. A rerun of the same command
resumes from the latest checkpoint (a refresh due at an iteration's start is redone from the
saved targets), with the same record as an uninterrupted run, timing aside
(``timing.resumed_at_step`` lists the critic steps resumed at); ``--overwrite`` deletes the
checkpoints with the record.
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from jaxrl_offline.algorithms import sfbc_staged
from jaxrl_offline.datasets import data, dataset_spec
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import checkpoints, evaluation, experiment, training


def define_flags() -> None:
    """The command line's flags, defined only when run as a script (tests import this module
    beside other absl programs that define flags of the same names)."""
    flags.DEFINE_string("dataset", None, "Dataset spec (Minari id, d4rl:PATH or A+B).")
    flags.DEFINE_integer("seed", 0, "First seed; seeds are seed, seed+1, ...")
    flags.DEFINE_integer("num_seeds", 1, "Seeds (vmapped).")
    flags.DEFINE_integer("chunk", 100, "Steps per jitted lax.scan call (behavior and critic).")
    flags.DEFINE_integer("eval_every", 0, "Evaluate every this many critic steps (a multiple of "
                         "--chunk; 0 = final only).")
    flags.DEFINE_integer("eval_episodes", 10, "Episodes per seed and evaluation.")
    flags.DEFINE_integer("max_episode_steps", None, "Cap on evaluation episode length.")
    flags.DEFINE_string("workdir", "workdir/sfbc_staged", "Output folder (runs/<name>.json).")
    flags.DEFINE_integer("checkpoint_every", 10, "Stage chunks between checkpoints (0: none); "
                         "a rerun resumes from the latest.")
    flags.DEFINE_bool("overwrite", False, "Redo a finished run (its checkpoints too).")
    config_flags.DEFINE_config_dict(
        "config", ml_collections.ConfigDict(dataclasses.asdict(sfbc_staged.Config())),
        "sfbc_staged.Config fields: --config.critic_steps=24400 ...")


def make_spec(dataset: str, config: sfbc_staged.Config, seeds: tuple[int, ...], chunk: int,
              eval_every: int, eval_episodes: int, max_episode_steps: int | None = None,
              checkpoint_every: int = 0):
    """The ``RunSpec`` of a staged run: ``steps`` = K x ``critic_steps`` critic steps;
    ``checkpoint_every`` counts stage chunks (behavior and critic)."""
    for name in ("behavior_steps", "critic_steps"):
        if getattr(config, name) % chunk:
            raise ValueError(f"sfbc_staged: {name}={getattr(config, name)} is not a multiple of "
                             f"--chunk={chunk}; pick a chunk that divides both stage lengths.")
    return experiment.RunSpec(
        algorithm=sfbc_staged.NAME, dataset=dataset, config=config, seeds=seeds,
        steps=config.planning_iterations * config.critic_steps, chunk=chunk,
        eval_every=eval_every, eval_episodes=eval_episodes, max_episode_steps=max_episode_steps,
        checkpoint_every=checkpoint_every)


def done_flags_of(info) -> jax.Array:
    """SfBC's done_i [N] (float32): 1 at the loader's episode ends (``DatasetInfo.episode_ends``:
    terminals, timeouts and the end of each part's data), 0 elsewhere."""
    if info.episode_ends is None:
        raise ValueError(f"{info.dataset_id}: its DatasetInfo has no episode_ends (data that came "
                         "from no loader); SfBC's returns need them: load it with "
                         "jaxrl_offline.datasets.data.load_dataset.")
    return jnp.asarray(info.episode_ends, jnp.float32)


def run_staged(spec: experiment.RunSpec, workdir, *, overwrite: bool = False,
               command: str | None = None, log: Callable[[str], None] = print,
               on_chunk: Callable[[int], None] | None = None) -> dict:
    """Trains and evaluates ``spec`` (from :func:`make_spec`) and writes its record.

    A finished run is skipped. With ``spec.checkpoint_every`` the run checkpoints (see the module
    docstring) and a rerun resumes from its latest checkpoint with the same record (timing
    aside). ``on_chunk`` is called with the stage chunks done after each one (and its
    checkpoint, if any).
    """
    if overwrite:
        experiment.remove_run(spec, workdir)
    done = experiment.finished_record(spec, workdir, log)
    if done is not None:
        log(f"{spec.name}: already finished; --overwrite redoes it.")
        return done
    parsed = dataset_spec.parse(spec.dataset)
    experiment.ensure_local(parsed, spec.name)
    dataset, info = data.load_dataset(parsed, algorithm="sfbc")  # SfBC's transforms.
    warnings = experiment.check_dataset_info(info, log)
    layout = training.make_seed_layout(spec.seeds)
    states, _ = training.init_seed_states(sfbc_staged, spec.config, layout, dataset)
    record = experiment.new_record(spec, info, layout, command)
    record["warnings"] = warnings
    record["timing"]["stages_s"] = dict.fromkeys(STAGES, 0.0)
    ckpt_dir = experiment.checkpoint_dir(workdir, spec)
    checkpointer = (checkpoints.RunCheckpointer(ckpt_dir, spec.spec_hash)
                    if spec.checkpoint_every or ckpt_dir.exists() else None)
    try:
        record = _train_stages(spec, info, layout, dataset, states, record, checkpointer, log,
                               on_chunk)
    finally:
        if checkpointer is not None:
            checkpointer.close()
    record["timing"]["train_s"] = sum(record["timing"]["stages_s"].values())
    return experiment.write_finished(spec, workdir, record, log)


STAGES = ("behavior", "presample", "critic", "refresh")


def _stage_functions(config: sfbc_staged.Config, chunk: int) -> dict[str, Callable]:
    """Every stage jitted and vmapped over the seeds, the dataset (and done flags) shared."""
    stage = functools.partial(sfbc_staged.over_seeds, config=config)
    return {"behavior": stage(sfbc_staged.train_behavior, in_axes=(0, None), num_steps=chunk),
            "presample": stage(sfbc_staged.presample, in_axes=(0, None)),
            "critic": stage(sfbc_staged.train_critic, in_axes=(0, 0, None), num_steps=chunk),
            "refresh": stage(sfbc_staged.refresh_targets, in_axes=(0, 0, None, None, 0))}


def _restore(checkpointer, fns, carry: dict, dataset, num_behavior: int, log, name: str):
    """The latest checkpoint: ``(stage chunks done, carry, record, behavior metrics)``; its
    arrays are the states alone up to the behavior stage's end, then also targets and actions."""
    unit = checkpointer.latest_step()
    template = {"states": carry["states"]}
    if unit > num_behavior:
        shape = jax.eval_shape(fns["presample"], carry["states"], dataset.obs)[1]
        template.update(targets=carry["targets"], actions=jnp.zeros(shape.shape, shape.dtype))
    unit, restored, meta = checkpointer.restore(template)
    record = meta["record"]
    record["timing"]["resumed_at_step"].append(max(0, unit - num_behavior - 1) * record["chunk"])
    log(f"{name}: resuming from the checkpoint after stage chunk {unit}.")
    return unit, {**carry, **restored}, record, meta["behavior_metrics"]


def _train_stages(spec, info, layout, dataset, states, record, checkpointer, log,
                  on_chunk) -> dict:
    """Behavior chunks, presampling, then the critic chunks with a refresh between planning
    iterations; evaluates when due and checkpoints (:func:`run_staged`)."""
    config, chunk = spec.config, spec.chunk
    num_behavior, num_critic = config.behavior_steps // chunk, config.critic_steps // chunk
    last = num_behavior + 1 + config.planning_iterations * num_critic
    fns = _stage_functions(config, chunk)
    done_flags = done_flags_of(info)
    first = sfbc_staged.initial_targets(config, dataset, done_flags)
    carry = {"states": states, "targets": jax.tree.map(
        lambda x: np.broadcast_to(x, (len(layout.padded_seeds), *x.shape)), first)}
    unit, behavior_metrics = 0, None
    if checkpointer is not None and checkpointer.latest_step() is not None:
        unit, carry, record, behavior_metrics = _restore(checkpointer, fns, carry, dataset,
                                                         num_behavior, log, spec.name)

    def run(name, *args):
        start = time.perf_counter()
        out = jax.block_until_ready(fns[name](*args))
        record["timing"]["stages_s"][name] += time.perf_counter() - start
        return out

    def finished(done: int, always: bool = False) -> None:
        if checkpointer is not None and spec.checkpoint_every and (
                always or done % spec.checkpoint_every == 0 or done == last):
            saved = carry if done > num_behavior else {"states": carry["states"]}
            checkpointer.save(done, saved, {"record": record,
                                            "behavior_metrics": behavior_metrics})
        if on_chunk is not None:
            on_chunk(done)

    for done in range(unit + 1, num_behavior + 1):
        carry["states"], metrics = run("behavior", carry["states"], dataset)
        behavior_metrics = results.to_jsonable(layout.unpad(jax.device_get(metrics)))
        finished(done)
    if unit <= num_behavior:
        log(f"{spec.name}: behavior model trained ({config.behavior_steps} steps).")
        carry["states"], carry["actions"] = run("presample", carry["states"], dataset.obs)
        finished(num_behavior + 1, always=True)  # Presampling is the costliest stage to redo.
    policy = evaluation.make_batched_policy(sfbc_staged, config)
    eval_steps = set(spec.eval_steps)
    for index in range(max(0, unit - num_behavior - 1), last - num_behavior - 1):
        if index and index % num_critic == 0:  # A new planning iteration: rebuild the targets.
            carry["states"], carry["targets"], _ = run(
                "refresh", carry["states"], carry["targets"], dataset, done_flags,
                carry["actions"])
        carry["states"], metrics = run("critic", carry["states"], carry["targets"], dataset)
        step = (index + 1) * chunk
        if step in eval_steps:
            metrics = {**{k: np.asarray(v) for k, v in behavior_metrics.items()},
                       **layout.unpad(jax.device_get(metrics))}
            experiment.evaluate_into_record(spec, record, policy, layout, carry["states"],
                                            np.ones(len(spec.seeds), bool), info, step, metrics)
        finished(num_behavior + 2 + index)
    return record


def main(argv) -> None:
    del argv
    if not flags.FLAGS.dataset:
        raise app.UsageError("--dataset is required (e.g. --dataset=mujoco/hopper/medium-v0).")
    config = sfbc_staged.Config(**flags.FLAGS.config.to_dict())
    seeds = tuple(range(flags.FLAGS.seed, flags.FLAGS.seed + flags.FLAGS.num_seeds))
    spec = make_spec(flags.FLAGS.dataset, config, seeds, flags.FLAGS.chunk,
                     flags.FLAGS.eval_every, flags.FLAGS.eval_episodes,
                     flags.FLAGS.max_episode_steps, flags.FLAGS.checkpoint_every)
    run_staged(spec, flags.FLAGS.workdir, overwrite=flags.FLAGS.overwrite,
               command=shlex.join(["python", "-m", "experiments.sfbc_staged", *sys.argv[1:]]))


if __name__ == "__main__":
    define_flags()
    app.run(main)
