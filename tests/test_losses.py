"""Tests of ``jaxrl_offline.losses``: hand-computed values (derivations in comments) and rlax.

Every check runs twice, eagerly and under ``jax.jit`` (the ``variant`` fixture, the role
``chex.variants`` plays in rlax's tests).
"""

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from jaxrl_offline import losses


@pytest.fixture(params=["eager", "jit"])
def variant(request):
    """Runs ``fn(*args)`` eagerly or jitted; static (Python) arguments are closed over."""
    if request.param == "eager":
        return lambda fn, *args: fn(*args)
    return lambda fn, *args: jax.jit(fn)(*args)


def f32(*values):
    return jnp.asarray(values, jnp.float32)


def test_td_target_bootstraps_only_non_terminal(variant):
    # y = r + gamma * (1 - terminal) * V(s'), gamma = 0.9, V(s') = 10:
    #   non-terminal: 1 + 0.9 * 1 * 10 = 10;  terminal: 2 + 0.9 * 0 * 10 = 2;
    #   non-terminal with V(s') = -5: -1 + 0.9 * -5 = -5.5.
    reward, terminal, next_value = f32(1.0, 2.0, -1.0), f32(0.0, 1.0, 0.0), f32(10.0, 10.0, -5.0)
    target = variant(lambda r, d, v: losses.td_target(r, d, 0.9, v), reward, terminal, next_value)
    np.testing.assert_allclose(target, [10.0, 2.0, -5.5], rtol=1e-6)


def test_td_target_rejects_mismatched_shapes():
    with pytest.raises(AssertionError):
        losses.td_target(jnp.zeros(3), jnp.zeros(3), 0.99, jnp.zeros((3, 1)))


@pytest.mark.parametrize(
    "loss_fn, tau, expected",
    [
        # Expectile: L(u) = |tau - 1(u < 0)| u^2 for u = [2, -2, 0.5, 0]:
        # tau = 0.7: [0.7 * 4, 0.3 * 4, 0.7 * 0.25, 0] = [2.8, 1.2, 0.175, 0].
        (losses.expectile_loss, 0.7, [2.8, 1.2, 0.175, 0.0]),
        # tau = 0.9: [0.9 * 4, 0.1 * 4, 0.9 * 0.25, 0] = [3.6, 0.4, 0.225, 0].
        (losses.expectile_loss, 0.9, [3.6, 0.4, 0.225, 0.0]),
        # tau = 0.5 is half the squared error: [2, 2, 0.125, 0].
        (losses.expectile_loss, 0.5, [2.0, 2.0, 0.125, 0.0]),
        # Quantile: L(u) = |tau - 1(u < 0)| |u| for u = [2, -2, 0.5, 0]:
        # tau = 0.7: [1.4, 0.6, 0.35, 0];  tau = 0.5: half the absolute error [1, 1, 0.25, 0].
        (losses.quantile_loss, 0.7, [1.4, 0.6, 0.35, 0.0]),
        (losses.quantile_loss, 0.5, [1.0, 1.0, 0.25, 0.0]),
    ],
)
def test_asymmetric_losses_hand_computed(variant, loss_fn, tau, expected):
    diff = f32(2.0, -2.0, 0.5, 0.0)
    loss = variant(lambda u: loss_fn(u, tau), diff)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


@pytest.mark.parametrize("expectile", [0.1, 0.5, 0.7, 0.9])
def test_expectile_loss_matches_rlax(variant, expectile):
    # rlax.expectile_loss(predictions, targets, tau) computes diff = targets - predictions and
    # weight |tau - 1(diff < 0)|, i.e. our convention with u = target - prediction (IQL:
    # u = Q(s, a) - V(s), prediction V, target Q).
    rng = np.random.default_rng(0)
    predictions = jnp.asarray(rng.normal(size=(5, 7)), jnp.float32)
    targets = jnp.asarray(rng.normal(size=(5, 7)), jnp.float32)
    ours = variant(lambda p, t: losses.expectile_loss(t - p, expectile), predictions, targets)
    oracle = rlax.expectile_loss(predictions, targets, expectile)
    np.testing.assert_allclose(ours, oracle, rtol=1e-6)


def test_expectile_loss_gradient_is_asymmetric():
    # d/du tau u^2 = 2 tau u for u > 0; d/du (1 - tau) u^2 = 2 (1 - tau) u for u < 0.
    # tau = 0.7: u = 1 -> 1.4; u = -1 -> -0.6.
    grad = jax.grad(lambda u: losses.expectile_loss(u, 0.7).sum())(f32(1.0, -1.0))
    np.testing.assert_allclose(grad, [1.4, -0.6], rtol=1e-6)


