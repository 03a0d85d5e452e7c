"""Tests of ``jaxrl_offline.runner.training``: seeds, chunks, retracing, divergence handling,
sampling.

The seed tests (style §28, the purejaxrl #35 class of bug) use TD3+BC, whose update draws noise
from ``state.key``; divergence and driver tests use ``fake_algo``, a one-scalar algorithm that
compiles in a fraction of a second. Padding over several devices is tested in
``test_sharding.py``, which runs on 4 XLA CPU devices.
"""

import dataclasses
import functools
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl_offline.local_suite import synthetic
from jaxrl_offline.runner import seed_layout, training
from jaxrl_offline.algorithms import td3_bc
from jaxrl_offline.types import Transition
from helpers import without_keys

SEEDS = (3, 5, 7)
CHUNK = 4
NUM_CHUNKS = 3


def make_dataset():
    """64 bandit-probe transitions (obs_dim 3, action_dim 2), half of them non-terminal."""
    data = synthetic.bandit_probe(64, seed=0)
    return jax.tree.map(jnp.asarray, data._replace(terminal=np.tile(np.float32([0.0, 1.0]), 32)))


DATASET = make_dataset()
CONFIG = dataclasses.replace(td3_bc.Config(), actor_hidden_dims=(16, 16),
                             critic_hidden_dims=(16, 16), batch_size=8)


# --- Vmapped seeds vs single-seed runs ----------------------------------------------------------


def run_chunks(run_chunk, layout, states, data_keys):
    """NUM_CHUNKS chunks of the vmapped trainer from ``states``; returns unpadded results."""
    dataset = training.place_dataset(DATASET, layout)
    active = training.initial_active(layout)
    for chunk_index in range(NUM_CHUNKS):
        states, metrics, active = run_chunk(states, data_keys, active, chunk_index, dataset)
    return layout.unpad(states), layout.unpad(metrics), np.asarray(layout.unpad(active))


def leaves(tree):
    """The numeric leaves of ``tree`` (keys as raw bits). Comparing leaves rather than trees
    ignores static fields such as optax closures, which differ between two ``init`` calls."""
    return jax.tree.leaves(without_keys(tree))


@pytest.fixture(scope="module")
def seed_runs():
    """TD3+BC trained on SEEDS, vmapped (update trace-counted) and one seed at a time."""
    traces = {"update": 0}

    def counting_update(config, state, batch):
        traces["update"] += 1  # Runs once per trace, never per executed step.
        return td3_bc.update(config, state, batch)

    counted = types.SimpleNamespace(
        **{name: getattr(td3_bc, name) for name in ("NAME", "Config", "AgentState", "init", "act")},
        update=chex.assert_max_traces(counting_update, n=1),
    )
    layout = training.make_seed_layout(SEEDS)
    states, data_keys = training.init_seed_states(counted, CONFIG, layout, DATASET)
    # A copy for a second run: run_chunk donates (deletes) the states it is given.
    states_again = jax.tree.map(jnp.copy, states)
    run_chunk = training.make_multi_seed_chunk(counted, CONFIG, CHUNK, layout)
    first = run_chunks(run_chunk, layout, states, data_keys)
    traces_after_first_run = traces["update"]
    second = run_chunks(run_chunk, layout, states_again, data_keys)

    init = jax.jit(functools.partial(training.init_agent, td3_bc, CONFIG))
    train_chunk = jax.jit(training.make_train_chunk(td3_bc, CONFIG, CHUNK))
    single = []
    for seed in SEEDS:
        state, data_key = init(seed, DATASET)
        for chunk_index in range(NUM_CHUNKS):
            # make_multi_seed_chunk folds the chunk index into each seed's data key.
            state, metrics = train_chunk(state, jax.random.fold_in(data_key, chunk_index), DATASET)
        single.append((without_keys(state), metrics))
    return types.SimpleNamespace(
        traces_after_first_run=traces_after_first_run, traces=traces, run_chunk=run_chunk,
        states=without_keys(first[0]), metrics=first[1], active=first[2],
        second=(without_keys(second[0]), second[1]), single=single,
    )


def test_vmapped_seeds(seed_runs):
    # One test for the expensive fixture (pytest-xdist would build it once per worker).
    check_vmapped_seed_matches_single_seed_run(seed_runs)
    check_different_seeds_give_different_params(seed_runs)
    check_same_seeds_twice_identical(seed_runs)
    check_no_retracing_across_chunks(seed_runs)
    check_vmap_strategy_matches_the_default(seed_runs)


