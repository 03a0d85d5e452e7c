"""Progress inside a chunk, numbers with their precision, and Ctrl-C handling.

The slow stub algorithm (``tests/slow_probe.py``) sleeps 10 ms per update on the host, so a
20-update chunk of 2 seeds takes about 0.4 s: long enough to see ticks inside it, short enough
for a test.
"""

import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tqdm

from jaxrl_offline import algorithms
from jaxrl_offline.reporting import formatting
from jaxrl_offline.runner import experiment, progress
from slow_probe import SLOW_PROBE

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DATASET = "test/invpend/medium-v0"


# --- Numbers ------------------------------------------------------------------------------------


def test_significant_digits():
    assert [formatting.rate(v) for v in (0.304, 2.43, 241.3, 12345.6)] == [
        "0.30", "2.4", "241", "12346"]
    assert formatting.rate(9.96) == "10" and formatting.rate(None) == "nan"
    # Scores keep one decimal, and two significant digits below 1.
    assert [formatting.significant(v, 2, 1) for v in (45.27, 104.3, 0.0312, -0.5, 0)] == [
        "45.3", "104.3", "0.031", "-0.50", "0.0"]
    assert [formatting.duration(s) for s in (1.6e-5, 0.42, 42, 150, 7200, 5 * 86400)] == [
        "0 s", "0.42 s", "42 s", "2.5 min", "2.0 h", "5.0 days"]


def test_file_slug_names_runs_records_and_plots_alike():
    assert (formatting.file_slug("jaxrl_offline/hopper/medium-v0")
            == "jaxrl_offline_hopper_medium-v0")
    # A mixture's "+" and any run of other characters become one "_", none at either end.
    assert formatting.file_slug("/a+b//c d/") == "a_b_c_d"
    assert formatting.file_slug("td3_bc-corl__x.v0") == "td3_bc-corl__x.v0"


def test_summary_line_of_a_slow_run_has_two_significant_digits(finished_record):
    record = dict(finished_record, timing={**finished_record["timing"], "updates_per_s": 0.304,
                                           "compile_s": 20.4, "train_s": 3300.0})
    line = experiment.summary_line(record)
    assert "| 0.30 upd/s, compile 20 s, train 55 min, eval" in line


# --- Ticks inside a chunk -----------------------------------------------------------------------


