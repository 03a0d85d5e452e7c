"""Tests for run records, statistics, score tables and plots, on hand-made records (no training)."""

import csv
import io
import json
import math
import pathlib

import numpy as np
import pytest

from experiments import tables
from jaxrl_offline.reporting import aggregate, plots, results
from jaxrl_offline.runner import experiment

REFERENCE_DIR = pathlib.Path(__file__).parent.parent / "experiments" / "published_tables"


def make_record(algorithm, dataset, scores, *, domain="locomotion", variant="", episodes=10,
                eval_every=1000, diverged=()):
    """A complete record whose normalized_scores are ``scores`` [evals][seeds] (None = NaN)."""
    num_evals, num_seeds = len(scores), len(scores[0])
    steps = eval_every * num_evals
    record = {
        "schema_version": results.SCHEMA_VERSION, "status": "complete",
        "name": f"{algorithm}__{dataset}", "algorithm": algorithm, "variant": variant,
        "dataset_id": dataset, "domain": domain, "seeds": list(range(num_seeds)),
        "config": {}, "overrides": {}, "transforms": {}, "score_label": "normalized score",
        "normalized": True, "steps": steps, "chunk": eval_every, "eval_every": eval_every,
        "eval_episodes": episodes,
        "eval_steps": [eval_every * (i + 1) for i in range(num_evals)],
        "normalized_scores": scores, "returns": [[0.0] * episodes] * num_seeds,
        "final": results.final_summary(scores), "timing": {},
        "diverged_seeds": list(diverged), "versions": {}, "git_commit": None, "device": "cpu",
        "spec_hash": "0",
    }
    return results.to_jsonable(record)


def write(workdir, record):
    name = f"{record['algorithm']}-{record['variant']}__{record['dataset_id'].replace('/', '_')}"
    results.write_record(pathlib.Path(workdir) / "runs" / f"{name}.json", record)


# --- Statistics ----------------------------------------------------------------------------------


def test_summarize_mean_std_ci():
    summary = results.summarize([10.0, 20.0, 30.0])
    assert summary["mean"] == pytest.approx(20.0)
    # Population std (ddof=0, as numpy and CORL): sqrt(((10-20)^2 + 0 + (30-20)^2) / 3).
    assert summary["std"] == pytest.approx(math.sqrt(200 / 3))
    assert 10.0 <= summary["ci_low"] < 20.0 < summary["ci_high"] <= 30.0
    assert summary["num_seeds"] == 3
    # A single seed: the CI collapses onto it.
    assert aggregate.bootstrap_ci([7.0]) == (7.0, 7.0)


def test_summarize_drops_nan_seeds():
    summary = results.summarize([10.0, np.nan, 30.0])
    assert summary["mean"] == pytest.approx(20.0)
    assert summary["std"] == pytest.approx(10.0)
    assert summary["num_seeds"] == 2


def test_iqm_by_hand():
    # Sorted: 0 10 20 30 40 50 60 100; the 25% cut drops 2 at each end -> mean(20, 30, 40, 50).
    groups = [[0.0, 10.0, 20.0, 30.0], [40.0, 50.0, 60.0, 100.0]]
    value, low, high = aggregate.aggregates_with_ci(groups)["iqm"]
    assert value == pytest.approx(35.0)
    assert low <= value <= high
    # Stratified bootstrap: constant groups give a point CI.
    assert aggregate.aggregates_with_ci([[5.0, 5.0], [5.0, 5.0]])["iqm"] == (5.0, 5.0, 5.0)


def test_per_seed_last_and_best():
    scores = [[10.0, 5.0, None], [20.0, 3.0, None]]
    np.testing.assert_allclose(results.per_seed_scores(scores, "last"), [20.0, 3.0, np.nan])
    np.testing.assert_allclose(results.per_seed_scores(scores, "best"), [20.0, 5.0, np.nan])
    with pytest.raises(ValueError, match="unknown score"):
        results.per_seed_scores(scores, "median")


