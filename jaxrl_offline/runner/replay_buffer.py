"""A replay buffer on device: a fixed-capacity ring of ``Transition`` arrays with pure functions.

The shape follows flashbax/Optax: a small state (:class:`ReplayBuffer`) and pure ``init``, ``add``,
``sample`` functions, so a buffer can live inside ``jit``/``vmap``/``scan`` next to the agent
state (one buffer per seed, seed axis first). Offline-to-online methods seed it from a dataset with
:func:`from_transitions`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_offline.types import PRNGKey, Transition


class ReplayBuffer(struct.PyTreeNode):
    """Ring buffer state.

    Attributes:
      data: a ``Transition`` of [capacity, ...] arrays; rows at or past ``size`` are unused.
      size: int32 number of valid rows (saturates at capacity).
      insert_index: int32 row the next transition is written to (wraps around).
    """

    data: Transition
    size: jax.Array
    insert_index: jax.Array

    @property
    def capacity(self) -> int:
        return self.data.reward.shape[0]


def init(capacity: int, example: Transition) -> ReplayBuffer:
    """An empty buffer of ``capacity`` rows shaped like one unbatched ``example`` transition."""
    if capacity < 1:
        raise ValueError(f"replay buffer capacity must be >= 1, got {capacity}")
    data = jax.tree.map(
        lambda leaf: jnp.zeros((capacity, *jnp.shape(leaf)), jnp.asarray(leaf).dtype), example
    )
    return ReplayBuffer(data=data, size=jnp.zeros((), jnp.int32),
                        insert_index=jnp.zeros((), jnp.int32))


def add(buffer: ReplayBuffer, transitions: Transition) -> ReplayBuffer:
    """Writes a batch of ``[n, ...]`` transitions, overwriting the oldest rows when full."""
    count = transitions.reward.shape[0]
    if count > buffer.capacity:
        raise ValueError(f"cannot add {count} transitions to a buffer of capacity "
                         f"{buffer.capacity}")
    rows = (buffer.insert_index + jnp.arange(count)) % buffer.capacity
    data = jax.tree.map(lambda stored, new: stored.at[rows].set(new.astype(stored.dtype)),
                        buffer.data, transitions)
    return ReplayBuffer(
        data=data,
        size=jnp.minimum(buffer.size + count, buffer.capacity),
        insert_index=(buffer.insert_index + count) % buffer.capacity,
    )


def sample(buffer: ReplayBuffer, key: PRNGKey, batch_size: int) -> Transition:
    """``batch_size`` transitions drawn uniformly (with replacement) from the valid rows.

    Sampling an empty buffer is undefined (it returns zero rows); callers add data first.
    """
    indices = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda field: field[indices], buffer.data)


def from_transitions(transitions: Transition, capacity: int | None = None) -> ReplayBuffer:
    """A buffer holding ``transitions`` (e.g. an offline dataset), with room for ``capacity`` rows.

    ``capacity`` defaults to the number of transitions; a larger one leaves room for online data.
    """
    count = transitions.reward.shape[0]
    capacity = count if capacity is None else capacity
    if capacity < count:
        raise ValueError(f"capacity {capacity} is smaller than the {count} transitions to store")
    example = jax.tree.map(lambda leaf: leaf[0], transitions)
    return add(init(capacity, example), transitions)
