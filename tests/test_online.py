"""Tests of online RL pieces: SAC's losses, the device replay buffer, the env loop, behavior files.

SAC's losses are checked on networks whose outputs are known by construction: critics with all
weights zero output their final bias (Q_i = c_i), and an actor with zero weights has a constant
pre-tanh mean and log-std (its biases).
"""

import dataclasses
import functools

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_offline import networks
from jaxrl_offline.local_suite import behavior
from jaxrl_offline.runner import online, replay_buffer
from jaxrl_offline.algorithms import sac
from jaxrl_offline.types import Transition

from helpers import Bandit, small_sac_batch, zeroed

OBS_DIM, ACTION_DIM, BATCH = 3, 2, 4
CONFIG = sac.Config(actor_hidden_dims=(8, 8), critic_hidden_dims=(8, 8), batch_size=BATCH)


def batch():
    return small_sac_batch(OBS_DIM, ACTION_DIM)


def constant_state(critic_bias=(1.5, 0.5), target_bias=(2.0, 3.0), alpha=0.3,
                   mean_bias=(0.2, -0.4), log_std_bias=(-1.0, -0.5)):
    """A SAC state with constant critics (Q_i = bias_i) and a state-independent actor."""
    state = sac.init(CONFIG, jax.random.key(0), jnp.zeros(OBS_DIM), jnp.zeros(ACTION_DIM))
    head = "VmapStateActionValue_0/Dense_0/bias"
    critic = zeroed(state.critic.params, **{head: np.float32(critic_bias)[:, None]})
    target = zeroed(state.critic.params, **{head: np.float32(target_bias)[:, None]})
    actor = zeroed(state.actor.params, **{"Dense_0/bias": mean_bias, "Dense_1/bias": log_std_bias})
    temperature = {"params": {"log_value": jnp.log(jnp.float32(alpha))}}
    return state.replace(
        critic=state.critic.replace(params=critic, target_params=target),
        actor=state.actor.replace(params=actor),
        temperature=state.temperature.replace(params=temperature))


def test_critic_loss_hand_computed_without_entropy_backup():
    config = dataclasses.replace(CONFIG, backup_entropy=False)
    state, data = constant_state(), batch()
    loss, _ = jax.jit(sac.critic_loss, static_argnums=4)(
        state.critic.params, state, data, jax.random.key(1), config)
    # y = r + 0.99 (1 - d) min(2, 3) = r + 1.98 (1 - d); Q_1 = 1.5, Q_2 = 0.5.
    target = np.float32([1.0, -0.5, 0.25, 2.0]) + 1.98 * np.float32([1, 0, 1, 1])
    expected = np.mean((1.5 - target) ** 2) + np.mean((0.5 - target) ** 2)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def tanh_gaussian_log_prob(u, mean, log_std):
    """log pi(tanh(u)) for a diagonal Gaussian u, by hand: log N(u) - sum log(1 - tanh(u)^2)."""
    std = np.exp(log_std)
    gaussian = -0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * np.log(2 * np.pi)
    return (gaussian - np.log(1 - np.tanh(u) ** 2)).sum(-1)


def test_entropy_backup_and_actor_loss_use_the_squashed_log_prob():
    state, data = constant_state(), batch()
    key = lambda: jax.random.key(2)  # noqa: E731 - same noise, a fresh key object per use.
    mean, log_std = np.float32([0.2, -0.4]), np.float32([-1.0, -0.5])
    # The actor's samples for this key, and their log-prob computed by hand from the pre-tanh u.
    dist = state.actor.apply_fn(state.actor.params, data.obs)
    action, _ = networks.sample_and_log_prob(dist, key())
    u = np.arctanh(np.clip(np.asarray(action, np.float64), -1 + 1e-7, 1 - 1e-7))
    log_prob = tanh_gaussian_log_prob(u, mean, log_std)
    actor_loss, metrics = sac.actor_loss(state.actor.params, state, data, key(), CONFIG)
    # Q = min(1.5, 0.5) = 0.5 for every action; alpha = 0.3.
    np.testing.assert_allclose(actor_loss, np.mean(0.3 * log_prob - 0.5), rtol=1e-4)
    np.testing.assert_allclose(metrics["actor/entropy"], -log_prob.mean(), rtol=1e-4)
    critic_loss, _ = sac.critic_loss(state.critic.params, state, data, key(), CONFIG)
    target = (np.float32([1.0, -0.5, 0.25, 2.0])
              + 0.99 * np.float32([1, 0, 1, 1]) * (2.0 - 0.3 * tanh_gaussian_log_prob(
                  np.arctanh(np.clip(np.asarray(networks.sample_and_log_prob(
                      state.actor.apply_fn(state.actor.params, data.next_obs), key())[0],
                      np.float64), -1 + 1e-7, 1 - 1e-7)), mean, log_std)))
    expected = np.mean((1.5 - target) ** 2) + np.mean((0.5 - target) ** 2)
    np.testing.assert_allclose(critic_loss, expected, rtol=1e-4)