def check_vmapped_seed_matches_single_seed_run(seed_runs):
    assert seed_runs.active.tolist() == [True] * len(SEEDS)
    for index, (single_state, single_metrics) in enumerate(seed_runs.single):
        vmapped_state = jax.tree.map(lambda leaf: leaf[index], seed_runs.states)
        assert int(vmapped_state.step) == NUM_CHUNKS * CHUNK
        chex.assert_trees_all_close(
            leaves(vmapped_state), leaves(single_state), rtol=1e-5, atol=1e-6
        )
        vmapped_metrics = jax.tree.map(lambda leaf: leaf[index], seed_runs.metrics)
        chex.assert_trees_all_close(vmapped_metrics, single_metrics, rtol=1e-5, atol=1e-6)


def check_different_seeds_give_different_params(seed_runs):
    params = leaves((seed_runs.states.actor.params, seed_runs.states.critic.params))
    for first in range(len(SEEDS)):
        for second in range(first + 1, len(SEEDS)):
            assert all(not np.allclose(leaf[first], leaf[second]) for leaf in params)


def check_same_seeds_twice_identical(seed_runs):
    states, metrics = seed_runs.second
    chex.assert_trees_all_equal(leaves(states), leaves(seed_runs.states))
    chex.assert_trees_all_equal(metrics, seed_runs.metrics)


def check_no_retracing_across_chunks(seed_runs):
    # Three chunks (and a second run of three) traced the update once: chex.assert_max_traces
    # would have raised on a second trace, and jit holds a single compiled executable.
    assert seed_runs.traces_after_first_run == 1
    assert seed_runs.traces["update"] == 1
    assert seed_runs.run_chunk._cache_size() == 1


def test_seed_keys_are_deterministic_and_distinct():
    first = [jax.random.key_data(key) for key in training.seed_keys(3)]
    again = [jax.random.key_data(key) for key in training.seed_keys(3)]
    other = [jax.random.key_data(key) for key in training.seed_keys(4)]
    chex.assert_trees_all_equal(first, again)
    assert not np.array_equal(first[0], first[1])  # init key != data key
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[1], other[1])


# --- A fake algorithm whose divergence is controlled per seed ------------------------------------


@dataclasses.dataclass(frozen=True)
class FakeConfig:
    batch_size: int = 4


class FakeState(struct.PyTreeNode):
    weight: jax.Array  # w, updated as w <- sqrt(w) - drift: NaN once w < 0.
    drift: jax.Array
    key: jax.Array
    step: jax.Array


def fake_init(config, key, example_obs, example_action):
    del config, example_obs, example_action
    weight_key, state_key = jax.random.split(key)
    return FakeState(weight=jax.random.normal(weight_key), drift=jnp.zeros(()), key=state_key,
                     step=jnp.zeros((), jnp.int32))


def fake_update(config, state, batch):
    del config
    key, _ = jax.random.split(state.key)  # Like a real update, it consumes and renews its key.
    weight = jnp.sqrt(state.weight) - state.drift + 0.0 * batch.reward.mean()
    new_state = state.replace(weight=weight, key=key, step=state.step + 1)
    return new_state, {"fake/weight": weight}


fake_algo = types.SimpleNamespace(NAME="fake", Config=FakeConfig, AgentState=FakeState,
                                  init=fake_init, update=fake_update)