class RecordingBar(tqdm.tqdm):
    """A disabled-output tqdm that records the position after every update."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "disable": False, "file": io.StringIO()})
        self.positions, self.statuses = [], []

    def set_postfix_str(self, text="", refresh=True):
        super().set_postfix_str(text, refresh)
        self.statuses.append(text)

    def update(self, n=1):
        super().update(n)
        self.positions.append(self.n)


@pytest.fixture
def slow_probe(monkeypatch, data_env):
    monkeypatch.setitem(algorithms.ALGORITHMS, "slow_probe", SLOW_PROBE)


@pytest.fixture
def data_env(tiny_invpend_dataset):
    return tiny_invpend_dataset


def slow_spec(**changes):
    return experiment.RunSpec(**{**dict(
        algorithm="slow_probe", dataset=DATASET, config=SLOW_PROBE.Config(), seeds=(0, 1),
        steps=60, chunk=20, eval_every=0, eval_episodes=1, max_episode_steps=5), **changes})


@pytest.fixture
def finished_record(slow_probe, tmp_path):
    return experiment.run_experiment(slow_spec(), tmp_path / "reference", progress=False,
                                     log=lambda line: None)


def test_bar_moves_inside_the_first_chunk(slow_probe, monkeypatch, tmp_path, finished_record):
    bars = []
    monkeypatch.setattr(progress, "TARGET_INTERVAL_S", 0.05)  # Several ticks in later chunks.
    monkeypatch.setattr(progress, "make_bar",
                        lambda *args, **kwargs: bars.append(RecordingBar(
                            total=args[0], initial=args[1])) or bars[-1])
    record = experiment.run_experiment(slow_spec(), tmp_path, progress=True,
                                       log=lambda line: None)
    positions = bars[0].positions
    first, later = [p for p in positions if p < 20], [p for p in positions if 20 < p < 40]
    assert len(first) >= 5, positions  # Ticks on every update of the first chunk.
    assert len(later) >= 2, positions  # Ticks every ~0.05 s once the speed is known.
    assert positions == sorted(positions) and positions[-1] == 60
    assert {20, 40} <= set(positions)
    assert bars[0].statuses[:2] == ["compiling ...", bars[0].statuses[1]]
    assert bars[0].statuses[1].startswith("compiled in ")
    # The callback changes nothing in the results.
    strip = lambda r: {k: v for k, v in r.items() if k not in ("timing", "git_commit")}  # noqa
    assert strip(record) == strip(finished_record)


def test_chunk_progress_counts_one_tick_per_update():
    bar = RecordingBar(total=40)
    ticks = progress.ChunkProgress(bar, num_seeds=4, chunk=20, target_interval_s=1.0)
    every = ticks.start_chunk(0)
    assert every == 1
    for _ in range(20):
        for _ in range(4):  # One call per seed and tick.
            ticks.tick(every)
    assert bar.n == 20 and ticks.ticks == 80
    ticks.end_chunk(20, wall_s=2.0)  # 10 upd/s: the next chunk ticks every 10 updates.
    assert ticks.every == 10 and ticks.start_chunk(20) == 10
    ticks.tick(10)
    assert bar.n == 22  # 10 updates of one seed out of 4
    ticks.end_chunk(40, wall_s=0.001)
    assert bar.n == 40 and ticks.every == 20  # Never more than a chunk.


# Ticks from jit(shard_map(lax.map)) and from a sharded vmap over 2 XLA:CPU devices.
MULTI_DEVICE_SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=2")
    import jax, numpy as np
    from jaxrl_offline.local_suite import synthetic
    from jaxrl_offline.runner import progress, training
    from jaxrl_offline.algorithms import bc
    import dataclasses
    config = dataclasses.replace(bc.Config(), actor_hidden_dims=(8,), batch_size=4)
    data = jax.tree.map(jax.numpy.asarray, synthetic.bandit_probe(16, seed=0))

    class Bar:
        def __init__(self):
            self.n, self.positions = 0, []
        def update(self, count):
            self.n += count
            self.positions.append(self.n)

    out = {}
    for strategy in ("map", "vmap"):
        layout = training.make_seed_layout(range(3))  # padded to 4 seeds, 2 per device
        bar = Bar()
        ticks = progress.ChunkProgress(bar, len(layout.padded_seeds), chunk=10)
        states, keys = training.init_seed_states(bc, config, layout, data)
        run = training.make_multi_seed_chunk(bc, config, 10, layout, strategy, ticks.tick)
        active = training.initial_active(layout)
        for chunk_index in range(2):
            every = ticks.start_chunk(10 * chunk_index, training.ticking_seeds(
                np.asarray(active), layout, strategy))
            states, _, active = run(states, keys, active, np.int32(chunk_index),
                                    training.place_dataset(data, layout), every)
            jax.block_until_ready(states)
            ticks.end_chunk(10 * (chunk_index + 1), wall_s=5.0)  # 2 upd/s: every 2 updates
        out[strategy] = {"positions": bar.positions, "ticks": ticks.ticks}
    json.dump({"devices": jax.device_count(), **out}, sys.stdout)
""")


