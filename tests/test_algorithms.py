"""Tests of the algorithm modules.

* Every algorithm in the registry (parametrized): finite state with unchanged shapes after k
  updates, namespaced scalar metrics, ``act`` shapes and bounds, jit vs eager agreement, config
  round trip.
* Per algorithm, every loss against a hand-computed value. The networks are made simple by
  construction: all-zero weights make an actor constant (tanh(bias)), and ``linear_critic`` builds
  ReLU critics that compute Q_i(s, a) = w_i . [s, a] + c_i exactly. For CQL the policy is replaced
  by ``FixedPolicy``, whose samples and log-probs are known constants.

Compiles dominate the run time, so each algorithm's jitted ``init`` / ``update`` / ``act`` are built
once (``compiled``) and shared by every test.
"""

import dataclasses
import functools
from typing import Any, NamedTuple

import chex
import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxrl_offline import algorithms
from jaxrl_offline.local_suite import synthetic
from jaxrl_offline.runner import training
from jaxrl_offline.algorithms import ALGORITHMS, aca, bc, cql, iql, sac, td3_bc

from helpers import (DATA_LOG_PROB, POLICY_ACTION, POLICY_LOG_PROB, FixedPolicy, hand_batch,
                     without_keys, zeroed)

HIDDEN = (16, 16)
BATCH_SIZE = 8
METRIC_NAMESPACES = {"actor", "critic", "value", "alpha", "cql_alpha"}


def small_config(algo, **overrides):
    """The algorithm's defaults with (16, 16) networks, batch 8 and 3 CQL samples."""
    config = algo.Config()
    names = {field.name for field in dataclasses.fields(config)}
    small = {name: HIDDEN for name in names if name.endswith("hidden_dims")}
    if "cql_num_actions" in names:
        small["cql_num_actions"] = 3
    return dataclasses.replace(config, batch_size=BATCH_SIZE, **small, **overrides)


def make_dataset():
    """64 bandit-probe transitions (obs_dim 3, action_dim 2), half of them non-terminal."""
    data = synthetic.bandit_probe(64, seed=0)
    data = data._replace(terminal=np.tile(np.float32([0.0, 1.0]), 32))
    return jax.tree.map(jnp.asarray, data)


DATASET = make_dataset()


def batch_at(index):
    """The ``index``-th block of BATCH_SIZE dataset rows."""
    return jax.tree.map(lambda x: x[index * BATCH_SIZE : (index + 1) * BATCH_SIZE], DATASET)


class Compiled(NamedTuple):
    algo: Any
    config: Any
    init: Any  # seed -> (AgentState, data_key)
    update: Any  # (state, batch) -> (state, metrics)
    act: Any  # (state, obs, key) -> action


@functools.cache
def compile_algorithm(name, **overrides):
    algo = ALGORITHMS[name]
    config = small_config(algo, **overrides)
    init = jax.jit(functools.partial(training.init_agent, algo, config))
    return Compiled(
        algo=algo,
        config=config,
        init=lambda seed=0: init(seed, DATASET),
        update=jax.jit(functools.partial(algo.update, config)),
        act=jax.jit(functools.partial(algo.act, config)),
    )


# sac_ml is aca's module with align=False, a flag read only when fine-tuning starts (tested in
# test_aca.py / test_finetune.py): compiling its offline update again would test the same code.
OFFLINE_UPDATES_UNDER_TEST = sorted(set(ALGORITHMS) - {"sac_ml"})


@pytest.fixture(scope="module", params=OFFLINE_UPDATES_UNDER_TEST)
def compiled(request):
    return compile_algorithm(request.param)


def train_states(state):
    """The (field name, TrainState) pairs of an AgentState."""
    return [
        (field.name, getattr(state, field.name))
        for field in dataclasses.fields(state)
        if isinstance(getattr(state, field.name), flax.training.train_state.TrainState)
    ]


