"""Deterministic data collection: whole episodes of a batched numpy policy, cut to a step budget.

Used by every dataset generator (``synthetic.py``, ``suite.py``). Episode ``i`` uses the reset seed
and the random generator of ``SeedSequence([*seed_key, i])`` only, so the data does not depend on
how many envs step in lockstep (``num_envs`` only changes speed). The policy is called once per
lockstep step on the observations of all running episodes.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

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
    envs = [env_fn() for _ in range(num_envs)]
    try:
        return _cut_to_budget(_rollout(envs, policy, num_transitions, seed_key), num_transitions)
    finally:
        for env in envs:
            env.close()


def _rollout(envs, policy, num_transitions, seed_key) -> list[dict]:
    """Steps ``envs`` in lockstep until the episodes needed for the budget are complete."""
    idle_envs = list(envs)
    episodes: list[dict] = []  # By episode index, running or finished.
    running: dict[int, gym.Env] = {}  # Episode index -> its env.
    settled, settled_steps = 0, 0  # Episodes < settled are finished and hold settled_steps steps.
    while True:
        while settled < len(episodes) and settled not in running:
            settled, settled_steps = settled + 1, settled_steps + len(episodes[settled]["reward"])
        # steps_before[k]: steps so far of episodes < settled + k (a lower bound of their total).
        window = [len(episode["reward"]) for episode in episodes[settled:]]
        steps_before = settled_steps + np.cumsum([0] + window)
        for i in sorted(running):
            is_last_needed = i == settled and steps_before[1] >= num_transitions
            if steps_before[i - settled] >= num_transitions or is_last_needed:
                idle_envs.append(running.pop(i))  # Beyond the budget, or complete.
        while idle_envs and steps_before[-1] < num_transitions:
            index = len(episodes)
            running[index] = idle_envs.pop()
            episodes.append(_start_episode(running[index], seed_key + (index,)))
        if not running:
            return episodes
        order = sorted(running)
        obs = np.stack([episodes[i]["obs"][-1] for i in order])
        actions = np.asarray(policy(obs, [episodes[i]["rng"] for i in order]), np.float32)
        for row, i in enumerate(order):
            next_obs, reward, terminated, truncated, _ = running[i].step(actions[row])
            for key, value in (("obs", next_obs), ("action", actions[row]), ("reward", reward),
                               ("terminal", terminated), ("truncated", truncated)):
                episodes[i][key].append(value)
            if terminated or truncated:
                idle_envs.append(running.pop(i))


def _start_episode(env: gym.Env, entropy: tuple) -> dict:
    sequence = np.random.SeedSequence(list(entropy))
    reset_seed = int(sequence.generate_state(1)[0])
    obs, _ = env.reset(seed=reset_seed)
    return {"rng": np.random.default_rng(sequence), "seed": reset_seed, "obs": [obs],
            "action": [], "reward": [], "terminal": [], "truncated": []}


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
