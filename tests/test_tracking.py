"""Tests for live tracking (``--log_to``): TensorBoard event files and offline wandb runs are read
back and compared with the run record; a failing writer does not stop the run.

Runs are the tiny BC runs of ``test_runner.py`` (2 seeds, 200 updates in chunks of 50, evaluations
at 100 and 200).
"""

import json
import struct
from typing import ClassVar

import numpy as np
import pytest
from absl import app
from test_runner import TINY_FLAGS, dataset_root, plan  # noqa: F401 (fixture)

from jaxrl_offline.runner import experiment, tracking

from helpers import run_cli


def read_tfrecords(path):
    """The records of a TFRecord file (length, length CRC, data, data CRC; CRCs not checked)."""
    data, pos, records = path.read_bytes(), 0, []
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        records.append(data[pos + 12:pos + 12 + length])
        pos += 12 + length + 4
    return records


def tensorboard_scalars(directory):
    """``{tag: {step: value}}`` and ``{tag: text}`` from every event file under ``directory``."""
    from tensorboardX.proto import event_pb2

    scalars, texts = {}, {}
    files = sorted(directory.glob("events.out.tfevents.*"))
    assert files, f"no event files in {directory}"
    for path in files:
        for raw in read_tfrecords(path):
            event = event_pb2.Event.FromString(raw)
            for value in event.summary.value:
                if value.HasField("tensor") and value.tensor.string_val:
                    texts[value.tag.removesuffix("/text_summary")] = (
                        value.tensor.string_val[0].decode())
                else:
                    scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars, texts