def trees_differ(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# --- Registry-wide properties -----------------------------------------------------------------


def test_updates_keep_state_finite_with_unchanged_shapes(compiled):
    initial, _ = compiled.init()
    initial_leaves = without_keys(initial)  # Read before ``update`` consumes the key.
    state, all_metrics = initial, []
    for index in range(3):
        state, metrics = compiled.update(state, batch_at(index))
        all_metrics.append(metrics)
    state = without_keys(state)
    chex.assert_tree_all_finite(state)
    chex.assert_trees_all_equal_shapes_and_dtypes(initial_leaves, state)
    assert int(state.step) == 3
    # Every optimized network moved, and so did every target network.
    for name, train_state in train_states(state):
        initial_train_state = getattr(initial_leaves, name)
        assert trees_differ(initial_train_state.params, train_state.params), name
        if getattr(train_state, "target_params", None) is not None:
            assert trees_differ(initial_train_state.target_params, train_state.target_params), name
    # Metrics: the same flat dict of namespaced float scalars at every step.
    for metrics in all_metrics:
        assert set(metrics) == set(all_metrics[0])
        for key, value in metrics.items():
            namespace, _, name = key.partition("/")
            assert namespace in METRIC_NAMESPACES and name, key
            assert value.shape == () and jnp.issubdtype(value.dtype, jnp.floating), key
    # A metric may be NaN on a step that skipped its loss (TD3's delayed actor), never on all.
    stacked = jax.tree.map(lambda *values: jnp.stack(values), *all_metrics)
    chex.assert_tree_all_finite(jax.tree.map(lambda values: jnp.nanmean(values), stacked))


def test_act_shape_bounds_and_constant_actor(compiled):
    state, _ = compiled.init()
    obs = DATASET.obs[:5]
    for scale in (1.0, 1e3):  # Huge observations saturate the actor; actions stay in the box.
        action = compiled.act(state, scale * obs, jax.random.key(1))
        assert action.shape == (5, 2)
        assert np.isfinite(action).all() and np.all(np.abs(action) <= 1.0)
    if compiled.algo.NAME in ("idql", "sfbc"):
        return  # act samples a diffusion model: there is no constant Dense actor to probe.
    # All-zero actor weights with output (mean) bias b: every algorithm acts tanh(b).
    bias = np.float32([0.5, -1.5])
    actor = state.actor.replace(params=zeroed(state.actor.params, **{"Dense_0/bias": bias}))
    action = compiled.act(state.replace(actor=actor), obs, jax.random.key(2))
    np.testing.assert_allclose(action, np.tile(np.tanh(bias), (5, 1)), rtol=1e-6)


def test_update_jit_matches_eager(compiled):
    eager_state, _ = compiled.init()
    jit_state, _ = compiled.init()
    batch = batch_at(0)
    eager = compiled.algo.update(compiled.config, eager_state, batch)
    jitted = compiled.update(jit_state, batch)
    chex.assert_trees_all_close(without_keys(eager), without_keys(jitted), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_config_round_trip_frozen_and_documented(name):
    algo = ALGORITHMS[name]
    assert algo.NAME == name
    config_dict = algo.get_config()
    assert isinstance(config_dict, ml_collections.ConfigDict)
    assert algo.Config(**config_dict) == algo.Config()
    assert algo.Config(**config_dict.to_dict()) == algo.Config()
    config = algo.Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batch_size = 1
    hash(config)  # Hashable: usable as a static jit argument.
    for field in dataclasses.fields(config):
        assert f"{field.name}:" in algo.Config.__doc__, f"{name}.Config.{field.name} undocumented"


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_module_interface(name):
    algo = ALGORITHMS[name]
    for attribute in ("NAME", "Config", "AgentState", "init", "update", "act", "get_config"):
        assert hasattr(algo, attribute), f"{name} lacks {attribute}"
    assert issubclass(algo.AgentState, flax.struct.PyTreeNode)
    fields = {field.name for field in dataclasses.fields(algo.AgentState)}
    assert {"key", "step"} <= fields
    assert algorithms.get_algorithm(name) is algo


def test_get_algorithm_rejects_unknown_names():
    with pytest.raises(ValueError, match="Registered algorithms: .*bc"):
        algorithms.get_algorithm("not_an_algorithm")


# --- Hand-computed losses: helpers ------------------------------------------------------------

# A fixed batch of B = 4 transitions (obs_dim 3, action_dim 2), terminal in rows 1 and 3.
BATCH = hand_batch(np.random.default_rng(42))
# Critic weights over [s, a] (5 inputs) and biases, for two ensemble members.
CRITIC_W = np.float32([[0.5, -0.3, 0.2, 1.0, -0.7], [0.1, 0.4, -0.6, -0.5, 0.9]])
CRITIC_C = np.float32([0.2, -0.1])
TARGET_W = np.float32([[0.3, 0.2, -0.4, 0.8, 0.6], [-0.2, 0.5, 0.1, -0.9, 0.4]])
TARGET_C = np.float32([0.5, 0.3])


def linear_network(template, weights, biases, prefix=""):
    """Params of a 2-hidden-layer ReLU network computing weights[..., :] . x + biases exactly.

    Layer 1 maps the input x to units [x, -x], ReLU keeps their positive parts, layer 2 copies
    them, and the output computes w . relu(x) - w . relu(-x) = w . x. ``weights`` [..., D] and
    ``biases`` [...] carry the leading ensemble axis of an ``EnsembleCritic`` (``prefix``
    ``VmapStateActionValue_0/``) or none (``StateValue``).
    """
    dim = weights.shape[-1]
    flat = flax.traverse_util.flatten_dict(template["params"], sep="/")
    first = np.zeros(flat[prefix + "MLP_0/Dense_0/kernel"].shape, np.float32)
    second = np.zeros(flat[prefix + "MLP_0/Dense_1/kernel"].shape, np.float32)
    out = np.zeros(flat[prefix + "Dense_0/kernel"].shape, np.float32)
    first[..., :dim], first[..., dim : 2 * dim] = np.eye(dim), -np.eye(dim)
    second[..., : 2 * dim, : 2 * dim] = np.eye(2 * dim)
    out[..., :dim, 0], out[..., dim : 2 * dim, 0] = weights, -weights
    return zeroed(
        template,
        **{
            prefix + "MLP_0/Dense_0/kernel": first,
            prefix + "MLP_0/Dense_1/kernel": second,
            prefix + "Dense_0/kernel": out,
            prefix + "Dense_0/bias": np.asarray(biases)[..., None],
        },
    )


def linear_critic(template, weights, biases):
    """EnsembleCritic params with Q_i(s, a) = weights[i] . [s, a] + biases[i]."""
    return linear_network(template, weights, biases, prefix="VmapStateActionValue_0/")


def q_reference(weights, biases, obs, action):
    """[members, B] Q-values of the linear critic, in float64."""
    inputs = np.concatenate([obs, action], axis=-1).astype(np.float64)
    return (inputs @ weights.T.astype(np.float64) + biases).T


def with_critic(state, weights=CRITIC_W, biases=CRITIC_C, target_w=TARGET_W, target_c=TARGET_C):
    """``state`` with linear online and target critics."""
    template = state.critic.params
    critic = state.critic.replace(
        params=linear_critic(template, weights, biases),
        target_params=linear_critic(template, target_w, target_c),
    )
    return state.replace(critic=critic)


def normal_log_prob(x, mean, std):
    """sum_i log N(x_i; mean_i, std_i^2) over the last axis, in float64."""
    x, mean, std = (np.asarray(v, np.float64) for v in (x, mean, std))
    return np.sum(-0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi), axis=-1)


def jitted(loss_fn, **static):
    """``loss_fn`` under jit with its config (and other Python arguments) bound."""
    return jax.jit(functools.partial(loss_fn, **static))


# --- BC -----------------------------------------------------------------------------------------


def test_bc_actor_loss_and_one_adam_step():
    compiled = compile_algorithm("bc")
    state, _ = compiled.init()
    bias = np.float32([0.3, -0.2])
    actor_params = zeroed(state.actor.params, **{"Dense_0/bias": bias})
    state = state.replace(actor=state.actor.replace(params=actor_params))
    # pi(s) = tanh(b) for every s: loss = mean_{B, dims} (tanh(b) - a)^2.
    expected = np.mean((np.tanh(bias) - BATCH.action) ** 2)
    loss, metrics = jitted(bc.actor_loss, config=compiled.config)(state.actor.params, state, BATCH)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(metrics["actor/bc_mse"], expected, rtol=1e-6)
    # One update is one Adam step: from zero moments, the step is -lr * g / (|g| + eps) =
    # -lr * sign(g). Only the output bias has a gradient (zero weights and ReLU(0) = 0 block the
    # rest): g_j = 2 / (B A) sum_B (tanh(b_j) - a_j) (1 - tanh(b_j)^2).
    grad = 2.0 / BATCH.action.size * np.sum(np.tanh(bias) - BATCH.action, axis=0)
    grad *= 1.0 - np.tanh(bias) ** 2
    new_state, _ = compiled.update(state, jax.tree.map(jnp.asarray, BATCH))
    expected_params = zeroed(
        state.actor.params,
        **{"Dense_0/bias": bias - compiled.config.learning_rate * np.sign(grad)},
    )
    chex.assert_trees_all_close(new_state.actor.params, expected_params, rtol=1e-6, atol=1e-9)


# --- TD3+BC -------------------------------------------------------------------------------------


def constant_actor(train_state, bias, target_bias=None):
    """A deterministic actor (and target) acting tanh(bias) in every state."""
    target_bias = bias if target_bias is None else target_bias
    return train_state.replace(
        params=zeroed(train_state.params, **{"Dense_0/bias": bias}),
        target_params=zeroed(train_state.params, **{"Dense_0/bias": target_bias}),
    )


def test_td3_bc_critic_loss_zero_noise():
    compiled = compile_algorithm("td3_bc")
    config = dataclasses.replace(compiled.config, policy_noise=0.0)
    state, _ = compiled.init()
    target_bias = np.float32([0.8, -0.4])
    state = with_critic(state).replace(actor=constant_actor(state.actor, np.zeros(2), target_bias))
    # Without smoothing noise a' = pi_targ(s') = tanh(target_bias), and
    # y = r + gamma (1 - d) min_i Q_targ_i(s', a'); loss = sum_i mean_B (Q_i(s, a) - y)^2.
    next_action = np.tile(np.tanh(target_bias), (4, 1))
    next_q = q_reference(TARGET_W, TARGET_C, BATCH.next_obs, next_action).min(0)
    target = BATCH.reward + 0.99 * (1.0 - BATCH.terminal) * next_q
    q = q_reference(CRITIC_W, CRITIC_C, BATCH.obs, BATCH.action)
    expected = np.sum(np.mean((q - target) ** 2, axis=1))
    loss, metrics = jitted(td3_bc.critic_loss, config=config)(
        state.critic.params, state, BATCH, jax.random.key(0)
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["critic/q_mean"], q.mean(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["critic/target_mean"], target.mean(), rtol=1e-5)


def test_td3_bc_actor_loss_with_detached_lambda():
    compiled = compile_algorithm("td3_bc")
    state, _ = compiled.init()
    bias = np.float32([0.3, -0.6])
    state = with_critic(state).replace(actor=constant_actor(state.actor, bias))
    # pi(s) = tanh(b); Q1(s, pi) = w1 . [s, tanh(b)] + c1; lambda = 2.5 / mean_B |Q1|;
    # loss = -lambda mean_B Q1 + mean_{B, dims} (tanh(b) - a)^2 (Eq. 3 of TD3+BC).
    action = np.tanh(bias)
    q1 = q_reference(CRITIC_W, CRITIC_C, BATCH.obs, np.tile(action, (4, 1)))[0]
    lmbda = 2.5 / np.abs(q1).mean()
    bc_term = np.mean((action - BATCH.action) ** 2)
    loss_fn = functools.partial(td3_bc.actor_loss, config=compiled.config)
    (loss, metrics), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
        state.actor.params, state, BATCH
    )
    np.testing.assert_allclose(loss, -lmbda * q1.mean() + bc_term, rtol=1e-5)
    np.testing.assert_allclose(metrics["actor/lambda"], lmbda, rtol=1e-5)
    np.testing.assert_allclose(metrics["actor/bc_mse"], bc_term, rtol=1e-5)
    # With lambda detached, d loss / d b_j = (1 - tanh(b_j)^2) (-lambda w1_{a_j}
    # + 2 / (B A) sum_B (tanh(b_j) - a_j)); a gradient through lambda would add a term.
    expected_grad = (1.0 - action**2) * (
        -lmbda * CRITIC_W[0, 3:] + 2.0 / BATCH.action.size * np.sum(action - BATCH.action, axis=0)
    )
    np.testing.assert_allclose(grads["params"]["Dense_0"]["bias"], expected_grad, rtol=1e-4)


def test_td3_bc_delayed_actor_and_target_updates():
    compiled = compile_algorithm("td3_bc")
    tau = compiled.config.tau
    state0, _ = compiled.init()
    before = without_keys(state0)
    state1, metrics1 = compiled.update(state0, batch_at(0))
    # Step 0 is critic-only: actor and both targets stay; actor metrics are NaN (not computed).
    chex.assert_trees_all_equal(state1.actor.params, before.actor.params)
    chex.assert_trees_all_equal(state1.actor.target_params, before.actor.target_params)
    chex.assert_trees_all_equal(state1.critic.target_params, before.critic.target_params)
    assert trees_differ(state1.critic.params, before.critic.params)
    assert np.isnan(metrics1["actor/loss"]) and np.isfinite(metrics1["critic/loss"])
    state1_leaves = without_keys(state1)
    state2, metrics2 = compiled.update(state1, batch_at(1))
    # Step 1 (policy_freq = 2) moves the actor, then both targets: target <- tau new + (1-tau) old.
    assert trees_differ(state2.actor.params, state1_leaves.actor.params)
    assert np.isfinite(metrics2["actor/loss"])
    for name in ("actor", "critic"):
        new, old = getattr(state2, name), getattr(state1_leaves, name)
        expected = jax.tree.map(lambda p, t: tau * p + (1 - tau) * t, new.params, old.target_params)
        chex.assert_trees_all_close(new.target_params, expected, rtol=1e-6, atol=1e-9)


def test_td3_bc_init_scheme_switch_reaches_actor_and_critics():
    """init_scheme="pytorch" (the [parity] switch, CORL's torch.nn.Linear default) gives nonzero
    biases in every actor and critic layer; the default keeps Flax's zero biases; an unknown
    scheme is refused when the Config is built."""
    obs, action = jnp.zeros(3), jnp.zeros(2)
    for scheme, nonzero in (("orthogonal", False), ("pytorch", True)):
        config = td3_bc.Config(actor_hidden_dims=HIDDEN, critic_hidden_dims=HIDDEN,
                               init_scheme=scheme)
        state = jax.jit(functools.partial(td3_bc.init, config))(jax.random.key(0), obs, action)
        biases = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(
            (state.actor.params, state.critic.params))[0] if path[-1].key == "bias"]
        assert len(biases) == 3 + 3
        assert all(bool(jnp.any(bias != 0)) == nonzero for bias in biases), scheme
    with pytest.raises(ValueError, match="init_scheme must be one of"):
        td3_bc.Config(init_scheme="xavier")


