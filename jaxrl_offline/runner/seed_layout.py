"""How the seeds of a run map onto devices: the padded seed axis, its 1-D mesh and shardings.

A run's seeds form the leading axis of every state leaf. :func:`make_seed_layout` pads that axis
to a multiple of the device count (padding seeds start inactive, :func:`initial_active`) and lays
it over a ``"seed"`` mesh axis; the dataset is replicated on every device (:func:`place_dataset`).
``jaxrl_offline.runner.training`` builds the chunk functions over such a layout (and re-exports
these names).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrl_offline.runner import distributed
from jaxrl_offline.types import Transition

SEED_AXIS = "seed"


@dataclasses.dataclass(frozen=True)
class SeedLayout:
    """How the seeds of a run map onto devices.

    Attributes:
      seeds: the user's seeds, in order (seed axis index i -> ``seeds[i]``).
      padded_seeds: ``seeds`` followed by padding seeds so the count divides the device count;
        padding seeds start inactive (:func:`initial_active`): with the ``"map"`` seed strategy
        (CPU) they cost nothing, vmapped they are computed and discarded (the price of an even
        split), and they are dropped from every result.
      mesh: a 1-D device mesh with axis ``"seed"``.
    """

    seeds: tuple[int, ...]
    padded_seeds: tuple[int, ...]
    mesh: Mesh

    @property
    def num_seeds(self) -> int:
        return len(self.seeds)

    @property
    def seed_sharding(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec(SEED_AXIS))

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec())

    def unpad(self, tree):
        """Drops the padding seeds from the leading axis of every leaf."""
        return jax.tree.map(lambda leaf: leaf[: self.num_seeds], tree)


def make_seed_layout(seeds: Sequence[int], devices: Sequence[jax.Device] | None = None):
    """Lays ``seeds`` out over ``devices``, padding as needed.

    The default is every device of every process (``jax.devices()``): with ``jax.distributed``
    the seed axis is sharded over all processes (``jaxrl_offline.runner.distributed``), and then
    padded to the global device count even when there are fewer seeds than devices.
    """
    seeds = tuple(int(seed) for seed in seeds)
    if not seeds:
        raise ValueError("At least one seed is needed; got an empty seed list.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"Seeds must be distinct, got {seeds}: "
                         "duplicate seeds give identical runs.")
    if not all(0 <= seed < 2**32 for seed in seeds):
        # jax.random.key folds larger seeds onto 32 bits, and init_seed_states passes uint32.
        raise ValueError(f"Every seed must be in [0, 2**32), got {seeds}.")
    devices = list(jax.devices() if devices is None else devices)
    # With several processes every device keeps a share (padding seeds fill it), so that each
    # process takes part in the same sharded program.
    spread = jax.process_count() > 1
    num_devices = len(devices) if spread else min(len(devices), len(seeds))
    devices = devices[:num_devices]
    padding = (-len(seeds)) % num_devices
    padded = seeds + padding_seeds(seeds, padding)
    return SeedLayout(seeds=seeds, padded_seeds=padded, mesh=Mesh(np.array(devices), (SEED_AXIS,)))


def padding_seeds(seeds: tuple[int, ...], count: int) -> tuple[int, ...]:
    """``count`` distinct seeds in [0, 2**32) not among ``seeds``, counting up from
    max(seeds) + 1."""
    used, padding, candidate = set(seeds), [], max(seeds)
    while len(padding) < count:
        candidate = (candidate + 1) % 2**32
        if candidate not in used:
            padding.append(candidate)
    return tuple(padding)


def place_dataset(dataset: Transition, layout: SeedLayout) -> Transition:
    """Copies the dataset to every device of the layout (it is shared by all seeds)."""
    return distributed.put(dataset, layout.replicated)


def initial_active(layout: SeedLayout) -> jax.Array:
    """The [S_padded] mask a run starts with: the user's seeds active, padding seeds inactive
    (with the ``"map"`` strategy they skip every chunk; see :func:`make_multi_seed_chunk`)."""
    mask = np.arange(len(layout.padded_seeds)) < layout.num_seeds
    return distributed.put(mask, layout.seed_sharding)
