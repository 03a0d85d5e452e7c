"""Parity harness (benchmarks/parity): D4RL arrays, the old-gym facade, the launcher, the records.

Everything runs on a 21-step hand-made Minari dataset and a stand-in reference script written by
the test: no reference checkout, no torch.
"""

import dataclasses
import importlib
import os
import pathlib
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
from minari.data_collector.episode_buffer import EpisodeBuffer

from benchmarks.parity import d4rl_arrays, harness, records, references, shims, tables
from jaxrl_offline.datasets import data
from jaxrl_offline.reporting import aggregate, results
from jaxrl_offline.datasets.minari_writer import create_atomically
from jaxrl_offline.datasets.transforms import Transforms

DATASET_ID = "test/invpend/parity-v0"
# (length, terminated): episode 1 and 3 time out (3 at the end of the file).
EPISODES = ((5, True), (7, False), (3, True), (6, False))
NUM_STEPS = sum(length for length, _ in EPISODES)
ENV_NAME = "invpend-test-v2"


@pytest.fixture
def parity_dataset(minari_root):
    """Four InvertedPendulum-v5 episodes of random steps; reference scores 0 and 100."""
    rng = np.random.default_rng(0)
    buffers = []
    for index, (length, terminated) in enumerate(EPISODES):
        done = np.zeros(length, bool)
        done[-1] = True
        buffers.append(EpisodeBuffer(
            id=index, seed=index,
            observations=rng.normal(size=(length + 1, 4)).astype(np.float32),
            actions=rng.uniform(-3, 3, (length, 1)).astype(np.float32),
            rewards=rng.normal(size=length), terminations=done & terminated,
            truncations=done & (not terminated)))
    create_atomically(
        DATASET_ID, buffers, None, False, env="InvertedPendulum-v5",
        eval_env="InvertedPendulum-v5", algorithm_name="random", author="test",
        author_email="n/a", code_permalink="tests/test_parity.py",
        observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        ref_min_score=0.0, ref_max_score=100.0, description="parity test", data_format="hdf5")
    return DATASET_ID


def qlearning_loop(dataset):
    """D4RL's qlearning_dataset as its plain loop (the oracle of the vectorized version)."""
    rows = {key: [] for key in d4rl_arrays.QLEARNING_KEYS}
    for i in range(len(dataset["rewards"]) - 1):
        if dataset["timeouts"][i]:
            continue  # No next observation: skipped, not marked terminal.
        rows["observations"].append(dataset["observations"][i])
        rows["next_observations"].append(dataset["observations"][i + 1])
        rows["actions"].append(dataset["actions"][i])
        rows["rewards"].append(dataset["rewards"][i])
        rows["terminals"].append(dataset["terminals"][i])
    return {key: np.array(value) for key, value in rows.items()}


def test_get_dataset_is_the_projects_arrays(parity_dataset):
    dataset = d4rl_arrays.get_dataset(parity_dataset)
    project, _ = data.load_numpy(parity_dataset, transforms=Transforms(normalize_obs=False))
    assert dataset["observations"].dtype == np.float32 and dataset["terminals"].dtype == bool
    np.testing.assert_array_equal(dataset["observations"], project.obs)
    np.testing.assert_array_equal(dataset["next_observations"], project.next_obs)
    np.testing.assert_array_equal(dataset["rewards"], np.float32(project.reward))
    np.testing.assert_array_equal(dataset["terminals"], project.terminal > 0.5)
    # Episode ends at steps 4, 11, 14, 20: terminal, timeout, terminal, timeout.
    np.testing.assert_array_equal(np.flatnonzero(dataset["terminals"]), [4, 14])
    np.testing.assert_array_equal(np.flatnonzero(dataset["timeouts"]), [11, 20])
    # Raw env actions in [-3, 3] (InvertedPendulum), where the project rescales to [-1, 1].
    assert np.abs(dataset["actions"]).max() > 1.0


def test_qlearning_dataset_follows_d4rl(parity_dataset):
    dataset = d4rl_arrays.get_dataset(parity_dataset)
    received = d4rl_arrays.qlearning_dataset(dataset)
    expected = qlearning_loop(dataset)
    for key in d4rl_arrays.QLEARNING_KEYS:
        np.testing.assert_array_equal(received[key], expected[key], err_msg=key)
    # 21 steps minus the mid-file timeout (11) and the last step (20).
    assert len(received["rewards"]) == NUM_STEPS - 2
    assert received["terminals"].sum() == 2
    kept = d4rl_arrays.kept_rows(dataset)
    assert kept.sum() == NUM_STEPS - 2 and not kept[11] and not kept[20]
    assert len(d4rl_arrays.qlearning_dataset(dataset, terminate_on_end=True)["rewards"]) == 20


def test_check_against_project_counts_and_rejects_changes(parity_dataset):
    binding, info = harness.make_binding(parity_dataset, ENV_NAME)
    received = d4rl_arrays.qlearning_dataset(binding.dataset)
    summary = binding.check(binding.dataset, received)
    assert summary == {
        "project_transitions": 21, "reference_transitions": 19, "dropped_timeouts": 1,
        "dropped_last_step": 1, "terminals": 2, "reference_terminals": 2, "timeouts": 2,
        "episodes": 4, "next_obs_aligned_nonterminal": 17,
        # After a terminal D4RL pairs the next episode's first observation (masked anyway).
        "next_obs_after_terminal_differs": 2}
    for key, change in (("next_observations", lambda x: np.roll(x, 1, axis=0)),
                        ("terminals", np.zeros_like),
                        ("rewards", lambda x: x * 2)):
        tampered = dict(received, **{key: change(received[key])})
        with pytest.raises(d4rl_arrays.ParityError):
            binding.check(binding.dataset, tampered)
    with pytest.raises(d4rl_arrays.ParityError, match="timeouts"):
        d4rl_arrays.check_against_project(binding.dataset, received, data.load_numpy(
            parity_dataset, transforms=Transforms(normalize_obs=False))[0],
            dataclasses.replace(info, num_episodes=5))