@pytest.mark.parametrize("algo", [sac, aca])
def test_sac_family_init_scheme_switch_reaches_every_network(algo):
    """SAC's [parity] init switch (d3rlpy's PyTorch default for ACA's reference) reaches the
    actor, both critics and, for ACA, the baseline Z; the default keeps zero biases."""
    obs, action = jnp.zeros(3), jnp.zeros(2)
    for scheme, nonzero in (("orthogonal", False), ("pytorch", True)):
        config = algo.Config(actor_hidden_dims=HIDDEN, critic_hidden_dims=HIDDEN,
                             init_scheme=scheme)
        state = jax.jit(functools.partial(algo.init, config))(jax.random.key(0), obs, action)
        networks_ = [state.actor.params, state.critic.params]
        if algo is aca:
            networks_.append(state.value.params)
        biases = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(networks_)[0]
                  if path[-1].key == "bias"]
        assert len(biases) == 4 + 3 * (len(networks_) - 1)  # Actor: 2 hidden, mean, log-std.
        assert all(bool(jnp.any(bias != 0)) == nonzero for bias in biases), scheme
    with pytest.raises(ValueError, match="init_scheme must be one of"):
        algo.Config(init_scheme="xavier")


@pytest.mark.parametrize("actor_kind", ["gaussian", "deterministic"])
def test_iql_init_scheme_switch_reaches_every_network(actor_kind):
    obs, action = jnp.zeros(3), jnp.zeros(2)
    for scheme, nonzero in (("orthogonal", False), ("pytorch", True)):
        config = iql.Config(actor_hidden_dims=HIDDEN, critic_hidden_dims=HIDDEN,
                            value_hidden_dims=HIDDEN, actor_kind=actor_kind, init_scheme=scheme)
        state = jax.jit(functools.partial(iql.init, config))(jax.random.key(0), obs, action)
        biases = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(
            (state.actor.params, state.critic.params, state.value.params))[0]
            if path[-1].key == "bias"]
        assert len(biases) == 3 * 3
        assert all(bool(jnp.any(b != 0)) == nonzero for b in biases), (actor_kind, scheme)
    with pytest.raises(ValueError, match="IQL init_scheme must be one of"):
        iql.Config(init_scheme="xavier")


