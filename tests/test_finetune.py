"""Tests of offline-to-online fine-tuning (``jaxrl_offline/runner/finetune.py``) and its runner
mode.

* host pieces against hand-computed values: cumulative regret, trajectory splitting, replay buffer
  seeding, the online reward transform, schedules, errors, record validation, the online table;
* the online loop on a one-step bandit (reward -|a - 0.5|): deterministic given the seed, and ACA
  fine-tuning from a bad "offline" policy (mean action tanh(-0.5)) moves it towards 0.5;
* the runner with ``--online_steps`` on a tiny InvertedPendulum dataset, interrupted during the
  online phase and resumed through the command line, with a valid record, tables and plots. The
  runner's online phase is algorithm-agnostic, so it runs a probe algorithm that compiles in a
  fraction of a second (real networks would make this the slowest test; the bandit tests run
  ACA's online functions through the same loop pieces).
"""

import dataclasses
import functools
import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags
from flax import struct

from experiments import cli, online_tables, sweep
from jaxrl_offline import algorithms
from jaxrl_offline.datasets import data, transforms
from jaxrl_offline.local_suite import envs
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import experiment, finetune, online
from jaxrl_offline.algorithms import aca, bc, iql, td3_bc
from jaxrl_offline.types import Transition

from helpers import Bandit, interrupt_after, invpend_root, run_cli, zeroed

# --- Host pieces ---------------------------------------------------------------------------------


def test_cumulative_regret_hand_computed():
    steps = [0, 10, 30]
    scores = [[50.0, 0.0], [80.0, 100.0], [40.0, None]]
    # Seed 0: (1 - 0.8) * 10/30 + (1 - 0.4) * 20/30 = 0.0667 + 0.4; seed 1 has a missing score.
    regret = results.cumulative_regret(steps, scores)
    np.testing.assert_allclose(regret[0], 0.2 / 3 + 0.4)
    assert np.isnan(regret[1])
    # Evenly spaced: the mean of (1 - score / 100) after step 0 (Cal-QL's definition).
    np.testing.assert_allclose(results.cumulative_regret([0, 5, 10], [[0], [30], [90]]), [0.4])
    with pytest.raises(ValueError, match=">= 2 evaluations"):
        results.cumulative_regret([0], [[1.0]])


HOST_ENDS = np.bool_([0, 1, 0, 0, 1, 1])  # host_dataset's episode ends (the loader's).


def host_dataset():
    """Three trajectories (lengths 2, 3, 1; returns 3, 30, 6; ends ``HOST_ENDS``): the first ends
    in a terminal, the second in a truncation, the third at the end of the data."""
    obs = np.float32([[0], [1], [10], [11], [12], [20]])
    next_obs = np.float32([[1], [2], [11], [12], [13], [21]])
    reward = np.float32([1, 2, 10, 10, 10, 6])
    terminal = np.float32([0, 1, 0, 0, 0, 0])
    return Transition(obs=obs, action=obs / 100, reward=reward, next_obs=next_obs,
                      terminal=terminal)


def test_top_trajectories_split_at_the_episode_ends():
    dataset = host_dataset()
    best = finetune.top_trajectories(dataset, HOST_ENDS, 2)  # returns 30 and 6, in data order
    np.testing.assert_array_equal(best.obs[:, 0], [10, 11, 12, 20])
    np.testing.assert_array_equal(best.reward, [10, 10, 10, 6])
    # Ends the obs chain cannot show: rows 2-5 as one truncated trajectory of return 36.
    merged = finetune.top_trajectories(dataset, np.bool_([0, 1, 0, 0, 0, 1]), 1)
    np.testing.assert_array_equal(merged.obs[:, 0], [10, 11, 12, 20])
    with pytest.raises(ValueError, match="ending in True"):
        finetune.top_trajectories(dataset, np.bool_([0, 1, 0, 0, 1, 0]), 1)


