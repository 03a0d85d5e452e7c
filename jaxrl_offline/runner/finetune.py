"""Offline-to-online fine-tuning: the ``--online_steps`` phase of a run.

``experiment.run_experiment`` trains a run offline; with ``RunSpec.online_steps = N > 0`` it then
calls :func:`run_online`, which fine-tunes every seed's final offline agent for N env steps in the
dataset's eval env with ``online.OnlineLoop``: the S seeds each step their own env in lockstep, with
one jitted, seed-vmapped policy call per env step and one update per env step (the update-to-data
ratio 1 of ACA's and IQL's fine-tuning), ``online_update_every`` env steps per jitted learning call.

**What an algorithm provides** (module-level hooks; without ``online_config`` it cannot be
fine-tuned, and ``--online_steps`` says so listing those that can):

* ``online_config(config) -> dict`` of :class:`OnlineConfig` fields (how the replay buffer starts);
* ``explore(config, state, obs, key) -> action`` [B, action_dim]: the online behaviour (required);
* ``start_online(config, state) -> state``: the switch to fine-tuning, e.g. ACA's alignment
  (default: none); it must keep ``act``'s policy, so env step 0 scores the offline agent;
* ``online_update(config, state, batch) -> (state, metrics)``: the online update (default:
  ``update``).

Defined: ``aca`` (aligned critic; buffer empty), ``sac_ml`` (SAC+ML without alignment), ``iql`` and
``td3_bc`` (naive fine-tuning: their own updates go on, on a buffer that starts with the whole
offline dataset, as in IQL's fine-tuning code; TD3+BC explores with N(0, 0.1^2), IQL samples its
Gaussian policy).

**Protocol.** Observations are normalized with the dataset's (frozen) statistics; env rewards go
through the dataset's own reward transform, ``DatasetInfo.reward_scale * r +
DatasetInfo.reward_shift`` as the offline load measured it (IQL's return-range factor included; the
dataset is not read again), so an agent sees one reward scale in both phases (evaluation returns
stay raw). One env per seed; training episodes end at the
env's time limit or ``max_episode_steps`` (a truncation is not a terminal). No random warm-up: the
pretrained policy acts and updates start from the first env step (with an empty buffer the first
batches repeat the first transitions). Evaluations use the offline protocol (``eval_episodes``
deterministic episodes per seed) at env step 0, before any online update, and every
``online_eval_every`` env steps; they fill ``record["online"]`` (``experiments/README.md``), with
the cumulative regret of ``results.cumulative_regret``.

**Resume.** With checkpoints on, the online state (agents, replay buffers, keys) and the partial
record are saved after every ``checkpoint_every``-th online evaluation (but the last), as
checkpoint ``offline chunks + evaluations done``. A resumed run restarts every env's episode
(env state is not saved, and episode reset seeds start over), so it is not bit-identical to an
uninterrupted run; the agents, buffers and keys are restored exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from jaxrl_offline.local_suite import envs
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import checkpoints, evaluation, online, training
# The buffers fine-tuning starts from, re-exported (``finetune.initial_buffers``, ...).
from jaxrl_offline.runner.online_buffers import (  # noqa: F401
    BUFFER_MODES, initial_buffers, top_trajectories)
from jaxrl_offline.types import DatasetInfo, Transition

NUM_ENVS = 1  # Envs per seed: one update per env step keeps the update-to-data ratio at 1.
_ONLINE_KEY_TAG = 1  # Folded into jax.random.key(seed), so online keys differ from offline ones.


@dataclasses.dataclass(frozen=True)
class OnlineConfig:
    """How an algorithm's online replay buffer starts (its ``online_config`` hook's fields).

    Attributes:
      buffer: "empty"; "offline" (the whole offline dataset, then the online transitions); or
        "top_trajectories" (the ``seed_trajectories`` highest-return offline trajectories, ACA's
        ``n_trajs``). Capacity is the seeded rows plus every online transition (none is dropped).
      seed_trajectories: trajectories kept by "top_trajectories".
    """

    buffer: str = "offline"
    seed_trajectories: int = 0

    def __post_init__(self):
        if self.buffer not in BUFFER_MODES:
            raise ValueError(f"online buffer {self.buffer!r}: expected one of {BUFFER_MODES}")
        if self.seed_trajectories < 0 or (self.buffer == "top_trajectories"
                                          and self.seed_trajectories < 1):
            raise ValueError(f"online buffer {self.buffer!r} with seed_trajectories="
                             f"{self.seed_trajectories}: top_trajectories needs at least 1")


def finetunable_algorithms() -> list[str]:
    """Registry names of the algorithms with an online definition."""
    from jaxrl_offline.algorithms import ALGORITHMS

    return [name for name, algo in ALGORITHMS.items() if hasattr(algo, "online_config")]


def online_config(algo: ModuleType, config: Any) -> OnlineConfig:
    """The algorithm's :class:`OnlineConfig`; ``ValueError`` if it cannot be fine-tuned."""
    if not (hasattr(algo, "online_config") and hasattr(algo, "explore")):
        raise ValueError(
            f"--online_steps: algorithm {algo.NAME!r} has no online fine-tuning definition (module "
            "hooks online_config and explore, see jaxrl_offline/runner/finetune.py). Algorithms "
            "that can "
            f"be fine-tuned: {', '.join(finetunable_algorithms())}.")
    return OnlineConfig(**algo.online_config(config))