def test_bc_init_scheme_switch():
    obs, action = jnp.zeros(3), jnp.zeros(2)
    for scheme, nonzero in (("orthogonal", False), ("pytorch", True)):
        config = bc.Config(actor_hidden_dims=HIDDEN, init_scheme=scheme)
        state = jax.jit(functools.partial(bc.init, config))(jax.random.key(0), obs, action)
        biases = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(
            state.actor.params)[0] if path[-1].key == "bias"]
        assert len(biases) == 3 and all(bool(jnp.any(b != 0)) == nonzero for b in biases)
    with pytest.raises(ValueError, match="BC init_scheme must be one of"):
        bc.Config(init_scheme="xavier")


# --- IQL ----------------------------------------------------------------------------------------


VALUE_W = np.float32([0.6, -0.4, 0.3])  # V(s) = VALUE_W . s + value_bias in the IQL tests.


def iql_state(value_bias, actor_bias=np.float32([0.4, -0.3]), log_std=np.float32([-0.5, 0.2])):
    """IQL state with linear critics and V, and pi = N(tanh(actor_bias), e^log_std)."""
    compiled = compile_algorithm("iql")
    state, _ = compiled.init()
    value = state.value.replace(params=linear_network(state.value.params, VALUE_W, value_bias))
    actor_params = zeroed(state.actor.params, **{"Dense_0/bias": actor_bias, "log_std": log_std})
    actor = state.actor.replace(params=actor_params)
    return compiled, with_critic(state).replace(value=value, actor=actor)


