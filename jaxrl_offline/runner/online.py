"""The environment-interaction loop of online RL: vector envs, batched policy, replay on device.

Used to train the behavior policies of the local dataset suite (``experiments/train_behavior.py``)
and meant for offline-to-online fine-tuning. ``S`` seeds each own ``E`` Gymnasium envs; all
``S * E`` envs step in lockstep. Per env step there is **one** jitted policy call for every seed and
env (``[S, E, obs_dim] -> [S, E, action_dim]``); every ``update_every`` env steps one jitted call
appends the collected ``[S, update_every * E]`` transitions to each seed's device replay buffer and
runs ``update_every * updates_per_step`` scanned updates per seed (vmapped over seeds).

Episodes end with ``terminal = terminated`` only; a time-limit truncation keeps ``terminal = 0`` and
its true final observation as ``next_obs``. Each env's episodes are reset with seeds derived from
(run seed, seed index, env index, episode count), so a run is deterministic given its seed; with
``seed_values`` the seed's own value replaces its index, so a seed's episodes do not depend on the
seeds beside it.
A run resumed from a checkpoint restarts its envs' current episodes (env state is not saved).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_offline.local_suite import envs
from jaxrl_offline.runner import replay_buffer, training
from jaxrl_offline.datasets.minari_format import flatten_observation
from jaxrl_offline.runner.replay_buffer import ReplayBuffer
from jaxrl_offline.types import PRNGKey, Transition


@dataclasses.dataclass(frozen=True)
class OnlineSettings:
    """How the loop interleaves acting and learning.

    Attributes:
      num_envs: E, envs per seed (each env step adds E transitions per seed).
      warmup_steps: env steps (per env) taken with uniform random actions before the policy acts;
        no updates happen before the buffer holds ``warmup_steps * E`` transitions of a seed.
      update_every: env steps between two learning calls (>= 1). Larger values amortise dispatch
        (1,000 scanned updates run ~20% faster than 1,000 single calls on CPU) at the price of a
        policy that is up to ``update_every`` updates stale while acting.
      updates_per_step: gradient updates per env step (the update-to-data ratio, per seed).
      buffer_capacity: replay rows per seed.
    """

    num_envs: int = 1
    warmup_steps: int = 10_000
    update_every: int = 1
    updates_per_step: int = 1
    buffer_capacity: int = 1_000_000

    def __post_init__(self):
        for name in ("num_envs", "update_every", "updates_per_step", "buffer_capacity"):
            if getattr(self, name) < 1:
                raise ValueError(f"OnlineSettings.{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise ValueError(f"OnlineSettings.warmup_steps must be >= 0, got {self.warmup_steps}")


class LoopState(struct.PyTreeNode):
    """Everything of a run that lives on device (all leaves have the seed axis S first).

    Attributes:
      agent: the algorithm's ``AgentState`` per seed.
      buffer: one :class:`ReplayBuffer` per seed.
      act_key: [S] keys, split at every env step for the actions (policy or warm-up).
      data_key: [S] keys, split at every learning call for its batches.
    """

    agent: Any
    buffer: ReplayBuffer
    act_key: PRNGKey
    data_key: PRNGKey


class EnvGroup:
    """``S x E`` envs stepped in lockstep (an :class:`jaxrl_offline.local_suite.envs.EnvBatch`),
    each env's episode ``k`` reset with the seed derived from (run seed, seed value, env index, k).

    Actions arrive in the library's [-1, 1] convention and are mapped to each env's action box.
    Finished episodes are restarted at once; :meth:`step` reports the true final observation.
    """

    def __init__(self, env_fn: Callable[[], gym.Env], num_seeds: int, num_envs: int, seed: int,
                 normalize_obs: Callable[[np.ndarray], np.ndarray] | None = None,
                 seed_values: Sequence[int] | None = None):
        self.shape = (num_seeds, num_envs)
        self.seed_values = list(range(num_seeds)) if seed_values is None else list(seed_values)
        if len(self.seed_values) != num_seeds:
            raise ValueError(f"seed_values must have {num_seeds} entries, got {seed_values}")
        self.batch = envs.EnvBatch(env_fn, num_seeds * num_envs)
        self.action_dim = self.batch.action_dim
        self.seed = seed
        self.normalize_obs = normalize_obs or (lambda obs: np.asarray(obs, np.float32))
        self._start(np.ones(self.batch.num_envs, bool))

    def _start(self, mask: np.ndarray) -> None:
        """Starts the next episode of the envs where ``mask`` [S * E] is True."""
        seeds = []
        for index in np.flatnonzero(mask):
            seed_index, env_index = divmod(int(index), self.shape[1])
            seeds.append(envs.derived_seed(self.seed, self.seed_values[seed_index], env_index,
                                           int(self.batch.episodes[index])))
        self.batch.start(mask, seeds)

    def observations(self) -> np.ndarray:
        """Current [S, E, obs_dim] float32 observations (normalized if a normalizer was given)."""
        return self.normalize_obs(flatten_observation(self.batch.obs)).reshape(*self.shape, -1)

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], list[tuple[int, float, int]]]:
        """Steps every env with ``action`` [S, E, action_dim] in [-1, 1].

        Returns:
          ``(transitions, finished)``: transitions as [S, E, ...] numpy arrays (obs, action, reward,
          next_obs, terminal) and, for every episode that ended, ``(seed index, return, length)``.
        """
        batch = self.batch
        flat_action = np.asarray(action, np.float64).reshape(batch.num_envs, self.action_dim)
        env_action = batch.action_low + (np.clip(flat_action, -1, 1) + 1) * 0.5 * (
            batch.action_high - batch.action_low)
        obs = flatten_observation(batch.obs)
        result = batch.step(env_action)
        finished = [(int(index) // self.shape[1], float(batch.returns[index]),
                     int(batch.lengths[index])) for index in np.flatnonzero(result.ended)]
        self._start(result.ended)
        transitions = {
            "obs": self.normalize_obs(obs).reshape(*self.shape, -1),
            "action": flat_action.astype(np.float32).reshape(*self.shape, -1),
            "reward": result.reward.astype(np.float32).reshape(self.shape),
            "next_obs": self.normalize_obs(flatten_observation(result.next_obs)).reshape(
                *self.shape, -1),
            "terminal": result.terminated.astype(np.float32).reshape(self.shape),
        }
        return transitions, finished

    def close(self) -> None:
        self.batch.close()


def init_loop_state(algo: ModuleType, config: Any, seeds: Sequence[int], obs_dim: int,
                    action_dim: int, settings: OnlineSettings,
                    agent: Any | None = None) -> LoopState:
    """Fresh per-seed agents (unless ``agent`` is given, e.g. from offline pretraining), empty
    buffers and the run keys. Seed ``s`` derives everything from ``jax.random.key(s)``."""
    example = Transition(obs=jnp.zeros(obs_dim), action=jnp.zeros(action_dim),
                         reward=jnp.zeros(()), next_obs=jnp.zeros(obs_dim), terminal=jnp.zeros(()))
    init_one = jax.jit(lambda key: algo.init(config, key, example.obs, example.action))
    # [S, 3] keys (init, act, data) per seed, from jax.random.key(seed) alone.
    keys = jax.vmap(lambda seed: jax.random.split(jax.random.key(seed), 3))(
        jnp.asarray(seeds, jnp.uint32))
    init_keys, act_key, data_key = keys[:, 0], keys[:, 1], keys[:, 2]
    if agent is None:
        # One jitted init per seed, then stacked: a vmapped init of many networks can deadlock
        # XLA:CPU (see training.init_seed_states).
        agents = [init_one(init_keys[index]) for index in range(len(seeds))]
        agent = training.stack_trees(agents)
    buffer = jax.vmap(lambda _: replay_buffer.init(settings.buffer_capacity, example))(
        jnp.arange(len(seeds)))
    return LoopState(agent=agent, buffer=buffer, act_key=act_key, data_key=data_key)


@functools.lru_cache(maxsize=32)  # One compiled function per (algorithm, config), across loops.
def make_act(algo: ModuleType, config: Any) -> Callable:
    """Jitted ``act(agent, act_key [S], obs [S, E, d]) -> (next act_key, actions [S, E, A])``
    sampling ``algo.explore`` (or ``algo.act`` when the algorithm has no exploration sampler).
    Each call splits every seed's key, so no key is ever used twice."""
    sampler = functools.partial(getattr(algo, "explore", algo.act), config)

    def one_seed(agent, key, obs):
        key, action_key = jax.random.split(key)
        return key, sampler(agent, obs, action_key)

    return jax.jit(jax.vmap(one_seed))


