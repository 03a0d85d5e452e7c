"""Tests of ACA (``jaxrl_offline/algorithms/aca.py``): SAC+ML losses, alignment, online losses.

Losses are checked on networks whose outputs are known by construction (as in ``test_online.py``):
all-zero weights make every critic head output its final bias (Q_k = c_k, Z_k = z_k) and the actor a
constant tanh-Gaussian (pre-tanh mean and log-std = the head biases), whose log-probabilities
``tanh_gaussian_log_prob`` computes by hand. The alignment tests use randomly initialized networks.

Compiles dominate the run time, so everything a group of tests checks is computed by one jitted
function, once per module (``constant_outputs``, ``aligned``).
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_offline import networks
from jaxrl_offline.algorithms import aca, sac, sac_ml

from helpers import small_sac_batch, zeroed

OBS_DIM, ACTION_DIM, BATCH = 3, 2, 4
# One hidden layer: faster compiles.
CONFIG = aca.Config(actor_hidden_dims=(8,), critic_hidden_dims=(8,), batch_size=BATCH)
MEAN, LOG_STD = np.float32([0.2, -0.4]), np.float32([-1.0, -0.5])
HEAD = "VmapStateActionValue_0/Dense_0/bias"  # Each critic head's output bias.


def batch():
    return small_sac_batch(OBS_DIM, ACTION_DIM)


INIT = jax.jit(functools.partial(aca.init, CONFIG))
NARROW_CLIP = dataclasses.replace(CONFIG, log_prob_clip_std=1.0)
CLIP_ACTIONS = np.float32([[0.1, -0.3], [0.9, 0.9], [-0.99, 0.5]])


def constant_state(critic=(1.5, 0.5), target=(2.0, 3.0), z=(0.3, -0.2), alpha=0.3):
    state = INIT(jax.random.key(0), jnp.zeros(OBS_DIM), jnp.zeros(ACTION_DIM))
    actor = zeroed(state.actor.params, **{"Dense_0/bias": MEAN, "Dense_1/bias": LOG_STD})
    return state.replace(
        critic=state.critic.replace(
            params=zeroed(state.critic.params, **{HEAD: np.float32(critic)[:, None]}),
            target_params=zeroed(state.critic.params, **{HEAD: np.float32(target)[:, None]})),
        value=state.value.replace(
            params=zeroed(state.value.params, **{HEAD: np.float32(z)[:, None]})),
        actor=state.actor.replace(params=actor),
        temperature=state.temperature.replace(
            params={"params": {"log_value": jnp.log(jnp.float32(alpha))}}))


def tanh_gaussian_log_prob(action, mean=MEAN, log_std=LOG_STD):
    """log pi(a) of tanh(N(mean, exp(log_std)^2)) by hand: log N(u) - sum log(1 - tanh(u)^2)."""
    u = np.arctanh(np.clip(np.asarray(action, np.float64), -1 + 1e-5, 1 - 1e-5))
    gaussian = -0.5 * ((u - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi)
    return (gaussian - np.log(1 - np.tanh(u) ** 2)).sum(-1)


def q_offset(obs, action):
    """A made-up action term b(s, a) = 0.7 sum(a) for the q_offset argument of SAC's losses."""
    return 0.7 * jnp.sum(action, axis=-1)