def test_initial_buffers_hold_the_offline_data():
    dataset = jax.tree.map(jnp.asarray, host_dataset())
    offline = finetune.initial_buffers(dataset, finetune.OnlineConfig("offline"), 2, 4)
    assert offline.size.tolist() == [6, 6] and offline.data.reward.shape == (2, 10)
    for field, stored in zip(Transition._fields, offline.data):
        np.testing.assert_array_equal(stored[:, :6], np.stack([getattr(dataset, field)] * 2))
        assert not np.any(stored[:, 6:])  # room for the 4 online rows
    assert offline.insert_index.tolist() == [6, 6]
    top = finetune.initial_buffers(dataset, finetune.OnlineConfig("top_trajectories", 1), 1, 4,
                                   HOST_ENDS)
    assert top.size.tolist() == [3] and top.data.reward.shape == (1, 7)
    with pytest.raises(ValueError, match="needs the dataset's episode ends"):
        finetune.initial_buffers(dataset, finetune.OnlineConfig("top_trajectories", 1), 1, 4)
    np.testing.assert_array_equal(top.data.obs[0, :3, 0], [10, 11, 12])
    empty = finetune.initial_buffers(dataset, finetune.OnlineConfig("empty"), 3, 5)
    assert empty.size.tolist() == [0, 0, 0] and empty.data.reward.shape == (3, 5)
    with pytest.raises(ValueError, match="top_trajectories needs at least 1"):
        finetune.OnlineConfig("top_trajectories", 0)
    with pytest.raises(ValueError, match="expected one of"):
        finetune.OnlineConfig("mixed")


def test_online_definitions_and_schedules():
    assert {"aca", "sac_ml", "iql", "td3_bc"} <= set(finetune.finetunable_algorithms())
    assert finetune.online_config(aca, aca.Config()) == finetune.OnlineConfig("empty")
    assert finetune.online_config(iql, iql.Config()).buffer == "offline"
    assert finetune.online_config(td3_bc, td3_bc.Config()).buffer == "offline"
    with pytest.raises(ValueError, match="'bc' has no online fine-tuning definition.*aca"):
        finetune.online_config(bc, bc.Config())
    assert finetune.online_eval_steps(100, 30) == [0, 30, 60, 90, 100]
    assert finetune.online_eval_steps(100, 0) == [0, 100]
    with pytest.raises(ValueError, match="multiples of --online_update_every=3"):
        finetune.check_online_schedule(100, 30, 3)
    with pytest.raises(ValueError, match="has no online fine-tuning definition"):
        sweep.plan_runs(sweep.SweepSettings(algos=("bc",), steps=100, chunk=50, eval_every=50,
                                            online_steps=10))
    (run,) = sweep.plan_runs(sweep.SweepSettings(algos=("iql",), steps=100, chunk=50,
                                                 eval_every=50, online_steps=30))
    assert run.config.cosine_decay_steps == 130  # IQL's actor schedule spans both phases.


def test_offline_run_hash_is_unchanged_by_the_online_fields():
    spec = experiment.RunSpec(algorithm="bc", dataset="x", config=bc.Config(), seeds=(0,),
                              steps=10, chunk=10, eval_every=0, eval_episodes=1)
    fingerprint = {"algorithm": "bc", "variant": "", "dataset": "x",
                   "config": experiment.config_to_json(bc.Config()), "seeds": [0], "steps": 10,
                   "chunk": 10, "eval_every": 0, "eval_episodes": 1, "max_episode_steps": None}
    import hashlib
    expected = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    assert spec.spec_hash == expected
    assert dataclasses.replace(spec, online_steps=5).spec_hash != expected


def fake_record(algorithm, scores, normalized=True):
    return {"algorithm": algorithm, "variant": "", "dataset_id": "d", "seeds": [0, 1],
            "eval_episodes": 1, "steps": 100, "normalized": normalized,
            "online": {"steps": 20, "env_steps": [0, 10, 20], "normalized_scores": scores,
                       "regret": results.summarize(results.cumulative_regret([0, 10, 20], scores))}}


