"""Tests of ``jaxrl_offline.networks``: shapes, action bounds, ensembles, initializers, actors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_offline import losses, networks
from helpers import zeroed

OBS_DIM, ACTION_DIM, BATCH = 3, 2, 5
HIDDEN = (16, 16)


def make_obs(seed=0, scale=1.0):
    obs = scale * np.random.default_rng(seed).normal(size=(BATCH, OBS_DIM))
    return jnp.asarray(obs, jnp.float32)


def make_action(seed=1):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (BATCH, ACTION_DIM)), jnp.float32)


def init(module, *args, seed=0):
    # Jitted: one compile costs less than compiling every primitive eagerly. A fresh key per call:
    # jax_debug_key_reuse (conftest) rejects initializing twice from one key.
    return jax.jit(module.init)(jax.random.key(seed), *args)


def apply(module, params, *args, **kwargs):
    return jax.jit(module.apply, static_argnames=("training",))(params, *args, **kwargs)


def with_dist(actor, params, obs, fn):
    """``fn(actor.apply(params, obs))`` under jit (distrax distributions are not jit outputs)."""
    return jax.jit(lambda params, obs: fn(actor.apply(params, obs)))(params, obs)


def normal_log_prob(x, mean, std):
    """sum_i log N(x_i; mean_i, std_i^2) over the last axis, in float64."""
    x, mean, std = (np.asarray(v, np.float64) for v in (x, mean, std))
    return np.sum(-0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi), axis=-1)


# --- Initializers ---


@pytest.mark.parametrize("shape", [(6, 6), (4, 7), (7, 4)], ids=["square", "wide", "tall"])
@pytest.mark.parametrize("scale", [1.0, np.sqrt(2.0)], ids=["scale1", "scale_sqrt2"])
def test_orthogonal_init_is_orthogonal_with_scale(shape, scale):
    matrix = np.asarray(networks.orthogonal_init(scale)(jax.random.key(0), shape), np.float64)
    assert matrix.shape == shape and matrix.dtype == np.float64
    rows, cols = shape
    # The smaller dimension is orthonormal (times scale): rows for a wide matrix (M M^T = s^2 I),
    # columns for a tall one (M^T M = s^2 I), both for a square one.
    if rows <= cols:
        np.testing.assert_allclose(matrix @ matrix.T, scale**2 * np.eye(rows), atol=1e-5)
    if cols <= rows:
        np.testing.assert_allclose(matrix.T @ matrix, scale**2 * np.eye(cols), atol=1e-5)


def test_orthogonal_init_depends_on_key_and_dtype():
    init_fn = networks.orthogonal_init()
    first = init_fn(jax.random.key(0), (5, 5))
    again = init_fn(jax.random.key(0), (5, 5))
    other = init_fn(jax.random.key(1), (5, 5))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert init_fn(jax.random.key(2), (3, 4), jnp.bfloat16).dtype == jnp.bfloat16


def test_orthogonal_init_rejects_non_matrix_shapes():
    with pytest.raises(ValueError, match="2-D"):
        networks.orthogonal_init()(jax.random.key(0), (2, 3, 4))


def test_mlp_kernels_use_scaled_orthogonal_init():
    # default_init = orthogonal with gain sqrt(2): every Dense kernel K of an MLP satisfies
    # K^T K = 2 I (tall kernels: [3, 16] is wide, so K K^T = 2 I there).
    params = init(networks.MLP((16, 8)), make_obs())["params"]
    first, second = np.asarray(params["Dense_0"]["kernel"]), np.asarray(params["Dense_1"]["kernel"])
    np.testing.assert_allclose(first @ first.T, 2.0 * np.eye(3), atol=1e-5)
    np.testing.assert_allclose(second.T @ second, 2.0 * np.eye(8), atol=1e-5)
    np.testing.assert_array_equal(params["Dense_0"]["bias"], np.zeros(16))


# --- MLP ---


def test_mlp_shapes_and_final_activation():
    obs = make_obs()
    linear_out = networks.MLP((16, 8))
    activated = networks.MLP((16, 8), activate_final=True)
    out = apply(linear_out, init(linear_out, obs), obs)
    assert out.shape == (BATCH, 8)
    assert (out < 0).any()  # No ReLU after the last layer by default.
    assert (apply(activated, init(activated, obs), obs) >= 0).all()


def test_mlp_dropout_only_in_training():
    obs = make_obs()
    mlp = networks.MLP((16, 16), dropout_rate=0.5)
    params = init(mlp, obs)
    plain = apply(networks.MLP((16, 16)), params, obs)
    np.testing.assert_allclose(apply(mlp, params, obs), plain, rtol=1e-6)
    dropped = apply(mlp, params, obs, training=True, rngs={"dropout": jax.random.key(3)})
    assert dropped.shape == plain.shape and not np.allclose(dropped, plain)


# --- Actors ---


def test_deterministic_actor_shape_bounds_and_tanh_output():
    actor = networks.DeterministicActor(HIDDEN, ACTION_DIM)
    params = init(actor, make_obs())
    for obs in (make_obs(), make_obs(scale=1e3)):  # Large inputs saturate, never exceed the box.
        action = apply(actor, params, obs)
        assert action.shape == (BATCH, ACTION_DIM)
        assert np.all(np.abs(action) <= 1.0)
    # With all weights zero the action is tanh(output bias) for every state.
    bias = np.float32([0.5, -2.0])
    action = apply(actor, zeroed(params, **{"Dense_0/bias": bias}), make_obs())
    np.testing.assert_allclose(action, np.tile(np.tanh(bias), (BATCH, 1)), rtol=1e-6)


def test_gaussian_actor_mode_is_tanh_mean_and_log_std_clipped():
    actor = networks.GaussianActor(HIDDEN, ACTION_DIM)
    obs, action = make_obs(), make_action()
    mode, mean = with_dist(actor, init(actor, obs), obs, lambda dist: (dist.mode(), dist.mean()))
    assert mode.shape == (BATCH, ACTION_DIM)
    assert np.all(np.abs(mode) < 1.0)
    np.testing.assert_allclose(mode, mean, rtol=1e-6)
    # Zero weights, output bias b and log-std [3, -7] (clipped to [2, -5]): the distribution is
    # N(tanh(b), diag([e^2, e^-5]^2)) for every state, and it is not squashed (IQL policy.py).
    bias, log_std = np.float32([0.5, -2.0]), np.float32([3.0, -7.0])
    params = zeroed(init(actor, obs), **{"Dense_0/bias": bias, "log_std": log_std})
    mode, stddev, log_prob = with_dist(
        actor, params, obs, lambda dist: (dist.mode(), dist.stddev(), dist.log_prob(action))
    )
    np.testing.assert_allclose(mode, np.tile(np.tanh(bias), (BATCH, 1)), rtol=1e-6)
    std = np.exp([2.0, -5.0])
    np.testing.assert_allclose(stddev, np.tile(std, (BATCH, 1)), rtol=1e-6)
    np.testing.assert_allclose(log_prob, normal_log_prob(action, np.tanh(bias), std), rtol=1e-5)


def test_tanh_gaussian_actor_hand_computed_log_prob():
    actor = networks.TanhGaussianActor(HIDDEN, ACTION_DIM)
    obs, action = make_obs(), make_action()
    # Zero weights, mean bias m and log-std bias s: pi = tanh(N(m, e^(2s))), so
    # log pi(a) = sum_i log N(atanh a_i; m_i, e^s_i) - log(1 - a_i^2) (change of variables).
    mean, log_std = np.float32([0.3, -0.4]), np.float32([-0.5, 0.2])
    params = zeroed(init(actor, obs), **{"Dense_0/bias": mean, "Dense_1/bias": log_std})
    log_prob = with_dist(actor, params, obs, lambda dist: dist.log_prob(action))
    expected = normal_log_prob(np.arctanh(action), mean, np.exp(log_std)) - np.sum(
        np.log1p(-np.asarray(action, np.float64) ** 2), axis=-1
    )
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "mean_bias, log_std_bias",
    [(0.0, 0.0), (50.0, 0.0), (0.0, -100.0), (-50.0, 100.0)],
    ids=["default", "saturated", "tiny_std", "saturated_wide"],
)
def test_tanh_gaussian_actor_samples_and_log_probs_finite(mean_bias, log_std_bias):
    actor = networks.TanhGaussianActor(HIDDEN, ACTION_DIM)
    obs = make_obs()
    params = init(actor, obs)
    if (mean_bias, log_std_bias) != (0.0, 0.0):
        params = zeroed(params, **{"Dense_0/bias": mean_bias, "Dense_1/bias": log_std_bias})
    # Dataset actions at the bounds go through the clipped log-prob.
    bounds = jnp.tile(jnp.float32([1.0, -1.0]), (BATCH, 1))

    def stats(dist):
        sample, log_prob = networks.sample_and_log_prob(dist, jax.random.key(0), 4)
        return dist.distribution.stddev(), sample, log_prob, losses.gaussian_log_prob_clipped(
            dist, bounds
        )

    std, sample, log_prob, bounds_log_prob = with_dist(actor, params, obs, stats)
    # log-std is clipped to [-20, 2] before exponentiating.
    assert np.all((std >= np.exp(-20.0) * 0.999) & (std <= np.exp(2.0) * 1.001))
    assert sample.shape == (4, BATCH, ACTION_DIM) and log_prob.shape == (4, BATCH)
    assert np.all(np.abs(sample) <= 1.0)
    assert np.isfinite(log_prob).all()
    assert np.isfinite(bounds_log_prob).all()


# --- Critics ---


def test_value_networks_shapes():
    obs, action = make_obs(), make_action()
    q_net, v_net = networks.StateActionValue(HIDDEN), networks.StateValue(HIDDEN, layer_norm=True)
    assert apply(q_net, init(q_net, obs, action), obs, action).shape == (BATCH,)
    assert apply(v_net, init(v_net, obs), obs).shape == (BATCH,)
    temperature = networks.Temperature(2.5)
    np.testing.assert_allclose(apply(temperature, init(temperature)), 2.5, rtol=1e-6)


def test_ensemble_members_are_independent():
    critic = networks.EnsembleCritic(HIDDEN, num_critics=3)
    obs, action = make_obs(), make_action()
    params = init(critic, obs, action)
    # Every parameter has a leading member axis of 3 and members are initialized differently.
    for leaf in jax.tree.leaves(params):
        assert leaf.shape[0] == 3
    kernels = params["params"]["VmapStateActionValue_0"]["MLP_0"]["Dense_0"]["kernel"]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.allclose(kernels[i], kernels[j])
    q = apply(critic, params, obs, action)
    assert q.shape == (3, BATCH)
    assert not np.allclose(q[0], q[1]) and not np.allclose(q[1], q[2])
    # Each member is a function of its own parameters only: perturbing member 0 changes row 0.
    perturbed = jax.tree.map(lambda leaf: leaf.at[0].add(0.1), params)
    q_perturbed = apply(critic, perturbed, obs, action)
    assert not np.allclose(q_perturbed[0], q[0])
    np.testing.assert_array_equal(q_perturbed[1:], q[1:])
    # Member i equals a single StateActionValue with member i's parameters.
    single = jax.tree.map(lambda leaf: leaf[2], params["params"]["VmapStateActionValue_0"])
    q_single = apply(networks.StateActionValue(HIDDEN), {"params": single}, obs, action)
    np.testing.assert_allclose(q_single, q[2], rtol=1e-5, atol=1e-6)


def _dense_layers(params):
    """``[(path, kernel, bias)]`` of every Dense layer in a params tree."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    kernels = {tuple(p[:-1]): leaf for p, leaf in flat if p[-1].key == "kernel"}
    biases = {tuple(p[:-1]): leaf for p, leaf in flat if p[-1].key == "bias"}
    return [(path, kernels[path], biases[path]) for path in sorted(kernels, key=str)]


