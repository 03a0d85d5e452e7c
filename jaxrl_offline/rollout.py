"""Deterministic data collection: whole episodes of a batched numpy policy, cut to a step budget.

Used by every dataset generator (``synthetic.py``, ``suite.py``). Episode ``i`` uses the reset seed
and the random generator of ``SeedSequence([*seed_key, i])`` only, so the data does not depend on
how many envs step in lockstep (``num_envs`` only changes speed). The policy is called once per
lockstep step on the observations of all running episodes. With ``num_workers > 1`` the envs live
in that many worker processes, each stepping its share of every lockstep step, so MuJoCo's physics
(most of the time) runs on several cores; the data is the same for any ``num_envs``/``num_workers``.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

# policy(obs [n, obs_dim] raw env observations, rngs: one Generator per row) -> env actions [n, A].
BatchPolicy = Callable[[np.ndarray, list], np.ndarray]


def collect_episodes(env_fn: Callable[[], gym.Env], policy: BatchPolicy, num_transitions: int,
                     seed_key: tuple, num_envs: int = 8, num_workers: int = 1) -> list[dict]:
    """Exactly ``num_transitions`` steps of whole episodes, the last one cut (and truncated).

    Args:
      env_fn: makes one env (picklable, e.g. a ``functools.partial`` of ``gym.make``, when
        ``num_workers > 1``).
      policy: the batched policy, called in this process.
      num_transitions: the step budget.
      seed_key: entropy prefix of every episode's reset seed and random generator.
      num_envs: episodes stepped in lockstep (speed only).
      num_workers: processes the envs are spread over (speed only; 1: step them here).

    Returns:
      Episodes as dicts: obs [T + 1, obs_dim] float32, action [T, A] float32 (env units), reward
      [T] float64, terminal [T] bool, truncated [T] bool, seed (the reset seed).
    """
    if num_transitions <= 0:
        raise ValueError(f"num_transitions must be positive, got {num_transitions}")
    if num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    num_workers = min(num_workers, num_envs)
    envs = _LocalEnvs(env_fn, num_envs) if num_workers == 1 else _WorkerEnvs(
        env_fn, num_envs, num_workers)
    try:
        return _cut_to_budget(_rollout(envs, num_envs, policy, num_transitions, seed_key),
                              num_transitions)
    finally:
        envs.close()


class _LocalEnvs:
    """``num_envs`` envs in this process, addressed by slot."""

    def __init__(self, env_fn: Callable[[], gym.Env], num_envs: int):
        self.envs = [env_fn() for _ in range(num_envs)]

    def reset(self, slot: int, seed: int) -> np.ndarray:
        return self.envs[slot].reset(seed=seed)[0]

    def step(self, slots: Sequence[int], actions: np.ndarray) -> list[tuple]:
        """(next_obs, reward, terminated, truncated) of each slot's env."""
        return [self.envs[slot].step(action)[:4] for slot, action in zip(slots, actions)]

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _env_worker(connection, env_fn: Callable[[], gym.Env], num_envs: int) -> None:
    """Serves ``reset``/``step`` requests for its own ``_LocalEnvs`` until told to close."""
    envs = None
    try:
        envs = _LocalEnvs(env_fn, num_envs)
        connection.send(("ok", None))
        while True:
            command, payload = connection.recv()
            if command == "close":
                break
            result = envs.reset(*payload) if command == "reset" else envs.step(*payload)
            connection.send(("ok", result))
    except Exception:  # noqa: BLE001 -- sent to the parent, which raises it.
        connection.send(("error", traceback.format_exc()))
    finally:
        if envs is not None:
            envs.close()
        connection.close()


class _WorkerEnvs:
    """The same interface over worker processes; slot ``k`` lives in worker ``k % num_workers``.

    A lockstep step sends each worker its slots' actions first and then collects the results, so
    the workers step in parallel. Workers start with ``forkserver`` (safe after JAX started
    threads), as the evaluation's async vector envs do.
    """

    def __init__(self, env_fn: Callable[[], gym.Env], num_envs: int, num_workers: int):
        context = multiprocessing.get_context("forkserver")
        self.num_workers = num_workers
        self.connections, self.processes = [], []
        for worker in range(num_workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=_env_worker, daemon=True,
                args=(child, env_fn, len(range(worker, num_envs, num_workers))))
            process.start()
            child.close()
            self.connections.append(parent)
            self.processes.append(process)
        for worker in range(num_workers):
            self._receive(worker)

    def _receive(self, worker: int):
        status, result = self.connections[worker].recv()
        if status == "error":
            raise RuntimeError(f"env worker {worker} failed:\n{result}")
        return result

    def reset(self, slot: int, seed: int) -> np.ndarray:
        worker, local = slot % self.num_workers, slot // self.num_workers
        self.connections[worker].send(("reset", (local, seed)))
        return self._receive(worker)

    def step(self, slots: Sequence[int], actions: np.ndarray) -> list[tuple]:
        rows_of: dict[int, list[int]] = {}
        for row, slot in enumerate(slots):
            rows_of.setdefault(slot % self.num_workers, []).append(row)
        for worker, rows in rows_of.items():
            local_slots = [slots[row] // self.num_workers for row in rows]
            self.connections[worker].send(("step", (local_slots, actions[rows])))
        results: list = [None] * len(slots)
        for worker, rows in rows_of.items():
            for row, result in zip(rows, self._receive(worker)):
                results[row] = result
        return results

    def close(self) -> None:
        for connection in self.connections:
            try:
                connection.send(("close", None))
            except (BrokenPipeError, OSError):
                pass  # The worker already exited (after reporting its error).
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        for connection in self.connections:
            connection.close()


def _rollout(envs, num_envs: int, policy, num_transitions, seed_key) -> list[dict]:
    """Steps the env slots in lockstep until the episodes needed for the budget are complete."""
    idle_slots = list(range(num_envs))
    episodes: list[dict] = []  # By episode index, running or finished.
    running: dict[int, int] = {}  # Episode index -> its env slot.
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
                idle_slots.append(running.pop(i))  # Beyond the budget, or complete.
        while idle_slots and steps_before[-1] < num_transitions:
            index = len(episodes)
            running[index] = idle_slots.pop()
            episodes.append(_start_episode(envs, running[index], seed_key + (index,)))
        if not running:
            return episodes
        order = sorted(running)
        obs = np.stack([episodes[i]["obs"][-1] for i in order])
        actions = np.asarray(policy(obs, [episodes[i]["rng"] for i in order]), np.float32)
        results = envs.step([running[i] for i in order], actions)
        for row, (i, result) in enumerate(zip(order, results)):
            next_obs, reward, terminated, truncated = result
            for key, value in (("obs", next_obs), ("action", actions[row]), ("reward", reward),
                               ("terminal", terminated), ("truncated", truncated)):
                episodes[i][key].append(value)
            if terminated or truncated:
                idle_slots.append(running.pop(i))


def _start_episode(envs, slot: int, entropy: tuple) -> dict:
    sequence = np.random.SeedSequence(list(entropy))
    reset_seed = int(sequence.generate_state(1)[0])
    obs = envs.reset(slot, reset_seed)
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
