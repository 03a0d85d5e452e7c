"""Renamed config fields: the migration of records, and the committed records after it."""

import json
import pathlib

import pytest

from experiments import migrations, sweep
from jaxrl_offline import algorithms

RESULTS = pathlib.Path(__file__).parent.parent / "benchmarks" / "results"


def test_renames_point_to_fields_that_exist_and_old_names_are_gone():
    for algo, renames in migrations.RENAMED_FIELDS.items():
        fields = set(algorithms.get_algorithm(algo).Config.__dataclass_fields__)
        for old, new in renames.items():
            assert set(new) <= fields and old not in fields, (algo, old, new)


# Added fields whose default changed after they were added: the migration keeps the value the
# code had before the field existed, the Config's default is the new one.
CHANGED_DEFAULTS = {("td3_bc", "init_scheme"): "pytorch", ("td3_rkl", "init_scheme"): "pytorch"}


def test_added_fields_exist_with_their_defaults():
    for algo, added in migrations.ADDED_FIELDS.items():
        config = algorithms.get_algorithm(algo).Config()
        expected = {name: CHANGED_DEFAULTS.get((algo, name), value)
                    for name, value in added.items()}
        assert {name: getattr(config, name) for name in added} == expected, algo


def test_migrate_config_splits_and_renames_and_is_idempotent():
    old = {"hidden_dims": [64, 64], "temperature": 3.0, "expectile": 0.7}
    new = migrations.migrate_config("iql", old)
    assert new == {"actor_hidden_dims": [64, 64], "critic_hidden_dims": [64, 64],
                   "value_hidden_dims": [64, 64], "awr_temperature": 3.0, "expectile": 0.7}
    assert migrations.migrate_config("iql", new) == new
    assert migrations.migrate_config("cql", old) == old  # CQL had no renamed field.


def test_migrate_record_checks_and_recomputes_the_hash():
    path = next((RESULTS / "hopper_medium" / "runs").glob("iql__*.json"))
    record = json.loads(path.read_text())
    old = {**record, "config": {("hidden_dims" if name.endswith("hidden_dims") else
                                 "temperature" if name == "awr_temperature" else
                                 "max_weight" if name == "awr_max_weight" else name): value
                                for name, value in record["config"].items()
                                if name not in migrations.ADDED_FIELDS["iql"]}}
    old["spec_hash"] = migrations.record_spec_hash(old)
    assert migrations.migrate_record(old) == {**record, "overrides": record["overrides"]}
    with pytest.raises(ValueError, match="spec_hash does not match"):
        migrations.migrate_record({**old, "spec_hash": "0"})


# benchmarks/results/parity/ is no sweep's workdir: its records come from the parity harness.
SWEEP_RESULTS = [path for path in sorted(RESULTS.glob("*/runs"))
                 if (pathlib.Path(sweep.__file__).parent / "sweeps"
                     / f"{path.parent.name}.py").exists()]


@pytest.mark.parametrize("runs_dir", SWEEP_RESULTS, ids=lambda p: p.parent.name)
def test_committed_records_match_their_sweeps(runs_dir):
    """Every committed record's hash is that of its sweep's run re-planned today (records carry
    the current field names), so the sweeps would skip them as finished."""
    planned = {run.name: run for run in sweep.plan_runs(sweep.make_settings(runs_dir.parent.name,
                                                                            {}))}
    for path in sorted(runs_dir.glob("*.json")):
        record = json.loads(path.read_text())
        assert migrations.record_spec_hash(record) == record["spec_hash"], path
        assert planned[record["name"]].spec_hash == record["spec_hash"], path


def test_reference_records_are_left_unchanged():
    """A parity reference record's ``config`` is the reference's own (CORL's yaml fields), so no
    field of ours is added to it and its hash is not recomputed."""
    path = RESULTS / "parity" / "runs" / "td3_bc-corl__jaxrl_offline_hopper_medium-v0.json"
    record = json.loads(path.read_text())
    assert "reference" in record and "init_scheme" not in record["config"]
    assert migrations.migrate_record(record) == record