def v_reference(obs, value_bias):
    return np.asarray(obs, np.float64) @ VALUE_W + value_bias


@pytest.mark.parametrize("value_bias", [-1.5, 0.0, 1.5])
def test_iql_value_loss(value_bias):
    compiled, state = iql_state(value_bias)
    # u = min_i Q_targ_i(s, a) - V(s), loss = mean_B |tau - 1(u < 0)| u^2 with tau = 0.7 (Eq. 5).
    v = v_reference(BATCH.obs, value_bias)
    diff = q_reference(TARGET_W, TARGET_C, BATCH.obs, BATCH.action).min(0) - v
    expected = np.mean(np.where(diff < 0, 0.3, 0.7) * diff**2)
    loss, metrics = jitted(iql.value_loss, config=compiled.config)(state.value.params, state, BATCH)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["value/v_mean"], v.mean(), rtol=1e-5, atol=1e-6)


def test_iql_actor_loss_awr_weights_clipped():
    compiled, state = iql_state(value_bias=-1.0)
    # Advantages min_i Q_targ_i(s, a) - V(s) with beta = 3: weights min(exp(3 A), 100); at least
    # one weight is clipped. log pi(a|s) = sum_j log N(a_j; tanh(b_j), e^(log_std_j)).
    v = v_reference(BATCH.obs, -1.0)
    advantage = q_reference(TARGET_W, TARGET_C, BATCH.obs, BATCH.action).min(0) - v
    weights = np.minimum(np.exp(3.0 * advantage), 100.0)
    assert (weights == 100.0).any() and (weights < 100.0).any()
    log_prob = normal_log_prob(BATCH.action, np.tanh([0.4, -0.3]), np.exp([-0.5, 0.2]))
    loss, metrics = jitted(iql.actor_loss, config=compiled.config)(
        state.actor.params, state, BATCH, jax.random.key(0)
    )
    np.testing.assert_allclose(loss, -np.mean(weights * log_prob), rtol=1e-5)
    np.testing.assert_allclose(metrics["actor/adv_weight_mean"], weights.mean(), rtol=1e-5)