def test_online_table_and_record_validation():
    records = [fake_record("aca", [[10, 20], [50, 70], [60, 80]]),
               fake_record("iql", [[30, 30], [30, 30], [40, 50]])]
    markdown = online_tables.to_markdown(records)
    # Columns in registry order (iql, then aca). aca: 15 -> mean(60, 80) ± 10 (std over seeds);
    # regret per seed 0.5 (1 - 0.5) + 0.5 (1 - 0.6) = 0.45 and 0.5 * 0.3 + 0.5 * 0.2 = 0.25.
    # iql: 30 -> 45 ± 5; regret 0.5 * 0.7 + 0.5 * 0.6 = 0.65 and 0.5 * 0.7 + 0.5 * 0.5 = 0.6.
    assert "| d | 30.0 → 45.0 ± 5.0 | 15.0 → 70.0 ± 10.0 |" in markdown
    assert "| d | 0.625 ± 0.025 | 0.350 ± 0.100 |" in markdown
    assert "100 offline updates then 20 env steps, 2 seeds x 1 episodes" in markdown
    assert online_tables.to_csv(records).splitlines()[1].startswith("d,aca,20,2,15.0,5.0,70.0,10.0")
    record = records[0]
    record["online"].update(returns=[[1.0], [2.0]], eval_every=10, update_every=1, buffer={},
                            reward_transform={}, train_metrics={}, timing={},
                            final=results.final_summary(record["online"]["normalized_scores"]))
    assert results.online_record_problem(record) is None
    record["online"]["env_steps"] = [0, 10, 30]
    assert "rise from 0 to online.steps" in results.online_record_problem(record)
    record["online"]["env_steps"] = [0, 10, 20]
    record["online"]["normalized_scores"] = record["online"]["normalized_scores"][:2]
    assert "[3 evals][2 seeds]" in results.online_record_problem(record)


# --- The online loop on a bandit -----------------------------------------------------------------


# Fast learning for a short test: larger steps, a low temperature, w gone after 100 updates.
BANDIT_CONFIG = aca.Config(actor_hidden_dims=(16,), critic_hidden_dims=(16,), batch_size=32,
                           actor_lr=1e-2, critic_lr=1e-2,
                           temperature_lr=1e-2, online_temperature=0.05,
                           interpolation_decay_steps=100, interpolation_floor=0.0)
BANDIT_STEPS = 400
# One compiled init for every run: its optimizers are then the same objects each time, so the
# jitted online functions (cached per algorithm and config) are compiled once for all runs.
BANDIT_INIT = jax.jit(jax.vmap(
    lambda key: aca.init(BANDIT_CONFIG, key, jnp.zeros(1), jnp.zeros(1))))


def bandit_run(seeds):
    """ACA fine-tuning of a bad 'offline' agent (mean action tanh(-0.5), std e^-1 pre-tanh, random
    Z) for BANDIT_STEPS env steps: the agents before, the final loop state and metrics."""
    agents = BANDIT_INIT(jax.vmap(jax.random.key)(jnp.asarray(seeds)))
    actor = zeroed(jax.tree.map(lambda leaf: leaf[0], agents.actor.params),
                   **{"Dense_0/bias": -0.5, "Dense_1/bias": -1.0})
    actor = jax.tree.map(lambda leaf: np.stack([leaf] * len(seeds)), actor)
    agents = agents.replace(actor=agents.actor.replace(params=actor))
    placeholder = Transition(obs=jnp.zeros((1, 1)), action=jnp.zeros((1, 1)), reward=jnp.zeros(1),
                             next_obs=jnp.zeros((1, 1)), terminal=jnp.ones(1))
    state = finetune.initial_loop_state(aca, BANDIT_CONFIG, seeds, agents, placeholder,
                                        BANDIT_STEPS)
    settings = online.OnlineSettings(num_envs=1, warmup_steps=0, update_every=20,
                                     buffer_capacity=BANDIT_STEPS)
    loop = online.OnlineLoop(finetune.online_view(aca), BANDIT_CONFIG, Bandit, len(seeds),
                             seed=seeds[0], settings=settings)
    start = jax.device_get(state.agent)
    state, metrics = loop.run(state, 0, BANDIT_STEPS)
    loop.close()
    return start, state, metrics


def mean_action(agents):
    act = jax.vmap(functools.partial(aca.act, BANDIT_CONFIG))
    keys = jax.random.split(jax.random.key(0), jax.tree.leaves(agents)[0].shape[0])
    return np.asarray(act(agents, jnp.zeros((len(keys), 1, 1)), keys))[:, 0, 0]


@pytest.fixture(scope="module")
def bandit_runs():
    return bandit_run([0, 1]), bandit_run([0, 1])


