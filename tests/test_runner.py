"""Tests for the experiment runner: flags and planning, overrides, records, resume, skipping.

Training runs use a 2,000-transition InvertedPendulum dataset, BC with 32 x 32 networks, batch 32,
2 seeds, 200 updates in chunks of 50 and 1-episode evaluations capped at 50 steps.
"""

import dataclasses
import json
import shutil
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl import app, flags

from experiments import cli, field_rules, overrides, run, stamp_digests, sweep, tables
from jaxrl_offline import algorithms
from jaxrl_offline.algorithms import bc
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import experiment, training

from helpers import ProbeConfig, interrupt_after, invpend_root, probe_init, run_cli

DATASET = "test/invpend/medium-v0"
TINY = dict(algos=("bc",), datasets=(DATASET,), num_seeds=2, steps=200, chunk=50, eval_every=100,
            eval_episodes=1, max_episode_steps=50, checkpoint_every=1,
            config={"actor_hidden_dims": (32, 32), "batch_size": 32})
TINY_FLAGS = ["--algos=bc", f"--datasets={DATASET}", "--num_seeds=2", "--steps=200", "--chunk=50",
              "--eval_every=100", "--eval_episodes=1", "--max_episode_steps=50",
              "--checkpoint_every=1", "--config.actor_hidden_dims=(32, 32)", "--config.batch_size",
              "32",
              "--progress=false"]


def plan(**changes):
    return sweep.plan_runs(sweep.SweepSettings(**{**TINY, **changes}))


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    return invpend_root(tmp_path_factory, DATASET, 2000)


@pytest.fixture
def data_env(dataset_root, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset_root))


@pytest.fixture(scope="module")
def finished(dataset_root, tmp_path_factory):
    """(workdir, spec, record) of one uninterrupted tiny BC run."""
    workdir = tmp_path_factory.mktemp("finished")
    (spec,) = plan()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(dataset_root))
        record = experiment.run_experiment(spec, workdir, progress=False, log=lambda line: None)
    return workdir, spec, record


def without_timing(record):
    return {k: v for k, v in record.items() if k not in ("timing", "command")}


# --- Flags, planning and overrides (no training) -------------------------------------------------


def test_plan_errors():
    with pytest.raises(ValueError, match="Unknown algorithm 'nope'. Registered algorithms: .*bc, "):
        plan(algos=("nope",))
    with pytest.raises(ValueError, match=r"unknown config field\(s\) \['expectile'\] for bc. "
                                         r"Valid fields: bc: actor_hidden_dims, batch_size"):
        sweep.plan_runs(sweep.SweepSettings(**TINY), {"expectile": "0.9"})
    with pytest.raises(ValueError, match="--steps=210 is not a multiple of --chunk=50"):
        plan(steps=210)
    with pytest.raises(ValueError, match="--eval_every=120 is not a multiple of --chunk=50"):
        plan(eval_every=120)
    with pytest.raises(ValueError, match="expectile='abc' is not a valid float"):
        sweep.plan_runs(sweep.SweepSettings(**{**TINY, "algos": ("iql",)}), {"expectile": "abc"})
    with pytest.raises(ValueError, match="num_seeds"):
        plan(num_seeds=0)
    with pytest.raises(ValueError, match=r"unknown bc config field\(s\) \['expectile'\]"):
        plan(config={"bc": {"expectile": 0.9}})


def test_sweep_config_per_algorithm_entries():
    both = {**TINY, "algos": ("bc", "iql")}
    # Shared fields go to every algorithm that has them; an algorithm's own entry wins for it, and
    # entries of algorithms not selected are ignored.
    config = {"batch_size": 32, "iql": {"batch_size": 16, "expectile": 0.8}, "cql": {"x": 1}}
    bc_run, iql_run = sweep.plan_runs(sweep.SweepSettings(**{**both, "config": config}))
    assert bc_run.config.batch_size == 32
    assert (iql_run.config.batch_size, iql_run.config.expectile) == (16, 0.8)
    assert iql_run.overrides["sweep"] == {"batch_size": 16, "expectile": 0.8}


