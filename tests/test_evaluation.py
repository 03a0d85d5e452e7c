"""Tests for jaxrl_offline.runner.evaluation on InvertedPendulum-v5 with a fake linear-controller
agent.

The controller a = clip(K . obs, +-3) with K = [1, 10, 1, 1] balances the pendulum for the full
1000 steps (data.md §5.3); K = 0 lets it fall within a few dozen steps. The fake agent keeps K per
seed in its state, so the seed axis of the results can be checked against the states.
"""

import dataclasses
import types

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl_offline.runner import evaluation
from jaxrl_offline.types import DatasetInfo

ENV_ID = "InvertedPendulum-v5"
GOOD_GAIN = [1.0, 10.0, 1.0, 1.0]
ZERO_GAIN = [0.0, 0.0, 0.0, 0.0]
NAN_GAIN = [np.nan, 0.0, 0.0, 0.0]


@dataclasses.dataclass(frozen=True)
class FakeConfig:
    noise_std: float = 0.0  # std of Gaussian noise added to library actions (stochastic policy)


class FakeState(struct.PyTreeNode):
    gain: jax.Array  # [obs_dim] linear controller K (with a leading seed axis when batched)


def fake_act(config, state, obs, key):
    """a = clip(K . obs / 3, -1, 1) in library units ([-1, 1] maps to the env's [-3, 3])."""
    action = jnp.clip(obs @ state.gain / 3.0, -1.0, 1.0)[:, None]
    if config.noise_std > 0:
        action = action + config.noise_std * jax.random.normal(key, action.shape)
    return action


FAKE_ALGO = types.SimpleNamespace(act=fake_act)


def make_info(eval_env_spec=ENV_ID, ref_min=0.0, ref_max=1000.0):
    return DatasetInfo(
        dataset_id="test/pendulum-v0",
        eval_env_spec=eval_env_spec,
        ref_min_score=ref_min,
        ref_max_score=ref_max,
        ref_score_source="test",
        obs_dim=4,
        action_dim=1,
        action_low=np.array([-3.0], np.float32),
        action_high=np.array([3.0], np.float32),
        num_transitions=0,
        num_episodes=0,
        family="test",
        transforms={},
        obs_mean=None,
    )


def make_states(*gains):
    return FakeState(gain=jnp.asarray(gains, jnp.float32))


@pytest.fixture(scope="module")
def policy():
    return evaluation.make_batched_policy(FAKE_ALGO, FakeConfig())


@pytest.fixture(scope="module")
def noisy_policy():
    return evaluation.make_batched_policy(FAKE_ALGO, FakeConfig(noise_std=0.5))


class FiniteActionCheck(gym.Wrapper):
    """Fails the test if a non-finite action ever reaches the simulator."""

    def step(self, action):
        if not np.all(np.isfinite(action)):
            raise AssertionError(f"non-finite action sent to env: {action}")
        return super().step(action)


def checked_env():
    return FiniteActionCheck(gym.make(ENV_ID))


def test_good_and_bad_seeds_full_episodes(policy):
    result = evaluation.evaluate(
        policy, make_states(GOOD_GAIN, ZERO_GAIN), make_info(), num_episodes=2, seed=0
    )
    assert result.returns.shape == (2, 2)
    assert result.normalized.shape == (2, 2)
    assert result.lengths.shape == (2, 2)
    assert result.returns.dtype == np.float64
    np.testing.assert_array_equal(result.returns[0], [1000.0, 1000.0])
    np.testing.assert_allclose(result.normalized[0], [100.0, 100.0])
    assert np.all(result.returns[1] < 100.0)
    np.testing.assert_array_equal(result.lengths[0], [1000, 1000])
    # One batched policy call per env step: as many calls as the longest episode.
    assert result.num_policy_calls == result.lengths.max() == 1000
    assert not result.nonfinite_action.any()
    assert "reference scores from test" in result.score_label
    assert result.wall_s > 0


def test_seed_axis_follows_states(policy):
    """Swapping the states swaps the rows of the results (the seed axis is not mixed up)."""
    kwargs = dict(info=make_info(), num_episodes=2, seed=1, max_episode_steps=60)
    good_first = evaluation.evaluate(policy, make_states(GOOD_GAIN, ZERO_GAIN), **kwargs)
    bad_first = evaluation.evaluate(policy, make_states(ZERO_GAIN, GOOD_GAIN), **kwargs)
    np.testing.assert_array_equal(good_first.returns[0], [60.0, 60.0])
    np.testing.assert_array_equal(bad_first.returns[1], [60.0, 60.0])
    assert np.all(good_first.returns[1] < 60.0) and np.all(bad_first.returns[0] < 60.0)
    assert good_first.num_policy_calls == 60


