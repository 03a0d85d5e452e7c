"""Runs over two processes (``jax.distributed`` on CPU, coordinator on localhost).

The runner is launched twice as ``python -m experiments.run --coordinator_address=localhost:PORT
--num_processes=2 --process_id=i`` with one CPU device per process, so the 3 seeds (padded to 4)
are sharded over both processes. Its record must equal the one of the same run in this single
process; rerun after its record is deleted, it resumes from the collective checkpoint; a single
process refuses that checkpoint.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from experiments import sweep
from jaxrl_offline.runner import checkpoints, distributed, experiment

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DATASET = "test/invpend/medium-v0"
SETTINGS = dict(algos=("bc",), datasets=(DATASET,), num_seeds=3, steps=100, chunk=50,
                eval_every=50, eval_episodes=1, max_episode_steps=30, checkpoint_every=1)
COMMAND_LINE_CONFIG = {"actor_hidden_dims": "(32, 32)", "batch_size": "32"}
FLAGS = ["--algos=bc", f"--datasets={DATASET}", "--num_seeds=3", "--steps=100", "--chunk=50",
         "--eval_every=50", "--eval_episodes=1", "--max_episode_steps=30", "--checkpoint_every=1",
         "--config.actor_hidden_dims=(32, 32)", "--config.batch_size=32", "--progress=false"]
# Differ between any two runs (wall times, the command line) or with the device count.
UNCOMPARED = ("timing", "command", "device")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def run_two_processes(workdir: pathlib.Path, minari_root: pathlib.Path) -> None:
    one_device = " --xla_force_host_platform_device_count=1"
    env = {**os.environ, "MINARI_DATASETS_PATH": str(minari_root), "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(REPO_ROOT), "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + one_device}
    address = f"localhost:{free_port()}"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "experiments.run", *FLAGS, f"--workdir={workdir}",
         f"--coordinator_address={address}", "--num_processes=2", f"--process_id={index}"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for index in range(2)]
    outputs = []
    try:
        outputs = [proc.communicate(timeout=240)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for index, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"process {index} failed:\n{output[-3000:]}"


def assert_records_match(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for name in sorted(set(expected) - set(UNCOMPARED)):
        if name in ("normalized_scores", "returns", "train_metrics", "final"):
            # Equal up to float rounding between device layouts.
            np.testing.assert_allclose(_numbers(actual[name]), _numbers(expected[name]),
                                       rtol=1e-5)
        elif name != "scores_digest":
            assert actual[name] == expected[name], name


def _numbers(tree) -> list[float]:
    if isinstance(tree, dict):
        return [x for key in sorted(tree) for x in _numbers(tree[key])]
    if isinstance(tree, list):
        return [x for item in tree for x in _numbers(item)]
    return [np.nan if tree is None else float(tree)]


def test_two_processes_match_one_and_resume(tiny_invpend_dataset, minari_root, tmp_path):
    (spec,) = sweep.plan_runs(sweep.SweepSettings(**SETTINGS), COMMAND_LINE_CONFIG)
    single = experiment.run_experiment(spec, tmp_path / "single", progress=False,
                                       log=lambda line: None)
    workdir = tmp_path / "two"
    run_two_processes(workdir, minari_root)
    record_path = experiment.record_path(workdir, spec)
    two = json.loads(record_path.read_text())
    assert two["device"].startswith("2 x cpu") and two["timing"]["resumed_at_step"] == []
    assert_records_match(two, single)

    # The record gone, both processes resume from the checkpoint they wrote together.
    record_path.unlink()
    run_two_processes(workdir, minari_root)
    resumed = json.loads(record_path.read_text())
    assert resumed["timing"]["resumed_at_step"] == [spec.steps]
    assert_records_match(resumed, two)

    # One process cannot resume a checkpoint written by two.
    record_path.unlink()
    with pytest.raises(checkpoints.CheckpointError,
                       match="written by 2 process.* this run has 1; resume it with the same"):
        experiment.run_experiment(spec, workdir, progress=False, log=lambda line: None)


def test_initialize_only_when_launched_over_processes():
    assert not distributed.initialize(environ={})
    # One task of a SLURM array is a single process.
    assert not distributed.initialize(environ={"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"})
    with pytest.raises(ValueError, match="needs --num_processes and --process_id"):
        distributed.initialize("localhost:1234", num_processes=2)
    with pytest.raises(ValueError, match=r"--process_id=2 must be in \[0, --num_processes=2\)"):
        distributed.initialize("localhost:1234", num_processes=2, process_id=2)
    assert distributed.is_primary() and not distributed.multi_process()
