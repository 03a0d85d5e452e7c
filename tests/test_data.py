"""Tests for the data layer: Minari and D4RL readers, mixtures, transforms and error messages.

Every dataset is created by the test itself (tiny, in a temporary Minari root); nothing downloads.
"""

import json
import time
import warnings

import gymnasium as gym
import jax
import minari
import numpy as np
import pytest
from minari.data_collector.episode_buffer import EpisodeBuffer

from jaxrl_offline.datasets import data, minari_format, transforms
from jaxrl_offline.datasets.data import DatasetError, load_dataset, load_numpy
from jaxrl_offline.datasets.raw_data import check_transition
from jaxrl_offline.local_suite.synthetic import make_inverted_pendulum_dataset, write_d4rl_hdf5
from jaxrl_offline.datasets.transforms import Transforms
from jaxrl_offline.types import Transition

RAW = Transforms(normalize_obs=False)  # Only the always-on action rescaling.


def _create_minari(dataset_id, episodes, observation_space, action_space, **metadata):
    """Writes hand-built episodes (dicts of arrays) as a Minari hdf5 dataset."""
    buffers = [EpisodeBuffer(id=i, seed=i, observations=ep["obs"], actions=ep["action"],
                             rewards=ep["reward"], terminations=ep["terminal"],
                             truncations=ep["truncated"]) for i, ep in enumerate(episodes)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # env=None: Minari warns that no env spec is recorded.
        minari.create_dataset_from_buffers(
            dataset_id, buffers, observation_space=observation_space, action_space=action_space,
            algorithm_name="test", author="test", author_email="test", code_permalink="test",
            description="test", data_format="hdf5", **metadata)


def _episode(rng, length, end, obs_dim=3, action_dim=2):
    """An episode of ``length`` steps ending in ``end`` ("terminal" or "truncated")."""
    terminal = np.zeros(length, bool)
    truncated = np.zeros(length, bool)
    (terminal if end == "terminal" else truncated)[-1] = True
    return {"obs": rng.normal(size=(length + 1, obs_dim)),  # float64, as MuJoCo envs emit.
            "action": rng.uniform(-2, 2, (length, action_dim)).astype(np.float32),
            "reward": rng.normal(size=length), "terminal": terminal, "truncated": truncated}


@pytest.fixture
def mixed_end_dataset(minari_root):
    """Episodes of 3 (terminated), 4 (truncated) and 2 (truncated) steps; actions in [-2, 2]."""
    rng = np.random.default_rng(0)
    episodes = [_episode(rng, 3, "terminal"), _episode(rng, 4, "truncated"),
                _episode(rng, 2, "truncated")]
    _create_minari("test/handmade/mixed-ends-v0", episodes,
                   gym.spaces.Box(-np.inf, np.inf, (3,), np.float64),
                   gym.spaces.Box(-2.0, 2.0, (2,), np.float32), eval_env="Pendulum-v1")
    return "test/handmade/mixed-ends-v0", episodes


def test_minari_round_trip_keeps_true_next_obs_at_truncations(mixed_end_dataset):
    dataset_id, episodes = mixed_end_dataset
    transition, info = load_numpy(dataset_id, transforms=RAW)

    np.testing.assert_allclose(transition.obs, np.concatenate([e["obs"][:-1] for e in episodes]),
                               rtol=1e-6)
    # The truncated episodes keep their last transition, with the true next observation.
    np.testing.assert_allclose(transition.next_obs,
                               np.concatenate([e["obs"][1:] for e in episodes]), rtol=1e-6)
    np.testing.assert_array_equal(transition.terminal, [0, 0, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(transition.action,
                               np.concatenate([e["action"] for e in episodes]) / 2.0, rtol=1e-6)
    np.testing.assert_allclose(transition.reward, np.concatenate([e["reward"] for e in episodes]),
                               rtol=1e-6)
    assert all(x.dtype == np.float32 for x in transition)
    assert info.num_transitions == 9 and info.num_episodes == 3
    assert (info.obs_dim, info.action_dim) == (3, 2)
    assert data.env_id_of(info.eval_env_spec) == "Pendulum-v1"
    assert not info.has_reference_scores and info.ref_score_source is None
    assert info.score_label.startswith("raw return")
    assert info.transforms["action_rescale"] == "[-2, 2] -> [-1, 1]"
    assert info.family == "default" and info.components == (dataset_id,)
    json.dumps(info.transforms)  # Goes into run records as is.


def test_episode_ends_are_the_readers_episodes_through_mixtures_and_transforms(
        mixed_end_dataset):
    dataset_id = mixed_end_dataset[0]  # 3 steps terminated, 4 and 2 truncated.
    rng = np.random.default_rng(1)
    # Two truncated episodes whose boundary no observation check can see (the second starts where
    # the first stopped), then a one-step terminated one.
    first, second = _episode(rng, 2, "truncated"), _episode(rng, 1, "truncated")
    second["obs"][0] = first["obs"][-1]
    joined = [first, second, _episode(rng, 1, "terminal")]
    _create_minari("test/handmade/joined-v0", joined,
                   gym.spaces.Box(-np.inf, np.inf, (3,), np.float64),
                   gym.spaces.Box(-2.0, 2.0, (2,), np.float32), eval_env="Pendulum-v1")
    mixed_ends = [0, 0, 1, 0, 0, 0, 1, 0, 1]
    transition, info = load_numpy(dataset_id, transforms=RAW)
    np.testing.assert_array_equal(info.episode_ends, mixed_ends)
    assert info.episode_ends.dtype == bool and info.episode_ends.sum() == info.num_episodes == 3
    # Terminal rows end episodes, but an episode end is not a terminal (rows 6 and 8: truncated).
    np.testing.assert_array_equal(transition.terminal, [0, 0, 1, 0, 0, 0, 0, 0, 0])
    _, alone = load_numpy("test/handmade/joined-v0", transforms=RAW)
    np.testing.assert_array_equal(alone.episode_ends, [0, 1, 1, 1])
    # A mixture keeps each part's ends, whatever the transforms (normalization, return range).
    for algorithm in ("td3_bc", "iql"):
        mixture, info = load_numpy(f"{dataset_id}+test/handmade/joined-v0", algorithm=algorithm)
        np.testing.assert_array_equal(info.episode_ends, mixed_ends + [0, 1, 1, 1])
        np.testing.assert_array_equal(mixture.terminal, [0, 0, 1] + [0] * 6 + [0, 0, 0, 1])
        assert info.num_episodes == 6 == info.episode_ends.sum()
        assert info.episode_ends.shape == (info.num_transitions,)


def test_episode_ends_must_close_terminals_and_the_data():
    good = Transition(obs=np.zeros((3, 2)), action=np.zeros((3, 1)), reward=np.zeros(3),
                      next_obs=np.zeros((3, 2)), terminal=np.float32([1, 0, 1]))
    check_transition(good, "ok", np.bool_([1, 0, 1]))
    with pytest.raises(DatasetError, match=r"1 terminal row\(s\) lie inside an episode "
                                           r"\(first rows: \[0\]\)"):
        check_transition(good, "bad", np.bool_([0, 0, 1]))
    with pytest.raises(DatasetError, match="last row does not end an episode"):
        check_transition(good._replace(terminal=np.zeros(3)), "bad", np.bool_([1, 0, 0]))


def test_fast_hdf5_reader_matches_minari_iteration(tiny_invpend_dataset, monkeypatch):
    fast, fast_info = load_numpy(tiny_invpend_dataset, transforms=RAW)
    monkeypatch.setattr(minari_format, "_HDF5_FILE", "absent.hdf5")  # Forces iterate_episodes.
    generic, generic_info = load_numpy(tiny_invpend_dataset, transforms=RAW)
    for fast_array, generic_array in zip(fast, generic):
        np.testing.assert_array_equal(fast_array, generic_array)
    assert fast_info.num_episodes == generic_info.num_episodes


def test_local_dataset_never_touches_the_network(tiny_invpend_dataset, monkeypatch):
    monkeypatch.setattr(minari_format, "_host_reachable", pytest.fail)
    _, info = load_numpy(tiny_invpend_dataset, download=True)
    assert info.num_transitions == 2000


def test_minari_refs_family_normalization_and_device(tiny_invpend_dataset):
    transition, info = load_dataset(tiny_invpend_dataset)

    assert all(isinstance(x, jax.Array) and x.dtype == np.float32 for x in transition)
    assert (info.ref_min_score, info.ref_max_score) == (5.339, 1000.0)
    assert info.ref_score_source == "dataset metadata" and info.family == "locomotion"
    assert data.env_id_of(info.eval_env_spec) == "InvertedPendulum-v5"
    assert info.transforms["source"] == "TRANSFORM_TABLE[locomotion/*]"
    raw, _ = load_numpy(tiny_invpend_dataset, transforms=RAW)
    np.testing.assert_allclose(info.normalize_obs(raw.obs), transition.obs, atol=1e-5)
    np.testing.assert_allclose(info.normalize_obs(raw.next_obs), transition.next_obs, atol=1e-5)
    np.testing.assert_allclose(info.obs_std, raw.obs.std(0) + 1e-3, rtol=1e-5)
    assert np.abs(np.asarray(transition.action)).max() <= 1.0


def test_iql_transforms_scale_by_trajectory_return_range(tiny_invpend_dataset):
    raw, raw_info = load_numpy(tiny_invpend_dataset, transforms=RAW)
    transition, info = load_numpy(tiny_invpend_dataset, algorithm="iql")

    # Trajectories are the Minari episodes; their returns summed with a plain loop.
    returns = [episode.rewards.sum()
               for episode in minari.load_dataset(tiny_invpend_dataset).iterate_episodes()]
    assert raw_info.num_episodes == len(returns)
    np.testing.assert_allclose(transition.reward, raw.reward * 1000.0 / np.ptp(returns), rtol=1e-6)
    assert np.abs(transition.action).max() <= 1.0 - 1e-5
    assert info.transforms["action_clip"] == 1.0 - 1e-5
    assert info.transforms["reward"].startswith("x1000/(max-min trajectory return)")


def test_cql_return_range_rewards_switch(tiny_invpend_dataset):
    from jaxrl_offline.algorithms import cql

    iql_scaled, _ = load_numpy(tiny_invpend_dataset, algorithm="iql")
    raw, info = load_numpy(tiny_invpend_dataset, algorithm="cql", config=cql.Config())
    scaled, scaled_info = load_numpy(tiny_invpend_dataset, algorithm="cql",
                                     config=cql.Config(return_range_rewards=True))
    # CQL keeps raw rewards on locomotion; the switch applies IQL's x1000 / (max - min return).
    assert info.transforms["source"] == "TRANSFORM_TABLE[locomotion/cql]"
    np.testing.assert_allclose(scaled.reward, iql_scaled.reward, rtol=1e-6)
    np.testing.assert_allclose(scaled.reward, raw.reward * scaled_info.reward_scale, rtol=1e-5)
    assert scaled_info.transforms["source"].endswith("adjusted by the algorithm's Config")
    with pytest.raises(ValueError, match="return_range_rewards=False"):
        cql.Config(return_range_rewards=True).dataset_transforms(
            Transforms(False, "affine", 10.0, -5.0))


def test_dict_observations_are_flattened_with_goals(minari_root):
    rng = np.random.default_rng(1)
    space = gym.spaces.Dict({key: gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
                             for key in ("achieved_goal", "desired_goal", "observation")})
    episode = _episode(rng, 4, "truncated", obs_dim=6)
    parts = {"observation": episode["obs"][:, :2], "achieved_goal": episode["obs"][:, 2:4],
             "desired_goal": episode["obs"][:, 4:]}
    _create_minari("test/maze/dict-v0", [{**episode, "obs": parts}], space,
                   gym.spaces.Box(-1.0, 1.0, (2,), np.float32), eval_env="Pendulum-v1")

    transition, info = load_numpy("test/maze/dict-v0", transforms=RAW)

    np.testing.assert_allclose(transition.obs, episode["obs"][:-1], rtol=1e-6)
    assert info.transforms["observation_flatten"].startswith(
        "concat(observation, achieved_goal, desired_goal)")
    assert info.transforms["action_rescale"].startswith("none")
    flat = data.flatten_observation({k: v[None] for k, v in parts.items()})
    np.testing.assert_allclose(flat[0], episode["obs"])


def test_d4rl_file_terminals_timeouts_env_and_refs(tmp_path):
    # Steps 0-2: episode ending in a timeout; 3-4: episode ending in a terminal; 5-6: unfinished.
    obs = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
    terminals = np.array([0, 0, 0, 0, 1, 0, 0], bool)
    timeouts = np.array([0, 0, 1, 0, 0, 0, 0], bool)
    rewards = np.arange(7, dtype=np.float32)
    actions = np.linspace(-1, 1, 7, dtype=np.float32)[:, None]
    path = write_d4rl_hdf5(str(tmp_path / "hopper_medium-v2.hdf5"), obs, actions, rewards,
                           terminals, timeouts)

    transition, info = load_numpy(f"d4rl:{path}", transforms=RAW)

    # Dropped: step 2 (timeout: next obs unknown) and step 6 (end of file).
    kept = [0, 1, 3, 4, 5]
    np.testing.assert_array_equal(transition.obs, obs[kept])
    np.testing.assert_array_equal(transition.next_obs, obs[[1, 2, 4, 4, 6]])  # Terminal: itself.
    np.testing.assert_array_equal(transition.terminal, [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(transition.reward, rewards[kept])
    assert info.eval_env_spec == "Hopper-v5" and info.family == "locomotion"
    assert (info.ref_min_score, info.ref_max_score) == (-20.272305, 3234.3)
    assert info.ref_score_source == "D4RL" and info.num_episodes == 3
    assert "dropped 2 of 7" in info.transforms["next_obs"]
    # Episodes end at kept row 1 (its timeout row 2 was dropped), the terminal and the data's end.
    np.testing.assert_array_equal(info.episode_ends, [0, 1, 0, 1, 1])

    _, overridden = load_numpy(f"d4rl:{path}", env_id="Walker2d-v5")
    assert overridden.eval_env_spec == "Walker2d-v5"
    _, queried = load_numpy(f"d4rl:{path}?env=HalfCheetah-v5")
    assert queried.eval_env_spec == "HalfCheetah-v5"


def test_d4rl_next_observations_and_antmaze_table(tmp_path):
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    path = write_d4rl_hdf5(str(tmp_path / "antmaze-umaze-v2.hdf5"), obs, np.zeros((5, 2)),
                           np.array([0, 0, 1, 0, 1]), np.array([0, 0, 1, 0, 1], bool),
                           np.array([0, 1, 0, 0, 0], bool), next_observations=obs + 1)

    transition, info = load_numpy(f"d4rl:{path}")

    np.testing.assert_array_equal(transition.next_obs, obs + 1)  # All 5 kept.
    assert info.eval_env_spec == "AntMaze_UMaze-v5" and info.family == "antmaze"
    assert (info.ref_min_score, info.ref_max_score) == (0.0, 1.0)
    np.testing.assert_array_equal(transition.reward, [-1, -1, 0, -1, 0])  # AntMaze r - 1.
    assert info.obs_mean is None  # No observation normalization for AntMaze.
    _, cql_info = load_numpy(f"d4rl:{path}", algorithm="cql")
    assert cql_info.transforms["reward"] == "r * 10 + -5"


@pytest.mark.parametrize("name, family", [
    ("mujoco/hopper/medium-v0", "locomotion"), ("mujoco/ant/expert-v0 Ant-v5", "locomotion"),
    ("jaxrl_offline/invpend/mixed-v0", "locomotion"), ("D4RL/antmaze/umaze-v1", "antmaze"),
    ("antmaze_umaze-v5", "antmaze"), ("D4RL/pointmaze/large-v2", "pointmaze"),
    ("maze2d-umaze-v1", "pointmaze"), ("D4RL/pen/human-v2", "adroit"),
    ("AdroitHandDoor-v1", "adroit"), ("D4RL/kitchen/mixed-v2", "kitchen"),
    ("Pendulum-v1", "default"), ("test/relevant/penguin-v0", "default"),
])
def test_family_patterns(name, family):
    assert transforms.family_of(name) == family


def test_transform_table_resolution():
    resolve = transforms.resolve_transforms
    assert resolve("locomotion", "iql") == Transforms(True, "return_range", 1000.0, 0.0, 1 - 1e-5)
    assert resolve("locomotion", "cql") == Transforms(True, clip_actions=1 - 1e-5)
    assert resolve("locomotion", "td3_bc") == resolve("locomotion", None) == Transforms(True)
    assert resolve("locomotion", "not_in_table") == Transforms(True)
    # ACA's official code (d3rlpy, scaler=None) trains on raw observations; normalizing them made
    # SAC+ML's Q diverge on hopper medium (benchmarks/parity/README.md, ACA).
    assert resolve("locomotion", "aca") == resolve("locomotion", "sac_ml") == Transforms(False)
    assert resolve("antmaze", None) == Transforms(False, "affine", 1.0, -1.0)
    assert resolve("antmaze", "cql") == Transforms(False, "affine", 10.0, -5.0, 1 - 1e-5)
    assert resolve("antmaze", "iql") == Transforms(False, "affine", 1.0, -1.0, 1 - 1e-5)
    assert transforms.table_key("antmaze", "bc") == "antmaze/*"
    with pytest.raises(ValueError, match="unknown dataset family"):
        resolve("atari", None)
    with pytest.raises(ValueError, match="reward must be one of"):
        Transforms(True, reward="standardize")
    with pytest.raises(ValueError, match="reward='affine'"):
        Transforms(True, reward_scale=2.0)


def test_transform_numbers_by_hand():
    # Trajectories [1, 2, 3], [4], [10, 0] -> returns 6, 4, 10 -> range 6.
    reward = np.array([1.0, 2, 3, 4, 10, 0])
    ends = np.array([0, 0, 1, 1, 0, 1], bool)
    np.testing.assert_array_equal(transforms.trajectory_returns(reward, ends), [6, 4, 10])
    scaled, text = transforms.scale_return_range(reward, ends, 1000.0, 0.0)
    np.testing.assert_allclose(scaled, reward * 1000.0 / 6.0)
    assert "x166.667" in text

    action, text = transforms.rescale_actions(np.array([[-3.0, 0.0], [3.0, 2.0], [0.0, 5.0]]),
                                              np.array([-3.0, 0.0]), np.array([3.0, 2.0]))
    np.testing.assert_allclose(action, [[-1, -1], [1, 1], [0, 1]])
    assert text == "[[-3, 0], [3, 2]] -> [-1, 1]; 1 action entries outside the bounds were clipped"

    obs = np.array([[0.0, 1.0], [2.0, 1.0]])
    normalized, next_normalized, mean, std = transforms.normalize_observations(obs, obs + 1)
    np.testing.assert_allclose(mean, [1.0, 1.0])
    np.testing.assert_allclose(std, [1.001, 0.001])
    np.testing.assert_allclose(normalized, [[-1 / 1.001, 0], [1 / 1.001, 0]], rtol=1e-6)
    np.testing.assert_allclose(next_normalized[0], [0, 1000], rtol=1e-6)

    raw = Transition(obs=obs, action=np.array([[1.0], [-1.0]]), reward=np.array([1.0, 0.0]),
                     next_obs=obs, terminal=np.array([0.0, 1.0]))
    out, description, _, _, affine = transforms.apply_transforms(
        raw, np.array([0, 1], bool), -np.ones(1), np.ones(1),
        Transforms(False, "affine", 4.0, -2.0, clip_actions=0.5))
    np.testing.assert_allclose(out.reward, [2.0, -2.0])
    assert affine == (4.0, -2.0)
    np.testing.assert_allclose(out.action, [[0.5], [-0.5]])
    assert description == {"action_rescale": "none (env bounds are [-1, 1])", "action_clip": 0.5,
                           "reward": "r * 4 + -2"}


def test_return_range_with_equal_returns_is_an_error():
    with pytest.raises(DatasetError, match="same return"):
        transforms.scale_return_range(np.ones(4), np.array([0, 1, 0, 1], bool), 1000.0, 0.0)


def test_mixture_concatenates_and_normalizes_over_union(minari_root):
    make_inverted_pendulum_dataset("test/invpend/expert-v0", "expert", 1500, seed=1, num_envs=2)
    make_inverted_pendulum_dataset("test/invpend/random-v0", "random", 500, seed=2, num_envs=2)
    spec = "test/invpend/expert-v0+test/invpend/random-v0"

    transition, info = load_numpy(spec)

    expert, expert_info = load_numpy("test/invpend/expert-v0", transforms=RAW)
    random, random_info = load_numpy("test/invpend/random-v0", transforms=RAW)
    union = np.concatenate([expert.obs, random.obs])
    assert info.num_transitions == 2000 and info.components == tuple(spec.split("+"))
    np.testing.assert_allclose(info.obs_mean, union.mean(0), atol=1e-6)
    np.testing.assert_allclose(info.obs_std, union.std(0) + 1e-3, rtol=1e-5)
    np.testing.assert_allclose(transition.obs, info.normalize_obs(union), atol=1e-5)
    np.testing.assert_allclose(transition.action[:1500], expert.action)
    assert (info.ref_min_score, info.ref_max_score) == (5.339, 1000.0)
    assert info.num_episodes == expert_info.num_episodes + random_info.num_episodes


def test_incompatible_mixtures_are_errors(mixed_end_dataset, tmp_path):
    make_inverted_pendulum_dataset("test/invpend/random-v0", "random", 200, seed=2, num_envs=2)
    with pytest.raises(DatasetError, match=r"Cannot mix .*obs_dim=4.*obs_dim=3"):
        load_numpy(f"test/invpend/random-v0+{mixed_end_dataset[0]}")

    arrays = (np.zeros((4, 2)), np.zeros((4, 1)), np.ones(4), np.array([0, 1, 0, 1], bool),
              np.zeros(4, bool))
    hopper = write_d4rl_hdf5(str(tmp_path / "hopper-medium-v2.hdf5"), *arrays)
    walker = write_d4rl_hdf5(str(tmp_path / "walker2d-medium-v2.hdf5"), *arrays)
    with pytest.raises(DatasetError, match=r"disagree on reference scores"):
        load_numpy(f"d4rl:{hopper}+d4rl:{walker}", env_id="Hopper-v5")


def test_unknown_and_malformed_ids(tiny_invpend_dataset):
    with pytest.raises(DatasetError) as error:
        load_numpy("mujoco/hopper/medium-v0")
    message = str(error.value)
    assert tiny_invpend_dataset in message  # Lists the local datasets.
    assert "minari download mujoco/hopper/medium-v0" in message and "download=True" in message
    with pytest.raises(DatasetError, match=r"ensure_dataset\('jaxrl_offline/invpend/mixed-v0'\)"):
        load_numpy("jaxrl_offline/invpend/mixed-v0")
    with pytest.raises(DatasetError, match="version is required"):
        load_numpy("mujoco/hopper/medium")
    with pytest.raises(DatasetError, match="'d4rl:' prefix"):
        load_numpy("/data/hopper-medium-v2.hdf5")
    with pytest.raises(DatasetError, match="does not exist"):
        load_numpy("d4rl:/nonexistent/hopper-medium-v2.hdf5")


def test_download_while_offline_fails_at_once(minari_root, monkeypatch):
    monkeypatch.setattr(minari_format, "_host_reachable", lambda *args: False)
    monkeypatch.setattr(minari, "download_dataset", pytest.fail)  # Must not be attempted.
    start = time.monotonic()
    with pytest.raises(DatasetError) as error:
        load_numpy("mujoco/hopper/medium-v0", download=True)
    assert time.monotonic() - start < 1.0
    message = str(error.value)
    assert "appears to be offline" in message
    assert "minari download mujoco/hopper/medium-v0" in message
    assert "MINARI_DATASETS_PATH" in message

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetError, match="HF_HUB_OFFLINE is set"):
        load_numpy("mujoco/hopper/medium-v0", download=True)


def test_download_failure_is_wrapped(minari_root, monkeypatch):
    def fail(dataset_id):
        raise ConnectionError("remote hung up")

    monkeypatch.setattr(minari_format, "_host_reachable", lambda *args: True)
    monkeypatch.setattr(minari, "download_dataset", fail)
    with pytest.raises(DatasetError, match="ConnectionError: remote hung up"):
        load_numpy("mujoco/hopper/medium-v0", download=True)


def test_d4rl_file_errors(tmp_path):
    import h5py

    missing = tmp_path / "hopper-broken-v2.hdf5"
    with h5py.File(missing, "w") as file:
        for key in ("observations", "actions", "rewards"):
            file.create_dataset(key, data=np.zeros((3, 2)))
    with pytest.raises(DatasetError, match=r"lacks the keys \['terminals', 'timeouts'\]"):
        load_numpy(f"d4rl:{missing}")

    arrays = dict(observations=np.zeros((5, 2)), actions=np.zeros((5, 1)),
                  rewards=np.array([0, np.nan, 1, np.inf, 0]), terminals=np.zeros(5, bool),
                  timeouts=np.zeros(5, bool))
    nan_path = write_d4rl_hdf5(str(tmp_path / "hopper-nan-v2.hdf5"), **arrays)
    with pytest.raises(DatasetError, match=r"2 non-finite \(NaN/inf\) values in field 'reward'"):
        load_numpy(f"d4rl:{nan_path}")

    short = write_d4rl_hdf5(str(tmp_path / "hopper-short-v2.hdf5"),
                            **{**arrays, "rewards": np.zeros(4)})
    with pytest.raises(DatasetError, match="arrays of different lengths"):
        load_numpy(f"d4rl:{short}")

    empty = write_d4rl_hdf5(str(tmp_path / "hopper-empty-v2.hdf5"),
                            **{key: value[:0] for key, value in arrays.items()})
    with pytest.raises(DatasetError, match="contains no transitions"):
        load_numpy(f"d4rl:{empty}")

    with pytest.raises(DatasetError, match="only option is '\\?env=ENV_ID'"):
        load_numpy(f"d4rl:{nan_path}?seed=3")


def test_check_transition_names_mismatched_fields():
    good = Transition(obs=np.zeros((3, 2)), action=np.zeros((3, 1)), reward=np.zeros(3),
                      next_obs=np.zeros((3, 2)), terminal=np.zeros(3))
    check_transition(good, "ok")
    with pytest.raises(DatasetError, match=r"mismatched field shapes.*reward \(2,\)"):
        check_transition(good._replace(reward=np.zeros(2)), "bad")
    with pytest.raises(DatasetError, match=r"next_obs \(3, 4\)"):
        check_transition(good._replace(next_obs=np.zeros((3, 4))), "bad")
    with pytest.raises(DatasetError, match="contains no transitions"):
        check_transition(Transition(*(x[:0] for x in good)), "empty")
    with pytest.raises(DatasetError, match=r"1 non-finite .* field 'obs'.*first rows: \[2\]"):
        check_transition(good._replace(obs=np.array([[0, 0], [0, 0], [np.nan, 0]])), "nan")
