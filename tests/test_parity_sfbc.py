"""The SfBC reference in the parity harness: its registry entry, the mapping of the harness's
settings onto its two stages, the evaluation selection, the buffer check and the CUDA stand-in
(no SfBC environment needed; the facts the mapping relies on are read from a checkout of
ChenDRAG/SfBC at ``$SFBC_REFERENCE_DIR``, default ``/tmp/refs/SfBC``, when there is one)."""

import dataclasses
import os
import pathlib
import sys

import numpy as np
import pytest
import test_parity

from benchmarks.parity import d4rl_arrays, harness, records, references, sfbc, shims

parity_dataset = test_parity.parity_dataset  # The fixture: four InvertedPendulum episodes.

SFBC = references.REFERENCES["sfbc/sfbc"]
SFBC_DIR = pathlib.Path(os.environ.get("SFBC_REFERENCE_DIR", "/tmp/refs/SfBC"))
HOPPER = "jaxrl_offline/hopper/medium-50k-v0"


def test_sfbc_flags_map_to_its_two_stages():
    args = references.command_args(SFBC, "hopper-medium-v2", None, 3, 195, 5, 10,
                                   "--n_behavior_epochs=50")
    own, steps, every = sfbc.split_args(args)
    assert (steps, every) == (195, 5)
    assert own == ["--env=hopper-medium-v2", "--seed_per_evaluation=10", "--seed=3",
                   "--device=cpu", "--n_behavior_epochs=50"]
    # K * 100 - 1 epochs reach 195 with K = 2 (the paper's); the critic loads the last behavior
    # checkpoint.
    assert sfbc.stage_args(own, steps)[-2:] == ["--K=2", "--actor_load_epoch=50"]
    assert sfbc.stage_args(own[:-1], 99)[-2:] == ["--K=1", "--actor_load_epoch=600"]
    assert sfbc.stage_args(own, 100)[-2] == "--K=2"
    with pytest.raises(ValueError, match="multiple of 5"):
        sfbc.split_args(references.command_args(SFBC, "h", None, 0, 12, 3, 1))
    sfbc.split_args(references.command_args(SFBC, "h", None, 0, 1, 1, 1))  # After epoch 0.
    with pytest.raises(ValueError, match="the harness.s to set"):
        sfbc.split_args(references.command_args(SFBC, "h", None, 0, 5, 5, 1, "--K=3"))
    with pytest.raises(ValueError, match="every 25 epochs"):
        sfbc.stage_args(["--n_behavior_epochs=30"], 5)


def test_budget_in_the_reference_units_gives_ours_the_same_steps():
    # Epoch lengths of the reference's buffer (rows repeated round(samples / N) times, batches of
    # 4,096, the last partial): the figures in the parity README.
    assert sfbc.epoch_steps(50_000, 1) == 13  # --sample_per_epoch=1: one pass.
    assert sfbc.epoch_steps(50_000, sfbc.CRITIC_SAMPLES) == 245  # 20 x 50k rows.
    assert sfbc.epoch_steps(1_000_000, sfbc.CRITIC_SAMPLES) == 245
    assert sfbc.epoch_steps(160_000, sfbc.CRITIC_SAMPLES) == 235  # 6 x 160k.
    assert sfbc.epoch_steps(2_000_000, sfbc.CRITIC_SAMPLES) == 489  # round(0.5) = 0 -> 1 pass.
    # queue_sfbc.sh's default: 50 behavior epochs, 20 critic epochs, evaluations every 5.
    assert sfbc.ours_budget_args(50_000, 50, 20, 5) == [
        "--config.behavior_steps=650", "--config.critic_steps=4900",
        "--config.planning_iterations=1", "--eval_every=1225", "--chunk=25"]
    with pytest.raises(ValueError, match="first planning iteration"):
        sfbc.ours_budget_args(50_000, 50, 100, 5)  # K = 2: the sides stop at different steps.
    with pytest.raises(ValueError, match="multiple of 5"):
        sfbc.ours_budget_args(50_000, 50, 20, 3)
    with pytest.raises(ValueError, match="every 25 epochs"):
        sfbc.ours_budget_args(50_000, 30, 20, 5)


