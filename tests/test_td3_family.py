"""Tests of TD3-RKL, MISA and ReBRAC and of their shared pieces (``generative/mixture.py``,
``generative/mcmc.py``).

* Math against references: the reverse-KL estimate against the closed form for two Gaussians;
  the Gaussian mixture's log-prob, moments and tanh-squashed log-prob against distrax; HMC
  against a known Gaussian; coverage weights that fall as the behavior's coverage widens.
* Hand-computed losses. Networks are replaced by simple stand-ins: constant actors (all-zero
  weights, output bias b: pi(s) = tanh(b)), linear critics Q_i(s, a) = w_i . [s, a] + c_i, fixed
  per-state mixtures, and ``FixedPolicy`` with known samples and log-probs.
* MISA reduces to CQL and to TD3+BC: under the reducing configuration MISA builds the same
  networks, and on the same params, batch and keys its losses and gradients equal theirs.
* TD3-RKL's central claim on a probe whose actions are bimodal in every state: TD3+BC's MSE
  term settles on the out-of-distribution mean, TD3-RKL's reverse KL on one of the modes.
"""

import dataclasses
import functools

import chex
import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.training.train_state import TrainState

from jaxrl_offline import networks, state as state_lib
from jaxrl_offline.generative import mcmc, mixture
from jaxrl_offline.local_suite import synthetic
from jaxrl_offline.runner import training
from jaxrl_offline.algorithms import cql, misa, rebrac, td3_bc, td3_rkl
from jaxrl_offline.state import TargetTrainState
from jaxrl_offline.types import Transition

from helpers import (DATA_LOG_PROB, POLICY_ACTION, POLICY_LOG_PROB, FixedPolicy, hand_batch,
                     zeroed)

_rng = np.random.default_rng(5)
# B = 4 transitions (obs_dim 3, action_dim 2), terminal in rows 1 and 3.
BATCH = hand_batch(_rng)
CRITIC = {"w": np.float32([[0.5, -0.3, 0.2, 1.0, -0.7], [0.1, 0.4, -0.6, -0.5, 0.9]]),
          "c": np.float32([0.2, -0.1])}
TARGET = {"w": np.float32([[0.3, 0.2, -0.4, 0.8, 0.6], [-0.2, 0.5, 0.1, -0.9, 0.4]]),
          "c": np.float32([0.5, 0.3])}
# A fixed two-component behavior mixture per state: logits [B, K], means / log-stds [B, K, A].
BEHAVIOR = mixture.MixtureParams(
    logits=_rng.normal(size=(4, 2)).astype(np.float32),
    means=_rng.uniform(-0.8, 0.8, (4, 2, 2)).astype(np.float32),
    log_stds=_rng.uniform(-2.0, -0.5, (4, 2, 2)).astype(np.float32),
)


def linear_q(params, obs, action):
    """Q_i(s, a) = w_i . [s, a] + c_i: [..., obs_dim], [..., A] -> [2, ...]."""
    values = jnp.concatenate([obs, action], axis=-1) @ params["w"].T
    return jnp.moveaxis(values + jnp.broadcast_to(params["c"], values.shape), -1, 0)


def q_reference(params, obs, action):
    inputs = np.concatenate([obs, action], axis=-1).astype(np.float64)
    return (inputs @ params["w"].T.astype(np.float64) + params["c"]).T


def linear_critic_state():
    return TargetTrainState.create(apply_fn=linear_q, params=CRITIC, target_params=TARGET,
                                   tx=state_lib.make_optimizer(1e-3))


def constant_actor(bias, target_bias, layer_norm=False):
    """A TD3 actor (and target) acting tanh(bias) (tanh(target_bias)) in every state."""
    net = networks.DeterministicActor((8, 8), 2, layer_norm=layer_norm)
    shapes = jax.eval_shape(net.init, jax.random.key(0), BATCH.obs)
    return TargetTrainState.create(
        apply_fn=net.apply, params=zeroed(shapes, **{"Dense_0/bias": bias}),
        target_params=zeroed(shapes, **{"Dense_0/bias": target_bias}),
        tx=state_lib.make_optimizer(1e-3))


def mixture_log_prob_reference(params, action):
    """log sum_k w_k prod_i N(a_i; mu_ki, sigma_ki) (float64); params [B, K, ...], action [B, A]."""
    logits, means, log_stds = (np.asarray(x, np.float64) for x in params)
    log_w = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    z = (np.asarray(action, np.float64)[:, None, :] - means) / np.exp(log_stds)
    component = np.sum(-0.5 * z**2 - log_stds - 0.5 * np.log(2 * np.pi), axis=-1)
    return np.log(np.sum(np.exp(log_w + component), axis=-1))