def test_time_limit_override_and_raw_scores_without_references(policy):
    info = make_info(ref_min=None, ref_max=None)
    result = evaluation.evaluate(
        policy, make_states(GOOD_GAIN), info, num_episodes=3, seed=0, max_episode_steps=25
    )
    np.testing.assert_array_equal(result.lengths, [[25, 25, 25]])
    np.testing.assert_array_equal(result.normalized, result.returns)
    assert result.score_label.startswith("raw return")


def test_deterministic_given_seed(noisy_policy):
    states = make_states(ZERO_GAIN, ZERO_GAIN)
    kwargs = dict(info=make_info(), num_episodes=3, max_episode_steps=200)
    first = evaluation.evaluate(noisy_policy, states, seed=3, **kwargs)
    again = evaluation.evaluate(noisy_policy, states, seed=3, **kwargs)
    other = evaluation.evaluate(noisy_policy, states, seed=4, **kwargs)
    np.testing.assert_array_equal(first.returns, again.returns)
    np.testing.assert_array_equal(first.lengths, again.lengths)
    assert not np.array_equal(first.returns, other.returns)
    # Identical states still get distinct episodes: reset seeds and keys differ per seed index.
    assert not np.array_equal(first.returns[0], first.returns[1])


def evaluate_checked(policy, *gains, **kwargs):
    """Two 40-step episodes per gain, in envs that fail on any non-finite action."""
    return evaluation.evaluate(policy, make_states(*gains), make_info(), num_episodes=2, seed=0,
                               max_episode_steps=40, env_fn=checked_env, **kwargs)


def test_inactive_seed_is_nan_and_never_sends_nan(policy):
    result = evaluate_checked(policy, GOOD_GAIN, NAN_GAIN, active=np.array([True, False]))
    np.testing.assert_array_equal(result.returns[0], [40.0, 40.0])
    assert np.all(np.isnan(result.returns[1])) and np.all(np.isnan(result.normalized[1]))
    np.testing.assert_array_equal(result.lengths[1], [0, 0])
    # An inactive seed is skipped, not flagged as having produced bad actions.
    assert not result.nonfinite_action.any()


def test_nonfinite_actions_are_masked_and_reported(policy):
    result = evaluate_checked(policy, NAN_GAIN, GOOD_GAIN)
    np.testing.assert_array_equal(result.nonfinite_action, [True, False])
    assert np.all(np.isnan(result.returns[0]))
    np.testing.assert_array_equal(result.returns[1], [40.0, 40.0])


def test_all_inactive_makes_no_policy_calls(policy):
    result = evaluation.evaluate(
        policy, make_states(GOOD_GAIN), make_info(), num_episodes=1, seed=0, active=[False]
    )
    assert result.num_policy_calls == 0
    assert np.isnan(result.returns).all()


def test_env_spec_json_matches_env_id(policy):
    states = make_states(GOOD_GAIN, ZERO_GAIN)
    kwargs = dict(num_episodes=2, seed=5, max_episode_steps=80)
    from_id = evaluation.evaluate(policy, states, make_info(), **kwargs)
    from_json = evaluation.evaluate(policy, states, make_info(gym.spec(ENV_ID).to_json()), **kwargs)
    np.testing.assert_array_equal(from_id.returns, from_json.returns)


def test_async_vector_env_matches_sync(policy):
    states = make_states(GOOD_GAIN, ZERO_GAIN)
    kwargs = dict(info=make_info(), num_episodes=1, seed=2, max_episode_steps=30)
    sync = evaluation.evaluate(policy, states, **kwargs)
    async_ = evaluation.evaluate(policy, states, vector_mode="async", **kwargs)
    np.testing.assert_array_equal(sync.returns, async_.returns)
    np.testing.assert_array_equal(sync.lengths, async_.lengths)


def test_missing_eval_env_raises(policy):
    with pytest.raises(ValueError, match="no evaluation env"):
        evaluation.evaluate(
            policy, make_states(GOOD_GAIN), make_info(eval_env_spec=None), num_episodes=1, seed=0
        )


