"""Hyperparameter grids (``--grid``): planning, one compiled program, equivalence, tables, resume.

Training uses the runner tests' 2,000-transition InvertedPendulum dataset with TD3+BC (32 x 32
networks, batch 32), a grid of alpha in {1, 5} x 2 seeds, 100 updates in chunks of 50.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags

from experiments import cli, grid_tables, sweep, tables
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import experiment, grid, grid_run, training
from jaxrl_offline.algorithms import td3_bc
from jaxrl_offline.types import Transition

from helpers import Interrupted
from test_runner import DATASET, dataset_root  # noqa: F401 - the runner tests' dataset.

TINY = dict(algos=("td3_bc",), datasets=(DATASET,), num_seeds=2, steps=100, chunk=50,
            eval_every=50, eval_episodes=1, max_episode_steps=20, checkpoint_every=1,
            config={"actor_hidden_dims": (32, 32), "critic_hidden_dims": (32, 32),
                    "batch_size": 32})


def plan(grid_line=(), **changes):
    return sweep.plan_runs(sweep.SweepSettings(**{**TINY, **changes}), (), dict(grid_line))


@pytest.fixture(scope="module")
def grid_result(dataset_root, tmp_path_factory):
    """(workdir, points, records, update traces) of one grid run of alpha in {1, 5}."""
    workdir = tmp_path_factory.mktemp("grid")
    points = plan({"alpha": "1,5"})
    traces = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(dataset_root))
        update = td3_bc.update
        patch.setattr(td3_bc, "update", lambda *args: (traces.append(1), update(*args))[1])
        records = grid_run.run_grid(points, workdir, progress=False, log=lambda line: None)
    return workdir, points, records, len(traces)


def test_plan_and_command_line():
    points = plan({"alpha": "1,2.5,5"})
    assert [p.variant for p in points] == ["alpha=1", "alpha=2.5", "alpha=5"]
    assert [p.config.alpha for p in points] == [1.0, 2.5, 5.0]
    assert all(p.grid_fields == ("alpha",) for p in points)
    assert points[1].overrides["grid"] == {"alpha": 2.5}
    spec = grid_run.grid_spec(points)
    assert spec.name == f"td3_bc-grid-alpha=1_2.5_5__{DATASET.replace('/', '_')}"
    # A point's hash is a plain run's of the same config and variant: the records are the same.
    (plain,) = plan(config={**TINY["config"], "alpha": 2.5}, variants={"alpha=2.5": {}})
    assert plain.spec_hash == points[1].spec_hash
    # A sweep file's grid, per algorithm, with a sweep variant; two fields make a product.
    two = plan(grid={"td3_bc": {"alpha": [1, 2], "tau": [0.01, 0.02]}}, variants={"v": {}})
    assert [p.variant for p in two] == ["v-alpha=1-tau=0.01", "v-alpha=1-tau=0.02",
                                        "v-alpha=2-tau=0.01", "v-alpha=2-tau=0.02"]
    assert len(sweep.grids.group_runs(two)) == 1
    args = cli.parse_args(["run", "--algos=td3_bc", "--grid.alpha=1,2.5", "--grid.td3_bc.tau",
                           "0.01,0.02", "--config.alpha=3"])
    assert args.grid == {"alpha": "1,2.5", "td3_bc.tau": "0.01,0.02"}
    assert args.config == {"alpha": "3"}
    with pytest.raises(flags.Error, match="bad --grid argument"):
        cli.parse_args(["run", "--grid.a.b.c=1"])


def test_structural_and_bad_grids_are_refused():
    with pytest.raises(grid.GridFieldError, match=r"\['batch_size'\] are structural .* float "
                                                  r"fields can be gridded; td3_bc's are: .*alpha"):
        plan({"batch_size": "32,64"})
    with pytest.raises(ValueError, match="a grid is a list of numbers"):
        plan({"alpha": "'x'"})
    with pytest.raises(ValueError, match="repeats a value"):
        plan({"alpha": "1,1"})
    with pytest.raises(ValueError, match="--grid: config field 'alpha' is not a field of bc"):
        plan({"alpha": "1,2"}, algos=("bc", "td3_bc"), config={})
    with pytest.raises(ValueError, match="grids train offline only"):
        plan({"alpha": "1,2"}, online_steps=100, online_eval_every=50)


def test_learning_rate_is_detected_at_trace_time():
    """A float field baked into the optimizer at init cannot be a traced per-run value."""
    config = td3_bc.Config(actor_hidden_dims=(8,), critic_hidden_dims=(8,), batch_size=4)
    dataset = Transition(obs=jnp.zeros((10, 3)), action=jnp.zeros((10, 2)),
                         reward=jnp.zeros(10), next_obs=jnp.zeros((10, 3)),
                         terminal=jnp.zeros(10))
    grid.check_gridable(td3_bc, config, ["alpha", "tau", "discount"], dataset)
    with pytest.raises(grid.GridFieldError, match=r"\['actor_lr'\] cannot be gridded.*can be "
                                                  r"gridded: discount, tau, policy_noise, "
                                                  r"noise_clip, alpha\."):
        grid.check_gridable(td3_bc, config, ["actor_lr"], dataset)


def test_grid_layout_and_member_values():
    layout = grid.make_grid_layout((3, 4), 3, devices=training.make_seed_layout([0]).mesh.devices
                                   .ravel().tolist())
    assert layout.seeds == (3, 4, 3, 4, 3, 4) and layout.num_seeds == 6
    values = grid.member_values({"alpha": np.float32([1, 2, 5])}, 2, 8)
    np.testing.assert_array_equal(values["alpha"], [1, 1, 2, 2, 5, 5, 1, 1])


def test_grid_point_equals_a_single_run_and_compiles_once(grid_result, dataset_root, tmp_path,
                                                          monkeypatch):
    workdir, points, records, grid_traces = grid_result
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset_root))
    assert [r["name"] for r in records] == [p.name for p in points]
    assert records[1]["grid"] == {"fields": ["alpha"], "point": {"alpha": 5.0},
                                  "run": grid_run.grid_spec(points).name}
    single_traces = []
    update = td3_bc.update
    monkeypatch.setattr(td3_bc, "update",
                        lambda *args: (single_traces.append(1), update(*args))[1])
    alone = experiment.run_experiment(points[1], tmp_path, progress=False, log=lambda line: None)
    # One compiled chunk for the whole grid: update is traced as often as for one plain run, plus
    # once by the gridability check.
    assert grid_traces == len(single_traces) + 1
    grid_point = records[1]
    assert grid_point["spec_hash"] == alone["spec_hash"]
    for name, values in alone["train_metrics"].items():
        np.testing.assert_allclose(np.asarray(grid_point["train_metrics"][name], float),
                                   np.asarray(values, float), rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(grid_point["normalized_scores"], alone["normalized_scores"],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grid_point["returns"], alone["returns"], rtol=1e-4, atol=1e-4)
    # The points differ (alpha changes the actor's loss).
    assert records[0]["train_metrics"]["actor/lambda"] != grid_point["train_metrics"][
        "actor/lambda"]
    # Finished: a rerun skips the grid.
    logs = []
    again = grid_run.run_grid(points, workdir, progress=False, log=logs.append)
    assert [r["scores_digest"] for r in again] == [r["scores_digest"] for r in records]
    assert "every grid point already finished" in logs[0]


def test_tables_show_each_point_and_the_best_per_dataset(grid_result):
    workdir, points, records, _ = grid_result
    markdown = tables.write_tables(workdir, "last")
    header = next(line for line in markdown.splitlines() if line.startswith("| dataset"))
    assert "td3_bc/alpha=1 |" in header and "td3_bc/alpha=5 |" in header
    assert grid_tables.TITLE in markdown and "optimistically biased" in markdown
    best = grid_tables.best_points(records, "last")
    ((dataset, label), entry), = best.items()
    means = [np.mean(results.per_seed_scores(r["normalized_scores"], "last")) for r in records]
    assert label == "td3_bc [alpha]" and entry["record"] is records[int(np.argmax(means))]
    csv_text = (workdir / "tables" / "grid_best_last.csv").read_text()
    assert "evaluation scores" in csv_text and entry["record"]["name"] in csv_text


def test_interrupted_grid_resumes_to_the_same_records(grid_result, dataset_root, tmp_path,
                                                      monkeypatch):
    _, points, records, _ = grid_result
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset_root))

    def interrupt(done):
        if done == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        grid_run.run_grid(points, tmp_path, progress=False, on_chunk=interrupt,
                          log=lambda line: None)
    assert experiment.checkpoint_dir(tmp_path, grid_run.grid_spec(points)).is_dir()
    logs = []
    resumed = grid_run.run_grid(points, tmp_path, progress=False, log=logs.append)
    assert any("resuming from the checkpoint at step 50" in line for line in logs)
    for before, after in zip(records, resumed):
        assert after["scores_digest"] == before["scores_digest"]
        assert after["timing"]["resumed_at_step"] == [50]