def test_iql_critic_loss_bootstraps_from_value():
    compiled, state = iql_state(value_bias=0.7)
    # y = r + gamma (1 - d) V(s'); loss = sum_i mean_B (Q_i(s, a) - y)^2 (Eq. 6).
    target = BATCH.reward + 0.99 * (1.0 - BATCH.terminal) * v_reference(BATCH.next_obs, 0.7)
    q = q_reference(CRITIC_W, CRITIC_C, BATCH.obs, BATCH.action)
    critic_loss = jitted(iql.critic_loss, config=compiled.config)
    loss, metrics = critic_loss(state.critic.params, state, BATCH)
    np.testing.assert_allclose(loss, np.sum(np.mean((q - target) ** 2, axis=1)), rtol=1e-5)
    np.testing.assert_allclose(metrics["critic/q_mean"], q.mean(), rtol=1e-5, atol=1e-6)


def test_iql_update_order_uses_new_value():
    # V is updated first; the actor and the Q target both use the new V (IQL learner.py). One Adam
    # step moves V enough to tell the losses with the old and the new V apart.
    compiled = compile_algorithm("iql")
    state, _ = compiled.init()
    before = without_keys(state)
    batch = batch_at(0)
    new_state, metrics = compiled.update(state, batch)
    config = compiled.config
    new_value = before.replace(value=new_state.value)
    value_loss, _ = jitted(iql.value_loss, config=config)(before.value.params, before, batch)
    np.testing.assert_allclose(metrics["value/loss"], value_loss, rtol=1e-5)
    critic_loss = jitted(iql.critic_loss, config=config)
    new_v_loss, _ = critic_loss(before.critic.params, new_value, batch)
    old_v_loss, _ = critic_loss(before.critic.params, before, batch)
    np.testing.assert_allclose(metrics["critic/loss"], new_v_loss, rtol=1e-5)
    assert not np.isclose(new_v_loss, old_v_loss, rtol=1e-4), (new_v_loss, old_v_loss)
    actor_loss = jitted(iql.actor_loss, config=config)
    new_v_actor, _ = actor_loss(before.actor.params, new_value, batch, jax.random.key(0))
    old_v_actor, _ = actor_loss(before.actor.params, before, batch, jax.random.key(1))
    np.testing.assert_allclose(metrics["actor/loss"], new_v_actor, rtol=1e-5)
    assert not np.isclose(new_v_actor, old_v_actor, rtol=1e-4), (new_v_actor, old_v_actor)


# CORL's hopper medium setting: deterministic actor, losses from the step's starting V.
CORL_IQL = {"actor_kind": "deterministic", "use_updated_value": False}