def test_tables_count_the_reference_critic_epochs_in_steps():
    from benchmarks.parity import tables

    reference = {"reference": {"name": "sfbc/sfbc"}, "steps": 20, "eval_every": 5,
                 "eval_steps": [5, 10, 15, 20],
                 "config": {"harness": {"critic_steps_per_epoch": 245, "behavior_steps": 650}}}
    converted = tables.in_updates(reference)
    assert converted["eval_steps"] == [1225, 2450, 3675, 4900]
    assert (converted["steps"], converted["eval_every"]) == (4900, 1225)
    assert reference["eval_steps"] == [5, 10, 15, 20]  # The loaded record is not changed.
    ours = {"steps": 4900, "eval_steps": [1225], "config": {"behavior_steps": 650}}
    assert tables.in_updates(ours) is ours


def test_evaluation_selection_keeps_multiples_and_stops():
    class Env:
        def __init__(self, value):
            self.dbag_return = value

    calls = []

    def evaluate(policy_fn, eval_episodes):
        calls.append(policy_fn)
        return [Env(10.0 * len(calls) + i) for i in range(eval_episodes)]

    assert [sfbc.eval_epochs(call) for call in range(4)] == [1, 5, 10, 15]
    capture = sfbc.EvalSelection(evaluate, steps=10, eval_every=5)
    skipped = capture("policy", eval_episodes=2)  # After epoch 0: not a multiple of 5.
    assert len(skipped) == 2 and np.isnan(skipped[0].dbag_return) and not calls
    assert [env.dbag_return for env in capture("policy", eval_episodes=2)] == [10.0, 11.0]
    with pytest.raises(sfbc._Stop):  # After 10 epochs, the last one asked for.
        capture("policy", eval_episodes=2)
    np.testing.assert_array_equal(np.stack(capture.returns), [[10.0, 11.0], [20.0, 21.0]])
    assert len(capture.calls) == 2


def test_buffer_check_against_get_dataset(parity_dataset):
    binding, _ = harness.make_binding(parity_dataset, test_parity.ENV_NAME)
    dataset = binding.dataset
    # What SfBC's Diffusion_buffer._load_data keeps of get_dataset (locomotion branch).
    data = {"states": dataset["observations"], "actions": dataset["actions"],
            "rewards": dataset["rewards"][:, None],
            "done": (dataset["terminals"] | dataset["timeouts"])[:, None],
            "is_finished": dataset["terminals"][:, None]}
    summary = sfbc.check_buffer(binding, data)
    assert summary["reference_rows"] == summary["project_transitions"] == test_parity.NUM_STEPS
    assert (summary["reference_done"], summary["reference_is_finished"]) == (4, 2)
    assert summary["get_dataset_vs_project"]["episodes"] == 4
    data["done"] = np.zeros_like(data["done"])
    with pytest.raises(d4rl_arrays.ParityError, match="buffer\\['done'\\]"):
        sfbc.check_buffer(binding, data)


def test_cuda_by_name_runs_on_cpu():
    torch = pytest.importorskip("torch")
    original = torch.Tensor.to
    with sfbc.cuda_on_cpu() as patched:
        moved = torch.zeros(2).to("cuda")
        assert moved.device.type == ("cpu" if patched else "cuda")
        assert torch.zeros(2).to(torch.float64).dtype == torch.float64
    assert torch.Tensor.to is original