def test_temperature_loss_moves_alpha_towards_the_target_entropy():
    state = constant_state(alpha=0.5)
    loss, metrics = sac.temperature_loss(state.temperature.params, state, jnp.float32(1.0), -2.0)
    np.testing.assert_allclose(loss, 0.5 * (1.0 + 2.0), rtol=1e-6)  # alpha (H - target)
    np.testing.assert_allclose(metrics["alpha/value"], 0.5, rtol=1e-6)
    assert sac.target_entropy(CONFIG, 6) == -6.0
    assert sac.target_entropy(dataclasses.replace(CONFIG, target_entropy=-1.5), 6) == -1.5


# --- Replay buffer ---

def rows(start, count):
    values = jnp.arange(start, start + count, dtype=jnp.float32)
    return Transition(obs=values[:, None], action=values[:, None], reward=values,
                      next_obs=values[:, None] + 1, terminal=jnp.zeros(count))


def test_replay_buffer_wraps_saturates_and_samples_valid_rows():
    example = jax.tree.map(lambda x: x[0], rows(0, 1))
    buffer = replay_buffer.init(5, example)
    buffer = jax.jit(replay_buffer.add)(buffer, rows(0, 3))
    assert int(buffer.size) == 3 and int(buffer.insert_index) == 3
    drawn = replay_buffer.sample(buffer, jax.random.key(0), 200)
    assert set(np.asarray(drawn.reward).tolist()) == {0.0, 1.0, 2.0}
    buffer = replay_buffer.add(buffer, rows(3, 4))  # 7 rows into 5: rows 0 and 1 overwritten.
    assert int(buffer.size) == 5 and int(buffer.insert_index) == 2
    np.testing.assert_array_equal(buffer.data.reward, [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.data.next_obs[:, 0], [6, 7, 3, 4, 5])
    seeded = replay_buffer.from_transitions(rows(10, 3), capacity=8)
    assert int(seeded.size) == 3 and seeded.capacity == 8
    np.testing.assert_array_equal(seeded.data.reward[:3], [10, 11, 12])
    with pytest.raises(ValueError, match="capacity"):
        replay_buffer.from_transitions(rows(0, 3), capacity=2)


# --- The env loop ---

def short_pendulum():
    """InvertedPendulum cut at 7 steps: many truncations (and terminations under random actions)."""
    return gym.make("InvertedPendulum-v5", max_episode_steps=7)


SETTINGS = online.OnlineSettings(num_envs=2, warmup_steps=6, update_every=3, buffer_capacity=64)


def run_loop(seed, steps=12):
    loop = online.OnlineLoop(sac, CONFIG, short_pendulum, num_seeds=2, seed=seed,
                             settings=SETTINGS)
    state = online.init_loop_state(sac, CONFIG, [seed, seed + 1], loop.obs_dim, loop.action_dim,
                                   SETTINGS)
    episodes = []
    state, metrics = loop.run(state, 0, steps, lambda *episode: episodes.append(episode))
    loop.close()
    return state, metrics, episodes


@pytest.fixture(scope="module")
def loop_runs():
    return run_loop(0), run_loop(0)


def test_loop_is_deterministic_given_the_seed(loop_runs):
    (first, metrics, episodes), (second, _, episodes_again) = loop_runs
    for a, b in zip(jax.tree.leaves(first.buffer), jax.tree.leaves(second.buffer)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(jax.tree.leaves(first.agent.actor.params)[0],
                                  jax.tree.leaves(second.agent.actor.params)[0])
    assert episodes == episodes_again
    assert set(metrics) >= {"critic/loss", "actor/loss", "alpha/value"}


def test_loop_buffer_holds_true_transitions(loop_runs):
    (state, _, episodes), _ = loop_runs
    buffer = jax.tree.map(np.asarray, state.buffer)
    assert buffer.size.tolist() == [24, 24]  # 12 steps x 2 envs per seed
    # Rows are time-major: row t * E + e is step t of env e; E = 2.
    data = jax.tree.map(lambda x: x[:, :24].reshape(2, 12, 2, *x.shape[2:]), buffer.data)
    continuing = np.isclose(data.next_obs[:, :-1], data.obs[:, 1:]).all(-1)  # [S, 11, E]
    for seed_index in range(2):
        # Every break of the obs chain is an episode that ended (and was reset) before step 12.
        ended = [e for e in episodes if e[1] == seed_index and e[0] < 12]
        assert (~continuing[seed_index]).sum() == len(ended) > 0
    # Terminal rows are episode ends; 7-step truncations are not terminal.
    terminal_rows = data.terminal[:, :-1] == 1
    assert not (terminal_rows & continuing).any()
    assert {length for *_, length in episodes} <= set(range(1, 8))
    truncated = [e for e in episodes if e[3] == 7]
    assert data.terminal.sum() == len(episodes) - len(truncated) - sum(
        1 for e in episodes if e[0] > 12)
    assert np.all(np.abs(data.action) <= 1.0)


def test_loop_rejects_misaligned_steps():
    loop = online.OnlineLoop(sac, CONFIG, short_pendulum, num_seeds=1, seed=0, settings=SETTINGS)
    state = online.init_loop_state(sac, CONFIG, [0], loop.obs_dim, loop.action_dim, SETTINGS)
    with pytest.raises(ValueError, match="multiples of update_every"):
        loop.run(state, 0, 4)
    loop.close()
    with pytest.raises(ValueError, match="update_every"):
        online.OnlineSettings(update_every=0)


# --- Behavior policy files ---

def test_numpy_actor_matches_flax_and_round_trips(tmp_path):
    module = networks.TanhGaussianActor((8, 8), ACTION_DIM)
    params = module.init(jax.random.key(3), jnp.zeros((1, OBS_DIM)))
    params = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(4), x.shape), params)
    policy = behavior.from_flax_params(params)
    obs = np.random.default_rng(1).normal(size=(5, OBS_DIM)).astype(np.float32)
    dist = module.apply(params, obs)
    np.testing.assert_allclose(policy(obs, deterministic=True),
                               np.tanh(dist.distribution.mean()), rtol=1e-5, atol=1e-6)
    noise = np.random.default_rng(2).standard_normal((5, ACTION_DIM)).astype(np.float32)
    expected = np.tanh(dist.distribution.mean() + dist.distribution.stddev() * noise)
    np.testing.assert_allclose(policy(obs, noise=noise), expected, rtol=1e-5, atol=1e-6)
    sha = behavior.save(policy, tmp_path / "p.npz")
    loaded = behavior.load(tmp_path / "p.npz")
    assert sha == behavior.file_sha256(tmp_path / "p.npz") and loaded.hidden_dims == (8, 8)
    np.testing.assert_array_equal(loaded(obs, deterministic=True), policy(obs, deterministic=True))
    rebuilt = behavior.flax_module(loaded).apply(behavior.to_flax_params(loaded), obs)
    np.testing.assert_allclose(rebuilt.distribution.mean(), dist.distribution.mean(), rtol=1e-6)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="not a jaxrl_offline behavior policy"):
        behavior.load(tmp_path / "other.npz")


