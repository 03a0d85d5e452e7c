"""The typed dataset spec: every spelling round-trips, malformed text fails clearly, committed
records keep their names, table layers and hashes, and the reward transform is kept as numbers."""

import json
import pathlib

import numpy as np
import pytest

from benchmarks.parity import records as parity_records
from experiments import migrations, overrides
from jaxrl_offline.datasets import dataset_spec, transforms
from jaxrl_offline.local_suite import locomotion
from jaxrl_offline.reporting import formatting
from jaxrl_offline.runner import experiment
from jaxrl_offline.datasets.dataset_spec import DatasetPart, DatasetSpec, SuiteDataset
from jaxrl_offline.datasets.raw_data import DatasetError

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECORDS = sorted(ROOT.glob("benchmarks/results/*/runs/*.json"))


@pytest.mark.parametrize("text, parts, task, source", [
    ("mujoco/hopper/medium-v0", [DatasetPart("mujoco/hopper/medium-v0")], "hopper-medium",
     "minari"),
    ("D4RL/antmaze/umaze-v1", [DatasetPart("D4RL/antmaze/umaze-v1")], "antmaze-umaze", "minari"),
    ("D4RL/pen/human-v2", [DatasetPart("D4RL/pen/human-v2")], "pen-human", "minari"),
    ("jaxrl_offline/hopper/medium-v0", [DatasetPart("jaxrl_offline/hopper/medium-v0")],
     "hopper-medium", "local"),
    ("jaxrl_offline/walker2d/medium-replay-10k-v0",
     [DatasetPart("jaxrl_offline/walker2d/medium-replay-10k-v0")], "walker2d-medium-replay",
     "local"),
    ("jaxrl_offline/invpend/mixed-v0", [DatasetPart("jaxrl_offline/invpend/mixed-v0")], None,
     "synthetic"),
    ("pointmaze/open-v2", [DatasetPart("pointmaze/open-v2")], None, "other"),
    ("d4rl:/data/hopper_medium-v2.hdf5", [DatasetPart(path="/data/hopper_medium-v2.hdf5")],
     "hopper-medium", "d4rl"),
    ("d4rl:~/d4rl/hopper-medium-expert-v2.hdf5?env=Hopper-v5",
     [DatasetPart(path="~/d4rl/hopper-medium-expert-v2.hdf5", env_override="Hopper-v5")],
     "hopper-medium-expert", "d4rl"),
    ("jaxrl_offline/hopper/random-100k-v0+jaxrl_offline/hopper/expert-100k-v0",
     [DatasetPart("jaxrl_offline/hopper/random-100k-v0"),
      DatasetPart("jaxrl_offline/hopper/expert-100k-v0")], "hopper-random+expert", "local"),
    ("mujoco/hopper/medium-v0+mujoco/hopper/expert-v0",
     [DatasetPart("mujoco/hopper/medium-v0"), DatasetPart("mujoco/hopper/expert-v0")],
     "hopper-medium-expert", "minari"),
    ("d4rl:/a/hopper-random-v2.hdf5?env=Hopper-v5+mujoco/walker2d/expert-v0",
     [DatasetPart(path="/a/hopper-random-v2.hdf5", env_override="Hopper-v5"),
      DatasetPart("mujoco/walker2d/expert-v0")], None, "d4rl"),
])
def test_every_spelling_parses_into_fields_and_round_trips(text, parts, task, source):
    spec = dataset_spec.parse(text)
    assert spec == DatasetSpec(tuple(parts))
    assert str(spec) == spec.canonical == text
    assert dataset_spec.parse(spec) is spec  # Parsed once: a DatasetSpec passes through.
    assert spec.task == task and spec.source == source
    assert spec.is_mixture == (len(parts) > 1)


def test_suite_ids_name_env_kind_and_size():
    parts = dataset_spec.parse("jaxrl_offline/hopper/medium-10k-v0+jaxrl_offline/walker2d/"
                               "medium-expert-2m-v0+jaxrl_offline/halfcheetah/random-v0").parts
    assert [part.suite for part in parts] == [
        SuiteDataset("hopper", "medium", 10_000), SuiteDataset("walker2d", "medium-expert",
                                                               2_000_000),
        SuiteDataset("halfcheetah", "random", None)]
    assert [part.size for part in parts] == [10_000, 2_000_000, None]
    for env, kind, size in [("hopper", "medium-replay", 1234), ("walker2d", "expert", None)]:
        part = dataset_spec.parse(dataset_spec.suite_id(env, kind, size)).parts[0]
        assert part.suite == SuiteDataset(env, kind, size)
    # Labels the generator never writes, and envs outside the suite, are not suite ids (they are
    # still valid Minari ids of their task, e.g. for the hyperparameter table).
    odd = dataset_spec.parse("jaxrl_offline/hopper/medium-replay-1.5m-v0").parts[0]
    assert odd.suite is None and odd.task == "hopper-medium-replay"
    assert dataset_spec.parse("jaxrl_offline/hopper/medium-10000-v0").parts[0].suite is None
    assert dataset_spec.parse("jaxrl_offline/ant/medium-v0").parts[0].suite is None
    assert set(locomotion.ENVS) == {"halfcheetah", "hopper", "walker2d"}
    assert dataset_spec.size_label(10_000) == "10k" and dataset_spec.size_label(1234) == "1234"