def mixture_std_reference(params):
    """Per-dimension std of each state's mixture (law of total variance), [B, A]."""
    weights = np.exp(params.logits) / np.exp(params.logits).sum(-1, keepdims=True)
    mean = np.einsum("bk,bka->ba", weights, params.means)
    second = np.einsum("bk,bka->ba", weights, np.exp(2 * params.log_stds) + params.means**2)
    return np.sqrt(second - mean**2)


# --- Mixture math -------------------------------------------------------------------------------


@jax.jit
def mixture_and_distrax(params, action, key):
    """Our mixture functions and distrax's ``MixtureSameFamily`` on the same mixture."""
    reference = distrax.MixtureSameFamily(
        distrax.Categorical(logits=params.logits),
        distrax.MultivariateNormalDiag(params.means, jnp.exp(params.log_stds)))
    with jax.numpy_rank_promotion("allow"):  # Inside distrax only.
        squashed = distrax.Transformed(reference, distrax.Block(distrax.Tanh(), ndims=1))
        expected = (reference.log_prob(action), squashed.log_prob(action), reference.mean(),
                    reference.variance())
    ours = (mixture.log_prob(params, action), mixture.squashed_log_prob(params, action),
            *mixture.moments(params))
    return ours, expected, mixture.sample(params, key, 20_000)


def test_mixture_log_prob_moments_and_squashing_match_distrax():
    params, action = BEHAVIOR, BATCH.action
    ours, expected, draws = mixture_and_distrax(params, action, jax.random.key(0))
    (log_prob, squashed, mean, std), (expected_log_prob, expected_squashed, *expected_moments) = (
        ours, expected)
    np.testing.assert_allclose(log_prob, expected_log_prob, rtol=1e-5)
    np.testing.assert_allclose(log_prob, mixture_log_prob_reference(params, action), rtol=1e-5)
    np.testing.assert_allclose(squashed, expected_squashed, rtol=1e-5)
    np.testing.assert_allclose(mean, expected_moments[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std**2, expected_moments[1], rtol=1e-5)
    # Draws follow the same moments (20k per state: standard errors below 0.005).
    assert draws.shape == (20_000, 4, 2)
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.02)
    np.testing.assert_allclose(draws.std(0), std, atol=0.02)


def test_gaussian_mixture_policy_shapes_and_log_std_clip():
    net = mixture.GaussianMixturePolicy((8,), action_dim=2, num_components=3, log_std_min=-1.0,
                                        log_std_max=0.5)
    shapes = jax.eval_shape(net.init, jax.random.key(0), BATCH.obs)
    big_bias = np.full(6, 7.0)  # Raw log-stds of 7 (and -7) are clipped to 0.5 (and -1).
    out = net.apply(zeroed(shapes, **{"Dense_2/bias": big_bias}), BATCH.obs)
    assert out.logits.shape == (4, 3) and out.means.shape == out.log_stds.shape == (4, 3, 2)
    np.testing.assert_allclose(out.log_stds, 0.5)
    out = net.apply(zeroed(shapes, **{"Dense_2/bias": -big_bias}), BATCH.obs)
    np.testing.assert_allclose(out.log_stds, -1.0)


def coverage_family(stds, spread=0.3):
    """Four states, each an equal-weight mixture at +-spread with component std ``stds[b]``."""
    stds, spreads = np.broadcast_to(stds, (4,)), np.broadcast_to(spread, (4,))
    means = np.stack([spreads, -spreads], axis=1)[..., None] * np.ones((1, 1, 2))
    log_stds = np.broadcast_to(np.log(stds)[:, None, None], (4, 2, 2))
    return mixture.MixtureParams(np.zeros((4, 2), np.float32), means.astype(np.float32),
                                 log_stds.astype(np.float32))


@pytest.mark.parametrize("kind", ["inverse_std", "exp_neg_entropy"])
def test_coverage_weights_decrease_as_behavior_coverage_widens(kind):
    # Wider components at fixed mode spread: wider coverage, smaller weight, for both kinds.
    params = coverage_family(np.float32([0.05, 0.1, 0.2, 0.4]))
    weights = jax.jit(functools.partial(mixture.coverage_weights, kind=kind, num_samples=2000))(
        params, key=jax.random.key(0))
    assert np.all(np.diff(weights) < 0), weights
    np.testing.assert_allclose(weights.mean(), 1.0, rtol=1e-5)  # Batch-normalized.
    if kind == "inverse_std":
        # Modes moving apart at a fixed component width also widen the coverage.
        spread = coverage_family(0.1, spread=np.float32([0.0, 0.2, 0.4, 0.8]))
        assert np.all(np.diff(mixture.coverage_weights(spread, kind)) < 0)
        # Exact value: w_b = (1 / s_b) / mean(1 / s), s_b = sqrt(0.3^2 + std_b^2) per dimension.
        raw = 1.0 / np.sqrt(0.09 + np.float64([0.05, 0.1, 0.2, 0.4]) ** 2)
        np.testing.assert_allclose(weights, raw / raw.mean(), rtol=1e-5)
    clipped = mixture.coverage_weights(params, kind, jax.random.key(1), 10, max_weight=1.2)
    assert clipped.max() <= 1.2
    np.testing.assert_array_equal(mixture.coverage_weights(params, "none"), np.ones(4))
    with pytest.raises(ValueError, match="unknown coverage weight"):
        mixture.coverage_weights(params, "entropy")


