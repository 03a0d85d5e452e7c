"""Tests for jaxrl_offline.local_suite.synthetic: generated Minari datasets and probes with known
answers.
"""

import os
import socket
import subprocess
import sys
import time

import h5py
import minari
import numpy as np
import pytest

from jaxrl_offline.local_suite import synthetic
from jaxrl_offline.datasets.data import DatasetError, load_numpy
from jaxrl_offline.datasets.transforms import Transforms

RAW = Transforms(normalize_obs=False)


def test_rollout_is_exact_deterministic_and_independent_of_num_envs():
    episodes = synthetic.rollout_inverted_pendulum("medium", 700, (5, 0), num_envs=1)
    batched = synthetic.rollout_inverted_pendulum("medium", 700, (5, 0), num_envs=6)
    other_seed = synthetic.rollout_inverted_pendulum("medium", 700, (6, 0), num_envs=6)

    assert sum(len(e["reward"]) for e in episodes) == 700
    assert len(episodes) == len(batched)
    for a, b in zip(episodes, batched):
        for key in ("obs", "action", "reward", "terminal", "truncated"):
            np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(episodes[0]["obs"], other_seed[0]["obs"])
    for episode in episodes:  # Every episode ends exactly once, by termination or truncation.
        ends = episode["terminal"] | episode["truncated"]
        assert ends[-1] and not ends[:-1].any() and episode["obs"].dtype == np.float32
        assert len(episode["obs"]) == len(episode["reward"]) + 1


def test_expert_scores_1000_and_the_cut_episode_is_truncated():
    episodes = synthetic.rollout_inverted_pendulum("expert", 1500, (0, 0), num_envs=3)

    assert [len(e["reward"]) for e in episodes] == [1000, 500]
    assert episodes[0]["reward"].sum() == synthetic.INVPEND_EXPERT_SCORE  # Full time limit.
    assert episodes[1]["truncated"][-1] and not episodes[1]["terminal"].any()
    assert np.abs(episodes[0]["action"]).max() <= synthetic.INVPEND_MAX_ACTION


def test_random_reference_score_is_reproducible():
    assert synthetic.measure_random_return(1000, seed=0) == pytest.approx(
        synthetic.INVPEND_RANDOM_SCORE, abs=5e-4)


def test_generated_dataset_metadata_and_determinism(minari_root, tmp_path):
    dataset = synthetic.make_inverted_pendulum_dataset("test/invpend/mixed-v0", "mixed", 1000,
                                                       seed=7, num_envs=4)
    metadata = dataset.storage.metadata
    assert metadata["ref_min_score"] == synthetic.INVPEND_RANDOM_SCORE
    assert metadata["ref_max_score"] == synthetic.INVPEND_EXPERT_SCORE
    assert '"id": "InvertedPendulum-v5"' in metadata["eval_env_spec"]
    assert dataset.total_steps == 1000
    with h5py.File(minari_root / "test/invpend/mixed-v0/data/main_data.hdf5") as file:
        assert file["episode_0/observations"].dtype == np.float32

    # Same seed in another root -> identical arrays; "mixed" = 60% random, 30% weak, 10% expert.
    synthetic.make_inverted_pendulum_dataset("test/invpend/mixed-v0", "mixed", 1000, seed=7,
                                             root=str(tmp_path / "other"), num_envs=1)
    first, info = load_numpy("test/invpend/mixed-v0", transforms=RAW)
    copy = minari.MinariDataset(tmp_path / "other/test/invpend/mixed-v0/data")
    np.testing.assert_array_equal(
        np.concatenate([e.observations[:-1] for e in copy.iterate_episodes()]), first.obs)
    returns = [e.rewards.sum() for e in dataset.iterate_episodes()]
    assert returns[-1] == 100.0 and max(returns[:-1]) < 100  # 100 expert steps, cut at the end.
    assert info.family == "locomotion" and info.has_reference_scores


def test_generation_is_atomic(minari_root, monkeypatch):
    real_create = minari.create_dataset_from_buffers

    def create_then_fail(*args, **kwargs):
        real_create(*args, **kwargs)  # Files are fully written under the staging root...
        raise KeyboardInterrupt  # ...and the run is interrupted before publishing.

    monkeypatch.setattr(minari, "create_dataset_from_buffers", create_then_fail)
    with pytest.raises(KeyboardInterrupt):
        synthetic.make_inverted_pendulum_dataset("test/invpend/expert-v0", "expert", 300, seed=0)

    assert minari.list_local_datasets() == {}
    assert not (minari_root / "test/invpend/expert-v0").exists()
    assert not [p for p in minari_root.iterdir() if p.name.startswith(".")]  # Staging removed.
    with pytest.raises(DatasetError, match="not in the local Minari store"):
        load_numpy("test/invpend/expert-v0")


