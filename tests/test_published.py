"""The papers' tables as data (``experiments/published_tables/*.json``), task matching, and the
paper-table sweep files."""

import json
import pathlib

import pytest

from experiments import published, sweep, tables, tasks
from jaxrl_offline.datasets import dataset_spec
from jaxrl_offline.algorithms import ALGORITHMS

PUBLISHED = sorted(published.PUBLISHED_DIR.glob("*.json"))
PAPER_SWEEPS = ("iql_table1", "sfbc_table1", "misa_table", "idql_table1", "td3_rkl_table",
                "aca_table")
METADATA = ("name", "paper", "table", "citation", "provenance", "data", "data_label",
            "dataset_versions", "seeds", "episodes", "metric", "score", "statistic", "columns",
            "scores")
KNOWN_ENVS = (*tasks.LOCOMOTION_ENVS, "antmaze")


def raw(path):
    return json.loads(pathlib.Path(path).read_text())


def cell_mean(value):
    return value["mean"] if isinstance(value, dict) else value


def test_every_founding_paper_and_baseline_has_a_file():
    names = {path.stem for path in PUBLISHED}
    assert {"iql_paper_table1", "corl_last", "td3_bc_paper_v2", "sfbc_paper_table1",
            "misa_paper", "idql_paper_table1_tuned", "idql_paper_table1_one_setting",
            "td3_rkl_paper", "aca_paper"} <= names


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem)
def test_published_file_is_well_formed(path):
    data = raw(path)
    assert [field for field in METADATA if field not in data] == []
    reference = tables.load_reference(path.stem)  # By name, as --reference=<name>.
    assert reference.data_label and reference.name == data["name"]
    for column, per_dataset in data["scores"].items():
        assert column in data["columns"], f"{column} has no printed column label"
        for dataset, value in per_dataset.items():
            env = dataset_spec.strip_version(dataset).split("-")[0]
            assert env in KNOWN_ENVS, dataset
            mean, std = published.mean_std(value)
            assert -10.0 <= mean <= 130.0 and (std is None or 0.0 <= std <= 60.0), (dataset, value)


@pytest.mark.parametrize("path", [p for p in PUBLISHED if "totals" in raw(p)], ids=lambda p: p.stem)
def test_printed_totals_match_the_cells(path):
    """Transcription check: the cells of each column sum to the paper's printed total (which
    sums unrounded scores, so each rounded cell may be off by 0.05)."""
    data = raw(path)
    for total_name, per_column in data["totals"].items():
        domain = total_name.split()[0].split("-")[0]  # "locomotion-v2 total" -> "locomotion"
        for column, total in per_column.items():
            cells = [cell_mean(v) for d, v in data["scores"][column].items()
                     if (d.startswith("antmaze")) == (domain == "antmaze")]
            assert abs(sum(cells) - total) <= 0.05 * len(cells) + 1e-9, (column, total_name)


def test_averages_and_cross_paper_consistency():
    sfbc = raw(published.PUBLISHED_DIR / "sfbc_paper_table1.json")
    locomotion = [cell_mean(v) for d, v in sfbc["scores"]["sfbc"].items()
                  if not d.startswith("antmaze")]
    assert sum(locomotion) / len(locomotion) == pytest.approx(75.6, abs=0.05)
    iql = raw(published.PUBLISHED_DIR / "iql_paper_table1.json")["scores"]
    idql_tuned = raw(published.PUBLISHED_DIR / "idql_paper_table1_tuned.json")["scores"]
    def by_task(per_dataset):
        return {dataset_spec.strip_version(dataset): value
                for dataset, value in per_dataset.items()}

    for column in ("cql", "iql"):  # IDQL's "-A" columns are IQL's Table 1.
        assert by_task(idql_tuned[column]) == by_task(iql[column])
    for dataset, value in sfbc["scores"]["iql"].items():  # SfBC copies IQL's column.
        assert iql["iql"][f"{dataset}-v2"] == value
    assert raw(published.PUBLISHED_DIR / "td3_rkl_paper.json")["scores"] == {}  # Not recovered.


