"""The IDQL reference in the parity harness: its registry entry, flag mapping and settings dict,
the launcher-style call and the env-counted returns (no IDQL environment needed; the check of the
settings against the launcher runs when a checkout of philippe-eecs/IDQL is at
``$IDQL_REFERENCE_DIR``, default ``/tmp/refs/IDQL``)."""

import ast
import os
import pathlib
import textwrap

import numpy as np
import pytest
import test_parity

from benchmarks.parity import d4rl_arrays, harness, records, references

ENV_NAME = test_parity.ENV_NAME
parity_dataset = test_parity.parity_dataset  # The fixture: four InvertedPendulum episodes.

IDQL = references.REFERENCES["idql/idql"]
IDQL_DIR = pathlib.Path(os.environ.get("IDQL_REFERENCE_DIR", "/tmp/refs/IDQL"))
HOPPER = "jaxrl_offline/hopper/medium-50k-v0"


def test_idql_flags_map_to_its_settings_dict():
    args = references.command_args(IDQL, "hopper-medium-v2", None, 3, 300, 100, 2, "")
    # max_steps is one more than the updates: IDQL evaluates at loop index i % 100 == 0, i > 0,
    # after i + 1 updates; the cosine schedule spans the run (ours: derived from --steps).
    assert args == ["--env_name=hopper-medium-v2", "--max_steps=301", "--eval_interval=100",
                    "--eval_episodes=2", "--seed=3", "--rl_config.decay_steps=300"]
    details = references.details_from_args(IDQL, args + ["--rl_config.N=256", "--project=x"])
    assert details["max_steps"] == 301 and details["seed"] == 3 and details["project"] == "x"
    assert details["rl_config"]["decay_steps"] == 300 and details["rl_config"]["N"] == 256
    assert details["group"] == "hopper-medium-v2_3"  # wandb's run name, required by call_main.
    assert references.IDQL_DETAILS["rl_config"]["N"] == 64  # The template is left as it was.
    with pytest.raises(ValueError, match="unknown setting 'rl_config.NN'"):
        references.details_from_args(IDQL, ["--rl_config.NN=3"])
    with pytest.raises(ValueError, match="--key=value"):
        references.details_from_args(IDQL, ["seed=3"])
    with pytest.raises(ValueError, match="sys.argv"):
        references.details_from_args(references.REFERENCES["corl/iql"], args)


def test_ours_config_matches_the_idql_launcher():
    from jaxrl_offline.algorithms import idql

    assert references.ours_config_args("idql/idql", HOPPER) == [
        "--config.batch_size=512", "--config.critic_batch_size=512", "--config.critic_every=1",
        "--config.actor_weight_decay=0.0001", "--config.actor_ema_warmup=0.0"]
    config = idql.Config(**references.ours_config("idql/idql", HOPPER))
    launcher = references.IDQL_DETAILS["rl_config"]
    assert config.batch_size == references.IDQL_DETAILS["batch_size"]
    assert (config.actor_lr, config.critic_lr, config.value_lr) == (
        launcher["actor_lr"], launcher["critic_lr"], launcher["value_lr"])
    assert (config.diffusion_steps, config.num_candidates, config.beta_schedule) == (
        launcher["T"], launcher["N"], launcher["beta_schedule"])
    assert (config.actor_dropout_rate, len(config.denoiser_hidden_dims)) == (
        launcher["actor_dropout_rate"], launcher["actor_num_blocks"])
    assert (config.actor_layer_norm, config.value_layer_norm, config.actor_tau) == (
        launcher["actor_layer_norm"], launcher["value_layer_norm"], launcher["actor_tau"])
    assert config.expectile == launcher["critic_hyperparam"]
    # ddpm_iql_simple's create() defaults the launcher leaves alone.
    assert (config.tau, config.discount, config.time_features, config.num_critics) == (
        0.005, 0.99, 128, 2)


def _literal(node):
    """A launcher value: a literal, ``dict(k=v, ...)`` or ``int(literal)``."""
    if isinstance(node, ast.Call) and node.func.id == "dict":
        return {keyword.arg: _literal(keyword.value) for keyword in node.keywords}
    if isinstance(node, ast.Call) and node.func.id == "int":
        return int(_literal(node.args[0]))
    return ast.literal_eval(node)


@pytest.mark.skipif(not IDQL_DIR.is_dir(), reason=f"no IDQL checkout at {IDQL_DIR}")
def test_idql_details_are_the_launchers():
    launcher = (IDQL_DIR / "launcher/examples/train_ddpm_iql_offline.py").read_text()
    constant = next(node.value for node in ast.walk(ast.parse(launcher))
                    if isinstance(node, ast.Assign)
                    and getattr(node.targets[0], "id", None) == "constant_parameters")
    constant = _literal(constant)
    ours = {key: value for key, value in references.IDQL_DETAILS.items()
            if key not in ("group", "env_name", "seed", "inference_variants")}
    added = {"critic_hyperparam": 0.7, "T": 5, "beta_schedule": "vp"}  # Its sweep's values.
    assert ours == {**constant, "rl_config": {**constant["rl_config"], **added}}
    script = (IDQL_DIR / IDQL.script).read_text()
    assert f"def {IDQL.entry}(details)" in script
    assert f"import {IDQL.eval_function}" in script.replace(", implicit_evaluate", "")


# A stand-in for IDQL's script: call_main(details), an evaluation that returns only the mean (of
# test_parity's fake CORL evaluation, shifted by its agent argument).
FAKE_IDQL = test_parity.FAKE_REFERENCE + '''

def evaluate(agent, env, num_episodes):
    return {"return": eval_actor(env, num_episodes, None).mean() + agent}


def call_main(details):
    env = gym.make(details["env_name"])
    d4rl.qlearning_dataset(env)
    for i in range(details["max_steps"]):
        if i % details["eval_interval"] == 0 and i > 0:
            evaluate(details["bias"], env, details["eval_episodes"])
'''


def test_run_seed_calls_the_launcher_entry_and_counts_env_returns(parity_dataset, tmp_path):
    script = tmp_path / "fake_idql.py"
    script.write_text(textwrap.dedent(FAKE_IDQL))
    binding, info = harness.make_binding(parity_dataset, ENV_NAME)
    reference = references.Reference(**{
        **{field: getattr(IDQL, field) for field in references.Reference.__dataclass_fields__},
        "script": script.name, "import_root": False, "real_gym": False,
        "details": {**references.IDQL_DETAILS, "bias": 0.0}})
    args = references.command_args(reference, ENV_NAME, None, 0, 30, 10, 2, "")
    details = references.details_from_args(reference, args)
    result = harness.run_seed(script, "evaluate", binding, args, 0, entry="call_main",
                              details=details, returns_from="env")
    assert result.returns.shape == (3, 2) and np.all(result.returns >= 1)
    assert result.config["max_steps"] == 31 and result.data_check["reference_transitions"] == 19
    record = records.reference_record(reference, "0" * 40, parity_dataset, info, result.config,
                                      [result], 30, 10, 2, "cpu", None)
    assert record["eval_steps"] == [10, 20, 30] and "+ 1" in record["reference"]["capture"]
    # A mean that is not the episodes' (here shifted by the agent argument) stops the run.
    details["bias"] = 1.0
    with pytest.raises(d4rl_arrays.ParityError, match="harness's env finished 2 episodes"):
        harness.run_seed(script, "evaluate", binding, args, 0, entry="call_main",
                         details=details, returns_from="env")