def test_ticks_with_seeds_sharded_over_two_devices():
    result = subprocess.run([sys.executable, "-c", MULTI_DEVICE_SCRIPT], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    facts = json.loads(result.stdout)
    assert facts["devices"] == 2
    for strategy in ("map", "vmap"):
        positions, ticks = facts[strategy]["positions"], facts[strategy]["ticks"]
        # Chunk 1 ticks every update, chunk 2 every 2: once per computing seed each time, the 3
        # real seeds with lax.map (the padding seed skips its chunks), all 4 vmapped.
        computing = 3 if strategy == "map" else 4
        assert ticks == computing * 10 + computing * 5, (strategy, ticks)
        assert positions[-1] == 20 and positions == sorted(positions)
        assert any(0 < p < 10 for p in positions), (strategy, positions)
        assert any(10 < p < 20 for p in positions), (strategy, positions)


# --- Ctrl-C -------------------------------------------------------------------------------------


def test_graceful_interrupt_first_sigint_is_a_request():
    before = signal.getsignal(signal.SIGINT)
    with progress.GracefulInterrupt("stopping") as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        assert signal.getsignal(signal.SIGINT) == signal.SIG_DFL  # The second one exits.
    assert signal.getsignal(signal.SIGINT) is before


def test_wait_ready_returns_the_array():
    import jax.numpy as jnp
    np.testing.assert_array_equal(progress.wait_ready(jnp.arange(3)), [0, 1, 2])


def test_sigint_to_a_running_sweep_keeps_the_work(slow_probe, tiny_invpend_dataset, tmp_path,
                                                  finished_record):
    """SIGINT to ``python -m experiments.run`` (the stub registered) mid-run: the chunk finishes,
    a checkpoint and partial record are written though --checkpoint_every=0, the resume command
    is printed, and the rerun ends with the uninterrupted run's record."""
    workdir = tmp_path / "work"
    flags = ["--algos=slow_probe", f"--datasets={DATASET}", "--num_seeds=2", "--steps=60",
             "--chunk=20", "--eval_every=0", "--eval_episodes=1", "--max_episode_steps=5",
             "--checkpoint_every=0", f"--workdir={workdir}", "--overwrite"]
    env = {**os.environ, "SLOW_PROBE_SLEEP_S": "0.05"}  # 2 s per chunk
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "tests" / "slow_probe.py"), *flags],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = ""
    while "compiled in" not in seen:  # The bar's status once training starts.
        char = proc.stdout.read(1)
        assert char, seen
        seen += char
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    out = seen + out
    assert proc.returncode == 130, out
    spec = slow_spec()
    ckpt = experiment.checkpoint_dir(workdir, spec)
    assert [p.name for p in ckpt.iterdir()] == ["1"], out  # Chunk 1 finished and saved.
    assert not experiment.record_path(workdir, spec).exists()
    assert experiment.partial_record_path(workdir, spec).exists()
    assert "stopped at step 20 of 60" in out
    resume = out.split("Resume with: ")[1].splitlines()[0]
    assert resume.startswith("python -m experiments.run --algos=slow_probe")
    assert "--overwrite" not in resume and f"--workdir={workdir}" in resume
    logs = []
    resumed = experiment.run_experiment(spec, workdir, progress=False, log=logs.append)
    assert "resuming from the checkpoint at step 20" in logs[0]
    assert not experiment.partial_record_path(workdir, spec).exists()
    strip = lambda r: {k: v for k, v in r.items() if k not in ("timing", "command")}  # noqa
    assert strip(resumed) == strip(finished_record)