def test_override_must_apply_to_every_selected_algorithm_unless_per_algorithm():
    settings = sweep.SweepSettings(**{**TINY, "algos": ("bc", "iql")})
    # expectile is IQL's only: written plainly, it is an error naming bc (issue 18).
    with pytest.raises(ValueError, match=r"--config: config field 'expectile' is not a field of "
                                         r"bc \(only of iql\)\. Set it per algorithm, e\.g\. "
                                         r"--config\.iql\.expectile=\.\.\."):
        sweep.plan_runs(settings, {"expectile": "0.8"})
    bc_run, iql_run = sweep.plan_runs(settings, {"iql.expectile": "0.8",
                                                 "actor_hidden_dims": "64,64"})
    assert iql_run.config.expectile == 0.8
    assert iql_run.overrides["command_line"] == {"expectile": 0.8, "actor_hidden_dims": (64, 64)}
    assert bc_run.overrides["command_line"] == {"actor_hidden_dims": (64, 64)}
    assert bc_run.config.actor_hidden_dims == (64, 64) and bc_run.config.batch_size == 32
    assert iql_run.config.critic_hidden_dims == (256, 256)  # Only the field named changes.


def test_dataset_table_sweep_command_line_and_derived_layers():
    settings = sweep.SweepSettings(**{**TINY, "algos": ("iql",),
                                      "datasets": ("D4RL/antmaze/umaze-v1",)})
    (run_spec,) = sweep.plan_runs(settings, {"awr_temperature": "5"})
    config, provenance = run_spec.config, run_spec.overrides
    assert (config.expectile, config.awr_temperature) == (0.9, 5.0)  # table, then command line
    assert provenance["table: IQL configs/antmaze_config.py"] == {"expectile": 0.9,
                                                                  "awr_temperature": 10.0}
    assert provenance["command_line"] == {"awr_temperature": 5.0}
    assert config.cosine_decay_steps == 200 and provenance["derived"] == {
        "cosine_decay_steps": 200}
    (explicit,) = sweep.plan_runs(settings, {"cosine_decay_steps": "None"})
    assert explicit.config.cosine_decay_steps is None and "derived" not in explicit.overrides
    (cql,) = sweep.plan_runs(dataclasses.replace(settings, algos=("cql",), config={}))
    assert cql.config.critic_hidden_dims == (256,) * 5 and cql.config.lagrange is True
    (plain,) = plan(algos=("iql",), datasets=("mujoco/hopper/medium-v0",))
    assert plain.config.expectile == 0.7 and not any(k.startswith("table") for k in plain.overrides)


def test_every_table_row_is_a_valid_config():
    for row in overrides.OVERRIDES:
        sweep.build_config(row.algorithm, [("table", row.values)], {})
    assert overrides.table_layers("iql", "pointmaze/open-v2") == []  # "open" is not "pen"
    assert overrides.table_layers("iql", "D4RL/pen/human-v2")[0][1]["dropout_rate"] == 0.1
    # ReBRAC's per-dataset coefficients reach the local suite's sized ids, level by level.
    for dataset_id, coefs in [("jaxrl_offline/hopper/medium-100k-v0", (0.01, 0.01)),
                              ("jaxrl_offline/hopper/medium-replay-1.5m-v0", (0.05, 0.5)),
                              ("d4rl:hopper-medium-expert-v2.hdf5", (0.1, 0.01))]:
        (_, values), = overrides.table_layers("rebrac", dataset_id)
        assert (values["actor_bc_coef"], values["critic_bc_coef"]) == coefs


def test_settings_default_sweep_flags_and_variants(tmp_path):
    default = sweep.make_settings(None, {})
    assert default.algos == ("bc", "td3_bc", "iql") and default.num_seeds >= 3
    assert default.workdir == "workdir/default"
    assert sweep.make_settings(None, {"num_seeds": 2}).num_seeds == 2
    manual = sweep.make_settings(None, {"algos": ["iql"]})
    assert manual.algos == ("iql",) and manual.steps == 1_000_000 and len(manual.datasets) == 1
    path = tmp_path / "mine.py"
    path.write_text("SWEEP = dict(algos=('iql',), num_seeds=2, steps=100, chunk=50, eval_every=50,"
                    " variants={'t09': {'expectile': 0.9}, 't07': {'expectile': 0.7}})\n")
    settings = sweep.make_settings(str(path), {"steps": 200})
    assert settings.steps == 200 and settings.workdir == "workdir/mine"
    names = sorted(r.name for r in sweep.plan_runs(settings))
    assert names == ["iql-t07__jaxrl_offline_invpend_mixed-v0",
                     "iql-t09__jaxrl_offline_invpend_mixed-v0"]
    path.write_text("SWEEP = dict(algoz=('iql',))\n")
    with pytest.raises(ValueError, match="unknown keys \\['algoz'\\]"):
        sweep.make_settings(str(path), {})
    with pytest.raises(ValueError, match="no such file. Sweeps in .*default"):
        sweep.make_settings("nonexistent", {})