def test_facade_has_the_old_gym_api(parity_dataset):
    binding, _ = harness.make_binding(parity_dataset, ENV_NAME)
    saved = sys.modules.get("gym")
    with shims.install(binding):
        import d4rl
        import gym as old_gym

        env = old_gym.make(ENV_NAME)
        env.seed(3)
        first = env.reset()
        obs, reward, done, info = env.step(env.action_space.sample())
        assert first.shape == (4,) and obs.shape == (4,) and isinstance(reward, float)
        assert isinstance(done, bool) and isinstance(info, dict)
        env.seed(3)
        np.testing.assert_array_equal(env.reset(), first)  # seed() replays the same reset.
        assert env.reset().tolist() != first.tolist()  # Later resets continue the generator.
        assert env.get_normalized_score(50.0) == pytest.approx(0.5)
        assert d4rl.get_normalized_score(ENV_NAME, 100.0) == pytest.approx(1.0)

        wrapped = old_gym.wrappers.TransformReward(
            old_gym.wrappers.TransformObservation(env, lambda x: x * 0.0), lambda r: r + 10.0)
        wrapped.seed(0)
        np.testing.assert_array_equal(wrapped.reset(), np.zeros(4))
        _, reward, _, _ = wrapped.step(np.zeros(1))
        assert reward == pytest.approx(11.0)  # InvertedPendulum pays 1 per step.
        assert wrapped.get_normalized_score(100.0) == pytest.approx(1.0)  # Falls through.
        assert wrapped.observation_space.shape == (4,)
        with pytest.raises(ValueError, match="binds only"):
            old_gym.make("hopper-medium-v2")

        received = d4rl.qlearning_dataset(env)
        assert len(received["rewards"]) == NUM_STEPS - 2 and len(binding.checks) == 1
    assert sys.modules.get("gym") is saved and "d4rl" not in sys.modules


# A stand-in for a reference script: imports gym and d4rl at the top, evaluates every
# --eval_freq updates through a module-level function, as CORL's scripts do.
FAKE_REFERENCE = '''
import sys

import d4rl
import gym
import numpy as np
import wandb


def eval_actor(env, n_episodes, seed):
    env.seed(seed)
    returns = []
    for _ in range(n_episodes):
        state, done, total = env.reset(), False, 0.0
        while not done:
            state, reward, done, _ = env.step(np.zeros(1))
            total += reward
        returns.append(total)
    return np.asarray(returns)


def train():
    args = dict(arg[2:].split("=") for arg in sys.argv[1:])
    wandb.init(project="fake")  # Rebinds wandb.log, as the real wandb.init does.
    env = gym.make(args["env"])
    dataset = d4rl.qlearning_dataset(env)
    assert len(dataset["rewards"]) == 19
    for t in range(int(args["max_timesteps"])):
        # A training signal every update (an actor loss every other one), an evaluation result
        # after each evaluation, as CORL logs them.
        wandb.log({"critic_loss": float(t), **({"actor_loss": -1.0} if t % 2 else {})}, step=t)
        if (t + 1) % int(args["eval_freq"]) == 0:
            eval_actor(env, int(args["n_episodes"]), int(args["seed"]))
            wandb.log({"d4rl_normalized_score": 50.0}, step=t)
'''


def test_run_seed_and_reference_record(parity_dataset, tmp_path, monkeypatch):
    logged = []
    fake_wandb = type(sys)("wandb")
    fake_wandb.log = lambda data, **kwargs: None  # Replaced by init's run.log.

    def fake_init(**kwargs):
        fake_wandb.log = lambda data, **kwargs: logged.append(data)

    fake_wandb.init = fake_init
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb)
    script = tmp_path / "fake_reference.py"
    script.write_text(textwrap.dedent(FAKE_REFERENCE))
    binding, info = harness.make_binding(parity_dataset, ENV_NAME)
    reference = references.Reference(
        name="test/fake", repository="example/fake", commit="0" * 40, script=script.name,
        algorithm="td3_bc", variant="fake", eval_function="eval_actor", config_file="",
        flags=references.REFERENCES["corl/td3_bc"].flags)
    seeds = []
    for seed in (0, 1):
        args = references.command_args(reference, ENV_NAME, None, seed, 30, 10, 2, "")
        assert args[0] == f"--env={ENV_NAME}" and "--max_timesteps=30" in args
        seeds.append(harness.run_seed(script, "eval_actor", binding, args, seed))
    assert seeds[0].returns.shape == (3, 2) and np.all(seeds[0].returns >= 1)
    assert seeds[0].data_check["reference_transitions"] == 19
    assert len(seeds[0].train_s) == 3 and np.all(seeds[0].eval_s > 0)
    # wandb.log's training signals, averaged between evaluations (updates 0-9, 10-19, 20-29);
    # the score logged after each evaluation is left out. The real wandb.log still got them all.
    assert seeds[0].train_metrics == {"actor_loss": [-1.0] * 3,
                                      "critic_loss": [4.5, 14.5, 24.5]}
    assert len(logged) == 2 * 33 and fake_wandb.init is fake_init
    cached = tmp_path / "seed.json"
    records.save_seed(str(cached), seeds[0])
    assert records.load_seed(str(cached)).train_metrics == seeds[0].train_metrics

    record = records.reference_record(reference, "0" * 40, parity_dataset, info, {"alpha": 2.5},
                                      seeds, steps=30, eval_every=10, eval_episodes=2,
                                      device="cpu", command="test")
    assert record["name"] == "td3_bc-fake__test_invpend_parity-v0"
    assert record["eval_steps"] == [10, 20, 30] and record["seeds"] == [0, 1]
    assert record["train_metrics"] == {"steps": [10, 20, 30], "actor_loss": [[-1.0, -1.0]] * 3,
                                       "critic_loss": [[4.5, 4.5], [14.5, 14.5], [24.5, 24.5]]}
    assert records.is_reference(record) and record["reference"]["repository"] == "example/fake"
    # Reference scores are 0 and 100: the normalized score is the mean return itself.
    np.testing.assert_allclose(record["normalized_scores"][1][1], seeds[1].returns[1].mean())
    assert record["returns"][0] == seeds[0].returns[-1].tolist()
    # Digested like our records, so the tables list it as checked, not as legacy.
    assert not results.is_legacy(record)
    assert record["scores_digest"] == results.scores_digest(record)
    path = records.write(tmp_path / "parity", record)
    assert results.read_record(path) == record
    assert results.column_label(record) == "td3_bc/fake"