def check_online_schedule(online_steps: int, online_eval_every: int, update_every: int) -> None:
    """``ValueError`` unless the online steps and evaluations fall on learning-call boundaries."""
    if online_steps < 0 or online_eval_every < 0 or update_every < 1:
        raise ValueError(f"--online_steps={online_steps} and --online_eval_every="
                         f"{online_eval_every} must be >= 0, --online_update_every={update_every}"
                         " >= 1")
    if online_steps and (online_steps % update_every or online_eval_every % update_every):
        raise ValueError(
            f"--online_steps={online_steps} and --online_eval_every={online_eval_every} must be "
            f"multiples of --online_update_every={update_every} (env steps per learning call).")


def online_eval_steps(online_steps: int, online_eval_every: int) -> list[int]:
    """Env steps of the online evaluations: 0, every ``online_eval_every`` (0: none), the last."""
    every = online_eval_every or online_steps
    return sorted({0, *range(every, online_steps + 1, every), online_steps})


# --- The algorithm's online side -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OnlineAlgorithm:
    """An algorithm's online functions, shaped like a module for ``online.make_act``/``make_learn``
    (a frozen dataclass of functions is hashable, so their compile caches still work)."""

    update: Callable
    explore: Callable
    act: Callable


def online_view(algo: ModuleType) -> OnlineAlgorithm:
    return OnlineAlgorithm(update=getattr(algo, "online_update", algo.update),
                           explore=_finite_actions(algo.explore), act=algo.act)


@functools.lru_cache(maxsize=None)
def _finite_actions(explore: Callable) -> Callable:
    """``explore`` with non-finite actions (a diverged seed) replaced by 0, so no NaN reaches the
    simulator; such a seed is reported by the next evaluation."""
    def finite_explore(config, state, obs, key):
        action = explore(config, state, obs, key)
        return jnp.where(jnp.isfinite(action), action, 0.0)

    return finite_explore


def start_online(algo: ModuleType, config: Any, agents: Any) -> Any:
    """The algorithm's ``start_online`` hook applied to every seed of ``agents`` [S, ...]."""
    if not hasattr(algo, "start_online"):
        return agents
    return _jitted_start_online(algo, config)(agents)


@functools.lru_cache(maxsize=32)
def _jitted_start_online(algo: ModuleType, config: Any) -> Callable:
    # One trace per (algorithm, config): the optimizers it builds are then the same objects on
    # every call, so the jitted online functions taking its output are not recompiled.
    return jax.jit(jax.vmap(functools.partial(algo.start_online, config)))


# --- Keys and the loop state ---------------------------------------------------------------------


def online_keys(seeds) -> tuple[jax.Array, jax.Array]:
    """[S] act keys and [S] data keys, from jax.random.key(seed) folded with an online tag."""
    def keys(seed):
        return jax.random.split(jax.random.fold_in(jax.random.key(seed), _ONLINE_KEY_TAG))

    both = jax.vmap(keys)(jnp.asarray(seeds, jnp.uint32))
    return both[:, 0], both[:, 1]


def initial_loop_state(algo: ModuleType, config: Any, seeds, agents: Any, dataset: Transition,
                       online_steps: int, device: jax.Device | None = None,
                       episode_ends: np.ndarray | None = None) -> online.LoopState:
    """The online state at env step 0: ``start_online(agents)``, seeded buffers (a
    "top_trajectories" buffer splits ``dataset`` at ``episode_ends``, ``DatasetInfo``'s), online
    keys, all committed to ``device`` (default: the first local device)."""
    buffers = initial_buffers(dataset, online_config(algo, config), len(seeds),
                              online_steps * NUM_ENVS, episode_ends)
    act_key, data_key = online_keys(seeds)
    state = online.LoopState(agent=start_online(algo, config, agents), buffer=buffers,
                             act_key=act_key, data_key=data_key)
    # Committed like the learning call's outputs, so that call compiles once, not twice.
    return jax.device_put(state, device or jax.local_devices()[0])