def test_iql_deterministic_actor_loss_hand_computed():
    compiled = compile_algorithm("iql", **CORL_IQL)
    state, _ = compiled.init()
    value = state.value.replace(params=linear_network(state.value.params, VALUE_W, -1.0))
    bias = np.float32([0.4, -0.3])
    actor = state.actor.replace(params=zeroed(state.actor.params, **{"Dense_0/bias": bias}))
    state = with_critic(state).replace(value=value, actor=actor)
    # pi(s) = tanh(b) in every state; w = min(exp(3 (min_i Q_targ_i(s, a) - V(s))), 100);
    # loss = mean_B w ||tanh(b) - a||^2 (CORL iql_deterministic).
    advantage = q_reference(TARGET_W, TARGET_C, BATCH.obs, BATCH.action).min(0) - v_reference(
        BATCH.obs, -1.0)
    weights = np.minimum(np.exp(3.0 * advantage), 100.0)
    assert (weights == 100.0).any() and (weights < 100.0).any()
    action = np.tanh(bias.astype(np.float64))
    squared_error = np.sum((action - BATCH.action) ** 2, axis=-1)
    loss_fn = functools.partial(iql.actor_loss, config=compiled.config)
    (loss, metrics), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
        state.actor.params, state, BATCH, jax.random.key(0))
    np.testing.assert_allclose(loss, np.mean(weights * squared_error), rtol=1e-5)
    np.testing.assert_allclose(metrics["actor/adv_weight_mean"], weights.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["actor/bc_mse"], squared_error.mean(), rtol=1e-5)
    # The weights are constants: d loss / d b_j = (1 - tanh(b_j)^2) 2/B sum_B w (tanh(b_j) - a_j).
    expected_grad = (1.0 - action**2) * 2.0 * np.mean(
        weights[:, None] * (action - BATCH.action), axis=0)
    np.testing.assert_allclose(grads["params"]["Dense_0"]["bias"], expected_grad, rtol=1e-4)
    np.testing.assert_allclose(compiled.act(state, BATCH.obs, jax.random.key(1)),
                               np.tile(action, (len(BATCH.obs), 1)), rtol=1e-6)


def test_iql_corl_update_order_uses_old_value():
    # use_updated_value=False: the actor and the Q target read V from before this step's value
    # update (CORL iql.py), unlike test_iql_update_order_uses_new_value.
    compiled = compile_algorithm("iql", **CORL_IQL)
    state, _ = compiled.init()
    before = without_keys(state)
    batch = batch_at(0)
    new_state, metrics = compiled.update(state, batch)
    assert trees_differ(new_state.value.params, before.value.params)
    new_value = before.replace(value=new_state.value)
    for loss_fn, params, args in ((iql.critic_loss, before.critic.params, ()),
                                  (iql.actor_loss, before.actor.params, (jax.random.key(0),))):
        loss = jitted(loss_fn, config=compiled.config)
        old_v_loss, _ = loss(params, before, batch, *args)
        new_v_loss, _ = loss(params, new_value, batch, *args)
        name = "critic/loss" if loss_fn is iql.critic_loss else "actor/loss"
        np.testing.assert_allclose(metrics[name], old_v_loss, rtol=1e-5)
        assert not np.isclose(new_v_loss, old_v_loss, rtol=1e-4), (name, new_v_loss, old_v_loss)


def test_iql_config_rejects_bad_actor_settings():
    with pytest.raises(ValueError, match="actor_kind must be one of"):
        iql.Config(actor_kind="stochastic")
    with pytest.raises(ValueError, match="no dropout"):
        iql.Config(actor_kind="deterministic", dropout_rate=0.1)
    with pytest.raises(ValueError, match="no exploration distribution"):
        iql.explore(iql.Config(actor_kind="deterministic"), None, BATCH.obs, jax.random.key(0))


# --- CQL ----------------------------------------------------------------------------------------

def cql_state(config_overrides=(), log_alpha=np.log(2.0), log_multiplier=np.log(0.5)):
    """CQL state with a FixedPolicy actor, alpha = 2 and critics Q_i(s, a) = w_i . s + c_i.

    The critics ignore the action (its weights are zeroed), so Q at the uniform and policy samples
    equals Q at the dataset action and the log-sum-exp reduces to its log-densities.
    """
    config = dataclasses.replace(small_config(cql), **dict(config_overrides))
    state, _ = compile_algorithm("cql").init()
    state_weights, target_weights = CRITIC_W.copy(), TARGET_W.copy()
    state_weights[:, 3:] = target_weights[:, 3:] = 0.0
    state = with_critic(state, state_weights, CRITIC_C, target_weights, TARGET_C)
    actor = state.actor.replace(apply_fn=lambda params, obs: FixedPolicy(obs.shape[:-1]))
    alpha = state.alpha.replace(params={"params": {"log_value": jnp.float32(log_alpha)}})
    state = state.replace(actor=actor, alpha=alpha)
    if config.lagrange:  # alpha' is a Temperature like alpha (saves compiling a Lagrange init).
        multiplier = {"params": {"log_value": jnp.float32(log_multiplier)}}
        state = state.replace(cql_alpha=state.alpha.replace(params=multiplier))
    return config, state, state_weights, target_weights


