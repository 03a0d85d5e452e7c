"""Runs over several processes with ``jax.distributed``: start-up, host copies, the writer.

A run launched in ``P`` processes (one per host, or several on one machine) shards its seed axis
over the devices of all of them (``training.make_seed_layout`` uses ``jax.devices()``). Every
process executes the same program on the same seeds' layout; results that the host needs (the
``active`` mask, metrics, states to evaluate) are gathered to every process with
:func:`to_host`, so each process evaluates every seed and holds the same record. Only the primary
process (``jax.process_index() == 0``) writes records, partial records and tables; checkpoints are
written by all processes together (orbax) and resume only with the same process count.

With one process every function here is the plain single-process operation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

# Variables that launchers set for ``jax.distributed.initialize()`` to find the cluster alone.
CLUSTER_VARIABLES = ("JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE",
                     "TPU_WORKER_HOSTNAMES")


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Calls ``jax.distributed.initialize`` when the run is launched over several processes.

    It is when ``coordinator_address`` is given (then ``num_processes`` and ``process_id`` are
    needed too) or when ``environ`` names a cluster (``JAX_COORDINATOR_ADDRESS`` or a SLURM/Open
    MPI job, :data:`CLUSTER_VARIABLES`), whose variables JAX reads itself. A single-task SLURM job
    (``SLURM_NTASKS`` 1, e.g. one task of an array) stays a single process. On CPU, cross-process
    collectives use gloo.

    Returns:
      True when ``jax.distributed`` was initialized.
    """
    environ = os.environ if environ is None else environ
    if coordinator_address is None:
        if not any(name in environ for name in CLUSTER_VARIABLES):
            return False
        if "SLURM_JOB_ID" in environ and environ.get("SLURM_NTASKS", "1") == "1" and not any(
                name in environ for name in CLUSTER_VARIABLES if name != "SLURM_JOB_ID"):
            return False
    elif num_processes is None or process_id is None:
        raise ValueError("--coordinator_address needs --num_processes and --process_id (this "
                         "process's index, 0 to num_processes - 1).")
    elif not 0 <= process_id < num_processes:
        raise ValueError(f"--process_id={process_id} must be in [0, --num_processes="
                         f"{num_processes}).")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id)
    return True


def is_primary() -> bool:
    """True in the process that writes records and tables (process 0; the only one when alone)."""
    return jax.process_index() == 0


def multi_process() -> bool:
    return jax.process_count() > 1


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier ``name`` (nothing with one process)."""
    if multi_process():
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def to_host(tree: Any) -> Any:
    """Every leaf as a whole host value on every process (typed PRNG keys stay typed keys, on the
    default device).

    Arrays sharded over other processes' devices are gathered (a collective: every process must
    call it with the same tree); with one process this is ``jax.device_get`` of every other leaf.
    """
    from jax.experimental import multihost_utils

    def gather(leaf):
        if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
            return leaf if _is_key(leaf) else jax.device_get(leaf)
        if _is_key(leaf):
            bits = multihost_utils.process_allgather(jax.random.key_data(leaf), tiled=True)
            return jax.random.wrap_key_data(bits, impl=jax.random.key_impl(leaf))
        return multihost_utils.process_allgather(leaf, tiled=True)

    return jax.tree.map(gather, tree)


def put(tree: Any, sharding: jax.sharding.Sharding) -> Any:
    """``jax.device_put(tree, sharding)`` for a ``sharding`` over the devices of all processes.

    Every process must hold the same whole value (as when each one computes it from the same
    seeds); each then places only the shards of its own devices.
    """
    if not multi_process():
        return jax.device_put(tree, sharding)

    def place(leaf):
        if _is_key(leaf):
            bits = place(jax.random.key_data(leaf))
            return jax.random.wrap_key_data(bits, impl=jax.random.key_impl(leaf))
        value = np.asarray(leaf)
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    return jax.tree.map(place, tree)
