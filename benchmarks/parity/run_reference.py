"""Runs a reference implementation, unchanged, on a project dataset and writes its run record.

    python -m benchmarks.parity.run_reference --reference=corl/td3_bc \
        --reference_dir=/path/to/CORL --dataset=jaxrl_offline/hopper/medium-50k-v0 \
        --seeds=0,1,2 --steps=100000 --eval_every=10000 --eval_episodes=10

Each seed runs the reference's own script in this process, one after another, with its own
per-domain config file (``Reference.config_file``) and the harness's settings passed as its flags;
``--reference_args`` appends more of its flags (to match a setting of ours, say). Each finished seed
is kept under ``<workdir>/reference_seeds/`` (its returns, timings, data check and parsed config),
so a run that is stopped resumes at the first unfinished seed; a seed's 100k updates run in one go,
because the reference scripts keep no checkpoint between evaluations. A ``VenvReference`` (the
official MISA code, on older jax) runs each seed in a child process of its own venv's Python
instead (``--reference_python``; :mod:`benchmarks.parity.venv_reference`). The record goes to
``<workdir>/runs/<algorithm>-<variant>__<dataset>.json``. The checkout's commit is read with git
(or given by ``--reference_commit``); a commit other than the pinned one is recorded and warned
about. See ``benchmarks/parity/README.md``.
"""

from __future__ import annotations

import os
import pathlib
import shlex
import subprocess
import sys

from absl import app, flags

FLAGS = flags.FLAGS


def define_flags():
    """Defines the command's flags (here, not at import, so tests can import this module)."""
    flags.DEFINE_string("reference", "corl/td3_bc", "Harness name of the reference.")
    flags.DEFINE_string("reference_dir", None, "The user's checkout of the reference.")
    flags.DEFINE_string(
        "reference_commit", None, "Commit of the checkout when it is not a git work tree.")
    flags.DEFINE_string("dataset", "jaxrl_offline/hopper/medium-50k-v0", "Project dataset.")
    flags.DEFINE_string("env_name", None, "D4RL env name the reference is given "
                        "(default: from the dataset id, e.g. hopper-medium-v2).")
    flags.DEFINE_string(
        "reference_config", None, "The reference's config file, relative to --reference_dir "
        "(default: Reference.config_file for the dataset's env and kind; 'none' for no file).")
    flags.DEFINE_list("seeds", ["0"], "Reference seeds.")
    flags.DEFINE_integer("steps", 5000, "Updates per seed.")
    flags.DEFINE_integer("eval_every", 1000, "Updates between evaluations.")
    flags.DEFINE_integer("eval_episodes", 10, "Episodes per evaluation.")
    flags.DEFINE_string("reference_args", "", "More flags for the reference script.")
    flags.DEFINE_integer("torch_threads", 1, "torch.set_num_threads (0: default; torch "
                         "references only).")
    flags.DEFINE_string("reference_python", None, "The reference venv's Python, for references "
                        "that run in a child process of their own venv (official/misa: "
                        "/tmp/refs/misa-venv/bin/python; see benchmarks/parity/README.md).")
    flags.DEFINE_string("workdir", "benchmarks/results/parity", "Records go to runs/.")
    flags.DEFINE_bool("reuse_seeds", True, "Reuse seeds finished by an earlier invocation with "
                      "the same settings (<workdir>/reference_seeds/); false reruns them.")


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


def names(reference) -> tuple[str, str | None]:
    """(D4RL env name, the reference's config file relative to its checkout, or None)."""
    from benchmarks.parity import references

    if FLAGS.env_name:
        env_name, config_file = FLAGS.env_name, FLAGS.reference_config
    else:
        env, kind, env_name = references.d4rl_name(FLAGS.dataset)
        config_file = FLAGS.reference_config
        if config_file is None:
            config_file = reference.config_file.format(env=env, kind=kind.replace("-", "_"))
    return env_name, None if config_file in (None, "", "none") else config_file


def device_line(reference) -> str:
    """Where the reference trained: ``cpu (torch 2.x, 1 thread)`` or ``cpu (jax 0.5.3)``."""
    if reference.framework == "torch":
        import torch

        threads = torch.get_num_threads()
        return f"cpu (torch {torch.__version__}, {threads} thread{'s' if threads > 1 else ''})"
    import jax

    return f"{jax.default_backend()} (jax {jax.__version__})"


def main(argv):
    del argv
    from benchmarks.parity import harness, records, references

    reference = references.get_reference(FLAGS.reference)
    if not FLAGS.reference_dir:
        raise app.UsageError(f"--reference_dir is required: a checkout of "
                             f"{reference.repository} at {reference.commit}")
    reference_dir = pathlib.Path(FLAGS.reference_dir).expanduser().resolve()
    commit = checkout_commit(reference_dir, FLAGS.reference_commit)
    if commit != reference.commit:
        print(f"warning: {reference_dir} is at {commit}, the pinned commit is {reference.commit}")
    if FLAGS.eval_every <= 0 or FLAGS.steps % FLAGS.eval_every:
        raise app.UsageError("--steps must be a positive multiple of --eval_every")
    from jaxrl_offline.local_suite import suite

    suite.ensure_local(FLAGS.dataset)
    env_name, config_file = names(reference)
    in_venv = isinstance(reference, references.VenvReference)
    if in_venv and not FLAGS.reference_python:
        raise app.UsageError(f"{reference.name} runs in its own venv: pass --reference_python="
                             f"<venv>/bin/python (packages: {reference.requirements})")
    if reference.framework == "torch":
        import torch

        if FLAGS.torch_threads:
            torch.set_num_threads(FLAGS.torch_threads)
    binding, info = harness.make_binding(FLAGS.dataset, env_name)
    versions = None
    seed_results = []
    for seed in map(int, FLAGS.seeds):
        args = references.command_args(reference, env_name, config_file, seed, FLAGS.steps,
                                       FLAGS.eval_every, FLAGS.eval_episodes, FLAGS.reference_args)
        cache = records.seed_cache_path(FLAGS.workdir, reference, FLAGS.dataset, commit, args)
        result = records.load_seed(cache) if FLAGS.reuse_seeds else None
        if result is not None:
            print(f"seed {seed}: reusing {cache}")
        else:
            if in_venv:
                from benchmarks.parity import venv_reference

                result, versions = venv_reference.run_seed(
                    FLAGS.reference_python, reference, reference_dir, binding,
                    info.eval_env_spec, args, seed)
            else:
                local = [arg.replace("<reference_dir>", str(reference_dir)) for arg in args]
                result = harness.run_reference_seed(reference, reference_dir, binding, local,
                                                    seed)
            result.argv = args
            records.save_seed(cache, result)
        seed_results.append(result)
        print(f"seed {seed}: returns {result.returns.mean(axis=1).round(1).tolist()}")
    if in_venv:
        versions = versions or {"note": "every seed reused from reference_seeds/: not re-read"}
        device = f"cpu (its own venv: jax {versions.get('jax', '?')}), {os.cpu_count()} host cores"
    else:
        device = f"{device_line(reference)}, {os.cpu_count()} host cores"
    record = records.reference_record(
        reference, commit, FLAGS.dataset, info, seed_results[0].config, seed_results,
        FLAGS.steps, FLAGS.eval_every, FLAGS.eval_episodes, device,
        command=shlex.join(["python", "-m", "benchmarks.parity.run_reference",
                            *[arg for arg in sys.argv[1:] if not arg.startswith(
                                ("--reference_dir", "--reference_python"))]]),
        versions=versions)
    print("wrote", records.write(FLAGS.workdir, record))


if __name__ == "__main__":
    define_flags()
    app.run(main)