# --- Reverse KL ---------------------------------------------------------------------------------


def test_reverse_kl_two_gaussians_matches_closed_form():
    # KL(N(m1, s1) || N(m2, s2)) = sum_i log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2.
    m1, s1 = np.float32([[0.1, -0.3], [0.5, 0.0], [-0.2, 0.4]]), np.float32([[0.3, 0.2]] * 3)
    m2, s2 = np.float32([[0.0, 0.0], [0.1, 0.2], [-0.2, 0.1]]), np.float32([[0.25, 0.5]] * 3)
    closed_form = np.sum(np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5, axis=-1)
    policy = distrax.MultivariateNormalDiag(m1, s1)
    np.testing.assert_allclose(policy.kl_divergence(distrax.MultivariateNormalDiag(m2, s2)),
                               closed_form, rtol=1e-5)
    behavior = mixture.MixtureParams(np.zeros((3, 1), np.float32), m2[:, None], np.log(s2)[:, None])
    config = td3_rkl.Config(num_kl_samples=40_000, actor_q_action="sample")
    estimate = jax.jit(lambda mean, std, behavior, key: td3_rkl.reverse_kl(
        config, distrax.MultivariateNormalDiag(mean, std), behavior, key))
    kl, q_action = estimate(m1, s1, behavior, jax.random.key(0))
    assert kl.shape == (3,) and q_action.shape == (3, 2)
    # Standard error of the 40k-sample mean of log pi - log beta is below 0.01 here.
    np.testing.assert_allclose(kl, closed_form, atol=0.04)
    # Deterministic variant: -log beta(pi(s)|s) = sum_i (pi_i - m_i)^2 / (2 s_i^2)
    #   + log(s_i sqrt(2 pi)).
    deterministic = dataclasses.replace(config, actor_type="deterministic")
    neg_log_beta, _ = td3_rkl.reverse_kl(deterministic, jnp.asarray(m1), behavior, None)
    expected = np.sum((m1 - m2) ** 2 / (2 * s2**2) + np.log(s2 * np.sqrt(2 * np.pi)), axis=-1)
    np.testing.assert_allclose(neg_log_beta, expected, rtol=1e-5)


# --- TD3-RKL losses -----------------------------------------------------------------------------


def rkl_state(config, bias, target_bias):
    behavior = TrainState.create(apply_fn=lambda params, obs: params["mixture"],
                                 params={"mixture": BEHAVIOR}, tx=state_lib.make_optimizer(1e-3))
    return td3_rkl.AgentState(constant_actor(bias, target_bias), linear_critic_state(), behavior,
                              jax.random.key(0), jnp.zeros((), jnp.int32))


def test_td3_rkl_deterministic_actor_behavior_and_critic_losses():
    config = td3_rkl.Config(actor_type="deterministic", coverage_max_weight=None, policy_noise=0.0)
    bias, target_bias = np.float32([0.3, -0.6]), np.float32([0.8, -0.4])
    state = rkl_state(config, bias, target_bias)
    # Actor: pi(s) = tanh(b); KL_hat(s) = -log beta_s(tanh b); w(s) = (1 / mean_i std_i(s)) /
    # batch mean; lambda = 2.5 / mean|Q1(s, pi)|; loss = -lambda mean Q1 + mean w KL_hat.
    action = np.tile(np.tanh(bias), (4, 1))
    kl = -mixture_log_prob_reference(BEHAVIOR, action)
    raw = 1.0 / mixture_std_reference(BEHAVIOR).mean(-1)
    weights = raw / raw.mean()
    q1 = q_reference(CRITIC, BATCH.obs, action)[0]
    lmbda = 2.5 / np.abs(q1).mean()
    expected = -lmbda * q1.mean() + np.mean(weights * kl)
    loss, metrics = td3_rkl.actor_loss(state.actor.params, state, BATCH, jax.random.key(1), config)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["actor/reverse_kl"], kl.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["actor/weight_max"], weights.max(), rtol=1e-5)
    # Behavior: -mean_B log beta_s(a_data).
    nll, _ = td3_rkl.behavior_loss(state.behavior.params, state, BATCH, config)
    np.testing.assert_allclose(nll, -mixture_log_prob_reference(BEHAVIOR, BATCH.action).mean(),
                               rtol=1e-5)
    # Critic (no smoothing noise): y = r + gamma (1 - d) min_i Q'_i(s', tanh(b')).
    next_q = q_reference(TARGET, BATCH.next_obs, np.tile(np.tanh(target_bias), (4, 1))).min(0)
    target = BATCH.reward + 0.99 * (1.0 - BATCH.terminal) * next_q
    q = q_reference(CRITIC, BATCH.obs, BATCH.action)
    loss, _ = td3_rkl.critic_loss(state.critic.params, state, BATCH, jax.random.key(2), config)
    np.testing.assert_allclose(loss, np.sum(np.mean((q - target) ** 2, axis=1)), rtol=1e-5)