def test_staging_left_by_killed_generations_is_removed_by_the_next(minari_root):
    # A kill -9 skips the finally that removes staging; the next generation cleans up what dead
    # generations left and keeps what live ones (this process) are writing.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = socket.gethostname()
    owned = {"dead": f"{host} {dead.stdout.strip()}", "live": f"{host} {os.getpid()}",
             "other_host": f"elsewhere {dead.stdout.strip()}"}
    for name, owner in owned.items():
        (minari_root / f".jaxrl_offline-tmp-{name}").mkdir()
        (minari_root / f".jaxrl_offline-tmp-{name}" / "owner").write_text(owner)
    for name, age_s in (("unowned_old", 7200), ("unowned_new", 0)):  # Killed before the owner.
        (minari_root / f".jaxrl_offline-tmp-{name}").mkdir()
        os.utime(minari_root / f".jaxrl_offline-tmp-{name}", (time.time() - age_s,) * 2)
    synthetic.make_inverted_pendulum_dataset("test/invpend/random-v0", "random", 100, seed=0)
    left = sorted(p.name for p in minari_root.iterdir() if p.name.startswith("."))
    assert left == [".jaxrl_offline-tmp-live", ".jaxrl_offline-tmp-other_host",
                    ".jaxrl_offline-tmp-unowned_new"]


def test_overwrite_and_existing_ids(minari_root):
    synthetic.make_inverted_pendulum_dataset("test/invpend/random-v0", "random", 200, seed=0)
    with pytest.raises(DatasetError, match="already exists.*overwrite=True"):
        synthetic.make_inverted_pendulum_dataset("test/invpend/random-v0", "random", 200, seed=0)
    before, _ = load_numpy("test/invpend/random-v0", transforms=RAW)

    synthetic.make_inverted_pendulum_dataset("test/invpend/random-v0", "random", 300, seed=1,
                                             overwrite=True)

    after, _ = load_numpy("test/invpend/random-v0", transforms=RAW)
    assert (len(before.reward), len(after.reward)) == (200, 300)
    assert list(minari.list_local_datasets()) == ["test/invpend/random-v0"]
    with pytest.raises(ValueError, match="unknown kind"):
        synthetic.make_inverted_pendulum_dataset("test/invpend/xx-v0", "replay", 10, seed=0)
    with pytest.raises(DatasetError, match="not a valid Minari id"):
        synthetic.make_inverted_pendulum_dataset("test/invpend/random", "random", 10, seed=0)


def test_ensure_dataset_creates_once(minari_root, monkeypatch):
    dataset_id = synthetic.DEFAULT_DATASET
    monkeypatch.setitem(synthetic.SYNTHETIC_DATASETS, dataset_id,
                        {"kind": "mixed", "num_transitions": 1000, "seed": 3})

    assert synthetic.ensure_dataset() == dataset_id
    hdf5 = minari_root / dataset_id / "data/main_data.hdf5"
    created = hdf5.stat().st_mtime_ns
    assert synthetic.ensure_dataset(dataset_id) == dataset_id
    assert hdf5.stat().st_mtime_ns == created
    assert (minari_root / "jaxrl_offline/invpend/namespace_metadata.json").exists()
    with pytest.raises(DatasetError, match="not one of the generated datasets"):
        synthetic.ensure_dataset("jaxrl_offline/invpend/unknown-v0")


def test_bandit_probe_known_q():
    probe = synthetic.bandit_probe(64, seed=0)
    np.testing.assert_array_equal(probe.terminal, np.ones(64))
    # Q(s, a) = r(s, a) = s . linspace(-1, 1, 3) + a . linspace(1, -1, 2).
    expected = probe.obs @ np.array([-1.0, 0.0, 1.0]) + probe.action @ np.array([1.0, -1.0])
    np.testing.assert_allclose(probe.reward, expected, rtol=1e-6)
    np.testing.assert_allclose(synthetic.bandit_probe_reward(probe.obs, probe.action), expected,
                               rtol=1e-6)
    assert all(x.dtype == np.float32 and x.shape[0] == 64 for x in probe)


def test_chain_probe_known_q():
    gamma = 0.99
    probe = synthetic.chain_probe(10, seed=0, reward0=1.0, reward1=2.0)
    s0_rows, s1_rows = probe.obs[:, 0] == 1, probe.obs[:, 1] == 1
    assert s0_rows.sum() == s1_rows.sum() == 5
    np.testing.assert_array_equal(probe.next_obs[s0_rows], probe.obs[s1_rows])
    np.testing.assert_array_equal(probe.terminal, np.tile([0.0, 1.0], 5))
    # Policy evaluation by hand: Q(s1) = r1 (terminal), Q(s0) = r0 + gamma * Q(s1) = 2.98.
    q_s1 = probe.reward[s1_rows]
    q_s0 = probe.reward[s0_rows] + gamma * (1 - probe.terminal[s0_rows]) * q_s1
    np.testing.assert_allclose(q_s0, 2.98, rtol=1e-6)
    np.testing.assert_allclose(q_s1, 2.0)


def test_expert_probe_is_recoverable_by_regression():
    probe = synthetic.expert_probe(256, seed=0)
    np.testing.assert_allclose(probe.action, synthetic.expert_probe_policy(probe.obs), rtol=1e-6)
    assert np.abs(probe.action).max() < 1.0
    # The expert is tanh(obs @ W): least squares on atanh(action) recovers W, W[i, j] = sin(1+i+2j).
    targets = np.arctanh(probe.action.astype(np.float64))
    weights, *_ = np.linalg.lstsq(probe.obs, targets, rcond=None)
    rows, cols = np.meshgrid(np.arange(4), np.arange(2), indexing="ij")
    np.testing.assert_allclose(weights, np.sin(1.0 + rows + 2.0 * cols), atol=1e-3)
    info = synthetic.probe_info(probe, "expert_probe")
    assert (info.obs_dim, info.action_dim, info.num_transitions) == (4, 2, 256)
    assert info.eval_env_spec is None and not info.has_reference_scores