def test_awr_weights_hand_computed_and_clipped(variant):
    # min(exp(beta A), max_weight) with beta = 0.5, max_weight = 100:
    #   A = 0 -> 1;  A = 1 -> e^0.5 = 1.6487;  A = -2 -> e^-1 = 0.3679;
    #   A = 10 -> e^5 = 148.4 clipped to 100.
    advantage = f32(0.0, 1.0, -2.0, 10.0)
    weights = variant(lambda a: losses.awr_weights(a, 0.5, 100.0), advantage)
    np.testing.assert_allclose(weights, [1.0, np.exp(0.5), np.exp(-1.0), 100.0], rtol=1e-6)
    # A smaller clip: e^0.5 = 1.65 > 1.5 is clipped too.
    weights = variant(lambda a: losses.awr_weights(a, 0.5, 1.5), advantage)
    np.testing.assert_allclose(weights, [1.0, 1.5, np.exp(-1.0), 1.5], rtol=1e-6)


def test_awr_weights_stop_gradient():
    # The weights are constants of the actor loss: no gradient flows back into the advantage
    # (and hence into Q or V), even where exp(beta A) is not clipped.
    grad = jax.grad(lambda a: losses.awr_weights(a, 3.0).sum())(f32(0.0, 0.1, -1.0))
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0])


def test_bc_mse_sums_over_action_dims(variant):
    # ||pi(s) - a||^2 per example: [0.5^2 + 0.5^2, 0^2 + 2^2] = [0.5, 4].
    predicted = jnp.asarray([[0.5, -0.5], [1.0, 1.0]], jnp.float32)
    dataset = jnp.asarray([[0.0, 0.0], [1.0, -1.0]], jnp.float32)
    np.testing.assert_allclose(variant(losses.bc_mse, predicted, dataset), [0.5, 4.0], rtol=1e-6)


def test_bc_mse_rejects_mismatched_shapes():
    with pytest.raises(AssertionError):
        losses.bc_mse(jnp.zeros((4, 2)), jnp.zeros((4, 1)))


def test_td3_bc_lambda_hand_computed_and_detached(variant):
    # lambda = alpha / mean|Q| = 2.5 / mean(|1|, |-3|) = 2.5 / 2 = 1.25.
    q = f32(1.0, -3.0)
    np.testing.assert_allclose(variant(lambda q: losses.td3_bc_lambda(q, 2.5), q), 1.25, rtol=1e-6)
    # Detached: d/dQ [lambda * sum Q] = lambda (1.25 per entry), with no term from lambda(Q).
    grad = jax.grad(lambda q: losses.td3_bc_lambda(q, 2.5) * q.sum())(q)
    np.testing.assert_allclose(grad, [1.25, 1.25], rtol=1e-6)


@pytest.mark.parametrize(
    "sampled_q, log_density, temperature, expected",
    [
        # Q - log mu = [0, 0]: logsumexp = log(e^0 + e^0) = log 2.
        ([1.0, 2.0], [1.0, 2.0], 1.0, np.log(2.0)),
        # Uniform proposals in [-1, 1]^2: log mu = 2 log 0.5 = -log 4 for K = 3 actions with Q = 0:
        # logsumexp(log 4 * [1, 1, 1]) = log(3 * 4) = log 12.
        ([0.0, 0.0, 0.0], [-np.log(4.0)] * 3, 1.0, np.log(12.0)),
        # Q - log mu = [0, log 3]: log(1 + 3) = log 4.
        ([0.0, np.log(3.0)], [0.0, 0.0], 1.0, np.log(4.0)),
        # Temperature 0.5: 0.5 * log(e^(0 / 0.5) + e^(log 3 / 0.5)) = 0.5 * log(1 + 9) = 0.5 log 10.
        ([0.0, np.log(3.0)], [0.0, 0.0], 0.5, 0.5 * np.log(10.0)),
        # Temperature 2 with Q - log mu = [0, 0]: 2 * log 2.
        ([1.0, 2.0], [1.0, 2.0], 2.0, 2.0 * np.log(2.0)),
    ],
    ids=["equal", "uniform_proposal", "unequal", "temperature_0.5", "temperature_2"],
)
def test_cql_logsumexp_hand_computed(variant, sampled_q, log_density, temperature, expected):
    # A leading batch axis of 2 identical states: the soft maximum reduces the last axis only.
    sampled_q = jnp.tile(jnp.asarray(sampled_q, jnp.float32), (2, 1))
    log_density = jnp.tile(jnp.asarray(log_density, jnp.float32), (2, 1))
    result = variant(lambda q, mu: losses.cql_logsumexp(q, mu, temperature), sampled_q, log_density)
    assert result.shape == (2,)
    np.testing.assert_allclose(result, [expected, expected], rtol=1e-6)


def test_cql_logsumexp_rejects_mismatched_shapes():
    with pytest.raises(AssertionError):
        losses.cql_logsumexp(jnp.zeros((2, 3)), jnp.zeros((3,)))


def _tanh_normal(mean, std):
    """tanh(N(mean, diag(std^2))) over [B, action_dim] parameters, as ``TanhGaussianActor``."""
    base = distrax.MultivariateNormalDiag(mean, std)
    return distrax.Transformed(base, distrax.Block(distrax.Tanh(), ndims=1))