def test_sac_learns_a_one_step_bandit():
    """Online SAC on a probe env whose reward is -|a - 0.5|: the mean action moves to 0.5."""
    config = dataclasses.replace(CONFIG, batch_size=32, actor_lr=3e-3, critic_lr=3e-3,
                                 temperature_lr=3e-3, initial_temperature=0.1)
    settings = online.OnlineSettings(num_envs=4, warmup_steps=20, update_every=20,
                                     buffer_capacity=2000)
    loop = online.OnlineLoop(sac, config, Bandit, num_seeds=1, seed=0, settings=settings)
    state = online.init_loop_state(sac, config, [0], 1, 1, settings)
    state, _ = loop.run(state, 0, 400)
    loop.close()
    act = functools.partial(sac.act, config)
    mean_action = jax.vmap(act)(state.agent, jnp.zeros((1, 1, 1)), jax.random.split(
        jax.random.key(0), 1))
    assert abs(float(mean_action[0, 0, 0]) - 0.5) < 0.15


def test_env_resets_follow_the_seed_value_not_its_position():
    both = online.EnvGroup(short_pendulum, num_seeds=2, num_envs=2, seed=1, seed_values=[9, 5])
    alone = online.EnvGroup(short_pendulum, num_seeds=1, num_envs=2, seed=1, seed_values=[5])
    np.testing.assert_array_equal(both.observations()[1], alone.observations()[0])
    assert not np.array_equal(both.observations()[0], both.observations()[1])
    with pytest.raises(ValueError, match="seed_values must have 2 entries"):
        online.EnvGroup(short_pendulum, num_seeds=2, num_envs=1, seed=1, seed_values=[5])