@pytest.mark.parametrize("make", [
    lambda: (networks.DeterministicActor(HIDDEN, ACTION_DIM, init_scheme="pytorch"), 1),
    lambda: (networks.EnsembleCritic(HIDDEN, num_critics=2, init_scheme="pytorch"), 2),
    lambda: (networks.TanhGaussianActor(HIDDEN, ACTION_DIM, init_scheme="pytorch"), 1),
    lambda: (networks.GaussianActor(HIDDEN, ACTION_DIM, init_scheme="pytorch"), 1),
    lambda: (networks.StateValue(HIDDEN, init_scheme="pytorch"), 1),
])
def test_pytorch_init_scheme_is_torch_linear_default_in_every_layer(make):
    """torch.nn.Linear: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), output layers too;
    checked by the bound and by the uniform's variance bound^2 / 3 on the 16 x 16 layers."""
    module, num_args = make()
    args = (make_obs(), make_action())[:num_args]
    layers = _dense_layers(init(module, *args))
    assert len(layers) >= 3
    for path, kernel, bias in layers:
        fan_in = kernel.shape[-2]
        bound = 1.0 / np.sqrt(fan_in)
        assert float(jnp.abs(kernel).max()) <= bound, path
        assert float(jnp.abs(bias).max()) <= bound, path
        assert float(jnp.abs(bias).max()) > 0.0, path  # not Flax's zero bias
        if kernel.size >= 256:
            np.testing.assert_allclose(float(jnp.var(kernel)), bound ** 2 / 3, rtol=0.25)


def test_init_scheme_keeps_the_parameter_tree_and_orthogonal_default():
    obs = make_obs()
    default = init(networks.DeterministicActor(HIDDEN, ACTION_DIM), obs)
    explicit = init(networks.DeterministicActor(HIDDEN, ACTION_DIM, init_scheme="orthogonal"), obs)
    torch_like = init(networks.DeterministicActor(HIDDEN, ACTION_DIM, init_scheme="pytorch"), obs)
    chex_equal = jax.tree_util.tree_map(lambda a, b: bool(jnp.array_equal(a, b)), default, explicit)
    assert all(jax.tree_util.tree_leaves(chex_equal))
    assert jax.tree_util.tree_structure(default) == jax.tree_util.tree_structure(torch_like)
    for _, kernel, bias in _dense_layers(default):
        assert not np.any(np.asarray(bias))  # orthogonal scheme: zero biases
    with pytest.raises(ValueError, match="init_scheme must be one of"):
        init(networks.DeterministicActor(HIDDEN, ACTION_DIM, init_scheme="xavier"), obs)
