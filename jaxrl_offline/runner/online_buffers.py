"""The replay buffers offline-to-online fine-tuning starts from (``jaxrl_offline.runner.finetune``):
empty, the whole offline dataset, or its highest-return trajectories, one identical buffer per seed
with room for the online transitions.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_offline.runner import replay_buffer
from jaxrl_offline.runner.replay_buffer import ReplayBuffer
from jaxrl_offline.types import Transition

if TYPE_CHECKING:
    from jaxrl_offline.runner.finetune import OnlineConfig

BUFFER_MODES = ("empty", "offline", "top_trajectories")


def top_trajectories(dataset: Transition, episode_ends: np.ndarray, count: int) -> Transition:
    """The ``count`` highest-return trajectories of a host dataset, in dataset order; a
    trajectory ends where ``episode_ends`` [N] (``DatasetInfo.episode_ends``) is True."""
    ends = np.asarray(episode_ends, bool)
    if ends.shape != np.shape(dataset.reward) or not ends[-1]:
        raise ValueError(f"episode_ends must be an [N] bool array ending in True, N = "
                         f"{np.shape(dataset.reward)[0]}; got shape {ends.shape}")
    starts = np.concatenate([[0], np.nonzero(ends[:-1])[0] + 1])
    stops = np.nonzero(ends)[0] + 1
    returns = np.add.reduceat(np.asarray(dataset.reward, np.float64), starts)
    best = np.sort(np.argsort(-returns, kind="stable")[:count])
    rows = np.concatenate([np.arange(starts[i], stops[i]) for i in best])
    return jax.tree.map(lambda field: np.asarray(field)[rows], dataset)


def initial_buffers(dataset: Transition, config: OnlineConfig, num_seeds: int,
                    online_rows: int, episode_ends: np.ndarray | None = None) -> ReplayBuffer:
    """[S] identical replay buffers seeded as ``config.buffer`` says, with room for
    ``online_rows`` more transitions each; "top_trajectories" needs the dataset's
    ``episode_ends`` [N] (``DatasetInfo.episode_ends``)."""
    if config.buffer == "empty":
        rows = jax.tree.map(lambda field: field[:0], dataset)
    elif config.buffer == "offline":
        rows = dataset
    elif episode_ends is None:
        raise ValueError("online buffer 'top_trajectories' needs the dataset's episode ends "
                         "(DatasetInfo.episode_ends of a loaded dataset); got None")
    else:
        rows = top_trajectories(jax.device_get(dataset), episode_ends, config.seed_trajectories)
    example = jax.tree.map(lambda field: field[:1], dataset)
    return _replicated_buffer(jax.tree.map(jnp.asarray, rows), example, online_rows, num_seeds)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _replicated_buffer(rows: Transition, example: Transition, online_rows: int,
                       num_seeds: int) -> ReplayBuffer:
    buffer = replay_buffer.init(rows.reward.shape[0] + online_rows,
                                jax.tree.map(lambda field: field[0], example))
    if rows.reward.shape[0]:
        buffer = replay_buffer.add(buffer, rows)
    return jax.tree.map(lambda leaf: jnp.repeat(leaf[None], num_seeds, axis=0), buffer)