def wandb_records(path):
    """The ``Record`` protos of an offline ``.wandb`` file: a 7-byte header (``:W&B``, key,
    version), then 32 KiB blocks of chunks (CRC, length, type: 1 full, 2 first, 3 middle, 4
    last)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    pos, block, pending, records = 7, 32768, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # Block trailer: zero padding.
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            pos += left
            continue
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            records.append(wandb_internal_pb2.Record.FromString(pending))
            pending = b""
    return records


def expected_eval(record):
    """``{tag: {step: value}}`` of the evaluations, from the record."""
    expected = {}
    for step, scores in zip(record["eval_steps"], record["normalized_scores"]):
        for seed, score in zip(record["seeds"], scores):
            expected.setdefault(f"eval/normalized_score/seed_{seed}", {})[step] = score
        expected.setdefault("eval/normalized_score/mean", {})[step] = float(np.mean(scores))
    return expected


@pytest.fixture
def data_env(dataset_root, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset_root))


def test_tensorboard_events_hold_the_records_values(data_env, tmp_path, capsys):
    pytest.importorskip("tensorboardX")
    run_cli(*TINY_FLAGS, f"--workdir={tmp_path}", "--log_to=tensorboard")
    assert "warning: tracking" not in capsys.readouterr().out
    (spec,) = plan()
    record = json.loads(experiment.record_path(tmp_path, spec).read_text())
    scalars, texts = tensorboard_scalars(tmp_path / "tracking" / "tensorboard" / spec.name)

    for tag, values in expected_eval(record).items():
        assert scalars[tag] == pytest.approx(values, rel=1e-6), tag
    # The last evaluation's returns (the record keeps only the last) are the logged ones.
    for seed, returns in zip(record["seeds"], record["returns"]):
        assert scalars[f"eval/return/seed_{seed}"][200] == pytest.approx(np.mean(returns),
                                                                         rel=1e-6)
    # Every chunk's training metrics; at evaluation steps they are the record's.
    names = [name for name in record["train_metrics"] if name != "steps"]
    assert names
    for name in names:
        for seed_index, seed in enumerate(record["seeds"]):
            logged = scalars[f"train/{name}/seed_{seed}"]
            assert sorted(logged) == [50, 100, 150, 200]
            for step, values in zip(record["train_metrics"]["steps"],
                                    record["train_metrics"][name]):
                assert logged[step] == pytest.approx(values[seed_index], rel=1e-6)
    # The learning rate of every chunk (BC's constant one).
    assert scalars["lr/learning_rate"] == pytest.approx(
        {step: record["config"]["learning_rate"] for step in (50, 100, 150, 200)}, rel=1e-6)
    # The run's config and provenance.
    config = json.loads(texts["config"].strip("`\n"))
    assert config == json.loads(json.dumps(tracking.run_config(record)))
    assert config["spec_hash"] == spec.spec_hash and config["config"]["batch_size"] == 32
    assert json.loads(texts["final"].strip("`\n"))["final/last/mean"] == pytest.approx(
        record["final"]["last"]["mean"])


def test_wandb_offline_run_holds_the_records_values(data_env, tmp_path, capsys):
    pytest.importorskip("wandb")
    (spec,) = plan()
    record = experiment.run_experiment(spec, tmp_path, progress=False, log=print,
                                       log_to=("wandb",))
    assert "warning: tracking" not in capsys.readouterr().out
    (run_file,) = (tmp_path / "tracking" / "wandb").glob("offline-run-*/run-*.wandb")
    history, summary, runs = {}, {}, []
    for item in wandb_records(run_file):
        kind = item.WhichOneof("record_type")
        if kind == "history":
            row = {"/".join(entry.nested_key) or entry.key: json.loads(entry.value_json)
                   for entry in item.history.item}
            history[row["_step"]] = row
        elif kind == "summary":
            for entry in item.summary.update:
                summary["/".join(entry.nested_key) or entry.key] = json.loads(entry.value_json)
        elif kind == "run":
            runs.append(item.run)

    (run,) = runs
    assert run.display_name == spec.name and run.run_group == spec.name
    config = {entry.key: json.loads(entry.value_json) for entry in run.config.update}
    assert config["spec_hash"] == spec.spec_hash
    assert config["config"] == json.loads(json.dumps(record["config"]))
    assert config["seeds"] == record["seeds"] and config["versions"] == record["versions"]
    assert sorted(history) == [50, 100, 150, 200]
    for tag, values in expected_eval(record).items():
        for step, value in values.items():
            assert history[step][tag] == pytest.approx(value, rel=1e-6), (tag, step)
    names = [name for name in record["train_metrics"] if name != "steps"]
    assert names
    for name in names:
        for seed_index, seed in enumerate(record["seeds"]):
            assert f"train/{name}/seed_{seed}" in history[50]
            for step, values in zip(record["train_metrics"]["steps"],
                                    record["train_metrics"][name]):
                assert history[step][f"train/{name}/seed_{seed}"] == pytest.approx(
                    values[seed_index], rel=1e-6)
    assert summary["final/last/mean"] == pytest.approx(record["final"]["last"]["mean"])
    assert summary["final/best/mean"] == pytest.approx(record["final"]["best"]["mean"])


class Raising:
    """A backend whose every write raises."""

    def __init__(self, workdir, name, config):
        pass

    def scalars(self, step, values):
        raise RuntimeError("disk full")

    def finish(self, summary):
        raise RuntimeError("closing fails too")


def test_failing_tracker_warns_once_and_the_run_finishes(data_env, tmp_path, monkeypatch):
    monkeypatch.setitem(tracking.BACKENDS, "broken", Raising)
    monkeypatch.setitem(tracking.BACKENDS, "missing", lambda *args: __import__("no_such_module"))
    lines = []
    (spec,) = plan()
    record = experiment.run_experiment(spec, tmp_path, progress=False, log=lines.append,
                                       log_to=("broken", "missing"))
    warnings = [line for line in lines if line.startswith("warning: tracking")]
    assert len(warnings) == 2, lines
    assert "to broken failed: RuntimeError: disk full" in warnings[1]
    assert "to missing could not start: ModuleNotFoundError" in warnings[0]
    assert "jaxrl_offline[tracking]" in warnings[0]
    assert record["status"] == "complete" and record["eval_steps"] == [100, 200]


def test_learning_rates_follow_the_optimizers_schedule():
    config = {"actor_lr": 1e-3, "critic_lr": 3e-4, "cosine_decay_steps": 100, "batch_size": 256,
              "learning_rate": 2e-4}
    # Cosine decay over 100 steps: half-way it is (1 + cos(pi / 2)) / 2 = 0.5 of the start.
    assert tracking.learning_rates(config, 50) == pytest.approx(
        {"lr/actor_lr": 5e-4, "lr/critic_lr": 3e-4, "lr/learning_rate": 2e-4})
    assert tracking.learning_rates({**config, "cosine_decay_steps": None}, 50)[
        "lr/actor_lr"] == pytest.approx(1e-3)


def test_parse_log_to():
    assert tracking.parse_log_to(["wandb", "tensorboard", "wandb"]) == ("wandb", "tensorboard")
    assert tracking.parse_log_to([]) == ()
    with pytest.raises(ValueError, match="unknown tracking backend.*'tb'.*tensorboard, wandb"):
        tracking.parse_log_to(["tb"])


def test_unknown_backend_is_a_usage_error_before_anything_trains(tmp_path):
    with pytest.raises(app.UsageError, match="unknown tracking backend.*'tb'"):
        run_cli(*TINY_FLAGS, f"--workdir={tmp_path}", "--log_to=tb")
    assert not (tmp_path / "runs").exists()


class Recording:
    """A backend that keeps what it is given."""

    opened: ClassVar[list] = []

    def __init__(self, workdir, name, config):
        self.name, self.steps, self.summary = name, [], None
        Recording.opened.append(self)

    def scalars(self, step, values):
        self.steps.append((step, sorted(values)))

    def finish(self, summary):
        self.summary = summary


def test_a_run_that_fails_still_closes_its_tracking_runs(data_env, tmp_path, monkeypatch):
    monkeypatch.setitem(tracking.BACKENDS, "recording", Recording)
    monkeypatch.setattr(Recording, "opened", [])

    def fail_after_two_chunks(chunks_done):
        if chunks_done == 2:
            raise RuntimeError("machine lost")

    (spec,) = plan()
    with pytest.raises(RuntimeError, match="machine lost"):
        experiment.run_experiment(spec, tmp_path, progress=False, log=lambda line: None,
                                  on_chunk=fail_after_two_chunks, log_to=("recording",))
    (writer,) = Recording.opened
    assert writer.name == spec.name
    assert [step for step, _ in writer.steps] == [50, 100, 100]  # chunk, chunk, evaluation
    assert "eval/normalized_score/mean" in writer.steps[2][1]
    assert all(tag.startswith(("train/", "lr/")) for tag in writer.steps[0][1])
    assert writer.summary == {"diverged_seeds": []}  # Closed, with no final scores yet.


def test_redo_starts_the_tensorboard_folder_afresh(tmp_path):
    (spec,) = plan()
    events = tracking.tensorboard_dir(tmp_path, spec.name)
    events.mkdir(parents=True)
    (events / "events.out.tfevents.1.old").write_bytes(b"")
    experiment.remove_run(spec, tmp_path)
    assert not events.exists()