@jax.jit
def _uniform_actions(act_key: PRNGKey, shape_like: jax.Array) -> tuple[PRNGKey, jax.Array]:
    """Uniform [-1, 1] warm-up actions shaped like ``shape_like`` [S, E, A], with the next keys."""
    def one_seed(key, like):
        key, action_key = jax.random.split(key)
        return key, jax.random.uniform(action_key, like.shape, minval=-1.0, maxval=1.0)

    return jax.vmap(one_seed)(act_key, shape_like)


@functools.lru_cache(maxsize=32)
def make_learn(algo: ModuleType, config: Any, num_updates: int) -> Callable:
    """Jitted ``learn(loop_state, transitions [S, n, ...]) -> (loop_state, metrics)``: adds the
    transitions to each seed's buffer, then runs ``num_updates`` scanned updates per seed (metrics
    averaged over them). Each call splits the seeds' data keys."""
    update = functools.partial(algo.update, config)

    def one_seed(agent, buffer, data_key, transitions):
        buffer = replay_buffer.add(buffer, transitions)
        data_key, call_key = jax.random.split(data_key)

        def step(carry, index):
            batch = replay_buffer.sample(buffer, jax.random.fold_in(call_key, index),
                                         config.batch_size)
            return update(carry, batch)

        agent, metrics = jax.lax.scan(step, agent, jnp.arange(num_updates))
        return agent, buffer, data_key, jax.tree.map(lambda v: jnp.nanmean(v, axis=0), metrics)

    # Donating the loop state lets XLA write the new transitions into the buffer in place instead of
    # copying all of it (a 1M-row buffer is ~100 MB) on every call.
    @functools.partial(jax.jit, donate_argnums=0)
    def learn(loop_state: LoopState, transitions: Transition):
        agent, buffer, data_key, metrics = jax.vmap(one_seed)(
            loop_state.agent, loop_state.buffer, loop_state.data_key, transitions)
        return loop_state.replace(agent=agent, buffer=buffer, data_key=data_key), metrics

    return learn


