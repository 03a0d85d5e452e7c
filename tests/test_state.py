"""Tests of ``jaxrl_offline.state``: building and stepping train states, the delayed update."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import struct

from jaxrl_offline import state as state_lib


class Counter(struct.PyTreeNode):
    updates: jax.Array  # How many times the delayed update ran.
    key: jax.Array
    step: jax.Array


def count(state):
    return state.replace(updates=state.updates + 1), {"delayed/ran": jnp.float32(1.0)}


def run_steps(num_steps, period, phase):
    """The delayed update's metric per step and the final count, one jitted step at a time."""

    @jax.jit
    def step_fn(state):
        state, metrics = state_lib.delayed_update(count, state, step=state.step, period=period,
                                                  phase=phase)
        return state.replace(step=state.step + 1), metrics

    state = Counter(jnp.int32(0), jax.random.key(0), jnp.int32(0))
    ran = []
    for _ in range(num_steps):
        state, metrics = step_fn(state)
        ran.append(not np.isnan(metrics["delayed/ran"]))
    return ran, int(state.updates), state


def test_delayed_update_in_td3_phase_matches_fujimotos_counter():
    # Fujimoto's TD3.train: total_it += 1; if total_it % policy_freq == 0: actor update. Our step
    # counts updates before the increment (step = total_it - 1), so phase = period - 1 matches.
    period = 3
    fujimoto = []
    total_it = 0
    for _ in range(7):
        total_it += 1
        fujimoto.append(total_it % period == 0)
    ran, updates, state = run_steps(7, period, phase=period - 1)
    assert ran == fujimoto == [False, False, True, False, False, True, False]
    assert updates == 2
    assert state.key is not None  # The key is put back after the cond.


def test_delayed_update_other_phase_and_period_one():
    assert run_steps(4, 2, phase=0)[0] == [True, False, True, False]
    assert run_steps(3, 1, phase=0)[0] == [True, True, True]
    with pytest.raises(ValueError, match="phase"):
        run_steps(1, 2, phase=2)


def test_delayed_update_under_vmap_is_per_seed():
    states = Counter(jnp.zeros(2, jnp.int32), jax.random.split(jax.random.key(0), 2),
                     jnp.int32([0, 1]))
    run = jax.vmap(lambda s: state_lib.delayed_update(count, s, step=s.step, period=2, phase=1))
    new, metrics = run(states)
    np.testing.assert_array_equal(new.updates, [0, 1])
    assert np.isnan(metrics["delayed/ran"][0]) and metrics["delayed/ran"][1] == 1.0


def test_create_train_state_and_gradient_step():
    net = nn.Dense(1)
    obs = jnp.ones((1, 2))
    plain = state_lib.create_train_state(net, jax.random.key(0), (obs,), optax.sgd(0.5))
    target = state_lib.create_train_state(net, jax.random.key(0), (obs,), optax.sgd(0.5),
                                          with_target=True)
    assert not hasattr(plain, "target_params")
    jax.tree.map(np.testing.assert_array_equal, target.target_params, plain.params)

    def loss_fn(params, x):  # Gradient of mean(apply(x)) in the bias is 1: bias moves by -0.5.
        out = plain.apply_fn(params, x).mean()
        return out, {"out": out}

    stepped, aux = state_lib.gradient_step(loss_fn, plain, obs)
    np.testing.assert_allclose(stepped.params["params"]["bias"],
                               plain.params["params"]["bias"] - 0.5, rtol=1e-6)
    assert int(stepped.step) == 1 and "out" in aux


def test_nan_like_fills_float_metrics_with_nan_and_others_with_zeros():
    shapes = {"loss": jax.ShapeDtypeStruct((2,), jnp.float32),
              "count": jax.ShapeDtypeStruct((), jnp.int32)}
    filled = state_lib.nan_like(shapes)
    assert filled["loss"].dtype == jnp.float32 and bool(jnp.isnan(filled["loss"]).all())
    assert filled["count"].dtype == jnp.int32 and int(filled["count"]) == 0
