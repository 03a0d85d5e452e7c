"""Host-side env stepping shared by evaluation, online RL and dataset generation.

``make_env`` is the one constructor of the library's envs (an env id or a Minari ``EnvSpec`` JSON
string, an optional time limit, an optional affine reward transform). ``EnvBatch`` steps ``N`` of
them in lockstep as a Gymnasium vector env with autoreset disabled: the caller starts each episode
with a reset seed it derives with ``derived_seed``, and the batch keeps each env's episode return
and length, reports ``terminated`` (a true termination) apart from ``truncated`` (a time limit) and
returns the true final observation of an episode that ends. An env that runs no episode (never
started, stopped, or finished) is still stepped, with the midpoint of the action box, and its
results are ignored; stepping all ``N`` together is what lets the envs live in worker processes
(``vector_mode="async"``).

The three drivers:

- ``evaluation.evaluate``: one episode per env, reset seeds from (eval seed, seed value, episode).
- ``online.EnvGroup``: endless episodes, each env restarted at once with its next derived seed.
- ``rollout.collect_episodes``: numbered episodes handed to free envs until a step budget is met.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec


def derived_seed(*entropy: int) -> int:
    """A 32-bit seed from ``SeedSequence(entropy)``; distinct entropy tuples give unrelated seeds.

    ``SeedSequence`` ignores trailing zeros, so callers tag their purposes before any index.
    """
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def make_env(env: str | Callable[[], gym.Env] | None, max_episode_steps: int | None = None,
             reward_scale: float = 1.0, reward_shift: float = 0.0) -> Callable[[], gym.Env]:
    """Zero-argument, picklable constructor of an env.

    Args:
      env: an env id (``"Hopper-v5"``), an ``EnvSpec`` JSON string (how Minari stores a dataset's
        eval env, with its kwargs and extra wrappers), or a zero-argument constructor.
      max_episode_steps: overrides the env's time limit when given.
      reward_scale, reward_shift: rewards become ``reward_scale * r + reward_shift`` (a dataset's
        affine reward transform, for online fine-tuning); the identity adds no wrapper.
    """
    if env is None:
        raise ValueError(
            "no evaluation env: this dataset's DatasetInfo.eval_env_spec is None; pass an env "
            "constructor (e.g. evaluate(env_fn=...)) to run it in an env anyway")
    if callable(env):
        env_fn = env if max_episode_steps is None else functools.partial(
            _with_time_limit, env, max_episode_steps)
    else:
        spec = EnvSpec.from_json(env) if env.lstrip().startswith("{") else env
        env_fn = functools.partial(gym.make, spec, max_episode_steps=max_episode_steps)
    if (reward_scale, reward_shift) == (1.0, 0.0):
        return env_fn
    return functools.partial(_transformed_reward, env_fn, reward_scale, reward_shift)


def _with_time_limit(env_fn: Callable[[], gym.Env], max_episode_steps: int) -> gym.Env:
    return gym.wrappers.TimeLimit(env_fn(), max_episode_steps)


def _transformed_reward(env_fn: Callable[[], gym.Env], scale: float, shift: float) -> gym.Env:
    return gym.wrappers.TransformReward(env_fn(), lambda reward: scale * reward + shift)


class Step(NamedTuple):
    """What one :meth:`EnvBatch.step` returns; every field has the env axis N first.

    Attributes:
      next_obs: raw observations after the step (the true final one where an episode ended).
      reward: [N] float64.
      terminated: [N] bool, the episode reached a terminal state (bootstrapping stops).
      truncated: [N] bool, the episode hit its time limit (not terminal).
      ended: [N] bool, an episode that was running ended at this step (terminated or truncated).
    """

    next_obs: Any
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    ended: np.ndarray


class EnvBatch:
    """``N`` envs stepped in lockstep, each running the episodes its caller starts.

    Attributes:
      obs: current raw observations of all envs (an [N, ...] array, or a dict of them).
      running: [N] bool, the env runs an episode whose steps count.
      returns: [N] float64 undiscounted return of each env's current (or last) episode.
      lengths: [N] int64 steps of each env's current (or last) episode.
      episodes: [N] int64 episodes started so far in each env.
    """

    def __init__(self, env_fn: Callable[[], gym.Env], num_envs: int, vector_mode: str = "sync"):
        disabled = gym.vector.AutoresetMode.DISABLED  # Resets are the caller's, with its seeds.
        if vector_mode == "sync":
            self.vector = gym.vector.SyncVectorEnv([env_fn] * num_envs, autoreset_mode=disabled)
        elif vector_mode == "async":
            # Forking a process that runs JAX's threads can deadlock (JAX warns), hence forkserver.
            self.vector = gym.vector.AsyncVectorEnv(
                [env_fn] * num_envs, context="forkserver", autoreset_mode=disabled)
        else:
            raise ValueError(f"unknown vector_mode {vector_mode!r}; expected 'sync' or 'async'")
        space = self.vector.single_action_space
        if not isinstance(space, gym.spaces.Box):
            self.vector.close()
            raise ValueError(f"envs need a continuous (Box) action space, got {space}")
        self.num_envs = num_envs
        self.action_low = np.asarray(space.low, np.float64)
        self.action_high = np.asarray(space.high, np.float64)
        self.action_dim = int(np.prod(space.shape))
        self.obs: Any = None
        self.running = np.zeros(num_envs, bool)
        self.returns = np.zeros(num_envs, np.float64)
        self.lengths = np.zeros(num_envs, np.int64)
        self.episodes = np.zeros(num_envs, np.int64)
        self._needs_reset = np.ones(num_envs, bool)  # Never reset, or its last episode is over.

    def start(self, mask: np.ndarray, seeds: Sequence[int]) -> None:
        """Starts a new episode in each env where ``mask`` [N] is True, reset with ``seeds`` (one
        per True entry, in env order); their returns and lengths restart from 0."""
        mask = np.asarray(mask, bool)
        if len(seeds) != mask.sum():
            raise ValueError(f"{mask.sum()} envs to start but {len(seeds)} seeds")
        full_seeds: list[int | None] = [None] * self.num_envs
        for index, seed in zip(np.flatnonzero(mask), seeds):
            full_seeds[index] = int(seed)
        self._reset(mask, full_seeds)
        self.running |= mask
        self.returns[mask], self.lengths[mask] = 0.0, 0
        self.episodes += mask

    def stop(self, mask: np.ndarray) -> None:
        """Stops counting the episodes of the envs where ``mask`` [N] is True (they idle on)."""
        self.running &= ~np.asarray(mask, bool)

    def step(self, action: np.ndarray) -> Step:
        """Steps every env; ``action`` [N, action_dim] in env units is used where ``running``.

        Envs that run no episode get the midpoint of the action box (finite, whatever ``action``
        holds there) and no return or length; a finished one is first reset unseeded.
        """
        if self._needs_reset.any():
            self._reset(self._needs_reset & ~self.running, [None] * self.num_envs)
        midpoint = 0.5 * (self.action_low + self.action_high)
        env_action = np.where(self.running[:, None], action, midpoint)
        next_obs, reward, terminated, truncated, _ = self.vector.step(
            env_action.astype(self.vector.single_action_space.dtype))
        self.returns += np.where(self.running, reward, 0.0)
        self.lengths += self.running
        ended = self.running & (terminated | truncated)
        self.running &= ~ended
        self._needs_reset = terminated | truncated
        self.obs = next_obs
        return Step(next_obs, reward, terminated, truncated, ended)

    def _reset(self, mask: np.ndarray, seeds: list[int | None]) -> None:
        """Resets the envs where ``mask`` [N] is True, env ``i`` with ``seeds[i]``."""
        if self.obs is None:  # The first reset covers every env (the others unseeded; they idle).
            self.obs, _ = self.vector.reset(seed=seeds)
            self._needs_reset[:] = False
        elif mask.any():
            self.obs, _ = self.vector.reset(seed=seeds, options={"reset_mask": mask.copy()})
        self._needs_reset &= ~mask

    def close(self) -> None:
        self.vector.close()
