"""Aggregate statistics across datasets (``jaxrl_offline.reporting.aggregate``): hand-computed
values, the
stratified bootstrap, the score-table rows and the performance-profile plot."""

import math

import numpy as np
import pytest
import scipy.stats

from experiments import plots as experiment_plots
from experiments import tables
from jaxrl_offline.reporting import aggregate, results

from test_results import make_record, write

# Three datasets with 3, 2 and 4 runs.
GROUPS = [[10.0, 20.0, 30.0], [40.0, 80.0], [0.0, 100.0, 110.0, 50.0]]


def test_aggregates_by_hand():
    values = aggregate.aggregates_with_ci(GROUPS, gamma=100.0, num_samples=200)
    # Per-dataset means 20, 60, 65: mean (20 + 60 + 65) / 3, median 60.
    assert values["mean"][0] == pytest.approx(145.0 / 3)
    assert values["median"][0] == pytest.approx(60.0)
    # Pooled and sorted: 0 10 20 30 40 50 80 100 110; int(0.25 * 9) = 2 cut from each end leaves
    # 20 30 40 50 80, mean 44.
    assert values["iqm"][0] == pytest.approx(44.0)
    # min(x, 100) sums to 0+10+20+30+40+50+80+100+100 = 430 over 9 runs: gap 100 - 430 / 9.
    assert values["optimality_gap"][0] == pytest.approx(100.0 - 430.0 / 9)
    for estimate, low, high in values.values():
        assert low <= estimate <= high


def test_equal_run_counts_match_rliable_definitions():
    scores = np.random.default_rng(0).uniform(0.0, 120.0, (5, 4))  # [runs, datasets]
    values = aggregate.aggregates_with_ci(list(scores.T), gamma=100.0, num_samples=10)
    assert values["mean"][0] == pytest.approx(np.mean(np.mean(scores, axis=0)))
    assert values["median"][0] == pytest.approx(np.median(np.mean(scores, axis=0)))
    assert values["iqm"][0] == pytest.approx(scipy.stats.trim_mean(scores, 0.25, axis=None))
    assert values["optimality_gap"][0] == pytest.approx(100.0 - np.mean(np.minimum(scores, 100)))


def test_bootstrap_is_stratified_and_shared_with_records():
    # Constant datasets: resampling runs *within* each dataset never changes any statistic, so
    # every interval collapses to the estimate (pooled resampling would not).
    values = aggregate.aggregates_with_ci([[1.0, 1.0, 1.0], [5.0, 5.0]], num_samples=100)
    assert values["mean"] == pytest.approx((3.0, 3.0, 3.0))
    assert values["median"] == pytest.approx((3.0, 3.0, 3.0))
    # One bootstrap: a record's CI over seeds (bootstrap_ci) is the mean's interval on one dataset.
    assert aggregate.bootstrap_ci(GROUPS[2]) == aggregate.aggregates_with_ci(GROUPS[2:])["mean"][1:]
    # Fixed seed: reproducible.
    assert aggregate.aggregates_with_ci(GROUPS) == aggregate.aggregates_with_ci(GROUPS)


def test_non_finite_scores_and_empty_input():
    with_nan = aggregate.aggregates_with_ci([[10.0, math.nan, 30.0], [math.inf], []])
    assert with_nan["mean"][0] == pytest.approx(20.0)  # Only the first dataset has finite runs.
    empty = aggregate.aggregates_with_ci([[math.nan]])
    assert all(math.isnan(x) for value in empty.values() for x in value)
    with pytest.raises(ValueError, match="unknown aggregates"):
        aggregate.aggregates_with_ci(GROUPS, names=("iqm", "max"))


def test_performance_profile_by_hand():
    taus = [0.0, 45.0, 100.0]
    # Fractions above tau per dataset: A 1, 0, 0; B 1, 1/2, 0; C 3/4, 3/4, 1/4 (0 is not > 0).
    expected = [(1 + 1 + 0.75) / 3, (0 + 0.5 + 0.75) / 3, (0 + 0 + 0.25) / 3]
    np.testing.assert_allclose(aggregate.performance_profile(GROUPS, taus), expected)
    profile, low, high = aggregate.performance_profile_with_ci(GROUPS, taus, num_samples=200)
    np.testing.assert_allclose(profile, expected)
    assert np.all(low <= profile) and np.all(profile <= high)
    # Constant datasets: the band collapses onto the profile.
    profile, low, high = aggregate.performance_profile_with_ci([[1.0, 1.0], [5.0]], [0.0, 3.0])
    np.testing.assert_allclose(profile, [1.0, 0.5])
    np.testing.assert_allclose(low, profile)
    np.testing.assert_allclose(high, profile)


def test_table_aggregate_rows_and_profile_plot(tmp_path):
    write(tmp_path, make_record("bc", "loco/a-v0", [[10.0, 20.0, 30.0]]))
    write(tmp_path, make_record("bc", "loco/b-v0", [[40.0, 80.0, 120.0]]))
    table = tables.score_table(results.load_records(tmp_path), "last")
    expected = aggregate.aggregates_with_ci([[10.0, 20.0, 30.0], [40.0, 80.0, 120.0]])
    assert table.aggregates["bc"] == expected and table.iqm["bc"] == expected["iqm"]
    markdown = tables.to_markdown(table)
    assert "| Mean [95% CI] | 50.0 [" in markdown  # (20 + 80) / 2
    assert "| Median [95% CI] | 50.0 [" in markdown
    # min(x, 100): 10 20 30 40 80 100 -> mean 280 / 6; gap 100 - 46.67.
    assert "| Optimality gap [95% CI] | 53.3 [" in markdown
    csv_text = tables.to_csv(table)
    assert "last,Optimality gap,bc,this run," in csv_text
    latex = tables.to_latex(table)
    assert latex.count("\\midrule") == 2 and "Median [95\\% CI]" in latex
    path = experiment_plots.plot_performance_profile(results.load_records(tmp_path),
                                                     tmp_path / "profile.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_optimality_gap_left_out_for_raw_returns(tmp_path):
    record = make_record("bc", "loco/a-v0", [[10.0, 20.0]])
    record["normalized"] = False
    write(tmp_path, record)
    table = tables.score_table(results.load_records(tmp_path), "last")
    assert table.aggregate_names == ["iqm", "mean", "median"]
    assert "Optimality gap" not in tables.to_markdown(table)
