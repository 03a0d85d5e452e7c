"""Deterministic data collection: whole episodes of a batched numpy policy, cut to a step budget.

Used by every dataset generator (``local_suite/synthetic.py``, ``local_suite/suite.py``). Episode
``i`` uses the reset seed and the random generator of ``SeedSequence([*seed_key, i])`` only, so the
data does not depend on how many envs step in lockstep (``num_envs`` only changes speed). The
policy is called once per lockstep step on the observations of all running episodes, and the envs
step in an :class:`jaxrl_offline.local_suite.envs.EnvBatch` (the loop shared with evaluation and
online RL).
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

from jaxrl_offline.local_suite import envs

# policy(obs [n, obs_dim] raw env observations, rngs: one Generator per row) -> env actions [n, A].
BatchPolicy = Callable[[np.ndarray, list], np.ndarray]


def collect_episodes(env_fn: Callable[[], gym.Env], policy: BatchPolicy, num_transitions: int,
                     seed_key: tuple, num_envs: int = 8) -> list[dict]:
    """Exactly ``num_transitions`` steps of whole episodes, the last one cut (and truncated).

    Returns:
      Episodes as dicts: obs [T + 1, obs_dim] float32, action [T, A] float32 (env units), reward
      [T] float64, terminal [T] bool, truncated [T] bool, seed (the reset seed).
    """
    if num_transitions <= 0:
        raise ValueError(f"num_transitions must be positive, got {num_transitions}")
    batch = envs.EnvBatch(env_fn, num_envs)
    try:
        return _cut_to_budget(_rollout(batch, policy, num_transitions, seed_key), num_transitions)
    finally:
        batch.close()


def _rollout(batch: envs.EnvBatch, policy, num_transitions, seed_key) -> list[dict]:
    """Steps ``batch`` until the episodes needed for the budget are complete."""
    episodes: list[dict] = []  # By episode index, running or finished.
    episode_of = np.zeros(batch.num_envs, np.int64)  # The episode index each running env holds.
    settled, settled_steps = 0, 0  # Episodes < settled are finished and hold settled_steps steps.
    while True:
        running = {int(episode_of[env]): int(env) for env in np.flatnonzero(batch.running)}
        while settled < len(episodes) and settled not in running:
            settled, settled_steps = settled + 1, settled_steps + len(episodes[settled]["reward"])
        # steps_before[k]: steps so far of episodes < settled + k (a lower bound of their total).
        window = [len(episode["reward"]) for episode in episodes[settled:]]
        steps_before = settled_steps + np.cumsum([0] + window)
        for i in sorted(running):
            is_last_needed = i == settled and steps_before[1] >= num_transitions
            if steps_before[i - settled] >= num_transitions or is_last_needed:
                batch.stop(np.arange(batch.num_envs) == running.pop(i))  # Beyond budget, or done.
        if steps_before[-1] < num_transitions:  # Every free env starts the next episode.
            free = ~batch.running
            for env in np.flatnonzero(free):
                episode_of[env], running[len(episodes)] = len(episodes), int(env)
                episodes.append(_new_episode(seed_key + (len(episodes),)))
            batch.start(free, [episodes[episode_of[env]]["seed"] for env in np.flatnonzero(free)])
            for env in np.flatnonzero(free):
                episodes[episode_of[env]]["obs"].append(batch.obs[env].copy())
        if not running:
            return episodes
        order = sorted(running)
        rows = [running[i] for i in order]
        actions = np.asarray(policy(batch.obs[rows], [episodes[i]["rng"] for i in order]),
                             np.float32)
        env_actions = np.zeros((batch.num_envs, batch.action_dim), np.float32)
        env_actions[rows] = actions
        step = batch.step(env_actions)
        for row, (i, env) in enumerate(zip(order, rows)):
            for key, value in (("obs", step.next_obs[env].copy()), ("action", actions[row]),
                               ("reward", step.reward[env]), ("terminal", step.terminated[env]),
                               ("truncated", step.truncated[env])):
                episodes[i][key].append(value)


def _new_episode(entropy: tuple) -> dict:
    """Episode ``entropy[-1]``: its reset seed and noise generator depend on ``entropy`` only."""
    return {"rng": np.random.default_rng(np.random.SeedSequence(list(entropy))),
            "seed": envs.derived_seed(*entropy), "obs": [], "action": [], "reward": [],
            "terminal": [], "truncated": []}


def _cut_to_budget(episodes: list[dict], num_transitions: int) -> list[dict]:
    """Keeps the shortest prefix of episodes reaching the budget, cutting the last (truncated)."""
    kept, total = [], 0
    for episode in episodes:
        if total >= num_transitions:
            break
        length = min(len(episode["reward"]), num_transitions - total)
        truncated = np.asarray(episode["truncated"][:length], bool)
        terminal = np.asarray(episode["terminal"][:length], bool)
        if not terminal[-1]:
            truncated[-1] = True  # A cut episode ends in a truncation, never a termination.
        actions = np.asarray(episode["action"][:length], np.float32)
        kept.append({"obs": np.asarray(episode["obs"][: length + 1], np.float32),
                     "action": actions.reshape(length, -1),
                     "reward": np.asarray(episode["reward"][:length], np.float64),
                     "terminal": terminal, "truncated": truncated, "seed": episode["seed"]})
        total += length
    return kept