@pytest.mark.parametrize("step, fitted", [(0, True), (5, False)])
def test_td3_rkl_fits_behavior_only_before_behavior_steps(step, fitted):
    # Before behavior_steps: one Adam step on the NLL; from then on beta is frozen and its NLL on
    # the batch is still reported (a forward pass, no gradient).
    config = td3_rkl.Config(actor_type="deterministic", coverage_max_weight=None, behavior_steps=5)
    state = rkl_state(config, np.float32([0.3, -0.6]), np.float32([0.8, -0.4]))
    state = state.replace(step=jnp.asarray(step, jnp.int32))
    new_state, metrics = jax.jit(td3_rkl.update, static_argnums=0)(config, state, BATCH)
    nll, _ = td3_rkl.behavior_loss(state.behavior.params, state, BATCH, config)
    np.testing.assert_allclose(metrics["actor/behavior_nll"], nll, rtol=1e-6)
    changed = jax.tree.map(lambda new, old: bool(np.any(np.asarray(new) != np.asarray(old))),
                           new_state.behavior.params, state.behavior.params)
    assert any(jax.tree.leaves(changed)) == fitted
    assert int(new_state.behavior.step) == int(fitted)


# --- ReBRAC -------------------------------------------------------------------------------------


def test_rebrac_with_next_actions_follows_episodes():
    # Rows 0-2: one episode s0 -> s1 -> s2 -> s3 (cut); rows 3-4: s4 -> s5 -> end (terminal).
    states = np.arange(7, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    obs, next_obs = states[[0, 1, 2, 4, 5]], states[[1, 2, 3, 5, 6]]
    action = np.float32([[0.1], [0.2], [0.3], [0.4], [0.5]])
    data = Transition(obs, action, np.zeros(5, np.float32), next_obs,
                      np.float32([0, 0, 0, 0, 1]))
    out = rebrac.with_next_actions(data)
    # Episode ends (rows 2 and 4) have no next action in the data: they keep their own.
    np.testing.assert_allclose(out.next_action, [[0.2], [0.3], [0.3], [0.5], [0.5]])
    np.testing.assert_array_equal(out.obs, obs)
    # The runner's hook gives the same dataset, and batches sampled from it keep next_action.
    prepared = rebrac.prepare_dataset(rebrac.Config(), data)
    np.testing.assert_array_equal(prepared.next_action, out.next_action)
    batch = training.sample_batch(jax.tree.map(jnp.asarray, prepared), jax.random.key(0), 3)
    assert isinstance(batch, rebrac.TransitionWithNextAction) and batch.next_action.shape == (3, 1)


@pytest.mark.parametrize("with_next", [True, False], ids=["dataset_next_action", "fallback"])
def test_rebrac_critic_and_actor_losses(with_next):
    config = rebrac.Config(policy_noise=0.0, actor_bc_coef=0.05, critic_bc_coef=0.3)
    bias, target_bias = np.float32([0.3, -0.6]), np.float32([0.8, -0.4])
    state = rebrac.AgentState(constant_actor(bias, target_bias, layer_norm=True),
                              linear_critic_state(), jax.random.key(0), jnp.zeros((), jnp.int32))
    next_data_action = _rng.uniform(-0.9, 0.9, (4, 2)).astype(np.float32)
    batch = rebrac.TransitionWithNextAction(*BATCH, next_action=next_data_action)
    if not with_next:
        batch, next_data_action = BATCH, BATCH.action  # Fallback: a'_data is the batch action.
    # Critic: a' = tanh(b'); y = r + gamma (1 - d) (min_i Q'_i(s', a') - beta_c ||a' - a'_data||^2).
    next_action = np.tile(np.tanh(target_bias), (4, 1))
    penalty = np.sum((next_action - next_data_action) ** 2, axis=-1)
    next_value = q_reference(TARGET, BATCH.next_obs, next_action).min(0) - 0.3 * penalty
    target = BATCH.reward + 0.99 * (1.0 - BATCH.terminal) * next_value
    q = q_reference(CRITIC, BATCH.obs, BATCH.action)
    loss, metrics = rebrac.critic_loss(state.critic.params, state, batch, jax.random.key(1), config)
    np.testing.assert_allclose(loss, np.sum(np.mean((q - target) ** 2, axis=1)), rtol=1e-5)
    np.testing.assert_allclose(metrics["critic/bc_penalty"], penalty.mean(), rtol=1e-5)
    # Actor: pi(s) = tanh(b) (the LayerNorm actor with zero weights is still constant);
    # loss = mean_B [beta_a ||pi - a||^2 - min_i Q_i(s, pi) / mean_B |min_i Q_i(s, pi)|].
    action = np.tile(np.tanh(bias), (4, 1))
    q_pi = q_reference(CRITIC, BATCH.obs, action).min(0)
    expected = np.mean(0.05 * np.sum((action - BATCH.action) ** 2, -1) - q_pi / np.abs(q_pi).mean())
    loss, metrics = rebrac.actor_loss(state.actor.params, state, batch, config)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    strict = dataclasses.replace(config, next_action_fallback="error")
    if not with_next:
        with pytest.raises(ValueError, match="with_next_actions"):
            rebrac.critic_loss(state.critic.params, state, batch, jax.random.key(2), strict)


# --- MISA: hand-computed losses -----------------------------------------------------------------

def misa_fixed_state():
    actor = TrainState.create(apply_fn=lambda params, obs: FixedPolicy(obs.shape[:-1]),
                              params={}, tx=state_lib.make_optimizer(1e-3))
    alpha_net = networks.Temperature(2.0)
    alpha = TrainState.create(apply_fn=alpha_net.apply, params=alpha_net.init(jax.random.key(0)),
                              tx=state_lib.make_optimizer(1e-3))
    return misa.AgentState(actor, linear_critic_state(), alpha, jax.random.key(0),
                           jnp.zeros((), jnp.int32), mcmc_step_size=jnp.float32(1.0))


def test_misa_critic_loss_hand_computed():
    config = misa.Config(num_actions=3)
    state = misa_fixed_state()
    # TD: a' = POLICY_ACTION, y = r + gamma (1 - d) min_i Q'_i(s', a'). Regularizer: the N = 3
    # policy actions are equal, so logsumexp_k Q_i(s, a_k) = Q_i(s, a_pi) + log 3 and, with the
    # code's log(batch size) normalization, R_i = mean_B [Q_i(s, a_pi) + log 3 - log 4 - Q_i(s, a)].
    policy_action = np.tile(POLICY_ACTION, (4, 1))
    next_q = q_reference(TARGET, BATCH.next_obs, policy_action).min(0)
    target = BATCH.reward + 0.99 * (1.0 - BATCH.terminal) * next_q
    q = q_reference(CRITIC, BATCH.obs, BATCH.action)
    td_loss = np.sum(np.mean((q - target) ** 2, axis=1))
    gap = np.mean(q_reference(CRITIC, BATCH.obs, policy_action) + np.log(3 / 4) - q, axis=1)
    loss, metrics = misa.critic_loss(state.critic.params, state, BATCH, jax.random.key(1), config)
    np.testing.assert_allclose(metrics["critic/td_loss"], td_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics["critic/mi_gap"], gap.mean(), rtol=1e-5)
    np.testing.assert_allclose(loss, td_loss + 5.0 * gap.sum(), rtol=1e-5)


def test_misa_actor_and_alpha_losses_hand_computed():
    config = misa.Config()
    state = misa_fixed_state()
    mcmc_actions = jnp.zeros((5, 4, 2))
    # -mean min_i Q_i(s, a~) + 0.5 * alpha log pi(a~) + 0.5 * (-log pi(a_data)) + 0.1 log pi(a_mcmc)
    # with alpha = 2, log pi(a~) = -1, log pi(a_data) = log pi(a_mcmc) = -0.3.
    q = q_reference(CRITIC, BATCH.obs, np.tile(POLICY_ACTION, (4, 1))).min(0)
    expected = -q.mean() + 0.5 * 2.0 * POLICY_LOG_PROB - 0.5 * DATA_LOG_PROB + 0.1 * DATA_LOG_PROB
    loss, metrics = misa.actor_loss(state.actor.params, state, BATCH, jax.random.key(1),
                                    mcmc_actions, config)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["actor/bc_loss"], -DATA_LOG_PROB, rtol=1e-6)
    # Temperature: -log(alpha) (log pi + target_entropy) = -log 2 (-1 - 2) = 3 log 2.
    alpha_loss, _ = misa.alpha_loss(state.alpha.params, state, metrics["actor/log_prob"], -2.0)
    np.testing.assert_allclose(alpha_loss, 3.0 * np.log(2.0), rtol=1e-5)