@functools.partial(jax.jit, donate_argnums=0)
def _add_to_buffers(buffer: ReplayBuffer, transitions: Transition) -> ReplayBuffer:
    return jax.vmap(replay_buffer.add)(buffer, transitions)


class OnlineLoop:
    """Acting and learning for ``S`` seeds; :meth:`run` advances them by a number of env steps.

    Args:
      algo: an algorithm module with ``update`` and ``explore`` (or ``act``).
      config: its static config.
      env_fn: zero-argument env constructor.
      num_seeds: S.
      seed: the run seed for env resets (per-seed agent keys live in the ``LoopState``).
      settings: :class:`OnlineSettings`.
      normalize_obs: maps raw [..., obs_dim] env observations to the agent's inputs.
      seed_values: [S] the seeds' own values; env resets then depend on ``(seed, value)`` rather
        than the seed's index (default: indices).
    """

    def __init__(self, algo: ModuleType, config: Any, env_fn: Callable[[], gym.Env],
                 num_seeds: int, seed: int, settings: OnlineSettings,
                 normalize_obs: Callable[[np.ndarray], np.ndarray] | None = None,
                 seed_values: Sequence[int] | None = None):
        self.settings = settings
        self.envs = EnvGroup(env_fn, num_seeds, settings.num_envs, seed, normalize_obs,
                             seed_values)
        self._act = make_act(algo, config)
        per_call = settings.update_every * settings.updates_per_step
        self._learn = make_learn(algo, config, per_call)
        self._fill = _add_to_buffers

    @property
    def obs_dim(self) -> int:
        return self.envs.observations().shape[-1]

    @property
    def action_dim(self) -> int:
        return self.envs.action_dim

    def run(self, loop_state: LoopState, start_step: int, num_steps: int,
            on_episode: Callable[[int, int, float, int], None] | None = None,
            learn: bool = True):
        """Advances every env by ``num_steps`` env steps starting at global step ``start_step``.

        ``start_step`` and ``num_steps`` must be multiples of ``update_every``. ``on_episode(step,
        seed_index, return, length)`` is called for each finished training episode. With
        ``learn=False`` the transitions only fill the buffers (e.g. refilling the buffer of an
        agent restored without one).

        Returns:
          ``(loop_state, metrics)``: metrics of the last learning call (``{}`` if none ran).
        """
        every = self.settings.update_every
        if start_step % every or num_steps % every:
            raise ValueError(f"start_step ({start_step}) and num_steps ({num_steps}) must be "
                             f"multiples of update_every ({every})")
        warmup = self.settings.warmup_steps
        metrics: dict = {}
        for block_start in range(start_step, start_step + num_steps, every):
            block = []
            for step in range(block_start, block_start + every):
                obs = self.envs.observations()
                if step < warmup:
                    act_key, action = _uniform_actions(
                        loop_state.act_key, jnp.zeros((*self.envs.shape, self.action_dim)))
                else:
                    act_key, action = self._act(loop_state.agent, loop_state.act_key, obs)
                loop_state = loop_state.replace(act_key=act_key)
                transitions, finished = self.envs.step(np.asarray(action))
                block.append(transitions)
                if on_episode is not None:
                    for seed_index, episode_return, length in finished:
                        on_episode(step + 1, seed_index, episode_return, length)
            # [every, S, E, ...] -> [S, every * E, ...], time-major within each seed.
            stacked = Transition(**{
                name: np.stack([t[name] for t in block], axis=1).reshape(
                    self.envs.shape[0], every * self.envs.shape[1],
                    *block[0][name].shape[2:])
                for name in Transition._fields})
            if learn and block_start + every > warmup:
                loop_state, metrics = self._learn(loop_state, stacked)
            else:  # Warm-up: store only.
                loop_state = loop_state.replace(buffer=self._fill(loop_state.buffer, stacked))
        return loop_state, metrics

    def close(self) -> None:
        self.envs.close()
