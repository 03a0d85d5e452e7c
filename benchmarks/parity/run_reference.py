"""Runs a reference implementation, unchanged, on a project dataset and writes its run record.

    python -m benchmarks.parity.run_reference --reference=corl/td3_bc \
        --reference_dir=/path/to/CORL --dataset=jaxrl_offline/hopper/medium-50k-v0 \
        --seeds=0,1,2 --steps=100000 --eval_every=10000 --eval_episodes=10

Each seed runs the reference's own script in this process, one after another, with its own
per-domain config file (``Reference.config_file``) and the harness's settings passed as its flags;
``--reference_args`` appends more of its flags (to match a setting of ours, say). The record goes to
``<workdir>/runs/<algorithm>-<variant>__<dataset>.json``. The checkout's commit is read with git
(or given by ``--reference_commit``); a commit other than the pinned one is recorded and warned
about. See ``benchmarks/parity/README.md``.
"""

from __future__ import annotations

import pathlib
import shlex
import subprocess
import sys

from absl import app, flags

_REFERENCE = flags.DEFINE_string("reference", "corl/td3_bc", "Harness name of the reference.")
_REFERENCE_DIR = flags.DEFINE_string("reference_dir", None, "The user's checkout of the reference.")
_REFERENCE_COMMIT = flags.DEFINE_string(
    "reference_commit", None, "Commit of the checkout when it is not a git work tree.")
_DATASET = flags.DEFINE_string("dataset", "jaxrl_offline/hopper/medium-50k-v0", "Project dataset.")
_ENV_NAME = flags.DEFINE_string("env_name", None, "D4RL env name the reference is given "
                                "(default: from the dataset id, e.g. hopper-medium-v2).")
_REFERENCE_CONFIG = flags.DEFINE_string(
    "reference_config", None, "The reference's config file, relative to --reference_dir "
    "(default: Reference.config_file for the dataset's env and kind; 'none' for no file).")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Reference seeds.")
_STEPS = flags.DEFINE_integer("steps", 5000, "Updates per seed.")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 1000, "Updates between evaluations.")
_EVAL_EPISODES = flags.DEFINE_integer("eval_episodes", 10, "Episodes per evaluation.")
_REFERENCE_ARGS = flags.DEFINE_string("reference_args", "", "More flags for the reference script.")
_TORCH_THREADS = flags.DEFINE_integer("torch_threads", 1, "torch.set_num_threads (0: default).")
_WORKDIR = flags.DEFINE_string("workdir", "benchmarks/results/parity", "Records go to runs/.")


def checkout_commit(reference_dir: pathlib.Path, given: str | None) -> str:
    """The commit of the checkout: ``given``, else ``git rev-parse HEAD`` in it."""
    if given:
        return given
    try:
        return subprocess.run(["git", "-C", str(reference_dir), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise app.UsageError(f"{reference_dir} is not a git work tree; pass --reference_commit"
                             ) from None


def main(argv):
    del argv
    from benchmarks.parity import harness, records, references

    reference = references.get_reference(_REFERENCE.value)
    if not _REFERENCE_DIR.value:
        raise app.UsageError(f"--reference_dir is required: a checkout of "
                             f"{reference.repository} at {reference.commit}")
    reference_dir = pathlib.Path(_REFERENCE_DIR.value).expanduser().resolve()
    commit = checkout_commit(reference_dir, _REFERENCE_COMMIT.value)
    if commit != reference.commit:
        print(f"warning: {reference_dir} is at {commit}, the pinned commit is {reference.commit}")
    if _EVAL_EVERY.value <= 0 or _STEPS.value % _EVAL_EVERY.value:
        raise app.UsageError("--steps must be a positive multiple of --eval_every")
    from jaxrl_offline import suite

    suite.ensure_local(_DATASET.value)
    env, kind, default_name = references.d4rl_name(_DATASET.value) if not _ENV_NAME.value else (
        None, None, _ENV_NAME.value)
    config_file = _REFERENCE_CONFIG.value
    if config_file is None:
        config_file = reference.config_file.format(env=env, kind=kind.replace("-", "_"))
    config_file = None if config_file in ("", "none") else config_file
    if _TORCH_THREADS.value:
        import torch

        torch.set_num_threads(_TORCH_THREADS.value)
    binding, info = harness.make_binding(_DATASET.value, default_name)
    results = []
    for seed in map(int, _SEEDS.value):
        args = references.command_args(reference, default_name, config_file, seed, _STEPS.value,
                              _EVAL_EVERY.value, _EVAL_EPISODES.value, _REFERENCE_ARGS.value)
        local = [arg.replace("<reference_dir>", str(reference_dir)) for arg in args]
        result = harness.run_seed(reference_dir / reference.script, reference.eval_function,
                                  binding, local, seed, config_class=reference.config_class)
        result.argv = args
        results.append(result)
        print(f"seed {seed}: returns {result.returns.mean(axis=1).round(1).tolist()}")
    device = f"cpu (torch, {_TORCH_THREADS.value or 'default'} threads)"
    record = records.reference_record(
        reference, commit, _DATASET.value, info, results[0].config, results, _STEPS.value,
        _EVAL_EVERY.value, _EVAL_EPISODES.value, device,
        command=shlex.join(["python", "-m", "benchmarks.parity.run_reference",
                            *[arg for arg in sys.argv[1:] if not arg.startswith(
                                "--reference_dir")]]))
    print("wrote", records.write(_WORKDIR.value, record))


if __name__ == "__main__":
    app.run(main)