def test_levels_and_tasks_of_parts():
    spec = dataset_spec.parse("jaxrl_offline/hopper/random-v0+jaxrl_offline/hopper/expert-v0")
    assert spec.tasks == ("hopper-random+expert", "hopper-random", "hopper-expert")
    assert spec.levels == ("random+expert", "random", "expert")
    assert dataset_spec.parse("jaxrl_offline/invpend/random-v0").levels == ("random",)
    assert dataset_spec.parse("jaxrl_offline/invpend/random-v0").tasks == ()


def test_whitespace_around_parts_is_dropped():
    assert str(dataset_spec.parse(" mujoco/hopper/medium-v0 + mujoco/hopper/expert-v0")) == (
        "mujoco/hopper/medium-v0+mujoco/hopper/expert-v0")


@pytest.mark.parametrize("text, message", [
    ("", "empty part"),
    ("mujoco/hopper/medium-v0+", "empty part"),
    ("hopper-medium", "not a valid dataset spec.*-vN version is required"),
    ("mujoco/hopper/medium", "not a valid dataset spec"),
    ("/data/hopper-medium-v2.hdf5", "looks like a file.*'d4rl:' prefix"),
    ("d4rl:", "names no file"),
    ("d4rl:/x.hdf5?envs=Hopper-v5", "Unknown option 'envs=Hopper-v5'.*'\\?env=ENV_ID'"),
    ("d4rl:/x.hdf5?env=", "Unknown option"),
    ("mujoco/hopper/medium-v0+hopper.hdf5", "'hopper.hdf5' \\(in 'mujoco/hopper/medium-v0\\+"),
])
def test_malformed_specs_raise_clear_errors(text, message):
    with pytest.raises(DatasetError, match=message):
        dataset_spec.parse(text)


def test_parts_are_either_minari_or_d4rl():
    with pytest.raises(ValueError, match="exactly one"):
        DatasetPart("mujoco/hopper/medium-v0", path="/x.hdf5")
    with pytest.raises(ValueError, match="D4RL files only"):
        DatasetPart("mujoco/hopper/medium-v0", env_override="Hopper-v5")
    with pytest.raises(DatasetError, match="is text"):
        dataset_spec.parse(None)


@pytest.mark.parametrize("path", RECORDS, ids=lambda path: f"{path.parent.parent.name}/{path.stem}")
def test_committed_records_keep_their_names_table_layers_and_hashes(path):
    record = json.loads(path.read_text())
    text = record["dataset_id"]
    assert str(dataset_spec.parse(text)) == text
    algorithm = f"{record['algorithm']}-{record['variant']}" if record["variant"] else (
        record["algorithm"])
    slug = formatting.file_slug(text)  # RunSpec.name's slug
    assert path.stem == record["name"] == f"{algorithm}__{slug}"
    table = {layer: values for layer, values in record["overrides"].items()
             if layer.startswith("table: ")}
    # A parity reference run records the reference's own configuration: our per-dataset table
    # (experiments/overrides.py) never applied to it.
    layers = ([] if parity_records.is_reference(record)
              else overrides.table_layers(record["algorithm"], text))
    assert {layer: experiment.config_to_json(values) for layer, values in layers} == table
    # Reference runs (benchmarks/parity) hash their commands.
    if not parity_records.is_reference(record):
        assert migrations.record_spec_hash(record) == record["spec_hash"]


def test_committed_records_exist():
    assert len(RECORDS) >= 20
    assert any("+" in json.loads(path.read_text())["dataset_id"] for path in RECORDS)


# --- The reward transform as numbers, for each transform family (hand-computed) ---------------

# Two trajectories of returns 1 + 2 = 3 and 7: the return range is 4.
REWARD = np.array([1.0, 2.0, 7.0])
ENDS = np.array([False, True, True])


@pytest.mark.parametrize("family, algorithm, expected", [
    ("locomotion", "td3_bc", (1.0, 0.0)),  # raw rewards
    ("locomotion", "iql", (1000.0 / 4.0, 0.0)),  # IQL: x1000 / (max - min trajectory return)
    ("locomotion", "idql", (1000.0 / 4.0, 0.0)),
    ("antmaze", "iql", (1.0, -1.0)),  # r - 1
    ("antmaze", "cql", (10.0, -5.0)),  # CORL CQL: r * 10 - 5
    ("antmaze", "misa", (4.0, -2.0)),  # MISA: (r - 0.5) * 4
    ("antmaze", "rebrac", (100.0, 0.0)),  # CORL ReBRAC: r * 100
    ("antmaze", "sfbc", (1.0, 0.0)),
    ("kitchen", "iql", (1.0, 0.0)),
])
def test_reward_transform_numbers(family, algorithm, expected):
    table_entry = transforms.resolve_transforms(family, algorithm)
    scale, shift, _ = transforms.reward_affine(REWARD, ENDS, table_entry)
    assert (scale, shift) == pytest.approx(expected, rel=1e-12)
    raw = transforms.Transition(obs=np.zeros((3, 1)), action=np.zeros((3, 1)), reward=REWARD,
                                next_obs=np.zeros((3, 1)), terminal=np.zeros(3))
    out, _, _, _, affine = transforms.apply_transforms(raw, ENDS, -np.ones(1), np.ones(1),
                                                       table_entry)
    assert affine == (scale, shift)
    np.testing.assert_allclose(out.reward, scale * REWARD + shift, rtol=1e-6)


def test_return_range_with_a_shift_keeps_both_numbers():
    entry = transforms.Transforms(normalize_obs=False, reward="return_range", reward_scale=10.0,
                                  reward_shift=-1.0)
    scale, shift, text = transforms.reward_affine(REWARD, ENDS, entry)
    assert (scale, shift) == (2.5, -1.0) and "x2.5 over 2 trajectories" in text