def _tanh_normal_log_prob(action, mean, std):
    """log pi(a) = sum_i log N(atanh a_i; mean_i, std_i) - log(1 - a_i^2), in float64."""
    action, mean, std = (np.asarray(x, np.float64) for x in (action, mean, std))
    pre_tanh = np.arctanh(action)
    normal = -0.5 * ((pre_tanh - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return np.sum(normal - np.log1p(-(action**2)), axis=-1)


def test_gaussian_log_prob_clipped_finite_at_bounds(variant):
    # Distribution parameters with the batch shape [B = 2, action_dim = 2] of the actions.
    mean, std = jnp.tile(f32(0.2, -0.1), (2, 1)), jnp.tile(f32(0.5, 1.0), (2, 1))
    bounds = jnp.asarray([[1.0, -1.0], [-1.0, 1.0]], jnp.float32)
    # Unclipped, a = +-1 has atanh(a) = +-inf: the tanh density is not finite there.
    assert not np.isfinite(_tanh_normal(mean, std).log_prob(bounds)).any()
    log_prob = variant(
        lambda m, s, a: losses.gaussian_log_prob_clipped(_tanh_normal(m, s), a), mean, std, bounds
    )
    assert np.isfinite(log_prob).all()
    # Clipped to c = 1 - 1e-5 (rounded to float32): the tanh density at +-c, by hand.
    clip = np.float64(np.float32(1.0 - 1e-5))
    expected = _tanh_normal_log_prob(np.asarray(bounds) * clip, mean, std)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-3)


def test_gaussian_log_prob_clipped_is_log_prob_inside(variant):
    mean, std = jnp.tile(f32(0.2, -0.1), (2, 1)), jnp.tile(f32(0.5, 1.0), (2, 1))
    action = jnp.asarray([[0.3, -0.2], [0.9, 0.0]], jnp.float32)
    log_prob = variant(
        lambda m, s, a: losses.gaussian_log_prob_clipped(_tanh_normal(m, s), a), mean, std, action
    )
    np.testing.assert_allclose(log_prob, _tanh_normal_log_prob(action, mean, std), rtol=1e-5)


def test_ensemble_td_loss_sums_the_heads_mean_squared_errors(variant):
    # Heads Q_1 = (1, 2), Q_2 = (0, 4), targets y = (1, 1):
    #   head 1: ((1-1)^2 + (2-1)^2) / 2 = 0.5;  head 2: ((0-1)^2 + (4-1)^2) / 2 = 5;  sum 5.5.
    q, target = jnp.float32([[1.0, 2.0], [0.0, 4.0]]), f32(1.0, 1.0)
    np.testing.assert_allclose(variant(losses.ensemble_td_loss, q, target), 5.5, rtol=1e-6)
    with pytest.raises(AssertionError):
        losses.ensemble_td_loss(q, f32(1.0, 1.0, 1.0))


def test_smoothed_target_action_clips_noise_then_action():
    # Noise std 1e4 makes (for this key) every draw exceed the clip c = 0.5 in size, so
    # a' + clip(noise) is a' +- 0.5, then clipped to [-1, 1]: 0.9 + 0.5 -> 1.0, 0.9 - 0.5 -> 0.4.
    action = jnp.float32([[0.9, -0.9, 0.0]] * 64)
    smoothed = jax.jit(lambda a, k: losses.smoothed_target_action(a, k, 1e4, 0.5))(
        action, jax.random.key(0))
    for column, (high, low) in enumerate(((1.0, 0.4), (-0.4, -1.0), (0.5, -0.5))):
        values = np.asarray(smoothed[:, column])
        assert np.all(np.isclose(values, high) | np.isclose(values, low))
        assert np.any(np.isclose(values, high)) and np.any(np.isclose(values, low))
    # Zero noise std leaves the action unchanged.
    np.testing.assert_array_equal(
        losses.smoothed_target_action(action, jax.random.key(1), 0.0, 0.5), action)


def test_sac_temperature_pieces_hand_computed(variant):
    assert losses.sac_target_entropy(None, 6) == -6.0 and losses.sac_target_entropy(-1.5, 6) == -1.5
    # log alpha form: -mean(log alpha (log pi + target)) = -log 2 * mean(-1 - 2, 1 - 2) = 2 log 2.
    loss = variant(lambda la, lp: losses.log_alpha_temperature_loss(la, lp, -2.0),
                   jnp.log(jnp.float32(2.0)), f32(-1.0, 1.0))
    np.testing.assert_allclose(loss, 2.0 * np.log(2.0), rtol=1e-6)
    # alpha form: alpha (H - target) = 2 (1 - (-2)) = 6; the gradient in alpha is H - target = 3.
    loss, grad = jax.value_and_grad(losses.alpha_temperature_loss)(
        jnp.float32(2.0), jnp.float32(1.0), -2.0)
    np.testing.assert_allclose((loss, grad), (6.0, 3.0), rtol=1e-6)