def test_parse_text_and_split_config_args():
    assert sweep.parse_text("(64, 64)") == (64, 64)
    assert sweep.parse_text("0.9") == 0.9 and sweep.parse_text("false") is False
    assert sweep.parse_text("None") is None and sweep.parse_text("-inf") == "-inf"
    rest, config = cli.split_config_args(
        ["run", "--algos=iql", "--config.expectile=0.9", "--config.iql.actor_hidden_dims",
         "(8, 8)"])
    assert rest == ["run", "--algos=iql"]
    assert config == {"expectile": "0.9", "iql.actor_hidden_dims": "(8, 8)"}
    with pytest.raises(flags.Error, match="needs a value"):
        cli.split_config_args(["run", "--config.expectile"])


def test_host_device_flags(monkeypatch):
    monkeypatch.setattr(run, "_accelerator_installed", lambda: False)
    assert run.host_device_flags({}, 2) == "--xla_force_host_platform_device_count=2"
    assert run.host_device_flags({"XLA_FLAGS": "--xla_foo=1"}, 4) == (
        "--xla_foo=1 --xla_force_host_platform_device_count=4")
    assert run.host_device_flags(
        {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}, 2) is None
    assert run.host_device_flags({}, 1) is None
    monkeypatch.setattr(run, "_accelerator_installed", lambda: True)
    assert run.host_device_flags({}, 2) is None
    assert run.host_device_flags({"JAX_PLATFORMS": "cpu"}, 2) is not None


def test_cli_flag_errors():
    try:
        with pytest.raises(app.UsageError, match="Unknown algorithm 'nope'"):
            cli.main(cli.parse_args(["run", "--algos=nope", f"--datasets={DATASET}"]))
        with pytest.raises(app.UsageError, match="unknown config field"):
            cli.main(cli.parse_args(["run", "--algos=bc", "--config.expectile=1"]))
        with pytest.raises(flags.Error):
            cli.parse_args(["run", "--stepz=3"])
    finally:
        flags.FLAGS.unparse_flags()


# --- Runs ----------------------------------------------------------------------------------------


def test_record_schema(finished):
    workdir, spec, record = finished
    assert set(results.REQUIRED_FIELDS) <= set(record)
    assert results.read_record(experiment.record_path(workdir, spec)) == record
    assert record["algorithm"] == "bc" and record["dataset_id"] == DATASET
    assert record["seeds"] == [0, 1] and record["steps"] == 200
    assert record["eval_steps"] == [100, 200]
    assert [len(row) for row in record["normalized_scores"]] == [2, 2]  # [evals][seeds]
    assert [len(row) for row in record["returns"]] == [1, 1]  # [seeds][episodes]
    assert record["config"] == {"actor_hidden_dims": [32, 32], "learning_rate": 3e-4,
                                "batch_size": 32, "init_scheme": bc.Config().init_scheme}
    assert record["overrides"] == {"sweep": {"actor_hidden_dims": [32, 32], "batch_size": 32}}
    assert record["transforms"]["source"].startswith("TRANSFORM_TABLE")
    assert record["normalized"] and record["score_label"].startswith("normalized score")
    for score in ("last", "best"):
        assert set(record["final"][score]) == {"mean", "std", "ci_low", "ci_high", "num_seeds",
                                               "per_seed"}
    assert record["final"]["last"]["per_seed"] == record["normalized_scores"][-1]
    assert {"compile_s", "train_s", "eval_s", "updates_per_s"} <= set(record["timing"])
    assert record["timing"]["updates_per_s"] > 0
    assert {"python", "jax", "jaxlib", "flax", "optax", "minari", "mujoco"} <= set(
        record["versions"])
    assert record["diverged_seeds"] == [] and "cpu" in record["device"]
    assert record["train_metrics"]["steps"] == [100, 200]
    assert all(len(v) == 2 and len(v[0]) == 2 for k, v in record["train_metrics"].items()
               if k != "steps")
    assert record["spec_hash"] == spec.spec_hash