def test_bad_arguments_raise(policy):
    states = make_states(GOOD_GAIN)
    with pytest.raises(ValueError, match="active must have shape"):
        evaluation.evaluate(
            policy, states, make_info(), num_episodes=1, seed=0, active=[True, True]
        )
    with pytest.raises(ValueError, match="vector_mode"):
        evaluation.evaluate(policy, states, make_info(), num_episodes=1, seed=0, vector_mode="gpu")
    with pytest.raises(ValueError, match="policy returned actions of shape"):
        info = dataclasses.replace(make_info(), action_dim=2)
        evaluation.evaluate(policy, states, info, num_episodes=1, seed=0)
    with pytest.raises(ValueError, match="dataset has 5"):
        info = dataclasses.replace(make_info(), obs_dim=5)
        evaluation.evaluate(policy, states, info, num_episodes=1, seed=0)


def test_flatten_obs_goal_dict_and_plain_arrays():
    obs = {
        "achieved_goal": np.full((3, 2), 9.0),
        "desired_goal": np.full((3, 2), 2.0),
        "observation": np.ones((3, 4)),
    }
    # One rule with the data layer: observation, achieved_goal, desired_goal.
    expected = np.concatenate([np.ones((3, 4)), np.full((3, 2), 9.0), np.full((3, 2), 2.0)], -1)
    np.testing.assert_array_equal(evaluation.flatten_obs(obs), expected)
    other = {"b": np.zeros((3, 1)), "a": np.ones((3, 2))}
    np.testing.assert_array_equal(evaluation.flatten_obs(other)[:, :2], np.ones((3, 2)))
    np.testing.assert_array_equal(evaluation.flatten_obs(np.ones((3, 4))), np.ones((3, 4)))


class GoalDictObs(gym.ObservationWrapper):
    """Presents the 4-d pendulum obs as a goal dict whose flattening is the original obs."""

    def __init__(self, env):
        super().__init__(env)
        box = lambda n: gym.spaces.Box(-np.inf, np.inf, (n,), np.float64)  # noqa: E731
        self.observation_space = gym.spaces.Dict(
            {"observation": box(1), "achieved_goal": box(1), "desired_goal": box(2)}
        )

    def observation(self, obs):
        return {"observation": obs[:1], "achieved_goal": obs[1:2], "desired_goal": obs[2:]}


def test_dict_observation_env(policy):
    result = evaluation.evaluate(
        policy,
        make_states(GOOD_GAIN),
        make_info(),
        num_episodes=2,
        seed=0,
        max_episode_steps=50,
        env_fn=lambda: GoalDictObs(gym.make(ENV_ID)),
    )
    np.testing.assert_array_equal(result.returns, [[50.0, 50.0]])


def test_reset_seeds_distinct_and_deterministic():
    seeds = evaluation.reset_seeds(0, [0, 1, 2], 4)
    assert len(set(seeds)) == 12
    assert seeds == evaluation.reset_seeds(0, [0, 1, 2], 4)
    assert set(seeds).isdisjoint(evaluation.reset_seeds(1, [0, 1, 2], 4))
    # A seed's reset seeds depend on its value, not its position.
    assert evaluation.reset_seeds(0, [7, 2], 4)[4:] == evaluation.reset_seeds(0, [2], 4)


def test_a_seed_scores_the_same_alone_and_with_others(noisy_policy):
    """Seed 5 evaluated after seed 9 equals seed 5 evaluated alone (episodes and policy noise)."""
    kwargs = dict(info=make_info(), num_episodes=2, seed=3, max_episode_steps=100)
    both = evaluation.evaluate(noisy_policy, make_states(ZERO_GAIN, ZERO_GAIN),
                               seed_values=[9, 5], **kwargs)
    alone = evaluation.evaluate(noisy_policy, make_states(ZERO_GAIN), seed_values=[5], **kwargs)
    np.testing.assert_array_equal(both.returns[1], alone.returns[0])
    np.testing.assert_array_equal(both.lengths[1], alone.lengths[0])
    with pytest.raises(ValueError, match="seed_values must have 2 entries"):
        evaluation.evaluate(noisy_policy, make_states(ZERO_GAIN, ZERO_GAIN), seed_values=[1],
                            **kwargs)
