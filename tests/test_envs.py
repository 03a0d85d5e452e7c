"""Tests of jaxrl_offline.local_suite.envs, the env loop under evaluation, online RL and dataset
generation.

InvertedPendulum-v5 terminates once the pole tips over (|angle| > 0.2), which a constant full-force
action does within a few steps, and truncates at its time limit otherwise.
"""

import gymnasium as gym
import numpy as np
import pytest

from jaxrl_offline.local_suite import envs

ENV_ID = "InvertedPendulum-v5"


class RecordActions(gym.Wrapper):
    """Keeps every action the env receives (to check what idle envs are sent)."""

    def __init__(self, env):
        super().__init__(env)
        self.actions = []

    def step(self, action):
        self.actions.append(np.array(action))
        return super().step(action)


def test_terminal_truncation_returns_and_lengths():
    batch = envs.EnvBatch(envs.make_env(ENV_ID, max_episode_steps=10), 2)
    batch.start(np.array([True, True]), [1, 2])
    push = np.array([[3.0], [0.0]])  # env 0 tips the pole over, env 1 balances it
    steps = []
    while batch.running.any():
        steps.append(batch.step(push))
    batch.close()
    terminated = np.array([s.terminated for s in steps])
    truncated = np.array([s.truncated for s in steps])
    ended = np.array([s.ended for s in steps])
    # Env 0 terminates at step 3 (and stops counting); env 1 is truncated at its 10-step limit.
    assert len(steps) == 10 and batch.lengths.tolist() == [3, 10]
    assert terminated[:, 0].tolist() == [False, False, True] + [False] * 7
    assert not terminated[:, 1].any() and truncated[:, 1].tolist() == [False] * 9 + [True]
    assert np.flatnonzero(ended[:, 0]).tolist() == [2]
    assert np.flatnonzero(ended[:, 1]).tolist() == [9]
    assert batch.returns.tolist() == [2.0, 10.0]  # reward 1 per step, 0 on the terminal step
    assert batch.episodes.tolist() == [1, 1]


def test_seeded_starts_are_reproducible_and_idle_envs_get_the_midpoint():
    recorders = []

    def env_fn():
        recorders.append(RecordActions(gym.make(ENV_ID)))
        return recorders[-1]

    batch = envs.EnvBatch(env_fn, 2)
    batch.start(np.array([True, False]), [7])
    batch.step(np.array([[0.5], [np.nan]]))  # env 1 runs no episode: its NaN never reaches it
    np.testing.assert_array_equal(recorders[1].actions[0], [0.0])  # midpoint of [-3, 3]
    assert batch.lengths.tolist() == [1, 0]
    batch.start(np.array([False, True]), [7])  # the same seed gives the same first observation
    single = gym.make(ENV_ID)
    np.testing.assert_array_equal(batch.obs[1], single.reset(seed=7)[0])
    batch.close()
    single.close()
    with pytest.raises(ValueError, match="2 envs to start but 1 seeds"):
        batch.start(np.array([True, True]), [1])


def test_derived_seed_depends_on_all_of_its_entropy():
    assert envs.derived_seed(1, 2, 3) == envs.derived_seed(1, 2, 3)
    assert len({envs.derived_seed(1, 2, 3), envs.derived_seed(1, 3, 2),
                envs.derived_seed(2, 2, 3)}) == 3
    assert envs.derived_seed(5, 0, 4) == int(np.random.SeedSequence([5, 0, 4]).generate_state(1)[0])


def test_make_env_time_limit_reward_transform_and_errors():
    env = envs.make_env(ENV_ID, 5, reward_scale=2.0, reward_shift=-1.0)()
    env.reset(seed=0)
    assert env.step(np.zeros(1, np.float32))[1] == 2.0 * 1.0 - 1.0
    env.close()
    limited = envs.make_env(lambda: gym.make(ENV_ID), max_episode_steps=2)()
    limited.reset(seed=0)
    assert [limited.step(np.zeros(1, np.float32))[3] for _ in range(2)] == [False, True]
    limited.close()
    from_json = envs.make_env(gym.spec(ENV_ID).to_json(), 4)()
    assert from_json.spec.max_episode_steps == 4
    from_json.close()
    with pytest.raises(ValueError, match="no evaluation env"):
        envs.make_env(None)
    with pytest.raises(ValueError, match="vector_mode"):
        envs.EnvBatch(envs.make_env(ENV_ID), 1, vector_mode="gpu")
    with pytest.raises(ValueError, match="continuous"):
        envs.EnvBatch(envs.make_env("CartPole-v1"), 1)