@pytest.fixture(scope="module")
def seed1_alone(dataset_root, tmp_path_factory):
    """(workdir, spec, record) of seed 1 of ``finished`` run alone."""
    workdir = tmp_path_factory.mktemp("seed1")
    (spec,) = plan(seed=1, num_seeds=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(dataset_root))
        record = experiment.run_experiment(spec, workdir, progress=False, log=lambda line: None)
    return workdir, spec, record


def test_seed_of_a_multi_seed_run_equals_that_seed_alone(finished, seed1_alone):
    """Training and evaluation of seed 1 do not depend on seed 0 running beside it."""
    _, _, both = finished
    _, _, alone = seed1_alone
    assert alone["seeds"] == [1]
    for name, values in both["train_metrics"].items():
        if name != "steps":
            assert [row[1] for row in values] == pytest.approx(
                [row[0] for row in alone["train_metrics"][name]], rel=1e-5, abs=1e-6), name
    assert [row[1] for row in both["normalized_scores"]] == pytest.approx(
        [row[0] for row in alone["normalized_scores"]], rel=1e-6)
    assert both["returns"][1] == pytest.approx(alone["returns"][0], rel=1e-6)


def test_single_seed_parts_merge_into_the_multi_seed_record(finished, seed1_alone, data_env,
                                                            tmp_path):
    """benchmarks/parity/ours_seeds: seeds 0 and 1 run alone, kept as parts and merged, give the
    record of the 2-seed vmapped run (same seeds, spec_hash, scores and metrics)."""
    from benchmarks.parity import ours_seeds

    _, _, both = finished
    parts_dir = tmp_path / "parts"
    (seed0_spec,) = plan(seed=0, num_seeds=1)
    experiment.run_experiment(seed0_spec, tmp_path, progress=False, log=lambda line: None)
    ours_seeds.keep_part(experiment.record_path(tmp_path, seed0_spec), parts_dir)
    ours_seeds.keep_part(experiment.record_path(seed1_alone[0], seed1_alone[1]), parts_dir)
    paths = ours_seeds.find_parts(both["algorithm"], both["dataset_id"], [0, 1], parts_dir)
    merged = ours_seeds.merge([results.read_record(path) for path in paths], command="merge")
    assert merged["seeds"] == [0, 1] and merged["spec_hash"] == both["spec_hash"]
    assert np.asarray(merged["normalized_scores"]) == pytest.approx(
        np.asarray(both["normalized_scores"]), rel=1e-6)
    assert merged["final"]["last"]["mean"] == pytest.approx(both["final"]["last"]["mean"])
    assert set(merged["train_metrics"]) == set(both["train_metrics"])
    assert [m["seed"] for m in merged["merged_from"]] == [0, 1]
    assert merged["scores_digest"] == results.scores_digest(merged)

    with pytest.raises(FileNotFoundError, match=r"no part yet for seed\(s\) \[2\]"):
        ours_seeds.find_parts(both["algorithm"], both["dataset_id"], [0, 1, 2], parts_dir)
    first = results.read_record(paths[0])
    with pytest.raises(ValueError, match="seed given twice"):
        ours_seeds.merge([first, first])
    with pytest.raises(ValueError, match="differs from seed 0 in 'steps'"):
        ours_seeds.merge([first, {**results.read_record(paths[1]), "steps": 1}])
    with pytest.raises(ValueError, match="single-seed"):
        ours_seeds.keep_part(experiment.record_path(finished[0], finished[1]), parts_dir)
    second = results.read_record(paths[1])
    with pytest.raises(ValueError, match="offline-to-online record"):
        ours_seeds.merge([first, {**second, "online": {"steps": 10}}])
    with pytest.raises(ValueError, match="log different train metrics"):
        ours_seeds.merge([first, {**second, "train_metrics": {"steps": [100, 200]}}])
    # A second part of seed 0 made with other settings: which one to merge is not guessed.
    (parts_dir / paths[0].name.replace(first["spec_hash"], "0" * 16)).write_text(
        paths[0].read_text())
    with pytest.raises(ValueError, match="seed 0 of .* has 2 parts"):
        ours_seeds.find_parts(both["algorithm"], both["dataset_id"], [0, 1], parts_dir)