@pytest.mark.parametrize("dataset_id, task", [
    ("jaxrl_offline/hopper/medium-v0", "hopper-medium"),
    ("jaxrl_offline/hopper/medium-50k-v0", "hopper-medium"),
    ("jaxrl_offline/walker2d/medium-replay-v0", "walker2d-medium-replay"),
    ("d4rl:/data/hopper_medium-expert-v2.hdf5?env=Hopper-v4", "hopper-medium-expert"),
    ("mujoco/hopper/medium-v0", "hopper-medium"),
    ("mujoco/hopper/medium-v0+mujoco/hopper/expert-v0", "hopper-medium-expert"),
    ("jaxrl_offline/hopper/random-v0+jaxrl_offline/hopper/expert-v0", "hopper-random+expert"),
    ("D4RL/antmaze/large-diverse-v1", "antmaze-large-diverse"),
    ("jaxrl_offline/invpend/mixed-v0", None),
    ("jaxrl_offline/hopper/medium-v0+mujoco/walker2d/expert-v0", None),
])
def test_task_names(dataset_id, task):
    assert tasks.task_name(dataset_id) == task


def test_dataset_for_each_source_maps_back_to_its_task():
    for task in tasks.locomotion_tasks(tasks.suite.KINDS) + ["hopper-random+medium+expert"]:
        for source in ("local", "minari", "d4rl:/data"):
            dataset = tasks.dataset_for(task, source)
            if dataset is not None:
                assert tasks.task_name(dataset) == task, (task, source, dataset)
    assert tasks.dataset_for("hopper-medium-replay", "minari") is None
    assert tasks.dataset_for("antmaze-umaze", "local") is None
    assert tasks.dataset_for("antmaze-umaze", "minari") == "D4RL/antmaze/umaze-v1"
    assert tasks.data_source({"JAXRL_OFFLINE_DATA": "d4rl:/x"}) == "d4rl:/x"
    assert tasks.data_source({}) == "local"
    with pytest.raises(ValueError, match="JAXRL_OFFLINE_DATA"):
        tasks.data_source({"JAXRL_OFFLINE_DATA": "hf"})


def test_lookup_matches_the_task_on_any_source_but_not_a_neighbour():
    reference = tables.load_reference("iql_paper_table1")
    for dataset_id in ("jaxrl_offline/hopper/medium-v0", "jaxrl_offline/hopper/medium-10k-v0",
                       "d4rl:/x/hopper-medium-v2.hdf5", "mujoco/hopper/medium-v0"):
        assert reference.lookup("iql", dataset_id) == (66.3, None)
    assert reference.lookup("iql", "jaxrl_offline/hopper/medium-replay-v0") == (94.7, None)
    assert reference.lookup("iql", "jaxrl_offline/hopper/random-v0") is None
    assert reference.lookup("sfbc", "jaxrl_offline/hopper/medium-v0") is None
    sfbc = tables.load_reference("sfbc_paper_table1")  # Keys printed without a version.
    assert sfbc.lookup("sfbc", "jaxrl_offline/hopper/medium-v0") == (57.1, 4.1)
    with pytest.raises(ValueError, match="not a name in"):
        tables.load_reference("no_such_table")


@pytest.mark.parametrize("name", PAPER_SWEEPS)
def test_paper_sweeps(name, monkeypatch):
    for source, workdir in (("local", f"workdir/{name}"), ("minari", f"workdir/{name}-minari"),
                            ("d4rl:/data/d4rl", f"workdir/{name}-d4rl")):
        monkeypatch.setenv(tasks.DATA_ENV_VAR, source)
        values = sweep.load_sweep(name)
        assert values["workdir"] == workdir and values["datasets"]
        assert all(tasks.source_of(d) == source.split(":")[0] for d in values["datasets"])
    monkeypatch.delenv(tasks.DATA_ENV_VAR)
    workdir, published = tables.sweep_tables(name)
    assert workdir == f"workdir/{name}" and published
    for reference in published:
        tables.load_reference(reference)
    settings = sweep.make_settings(name, {})
    if all(algo in ALGORITHMS for algo in settings.algos):
        runs = sweep.plan_runs(settings)
        assert len(runs) == len(settings.algos) * len(settings.datasets)
