"""Vectorised policy evaluation: every seed and episode in lockstep, one jitted call per env step.

``make_batched_policy`` vmaps an algorithm's ``act`` over the seed axis of its state and jits it;
``evaluate`` rolls that policy out in ``S * E`` Gymnasium envs (one episode each) and returns raw
and normalised per-seed, per-episode returns. Per-step jit dispatch costs about as much as a few
MuJoCo steps, so batching all seeds and episodes into one call is what keeps evaluation cheap.
The envs step in :class:`jaxrl_offline.local_suite.envs.EnvBatch`, the loop shared with online RL
and dataset generation.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence
from typing import Any, Callable

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_offline.local_suite import envs
from jaxrl_offline.datasets.minari_format import flatten_observation
from jaxrl_offline.types import DatasetInfo

# policy(states, obs [S, E, obs_dim], seed_keys [S], step) -> actions [S, E, action_dim] in [-1, 1].
BatchedPolicy = Callable[[Any, jax.Array, jax.Array, Any], jax.Array]

# Entropy tags keeping reset seeds ([seed, value, 0, episode]) and policy keys ([seed, value, 1])
# apart; SeedSequence ignores trailing zeros, so the tag sits before the episode index.
_RESET_TAG, _POLICY_TAG = 0, 1


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """Outcome of ``evaluate``.

    Attributes:
      returns: [S, E] float64 undiscounted raw returns; NaN for seeds that were inactive or whose
        policy produced non-finite actions.
      normalized: [S, E] float64 ``info.normalized_score(returns)`` (raw returns when the dataset
        has no reference scores; see ``score_label``).
      lengths: [S, E] int64 steps taken by each episode before it ended (0 for inactive seeds).
      nonfinite_action: [S] bool, True where an active seed's policy emitted a NaN/inf action.
      score_label: what ``normalized`` holds, from ``DatasetInfo.score_label``.
      num_policy_calls: jitted policy calls made; one per env step, i.e. the longest episode.
      wall_s: wall-clock seconds for the whole evaluation (env creation and compilation included).
    """

    returns: np.ndarray
    normalized: np.ndarray
    lengths: np.ndarray
    nonfinite_action: np.ndarray
    score_label: str
    num_policy_calls: int
    wall_s: float


def make_batched_policy(algo: Any, config: Any) -> BatchedPolicy:
    """Jits ``algo.act`` vmapped over the seed axis.

    Args:
      algo: an algorithm module exposing ``act(config, state, obs, key) -> action``.
      config: the algorithm's static config, bound with ``functools.partial`` (never traced).

    Returns:
      ``policy(states, obs, seed_keys, step) -> actions`` with states carrying a leading seed axis
      S on every leaf, obs [S, E, obs_dim] float32, seed_keys [S] (one key per seed, derived from
      the seed's own value) and actions [S, E, action_dim]. ``step`` is folded into each seed's
      key, so every env step draws fresh noise and a seed's noise never depends on the others.
    """
    act = functools.partial(algo.act, config)

    def policy(states: Any, obs: jax.Array, seed_keys: jax.Array, step: Any) -> jax.Array:
        step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(seed_keys, step)
        return jax.vmap(act)(states, obs, step_keys)

    return jax.jit(policy)


def flatten_obs(obs: Any) -> np.ndarray:
    """Flat [..., obs_dim] env observations, by the data layer's rule (one rule for both sides).

    See :func:`jaxrl_offline.datasets.minari_format.flatten_observation`: goal dicts become
    ``concat(observation, achieved_goal, desired_goal)``.
    """
    return flatten_observation(obs)


def reset_seeds(seed: int, seed_values: Sequence[int], num_episodes: int) -> list[int]:
    """Env reset seeds [S * E] (seed-major), each derived from (seed, seed value, episode index).

    ``seed_values`` are the seeds' own values (a run's training seeds), never their positions, so
    a seed's episodes are the same whichever other seeds it is evaluated with.
    """
    return [
        envs.derived_seed(seed, value, _RESET_TAG, e)
        for value in seed_values
        for e in range(num_episodes)
    ]


def policy_keys(seed: int, seed_values: Sequence[int]) -> jax.Array:
    """[S] policy keys, seed ``i``'s derived from ``(seed, seed_values[i])`` alone."""
    return jnp.stack([
        jax.random.key(envs.derived_seed(seed, value, _POLICY_TAG)) for value in seed_values
    ])


