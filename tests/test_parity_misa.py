"""The MISA reference (sail-sg/MISA) in the parity harness: registry entry, flag mapping, our
matching Config, and the venv launcher's pieces. Nothing here needs the reference's venv; the
checks against the reference's own defaults read its checkout's source (``MISA_REFERENCE_DIR``,
default ``/tmp/refs/MISA``) with ``ast`` and are skipped when it is absent."""

from __future__ import annotations

import ast
import dataclasses
import os
import pathlib
import sys
import types

import numpy as np
import pytest
from test_parity import ENV_NAME, parity_dataset  # noqa: F401 (a fixture)

from benchmarks.parity import d4rl_arrays, harness, references, venv_reference
from jaxrl_offline.algorithms import misa
from jaxrl_offline.datasets.transforms import TRANSFORM_TABLE

NAME = "official/misa"
CHECKOUT = pathlib.Path(os.environ.get("MISA_REFERENCE_DIR", "/tmp/refs/MISA"))


def test_flag_mapping_counts_epochs_of_eval_every_updates():
    reference = references.get_reference(NAME)
    assert isinstance(reference, references.VenvReference)
    args = references.command_args(reference, "hopper-medium-v2", None, seed=3, steps=5000,
                                   eval_every=1000, episodes=2)
    # 5 epochs of 1000 updates, an evaluation of 2 episodes after each.
    assert args == ["--env=hopper-medium-v2", "--n_epochs=5", "--n_train_step_per_epoch=1000",
                    "--eval_n_trajs=2", "--seed=3", "--eval_period=1",
                    "--logging.output_dir=<scratch_dir>"]
    with pytest.raises(ValueError, match="multiple of eval_every"):
        references.command_args(reference, "hopper-medium-v2", None, 0, 1500, 1000, 2)
    assert (reference.algorithm, reference.variant) == ("misa", "official")
    assert pathlib.Path(reference.requirements).name == "requirements-misa.txt"
    assert reference.returns_reader in venv_reference.RETURN_READERS


def test_ours_config_is_valid_and_fixes_the_step_size():
    for dataset in ("jaxrl_offline/hopper/medium-50k-v0", "jaxrl_offline/walker2d/medium-v0"):
        assert references.ours_config_args(NAME, dataset) == [
            "--config.mcmc_adaptation_rate=0.0"]
    misa.validate(misa.Config(**references.ours_config(NAME, "jaxrl_offline/hopper/medium-v0")))


def test_eval_hook_on_a_method_keeps_the_class_and_reads_trajectory_returns():
    class TrajSampler:
        def __init__(self, scale):
            self.scale = scale

        def sample(self, n_trajs):
            return [{"rewards": np.full(3, self.scale * (i + 1))} for i in range(n_trajs)]

    module = types.SimpleNamespace(TrajSampler=TrajSampler)
    capture = venv_reference._Capture()
    venv_reference._install_hook(module, "TrajSampler.sample", capture,
                                 venv_reference.RETURN_READERS["trajectory_rewards"])
    sampler = module.TrajSampler(2.0)
    assert isinstance(sampler, TrajSampler) and len(sampler.sample(2)) == 2
    assert capture.returns == [[6.0, 12.0]] and len(capture.calls) == 1
    function = types.SimpleNamespace(evaluate=lambda: np.array([1.0, 2.0]))
    venv_reference._install_hook(function, "evaluate", capture,
                                 venv_reference.RETURN_READERS["returns"])
    function.evaluate()
    assert capture.returns[-1] == [1.0, 2.0]


def test_rows_digest_tells_rows_apart():
    rows = {key: np.zeros((4, 2), np.float32) for key in d4rl_arrays.QLEARNING_KEYS}
    changed = dict(rows, rewards=rows["rewards"].copy())
    changed["rewards"][3, 1] = 1e-7
    assert venv_reference.rows_digest(rows) == venv_reference.rows_digest(dict(rows))
    assert venv_reference.rows_digest(rows) != venv_reference.rows_digest(changed)


# A stand-in for MISA's experiments/main.py: absl flags defined at import, a module-level
# TrajSampler whose sample() returns trajectory dicts, main(argv) training in epochs.
FAKE_MAIN = """
import absl.flags
import d4rl
import gym
import jax
import numpy as np

FLAGS_DEF = {"env": "", "n_epochs": 1, "n_train_step_per_epoch": 1, "eval_n_trajs": 1,
             "seed": 0, "eval_period": 1}
for _name, _default in FLAGS_DEF.items():
    define = absl.flags.DEFINE_string if isinstance(_default, str) else absl.flags.DEFINE_integer
    define(_name, _default, "")


class TrajSampler:
    def __init__(self, env):
        self.env = env

    def sample(self, n_trajs):
        trajs = []
        for _ in range(n_trajs):
            self.env.reset()
            done, rewards = False, []
            while not done:
                _, reward, done, _ = self.env.step(np.zeros(1))
                rewards.append(reward)
            trajs.append({"rewards": np.array(rewards)})
        return trajs


def main(argv):
    flags = absl.flags.FLAGS
    env = gym.make(flags.env)
    assert len(d4rl.qlearning_dataset(env)["rewards"]) == 19
    assert jax.tree_multimap(lambda x, y: x + y, [1], [2]) == [3]  # The restored alias.
    sampler = TrajSampler(env)
    for _ in range(flags.n_epochs):
        sampler.sample(flags.eval_n_trajs)
"""


