"""The ACA reference in the parity harness: its registry entry, the mapping of the harness's
settings onto its two scripts, the MDPDataset check, the captured scorers and the online part of
its record (no d3rlpy environment needed; the facts the mapping relies on are read from a
checkout of ZishunYu/Actor-Critic-Alignment at ``$ACA_REFERENCE_DIR``, default ``/tmp/refs/ACA``,
when there is one)."""

import os
import pathlib
import types

import numpy as np
import pytest
import test_parity

from benchmarks.parity import aca, d4rl_arrays, harness, records, references

parity_dataset = test_parity.parity_dataset  # The fixture: four InvertedPendulum episodes.

ACA = references.REFERENCES["aca/aca"]
ACA_DIR = pathlib.Path(os.environ.get("ACA_REFERENCE_DIR", "/tmp/refs/ACA"))
HOPPER = "jaxrl_offline/hopper/medium-50k-v0"


def test_aca_flags_map_to_its_two_scripts():
    args = references.command_args(ACA, "hopper-medium-v2", None, 3, 200, 100, 2,
                                   "--online_steps=600 --online_eval_every=300")
    namespace, budgets = aca.split_args(args)
    # gpu=False: d3rlpy reads the script's int default 0 as CUDA device 0.
    assert vars(namespace) == {"dataset": "hopper-medium-v2", "seed": 3, "gpu": False}
    assert budgets == {"harness_offline_updates": 200, "harness_offline_eval_every": 100,
                       "harness_episodes": 2, "online_steps": 600, "online_eval_every": 300}
    with pytest.raises(ValueError, match="--online_steps=N"):
        aca.split_args(references.command_args(ACA, "h", None, 0, 200, 100, 1))
    with pytest.raises(ValueError, match="whole epochs"):
        aca.split_args(references.command_args(ACA, "h", None, 0, 200, 100, 1,
                                               "--online_steps=500 --online_eval_every=300"))
    with pytest.raises(ValueError, match="unknown argument '--gpu=1'"):
        aca.split_args(references.command_args(ACA, "h", None, 0, 200, 100, 1,
                                               "--online_steps=6 --online_eval_every=3 --gpu=1"))


def _mdp_dataset(dataset: dict, transitions: int):
    """What check_mdp_dataset reads of d3rlpy's MDPDataset (get_d4rl's arrays, float32)."""
    episode = types.SimpleNamespace(transitions=[None] * transitions)
    return types.SimpleNamespace(
        observations=dataset["observations"], actions=dataset["actions"],
        rewards=dataset["rewards"].astype(np.float32),
        terminals=dataset["terminals"].astype(np.float32),
        episode_terminals=(dataset["terminals"] | dataset["timeouts"]).astype(np.float32),
        episodes=[episode])


def test_mdp_dataset_check_against_get_dataset(parity_dataset):
    binding, _ = harness.make_binding(parity_dataset, test_parity.ENV_NAME)
    reduced = len(d4rl_arrays.qlearning_dataset(binding.dataset)["rewards"])
    summary = aca.check_mdp_dataset(binding, _mdp_dataset(binding.dataset, reduced))
    assert summary["reference_rows"] == test_parity.NUM_STEPS
    assert summary["reference_transitions"] == reduced
    assert summary["get_dataset_vs_project"]["episodes"] == 4
    with pytest.raises(d4rl_arrays.ParityError, match="transitions"):
        aca.check_mdp_dataset(binding, _mdp_dataset(binding.dataset, reduced + 1))
    broken = _mdp_dataset(binding.dataset, reduced)
    broken.episode_terminals = np.zeros_like(broken.episode_terminals)
    with pytest.raises(d4rl_arrays.ParityError, match="episode_terminals"):
        aca.check_mdp_dataset(binding, broken)


def test_scorers_use_the_harness_episodes_and_keep_returns_per_phase(parity_dataset):
    binding, _ = harness.make_binding(parity_dataset, test_parity.ENV_NAME)
    phases = aca.Phases(binding, episodes=2)

    def evaluate_on_environment(env, n_trials=10, epsilon=0.0, render=False):
        def scorer(algo, *args):  # d3rlpy's: n_trials episodes, the mean return.
            returns = [env + i for i in range(n_trials)]
            binding.episode_returns.extend(returns)
            return float(np.mean(returns))

        return scorer

    make = phases.scorer_factory(evaluate_on_environment)
    assert make(10.0)("algo") == 10.5  # Two episodes, not the scripts' default 10.
    phases.phase = "online"
    online = make(20.0)
    online("algo"), online("algo")
    np.testing.assert_array_equal(np.stack(phases.returns["offline"]), [[10.0, 11.0]])
    np.testing.assert_array_equal(np.stack(phases.returns["online"]),
                                  [[20.0, 21.0], [20.0, 21.0]])
    phases.started.update(offline=phases.calls["offline"][0][0] - 1.0)
    returns, eval_s, train_s = phases.result("offline")
    assert returns.shape == (1, 2) and eval_s[0] >= 0 and train_s[0] == pytest.approx(1.0)


