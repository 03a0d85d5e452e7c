"""Tests of the suite's D4RL-character statistics (``local_suite/character.py``) and of the
generated suite report (``experiments/suite_report.py``)."""

import json
import pathlib

import gymnasium as gym
import numpy as np
import pytest
from minari.data_collector.episode_buffer import EpisodeBuffer

from experiments import suite_report
from jaxrl_offline.datasets import dataset_spec
from jaxrl_offline.datasets.minari_writer import create_atomically
from jaxrl_offline.local_suite import character

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY_ID = "jaxrl_offline/hopper/medium-6-v0"
# Three hand-made episodes: (rewards, terminated at the end?). Lengths 2, 3, 1; returns 3, 3, -1.
EPISODES = (([1.0, 2.0], True), ([0.0, 0.0, 3.0], False), ([-1.0], True))


def _write_tiny(root):
    buffers = []
    for index, (rewards, terminated) in enumerate(EPISODES):
        length = len(rewards)
        ends = np.arange(length) == length - 1
        buffers.append(EpisodeBuffer(
            id=index, seed=index, observations=np.zeros((length + 1, 11), np.float32),
            actions=np.zeros((length, 3), np.float32), rewards=np.array(rewards),
            terminations=ends & terminated, truncations=ends & (not terminated)))
    create_atomically(
        TINY_ID, buffers, str(root), overwrite=False, env="Hopper-v5", eval_env="Hopper-v5",
        algorithm_name="hand-made", author="test", author_email="n/a", code_permalink="n/a",
        observation_space=gym.spaces.Box(-np.inf, np.inf, (11,), np.float32),
        action_space=gym.spaces.Box(-1.0, 1.0, (3,), np.float32),
        ref_min_score=0.0, ref_max_score=10.0, description="three hand-made episodes",
        data_format="hdf5")


@pytest.fixture
def tiny_store(minari_root):
    _write_tiny(minari_root)
    return minari_root


def test_statistics_of_a_hand_made_dataset(tiny_store):
    stats = character.dataset_character(TINY_ID)
    returns = np.array([3.0, 3.0, -1.0])
    assert (stats.transitions, stats.episodes) == (6, 3)
    assert stats.mean_length == pytest.approx(2.0)
    assert stats.termination_rate == pytest.approx(2 / 3)  # the truncated episode does not count
    assert stats.return_mean == pytest.approx(5 / 3)
    assert stats.return_std == pytest.approx(np.sqrt(32 / 9))  # population std of 3, 3, -1
    assert stats.normalized_mean == pytest.approx(100 * returns.mean() / 10)
    assert stats.normalized_std == pytest.approx(100 * returns.std() / 10)


def test_statistics_refuse_data_that_ends_mid_episode():
    with pytest.raises(Exception, match="ends no episode"):
        character.episode_statistics("x", np.ones(3), np.zeros(3), np.array([0, 1, 0]))


def test_measure_and_render_the_character_section(tiny_store, tmp_path):
    ids = suite_report.suite_ids_in_store(tiny_store)
    assert ids == [TINY_ID]
    measured = suite_report.measure(ids, tiny_store, tmp_path / "character.json")
    assert json.loads((tmp_path / "character.json").read_text()) == measured
    reference = json.loads((REPO / suite_report.REFERENCE).read_text())
    section = suite_report.character_section(measured, reference)
    row = next(line for line in section.splitlines() if line.startswith(f"| {TINY_ID}"))
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    # Made without the shipped policies, so the row says its data is not the current suite's.
    assert cells[1] == "6 (reduced) (stale: older behavior policies)"
    assert cells[2:6] == ["6 / 1,000,000 [1]", "3 / 2,187 [2]", "2.0 / 457.2 [3]", "0.67 / n/a"]
    assert cells[6:] == ["2 ± 2 / n/a", "16.7 ± 18.9 / n/a"]
    assert "\n1. D4RL gym-mujoco" in section and "\n2. https://www.tensorflow.org" in section
    assert "No suite dataset" in suite_report.character_section({}, reference)


def test_bc_section_puts_bc_beside_the_behavior_level():
    """Datasets at D4RL's size only; BC's last score, its gap to the behavior's mean normalized
    return and D4RL's published BC score with its source; a dataset without a record says so."""
    reference = json.loads((REPO / suite_report.REFERENCE).read_text())
    medium, random = "jaxrl_offline/hopper/medium-v0", "jaxrl_offline/hopper/random-v0"
    measured = {
        medium: {"normalized_mean": 48.3,
                 "policy_sha256": suite_report.suite_lib.expected_policy_hashes("hopper", "medium",
                                                                                None)},
        random: {"normalized_mean": 1.2},
        "jaxrl_offline/hopper/medium-50k-v0": {"normalized_mean": 49.7}}
    record = {"algorithm": "bc", "dataset_id": medium, "steps": 100_000,
              "final": {"last": {"mean": 62.0, "std": 3.0, "num_seeds": 3}}}
    section = suite_report.bc_section(measured, reference, {medium: record})
    rows = [line for line in section.splitlines() if line.startswith("| jaxrl_offline/")]
    assert len(rows) == 2  # The reduced 50k set is left out.
    cells = [cell.strip() for cell in rows[0].split("|")[1:-1]]
    assert cells == [medium, "48.3", "62.0 ± 3.0 (n=3, 100,000 updates)", "+13.7", "52.9 [1]"]
    cells = [cell.strip() for cell in rows[1].split("|")[1:-1]]
    assert cells[0].startswith(random + " (stale") and cells[2:] == ["not run yet", "–", "n/a"]
    assert "\n1. Kostrikov, Nair & Levine 2021" in section


def test_reference_table_covers_the_suite_and_sources_every_number():
    reference = json.loads((REPO / suite_report.REFERENCE).read_text())
    expected = {f"{env}/{kind}" for env in dataset_spec.SUITE_ENVS
                for kind in dataset_spec.SUITE_KINDS}
    assert set(reference["datasets"]) == expected
    for name, entry in reference["datasets"].items():
        for field in ("transitions", "episodes", "mean_length", "termination_rate",
                      "return_mean", "return_std", "normalized_mean", "normalized_std",
                      "bc_normalized"):
            value, source = entry[field]["value"], entry[field]["source"]
            assert (value is None) == (source is None), (name, field)
            assert source is None or source in reference["sources"], (name, field)


def test_committed_report_is_up_to_date():
    """The README is generated: regenerate with ``python -m experiments.suite_report``."""
    text = suite_report.render(
        [str(REPO / table) for table in suite_report.DEFAULT_TABLES],
        str(REPO / suite_report.DEFAULT_NOTES),
        json.loads((REPO / suite_report.DEFAULT_CHARACTER).read_text()),
        json.loads((REPO / suite_report.REFERENCE).read_text()),
        suite_report.bc_records(REPO / suite_report.DEFAULT_BC_RUNS))
    assert (REPO / suite_report.RESULTS / "README.md").read_text() == text, (
        "benchmarks/results/datasets/README.md is stale: run python -m experiments.suite_report")