# A stand-in for CORL ReBRAC: its own D4RL loop with next actions (no d4rl.qlearning_dataset),
# the removed jax.tree_map, wandb.mark_preempting, epochs of updates with an evaluation after
# each (num_epochs, num_updates_on_epoch, eval_every=1).
FAKE_REBRAC = '''
import sys

import d4rl  # noqa: F401
import gym
import jax
import numpy as np
import wandb


def qlearning_dataset(env, dataset=None):
    dataset = env.get_dataset() if dataset is None else dataset
    keep = [i for i in range(len(dataset["rewards"]) - 1) if not dataset["timeouts"][i]]
    rows = {"observations": dataset["observations"][keep],
            "next_observations": dataset["observations"][[i + 1 for i in keep]],
            "actions": dataset["actions"][keep],
            "next_actions": dataset["actions"][[i + 1 for i in keep]],
            "rewards": dataset["rewards"][keep], "terminals": dataset["terminals"][keep]}
    if "SHIFT_NEXT_ACTIONS" in sys.argv[-1]:
        rows["next_actions"] = np.roll(rows["next_actions"], 1, axis=0)
    return rows


def evaluate(env, n_episodes, seed):
    env.seed(seed)
    return np.asarray([float(seed + n) for n in range(n_episodes)])


def train():
    args = dict(arg[2:].split("=") for arg in sys.argv[1:])
    wandb.mark_preempting()
    data = qlearning_dataset(gym.make(args["dataset_name"]))
    jax.tree_map(lambda x: x[:2], dict(data))
    assert int(args["eval_every"]) == 1
    for _ in range(int(args["num_epochs"])):
        evaluate(gym.make(args["dataset_name"]), int(args["eval_episodes"]),
                 int(args["train_seed"]))
'''


def test_rebrac_style_reference_runs_with_its_own_dataset_loop(parity_dataset, tmp_path,
                                                               monkeypatch):
    import jax

    script = tmp_path / "fake_rebrac.py"
    script.write_text(textwrap.dedent(FAKE_REBRAC))
    fake_wandb = type(sys)("wandb")
    fake_wandb.mark_preempting = lambda: (_ for _ in ()).throw(RuntimeError("wandb.init first"))
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    reference = dataclasses.replace(references.REFERENCES["corl/rebrac"], script=script.name,
                                    config_class="")  # No pyrallis in the stand-in.
    # 30 updates evaluated every 10: three epochs of 10 updates, an evaluation after each.
    args = references.command_args(reference, ENV_NAME, None, 1, 30, 10, 2)
    assert args == [f"--dataset_name={ENV_NAME}", "--num_epochs=3", "--num_updates_on_epoch=10",
                    "--eval_episodes=2", "--train_seed=1", "--eval_every=1"]
    with pytest.raises(ValueError, match="multiple of eval_every"):
        references.command_args(reference, ENV_NAME, None, 1, 25, 10, 2)
    binding, _ = harness.make_binding(parity_dataset, ENV_NAME)
    result = harness.run_reference_seed(reference, tmp_path, binding, args, 1)
    np.testing.assert_array_equal(result.returns, [[1.0, 2.0]] * 3)
    # The script's own loop went through the same check, next actions included.
    assert result.data_check["reference_transitions"] == 19
    assert result.data_check["next_actions_checked"] == 19
    assert "tree_map" not in vars(jax) and "mark_preempting" in vars(fake_wandb)
    with pytest.raises(RuntimeError, match="wandb.init first"):
        fake_wandb.mark_preempting()  # Restored after the run.
    with pytest.raises(d4rl_arrays.ParityError, match="next_actions"):
        harness.run_reference_seed(reference, tmp_path, binding, [*args, "--SHIFT_NEXT_ACTIONS=1"],
                                   1)
    with pytest.raises(ValueError, match="no replacement known"), shims.restore_jax_aliases(
            ["tree_unknown_alias"]):
        pass