# --- The online phase of a run -------------------------------------------------------------------


def run_online(spec, algo: ModuleType, info: DatasetInfo, dataset: Transition, agents: Any,
               record: dict, checkpointer: checkpoints.RunCheckpointer | None, num_chunks: int, *,
               progress: bool = True, log: Callable[[str], None] = print,
               on_block: Callable[[int], None] | None = None) -> dict:
    """Fine-tunes the offline ``agents`` [S, ...] (or resumes) and returns the record with
    ``record["online"]`` complete.

    Args:
      spec: the ``experiment.RunSpec`` (``online_steps > 0``).
      algo, info, dataset: the run's algorithm module, dataset metadata and offline data.
      agents: final offline agent states, seed axis first (a template when resuming).
      record: the run record after the offline phase.
      checkpointer: the run's checkpointer, or ``None``; online checkpoints (every
        ``spec.checkpoint_every`` evaluations) are numbered ``num_chunks + evaluations done``.
      num_chunks: offline chunks of the run.
      on_block: called with ``num_chunks + evaluations done`` after each online evaluation (and
        its checkpoint, if any).
    """
    device = jax.local_devices()[0]  # Online work is small per call: one device, no resharding.
    agents, dataset = jax.device_put((agents, dataset), device)
    scale, shift = info.reward_scale, info.reward_shift  # The offline load's numbers; no reload.
    loop_state = initial_loop_state(algo, spec.config, spec.seeds, agents, dataset,
                                    spec.online_steps, device, info.episode_ends)
    points = online_eval_steps(spec.online_steps, spec.online_eval_every)
    blocks_done = 0
    if checkpointer is not None and (checkpointer.latest_step() or 0) > num_chunks:
        step, loop_state, meta = checkpointer.restore(loop_state)
        blocks_done, record = step - num_chunks, meta["record"]
        record["online"]["timing"]["resumed_at_env_step"].append(points[blocks_done])
        log(f"{spec.name}: resuming fine-tuning from the checkpoint at env step "
            f"{points[blocks_done]} (env episodes restart).")
    else:
        record["online"] = new_online_record(spec, online_config(algo, spec.config), scale, shift,
                                             int(loop_state.buffer.size[0]))
    loop = _make_loop(spec, algo, info, scale, shift, loop_state)
    policy = evaluation.make_batched_policy(algo, spec.config)
    online_record = record["online"]

    def count_episode(step, seed_index, episode_return, length):
        online_record["train_episodes"][seed_index] += 1

    bar = tqdm.tqdm(total=spec.online_steps, initial=points[blocks_done],
                    desc=f"{spec.name} online", unit="step", dynamic_ncols=True,
                    disable=not progress, mininterval=1.0)
    try:
        if blocks_done == 0:
            _evaluate(spec, online_record, policy, loop_state.agent, info, 0, {})
        for index in range(blocks_done, len(points) - 1):
            start = time.perf_counter()
            loop_state, metrics = loop.run(loop_state, points[index],
                                           points[index + 1] - points[index], count_episode)
            jax.block_until_ready(loop_state.agent)
            online_record["timing"]["train_s"] += time.perf_counter() - start
            score = _evaluate(spec, online_record, policy, loop_state.agent, info,
                              points[index + 1], metrics)
            bar.set_postfix_str(f"score {score:.1f}", refresh=False)
            bar.update(points[index + 1] - points[index])
            done = index + 1  # Online evaluations after step 0 (the final one needs no save).
            if (checkpointer is not None and spec.checkpoint_every and done < len(points) - 1
                    and done % spec.checkpoint_every == 0):
                checkpointer.save(num_chunks + done, loop_state, {"record": record})
            if on_block is not None:
                on_block(num_chunks + done)
    finally:
        bar.close()
        loop.close()
    online_record["buffer"]["final_rows"] = np.asarray(loop_state.buffer.size).tolist()
    record["online"] = finish_online(online_record, record["normalized"])
    log(online_summary_line(record))
    return record


