"""Tests of the local D4RL-style suite generator (``local_suite/suite.py``), its CLI and the policy
export.

Every test uses tiny random behavior policies written by the ``policy_root`` fixture (the shipped
policies are not needed) and datasets of a few dozen transitions.
"""

import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import minari
import numpy as np
import pytest

from jaxrl_offline import networks
from jaxrl_offline.datasets import data, dataset_spec
from jaxrl_offline.local_suite import behavior, locomotion, suite
from jaxrl_offline.datasets.raw_data import DatasetError

ENV = "hopper"


def random_policy(seed):
    module = networks.TanhGaussianActor((8, 8), 3)
    params = module.init(jax.random.key(seed), jnp.zeros((1, 11)))
    params = jax.tree.map(lambda x: x + 0.5 * jax.random.normal(jax.random.key(seed + 1), x.shape),
                          params)
    return behavior.from_flax_params(params)


@pytest.fixture(scope="module")
def policy_root(tmp_path_factory):
    """A behavior-policy folder for hopper: medium, expert and a 2-segment replay sequence."""
    root = tmp_path_factory.mktemp("policies")
    folder = root / ENV
    levels = {}
    for seed, level in ((0, "medium"), (2, "expert")):
        sha = behavior.save(random_policy(seed), folder / f"{level}.npz")
        levels[level] = {"file": f"{level}.npz", "sha256": sha, "step": 10 * (seed + 1),
                         "eval_return": 1.0}
    behavior.save(random_policy(4), folder / "replay" / "step_0000030.npz")
    manifest = {"levels": levels, "replay": [
        {"start": 0, "end": 30, "file": None},
        {"start": 30, "end": 60, "file": "replay/step_0000030.npz"}]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return str(root)


def make(policy_root, root, kind, size, **kwargs):
    return suite.make_dataset(ENV, kind, size, root=str(root), policy_root=policy_root,
                              num_envs=kwargs.pop("num_envs", 3), **kwargs)


def episodes_of(path):
    dataset = minari.MinariDataset(f"{path}/data")
    return [(ep.observations, ep.actions, ep.rewards, ep.terminations, ep.truncations)
            for ep in dataset.iterate_episodes()]


def test_ids_and_size_labels():
    assert suite.dataset_id("hopper", "medium") == "jaxrl_offline/hopper/medium-v0"
    assert suite.dataset_id("hopper", "medium", 10_000) == "jaxrl_offline/hopper/medium-10k-v0"
    assert suite.dataset_id("walker2d", "medium-expert", 2_000_000) == (
        "jaxrl_offline/walker2d/medium-expert-2m-v0")
    assert dataset_spec.parse("jaxrl_offline/hopper/medium-10k-v0").parts[0].suite == (
        dataset_spec.SuiteDataset("hopper", "medium", 10_000))
    assert dataset_spec.parse("jaxrl_offline/invpend/mixed-v0").parts[0].suite is None
    with pytest.raises(ValueError, match="unknown kind"):
        suite.dataset_id("hopper", "replay")
    with pytest.raises(ValueError, match="unknown locomotion env"):
        suite.dataset_id("ant", "medium")


def test_deterministic_and_independent_of_num_envs(policy_root, tmp_path):
    first = make(policy_root, tmp_path / "a", "medium", 80, num_envs=2)
    second = make(policy_root, tmp_path / "b", "medium", 80, num_envs=5)
    assert first.num_transitions == 80
    for one, two in zip(episodes_of(first.path), episodes_of(second.path), strict=True):
        for x, y in zip(one, two):
            np.testing.assert_array_equal(x, y)
    other_seed = make(policy_root, tmp_path / "c", "medium", 80, seed=1)
    assert not np.array_equal(episodes_of(other_seed.path)[0][1], episodes_of(first.path)[0][1])


def test_suite_reference_scores_are_d4rls():
    # d4rl/infos.py's REF_MIN_SCORE / REF_MAX_SCORE, from the one table the hdf5 loader also uses.
    expected = {"halfcheetah": (-280.178953, 12135.0), "hopper": (-20.272305, 3234.3),
                "walker2d": (1.629008, 4592.3)}
    assert {name: (env.ref_min_score, env.ref_max_score)
            for name, env in locomotion.ENVS.items()} == expected


def test_metadata_reference_scores_and_loader_round_trip(policy_root, minari_root):
    generated = make(policy_root, minari_root, "medium", 60)
    metadata = json.loads((minari_root / generated.dataset_id / "data" /
                           "metadata.json").read_text())
    hopper = locomotion.ENVS[ENV]
    assert (metadata["ref_min_score"], metadata["ref_max_score"]) == (
        hopper.ref_min_score, hopper.ref_max_score)
    assert "Hopper-v5" in metadata["eval_env_spec"]
    assert metadata["algorithm_name"] == "SAC behavior policy (medium)"
    assert metadata["generator_version"] == suite.GENERATOR_VERSION
    assert metadata["kind"] == "medium" and metadata["seed"] == 0
    expected_sha = behavior.file_sha256(os.path.join(policy_root, ENV, "medium.npz"))
    assert metadata["policy_sha256"] == {"medium": expected_sha}
    assert "D4RL" in metadata["description"]
    transitions, info = data.load_numpy(generated.dataset_id)
    assert info.num_transitions == 60 and transitions.obs.dtype == np.float32
    assert (info.ref_min_score, info.ref_max_score) == (hopper.ref_min_score,
                                                       hopper.ref_max_score)
    episodes = episodes_of(minari_root / generated.dataset_id)
    assert episodes[0][0].dtype == np.float32
    assert sum(len(ep[2]) for ep in episodes) == 60
    # Each episode ends exactly once, by termination or truncation (the last one is cut).
    assert all(ep[3][-1] or ep[4][-1] for ep in episodes)


def test_medium_expert_is_medium_then_expert(policy_root, tmp_path):
    medium = make(policy_root, tmp_path, "medium", 50)
    expert = make(policy_root, tmp_path, "expert", 50)
    mixed = make(policy_root, tmp_path, "medium-expert", 50)
    assert mixed.num_transitions == 100
    parts = episodes_of(medium.path) + episodes_of(expert.path)
    for one, two in zip(parts, episodes_of(mixed.path), strict=True):
        for x, y in zip(one, two):
            np.testing.assert_array_equal(x, y)


def test_medium_replay_follows_the_checkpoint_sequence(policy_root, tmp_path):
    full = make(policy_root, tmp_path, "medium-replay", None)
    assert full.num_transitions == 60  # segments [0, 30) random + [30, 60) snapshot
    scaled = make(policy_root, tmp_path, "medium-replay", 20)
    assert scaled.num_transitions == 20
    metadata = json.loads((tmp_path / scaled.dataset_id / "data" / "metadata.json").read_text())
    assert set(metadata["policy_sha256"]) == {"replay@30"}
    random = make(policy_root, tmp_path, "random", 30)
    # The random segment of medium-replay is its own stream, not the random dataset's.
    assert not np.array_equal(episodes_of(random.path)[0][1], episodes_of(full.path)[0][1])


def test_refuses_to_overwrite_and_leaves_nothing_when_interrupted(policy_root, tmp_path,
                                                                  monkeypatch):
    make(policy_root, tmp_path, "random", 20)
    with pytest.raises(DatasetError, match="already exists"):
        make(policy_root, tmp_path, "random", 20)
    make(policy_root, tmp_path, "random", 20, overwrite=True)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(minari, "create_dataset_from_buffers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make(policy_root, tmp_path, "expert", 20)
    assert not (tmp_path / suite.dataset_id(ENV, "expert", 20)).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_cli_writes_prints_and_refuses_existing(policy_root, tmp_path):
    command = [sys.executable, "-m", "experiments.make_datasets", "--envs=hopper",
               "--kinds=random,medium", "--size=30", f"--root={tmp_path}",
               f"--policy_root={policy_root}", f"--table={tmp_path / 'table.md'}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote jaxrl_offline/hopper/random-30-v0" in done.stdout
    assert "wrote jaxrl_offline/hopper/medium-30-v0" in done.stdout
    assert "| jaxrl_offline/hopper/medium-30-v0 | 30 |" in (tmp_path / "table.md").read_text()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "already exist" in again.stderr + again.stdout


def test_table_merge_replaces_rows_of_regenerated_datasets():
    header = "| dataset | n |\n|---|---|\n"
    old = header + "| jaxrl_offline/a/x-v0 | 1 |\n| jaxrl_offline/b/y-v0 | 2 |\n"
    new = header + "| jaxrl_offline/b/y-v0 | 3 |\n| jaxrl_offline/c/z-v0 | 4 |\n"
    assert suite.merge_tables(old, new) == header + (
        "| jaxrl_offline/a/x-v0 | 1 |\n| jaxrl_offline/b/y-v0 | 3 |\n"
        "| jaxrl_offline/c/z-v0 | 4 |\n")
    # A kept dataset's row comes back with an unknown generation time: the old one stays.
    kept = header + "| jaxrl_offline/a/x-v0 | - |\n"
    assert suite.merge_tables(old, kept) == old


def test_export_picks_expert_late_medium_at_a_third_and_the_replay_sequence(tmp_path):
    workdir = tmp_path / "run"
    returns = {10: 5.0, 20: 40.0, 30: 110.0, 40: 200.0, 50: 290.0, 60: 330.0, 70: 300.0}
    for step in returns:
        behavior.save(random_policy(step), workdir / "snapshots" / f"step_{step:07d}.npz")
    history = {"env": "Hopper-v5", "seed": 0, "config": {}, "settings": {"warmup_steps": 15},
               "evals": [{"step": s, "return": r, "return_std": 1.0} for s, r in returns.items()],
               "episodes": []}
    (workdir / "history.json").write_text(json.dumps(history))
    manifest = locomotion.export_policies(ENV, workdir, tmp_path / "policies", window=0.3)
    # The last 30% of 70 steps holds 50, 60, 70: the expert is step 60 (330); a third is 110.
    assert manifest["levels"]["expert"]["step"] == 60
    assert manifest["levels"]["medium"]["step"] == 30
    assert manifest["replay"] == [
        {"start": 0, "end": 15, "file": None},
        {"start": 15, "end": 20, "file": "replay/step_0000010.npz",
         "sha256": manifest["replay"][1]["sha256"]},
        {"start": 20, "end": 30, "file": "replay/step_0000020.npz",
         "sha256": manifest["replay"][2]["sha256"]}]
    policy, sha = locomotion.load_policy(ENV, "medium", tmp_path / "policies")
    assert sha == behavior.file_sha256(workdir / "snapshots" / "step_0000030.npz")
    assert [(s, e) for s, e, _ in locomotion.replay_sequence(ENV, tmp_path / "policies")] == [
        (0, 15), (15, 20), (20, 30)]
    # A medium chosen by hand moves the replay sequence with it and is recorded with its reason.
    manifest = locomotion.export_policies(ENV, workdir, tmp_path / "policies", window=0.3,
                                          medium_step=40, medium_reason="hops")
    assert manifest["levels"]["medium"]["step"] == 40 and manifest["replay"][-1]["end"] == 40
    assert manifest["medium_rule"] == "chosen by hand (step 40): hops"
    with pytest.raises(ValueError, match="not an evaluated snapshot"):
        locomotion.export_policies(ENV, workdir, tmp_path / "p2", window=0.3, medium_step=60)


def test_ensure_dataset_refuses_data_of_other_policies(tmp_path):
    dataset_id = suite.ensure_dataset("hopper", "medium-replay", 40, root=str(tmp_path))
    assert suite.ensure_dataset("hopper", "medium-replay", 40, root=str(tmp_path)) == dataset_id
    metadata_path = tmp_path / dataset_id / "data" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    assert metadata["policy_sha256"] == suite.expected_policy_hashes("hopper", "medium-replay", 40)
    # A dataset generated by an older release (other shipped policies) is not silently reused.
    metadata["policy_sha256"] = {"replay@10000": "0" * 64}
    metadata_path.write_text(json.dumps(metadata))
    with pytest.raises(DatasetError, match="--kinds=medium-replay --size=40 --overwrite"):
        suite.ensure_dataset("hopper", "medium-replay", 40, root=str(tmp_path))


def test_train_behavior_resumes_from_the_committed_mirror_and_exports_from_it(tmp_path):
    """A lost workdir (machine) costs only the replay buffer: the run restarts from the mirror's
    agent, refills the buffer with policy steps, and export finds the snapshots in the mirror."""
    workdir, mirror = tmp_path / "state", tmp_path / "mirror"
    command = [sys.executable, "-m", "experiments.train_behavior", "--env=hopper",
               "--warmup_steps=10", "--snapshot_every=20", "--checkpoint_every=20",
               "--update_every=10", "--eval_episodes=1", "--refill_steps=30",
               "--mirror_snapshots_until=40", f"--workdir={workdir}", f"--mirror={mirror}"]
    done = subprocess.run(command + ["--steps=40"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (mirror / "agent.npz").exists() and (mirror / "snapshots" / "step_0000020.npz").exists()
    shutil.rmtree(workdir)
    done = subprocess.run(command + ["--steps=60"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "from the mirror" in done.stdout and "refilled the replay buffer with 30" in done.stdout
    history = json.loads((mirror / "history.json").read_text())
    assert [e["step"] for e in history["evals"]] == [20, 40, 60]
    assert [(r["at_step"], r["env_steps"]) for r in history["refills"]] == [(40, 30)]
    shutil.rmtree(workdir)
    manifest = locomotion.export_policies("hopper", workdir, tmp_path / "policies", window=0.5,
                                          mirror=mirror)
    assert manifest["levels"]["expert"]["step"] in {
        int(p.stem.split("_")[1]) for p in (mirror / "snapshots").glob("*.npz")}