def test_ours_config_matches_corl_per_domain():
    from jaxrl_offline.algorithms import ALGORITHMS

    hopper = ["--config.use_updated_value=false", "--config.actor_kind=deterministic",
              "--config.tau=0.001"]
    for dataset in ("jaxrl_offline/hopper/medium-v0", "jaxrl_offline/hopper/medium-50k-v0",
                    "jaxrl_offline/hopper/medium-replay-v0"):
        assert references.ours_config_args("corl/iql", dataset) == hopper
    assert references.ours_config_args("corl/iql", "jaxrl_offline/walker2d/medium-v0") == [
        "--config.use_updated_value=false"]
    assert references.ours_config_args("corl/td3_bc", "jaxrl_offline/hopper/medium-v0") == []
    cql = ["--config.alpha_lr=3e-05", "--config.log_std_offset=-1.0"]
    assert references.ours_config_args("corl/cql", "jaxrl_offline/hopper/medium-50k-v0") == [
        *cql, "--config.return_range_rewards=true"]
    assert references.ours_config_args("corl/cql", "jaxrl_offline/walker2d/medium-v0") == cql
    assert references.ours_config_args("corl/rebrac", "jaxrl_offline/hopper/medium-v0") == []
    with pytest.raises(ValueError, match="unknown reference"):
        references.ours_config("corl/iqx", "jaxrl_offline/hopper/medium-v0")
    # Every row names fields of the reference's algorithm with valid values (sfbc_staged, the
    # staged pipeline, is a module outside the update-contract registry).
    for name, _, values in references.OURS_CONFIG:
        algorithm = references.get_reference(name).algorithm
        module = ALGORITHMS.get(algorithm) or importlib.import_module(
            f"jaxrl_offline.algorithms.{algorithm}")
        module.Config(**values)


def test_difference_ci():
    # Means 2 and 0: difference 2; resampling {1, 3} gives means 1, 2 or 3, so the CI is in [1, 3].
    difference, low, high = aggregate.difference_ci([1.0, 3.0], [0.0, 0.0])
    assert difference == 2.0 and 1.0 <= low <= high <= 3.0
    difference, low, high = aggregate.difference_ci([5.0], [1.0, 2.0])
    assert difference == 3.5 and np.isnan(low) and np.isnan(high)


def test_welch_difference_ci_by_hand():
    # ours {1, 3}: mean 2, s^2 = 2; reference {0, 2, 4}: mean 2, s^2 = 4. Difference 0;
    # s.e.^2 = 2/2 + 4/3 = 7/3; dof = (7/3)^2 / (1^2/1 + (4/3)^2/2) = (49/9) / (17/9) = 49/17;
    # the t quantile at 0.975 and 49/17 dof is 3.2572 (between t_2 = 4.303 and t_3 = 3.182).
    difference, low, high = aggregate.welch_difference_ci([1.0, 3.0], [0.0, 2.0, 4.0])
    half = 3.2572 * np.sqrt(7 / 3)
    assert difference == 0.0
    np.testing.assert_allclose([low, high], [-half, half], rtol=1e-3)
    # Wider than the percentile bootstrap at this sample size.
    _, boot_low, boot_high = aggregate.difference_ci([1.0, 3.0], [0.0, 2.0, 4.0])
    assert high - low > boot_high - boot_low
    assert np.isnan(aggregate.welch_difference_ci([5.0], [1.0, 2.0])[1])


def _write_parity_record(workdir, name, seeds, scores, reference=None, variant="", config=None,
                         algorithm="td3_bc", online=None, timing=None, dataset_id="test/data-v0"):
    """A minimal complete record under ``workdir/runs`` (``online``: ``[env step][seed]``
    scores at env steps 0, 5, 10)."""
    rows = np.asarray(scores, np.float64).tolist()
    entry = {"name": name, "algorithm": algorithm,
             "variant": "corl" if reference else variant, "config": config or {"alpha": 2.5},
             "dataset_id": dataset_id, "seeds": seeds, "steps": 20, "eval_every": 10,
             "eval_episodes": 1, "eval_steps": [10, 20], "normalized_scores": rows,
             "returns": [[0.0] for _ in seeds], "final": results.final_summary(rows),
             "normalized": True, "command": f"make {name}"}
    entry.update({field: None for field in results.REQUIRED_FIELDS if field not in entry},
                 schema_version=results.SCHEMA_VERSION, status="complete")
    if reference:
        entry["reference"] = reference
    if timing is not None:
        entry["timing"] = timing
    if online is not None:
        from jaxrl_offline.runner import finetune

        entry["online"] = finetune.finish_online(
            {"steps": 10, "eval_every": 5, "update_every": 1, "env_steps": [0, 5, 10],
             "normalized_scores": np.asarray(online, np.float64).tolist(),
             "returns": [[0.0] for _ in seeds], "buffer": {}, "reward_transform": None,
             "train_metrics": {}, "timing": {"train_s": 2.0}}, normalized=True)
    results.write_record(workdir / "runs" / f"{name}.json", entry)


def test_tables_pair_ours_with_reference(tmp_path):
    def record(*args, **kwargs):
        _write_parity_record(tmp_path, *args, **kwargs)

    record("ours", [0, 1], [[10.0, 12.0], [20.0, 22.0]])
    record("ref", [0, 1], [[11.0, 11.0], [30.0, 30.0]], reference={
        "repository": "example/ref", "commit": "abcdef0123", "script": "algo.py",
        "name": "test/ref"})
    # A diagnostic variant of ours gets its own table against the same reference.
    record("ours-switch", [0, 1], [[12.0, 14.0], [28.0, 30.0]], variant="switch",
           config={"alpha": 2.5, "init_scheme": "pytorch"})
    paths = tables.write(tmp_path)
    readme = paths[0].read_text()
    assert "| 10 | 11.0 ± 1.0 (n=2) | 11.0 ± 0.0 (n=2) | +0.0 [" in readme
    assert "| 20 | 21.0 ± 1.0 (n=2) | 30.0 ± 0.0 (n=2) | -9.0 [" in readme
    assert ("### Variant `switch` of ours (differs from ours in: `init_scheme=pytorch`)"
            in readme)
    # "ours" predates TD3+BC's init_scheme (migrations: "orthogonal"), whose default is now
    # "pytorch": the section says the record is not today's default.
    assert "`init_scheme=orthogonal` (default now `pytorch`)" in readme
    assert "| 20 | 29.0 ± 1.0 (n=2) | 30.0 ± 0.0 (n=2) | -1.0 [" in readme
    assert "example/ref@abcdef0" in readme and "not measured" in readme
    assert paths[1].name == "td3_bc__test_data-v0.png" and paths[1].stat().st_size > 0


