"""``--dry_run``: every run listed with its status and estimate; the workdir left byte-identical.

The sweep with finished, partial and new runs trains the tiny BC run of ``test_runner`` (2,000
InvertedPendulum transitions, 32 x 32 networks, 200 updates in chunks of 50) and probes it for
real; the default sweep (three algorithms on a generated 50k hopper dataset) is listed with the
probe replaced by fixed measurements, since its real probe takes a minute or more on 2 cores.
"""

import dataclasses
import hashlib
import pathlib

from experiments import dry_run, sweep
from jaxrl_offline.runner import experiment

from helpers import interrupt_after, run_cli

DATASET = "test/invpend/medium-v0"
TINY = dict(algos=("bc",), datasets=(DATASET,), num_seeds=2, steps=200, chunk=50, eval_every=100,
            eval_episodes=1, max_episode_steps=50, checkpoint_every=1,
            config={"actor_hidden_dims": (32, 32), "batch_size": 32})


def snapshot(root: pathlib.Path) -> dict:
    """Every path under ``root`` with the SHA-256 of its bytes (``None`` for folders)."""
    if not root.exists():
        return {}
    return {str(path.relative_to(root)): (hashlib.sha256(path.read_bytes()).hexdigest()
                                          if path.is_file() else None)
            for path in sorted(root.rglob("*"))}


def test_dry_run_lists_finished_partial_and_new_runs(tiny_invpend_dataset, tmp_path,
                                                     monkeypatch):
    monkeypatch.setattr(dry_run, "PROBE_MIN_S", 0.2)
    (spec,) = sweep.plan_runs(sweep.SweepSettings(**TINY))
    partial = dataclasses.replace(spec, variant="partial")
    new = dataclasses.replace(spec, variant="new")
    experiment.run_experiment(spec, tmp_path, progress=False, log=lambda line: None)
    interrupt_after(partial, tmp_path, chunks_done=2)
    before = snapshot(tmp_path)
    logs = []
    plans, probes = dry_run.plan([spec, partial, new], tmp_path, log=logs.append)
    text = dry_run.report(plans, probes, tmp_path)
    assert snapshot(tmp_path) == before
    assert [(p.status, p.steps_done) for p in plans] == [
        ("finished", 200), ("partial", 100), ("new", 0)]
    assert plans[0].estimate_s is None and 0 < plans[1].estimate_s < plans[2].estimate_s
    assert len(probes) == 1 and len(logs) == 1  # One kind of run: probed once.
    lines = text.splitlines()
    assert lines[0].startswith(f"Dry run: 3 runs in {tmp_path}")
    assert lines[2].split() == ["bc", DATASET, "0-1", "200", "actor_hidden_dims=(32,", "32),",
                                "batch_size=32", "finished", "-"]
    assert "partial (resumes at step 100)" in lines[3] and lines[4].split()[0] == "bc-new"
    assert lines[5].startswith(f"probe bc on {DATASET}: compile ") and "probe took" in lines[5]
    assert lines[6].startswith("Total: 1 finished, 1 partial, 1 new; estimated ")
    # With --overwrite every run would be trained again.
    plans, _ = dry_run.plan([spec, partial], tmp_path, overwrite=True, log=logs.append)
    assert [p.status for p in plans] == ["new", "new"]
    assert snapshot(tmp_path) == before


def test_dry_run_of_the_default_sweep_writes_nothing(tmp_path, monkeypatch, capsys):
    probed = []

    def fake_probe(spec):
        probed.append(spec.algorithm)
        return {"init_s": 1.0, "compile_s": 10.0, "updates_per_s": 100.0, "eval_s": 2.0,
                "probe_s": 5.0, "shape": [[11], [3]]}

    monkeypatch.setattr(dry_run, "probe", fake_probe)
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "note.txt").write_text("kept")
    before = snapshot(tmp_path)
    run_cli("--dry_run", f"--workdir={workdir}")
    out = capsys.readouterr().out
    assert snapshot(tmp_path) == before
    assert probed == ["bc", "td3_bc", "iql"]
    # 20k updates at 100 upd/s + compile and init + 4 evaluations = 200 + 11 + 8 s = 3.6 min.
    for algo in ("bc", "td3_bc", "iql"):
        assert f"  {algo} " in out
    assert out.count("new     3.6 min") == 3, out
    assert "Total: 0 finished, 0 partial, 3 new; estimated 11 min" in out