def test_ours_config_matches_the_reference_schedule():
    from jaxrl_offline.algorithms import sfbc_staged

    assert references.ours_config_args("sfbc/sfbc", HOPPER) == ["--config.critic_steps=24500"]
    # 160k rows: epochs of 960k samples, 235 batches; not a fixed row (README "SfBC").
    assert references.ours_config("sfbc/sfbc", "jaxrl_offline/hopper/medium-replay-v0") == {}
    config = sfbc_staged.Config(**references.ours_config("sfbc/sfbc", HOPPER))
    # 600 epochs of 4M samples at 4096 rows (977 batches, the last partial); critic epochs of 1M
    # samples (245 batches), 100 per planning iteration; 16 presampled actions per state.
    assert config.behavior_steps == 600 * -(-4_000_000 // 4096)
    assert config.critic_steps == 100 * -(-1_000_000 // 4096)
    assert (config.batch_size, config.critic_batch_size, config.behavior_lr,
            config.critic_lr) == (4096, 4096, 1e-4, 1e-3)
    assert (config.planning_iterations, config.num_value_samples, config.planning_temperature,
            config.sampling_steps) == (2, 16, 20.0, 15)
    assert (config.num_candidates, config.selection_temperature, config.num_selected) == (
        32, 100.0, 4)


@pytest.mark.skipif(not (SFBC_DIR / "train_critic.py").exists(),
                    reason="no SfBC checkout at $SFBC_REFERENCE_DIR")
def test_mapping_rests_on_the_reference_source():
    critic = (SFBC_DIR / SFBC.script).read_text()
    behavior = (SFBC_DIR / "train_behavior.py").read_text()
    utils = (SFBC_DIR / "utils.py").read_text()
    assert "n_epochs = args.K * 100 - 1" in critic
    assert "if (epoch % 5 == 4) or epoch==0:" in critic
    assert f"args.eval_func = functools.partial({SFBC.eval_function}," in critic
    assert "args.sample_per_epoch=1000000" in critic and "def critic(args)" in critic
    assert "epoch % 25 == 24" in behavior and "def behavior(args)" in behavior
    assert "def train_behavior(args, score_model, data_loader, optimizer)" in behavior
    for flag in ("env", "seed", "seed_per_evaluation", "K", "actor_load_epoch",
                 "n_behavior_epochs", "device", "evaluate_while_training_critic"):
        assert f"'--{flag}'" in utils or f'"--{flag}"' in utils
    assert "parse_known_args" in utils
    buffer = (SFBC_DIR / "dataset/dataset.py").read_text()
    assert 'torch.FloatTensor(states).to("cuda")' in buffer


# A stand-in checkout with SfBC's layout and call structure (numpy only): get_args over sys.argv,
# a buffer reading get_dataset, a behavior stage saving every 25 epochs, a critic stage loading
# that checkpoint and evaluating after epoch 0 and every fifth epoch.
FAKE_FILES = {
    "dataset/__init__.py": "",
    "dataset/dataset.py": '''
import gym
import numpy as np


class Diffusion_buffer:
    def __init__(self, args):
        data = self._load_data(args)
        self.states = data["states"]

    def __len__(self):
        return len(self.states)

    def _load_data(self, args):
        dataset = gym.make(args.env).get_dataset()
        if not dataset["terminals"][-1]:
            dataset["timeouts"][-1] = True
        return {"states": dataset["observations"], "actions": dataset["actions"],
                "rewards": dataset["rewards"][:, None],
                "done": (dataset["terminals"] | dataset["timeouts"])[:, None],
                "is_finished": dataset["terminals"][:, None]}
''',
    "utils.py": '''
import argparse
import gym


def get_args():
    parser = argparse.ArgumentParser()
    for flag, default in (("env", ""), ("seed", 0), ("seed_per_evaluation", 10), ("K", 2),
                          ("n_behavior_epochs", 600), ("actor_load_epoch", 600),
                          ("sample_per_epoch", 4000000)):
        parser.add_argument(f"--{flag}", default=default, type=type(default))
    return parser.parse_known_args()[0]


def pallaral_eval_policy(policy_fn, env_name, seed, eval_episodes=20):
    envs = []
    for i in range(eval_episodes):
        env = gym.make(env_name)
        env.seed(seed + 1001 + i)
        env.reset()
        env.dbag_return = 0.0
        done = False
        while not done:
            _, reward, done, _ = env.step(policy_fn(env))
            env.dbag_return += reward
        envs.append(env)
    return envs
''',
    "train_behavior.py": '''
import os
from dataset.dataset import Diffusion_buffer
from utils import get_args


def train_behavior(args, score_model, data_loader, optimizer):
    for epoch in range(args.n_behavior_epochs):
        if epoch % 25 == 24:
            with open(os.path.join("models", "ckpt{}.pth".format(epoch + 1)), "w") as f:
                f.write("x")


def behavior(args):
    os.makedirs("models", exist_ok=True)
    train_behavior(args, None, [0] * 3, None)
''',
    "train_critic.py": '''
import functools
import os
from dataset.dataset import Diffusion_buffer
from utils import get_args, pallaral_eval_policy


def train_critic(args, score_model, data_loader, optimizer):
    for epoch in range(args.K * 100 - 1):
        if (epoch % 5 == 4) or epoch == 0:
            envs = args.eval_func(lambda env: [0.0])
            [envs[i].dbag_return for i in range(args.seed_per_evaluation)]


def critic(args):
    assert os.path.exists(os.path.join("models", "ckpt{}.pth".format(args.actor_load_epoch)))
    args.eval_func = functools.partial(pallaral_eval_policy, env_name=args.env, seed=args.seed,
                                       eval_episodes=args.seed_per_evaluation)
    dataset = Diffusion_buffer(args)
    train_critic(args, None, [0] * dataset.__len__(), None)
''',
}


def test_run_seed_drives_both_stages_of_a_stand_in_checkout(parity_dataset, tmp_path):
    pytest.importorskip("torch")  # cuda_on_cpu.
    for name, text in FAKE_FILES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    binding, info = harness.make_binding(parity_dataset, test_parity.ENV_NAME)
    reference = dataclasses.replace(SFBC, real_gym=False)  # The harness's stand-in gym.
    args = references.command_args(reference, test_parity.ENV_NAME, None, 0, 10, 5, 2,
                                   "--n_behavior_epochs=50")
    cwd = os.getcwd()
    result = harness.run_reference_seed(reference, tmp_path, binding, args, 0)
    assert os.getcwd() == cwd and not (tmp_path / "models").exists()  # A scratch directory.
    # Evaluations after 5 and 10 critic epochs; the one after epoch 0 was skipped.
    assert result.returns.shape == (2, 2) and len(result.eval_s) == len(result.train_s) == 2
    assert result.config["K"] == 1 and result.config["actor_load_epoch"] == 50
    assert result.config["sample_per_epoch"] == 1_000_000  # train_critic.py's __main__ value.
    assert result.config["harness"]["behavior_steps"] == 150
    assert result.config["harness"]["critic_steps"] == 10 * test_parity.NUM_STEPS
    assert result.data_check["reference_rows"] == test_parity.NUM_STEPS
    assert not any(name.startswith("dataset") for name in sys.modules)  # Dropped afterwards.
    record = records.reference_record(reference, SFBC.commit, parity_dataset, info,
                                      result.config, [result], 10, 5, 2, "cpu", None)
    assert record["eval_steps"] == [5, 10] and "critic epochs" in record["reference"]["capture"]


@pytest.mark.skipif(not (SFBC_DIR / "dataset/dataset.py").exists(),
                    reason="no SfBC checkout at $SFBC_REFERENCE_DIR")
def test_reference_buffer_passes_the_check_and_rebuilds_targets_on_cpu(parity_dataset):
    import argparse

    torch = pytest.importorskip("torch")
    # Its loader branches on the env name: bind a locomotion name to the 21-step test set.
    binding, _ = harness.make_binding(parity_dataset, "hopper-medium-v2")
    args = argparse.Namespace(env="hopper-medium-v2", normalise_return=1, sample_per_epoch=1,
                              alpha=20.0)
    with shims.install(binding), harness._import_root(SFBC_DIR):
        from dataset import dataset as buffer_module

        buffer = buffer_module.Diffusion_buffer(args)
        summary = sfbc.check_buffer(binding, buffer._load_data(args))
        assert summary["reference_rows"] == len(buffer) == test_parity.NUM_STEPS

        class Critic:  # calculateQ of SfBC's ScoreBase: Q(s, a) [B, 1].
            def calculateQ(self, states, actions):
                return states[:, :1] + actions[:, :1]

        buffer.fake_actions = np.ones((len(buffer), 16, 1), np.float32)
        if not torch.cuda.is_available():
            with pytest.raises((AssertionError, RuntimeError)):  # .to("cuda") by name.
                buffer.update_returns(Critic())
        with sfbc.cuda_on_cpu():
            buffer.update_returns(Critic())
        assert len(buffer.raw_returns) == 2 and np.all(np.isfinite(buffer.ys))