def test_misa_correction_evaluates_the_policy_once_per_state():
    # The HMC correction's gradient with pi(.|s) broadcast over the draws equals the gradient with
    # the states tiled once per draw (the old, mcmc_num_samples times costlier form).
    actor_net = networks.TanhGaussianActor((8,), 2, -5.0, 2.0, -1.0, 9.0)
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)
    draws = jnp.asarray(np.random.default_rng(1).uniform(-0.9, 0.9, size=(5, 4, 2)), jnp.float32)
    params = actor_net.init(jax.random.key(0), obs)

    def broadcast(p):
        return networks.log_prob_of_samples(actor_net.apply(p, obs), draws).mean()

    def tiled(p):
        tiled_obs = jnp.broadcast_to(obs[None], (5, 4, 3))
        return actor_net.apply(p, tiled_obs).log_prob(draws).mean()

    np.testing.assert_allclose(broadcast(params), tiled(params), rtol=1e-6)
    chex.assert_trees_all_close(jax.grad(broadcast)(params), jax.grad(tiled)(params), rtol=1e-5,
                                atol=1e-6)


def test_hmc_samples_a_known_gaussian_inside_its_support():
    # Target N(0.3, std^2) per dimension, with no density outside (-1, 1) (like tanh policies).
    def log_density(x, std):
        inside = jnp.all(jnp.abs(x) < 1.0, axis=-1)
        return jnp.where(inside, jnp.sum(-0.5 * ((x - 0.3) / std) ** 2, -1), jnp.nan)

    @jax.jit  # std and step size are traced: one compile for both runs.
    def run(key, std, step_size):
        return mcmc.hmc_chains(functools.partial(log_density, std=std), jnp.zeros((64, 2)), key,
                               num_samples=200, burnin_steps=20, leapfrog_steps=3,
                               step_size=step_size)

    draws, accepted = run(jax.random.key(0), 0.2, 0.15)
    assert draws.shape == (200, 64, 2) and accepted.shape == (200, 64)
    np.testing.assert_allclose(draws.mean(), 0.3, atol=0.03)
    np.testing.assert_allclose(draws.std(), 0.2, atol=0.03)
    assert accepted.mean() > 0.5
    # A wide target and long trajectories: many proposals leave (-1, 1); they are rejected.
    wide, wide_accepted = run(jax.random.key(1), 2.0, 0.5)
    assert np.all(np.abs(wide) < 1.0) and 0.05 < wide_accepted.mean() < 0.95


