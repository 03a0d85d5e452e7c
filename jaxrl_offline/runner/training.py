"""Training: in-graph batch sampling, chunks of updates under ``lax.scan``, vmapped seeds.

The unit is :func:`make_train_chunk`, a pure ``train_chunk(state, data_key, dataset)`` running
``num_updates`` updates of one seed. :func:`make_multi_seed_chunk` vmaps it over a leading seed axis
(the dataset shared by all seeds, ``in_axes=None``), shards that axis over every local device and
freezes seeds whose parameters stop being finite, so one diverging seed never stops the others.

On CPU devices the seeds of each device run one after another (``lax.map`` inside ``shard_map``)
instead of vmapped: XLA:CPU runs one device's program on one core either way, and its batched
matrix products are slower than plain ones (measured here: a 256 x 256 MLP update loop 1.3-1.5x
slower vmapped over 1 seed than unbatched; ReBRAC 7.0 against 12.7 updates/s, TD3+BC 75 against
99). ``seed_strategy`` chooses explicitly; both give the same results up to float rounding.
Part of that gap was vmap's select over both sides of every cond on the update counter; with the
counter shared (``shared_step``) 4 vmapped seeds run within 1-14% of ``"map"`` here
(``benchmarks/shared_step.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jaxrl_offline import state as state_lib
from jaxrl_offline.runner import distributed
# Re-exported: the seed layout was part of this module, and callers use it through ``training``.
from jaxrl_offline.runner.seed_layout import (  # noqa: F401
    SEED_AXIS, SeedLayout, initial_active, make_seed_layout, place_dataset)
from jaxrl_offline.types import Metrics, PRNGKey, Transition

SEED_STRATEGIES = ("auto", "vmap", "map")


def seed_keys(seed: int | jax.Array) -> tuple[PRNGKey, PRNGKey]:
    """The two root keys of a run: one for ``init`` (then ``state.key``), one for batch sampling.

    Vmapped and single-seed runs both derive their keys here, so seed i of a vmapped run equals a
    single run with seed i.
    """
    init_key, data_key = jax.random.split(jax.random.key(seed))
    return init_key, data_key


def sample_batch(dataset: Transition, key: PRNGKey, batch_size: int) -> Transition:
    """Uniformly samples ``batch_size`` transitions (with replacement) on device."""
    num_transitions = dataset.reward.shape[0]
    indices = jax.random.randint(key, (batch_size,), 0, num_transitions)
    return jax.tree.map(lambda field: field[indices], dataset)


def init_agent(algo: ModuleType, config: Any, seed: int | jax.Array, dataset: Transition):
    """Initial ``AgentState`` and data key of one seed; jittable and vmappable over ``seed``."""
    init_key, data_key = seed_keys(seed)
    state = algo.init(config, init_key, dataset.obs[0], dataset.action[0])
    return state, data_key


def make_train_chunk(algo: ModuleType, config: Any, num_updates: int,
                     progress: Callable[..., None] | None = None) -> Callable:
    """Builds ``train_chunk(state, data_key, dataset) -> (state, metrics)`` for one seed.

    Each of the ``num_updates`` scanned steps draws a fresh batch with a key folded from
    ``data_key`` and the step index, then calls ``algo.update``. ``metrics`` are averaged over the
    chunk with ``nanmean`` (an algorithm reports NaN for a loss it did not compute on a step, e.g.
    TD3's delayed actor).

    With ``progress``, the function is ``train_chunk(state, data_key, dataset, progress_every,
    seed_value)`` and calls ``progress(progress_every, seed_value)`` on the host after every
    ``progress_every``-th update (``jaxrl_offline.runner.progress``); ``progress_every`` is an
    unbatched int32 scalar (so the ``lax.cond`` stays a branch under ``vmap``) and ``seed_value``
    any per-seed scalar (so ``vmap`` calls the callback once per seed).
    """
    update = functools.partial(algo.update, config)

    def train_chunk(state, data_key: PRNGKey, dataset: Transition, progress_every=None,
                    seed_value=None):
        def step(carry, step_index):
            batch = sample_batch(dataset, jax.random.fold_in(data_key, step_index),
                                 config.batch_size)
            if progress is not None:
                jax.lax.cond((step_index + 1) % progress_every == 0,
                             lambda: jax.debug.callback(progress, progress_every, seed_value),
                             lambda: None)
            return update(carry, batch)

        state, metrics = jax.lax.scan(step, state, jnp.arange(num_updates))
        return state, jax.tree.map(lambda values: jnp.nanmean(values, axis=0), metrics)

    return train_chunk


def tree_all_finite(tree) -> jax.Array:
    """True when every floating-point leaf of ``tree`` is finite (a scalar bool array)."""
    leaves = [
        jnp.isfinite(leaf).all()
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)
    ]
    return jnp.stack(leaves).all() if leaves else jnp.asarray(True)


def init_seed_states(algo: ModuleType, config: Any, layout: SeedLayout, dataset: Transition):
    """Initial states and data keys of all (padded) seeds, sharded over the seed axis.

    Seeds are initialized one at a time by one jitted single-seed ``init`` (compiled once) and then
    stacked. A vmapped init would be equivalent, but on XLA:CPU (jax 0.10) a jitted vmap of many
    orthogonal initializers (batched QR decompositions) can deadlock the CPU thread pool.

    Returns:
      (states, data_keys): every leaf has leading axis len(layout.padded_seeds).
    """
    init_one = jax.jit(functools.partial(init_agent, algo, config))
    per_seed = [init_one(np.uint32(seed), dataset) for seed in layout.padded_seeds]
    return distributed.put(stack_trees(per_seed), layout.seed_sharding)


def stack_trees(trees: Sequence[Any]) -> Any:
    """Stacks pytrees leaf by leaf along a new leading (seed) axis.

    ``jnp.stack`` marks a stack of typed PRNG keys as consumed for ``jax_debug_key_reuse`` (the
    inputs' use counts as a use of the result); ``jax.random.clone`` gives the stacked keys a clean
    slate, since every input key is used exactly once here.
    """
    def stack(*leaves):
        stacked = jnp.stack(leaves)
        if jax.dtypes.issubdtype(stacked.dtype, jax.dtypes.prng_key):
            return jax.random.clone(stacked)
        return stacked

    return jax.tree.map(stack, *trees)


def _keep_or_freeze(keep_new: jax.Array, new: jax.Array, old: jax.Array) -> jax.Array:
    """``new`` where ``keep_new``, else ``old`` (a frozen seed keeps its last finite leaf)."""
    if jax.dtypes.issubdtype(old.dtype, jax.dtypes.prng_key):
        # Select on the raw key bits: under ``jax_debug_key_reuse`` a ``where`` on typed keys
        # consumes both and returns a consumed key, but the chunk already split ``old`` (a frozen
        # seed reuses it only for updates whose results are discarded).
        bits = jnp.where(keep_new, jax.random.key_data(new), jax.random.key_data(old))
        return jax.random.wrap_key_data(bits, impl=jax.random.key_impl(old))
    return jnp.where(keep_new, new, old)


def make_multi_seed_chunk(algo: ModuleType, config: Any, num_updates: int, layout: SeedLayout,
                          seed_strategy: str = "auto",
                          progress: Callable[..., None] | None = None, shared_step: bool = True):
    """Builds the jitted, seed-vmapped, sharded chunk function.

    ``run_chunk(states, data_keys, active, chunk_index, dataset) -> (states, metrics, active)``:

    * ``states``, ``data_keys``: [S_padded, ...] per-seed pytrees (from :func:`init_seed_states`);
    * ``active``: [S_padded] bool, False for seeds already flagged as diverged (their state is
      kept frozen at its last finite value);
    * ``chunk_index``: int, folded into each seed's data key, so chunk k draws the same batches
      whether or not the run was resumed in between;
    * ``dataset``: the shared ``Transition``.

    Returns new states, per-seed chunk-mean metrics [S_padded] and the updated ``active`` mask (a
    seed whose new parameters or metrics contain NaN/inf becomes inactive). The function is traced
    once: ``chunk_index`` is a traced argument and shapes never change between chunks.

    ``seed_strategy``: ``"vmap"`` (one batched program over the seed axis, partitioned over the
    devices), ``"map"`` (each device runs its seeds one after another, unbatched: faster on
    XLA:CPU) or ``"auto"``: ``"map"`` when every device of the layout is a CPU, else ``"vmap"``.
    With ``"map"`` an inactive seed (a padding seed, or one that diverged) skips its chunk under
    ``lax.cond``: 3 seeds on 2 CPU devices cost 3 seed-chunks, not 4. Vmapped, inactive seeds
    are computed and discarded (a cond on a batched predicate runs both branches). Either way an
    inactive seed's state is unchanged and its metrics are NaN.

    ``shared_step`` (vmap only): the active seeds train in lockstep, so their update counter
    ``state.step`` is one value. With ``shared_step`` (the default) it enters the vmapped update
    unbatched, and the algorithms' conds on it stay branches: TD3's delayed actor (1 update in
    ``policy_freq``), IDQL's critic schedule and TD3-RKL's behavior fit run only when taken, as with
    ``"map"`` (SfBC's planning phases select with ``jnp.where``, not a cond). Batched
    (``shared_step=False``, or a state without a ``step`` field) every seed carries its own counter
    and each such cond becomes a select that computes both branches. The results are the same; a
    seed frozen by divergence keeps its own ``step``.

    ``progress``: a host function ``progress(progress_every, seed_active)`` called from inside the
    scan (see :func:`make_train_chunk` and ``jaxrl_offline.runner.progress.ChunkProgress``, which
    divides by :func:`ticking_seeds`: it is called once per computing seed and tick).
    ``run_chunk`` then takes a sixth argument, ``progress_every`` (int32 scalar, updates between
    ticks; traced, so changing it does not recompile). Without ``progress`` nothing is added to
    the compiled program.
    """
    strategy = resolve_seed_strategy(seed_strategy, layout)
    train_chunk = make_train_chunk(algo, config, num_updates, progress)

    def train_or_freeze(state, data_key, active, chunk_index, dataset, progress_every=None):
        new_state, metrics = train_chunk(state, jax.random.fold_in(data_key, chunk_index), dataset,
                                         progress_every, active)
        finite = tree_all_finite(new_state)
        keep_new = active & finite
        state = jax.tree.map(functools.partial(_keep_or_freeze, keep_new), new_state, state)
        return state, metrics, keep_new

    if strategy == "vmap":
        # Under vmap a cond on the per-seed ``active`` becomes a select that computes both
        # branches anyway: inactive seeds train and their results are discarded.
        one_seed = train_or_freeze
    else:
        def one_seed(state, data_key, active, *shared):
            # Unbatched (each seed in turn): an inactive seed (padding, or diverged) skips its
            # chunk; its state stays as it was and its metrics are NaN, as a frozen seed's.
            train, out_shape = _trace_once(train_or_freeze, state, data_key, active, *shared)

            def skip(state, *_):
                metrics = state_lib.nan_like(out_shape[1])
                return state, metrics, jnp.zeros((), bool)

            return jax.lax.cond(active, train, skip, state, data_key, active, *shared)

    seed_sharding, replicated = layout.seed_sharding, layout.replicated
    num_shared = 2 if progress is None else 3  # chunk_index, dataset[, progress_every]
    if strategy == "vmap":
        over_seeds = _vmap_seeds(one_seed, num_shared, shared_step)
    else:
        def seeds_in_turn(states, data_keys, active, *shared):
            return jax.lax.map(lambda per_seed: one_seed(*per_seed, *shared),
                               (states, data_keys, active))

        # No collectives: each device's seeds are independent. check_vma=False because algorithms'
        # lax.cond branches may return constants (e.g. NaN for a skipped loss) that the
        # varying-axis type check would otherwise reject.
        seed_spec, whole = PartitionSpec(SEED_AXIS), PartitionSpec()
        over_seeds = jax.shard_map(
            seeds_in_turn, mesh=layout.mesh,
            in_specs=(seed_spec, seed_spec, seed_spec) + (whole,) * num_shared,
            out_specs=(seed_spec, seed_spec, seed_spec), check_vma=False)
    return jax.jit(
        over_seeds,
        in_shardings=(seed_sharding, seed_sharding, seed_sharding) + (replicated,) * num_shared,
        out_shardings=(seed_sharding, seed_sharding, seed_sharding),
        donate_argnums=(0,),
    )


def _vmap_seeds(one_seed: Callable, num_shared: int, shared_step: bool) -> Callable:
    """``one_seed`` vmapped over the seed axis; with ``shared_step`` (and a state with a ``step``
    field) the active seeds' common ``state.step`` is passed unbatched (see ``shared_step`` in
    :func:`make_multi_seed_chunk`)."""
    per_seed = jax.vmap(one_seed, in_axes=(0, 0, 0) + (None,) * num_shared)
    if not shared_step:
        return per_seed

    def with_step(state, data_key, active, step, *shared):
        return one_seed(state.replace(step=step), data_key, active, *shared)

    batched = jax.vmap(with_step, in_axes=(0, 0, 0, None) + (None,) * num_shared)

    def over_seeds(states, data_keys, active, *shared):
        if not hasattr(states, "step"):
            return per_seed(states, data_keys, active, *shared)
        own_steps = states.step
        # Active seeds share one counter (they start together and advance together); inactive
        # ones (padding, diverged) may lag and their chunk is discarded anyway. With no active
        # seed, any counter does.
        counted = active | ~active.any()
        step = jnp.max(jnp.where(counted, own_steps, jnp.iinfo(own_steps.dtype).min))
        new_states, metrics, keep_new = batched(states, data_keys, active, step, *shared)
        return (new_states.replace(step=jnp.where(keep_new, new_states.step, own_steps)),
                metrics, keep_new)

    return over_seeds


def resolve_seed_strategy(seed_strategy: str, layout: SeedLayout) -> str:
    """``"vmap"`` or ``"map"`` for ``seed_strategy`` (see :func:`make_multi_seed_chunk`)."""
    if seed_strategy not in SEED_STRATEGIES:
        raise ValueError(f"seed_strategy must be one of {SEED_STRATEGIES}, got {seed_strategy!r}")
    if seed_strategy != "auto":
        return seed_strategy
    on_cpu = all(device.platform == "cpu" for device in layout.mesh.devices.flat)
    return "map" if on_cpu else "vmap"


def ticking_seeds(active: np.ndarray, layout: SeedLayout, seed_strategy: str = "auto") -> int:
    """How many seeds call the progress callback in a chunk that starts with host mask
    ``active`` [S_padded]: every padded seed when vmapped (both branches run), the active ones
    with ``"map"`` (inactive seeds skip the chunk). ``progress.ChunkProgress`` divides by it."""
    if resolve_seed_strategy(seed_strategy, layout) == "vmap":
        return len(layout.padded_seeds)
    return int(np.sum(active))


def _trace_once(fn: Callable, *args) -> tuple[Callable, Any]:
    """``fn`` traced once at ``args``: (a function of the same arguments that replays the traced
    program, the output's shapes). The skip branch of a chunk needs the metrics' shapes, and an
    ``eval_shape`` would trace the algorithm's update a second time."""
    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
    replay = jax.extend.core.jaxpr_as_fun(closed)

    def call(*call_args):
        outputs = replay(*jax.tree.leaves(call_args))
        return jax.tree.unflatten(jax.tree.structure(out_shape), outputs)

    return call, out_shape



def train(
    algo: ModuleType,
    config: Any,
    dataset: Transition,
    seeds: Sequence[int],
    num_steps: int,
    chunk_size: int = 1000,
    callback: Callable[[int, Any, Metrics, np.ndarray], None] | None = None,
):
    """Trains ``len(seeds)`` vmapped agents for ``num_steps`` updates; a minimal driver.

    Args:
      algo: an algorithm module (see ``jaxrl_offline.algorithms``).
      config: its ``Config``.
      dataset: the shared device ``Transition``.
      seeds: integer seeds; seed axis index i is ``seeds[i]``.
      num_steps: total updates per seed; must be a multiple of ``chunk_size``.
      chunk_size: updates per ``lax.scan`` call.
      callback: called after each chunk as ``callback(step, states, metrics, active)`` with
        unpadded per-seed values (e.g. to evaluate or log).

    Returns:
      (states, metrics, active): final unpadded states [S, ...], last chunk metrics [S] per key and
      the [S] bool mask of seeds that never diverged.
    """
    if num_steps % chunk_size:
        raise ValueError(
            f"num_steps={num_steps} is not a multiple of chunk_size={chunk_size}; pick a chunk "
            "size that divides the step count so every chunk has the same shape (no retracing)."
        )
    layout = make_seed_layout(seeds)
    states, data_keys = init_seed_states(algo, config, layout, dataset)
    dataset = place_dataset(dataset, layout)
    run_chunk = make_multi_seed_chunk(algo, config, chunk_size, layout)
    active, metrics = initial_active(layout), {}
    for chunk_index in range(num_steps // chunk_size):
        states, metrics, active = run_chunk(states, data_keys, active, chunk_index, dataset)
        if callback is not None:
            step = (chunk_index + 1) * chunk_size
            callback(step, layout.unpad(states), layout.unpad(metrics),
                     np.asarray(layout.unpad(active)))
    return layout.unpad(states), layout.unpad(metrics), np.asarray(layout.unpad(active))