def test_coverage_table_says_where_each_cell_stands(tmp_path, monkeypatch):
    """Every reference x the required datasets: a verdict where both sides ran (a gap only when
    both intervals exclude 0), what exists where one side is missing, "not run" elsewhere."""
    monkeypatch.setattr(tables, "REQUIRED_DATASETS", ("test/data-v0", "test/other-v0"))
    monkeypatch.setattr(references, "REFERENCES", {
        name: references.REFERENCES[name] for name in ("corl/td3_bc", "corl/bc")})
    corl_td3_bc = {"repository": "corl-team/CORL", "commit": "abcdef0123",
                   "script": "td3_bc.py", "name": "corl/td3_bc"}
    # At step 20 ours is far above the reference (a gap); at step 10 they agree.
    _write_parity_record(tmp_path, "ours", [0, 1, 2], [[10.0, 11.0, 12.0], [50.0, 51.0, 52.0]])
    _write_parity_record(tmp_path, "ref", [0, 1, 2], [[10.0, 12.0, 11.0], [10.0, 11.0, 12.0]],
                         reference=corl_td3_bc)
    _write_parity_record(tmp_path, "ours-other", [0, 1], [[1.0, 2.0], [3.0, 4.0]],
                         dataset_id="test/other-v0")
    (tmp_path / "reference_seeds").mkdir()
    (tmp_path / "reference_seeds" / "td3_bc-corl__test_other-v0__0123.json").write_text("{}")
    lines = tables.coverage_table(results.load_records(tmp_path), tmp_path)
    assert lines[0] == "| reference | `test/data-v0` | `test/other-v0` |"
    bc_row, td3_bc_row = lines[2:]
    assert bc_row == "| `corl/bc` (bc) | not run | not run |"
    cells = [cell.strip() for cell in td3_bc_row.split("|")[2:-1]]
    assert cells[0].startswith("**gap** at 20 updates, 3 v 3 seeds: +40.0 [")
    assert cells[1] == "ours only (20 updates, 2 seeds); 1 reference seed(s) cached"
    # Ours back at the reference's level at step 20: within noise.
    _write_parity_record(tmp_path, "ours", [0, 1, 2], [[10.0, 11.0, 12.0], [11.0, 9.0, 12.0]])
    lines = tables.coverage_table(results.load_records(tmp_path), tmp_path)
    assert "**within noise** at 20 updates, 3 v 3 seeds: -0.3 [" in lines[3]
    # The plain record predates TD3+BC's init_scheme default ("pytorch" now): a variant made with
    # today's defaults stands in for it.
    _write_parity_record(tmp_path, "ours-today", [0, 1, 2],
                         [[10.0, 11.0, 12.0], [50.0, 51.0, 52.0]], variant="today",
                         config={"alpha": 2.5, "init_scheme": "pytorch"})
    lines = tables.coverage_table(results.load_records(tmp_path), tmp_path)
    assert "**gap** at 20 updates" in lines[3] and "variant `today`, today's defaults" in lines[3]


def test_late_half_compares_each_seeds_mean_over_the_last_half_of_the_curve():
    """Six shared steps: the last three, averaged per seed, are the samples (hand-computed)."""
    steps = [10, 20, 30, 40, 50, 60]
    ours = {"eval_steps": steps, "normalized_scores": [[0.0, 0.0]] * 3 + [
        [10.0, 20.0], [30.0, float("nan")], [20.0, 40.0]]}
    reference = {"eval_steps": [*steps, 70], "normalized_scores": [[5.0, 5.0]] * 3 + [
        [0.0, 3.0], [3.0, 3.0], [6.0, 3.0], [99.0, 99.0]]}
    late = tables.late_half_comparison(ours, reference)
    assert late["steps"] == [40, 50, 60]
    # Seed 1 of ours is NaN at 50: its mean is over 20 and 40.
    np.testing.assert_allclose(late["ours"], [20.0, 30.0])
    np.testing.assert_allclose(late["reference"], [3.0, 3.0])
    assert late["difference"] == pytest.approx(22.0)
    assert late["verdict"] == "within noise"  # Welch's interval at 2 v 2 seeds is wide.
    assert tables.late_half_comparison({**ours, "eval_steps": [10, 20, 30, 40, 50, 61]},
                                       {**reference, "eval_steps": [1, 2, 30, 40, 50, 60, 70]}
                                       ) is None  # 3 shared steps: too few.