def test_hmc_step_size_adapts_toward_the_target_acceptance():
    # adapt_step_size by hand: 1.0 * exp(0.5 (0.25 - 0.75)) = exp(-0.25) = 0.778801.
    np.testing.assert_allclose(mcmc.adapt_step_size(1.0, 0.25, 0.75, 0.5), 0.778801, rtol=1e-6)
    assert mcmc.adapt_step_size(0.3, 0.9, 0.75, 0.0) == 0.3  # Rate 0: fixed.

    # N(0.3, 0.2^2) inside (-1, 1), started with MISA's step 1.0: almost every proposal rejected.
    def log_density(x):
        inside = jnp.all(jnp.abs(x) < 1.0, axis=-1)
        return jnp.where(inside, jnp.sum(-0.5 * ((x - 0.3) / 0.2) ** 2, -1), jnp.nan)

    @jax.jit
    def adapt(key):
        def iteration(step_size, iteration_key):
            _, accepted = mcmc.hmc_chains(log_density, jnp.zeros((32, 2)), iteration_key,
                                          num_samples=10, burnin_steps=2, leapfrog_steps=2,
                                          step_size=step_size)
            rate = accepted.mean()
            return mcmc.adapt_step_size(step_size, rate, 0.75, 1.0), (step_size, rate)
        _, (sizes, rates) = jax.lax.scan(iteration, jnp.float32(1.0), jax.random.split(key, 60))
        return sizes, rates

    sizes, rates = adapt(jax.random.key(0))
    assert rates[0] < 0.1 and sizes[-1] < 0.5, (rates[:3], sizes[-1])
    np.testing.assert_allclose(rates[-20:].mean(), 0.75, atol=0.1)


def test_misa_records_acceptance_and_adapts_its_step_size():
    config = misa.Config(actor_hidden_dims=(8,), critic_hidden_dims=(8,), batch_size=16,
                         num_actions=2, mcmc_num_samples=2, mcmc_burnin_steps=1,
                         mcmc_adaptation_rate=0.5)
    dataset = jax.tree.map(jnp.asarray, synthetic.bimodal_probe(64, seed=0, mode=0.9))

    @jax.jit
    def run(dataset):
        state, data_key = training.init_agent(misa, config, 0, dataset)
        return training.make_train_chunk(misa, config, 20)(state, data_key, dataset)

    state, metrics = run(dataset)
    # Started at 1.0 with few acceptances: the step shrank, and the chunk's metrics show both.
    assert 0.0 <= metrics["actor/mcmc_accept_rate"] < config.mcmc_target_accept
    assert state.mcmc_step_size < 1.0 and metrics["actor/mcmc_step_size"] < 1.0
    fixed = dataclasses.replace(config, mcmc_adaptation_rate=0.0)  # The paper: fixed 1.0.
    fixed_state = misa.init(fixed, jax.random.key(0), dataset.obs[0], dataset.action[0])
    assert fixed_state.mcmc_step_size == 1.0


# --- MISA reduces to CQL and to TD3+BC --------------------------------------------------------