def test_child_process_runs_a_fake_reference_end_to_end(parity_dataset, tmp_path):  # noqa: F811
    # This Python stands in for the venv's: the launcher path is the same.
    (tmp_path / "fake_main.py").write_text(FAKE_MAIN)
    reference = dataclasses.replace(references.get_reference(NAME), entry_module="fake_main",
                                    fixed_args=("--eval_period=1",))
    binding, info = harness.make_binding(parity_dataset, ENV_NAME)
    args = references.command_args(reference, ENV_NAME, None, 0, 6, 2, 2)
    result, versions = venv_reference.run_seed(sys.executable, reference, tmp_path, binding,
                                               info.eval_env_spec, args, 0)
    assert result.returns.shape == (3, 2) and np.all(result.returns >= 1)
    assert result.data_check["reference_transitions"] == 19
    assert result.config["n_epochs"] == 3 and result.argv == args
    assert len(result.train_s) == 3 and np.all(result.eval_s > 0) and versions["numpy"]


def _literal_keywords(path: pathlib.Path, function: str) -> dict:
    """Literal keyword arguments of the call to ``function`` in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == function:
            return {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords
                    if isinstance(kw.value, (ast.Constant, ast.UnaryOp))}
    raise AssertionError(f"no call to {function} in {path}")


def _config_assignments(path: pathlib.Path) -> dict:
    """``config.<name> = <literal>`` of ``MISA.get_default_config``."""
    values = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute)
                and getattr(node.targets[0].value, "id", None) == "config"):
            try:
                values[node.targets[0].attr] = ast.literal_eval(node.value)
            except ValueError:  # -np.inf
                values[node.targets[0].attr] = ast.unparse(node.value)
    return values


@pytest.mark.skipif(not (CHECKOUT / "experiments" / "main.py").exists(),
                    reason=f"no sail-sg/MISA checkout at {CHECKOUT} (MISA_REFERENCE_DIR)")
def test_our_config_matches_the_reference_defaults():
    main = _literal_keywords(CHECKOUT / "experiments" / "main.py", "define_flags_with_default")
    algo = _config_assignments(CHECKOUT / "algos" / "misa.py")
    reference = references.get_reference(NAME)
    # Every flag the harness passes is one of the script's flags.
    passed = [arg[2:].split("=")[0].split(".")[0] for arg in references.command_args(
        reference, "hopper-medium-v2", None, 0, 2, 1, 1)]
    assert set(passed) <= set(main) | {"algo_cfg", "logging"}
    ours = misa.Config(**references.ours_config(NAME, "jaxrl_offline/hopper/medium-v0"))

    def arch(text):
        return tuple(int(size) for size in text.split("-"))

    expected = {
        "actor_hidden_dims": arch(main["policy_arch"]),
        "critic_hidden_dims": arch(main["qf_arch"]),
        "critic_activation": main["activation"], "batch_size": main["batch_size"],
        "log_std_offset": main["policy_log_std_offset"],
        "discount": algo["discount"], "tau": algo["soft_target_update_rate"],
        "actor_lr": algo["policy_lr"], "alpha_lr": algo["policy_lr"], "critic_lr": algo["qf_lr"],
        "num_actions": algo["n_actions"], "mcmc_num_samples": algo["n_actions"],
        "min_q_weight": algo["min_q_weight"], "logsumexp_temperature": algo["temp"],
        "log_k_norm": algo["log_k_norm"], "bc_mode": algo["bc_mode"],
        "bc_weight": algo["bc_weight_misa"], "entropy_weight": algo["bc_weight_misa"],
        "unbiased_grad": algo["unbiased_grad"], "unbiased_weight": algo["unbiased_weight"],
        "mcmc_burnin_steps": algo["mcmc_burnin_steps"],
        "mcmc_leapfrog_steps": algo["mcmc_num_leapfrog_steps"],
        "mcmc_step_size": algo["mcmc_step_size"],
        # Its step size starts at mcmc_step_size at every update: no adaptation across updates.
        "mcmc_adaptation_rate": 0.0,
        # target_entropy >= 0 means -action_dim (main.py), ours None.
        "target_entropy": None if algo["target_entropy"] >= 0 else algo["target_entropy"],
    }
    assert {field: getattr(ours, field) for field in expected} == expected
    # Its MISA branch and no other option: what ours implements.
    assert (algo["misa"], algo["use_cql"], algo["use_automatic_entropy_tuning"]) == (
        True, True, True)
    assert not any(algo[key] for key in ("lagrange", "max_target_backup", "add_positive",
                                         "detach_pi", "backup_entropy"))
    assert algo["nstep"] == 1 and algo["alpha_multiplier"] == 1.0
    # Locomotion data: raw observations and rewards, actions clipped to +-clip_action.
    assert (main["obs_norm"], main["reward_scale"], main["reward_bias"]) == (False, 1, 0)
    transforms = TRANSFORM_TABLE["locomotion"]["misa"]
    assert (transforms.normalize_obs, transforms.clip_actions) == (False, main["clip_action"])
    assert transforms.reward == "none"
