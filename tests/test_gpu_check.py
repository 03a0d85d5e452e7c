"""``benchmarks/gpu_check.sh --smoke``: every step of the GPU check at tiny sizes on the CPU, its
output in the layout ``benchmarks.readme`` (the README's results section) consumes."""

import json
import os
import pathlib
import subprocess

from benchmarks import readme, speed_table

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_smoke_mode_output_feeds_the_readme(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "MINARI_DATASETS_PATH": str(tmp_path / "datasets")}
    result = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--smoke"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=1800)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    for step in ("devices", "speed_td3_bc", "speed_iql", "shared_step", "protocol_td3_bc",
                 "protocol_iql"):
        assert f"== {step} (limit" in log, log[-4000:]
        assert (out / f"{step}.log").exists()
    # The grid runs when the runner has --grid.<field>, else it is skipped with a line.
    assert "grid: SKIPPED" in log or "exit 0" in log.split("== grid")[1].splitlines()[1]

    reports = sorted((out / "results" / "speed").glob("*.json"))
    assert [path.stem.rsplit("-", 1)[-1] for path in reports] == ["iql", "td3_bc"]
    for path in reports:
        report = speed_table.read_report(path)
        (entry,) = report["algorithms"]
        assert "error" not in entry, entry
        (row,) = entry["vmapped"]
        assert row["compile_s"] > 0 and row["eval"]["eval_s"] > 0
    (shared,) = json.loads(next((out / "results" / "shared_step").glob("*.json")).read_text())[
        "rows"]
    assert shared["algorithm"] == "td3_bc" and shared["max_abs_param_difference"] < 1e-4
    protocol = out / "results" / "hopper_medium_protocol" / "runs"
    records = [json.loads(path.read_text()) for path in sorted(protocol.glob("*.json"))]
    assert [record["algorithm"] for record in records] == ["iql", "td3_bc"]

    section = readme.render_section(out / "results")
    assert "#### `" in section and "hopper_medium_protocol/`" in section
    assert all(f"`{path.stem}`" in section for path in reports)
    assert "cp " in (out / "COMMIT.md").read_text()