def test_resume_after_interruption_equals_uninterrupted_run(finished, data_env, tmp_path):
    _, spec, reference = finished
    spec = dataclasses.replace(spec, checkpoint_every=2)  # chunk 3 is lost and redone

    interrupt_after(spec, tmp_path, chunks_done=3)
    assert not experiment.record_path(tmp_path, spec).exists()
    assert [p.name for p in experiment.checkpoint_dir(tmp_path, spec).iterdir()] == ["2"]
    logs = []
    resumed = experiment.run_experiment(spec, tmp_path, progress=False, log=logs.append)
    assert "resuming from the checkpoint at step 100" in logs[0]
    assert resumed["timing"]["resumed_at_step"] == [100]
    assert without_timing(resumed) == without_timing(reference)


def test_finished_run_is_skipped_and_conflicts_are_reported(finished, tmp_path):
    workdir, spec, record = finished
    logs = []
    again = experiment.run_experiment(spec, workdir, progress=False, log=logs.append,
                                      on_chunk=pytest.fail)
    assert again == record and "already finished" in logs[0]
    other = dataclasses.replace(spec, steps=100, eval_every=50)
    with pytest.raises(experiment.RunConflictError, match=f"--redo={spec.name} to replace just"):
        experiment.run_experiment(other, workdir, progress=False)
    copy = tmp_path / "runs" / experiment.record_path(workdir, spec).name
    copy.parent.mkdir()
    copy.write_text(experiment.record_path(workdir, spec).read_text()[:100])
    with pytest.raises(results.RecordError, match=f"{copy}.*half-written or corrupt"):
        experiment.run_experiment(spec, tmp_path, progress=False)  # fails before loading data


def test_finished_run_with_stale_transforms_is_a_conflict(finished, tmp_path, monkeypatch):
    # The transforms are not in spec_hash: a record made before the table changed must not be
    # counted as finished (ACA's normalize_obs went from True to False on 2026-12-07).
    from jaxrl_offline.datasets import transforms
    from jaxrl_offline.runner import run_spec

    workdir, spec, record = finished
    assert run_spec.stale_transforms(spec, record) == ""
    source = record["transforms"]["source"]
    assert source.startswith("TRANSFORM_TABLE[")
    family = source[len("TRANSFORM_TABLE["):].split("/")[0]
    current = transforms.resolve_transforms(family, spec.algorithm)
    monkeypatch.setitem(transforms.TRANSFORM_TABLE[family], spec.algorithm,
                        dataclasses.replace(current, normalize_obs=not current.normalize_obs))
    assert run_spec.stale_transforms(spec, record) == (
        f"normalize_obs: {current.normalize_obs!r} then, {not current.normalize_obs!r} now")
    with pytest.raises(experiment.RunConflictError, match="no longer the table's.*--redo="):
        experiment.run_experiment(spec, workdir, progress=False)
    explicit = {**record, "transforms": {**record["transforms"], "source": "transforms= argument"}}
    assert run_spec.stale_transforms(spec, explicit) == ""


def test_cli_skips_finished_run_and_writes_tables_and_plots(finished, capsys):
    workdir, _, record = finished
    run_cli(*TINY_FLAGS, f"--workdir={workdir}")
    out = capsys.readouterr().out
    assert "already finished" in out
    assert f"| {DATASET} | {record['final']['last']['mean']:.1f} ± " in out
    assert (workdir / "tables" / "scores_last.csv").exists()
    assert (workdir / "plots" / "test_invpend_medium-v0.png").exists()


# --- A probe algorithm (compiles in a fraction of a second) -------------------------------------


def _probe_update(config, state, batch):
    # A positive weight grows 1e10-fold per update (inf within a few), a negative one shrinks.
    weight = jnp.where(state.weight > 0, state.weight * 1e10, state.weight * 0.5)
    return state.replace(weight=weight), {"probe/weight": weight}


def _probe_act(config, state, obs, key):
    return jnp.zeros((obs.shape[0], 1)) + 0.0 * state.weight


DIVERGE_PROBE = types.SimpleNamespace(NAME="diverge_probe", Config=ProbeConfig,
                                      init=probe_init, update=_probe_update, act=_probe_act)


def probe_spec(seeds, **changes):
    return experiment.RunSpec(**{**dict(
        algorithm="diverge_probe", dataset=DATASET, config=ProbeConfig(), seeds=seeds, steps=20,
        chunk=10, eval_every=10, eval_episodes=1, max_episode_steps=5), **changes})


@pytest.fixture
def probe_algorithm(monkeypatch):
    monkeypatch.setitem(algorithms.ALGORITHMS, "diverge_probe", DIVERGE_PROBE)