def perturbed_targets(train_state):
    """Targets different from the online parameters, so the TD targets test them."""
    return train_state.replace(target_params=jax.tree.map(
        lambda x: 0.9 * x + 0.01, train_state.target_params))


def misa_networks_like(config, reference_state, **train_states):
    """A MISA state with MISA's own networks (built from ``config``) and the reference's params."""
    shapes = jax.eval_shape(functools.partial(misa.init, config), jax.random.key(0),
                            BATCH.obs[0], BATCH.action[0])
    fields = {}
    for name in ("actor", "critic", "alpha"):
        own = getattr(shapes, name)
        if own is None:
            fields[name] = None
            continue
        theirs = train_states.get(name, getattr(reference_state, name))
        # Same architecture by configuration: identical parameter trees.
        chex.assert_trees_all_equal_shapes_and_dtypes(own.params, theirs.params)
        fields[name] = theirs.replace(apply_fn=own.apply_fn)
    return misa.AgentState(**fields, key=jax.random.key(0), step=jnp.zeros((), jnp.int32),
                           mcmc_step_size=jnp.float32(1.0))


def assert_same_value_and_grad(loss_a, loss_b, params):
    """Both losses and their gradients at ``params`` agree (one jitted program computes all)."""
    both = jax.jit(lambda p: (jax.value_and_grad(loss_a, has_aux=True)(p),
                              jax.value_and_grad(loss_b, has_aux=True)(p)))
    ((value_a, aux_a), grads_a), ((value_b, aux_b), grads_b) = both(params)
    np.testing.assert_allclose(value_a, value_b, rtol=1e-5)
    chex.assert_trees_all_close(grads_a, grads_b, rtol=1e-4, atol=1e-6)
    assert np.isfinite(value_a)
    return aux_a, aux_b


def test_misa_reduces_to_cql():
    cql_config = cql.Config(actor_hidden_dims=(16, 16), critic_hidden_dims=(16, 16),
                            batch_size=4, cql_num_actions=3)
    misa_config = misa.Config(
        actor_hidden_dims=(16, 16), critic_hidden_dims=(16, 16), critic_activation="relu",
        log_std_offset=0.0, log_std_min=-20.0, mean_clip=None,  # CQL's (CORL's) tanh-Gaussian.
        critic_regularizer="cql", num_actions=3, min_q_weight=10.0, log_k_norm=False,
        bc_weight=0.0, entropy_weight=1.0, unbiased_grad=False)
    cql_state = jax.jit(functools.partial(cql.init, cql_config))(
        jax.random.key(3), BATCH.obs[0], BATCH.action[0])
    cql_state = cql_state.replace(critic=perturbed_targets(cql_state.critic))
    misa_state = misa_networks_like(misa_config, cql_state)
    batch = jax.tree.map(jnp.asarray, BATCH)
    # Critic: TD + alpha_cql (importance-sampled logsumexp - Q(s, a_data)); same keys.
    (cql_metrics, _), misa_metrics = assert_same_value_and_grad(
        lambda p: cql.critic_loss(p, cql_state, batch, jax.random.key(7), cql_config),
        lambda p: misa.critic_loss(p, misa_state, batch, jax.random.key(7), misa_config),
        cql_state.critic.params)
    np.testing.assert_allclose(misa_metrics["critic/mi_gap"], cql_metrics["critic/cql_gap"],
                               rtol=1e-5)
    # Actor: mean(alpha log pi(a~|s) - min_i Q_i(s, a~)).
    cql_metrics, misa_metrics = assert_same_value_and_grad(
        lambda p: cql.actor_loss(p, cql_state, batch, jax.random.key(8), cql_config),
        lambda p: misa.actor_loss(p, misa_state, batch, jax.random.key(8), None, misa_config),
        cql_state.actor.params)
    log_prob = cql_metrics["actor/log_prob"]
    np.testing.assert_allclose(misa_metrics["actor/log_prob"], log_prob, rtol=1e-5)
    # Temperature: the same SAC loss.
    np.testing.assert_allclose(
        misa.alpha_loss(misa_state.alpha.params, misa_state, log_prob, -2.0)[0],
        cql.alpha_loss(cql_state.alpha.params, cql_state, log_prob, -2.0)[0], rtol=1e-6)