def test_setup_references_exports_each_reference_at_its_pinned_commit(tmp_path):
    """DRY_RUN: the commands only (no clone, no venv)."""
    import subprocess

    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run(
        ["bash", "benchmarks/parity/setup_references.sh", str(tmp_path / "refs"), "corl", "misa"],
        cwd=root, env={**os.environ, "DRY_RUN": "1", "SOURCE": "/mirrors/{owner}+{name}/repo"},
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"corl-team/CORL @ {references.CORL_COMMIT[:7]}" in out
    assert "git clone --quiet --bare /mirrors/corl-team+CORL/repo" in out
    assert f"archive {references.CORL_COMMIT} algorithms configs |" in out
    assert f"archive {references.MISA_COMMIT}" in out and "python3.10 -m venv" in out
    assert "CORL-venv" not in out and not (tmp_path / "refs").exists()
    unknown = subprocess.run(
        ["bash", "benchmarks/parity/setup_references.sh", str(tmp_path / "refs"), "nope"],
        cwd=root, env={**os.environ, "DRY_RUN": "1"}, capture_output=True, text=True, timeout=120)
    assert unknown.returncode != 0 and "unknown reference 'nope'" in unknown.stderr


def test_signals_table_pairs_the_references_logged_losses_with_ours():
    reference = {"reference": {"name": "corl/td3_bc"}, "train_metrics": {
        "steps": [10, 20], "critic_loss": [[1.0, 3.0], [2.0, 2.0]], "extra": [[0.0], [0.0]]}}
    ours = {"train_metrics": {"steps": [10, 20], "critic/loss": [[5.0, 5.0], [None, 4.0]],
                              "actor/loss": [[0.0, 0.0], [0.0, 0.0]]}}
    lines = tables._signals_table(ours, reference)
    # Only pairs both sides logged (CORL's actor_loss is missing here); NaN/None skipped.
    assert lines[2] == "| updates | `critic_loss` reference | `critic/loss` ours |"
    assert lines[4:6] == ["| 10 | 2 ± 1 | 5 ± 0 |", "| 20 | 2 ± 0 | 4 ± 0 |"]
    assert tables._signals_table(ours, {**reference, "train_metrics": {"steps": []}}) == []


def test_tables_compare_the_online_phase_of_a_reference_with_one(tmp_path):
    """ACA's reference has an online phase: the section gets a second table over online env
    steps and a second plot; ours without an online phase is said to have none."""
    reference = {"repository": "example/aca", "commit": "abcdef0123", "script": "run_aca.py",
                 "name": "test/aca"}
    _write_parity_record(tmp_path, "ref", [0, 1], [[1.0, 3.0], [2.0, 4.0]], reference=reference,
                         algorithm="aca", online=[[2.0, 4.0], [1.0, 1.0], [50.0, 60.0]])
    _write_parity_record(tmp_path, "ours", [0, 1], [[1.0, 1.0], [2.0, 2.0]], algorithm="aca",
                         config={"init_scheme": "pytorch"},
                         online=[[2.0, 2.0], [3.0, 5.0], [40.0, 50.0]])
    paths = tables.write(tmp_path)
    readme = paths[0].read_text()
    assert "Online phase: 10 env steps after the offline updates" in readme
    assert "| online env steps | ours | reference |" in readme
    assert "| 5 | 4.0 ± 1.0 (n=2) | 1.0 ± 0.0 (n=2) | +3.0 [" in readme
    assert "| 10 | 45.0 ± 5.0 (n=2) | 55.0 ± 5.0 (n=2) | -10.0 [" in readme
    assert [p.name for p in paths[1:]] == ["aca__test_data-v0.png", "aca__test_data-v0_online.png"]
    assert all(p.stat().st_size > 0 for p in paths[1:])
    # No same-sitting speed: the records' own rates, ours in lockstep (per seed x seeds) against
    # the reference's per-seed rate; online 10 env steps in 2 s = 5 per seed on both sides.
    _write_parity_record(tmp_path, "ref", [0, 1], [[1.0, 3.0], [2.0, 4.0]], reference=reference,
                         algorithm="aca", online=[[2.0, 4.0], [1.0, 1.0], [50.0, 60.0]],
                         timing={"updates_per_s": 20.0})
    _write_parity_record(tmp_path, "ours", [0, 1], [[1.0, 1.0], [2.0, 2.0]], algorithm="aca",
                         config={"init_scheme": "pytorch"},
                         online=[[2.0, 2.0], [3.0, 5.0], [40.0, 50.0]],
                         timing={"updates_per_s": 15.0})
    assert ("ours 15.0 updates/s per seed with 2 seeds in lockstep (30 in all), the reference "
            "20.0 per seed, one seed after another: 1.50x in all; online, ours 5.0 env steps/s "
            "per seed (10 in all), the reference 5.0: 2.00x.") in tables.render_readme(tmp_path)
    # Ours without an online phase: the section says so instead of an empty comparison.
    _write_parity_record(tmp_path, "ours", [0, 1], [[1.0, 1.0], [2.0, 2.0]], algorithm="aca",
                         config={"init_scheme": "pytorch"})
    assert "Ours has no online phase in its record." in tables.render_readme(tmp_path)


def test_speed_ratios_and_table():
    from benchmarks.parity import speed

    # Warm-up block 9 s is ignored; blocks of 2 s and 4 s for 100 updates: best 50/s, mean 33.3/s.
    reference = speed.reference_rates([9.0, 2.0, 4.0], chunk=100)
    assert reference["updates_per_s"] == 50.0
    assert reference["mean_updates_per_s"] == pytest.approx(100 * 2 / 6.0)
    ours = [{"num_seeds": 2, "updates_per_s_per_seed": 75.0, "aggregate_updates_per_s": 150.0,
             "mean_aggregate_updates_per_s": 100.0}]
    (ratio,) = speed.ratios(ours, reference)
    assert ratio == {"num_seeds": 2, "per_seed": 1.5, "aggregate": 3.0, "aggregate_mean": 3.0}
    reference.update(repository="example/ref", commit="abcdef0", torch_threads=1)
    text = speed.render({"algorithm": "td3_bc", "reference_name": "test/ref",
                         "reference": reference, "dataset": "d", "chunk": 100, "repeats": 2,
                         "device": "cpu", "load_before_ours": 1.0, "load_before_reference": 1.5,
                         "ours": ours, "ratios": [ratio], "command": "x"})
    assert "| 2 | 75.0 | 150 | 50.0 | 1.50x | 3.00x / 3.00x |" in text


def test_speed_times_every_reference_through_run_reference(parity_dataset, tmp_path):
    """The reference side is run_reference in a child process (any harness Python, a venv child
    passed on); its record's per-evaluation training times are the blocks, the first the warm-up."""
    from benchmarks.parity import speed

    command = speed.reference_command(
        "official/misa", "/refs/MISA", "d/x-v0", 40, 2, "/tmp/w", harness_python="/venv/python",
        reference_python="/misa-venv/python", reference_commit="abc", reference_args="--x=1")
    assert command[:3] == ["/venv/python", "-m", "benchmarks.parity.run_reference"]
    assert {"--reference=official/misa", "--seeds=0", "--steps=120", "--eval_every=40",
            "--eval_episodes=1", "--workdir=/tmp/w", "--noreuse_seeds",
            "--reference_python=/misa-venv/python", "--reference_commit=abc",
            "--reference_args=--x=1"} <= set(command)
    plain = speed.reference_command("corl/td3_bc", "/refs/CORL", "d/x-v0", 10, 3, "/tmp/w",
                                    harness_python="python")
    assert not any(arg.startswith(("--reference_python", "--reference_commit",
                                   "--reference_args")) for arg in plain)

    _, info = harness.make_binding(parity_dataset, ENV_NAME)
    reference = references.REFERENCES["corl/td3_bc"]
    seed = harness.SeedResult(seed=0, argv=["--seed=0"], returns=np.ones((3, 1)),
                              eval_s=np.ones(3), train_s=np.array([9.0, 2.0, 4.0]),
                              data_check={}, config={})
    record = records.reference_record(reference, "f" * 40, parity_dataset, info, {}, [seed],
                                      steps=300, eval_every=100, eval_episodes=1,
                                      device="cpu (torch 2.x, 1 thread)", command="test")
    rates = speed.rates_from_record(record, chunk=100)
    assert rates["updates_per_s"] == 50.0 and rates["warmup_block_s"] == 9.0
    assert rates["mean_updates_per_s"] == pytest.approx(200 / 6.0)
    assert (rates["commit"], rates["argv"], rates["device"]) == (
        "f" * 40, ["--seed=0"], "cpu (torch 2.x, 1 thread)")
    assert set(rates["versions"]) == set(records.REFERENCE_PACKAGES)
    # A venv reference's record carries its venv's versions; those are the reference's.
    record["versions"]["reference_venv"] = {"jax": "0.4.13"}
    assert speed.rates_from_record(record, chunk=100)["versions"] == {"jax": "0.4.13"}


def test_speed_refuses_what_it_cannot_time():
    from benchmarks.parity import speed

    def refusal(name, reference_dir="/refs", reference_python=None, reference_commit="abc"):
        return speed.refusal(references.get_reference(name), reference_dir, reference_python,
                             reference_commit)

    assert "critic epochs" in refusal("sfbc/sfbc")
    assert "--reference_dir is required" in refusal("corl/td3_bc", reference_dir=None)
    # An export without .git needs the commit, said before ours is timed.
    assert "--reference_commit" in refusal("corl/td3_bc", reference_commit=None)
    assert "--reference_python=" in refusal("official/misa")
    assert refusal("official/misa", reference_python="/venv/python") is None
    assert refusal("corl/cql") is None and refusal("idql/idql") is None


def test_committed_parity_readme_is_up_to_date():
    readme = tables.WORKDIR / "README.md"
    if not readme.exists():
        pytest.skip("no parity records committed")
    assert readme.read_text() == tables.render_readme(), (
        "benchmarks/results/parity/README.md is out of date: "
        "run python -m benchmarks.parity.tables")


def test_finished_reference_seeds_are_kept_and_reused(tmp_path):
    reference = references.get_reference("corl/td3_bc")
    result = harness.SeedResult(seed=3, argv=["--seed", "3"], returns=np.arange(6.0).reshape(3, 2),
                                eval_s=np.ones(3), train_s=np.full(3, 2.0),
                                data_check={"terminals": 7}, config={"alpha": 2.5})
    path = records.seed_cache_path(tmp_path, reference, "jaxrl_offline/hopper/medium-v0",
                                   "abc", result.argv)
    assert records.load_seed(path) is None
    records.save_seed(path, result)
    loaded = records.load_seed(path)
    np.testing.assert_array_equal(loaded.returns, result.returns)
    assert (loaded.seed, loaded.argv, loaded.data_check, loaded.config) == (
        3, ["--seed", "3"], {"terminals": 7}, {"alpha": 2.5})
    # Another argument list (another seed, budget or setting) is another cache entry.
    assert records.seed_cache_path(tmp_path, reference, "jaxrl_offline/hopper/medium-v0", "abc",
                                   ["--seed", "4"]) != path


def test_speed_falls_back_to_the_same_environment_only():
    """A reference's speed on hopper medium serves its hopper medium-expert section (labeled in
    the README), a full-size dataset before a reduced one, never another env's or reference's."""
    from benchmarks.parity import tables
    speed = {("corl/bc", "jaxrl_offline/hopper/medium-50k-v0"): {"id": "50k"},
             ("corl/bc", "jaxrl_offline/hopper/medium-v0"): {"id": "1M"},
             ("corl/bc", "jaxrl_offline/walker2d/medium-v0"): {"id": "walker"},
             ("corl/iql", "jaxrl_offline/hopper/medium-v0"): {"id": "iql"}}
    assert tables.speed_for(speed, "corl/bc", "jaxrl_offline/hopper/medium-50k-v0")["id"] == "50k"
    assert tables.speed_for(speed, "corl/bc", "jaxrl_offline/hopper/expert-v0")["id"] == "1M"
    assert tables.speed_for(speed, "corl/bc", "jaxrl_offline/halfcheetah/medium-v0") is None
    assert tables.speed_for(speed, "corl/td3_bc", "jaxrl_offline/hopper/medium-v0") is None
    assert tables.speed_for(speed, "corl/bc", "not a spec at all") is None


def test_framework_names_what_the_reference_trains_with():
    """The record's device line and the torch thread setting follow ``framework``: CORL's ReBRAC,
    IDQL and MISA are JAX."""
    frameworks = {name: ref.framework for name, ref in references.REFERENCES.items()}
    assert {name for name, framework in frameworks.items() if framework == "jax"} == {
        "corl/rebrac", "idql/idql", "official/misa"}


def test_sfbc_stage_speed_from_the_reference_record():
    """SfBC's stages: the reference's rates from its record's harness timings; ratios per stage
    (presampling: the reference's seconds over ours); the command runs one critic epoch."""
    from benchmarks.parity import sfbc_speed

    command = sfbc_speed.reference_command("/refs/SfBC", "d/x-v0", "/tmp/w", harness_python="/v/py",
                                           behavior_epochs=25, sampling_steps=5,
                                           reference_commit="abc")
    assert command[0] == "/v/py" and {"--reference=sfbc/sfbc", "--steps=1", "--eval_every=1",
                                      "--noreuse_seeds", "--reference_commit=abc"} <= set(command)
    assert ("--reference_args=--n_behavior_epochs=25 --sample_per_epoch=1 --diffusion_steps=5"
            in command)
    record = {"config": {"harness": {"behavior_s": 100.0, "behavior_steps": 325,
                                     "critic_setup_s": 60.0, "critic_steps_per_epoch": 13}},
              "timing": {"per_seed_train_s": [[2.6]]}}
    ref = sfbc_speed.reference_stages(record)
    assert ref["behavior_steps_per_s"] == 3.25 and ref["presample_s"] == 60.0
    assert ref["critic_steps_per_s"] == pytest.approx(5.0)
    ours = {"behavior_steps_per_s": 6.5, "presample_s": 30.0, "critic_steps_per_s": 10.0}
    assert sfbc_speed.stage_ratios(ours, ref) == pytest.approx(
        {"behavior": 2.0, "presample": 2.0, "critic": 2.0})
    ref.update(repository="ChenDRAG/SfBC", commit="d" * 40, device="cpu (torch)")
    text = sfbc_speed.render({
        "reference_name": "sfbc/sfbc", "dataset": "d/x-v0", "num_states": 50000,
        "sampling_steps": 5, "device": "cpu", "load_before_ours": 1.0,
        "load_before_reference": 2.0, "ours": ours, "reference": ref,
        "ratios": sfbc_speed.stage_ratios(ours, ref), "command": "x",
        "config": {"batch_size": 4096, "critic_batch_size": 4096, "num_value_samples": 16}})
    assert "| presampling (16 actions per state) | 30.0 s | 60.0 s" in text
    assert "| critic step (batch 4096) | 10 steps/s | 5 steps/s (one epoch of 13) | 2.00x |" in text


def test_parity_tables_show_stage_timings_per_stage(tmp_path):
    """SfBC's stage timings are read like the updates/s ratios, but its Speed line gives one ratio
    per stage; the records' own rates (critic epochs against steps of every stage) are not
    divided."""
    stages = {"kind": "stages", "reference_name": "sfbc/sfbc", "dataset": "d",
              "sampling_steps": 5, "device": "cpu", "load_before_ours": 1.0,
              "load_before_reference": 2.0,
              "ratios": {"behavior": 1.24, "presample": 1.89, "critic": 2.63}}
    results.dump_json(tmp_path / "speed" / "sfbc.json", stages)
    results.dump_json(tmp_path / "speed" / "bc.json", {"reference_name": "corl/bc", "dataset": "d"})
    assert sorted(tables.load_speed(tmp_path)) == [("corl/bc", "d"), ("sfbc/sfbc", "d")]
    line = tables._stage_speed(stages, "d")
    assert ("behavior steps 1.24x, presampling 1.89x, critic steps 2.63x (details: `speed/`)."
            in line)
    assert "measured on `d`" in tables._stage_speed(stages, "other")
    staged = {"config": {"harness": {"critic_steps_per_epoch": 245}},
              "timing": {"updates_per_s": 0.07}}
    ours = {"seeds": [0, 1, 2], "timing": {"updates_per_s": 1.6}}
    assert tables._record_rates(ours, staged) == ""
    assert "3 seeds in lockstep" in tables._record_rates(ours, {"timing": {"updates_per_s": 1.0}})


def test_cql_rebrac_queue_refuses_an_unknown_method_before_running():
    """``METHODS`` names cql and/or rebrac; anything else stops the queue before any run."""
    import subprocess

    script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks/parity/queue_cql_rebrac.sh"
    result = subprocess.run(["bash", str(script), "/nonexistent/CORL"], capture_output=True,
                            text=True, env={**os.environ, "METHODS": "sac"}, timeout=60)
    assert result.returncode == 2
    assert "METHODS: cql and/or rebrac, got 'sac'" in result.stdout