def test_overwrite_redoes_the_run(probe_algorithm, data_env, tmp_path):
    spec = probe_spec((0, 1))
    path = experiment.record_path(tmp_path, spec)
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(results.RecordError, match="half-written or corrupt"):
        experiment.run_experiment(spec, tmp_path, progress=False)
    record = experiment.run_experiment(spec, tmp_path, overwrite=True, progress=False)
    assert record["eval_steps"] == [10, 20]
    assert json.loads(path.read_text())["spec_hash"] == spec.spec_hash


def test_diverging_seed_is_flagged_without_stopping_the_others(probe_algorithm, data_env,
                                                               tmp_path):
    signs = {seed: float(jax.random.normal(training.seed_keys(seed)[0], ())) > 0
             for seed in range(10)}
    bad = next(seed for seed, positive in signs.items() if positive)
    good = next(seed for seed, positive in signs.items() if not positive)
    spec = probe_spec((good, bad))
    record = experiment.run_experiment(spec, tmp_path, progress=False, log=lambda line: None)
    assert record["diverged_seeds"] == [bad]
    assert record["diverged_at_step"] == {str(bad): 10}
    assert [row[1] for row in record["normalized_scores"]] == [None, None]
    assert all(row[0] is not None for row in record["normalized_scores"])
    assert record["final"]["last"]["num_seeds"] == 1


# --- Config names, types and ranges (issue 18) ---------------------------------------------------


def test_old_field_names_are_refused_with_the_new_ones():
    settings = sweep.SweepSettings(**{**TINY, "algos": ("td3_bc", "iql"), "config": {}})
    with pytest.raises(ValueError, match=r"unknown config field\(s\) \['hidden_dims'\].* "
                                         r"'hidden_dims' was renamed .*td3_bc: actor_hidden_dims, "
                                         r"critic_hidden_dims; iql: actor_hidden_dims, "
                                         r"critic_hidden_dims, value_hidden_dims"):
        sweep.plan_runs(settings, {"hidden_dims": "(64, 64)"})
    with pytest.raises(ValueError, match=r"'temperature' was renamed .*iql: awr_temperature"):
        sweep.plan_runs(settings, {"iql.temperature": "3"})
    # value_hidden_dims is IQL's only: the error names td3_bc and the per-algorithm spelling.
    with pytest.raises(ValueError, match=r"'value_hidden_dims' is not a field of td3_bc \(only of "
                                         r"iql\).*--config\.iql\.value_hidden_dims=\.\.\."):
        sweep.plan_runs(settings, {"value_hidden_dims": "(64, 64)"})


def test_per_algorithm_flags_must_name_selected_registered_algorithms():
    with pytest.raises(ValueError, match=r"--config\.nope\.batch_size: 'nope' is not a registered"):
        sweep.plan_runs(sweep.SweepSettings(**TINY), {"nope.batch_size": "8"})
    with pytest.raises(ValueError, match=r"--config: iql not among the selected algorithms \(bc\)"):
        sweep.plan_runs(sweep.SweepSettings(**TINY), {"iql.awr_temperature": "3"})
    with pytest.raises(flags.Error, match="--config.<algorithm>.<field>"):
        cli.split_config_args(["run", "--config.a.b.c=1"])


@pytest.mark.parametrize("field, text, message", [
    ("batch_size", "0", r"--config\.batch_size=0: bc\.Config\.batch_size must be an integer >= 1 "
                        r"\(default 256\)"),
    ("actor_hidden_dims", "64",
     r"--config\.actor_hidden_dims=64 is not a valid tuple\[int, \.\.\.\] for "
     r"bc\.Config\.actor_hidden_dims \(a bare int for a tuple"),
    ("actor_hidden_dims", "(64, 0)", r"must be a non-empty tuple of layer sizes >= 1"),
    ("learning_rate", "-1e-3", r"learning_rate must be a finite number > 0"),
    ("learning_rate", "fast", r"learning_rate='fast' is not a valid float for bc\.Config"),
])
def test_config_values_are_type_and_range_checked(field, text, message):
    with pytest.raises(ValueError, match=message):
        sweep.plan_runs(sweep.SweepSettings(**TINY), {field: text})


