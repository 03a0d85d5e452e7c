"""Runs SfBC's official staged pipeline (``jaxrl_offline.algorithms.sfbc_staged``) and writes a
normal run record.

    python -m experiments.sfbc_staged --dataset=mujoco/hopper/medium-v0 --num_seeds=4 \\
        --eval_every=1220 --config.critic_steps=24400

Stages, every one vmapped over the seeds with the dataset shared: behavior (``behavior_steps``
steps, in scans of ``--chunk``), presample (M_V actions per dataset state, once), then
``planning_iterations`` x ``critic_steps`` critic steps in scans of ``--chunk``, with a target
refresh (backward sweep, critic reset) between iterations. The record is the runner's
(``experiment.new_record`` / ``_evaluate`` / ``write_finished``) with algorithm ``sfbc_staged``:
``steps`` counts critic steps (K x ``critic_steps``) and evaluations run every ``--eval_every``
critic steps; ``timing.train_s`` covers every stage and ``timing.stages_s`` splits it.
``--config.<field>=VALUE`` sets a ``sfbc_staged.Config`` field.
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
import sys
import time
from collections.abc import Callable

import jax
import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from jaxrl_offline.algorithms import sfbc_staged
from jaxrl_offline.datasets import data, dataset_spec
from jaxrl_offline.runner import evaluation, experiment, training


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
    flags.DEFINE_bool("overwrite", False, "Redo a finished run.")
    config_flags.DEFINE_config_dict(
        "config", ml_collections.ConfigDict(dataclasses.asdict(sfbc_staged.Config())),
        "sfbc_staged.Config fields: --config.critic_steps=24400 ...")


def make_spec(dataset: str, config: sfbc_staged.Config, seeds: tuple[int, ...], chunk: int,
              eval_every: int, eval_episodes: int, max_episode_steps: int | None = None):
    """The ``RunSpec`` of a staged run: ``steps`` = K x ``critic_steps`` critic steps."""
    for name in ("behavior_steps", "critic_steps"):
        if getattr(config, name) % chunk:
            raise ValueError(f"sfbc_staged: {name}={getattr(config, name)} is not a multiple of "
                             f"--chunk={chunk}; pick a chunk that divides both stage lengths.")
    return experiment.RunSpec(
        algorithm=sfbc_staged.NAME, dataset=dataset, config=config, seeds=seeds,
        steps=config.planning_iterations * config.critic_steps, chunk=chunk,
        eval_every=eval_every, eval_episodes=eval_episodes, max_episode_steps=max_episode_steps)


def run_staged(spec: experiment.RunSpec, workdir, *, overwrite: bool = False,
               command: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Trains and evaluates ``spec`` (from :func:`make_spec`) and writes its record."""
    if overwrite:
        experiment.remove_run(spec, workdir)
    done = experiment.finished_record(spec, workdir, log)
    if done is not None:
        log(f"{spec.name}: already finished; --overwrite redoes it.")
        return done
    config, chunk = spec.config, spec.chunk
    parsed = dataset_spec.parse(spec.dataset)
    experiment.ensure_local(parsed, spec.name)
    dataset, info = data.load_dataset(parsed, algorithm="sfbc")  # SfBC's transforms.
    warnings = experiment.check_dataset_info(info, log)
    layout = training.make_seed_layout(spec.seeds)
    states, _ = training.init_seed_states(sfbc_staged, config, layout, dataset)
    record = experiment.new_record(spec, info, layout, command)
    record["warnings"] = warnings
    stage = functools.partial(sfbc_staged.over_seeds, config=config)
    behavior = stage(sfbc_staged.train_behavior, in_axes=(0, None), num_steps=chunk)
    presample = stage(sfbc_staged.presample, in_axes=(0, None))
    critic = stage(sfbc_staged.train_critic, in_axes=(0, 0, None), num_steps=chunk)
    refresh = stage(sfbc_staged.refresh_targets, in_axes=(0, 0, None, None, 0))
    stages_s = {"behavior": 0.0, "presample": 0.0, "critic": 0.0, "refresh": 0.0}

    def timed(name, fn, *args):
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        stages_s[name] += time.perf_counter() - start
        return out

    for _ in range(config.behavior_steps // chunk):
        states, behavior_metrics = timed("behavior", behavior, states, dataset)
    log(f"{spec.name}: behavior model trained ({config.behavior_steps} steps).")
    states, actions = timed("presample", presample, states, dataset.obs)
    done_flags = sfbc_staged.episode_dones(dataset)
    first = sfbc_staged.initial_targets(config, dataset, done_flags)
    targets = jax.tree.map(lambda x: np.broadcast_to(x, (len(layout.padded_seeds), *x.shape)),
                           first)
    policy = evaluation.make_batched_policy(sfbc_staged, config)
    alive = np.ones(len(spec.seeds), bool)
    eval_steps, step = set(spec.eval_steps), 0
    for iteration in range(config.planning_iterations):
        if iteration:
            states, targets, _ = timed("refresh", refresh, states, targets, dataset, done_flags,
                                       actions)
        for _ in range(config.critic_steps // chunk):
            states, metrics = timed("critic", critic, states, targets, dataset)
            step += chunk
            if step in eval_steps:
                metrics = {**layout.unpad(jax.device_get(behavior_metrics)),
                           **layout.unpad(jax.device_get(metrics))}
                experiment._evaluate(spec, record, policy, layout, states, alive, info, step,
                                     metrics)
    record["timing"]["train_s"] = sum(stages_s.values())
    record["timing"]["stages_s"] = stages_s
    return experiment.write_finished(spec, workdir, record, log)


def main(argv) -> None:
    del argv
    if not flags.FLAGS.dataset:
        raise app.UsageError("--dataset is required (e.g. --dataset=mujoco/hopper/medium-v0).")
    config = sfbc_staged.Config(**flags.FLAGS.config.to_dict())
    seeds = tuple(range(flags.FLAGS.seed, flags.FLAGS.seed + flags.FLAGS.num_seeds))
    spec = make_spec(flags.FLAGS.dataset, config, seeds, flags.FLAGS.chunk,
                     flags.FLAGS.eval_every, flags.FLAGS.eval_episodes,
                     flags.FLAGS.max_episode_steps)
    run_staged(spec, flags.FLAGS.workdir, overwrite=flags.FLAGS.overwrite,
               command=shlex.join(["python", "-m", "experiments.sfbc_staged", *sys.argv[1:]]))


if __name__ == "__main__":
    define_flags()
    app.run(main)