def check_vmap_strategy_matches_the_default(seed_runs):
    # On CPU the default runs each device's seeds in turn (lax.map); the batched vmap program must
    # train the same seeds to the same values up to float rounding.
    layout = training.make_seed_layout(SEEDS)
    assert training.resolve_seed_strategy("auto", layout) == "map"
    states, data_keys = training.init_seed_states(td3_bc, CONFIG, layout, DATASET)
    run_chunk = training.make_multi_seed_chunk(td3_bc, CONFIG, CHUNK, layout, seed_strategy="vmap")
    vmapped, metrics, active = run_chunks(run_chunk, layout, states, data_keys)
    assert active.all()
    chex.assert_trees_all_close(leaves(vmapped), leaves(seed_runs.states), rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(metrics, seed_runs.metrics, rtol=1e-5, atol=1e-6)


def primitive_names(jaxpr) -> list[str]:
    """Every primitive of ``jaxpr``, those of its sub-jaxprs (jit, scan, cond branches) included."""
    names = []
    for eqn in jaxpr.eqns:
        names.append(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)  # ClosedJaxpr -> Jaxpr
                if hasattr(inner, "eqns"):
                    names.extend(primitive_names(inner))
    return names


def test_vmapped_seeds_share_the_step_so_the_delayed_actor_stays_a_branch():
    # With each seed's own (batched) counter, the cond of TD3's delayed actor becomes a select and
    # the actor step runs on every update; the shared counter keeps it a cond (1 update in 2).
    layout = training.make_seed_layout(SEEDS)
    conds = {}
    for shared_step in (True, False):
        states, data_keys = training.init_seed_states(td3_bc, CONFIG, layout, DATASET)
        run_chunk = training.make_multi_seed_chunk(td3_bc, CONFIG, CHUNK, layout, "vmap",
                                                   shared_step=shared_step)
        jaxpr = jax.make_jaxpr(run_chunk)(states, data_keys, training.initial_active(layout), 0,
                                          training.place_dataset(DATASET, layout))
        conds[shared_step] = primitive_names(jaxpr.jaxpr).count("cond")
    assert conds == {True: 1, False: 0}


def test_seed_strategy_validation():
    with pytest.raises(ValueError, match="seed_strategy must be one of"):
        training.make_multi_seed_chunk(td3_bc, CONFIG, CHUNK, training.make_seed_layout([0]),
                                       seed_strategy="pmap")


def sqrt_chain(weight, drift, steps):
    """The fake update applied ``steps`` times in float32."""
    weight = np.float32(weight)
    for _ in range(steps):
        weight = np.float32(np.sqrt(weight) - np.float32(drift))
    return weight


@pytest.mark.parametrize("seed_strategy", ["vmap", "map"])
def test_diverging_seed_is_frozen_and_reported(seed_strategy):
    config, chunk = FakeConfig(), 3
    layout = training.make_seed_layout([0, 1, 2, 3])
    states, data_keys = training.init_seed_states(fake_algo, config, layout, DATASET)
    # Seed 1 starts negative (NaN at its first update); seed 2 drifts below 0 at update 5
    # (w: 9 -> 2.5 -> 1.08 -> 0.54 | 0.23 -> -0.02 -> NaN), i.e. inside the second chunk.
    weights = np.float32([4.0, -1.0, 9.0, 16.0])
    drifts = np.float32([0.0, 0.0, 0.5, 0.0])
    states = states.replace(weight=jax.device_put(weights, layout.seed_sharding),
                            drift=jax.device_put(drifts, layout.seed_sharding))
    run_chunk = training.make_multi_seed_chunk(fake_algo, config, chunk, layout, seed_strategy)
    dataset = training.place_dataset(DATASET, layout)
    active = training.initial_active(layout)
    history = []
    for chunk_index in range(3):
        states, metrics, active = run_chunk(states, data_keys, active, chunk_index, dataset)
        history.append((np.asarray(active), np.asarray(states.step), np.asarray(states.weight)))
    assert [h[0].tolist() for h in history] == [
        [True, False, True, True], [True, False, False, True], [True, False, False, True]
    ]
    # Inactive seeds keep their last finite state (seed 1: the initial one; seed 2: the end of
    # chunk 1); the others keep training.
    assert history[-1][1].tolist() == [9, 0, 3, 9]
    np.testing.assert_allclose(
        history[-1][2],
        [sqrt_chain(4.0, 0.0, 9), -1.0, sqrt_chain(9.0, 0.5, 3), sqrt_chain(16.0, 0.0, 9)],
        rtol=1e-6,
    )
    chunk_weight = np.asarray(metrics["fake/weight"])
    assert np.isnan(chunk_weight[1]) and np.isfinite(chunk_weight[[0, 3]]).all()


def test_train_driver_reports_diverged_seeds_and_calls_back():
    seeds = [0, 1, 2, 3, 4, 5]
    config = FakeConfig()
    layout = training.make_seed_layout(seeds)
    initial, _ = training.init_seed_states(fake_algo, config, layout, DATASET)
    initial_weight = np.asarray(initial.weight)
    # fake_init draws w ~ N(0, 1): a negative w diverges at once. These seeds give both kinds.
    assert (initial_weight < 0).any() and (initial_weight >= 0).any()
    calls = []

    def callback(step, states, metrics, active):
        calls.append((step, states.weight.shape, metrics["fake/weight"].shape, active.copy()))

    states, metrics, active = training.train(
        fake_algo, config, DATASET, seeds, num_steps=6, chunk_size=3, callback=callback
    )
    assert [call[0] for call in calls] == [3, 6]
    assert all(call[1] == (6,) and call[2] == (6,) for call in calls)
    np.testing.assert_array_equal(active, initial_weight >= 0)
    np.testing.assert_array_equal(calls[0][3], initial_weight >= 0)
    weight = np.asarray(states.weight)
    np.testing.assert_array_equal(weight[~active], initial_weight[~active])
    expected = [sqrt_chain(w, 0.0, 6) for w in initial_weight[active]]
    np.testing.assert_allclose(weight[active], expected, rtol=1e-6)
    assert metrics["fake/weight"].shape == (6,)


def test_train_rejects_steps_not_a_multiple_of_the_chunk():
    with pytest.raises(ValueError, match="multiple of chunk_size"):
        training.train(fake_algo, FakeConfig(), DATASET, [0], num_steps=10, chunk_size=3)


def test_seed_layout_validation():
    layout = training.make_seed_layout([5, 2, 9])
    assert layout.seeds == (5, 2, 9)
    # One device divides every seed count: no padding here (multi-device: test_sharding.py).
    assert layout.padded_seeds == layout.seeds or jax.device_count() > 1
    with pytest.raises(ValueError, match="empty"):
        training.make_seed_layout([])
    with pytest.raises(ValueError, match="distinct"):
        training.make_seed_layout([1, 2, 1])
    for bad_seed in (-1, 2**32):
        with pytest.raises(ValueError, match="seed"):
            training.make_seed_layout([0, bad_seed])


def test_tree_all_finite():
    assert bool(training.tree_all_finite({"a": jnp.ones(3), "b": jnp.zeros((2, 2))}))
    assert not bool(training.tree_all_finite({"a": jnp.ones(3), "b": jnp.float32([1.0, jnp.nan])}))
    assert not bool(training.tree_all_finite([jnp.float32(jnp.inf)]))
    # Integer leaves, keys and empty trees have nothing to be non-finite.
    assert bool(training.tree_all_finite({"step": jnp.int32(3), "key": jax.random.key(0)}))
    assert bool(training.tree_all_finite({}))


# --- Batch sampling -----------------------------------------------------------------------------


def indexed_dataset(size=10):
    """A dataset whose every field encodes the row index i, to check rows stay aligned."""
    index = np.arange(size, dtype=np.float32)
    return Transition(
        obs=np.stack([index, 100 + index], axis=1), action=-index[:, None], reward=index,
        next_obs=np.stack([index + 1, 101 + index], axis=1), terminal=index % 2,
    )


@pytest.mark.parametrize("use_jit", [False, True], ids=["eager", "jit"])
def test_sample_batch_shapes_alignment_and_determinism(use_jit):
    dataset = jax.tree.map(jnp.asarray, indexed_dataset())
    sample = functools.partial(training.sample_batch, batch_size=64)
    if use_jit:
        sample = jax.jit(sample)
    batch = sample(dataset, jax.random.key(0))
    assert batch.obs.shape == (64, 2) and batch.action.shape == (64, 1)
    assert batch.reward.shape == batch.terminal.shape == (64,) and batch.next_obs.shape == (64, 2)
    index = np.asarray(batch.reward)
    assert set(index.tolist()) <= set(range(10)) and len(set(index.tolist())) > 5
    np.testing.assert_array_equal(batch.obs, np.stack([index, 100 + index], axis=1))
    np.testing.assert_array_equal(batch.action[:, 0], -index)
    np.testing.assert_array_equal(batch.next_obs[:, 0], index + 1)
    np.testing.assert_array_equal(batch.terminal, index % 2)
    # Same key, same batch; another key, another batch (fresh key objects: a key is used once).
    chex.assert_trees_all_equal(batch, sample(dataset, jax.random.key(0)))
    assert not np.array_equal(index, sample(dataset, jax.random.key(1)).reward)


def test_padding_seeds_stay_valid_and_distinct_near_uint32_max():
    # Padding counts up from max(seeds) + 1, wraps at 2**32 and skips seeds already in use.
    top = 2**32 - 1
    assert seed_layout.padding_seeds((top, 0, 5), 3) == (1, 2, 3)
    assert seed_layout.padding_seeds((3, 4), 2) == (5, 6)