def test_range_checks_reach_every_layer_and_accept_every_default():
    settings = sweep.SweepSettings(**{**TINY, "algos": ("iql",)})
    with pytest.raises(ValueError, match=r"variant x: discount=1\.5: iql\.Config\.discount must "
                                         r"be in \[0, 1\]"):
        sweep.plan_runs(dataclasses.replace(settings, config={}, variants={"x": {"discount": 1.5}}))
    with pytest.raises(ValueError, match=r"sweep: expectile=1\.0: .* strictly between 0 and 1"):
        sweep.plan_runs(dataclasses.replace(settings, config={"expectile": 1.0}))
    for name, algo in algorithms.ALGORITHMS.items():
        for field in dataclasses.fields(algo.Config):
            value = getattr(algo.Config(), field.name)
            assert field_rules.range_error(field.name, value) is None, (name, field.name, value)


# --- Recovering one run: damaged records, digests, --redo -----------------------------------------


def test_damaged_record_is_rebuilt_from_the_final_checkpoint(finished, data_env, tmp_path):
    workdir, spec, reference = finished
    shutil.copytree(workdir, tmp_path, dirs_exist_ok=True)
    path = experiment.record_path(tmp_path, spec)

    def edit_score(text):
        record = json.loads(text)
        record["normalized_scores"][-1][0] = 99.0
        return json.dumps(record)

    for damage in (lambda text: text[:100], edit_score):  # Half-written; a hand-edited score.
        path.write_text(damage(path.read_text()))
        with pytest.raises(results.RecordError, match=rf"{path}"):
            results.read_record(path)
        logs = []
        rebuilt = experiment.run_experiment(spec, tmp_path, progress=False, log=logs.append,
                                            on_chunk=pytest.fail)  # nothing trains
        assert "rebuilding it from the run's final checkpoint" in logs[0]
        assert without_timing(rebuilt) == without_timing(reference)
        assert results.read_record(path) == rebuilt


def test_edited_score_without_checkpoint_names_the_file_to_delete(finished, tmp_path):
    workdir, spec, reference = finished
    path = tmp_path / "runs" / experiment.record_path(workdir, spec).name
    path.parent.mkdir()
    record = json.loads(experiment.record_path(workdir, spec).read_text())
    assert record["scores_digest"] == results.scores_digest(record)
    record["normalized_scores"][0][0] += 1.0
    path.write_text(json.dumps(record))
    message = (rf"run record {path} is invalid: its scores do not match its scores_digest.*"
               rf"Delete only this file \({path}\).*--redo={spec.name} to retrain just this run")
    with pytest.raises(results.RecordError, match=message):
        experiment.run_experiment(spec, tmp_path, progress=False)
    with pytest.raises(results.RecordError, match=message):
        tables.write_tables(tmp_path)


def test_legacy_records_are_accepted_marked_and_stamped(finished, tmp_path):
    workdir, spec, _ = finished
    path = tmp_path / "runs" / experiment.record_path(workdir, spec).name
    path.parent.mkdir()
    record = json.loads(experiment.record_path(workdir, spec).read_text())
    del record["scores_digest"]
    path.write_text(json.dumps(record))
    assert results.is_legacy(results.read_record(path))
    assert "legacy (no score digest): " + spec.name in tables.write_tables(tmp_path)
    stamp_digests.main(["stamp_digests", str(tmp_path)])
    stamped = results.read_record(path)
    assert stamped["scores_digest"] == results.scores_digest(record)
    assert not results.stamp_digest(path)  # Already stamped: left alone.
    assert "legacy" not in tables.write_tables(tmp_path)


def test_redo_retrains_only_the_named_run(probe_algorithm, data_env, tmp_path, monkeypatch):
    first, second = probe_spec((0,)), probe_spec((0,), variant="b")
    sweep.run_all([first, second], str(tmp_path), progress=False)
    untouched = experiment.record_path(tmp_path, first).read_bytes()
    trained = []
    original_train = experiment._train
    monkeypatch.setattr(experiment, "_train",
                        lambda spec, *args: trained.append(spec.name) or original_train(spec,
                                                                                        *args))
    with pytest.raises(ValueError, match=rf"--redo=nope: no such run.*{first.name}"):
        sweep.run_all([first, second], str(tmp_path), progress=False, redo=["nope"])
    sweep.run_all([first, second], str(tmp_path), progress=False, redo=[second.name])
    assert trained == [second.name]
    assert experiment.record_path(tmp_path, first).read_bytes() == untouched