@jax.jit
def _constant_outputs(state, data):
    def key(seed):  # The losses draw from jax.random.key(seed); so do the samples returned here.
        return jax.random.key(seed)

    def sample(obs, seed):
        dist = state.actor.apply_fn(state.actor.params, obs)
        return networks.sample_and_log_prob(dist, key(seed))[0]

    def actor_loss(loss_fn, seed):
        return lambda params: loss_fn(params, state, data, key(seed), CONFIG)[0]

    sac_grad = jax.grad(actor_loss(sac.actor_loss, 6))(state.actor.params)
    ml_grad = jax.grad(lambda params: jnp.mean(state.actor.apply_fn(params, data.obs).log_prob(
        jnp.clip(data.action, -1 + 1e-5, 1 - 1e-5))))(state.actor.params)
    return {
        "value": aca.value_loss(state.value.params, state, data, key(5), CONFIG),
        "value_samples": sample(data.next_obs, 5),
        "actor": aca.actor_loss(state.actor.params, state, data, key(6), CONFIG),
        "actor_samples": sample(data.obs, 6),
        "actor_grad": jax.grad(actor_loss(aca.actor_loss, 6))(state.actor.params),
        "actor_grad_expected": jax.tree.map(lambda g_sac, g_ml: 60.0 * g_sac - g_ml, sac_grad,
                                            ml_grad),
        "temperature": aca.temperature_step(CONFIG, state, data.obs, key(7)),
        "temperature_samples": sample(data.obs, 7),
        "clipped": aca.clipped_log_prob(state.actor.params, state, jnp.zeros((3, OBS_DIM)),
                                        jnp.asarray(CLIP_ACTIONS), NARROW_CLIP),
        "weights": aca.interpolation_weight(CONFIG, jnp.int32([0, 8_000, 20_000, 30_000])),
        "critic_offset": sac.critic_loss(state.critic.params, state, data, key(8), CONFIG,
                                         q_offset),
        "critic_offset_samples": sample(data.next_obs, 8),
        "actor_offset": sac.actor_loss(state.actor.params, state, data, key(9), CONFIG, q_offset),
        "actor_offset_samples": sample(data.obs, 9),
    }


@pytest.fixture(scope="module")
def constant_outputs():
    """(state, batch, outputs of every loss) for the constant networks of ``constant_state``."""
    state, data = constant_state(), batch()
    outputs = jax.device_get(_constant_outputs(state, data))
    return state, data, outputs


# --- SAC+ML (offline) --------------------------------------------------------------------------


def test_value_loss_hand_computed(constant_outputs):
    _, data, out = constant_outputs
    loss, metrics = out["value"]
    # t = log pi(a'|s') + min_k z_k - alpha log pi(a'|s'), a' ~ pi(.|s'); alpha = 0.3.
    next_log_prob = tanh_gaussian_log_prob(out["value_samples"])
    t = next_log_prob + min(0.3, -0.2) - 0.3 * next_log_prob
    y = np.float64(data.reward) + 0.99 * (1 - np.float64(data.terminal)) * t
    data_log_prob = tanh_gaussian_log_prob(data.action)  # log pi(a|s) at the dataset action
    expected = np.mean((data_log_prob + 0.3 - y) ** 2) + np.mean((data_log_prob - 0.2 - y) ** 2)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    np.testing.assert_allclose(metrics["value/z_mean"], 0.05, rtol=1e-6)


def test_actor_loss_hand_computed(constant_outputs):
    _, data, out = constant_outputs
    loss, metrics = out["actor"]
    # SAC part: mean(alpha log pi(a~) - min(1.5, 0.5)); lambda = 30 / mean|0.5| = 60.
    sac_part = np.mean(0.3 * tanh_gaussian_log_prob(out["actor_samples"]) - 0.5)
    log_likelihood = np.mean(tanh_gaussian_log_prob(data.action))
    np.testing.assert_allclose(metrics["actor/lambda"], 60.0, rtol=1e-6)
    np.testing.assert_allclose(loss, 60.0 * sac_part - log_likelihood, rtol=1e-4)
    # lambda is a constant: the gradient is 60 x SAC's gradient minus the likelihood's.
    jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-3, atol=1e-5),
                 out["actor_grad"], out["actor_grad_expected"])