def interrupt_when(module_args: list[str], marker: str) -> tuple[str, str]:
    """Runs ``python -m <module_args>``, sends SIGINT once ``marker`` was printed, and returns
    (output before the signal, output after it); asserts the exit status 130 of a kept stop."""
    proc = subprocess.Popen([sys.executable, "-m", *module_args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    while marker not in seen:
        line = proc.stdout.readline()
        assert line, seen
        seen += line
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, seen + out
    return seen, out


def test_sigint_stops_behavior_training_after_a_checkpoint(tmp_path):
    """``experiments.train_behavior``: the first SIGINT finishes the snapshot block in progress,
    checkpoints it and prints the resume command."""
    workdir = tmp_path / "behavior"
    seen, out = interrupt_when(
        ["experiments.train_behavior", "--env=hopper", "--steps=100000",
         "--snapshot_every=100", "--checkpoint_every=100000", "--warmup_steps=100",
         "--eval_episodes=1", f"--workdir={workdir}", "--mirror=", "--verbosity=-1"],
        "hopper step 100: eval")
    steps = [int(p.name) for p in (workdir / "checkpoint").iterdir() if p.name.isdigit()]
    assert steps and 100 <= steps[0] < 100000, seen + out  # 100: SIGINT came before the check
    assert f"stopped by Ctrl-C at step {steps[0]}" in out
    assert "resume with: python -m experiments.train_behavior --env=hopper" in out


def test_tables_and_speed_report_use_significant_digits():
    from benchmarks import speed_table
    from experiments import tables

    assert [speed_table._rate(v) for v in (0.0304, 2.43, 241.3, 12345.6)] == [
        "0.0304", "2.43", "241", "12,346"]
    assert tables._fmt(45.27, 3.14) == "45.3 ± 3.1"
    assert tables._fmt(0.0312, 0.0051) == "0.031 ± 0.005" and tables._fmt(0.85) == "0.85"


def test_sweep_line_counts_runs_and_estimates_from_measured_rates(monkeypatch):
    clock = iter([0.0, 30.0, 120.0, 180.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    line = progress.SweepProgress([("bc", 0), ("bc", 1000), ("iql", 500), ("bc", 2000)])
    assert line.line() == ("sweep: 0/4 runs done (0 already finished, 0 resumed), elapsed "
                           "30 s, ETA ? (no run trained yet)")
    line.run_done(0, 0.1, skipped=True)
    line.run_done(1, 10.0, resumed=True)  # 0.01 s per bc update
    # Left: iql 500 updates (no iql rate yet: the mean, 0.01 s) + bc 2000 at 0.01 s = 25 s.
    assert line.line() == ("sweep: 2/4 runs done (1 already finished, 1 resumed), elapsed "
                           "2.0 min, ETA 25 s")
    line.run_done(2, 50.0)
    line.run_done(3, 20.0)
    assert line.line() == ("sweep: 4/4 runs done (1 already finished, 1 resumed), elapsed "
                           "3.0 min, done")


def test_sigint_to_dataset_generation_keeps_finished_datasets(tmp_path):
    seen, out = interrupt_when(
        ["experiments.make_datasets", "--envs=hopper", "--kinds=random,medium", "--size=1000",
         f"--root={tmp_path}", "--num_envs=2", "--verbosity=-1"],
        "generating hopper random")
    assert (tmp_path / "jaxrl_offline/hopper/random-1k-v0/data").is_dir()
    assert not (tmp_path / "jaxrl_offline/hopper/medium-1k-v0").exists()
    assert "stopped by Ctrl-C: 1 of 2 datasets written" in out
    assert "python -m experiments.make_datasets --envs=hopper --kinds=random,medium" in out
    assert out.rstrip().endswith("--skip_existing")


def test_progress_cost_measurement_and_report_line(tiny_invpend_dataset):
    from benchmarks import progress_cost, speed_table

    row = progress_cost.measure("bc", (8,), 1, chunk=10, repeats=1,
                                dataset_spec=tiny_invpend_dataset, callback_us=30.0,
                                log=lambda line: None)
    assert row["progress_every"] >= 1 and len(row["times_s"]["on_adapted"]) == 1
    # 10 updates, one tick per update: 10 callbacks of 30 us over the chunk's time.
    assert row["estimated_every_update"] == pytest.approx(
        10 * 30e-6 / min(row["times_s"]["off"]))
    report = {"device": "d", "command": "c", "git_commit": "g", "created": "t", "repeats": 1,
              "versions": {"jax": "0"}, "callback_us": 30.0, "load_average": 1.0, "rows": [row]}
    assert "| bc | 1 | 8 | 10 |" in progress_cost.to_markdown(report)
    speed = {"settings": {"hidden_dims": [8], "chunk": 10, "repeats": 1, "eval_episodes": 0},
             "platform": "cpu",
             "dataset": {"id": "x", "num_transitions": 1, "obs_dim": 1, "action_dim": 1,
                         "eval_env": "E"},
             "versions": {"jax": "0"}, "device": "d", "git_commit": "g", "command": "c",
             "wall_s": 1.0, "created": "t", "host_cores": 2, "algorithms": [],
             "progress_cost": {"callback_us": 30.0, **row}}
    line = [text for text in speed_table.header_lines(speed) if "Progress ticks" in text]
    assert line and "with a tick on every update" in line[0]