def test_online_loop_is_deterministic_given_the_seed(bandit_runs):
    (start, first, metrics), (_, again, _) = bandit_runs
    for a, b in zip(jax.tree.leaves(first.buffer), jax.tree.leaves(again.buffer)):
        np.testing.assert_array_equal(a, b)
    jax.tree.map(np.testing.assert_array_equal, first.agent.actor.params, again.agent.actor.params)
    # The two seeds start from the same actor but explore and learn with their own keys.
    assert not np.array_equal(first.buffer.data.action[0], first.buffer.data.action[1])
    assert first.buffer.size.tolist() == [BANDIT_STEPS] * 2
    # One ACA update per env step: w decayed to its floor; pi_0 stays the offline actor.
    assert first.agent.online_step.tolist() == [BANDIT_STEPS] * 2
    np.testing.assert_allclose(metrics["critic/interpolation_weight"], 0.0)
    jax.tree.map(np.testing.assert_array_equal, first.agent.reference_actor, start.actor.params)


def test_online_fine_tuning_improves_over_its_start(bandit_runs):
    (start, final, _), _ = bandit_runs
    before, after = mean_action(start), mean_action(final.agent)
    np.testing.assert_allclose(before, np.tanh(-0.5), rtol=1e-5)
    assert np.all(after > before + 0.2), (before, after)  # towards the optimum 0.5
    assert np.all(np.abs(after - 0.5) < np.abs(before - 0.5) - 0.2)
    rewards = np.asarray(final.buffer.data.reward)  # the training returns improve too
    assert np.all(rewards[:, -100:].mean(1) > rewards[:, :100].mean(1) + 0.1)


# --- Rewards and the runner ----------------------------------------------------------------------

DATASET = "test/invpend/medium-v0"


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    return invpend_root(tmp_path_factory, DATASET, 1000)


def test_dataset_info_carries_the_reward_transform_as_numbers(dataset_root, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset_root))
    dataset, info = data.load_numpy(DATASET, algorithm="iql")  # return-range scaling
    raw, td3_info = data.load_numpy(DATASET, algorithm="td3_bc")  # no reward transform
    np.testing.assert_allclose(info.reward_scale * raw.reward + info.reward_shift, dataset.reward,
                               rtol=1e-6)
    assert f"= x{info.reward_scale:.6g} over" in info.transforms["reward"]
    assert (td3_info.reward_scale, td3_info.reward_shift) == (1.0, 0.0)
    env = envs.make_env(info.eval_env_spec, 5, 2.0, -1.0)()
    env.reset(seed=0)
    assert env.step(np.zeros(1, np.float32))[1] == 2.0 * 1.0 - 1.0  # InvertedPendulum: r = 1
    env.close()


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """Attributes:
      batch_size: transitions per update.
    """

    batch_size: int = 8


class ProbeState(struct.PyTreeNode):
    reward_sum: jax.Array
    key: jax.Array
    step: jax.Array


def _probe_init(config, key, example_obs, example_action):
    return ProbeState(reward_sum=jnp.zeros(()), key=key, step=jnp.zeros((), jnp.int32))


def _probe_update(config, state, batch):
    # Reports the updates done so far: a restored agent goes on counting, a fresh one would not.
    metrics = {"critic/updates_done": state.step.astype(jnp.float32)}
    return state.replace(reward_sum=state.reward_sum + batch.reward.mean(),
                         step=state.step + 1), metrics


def _probe_act(config, state, obs, key):
    return jnp.zeros((obs.shape[0], 1)) + 0.0 * state.reward_sum


def _probe_explore(config, state, obs, key):
    return jax.random.uniform(key, (obs.shape[0], 1), minval=-1.0, maxval=1.0)


ONLINE_PROBE = types.ModuleType("online_probe")  # A module object: hashable, like real ones.
ONLINE_PROBE.__dict__.update(
    NAME="online_probe", Config=ProbeConfig, init=_probe_init, update=_probe_update,
    act=_probe_act, explore=_probe_explore, online_config=lambda config: {"buffer": "offline"})
ONLINE_FLAGS = ["--algos=online_probe", f"--datasets={DATASET}", "--num_seeds=2", "--steps=100",
                "--chunk=50", "--eval_every=0", "--eval_episodes=1", "--max_episode_steps=25",
                "--checkpoint_every=2", "--online_steps=60", "--online_eval_every=20",
                "--online_update_every=10", "--progress=false"]