def evaluate(
    policy: BatchedPolicy,
    states: Any,
    info: DatasetInfo,
    *,
    num_episodes: int,
    seed: int,
    seed_values: Sequence[int] | None = None,
    active: np.ndarray | None = None,
    max_episode_steps: int | None = None,
    env_fn: Callable[[], gym.Env] | None = None,
    vector_mode: str = "sync",
) -> EvalResult:
    """Runs one episode in each of S * E envs, all seeds and episodes stepping in lockstep.

    Each step: raw obs -> ``flatten_obs`` -> ``info.normalize_obs`` -> [S, E, obs_dim] -> one
    ``policy`` call -> ``info.to_env_action`` -> env, on an
    :class:`jaxrl_offline.local_suite.envs.EnvBatch`. Finished envs stop counting (returns frozen)
    and the loop stops when every env has finished, so there is one policy call per step of the
    longest episode. Envs that are finished, inactive, or whose seed produced a non-finite action
    receive the midpoint of the action box, so NaN never reaches the simulator.

    Args:
      policy: from ``make_batched_policy``.
      states: agent states with a leading seed axis S on every leaf.
      info: dataset metadata (eval env, observation normalisation, action bounds, reference scores).
      num_episodes: E, episodes per seed.
      seed: evaluation seed (e.g. the training step); with ``seed_values`` it fixes every env
        reset seed (per seed value and episode) and every policy key (per seed value).
      seed_values: [S] the seeds' own values (a run's training seeds). Seed ``i``'s episodes and
        policy noise depend only on ``(seed, seed_values[i])``, so a seed evaluated with others
        scores as it does alone. Defaults to ``range(S)`` (positions).
      active: [S] bool, False for seeds to skip (e.g. diverged params): NaN returns, no policy
        actions sent. Defaults to all True.
      max_episode_steps: overrides the env's time limit when given.
      env_fn: zero-argument env constructor overriding ``info.eval_env_spec``.
      vector_mode: ``"sync"`` (default; all envs stepped in this process) or ``"async"`` (one
        forkserver worker process per env; the calling script needs an ``if __name__ ==
        "__main__"`` guard). On the 2-core dev machine async was 7-14x slower (process start-up
        plus pipe round trips per step), so it only pays with many cores and slow envs.

    Returns:
      An ``EvalResult`` with [S, E] returns, normalised scores and lengths.
    """
    start = time.perf_counter()
    num_seeds = jax.tree.leaves(states)[0].shape[0]
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    active = np.ones(num_seeds, bool) if active is None else np.asarray(active, bool)
    if active.shape != (num_seeds,):
        raise ValueError(f"active must have shape ({num_seeds},), got {active.shape}")
    seed_values = list(range(num_seeds)) if seed_values is None else [int(v) for v in seed_values]
    if len(seed_values) != num_seeds:
        raise ValueError(f"seed_values must have {num_seeds} entries, got {len(seed_values)}")
    env_fn = envs.make_env(info.eval_env_spec if env_fn is None else env_fn, max_episode_steps)
    batch = envs.EnvBatch(env_fn, num_seeds * num_episodes, vector_mode)
    try:
        batch.start(np.ones(batch.num_envs, bool), reset_seeds(seed, seed_values, num_episodes))
        batch.stop(~np.repeat(active, num_episodes))  # Inactive seeds never act.
        nonfinite, num_calls = _run_episodes(policy, states, info, batch,
                                             policy_keys(seed, seed_values))
    finally:
        batch.close()
    shape = (num_seeds, num_episodes)
    returns = batch.returns.reshape(shape)
    returns[~active | nonfinite] = np.nan
    return EvalResult(
        returns=returns,
        normalized=info.normalized_score(returns),
        lengths=batch.lengths.reshape(shape),
        nonfinite_action=nonfinite,
        score_label=info.score_label,
        num_policy_calls=num_calls,
        wall_s=time.perf_counter() - start,
    )


def _run_episodes(
    policy: BatchedPolicy,
    states: Any,
    info: DatasetInfo,
    batch: envs.EnvBatch,
    seed_keys: jax.Array,
) -> tuple[np.ndarray, int]:
    """Steps ``batch`` until no env runs an episode; returns [S] nonfinite flags and #calls."""
    num_seeds = len(seed_keys)
    num_episodes = batch.num_envs // num_seeds
    nonfinite = np.zeros(num_seeds, bool)
    num_calls = 0
    while batch.running.any():
        flat_obs = info.normalize_obs(flatten_obs(batch.obs))
        if flat_obs.shape != (batch.num_envs, info.obs_dim):
            raise ValueError(f"env obs flatten to {flat_obs.shape[1:]}, dataset has {info.obs_dim}")
        obs_batch = flat_obs.reshape(num_seeds, num_episodes, -1)
        action = policy(states, obs_batch, seed_keys, np.int32(num_calls))  # fresh keys per step
        if action.shape != (num_seeds, num_episodes, info.action_dim):
            raise ValueError(f"policy returned actions of shape {action.shape}")
        action = np.asarray(action, np.float64).reshape(batch.num_envs, info.action_dim)
        num_calls += 1
        finite = np.isfinite(action).all(-1)
        # A non-finite action condemns its whole seed: stop all its episodes, report NaN.
        nonfinite |= (batch.running & ~finite).reshape(num_seeds, num_episodes).any(-1)
        batch.stop(np.repeat(nonfinite, num_episodes))
        batch.step(info.to_env_action(np.where(finite[:, None], action, 0.0)))
    return nonfinite, num_calls