def test_temperature_step_follows_the_entropy_gap(constant_outputs):
    _, _, out = constant_outputs
    new, metrics = out["temperature"]
    entropy = -np.mean(tanh_gaussian_log_prob(out["temperature_samples"]))
    # loss = alpha (H - target), target = -|A| = -2; Adam's first step moves log alpha by -lr sign.
    np.testing.assert_allclose(metrics["alpha/loss"], 0.3 * (entropy + 2.0), rtol=1e-4)
    step = new.temperature.params["params"]["log_value"] - np.log(0.3)
    np.testing.assert_allclose(step, -3e-4 * np.sign(entropy + 2.0), rtol=1e-3)


# --- Alignment and online losses -----------------------------------------------------------------


def test_clipped_log_prob_and_interpolation_weight_hand_computed(constant_outputs):
    _, _, out = constant_outputs
    # c = min over raw u = mean +- 1 std of log N(u) - sum log(1 - tanh(u)^2), per state.
    std = np.exp(LOG_STD)
    floor = min((-0.5 - LOG_STD - 0.5 * np.log(2 * np.pi) - np.log(1 - np.tanh(u) ** 2)).sum()
                for u in (MEAN - std, MEAN + std))
    log_prob = tanh_gaussian_log_prob(CLIP_ACTIONS)
    expected = np.logaddexp(0.0, log_prob - floor) + floor  # softplus(lp - c) + c
    np.testing.assert_allclose(out["clipped"], expected, rtol=1e-4)
    assert expected[1] > log_prob[1] + 1.0  # The tail action is lifted to about the floor.
    np.testing.assert_allclose(out["weights"], [1.0, 0.8, 0.5, 0.5], rtol=1e-6)  # i1 40, floor .5


def test_online_losses_add_the_log_prob_term_hand_computed(constant_outputs):
    """sac.critic_loss / actor_loss with a q_offset b(s, a): Q_k -> Q_k + b, target Q -> + b."""
    _, data, out = constant_outputs
    loss, _ = out["critic_offset"]
    next_action = out["critic_offset_samples"]
    next_q = 2.0 + 0.7 * next_action.sum(-1) - 0.3 * tanh_gaussian_log_prob(next_action)
    y = np.float64(data.reward) + 0.99 * (1 - np.float64(data.terminal)) * next_q
    offset = 0.7 * np.float64(data.action).sum(-1)
    expected = np.mean((1.5 + offset - y) ** 2) + np.mean((0.5 + offset - y) ** 2)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    actor_loss, metrics = out["actor_offset"]
    action = out["actor_offset_samples"]
    q = 0.5 + 0.7 * action.sum(-1)
    np.testing.assert_allclose(actor_loss, np.mean(0.3 * tanh_gaussian_log_prob(action) - q),
                               rtol=1e-4)
    np.testing.assert_allclose(metrics["actor/q_abs_mean"], np.abs(q).mean(), rtol=1e-5)


@jax.jit
def _alignment_outputs(offline):
    online = aca.start_online(CONFIG, offline)
    # R_k(s, a) for three action batches, its target, and Z_k(s).
    obs = jax.random.normal(jax.random.key(2), (5, OBS_DIM))
    actions = jnp.stack([jnp.zeros((5, ACTION_DIM)), jnp.full((5, ACTION_DIM), 0.7),
                         -jnp.ones((5, ACTION_DIM))])
    critic = jax.vmap(lambda a: online.critic.apply_fn(online.critic.params, obs, a))(actions)
    target = jax.vmap(lambda a: online.critic.apply_fn(online.critic.target_params, obs, a))(
        actions)
    # Aligned Q gaps between two samples of pi_0 per state, and the log-prob gaps.
    obs_gap = jax.random.normal(jax.random.key(3), (6, OBS_DIM))
    dist = offline.actor.apply_fn(offline.actor.params, obs_gap)
    first, second = (networks.sample_and_log_prob(dist, jax.random.key(seed))[0]
                     for seed in (4, 5))
    q_gap = aca.online_q(CONFIG, online, obs_gap, first) - aca.online_q(CONFIG, online, obs_gap,
                                                                         second)
    # The aligned critic's best of 2000 samples of pi_0 in each of 3 states.
    obs_mode = jax.random.normal(jax.random.key(6), (3, OBS_DIM))
    dist_mode = offline.actor.apply_fn(offline.actor.params, obs_mode)
    candidates = networks.sample_and_log_prob(dist_mode, jax.random.key(7), sample_shape=2000)[0]
    q = jax.vmap(lambda a: aca.online_q(CONFIG, online, obs_mode, a).min(0))(candidates)
    return {
        "online": online,
        "unaligned": sac_ml.start_online(
            sac_ml.Config(actor_hidden_dims=(8,), critic_hidden_dims=(8,)), offline),
        "critic": critic, "target": target,
        "z": aca.baseline(offline.value.params, offline, obs, ACTION_DIM),
        "q_gap": q_gap, "log_prob_gap": dist.log_prob(first) - dist.log_prob(second),
        "best": candidates[jnp.argmax(q, axis=0), jnp.arange(3)],
        "mode_mean": dist_mode.distribution.mean(), "mode_std": dist_mode.distribution.stddev(),
    }


