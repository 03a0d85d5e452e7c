"""A sweep split over machines: the task partition (``--task_index``/``--num_tasks``, SLURM array
variables) and the merge of several workdirs' records into one table (``experiments.tables``)."""

import pathlib
import subprocess
import sys

import pytest
from absl import flags

from experiments import cli, sweep, tables
from jaxrl_offline.reporting import results

from test_results import make_record, write

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SETTINGS = sweep.SweepSettings(algos=("bc", "td3_bc", "iql"),
                               datasets=("d/a-v0", "d/b-v0", "d/c-v0"), steps=100, chunk=50,
                               eval_every=50)


def names(runs):
    return [run.name for run in runs]


def test_shares_are_disjoint_cover_the_sweep_and_deal_sorted_names_round_robin():
    runs = sweep.plan_runs(SETTINGS)
    ordered = sorted(names(runs))
    shares = [names(sweep.task_share(runs, index, 4)) for index in range(4)]
    assert sorted(shares[1]) == [ordered[1], ordered[5]]  # Sorted runs 1, 1 + 4, ...
    assert sorted(sum(shares, [])) == ordered and sum(map(len, shares)) == len(runs) == 9
    # The partition depends only on the run names; a share keeps the sweep's order.
    assert names(sweep.task_share(runs[::-1], 1, 4)) == shares[1][::-1]
    assert all(share == [name for name in names(runs) if name in share] for share in shares)
    assert names(sweep.task_share(runs, 0, 1)) == names(runs)
    assert sweep.task_share(runs[:2], 3, 4) == []  # More tasks than runs: nothing to do.
    with pytest.raises(ValueError, match=r"--task_index=4 must be in \[0, --num_tasks=4\)"):
        sweep.task_share(runs, 4, 4)
    with pytest.raises(ValueError, match="--num_tasks=0 must be a whole number >= 1"):
        sweep.task_share(runs, 0, 0)


def test_a_grids_points_stay_in_one_share():
    """The points of a grid train as one program, so a task gets all of them or none."""
    runs = sweep.plan_runs(SETTINGS, (), {"td3_bc.alpha": "1,2.5,5"})
    grid_points = [run.name for run in runs if run.grid_fields]
    assert len(grid_points) == 9  # 3 points x 3 datasets.
    shares = [names(sweep.task_share(runs, index, 4)) for index in range(4)]
    assert sorted(sum(shares, [])) == sorted(names(runs))
    for share in shares:
        for dataset in SETTINGS.datasets:
            points = {name for name in grid_points if dataset.replace("/", "_") in name}
            assert len(points) == 3 and (points <= set(share) or not points & set(share))


def test_task_from_slurm_array_variables():
    assert sweep.task_from_environ({}) == (0, 1)
    # sbatch --array=1-3: ids 1, 2, 3 are tasks 0, 1, 2.
    slurm = {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1",
             "SLURM_ARRAY_TASK_COUNT": "3"}
    assert sweep.task_from_environ(slurm) == (2, 3)


def test_runner_flags_and_slurm_defaults(monkeypatch, capsys):
    runs = sweep.plan_runs(SETTINGS)
    try:
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
        monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
        cli.parse_args(["run"])
        assert sorted(names(cli.task_runs(runs))) == sorted(names(runs))[1::2]
        assert "task 1 of 2: 4 of the sweep's 9 runs" in capsys.readouterr().out
        cli.parse_args(["run", "--task_index=0", "--num_tasks=3"])  # Flags win over SLURM.
        assert sorted(names(cli.task_runs(runs))) == sorted(names(runs))[0::3]
    finally:
        flags.FLAGS.unparse_flags()


def test_merge_keeps_identical_duplicates_and_refuses_conflicting_ones(tmp_path):
    first, second = tmp_path / "task_0", tmp_path / "task_1"
    write(first, make_record("bc", "d/a-v0", [[10.0, 20.0]]))
    write(second, make_record("bc", "d/b-v0", [[30.0, 40.0]]))
    write(second, make_record("bc", "d/a-v0", [[10.0, 20.0]]))  # The same run, copied over.
    merged = tables.merge_records([first, second])
    assert sorted(record["dataset_id"] for record in merged) == ["d/a-v0", "d/b-v0"]
    write(second, make_record("bc", "d/a-v0", [[10.0, 25.0]]))
    with pytest.raises(ValueError, match=r"run bc__d/a-v0 has different records in .*task_0.*"
                                         r"task_1.* keep the one you mean"):
        tables.merge_records([first, second])
    assert tables.expand_workdirs([str(tmp_path / "task_*"), str(first)]) == [first, second]
    with pytest.raises(ValueError, match="--workdir=.*nope: no such folder"):
        tables.expand_workdirs([str(tmp_path / "nope")])


def test_tables_script_merges_workdirs_given_as_flags_and_globs(tmp_path):
    for index, dataset in enumerate(("d/a-v0", "d/b-v0", "d/c-v0")):
        write(tmp_path / f"task_{index}", make_record("bc", dataset, [[10.0 * index, 5.0]]))
    out = tmp_path / "merged"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.tables", f"--workdir={tmp_path / 'task_0'}",
         f"--workdir={tmp_path / 'task_[12]'}", f"--out={out}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "3 runs from 3 workdirs" in result.stdout
    markdown = (out / "tables" / "scores_last.md").read_text()
    assert all(dataset in markdown for dataset in ("d/a-v0", "d/b-v0", "d/c-v0"))
    assert results.load_records(out) == []  # Only tables are written there, no copies of records.