def test_online_curve_lands_in_the_record(parity_dataset):
    _, info = harness.make_binding(parity_dataset, test_parity.ENV_NAME)
    curve = {"env_steps": [0, 300, 600], "returns": [[10.0, 20.0], [30.0, 40.0], [50.0, 70.0]],
             "eval_s": [0.1, 0.1, 0.1], "train_s": [2.0, 4.0],
             "buffer": {"buffer": "empty", "seed_trajectories": 0},
             "reward_transform": {"scale": 1.0, "shift": 0.0}}
    seed = harness.SeedResult(seed=0, argv=["--seed=0"], returns=np.array([[5.0, 7.0]]),
                              eval_s=np.array([0.1]), train_s=np.array([8.0]), data_check={},
                              config={"online": {"n_trajs": 0}, "online_curve": curve})
    record = records.reference_record(ACA, ACA.commit, parity_dataset, info, seed.config,
                                      [seed], 200, 200, 2, "cpu", None)
    online = record["online"]
    assert "online_curve" not in record["config"]
    assert (online["steps"], online["eval_every"], online["env_steps"]) == (600, 300,
                                                                            [0, 300, 600])
    # Reference scores 0 and 100: the normalized score is the mean return.
    assert online["normalized_scores"] == [[15.0], [35.0], [60.0]]
    assert online["returns"] == [[50.0, 70.0]]
    assert online["final"]["last"]["mean"] == 60.0 and online["final"]["best"]["mean"] == 60.0
    # Regret: the mean of 1 - score / 100 over the evaluations after step 0.
    assert online["regret"]["mean"] == pytest.approx(1 - (35.0 + 60.0) / 200)
    assert online["timing"]["env_steps_per_s"] == pytest.approx(600 / 6.0)


def test_ours_config_matches_the_reference_on_hopper_medium():
    from jaxrl_offline.algorithms import aca as ours

    # load_model restores the SAC+ML checkpoint's optimizers: the offline Adam moments go on;
    # d3rlpy's networks start from torch.nn.Linear's default initialization.
    assert references.ours_config_args("aca/aca", HOPPER) == [
        "--config.reset_online_optimizers=false", "--config.init_scheme=pytorch"]
    config = ours.Config(**references.ours_config("aca/aca", HOPPER))
    # configs/offline/mjc_m.yaml and configs/online/mjc_m.yaml, run_aca.py and run_sacml.py.
    assert (config.ml_alpha, config.log_prob_clip_std) == (30.0, 7.0)
    assert (config.interpolation_start, config.interpolation_decay_steps,
            config.interpolation_floor) == (1.0, 40_000, 0.5)
    assert (config.online_buffer, config.online_seed_trajectories) == ("empty", 0)
    assert config.target_entropy is None and config.num_critics == 2  # -1.0 * |A|; n_critics.
    assert (config.actor_lr, config.critic_lr, config.value_lr, config.batch_size) == (
        3e-4, 3e-4, 3e-4, 256)


@pytest.mark.skipif(not (ACA_DIR / ACA.script).exists(),
                    reason="no ACA checkout at $ACA_REFERENCE_DIR")
def test_mapping_rests_on_the_reference_source():
    yaml = pytest.importorskip("yaml")
    online = (ACA_DIR / ACA.script).read_text()
    offline = (ACA_DIR / "run_sacml.py").read_text()
    # The keyword arguments the harness replaces, and the model name it links.
    assert f"model_{aca.PRETRAINED_STEP}.pt" in online
    assert "n_steps=100000," in online and "n_steps_per_epoch=1000," in online
    assert "aca.fit_online(env," in online and "eval_env=eval_env," in online
    assert "n_steps=500000," in offline and "save_interval=100," in offline
    assert "d3rlpy.metrics.evaluate_on_environment(env)" in offline
    for script in (online, offline):
        assert "def main(args):" in script and "use_gpu=args.gpu" in script
        assert "'--gpu', type=int, default=0" in script
    assert "n_trajs = cfgs['n_trajs']" in online and "aca.load_model(model_path)" in online
    for phase, expected in (("offline", {"alpha": 30, "target_entropy_coef": 1.0}),
                            ("online", {"beta": 7, "interpolation": [1, 40, 0.5],
                                        "n_trajs": 0, "target_entropy_coef": 1.0})):
        config = yaml.safe_load((ACA_DIR / "configs" / phase / "mjc_m.yaml").read_text())
        assert {key: config[key] for key in expected} == expected