# --- Record files --------------------------------------------------------------------------------


def test_write_read_roundtrip_nan_as_null(tmp_path):
    record = make_record("bc", "a-v0", [[1.0, None], [2.0, float("nan")]])
    path = tmp_path / "runs" / "r.json"
    results.write_record(path, record)
    assert json.loads(path.read_text())["normalized_scores"][1] == [2.0, None]  # strict JSON
    assert results.read_record(path) == record
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp files left


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.json"
    results.dump_json(path, {"a": 1})
    with pytest.raises(TypeError):
        results.dump_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


@pytest.mark.parametrize("damage, message", [
    (lambda text, record: text[: len(text) // 2], "half-written or corrupt"),
    (lambda text, record: json.dumps({**record, "status": "running"}), "status"),
    (lambda text, record: json.dumps({k: v for k, v in record.items() if k != "final"}),
     "missing fields"),
    (lambda text, record: json.dumps({**record, "normalized_scores": [[1.0]]}),
     "normalized_scores"),
])
def test_corrupt_record_is_reported(tmp_path, damage, message):
    record = make_record("bc", "a-v0", [[1.0, 2.0]])
    path = tmp_path / "runs" / "bc__a-v0.json"
    results.write_record(path, record)
    path.write_text(damage(path.read_text(), record))
    with pytest.raises(results.RecordError, match=message) as info:
        results.load_records(tmp_path)
    assert str(path) in str(info.value) and "--redo=" in str(info.value)


# --- Tables --------------------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path):
    """Two locomotion datasets and one antmaze dataset, bc and iql (iql misses one dataset)."""
    write(tmp_path, make_record("bc", "loco/a-v0", [[0.0, 0.0, 0.0], [10.0, 20.0, 30.0]]))
    write(tmp_path, make_record("bc", "loco/b-v0", [[40.0, 40.0, 40.0], [30.0, 40.0, 50.0]]))
    write(tmp_path, make_record("bc", "maze/c-v0", [[1.0, 1.0], [2.0, 4.0]], domain="antmaze",
                                episodes=100))
    write(tmp_path, make_record("iql", "loco/a-v0", [[50.0, 70.0, 60.0], [60.0, None, 80.0]],
                                diverged=[1]))
    return tmp_path


def test_score_table_numbers(workdir):
    table = tables.score_table(results.load_records(workdir), "last")
    assert table.columns == ["bc", "iql"]  # registry order
    assert [label for _, label in table.rows] == [
        "maze/c-v0", "loco/a-v0", "loco/b-v0", "locomotion average"]
    cell = table.cells[("loco/a-v0", "bc")]
    assert cell["mean"] == pytest.approx(20.0)
    assert cell["std"] == pytest.approx(math.sqrt(200 / 3))
    assert table.cells[("loco/a-v0", "iql")]["mean"] == pytest.approx(70.0)  # NaN seed left out
    assert table.cells[("loco/a-v0", "iql")]["num_seeds"] == 2
    assert table.cells[("locomotion average", "bc")]["mean"] == pytest.approx(30.0)  # (20+40)/2
    assert ("locomotion average", "iql") not in table.cells  # iql lacks loco/b-v0
    # bc IQM over the 8 per-seed scores 10 20 30 30 40 50 2 4 -> sorted 2 4 10 20 30 30 40 50,
    # middle four 10 20 30 30 -> 22.5.
    assert table.iqm["bc"][0] == pytest.approx(22.5)
    best = tables.score_table(results.load_records(workdir), "best")
    assert best.cells[("loco/b-v0", "bc")]["mean"] == pytest.approx((40 + 40 + 50) / 3)


def test_write_tables_markdown_csv_latex(workdir):
    markdown = tables.write_tables(workdir, "last")
    assert "| dataset | bc | iql |" in markdown
    assert "| loco/a-v0 | 20.0 ± 8.2 | 70.0 ± 10.0 (2/3 seeds, 1 diverged) |" in markdown
    assert "| locomotion average | 30.0 | – |" in markdown
    assert "IQM [95% CI] | 22.5 [" in markdown
    assert "3 seeds × 10 episodes" in markdown and "2 seeds × 100 episodes" in markdown
    assert "iql__loco/a-v0 [1]" in markdown  # diverged seeds named in the caption
    out = workdir / "tables"
    assert (out / "scores_last.md").read_text() == markdown
    rows = list(csv.DictReader(io.StringIO((out / "scores_last.csv").read_text())))
    row = next(r for r in rows if r["row"] == "loco/a-v0" and r["column"] == "bc")
    assert float(row["mean"]) == pytest.approx(20.0)
    assert float(row["ci_low"]) <= 20.0 <= float(row["ci_high"])
    assert row["num_seeds"] == "3" and row["num_episodes"] == "10"
    iql = next(r for r in rows if r["row"] == "loco/a-v0" and r["column"] == "iql")
    assert (iql["num_seeds"], iql["total_seeds"], iql["num_diverged"]) == ("2", "3", "1")
    latex = (out / "scores_last.tex").read_text()
    assert ("loco/a-v0 & 20.0 $\\pm$ 8.2 & 70.0 $\\pm$ 10.0 (2/3 seeds, 1 diverged) \\\\"
            in latex)
    assert "\\toprule" in latex and "95\\%" in latex


def test_diverged_seeds_are_marked_in_cells_legends_and_summaries(tmp_path, monkeypatch):
    write(tmp_path, make_record("bc", "loco/a-v0", [[1.0, 2.0, 3.0, 4.0],
                                                    [-0.3, None, None, None]], diverged=[1, 2, 3]))
    write(tmp_path, make_record("iql", "loco/a-v0", [[5.0, 6.0], [None, None]], diverged=[0, 1]))
    write(tmp_path, make_record("iql", "loco/b-v0", [[5.0, 6.0], [7.0, 8.0]]))
    markdown = tables.write_tables(tmp_path, "last")
    # 3 of 4 seeds diverged; all of iql's seeds diverged; bc never ran on loco/b-v0.
    assert "| loco/a-v0 | -0.30 ± 0.00 (1/4 seeds, 3 diverged) | diverged (0/2 seeds) |" in markdown
    assert "| loco/b-v0 | – | 7.5 ± 0.5 |" in markdown
    assert "'diverged (0/m seeds)' lost them all, and – means not run" in markdown
    labels = {}
    monkeypatch.setattr(plots, "save_figure",
                        lambda figure, axes, path: labels.update(
                            {path.name: axes.get_legend_handles_labels()[1]}) or path)
    plots.write_learning_curves(tmp_path)
    assert labels["loco_a-v0.png"] == ["bc (1/4 seeds, 3 diverged)",
                                       "iql (0/2 seeds, all diverged)"]
    assert labels["loco_b-v0.png"] == ["iql (2 seeds)"]
    record = results.load_records(tmp_path)[0]
    line = experiment.summary_line({**record, "timing": {
        "updates_per_s": 1.0, "compile_s": 0.0, "train_s": 1.0, "eval_s": 0.0}})
    assert "(normalized score, 1/4 seeds, 3 diverged x 10 episodes; DIVERGED seeds [1, 2, 3]" \
        in line


def test_budget_short_of_the_protocol_is_stated(tmp_path):
    assert results.budget_note(20_000) == "20k updates, 2% of the 1M-update protocol"
    assert results.budget_note(1_000_000) is None
    write(tmp_path, make_record("bc", "loco/a-v0", [[1.0, 2.0]], eval_every=20_000))
    markdown = tables.write_tables(tmp_path, "last")
    assert markdown.startswith("**Short budget: 20k updates, 2% of the 1M-update protocol of the "
                               "papers. These scores are far from converged")
    assert "Short budget: 20k updates" in (tmp_path / "tables" / "scores_last.tex").read_text()
    record = results.load_records(tmp_path)[0]
    line = experiment.summary_line({**record, "timing": {
        "updates_per_s": 1.0, "compile_s": 0.0, "train_s": 1.0, "eval_s": 0.0}})
    assert "| budget: 20k updates, 2% of the 1M-update protocol |" in line
    write(tmp_path, make_record("bc", "loco/a-v0", [[1.0, 2.0]], eval_every=1_000_000))
    assert "budget" not in tables.write_tables(tmp_path, "last")


def test_reference_side_by_side(tmp_path):
    write(tmp_path, make_record("iql", "d4rl:/data/hopper-medium-v2.hdf5", [[60.0, 70.0]]))
    write(tmp_path, make_record("td3_bc", "d4rl:/data/hopper-medium-v2.hdf5", [[50.0, 50.0]]))
    markdown = tables.write_tables(tmp_path, "last", [str(REFERENCE_DIR / "iql_paper_table1.json"),
                                                      str(REFERENCE_DIR / "corl_last.json")])
    header = ("| dataset | td3_bc ours (D4RL files, 1k updates) | td3_bc published† (D4RL v2) | "
              "td3_bc published‡ (D4RL v2) | iql ours (D4RL files, 1k updates) | "
              "iql published† (D4RL v2) | iql published‡ (D4RL v2) |")
    assert header in markdown
    assert "| 50.0 ± 0.0 | 59.3 | 60.4 ± 3.5 | 65.0 ± 5.0 | 66.3 | 67.5 ± 3.8 |" in markdown
    assert "measured on D4RL v2 locomotion" in markdown and "not run here" in markdown
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tables" / "scores_last.csv").read_text())))
    published = [r for r in rows if r["source"].startswith("published: IQL paper")]
    assert {(r["column"], float(r["mean"])) for r in published} == {("iql", 66.3),
                                                                     ("td3_bc", 59.3)}


def test_bad_reference_file(tmp_path):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match="reference file .* is not valid"):
        tables.load_reference(path)


def test_no_records(tmp_path):
    with pytest.raises(ValueError, match="no run records"):
        tables.write_tables(tmp_path)


# --- Plots ---------------------------------------------------------------------------------------


def test_learning_curves_written(workdir):
    paths = plots.write_learning_curves(workdir)
    assert sorted(p.name for p in paths) == ["loco_a-v0.png", "loco_b-v0.png", "maze_c-v0.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mean, low, high = results.curve_with_ci([[0.0, 0.0, 0.0], [10.0, 20.0, 30.0]])
    np.testing.assert_allclose(mean, [0.0, 20.0])
    assert low[0] == high[0] == 0.0 and low[1] < 20.0 < high[1]


def test_new_figure_and_write_figure(tmp_path):
    """The claim modules' figures: a subplot grid on the Agg canvas, written at a chosen dpi
    into a folder that does not exist yet."""
    figure, axes = plots.new_figure(2, 3, figsize=(3.0, 2.0), squeeze=False)
    assert axes.shape == (2, 3) and figure.canvas.__class__.__name__ == "FigureCanvasAgg"
    path = plots.write_figure(figure, tmp_path / "new" / "grid.png", dpi=50)
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (150, 100)  # 3 x 2 inches at 50 dpi


def test_record_provenance_is_its_three_parts():
    """One helper for every record's provenance (runner records and claim records), made of the
    same parts the records used before: versions, the checkout's commit and the devices."""
    import jax

    from jaxrl_offline.reporting import provenance

    devices = jax.devices()
    found = results.record_provenance(devices)
    assert found == {"versions": provenance.versions(), "git_commit": provenance.git_commit(),
                     "device": provenance.device_description(devices)}