def _make_loop(spec, algo: ModuleType, info: DatasetInfo, scale: float, shift: float,
               loop_state: online.LoopState) -> online.OnlineLoop:
    """The run's ``OnlineLoop``: one env per seed, no warm-up, the algorithm's online functions."""
    settings = online.OnlineSettings(num_envs=NUM_ENVS, warmup_steps=0,
                                     update_every=spec.online_update_every,
                                     buffer_capacity=loop_state.buffer.data.reward.shape[1])
    return online.OnlineLoop(online_view(algo), spec.config,
                             envs.make_env(info.eval_env_spec, spec.max_episode_steps, scale,
                                           shift),
                             num_seeds=len(spec.seeds), seed=_ONLINE_KEY_TAG, settings=settings,
                             normalize_obs=info.normalize_obs, seed_values=spec.seeds)


def new_online_record(spec, config: OnlineConfig, scale: float, shift: float,
                      seeded_rows: int) -> dict:
    """``record["online"]`` before the first online evaluation."""
    return {
        "steps": spec.online_steps, "eval_every": spec.online_eval_every,
        "update_every": spec.online_update_every, "num_envs": NUM_ENVS,
        "updates_per_env_step": 1, "buffer": {**dataclasses.asdict(config),
                                              "seeded_rows": seeded_rows},
        "reward_transform": {"scale": scale, "shift": shift},
        "env_steps": [], "normalized_scores": [], "returns": [],
        "train_episodes": [0] * len(spec.seeds), "diverged_at_env_step": {},
        "train_metrics": {"env_steps": []}, "final": {}, "regret": None,
        "timing": {"train_s": 0.0, "eval_s": 0.0, "env_steps_per_s": None,
                   "resumed_at_env_step": []},
    }


def _evaluate(spec, online_record: dict, policy, agents, info: DatasetInfo, env_step: int,
              metrics: dict) -> float:
    """Evaluates every seed at ``env_step``; appends scores and train metrics."""
    finite = np.asarray(_all_finite(agents))
    for seed, ok in zip(spec.seeds, finite):
        if not ok:
            online_record["diverged_at_env_step"].setdefault(str(seed), env_step)
    eval_seed = int(np.random.SeedSequence([spec.steps, env_step, _ONLINE_KEY_TAG])
                    .generate_state(1)[0])
    result = evaluation.evaluate(policy, agents, info, num_episodes=spec.eval_episodes,
                                 seed=eval_seed, seed_values=spec.seeds, active=finite,
                                 max_episode_steps=spec.max_episode_steps)
    online_record["timing"]["eval_s"] += result.wall_s
    per_seed = [float(np.mean(row)) if np.isfinite(row).all() else None
                for row in result.normalized]
    online_record["env_steps"].append(env_step)
    online_record["normalized_scores"].append(per_seed)
    online_record["returns"] = results.to_jsonable(result.returns)
    if metrics:
        online_record["train_metrics"]["env_steps"].append(env_step)
        for name, values in sorted(jax.device_get(metrics).items()):
            online_record["train_metrics"].setdefault(name, []).append(
                results.to_jsonable(values))
    finite_scores = [score for score in per_seed if score is not None]
    return float(np.mean(finite_scores)) if finite_scores else float("nan")


_all_finite = jax.jit(jax.vmap(training.tree_all_finite))  # [S] bool: every float leaf finite


def finish_online(online_record: dict, normalized: bool) -> dict:
    """Adds ``final`` (last/best over the online evaluations), ``regret`` and the speed."""
    online_record = dict(online_record)
    scores = online_record["normalized_scores"]
    online_record["final"] = results.final_summary(scores)
    online_record["regret"] = (results.summarize(results.cumulative_regret(
        online_record["env_steps"], scores)) if normalized else None)
    train_s = online_record["timing"]["train_s"]
    online_record["timing"] = {**online_record["timing"], "env_steps_per_s": (
        online_record["steps"] / train_s if train_s else None)}
    return results.to_jsonable(online_record)


def online_summary_line(record: dict) -> str:
    """One line: normalized score at the start and end of fine-tuning, regret and speed."""
    online_record = record["online"]
    start = results.summarize(results.as_array(online_record["normalized_scores"][:1])[0])
    last = online_record["final"]["last"]
    regret = online_record["regret"]
    regret_text = "" if regret is None else f", cumulative regret {regret['mean']:.3f}"
    speed = online_record["timing"]["env_steps_per_s"]
    return (f"{record['name']}: online {online_record['steps']} env steps: "
            f"{start['mean']:.1f} -> {last['mean']:.1f} ± {last['std']:.1f}{regret_text} | "
            f"{speed or float('nan'):.0f} env steps/s (compilation included), eval "
            f"{online_record['timing']['eval_s']:.1f} s")