def cql_reference(config, state_weights, target_weights, alpha=2.0, multiplier=0.5):
    """Hand-computed critic loss pieces for ``cql_state``.

    Every one of the K = 3 samples per source has the same Q, so with Q - log mu per source:
    uniform: Q + A log 2 (mu = 0.5^A on [-1, 1]^A); policy at s and s': Q - log pi = Q + 1;
    logsumexp = Q + log(K 2^A + 2 K e^1), and the gap logsumexp - Q(s, a_data) is the constant
    log(3 * 4 + 6 e) = log(12 + 6 e) for both critics and every state.
    """
    num, action_dim = config.cql_num_actions, 2
    gap = np.log(num * 2.0**action_dim + 2 * num * np.exp(-POLICY_LOG_PROB))
    gap = np.clip(gap, config.cql_clip_diff_min, config.cql_clip_diff_max)
    next_action = np.tile(POLICY_ACTION, (4, 1))
    next_q = q_reference(target_weights, TARGET_C, BATCH.next_obs, next_action).min(0)
    if config.backup_entropy:
        next_q = next_q - alpha * POLICY_LOG_PROB
    target = BATCH.reward + config.discount * (1.0 - BATCH.terminal) * next_q
    q = q_reference(state_weights, CRITIC_C, BATCH.obs, BATCH.action)
    td_loss = np.sum(np.mean((q - target) ** 2, axis=1))
    if config.lagrange:
        penalty = 2 * multiplier * config.cql_alpha * (gap - config.target_action_gap)
    else:
        penalty = 2 * config.cql_alpha * gap
    return td_loss, gap, td_loss + penalty


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        (("backup_entropy", True),),
        (("max_target_backup", True),),
        (("cql_clip_diff_max", 1.0),),
        (("lagrange", True), ("target_action_gap", 0.8)),
    ],
    ids=["default", "backup_entropy", "max_target_backup", "clip_diff", "lagrange"],
)
def test_cql_critic_loss(overrides):
    config, state, state_weights, target_weights = cql_state(overrides)
    td_loss, gap, expected = cql_reference(config, state_weights, target_weights)
    loss, (metrics, gap_out) = jitted(cql.critic_loss, config=config)(
        state.critic.params, state, BATCH, jax.random.key(0)
    )
    np.testing.assert_allclose(metrics["critic/td_loss"], td_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics["critic/cql_gap"], gap, rtol=1e-5)
    np.testing.assert_allclose(gap_out, [gap, gap], rtol=1e-5)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["critic/loss"], expected, rtol=1e-5)
    if config.lagrange:
        # Dual loss: -mean_i alpha' alpha_cql (gap_i - tau) with alpha' = 0.5.
        multiplier_loss, multiplier_metrics = jitted(cql.cql_alpha_loss, config=config)(
            state.cql_alpha.params, state, gap_out
        )
        expected_dual = -0.5 * config.cql_alpha * (gap - config.target_action_gap)
        np.testing.assert_allclose(multiplier_loss, expected_dual, rtol=1e-5)
        np.testing.assert_allclose(multiplier_metrics["cql_alpha/value"], 0.5, rtol=1e-6)


def test_cql_log_std_offset_shifts_the_actor_log_std():
    obs, action = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), jnp.zeros(2)
    stds = []
    for offset in (0.0, -1.0):  # Same key: same weights, the offset alone moves the log-std.
        config = cql.Config(actor_hidden_dims=(8,), critic_hidden_dims=(8,),
                            log_std_offset=offset)
        state = cql.init(config, jax.random.key(0), obs[0], action)
        stds.append(state.actor.apply_fn(state.actor.params, obs).distribution.stddev())
    np.testing.assert_allclose(np.log(stds[1]), np.log(stds[0]) - 1.0, atol=1e-5)


@pytest.mark.parametrize("bc_steps", [0, 10], ids=["sac", "bc_warm_start"])
def test_cql_actor_and_alpha_losses(bc_steps):
    config, state, state_weights, _ = cql_state((("bc_steps", bc_steps),))
    loss, metrics = jitted(cql.actor_loss, config=config)(
        state.actor.params, state, BATCH, jax.random.key(0)
    )
    # alpha = 2, log pi(a~pi | s) = -1: SAC loss mean_B (alpha log pi - min_i Q_i(s, a~pi));
    # during bc_steps (step 0 < 10): mean_B (alpha log pi - log pi(a_data | s)) = 2 * -1 + 0.3.
    if bc_steps:
        expected = 2.0 * POLICY_LOG_PROB - DATA_LOG_PROB
    else:
        policy_action = np.tile(POLICY_ACTION, (4, 1))
        q = q_reference(state_weights, CRITIC_C, BATCH.obs, policy_action).min(0)
        expected = np.mean(2.0 * POLICY_LOG_PROB - q)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["actor/entropy"], -POLICY_LOG_PROB, rtol=1e-6)
    # Temperature loss -log(alpha) (log pi + target_entropy) with target -A = -2:
    # -log 2 * (-1 - 2) = 3 log 2.
    alpha_loss, alpha_metrics = jax.jit(cql.alpha_loss, static_argnums=3)(
        state.alpha.params, state, metrics["actor/log_prob"], -2.0
    )
    np.testing.assert_allclose(alpha_loss, 3.0 * np.log(2.0), rtol=1e-5)
    np.testing.assert_allclose(alpha_metrics["alpha/value"], 2.0, rtol=1e-6)