def test_runner_online_phase_resumes_after_interruption(dataset_root, monkeypatch, tmp_path,
                                                        capsys):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset_root))
    monkeypatch.setitem(algorithms.ALGORITHMS, "online_probe", ONLINE_PROBE)
    try:
        args = cli.parse_args(["run", *ONLINE_FLAGS, f"--workdir={tmp_path}"])
        (spec,) = sweep.plan_runs(cli.settings_from_flags(), args.config)
    finally:
        flags.FLAGS.unparse_flags()
    assert (spec.online_steps, spec.online_eval_every, spec.online_update_every) == (60, 20, 10)

    # 2 offline chunks, then online evaluations at env steps 20, 40, 60: stop after the checkpoint
    # at env step 40.
    interrupt_after(spec, tmp_path, chunks_done=4)
    assert [p.name for p in experiment.checkpoint_dir(tmp_path, spec).iterdir()] == ["4"]
    run_cli(*ONLINE_FLAGS, f"--workdir={tmp_path}")
    out = capsys.readouterr().out
    assert "resuming fine-tuning from the checkpoint at env step 40" in out
    assert "Offline → online" in out
    assert "online_probe__test_invpend_medium-v0: online 60 env steps" in out
    record = results.read_record(experiment.record_path(tmp_path, spec))
    online_record = record["online"]
    assert online_record["env_steps"] == [0, 20, 40, 60]
    assert online_record["timing"]["resumed_at_env_step"] == [40]
    assert [len(row) for row in online_record["normalized_scores"]] == [2] * 4
    # The buffers started with the 1000 offline transitions; the restored ones kept the first 40
    # online transitions (a fresh start at the resume would hold only 20 more).
    assert online_record["buffer"] == {"buffer": "offline", "seed_trajectories": 0,
                                       "seeded_rows": 1000, "final_rows": [1060, 1060]}
    assert online_record["reward_transform"] == {"scale": 1.0, "shift": 0.0}
    # The restored agents went on counting: the last call ran updates 150..159 (100 offline).
    np.testing.assert_allclose(online_record["train_metrics"]["critic/updates_done"][-1],
                               [154.5, 154.5])
    assert online_record["train_metrics"]["env_steps"] == [20, 40, 60]
    assert len(online_record["regret"]["per_seed"]) == 2 and record["eval_steps"] == [100]
    assert (tmp_path / "tables" / "online.md").exists()
    assert (tmp_path / "plots" / "test_invpend_medium-v0_online.png").exists()


def test_online_phase_uses_the_offline_loads_reward_numbers_without_reloading(
        dataset_root, monkeypatch, tmp_path):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset_root))
    monkeypatch.setitem(algorithms.ALGORITHMS, "online_probe", ONLINE_PROBE)
    # The probe gets IQL's data-dependent return-range scaling, the transform once fitted back.
    monkeypatch.setitem(transforms.TRANSFORM_TABLE["locomotion"], "online_probe",
                        transforms.Transforms(normalize_obs=False, reward="return_range",
                                              reward_scale=1000.0, reward_shift=-1.0))
    real_load, loads = data.load_numpy, []

    def load_once(*args, **kwargs):
        loads.append(args)
        assert len(loads) == 1, "the dataset was read from disk a second time"
        return real_load(*args, **kwargs)

    monkeypatch.setattr(data, "load_numpy", load_once)
    spec = experiment.RunSpec(algorithm="online_probe", dataset=DATASET, config=ProbeConfig(),
                              seeds=(0,), steps=50, chunk=50, eval_every=0, eval_episodes=1,
                              max_episode_steps=10, online_steps=20, online_update_every=10)
    record = experiment.run_experiment(spec, tmp_path, progress=False, log=lambda line: None)
    assert len(loads) == 1
    monkeypatch.setattr(data, "load_numpy", real_load)
    raw, raw_info = data.load_numpy(DATASET, algorithm="td3_bc")  # raw rewards: 1 per step
    ends = raw_info.episode_ends
    returns = np.add.reduceat(raw.reward.astype(np.float64),
                              np.r_[0, np.nonzero(ends[:-1])[0] + 1])  # = episode lengths
    scale = 1000.0 / (returns.max() - returns.min())
    np.testing.assert_allclose(record["dataset"]["reward_scale"], scale, rtol=1e-12)
    assert record["dataset"]["reward_shift"] == -1.0
    assert record["online"]["reward_transform"] == {"scale": record["dataset"]["reward_scale"],
                                                    "shift": -1.0}