def test_misa_reduces_to_td3_bc():
    td3_config = td3_bc.Config(actor_hidden_dims=(16, 16), critic_hidden_dims=(16, 16),
                               batch_size=4)
    misa_config = misa.Config(
        actor_hidden_dims=(16, 16), critic_hidden_dims=(16, 16), critic_activation="relu",
        policy="deterministic", min_q_weight=0.0, bc_mode="mse", bc_weight=1.0,
        entropy_weight=0.0, unbiased_grad=False, q_reduction="first", q_normalization=2.5)
    td3_state = jax.jit(functools.partial(td3_bc.init, td3_config))(
        jax.random.key(4), BATCH.obs[0], BATCH.action[0])
    td3_state = td3_state.replace(actor=perturbed_targets(td3_state.actor),
                                  critic=perturbed_targets(td3_state.critic))
    batch = jax.tree.map(jnp.asarray, BATCH)
    # Critic: MISA bootstraps from its only policy, TD3+BC from its target actor: the loss is the
    # same function of the bootstrapping policy's parameters. TD3+BC draws its smoothing noise
    # from the key it gets; MISA from the first of the four keys it splits (as CQL does).
    bootstrap = td3_state.actor.replace(params=td3_state.actor.target_params)
    misa_state = misa_networks_like(misa_config, td3_state, actor=bootstrap)
    noise_key = jax.random.split(jax.random.key(7), 4)[0]
    assert_same_value_and_grad(
        lambda p: td3_bc.critic_loss(p, td3_state, batch, noise_key, td3_config),
        lambda p: misa.critic_loss(p, misa_state, batch, jax.random.key(7), misa_config),
        td3_state.critic.params)
    # Actor: -lambda mean Q1(s, pi(s)) + mean (pi(s) - a)^2, lambda = 2.5 / mean|Q1|.
    misa_state = misa_networks_like(misa_config, td3_state)
    assert_same_value_and_grad(
        lambda p: td3_bc.actor_loss(p, td3_state, batch, td3_config),
        lambda p: misa.actor_loss(p, misa_state, batch, jax.random.key(8), None, misa_config),
        td3_state.actor.params)


def test_misa_rejects_a_deterministic_policy_with_density_terms():
    with pytest.raises(ValueError, match="deterministic"):
        misa.validate(misa.Config(policy="deterministic"))  # Default bc_mode is "mle".
    with pytest.raises(ValueError, match="critic_regularizer"):
        misa.validate(misa.Config(critic_regularizer="uniform"))


# --- TD3-RKL's central claim -------------------------------------------------------------------


def train_in_chunks(algo, config, dataset, num_chunks, chunk_size):
    """One seed, ``num_chunks`` scanned chunks (one compile); returns the state after each."""
    state, data_key = jax.jit(functools.partial(training.init_agent, algo, config))(0, dataset)
    chunk = jax.jit(training.make_train_chunk(algo, config, chunk_size))
    states = []
    for chunk_key in jax.random.split(data_key, num_chunks):
        state, _ = chunk(state, chunk_key, dataset)
        states.append(state)
    return states


def test_td3_rkl_picks_a_mode_where_td3_bc_picks_the_ood_mean():
    # Every state's actions are +-0.6 (+ N(0, 0.05^2)); reward 1 at the modes, 0 at the mean 0.
    dataset = jax.tree.map(jnp.asarray, synthetic.bimodal_probe(2048, seed=0))
    obs = jnp.asarray(synthetic.bimodal_probe(256, seed=1).obs)
    # The same alpha = 0.5 for both puts them where the regularizer decides (at TD3+BC's 2.5, its
    # Q term, extrapolated between the modes, moves some states part of the way out).
    common = dict(actor_hidden_dims=(32, 32), critic_hidden_dims=(32, 32), batch_size=128,
                  actor_lr=1e-3, critic_lr=1e-3, alpha=0.5)
    bc_config = td3_bc.Config(**common)
    (bc_state,) = train_in_chunks(td3_bc, bc_config, dataset, 1, 600)
    bc_action = np.asarray(td3_bc.act(bc_config, bc_state, obs, None))
    # TD3+BC's MSE pulls to the state-conditional mean: actions near 0, where no data is.
    assert np.abs(bc_action).mean() < 0.15, np.abs(bc_action).mean()
    assert synthetic.bimodal_probe_reward(bc_action).mean() < 0.4
    # TD3-RKL (default Gaussian actor, reverse KL to a 3-component mixture fitted for 300 updates).
    rkl_config = td3_rkl.Config(**common, behavior_hidden_dims=(32, 32), behavior_num_components=3,
                                behavior_lr=3e-3, behavior_steps=300)
    fitted, final = train_in_chunks(td3_rkl, rkl_config, dataset, 2, 300)
    rkl_action = np.asarray(td3_rkl.act(rkl_config, final, obs, None))
    distance_to_mode = np.abs(np.abs(rkl_action) - synthetic.BIMODAL_MODE)
    assert distance_to_mode.max() < 0.1, distance_to_mode.max()
    assert synthetic.bimodal_probe_reward(rkl_action).mean() > 0.9
    # The behavior model was frozen after behavior_steps: the second chunk left it unchanged
    # (while the actor kept moving).
    chex.assert_trees_all_equal(fitted.behavior.params, final.behavior.params)
    moved = jax.tree.map(lambda a, b: not np.array_equal(a, b), fitted.actor.params,
                         final.actor.params)
    assert any(jax.tree.leaves(moved))