@pytest.fixture(scope="module")
def aligned():
    """A randomly initialized ACA agent (its actor's heads shifted) and what alignment makes."""
    state = INIT(jax.random.key(1), jnp.zeros(OBS_DIM), jnp.zeros(ACTION_DIM))
    # Pre-tanh mean ~0.5 and std ~0.5 (head biases), so the squashed density has one mode per
    # state (a tanh-Gaussian with std > 0.71 around 0 is bimodal near +-1), away from tanh(mean).
    shifts = {"['params']['Dense_0']['bias']": 0.5, "['params']['Dense_1']['bias']": -0.7}
    actor = jax.tree_util.tree_map_with_path(
        lambda path, leaf: leaf + shifts.get(jax.tree_util.keystr(path), 0.0), state.actor.params)
    state = state.replace(actor=state.actor.replace(params=actor))
    return state, jax.device_get(_alignment_outputs(state))


def test_start_online_builds_the_aligned_critic(aligned):
    offline, out = aligned
    online = out["online"]
    # R_k(s, a) = Z_k(s) for every action, and the target critic starts equal.
    np.testing.assert_allclose(out["critic"], np.broadcast_to(out["z"], out["critic"].shape),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["critic"], out["target"])
    assert int(online.online_step) == 0
    jax.tree.map(np.testing.assert_array_equal, online.reference_actor, offline.actor.params)
    np.testing.assert_allclose(online.temperature.params["params"]["log_value"], 0.0)  # alpha 1
    assert out["unaligned"].reference_actor is None
    jax.tree.map(np.testing.assert_array_equal, out["unaligned"].critic.params,
                 offline.critic.params)


def test_aligned_q_differences_equal_log_prob_differences(aligned):
    _, out = aligned
    for head in range(CONFIG.num_critics):  # w = 1 at the first online step
        np.testing.assert_allclose(out["q_gap"][head], out["log_prob_gap"], rtol=1e-4, atol=1e-4)


def test_aligned_critic_prefers_the_offline_policy_mode(aligned):
    _, out = aligned
    mean, std = out["mode_mean"], out["mode_std"]
    # The mode of pi_0(.|s) by hand on a per-dimension grid (the density factorizes over dims).
    grid = np.linspace(-0.999, 0.999, 4001)
    u = np.arctanh(grid)[:, None, None]
    log_density = -0.5 * ((u - mean) / std) ** 2 - np.log(1 - np.tanh(u) ** 2)  # [grid, 3, A]
    mode = grid[np.argmax(log_density, axis=0)]
    # Of 2000 samples of pi_0 per state, the aligned critic's best one is the mode.
    np.testing.assert_allclose(out["best"], mode, atol=0.05)
    assert np.abs(mode - np.tanh(mean)).min() > 0.1  # The squashed mode is not tanh(mean).
