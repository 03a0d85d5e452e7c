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


def trajectory_ends(dataset: Transition) -> np.ndarray:
    """[N] bool, True at each trajectory's last row: a terminal, or a next_obs that is not the
    following row's obs (L2 > 1e-6, the IQL/IDQL rule), and the last row."""
    obs, next_obs = np.asarray(dataset.obs), np.asarray(dataset.next_obs)
    ends = np.asarray(dataset.terminal) > 0
    ends[:-1] |= np.linalg.norm(next_obs[:-1] - obs[1:], axis=-1) > 1e-6
    ends[-1] = True
    return ends


def top_trajectories(dataset: Transition, count: int) -> Transition:
    """The ``count`` highest-return trajectories of a host dataset, in dataset order."""
    ends = trajectory_ends(dataset)
    starts = np.concatenate([[0], np.nonzero(ends[:-1])[0] + 1])
    stops = np.nonzero(ends)[0] + 1
    returns = np.add.reduceat(np.asarray(dataset.reward, np.float64), starts)
    best = np.sort(np.argsort(-returns, kind="stable")[:count])
    rows = np.concatenate([np.arange(starts[i], stops[i]) for i in best])
    return jax.tree.map(lambda field: np.asarray(field)[rows], dataset)


def initial_buffers(dataset: Transition, config: OnlineConfig, num_seeds: int,
                    online_rows: int) -> ReplayBuffer:
    """[S] identical replay buffers seeded as ``config.buffer`` says, with room for
    ``online_rows`` more transitions each."""
    if config.buffer == "empty":
        rows = jax.tree.map(lambda field: field[:0], dataset)
    elif config.buffer == "offline":
        rows = dataset
    else:
        rows = top_trajectories(jax.device_get(dataset), config.seed_trajectories)
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
