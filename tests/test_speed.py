"""The speed benchmark at a tiny setting: it measures, writes valid JSON and a markdown table that
names the device, and the tables regenerate from the JSON alone."""

import json
import types

import pytest

from benchmarks import speed, speed_measure, speed_table


@pytest.fixture
def report(tiny_invpend_dataset):
    settings = speed_measure.Settings(
        algos=("bc",), dataset=tiny_invpend_dataset, seed_counts=(2,), hidden_dims=(16, 16),
        chunk=5, repeats=2, eval_episodes=1, eval_max_steps=5,
        per_algorithm={"bc": {"config": {"batch_size": 8}}})
    return speed.run_benchmark(settings, name="test-device", command="pytest",
                               log=lambda line: None)


def test_benchmark_writes_json_and_markdown(report, tmp_path):
    json_path, md_path = speed.write_report(report, tmp_path)
    data = json.loads(json_path.read_text())  # Strict JSON (no NaN).
    assert data["schema"] == "jaxrl_offline/speed-v1" and data["name"] == "test-device"
    assert data["platform"] == "cpu" and data["versions"]["jax"] and "git_commit" in data
    (entry,) = data["algorithms"]
    assert entry["algorithm"] == "bc" and entry["config"]["actor_hidden_dims"] == [16, 16]
    assert entry["config"]["batch_size"] == 8 and entry["reduced"]
    assert entry["loop"]["steps_per_block"] == 5 and entry["loop"]["first_call_s"] > 0
    assert [row["num_seeds"] for row in entry["vmapped"]] == [2]
    for row in entry["vmapped"]:
        assert row["all_finite"] and row["compile_s"] > 0 and row["updates_per_seed"] == 10
        assert row["updates_per_s_per_seed"] == pytest.approx(5 / min(row["call_s"]))
        assert row["aggregate_updates_per_s"] == pytest.approx(
            row["updates_per_s_per_seed"] * row["num_seeds"])
        assert len(row["loop_block_s"]) == 2  # One loop block after each timed call.
        assert row["loop_updates_per_s"] == pytest.approx(5 / min(row["loop_block_s"]))
        assert row["speedup_vs_loop"] == pytest.approx(
            row["aggregate_updates_per_s"] / row["loop_updates_per_s"])
        assert row["eval"]["policy_calls"] == 5 and row["eval"]["eval_s"] > 0
    markdown = md_path.read_text()
    assert markdown.startswith(f"# Speed: {data['device']}")
    assert "jax " + data["versions"]["jax"] in markdown and "`pytest`" in markdown
    assert "| bc | 2 | 1 |" in markdown
    assert "*Reduced settings*" in markdown and "config batch_size=8" in markdown
    # The markdown is a function of the JSON alone.
    md_path.unlink()
    assert speed.render_all(tmp_path) == [md_path] and md_path.read_text() == markdown
    failed = {**data, "algorithms": [*data["algorithms"], {"algorithm": "x", "error": "E: boom"}]}
    assert "*Failed* (no measurement): `x` (E: boom)." in speed_table.to_markdown(failed)
    summary = speed_table.summary_markdown([failed])
    assert "| test-device | bc\\* | " in summary and "| 2 seeds |" in summary
    assert f"(×{entry['vmapped'][0]['speedup_vs_loop']:.2f})" in summary


def test_gpu_target_line():
    row = {"num_seeds": 10, "aggregate_updates_per_s": 25_000.0}
    report = {"platform": "gpu", "algorithms": [
        {"algorithm": "td3_bc", "vmapped": [row]},
        {"algorithm": "iql", "vmapped": [{**row, "aggregate_updates_per_s": 15_000.0}]}]}
    line = speed_table.gpu_target_line(report)
    assert "td3_bc 25,000 upd/s (met)" in line and "iql 15,000 upd/s (NOT met)" in line
    assert speed_table.gpu_target_line({**report, "platform": "cpu"}) is None


def test_presets_and_device_slug():
    settings = speed.make_settings("small", {"algos": ("sfbc", "bc"), "chunk": 7})
    assert settings.chunk == 7 and settings.seed_counts == (1, 4, 16, 64)
    sfbc = settings.for_algorithm("sfbc")
    assert sfbc.seed_counts == (1, 4) and sfbc.config["planning_backup"] == "next_state"
    assert settings.for_algorithm("bc").chunk == 7
    assert speed.make_settings("gpu", {}).algos == ("td3_bc", "iql")
    with pytest.raises(ValueError, match="unknown fields"):
        speed_measure.Settings(algos=(), dataset="x",
                               per_algorithm={"bc": {"steps": 1}}).for_algorithm("bc")
    gpu = types.SimpleNamespace(device_kind="NVIDIA H100 80GB HBM3", platform="gpu")
    assert speed.device_slug([gpu]) == "nvidia-h100-80gb-hbm3"
    assert speed.device_slug([gpu, gpu]) == "2x-nvidia-h100-80gb-hbm3"
