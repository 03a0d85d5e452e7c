"""Probe datasets with known answers (style §28, rejax's probe environments adapted to offline).

* One-step bandit: every transition is terminal, so Q(s, a) = r(s, a) (``bandit_probe``).
* Two-step chain s0 -> s1 -> end: Q(s1, a) = V(s1) = r1 = 2 and Q(s0, a) = V(s0) = r0 + gamma r1 =
  1 + 0.99 * 2 = 2.98 for every action (``chain_probe``).
* A deterministic expert: BC recovers its actions on held-out states (``expert_probe``).

Each probe trains two seeds with the real driver (``training.train``) on (32, 32) networks for
2,000 steps; the tolerances are a few times the errors these runs reach, far below the spread of
the targets.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_offline.local_suite import synthetic
from jaxrl_offline.runner import training
from jaxrl_offline.algorithms import bc, iql, td3_bc

SEEDS = (0, 1)
NUM_STEPS = 2000


def train(algo, config, dataset):
    """Trains SEEDS for NUM_STEPS in one chunk; returns the per-seed final states."""
    dataset = jax.tree.map(jnp.asarray, dataset)
    states, _, active = training.train(algo, config, dataset, SEEDS, NUM_STEPS, NUM_STEPS)
    assert active.all()
    return [jax.tree.map(lambda leaf: leaf[index], states) for index in range(len(SEEDS))]


def test_bandit_probe_critic_learns_reward():
    dataset = synthetic.bandit_probe(1024, seed=0)
    config = dataclasses.replace(
        td3_bc.Config(), actor_hidden_dims=(32, 32), critic_hidden_dims=(32, 32), batch_size=64,
        critic_lr=1e-3
    )
    reward = dataset.reward  # In [-4, 4], std ~1.2.
    for state in train(td3_bc, config, dataset):
        q = np.asarray(state.critic.apply_fn(state.critic.params, dataset.obs, dataset.action))
        error = np.abs(q - reward[None])  # Both critics, every dataset (s, a).
        assert error.mean() < 0.06, error.mean(axis=1)
        assert error.max() < 0.3, error.max(axis=1)
        # Fresh (s, a) from the same distribution: the critic learned r, not the rows.
        test = synthetic.bandit_probe(256, seed=1)
        q_test = np.asarray(state.critic.apply_fn(state.critic.params, test.obs, test.action))
        assert np.abs(q_test - test.reward[None]).mean() < 0.08


def test_chain_probe_value_and_critic_bootstrap():
    dataset = synthetic.chain_probe(256, seed=0)  # Rows alternate s0, s1.
    config = dataclasses.replace(
        iql.Config(), actor_hidden_dims=(32, 32), critic_hidden_dims=(32, 32),
        value_hidden_dims=(32, 32), batch_size=64, critic_lr=1e-3, value_lr=1e-3, tau=0.05
    )
    expected = np.tile(np.float32([1.0 + 0.99 * 2.0, 2.0]), 128)
    for state in train(iql, config, dataset):
        q = np.asarray(state.critic.apply_fn(state.critic.params, dataset.obs, dataset.action))
        v = np.asarray(state.value.apply_fn(state.value.params, dataset.obs))
        np.testing.assert_allclose(q, np.broadcast_to(expected, q.shape), atol=0.05)
        np.testing.assert_allclose(v, expected, atol=0.05)


def test_bc_recovers_deterministic_expert():
    dataset = synthetic.expert_probe(2048, seed=0)
    config = dataclasses.replace(
        bc.Config(), actor_hidden_dims=(64, 64), batch_size=128, learning_rate=1e-3
    )
    held_out = synthetic.expert_probe(512, seed=1)  # Expert actions: variance ~0.5 per dim.
    for state in train(bc, config, dataset):
        action = np.asarray(bc.act(config, state, jnp.asarray(held_out.obs), jax.random.key(0)))
        squared_error = (action - held_out.action) ** 2
        assert squared_error.mean() < 1e-3, squared_error.mean()
        assert np.sqrt(squared_error.max()) < 0.15
