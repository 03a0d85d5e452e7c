"""Updates/s of ours against a reference, in the same sitting on the same machine, as ratios.

    python -m benchmarks.parity.speed --reference=corl/td3_bc --reference_dir=/path/to/CORL \
        --dataset=jaxrl_offline/hopper/medium-50k-v0 --chunk=1000 --repeats=3 --seed_counts=1,2
    # A reference whose harness runs in its own venv (IDQL, ACA: README sections), or whose seeds
    # run in a child process of one (MISA):
    python -m benchmarks.parity.speed --reference=idql/idql --reference_dir=/tmp/refs/IDQL \
        --harness_python=/tmp/refs/idql-venv/bin/python --chunk=300 --repeats=2 --seed_counts=1
    python -m benchmarks.parity.speed --reference=official/misa --reference_dir=/tmp/refs/MISA \
        --reference_commit=<sha> --reference_python=/tmp/refs/misa-venv/bin/python --chunk=40 ...

Ours: ``benchmarks.speed_measure.time_vmapped`` (the runner's ``jit(vmap(lax.scan(update)))``,
seeds sharded over one XLA:CPU device per core) with the algorithm's default ``Config`` and the
reference's settings from ``references.OURS_CONFIG`` (the sizes and rates the parity runs use),
``repeats`` timed calls of ``chunk`` updates per seed count after a warm-up call. The reference:
``run_reference`` in a child process (``--harness_python``, this Python by default; so every kind
of reference, in-process torch, JAX in its own venv or a venv child, is timed the same way), one
seed, ``chunk * (repeats + 1)`` updates with a one-episode evaluation every ``chunk`` updates, into
a temporary workdir; its record's per-evaluation training times are the blocks, and the first
block (which holds the script's setup and compilation) is the warm-up. Both sides report their
fastest block (``timeit``'s rule: the least disturbed by other load) and the mean over blocks; the
ratios divide ours by the reference's, and the 1-minute load average is recorded before each side.
Writes ``benchmarks/results/parity/speed/<reference slug>__<dataset slug>.json`` and ``.md``.

SfBC is refused: its harness steps count critic epochs after a behavior stage, not updates;
``benchmarks.parity.sfbc_speed`` times its stages instead.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
from collections.abc import Callable

OUT_DIR = pathlib.Path(__file__).resolve().parent.parent / "results" / "parity" / "speed"

if __name__ == "__main__":
    from experiments.run import host_device_flags  # Before JAX starts: one device per core.

    _xla_flags = host_device_flags(dict(os.environ), os.cpu_count())
    if _xla_flags is not None:
        os.environ["XLA_FLAGS"] = _xla_flags

from absl import app, flags  # noqa: E402

from benchmarks.parity.records import REFERENCE_PACKAGES  # noqa: E402
from jaxrl_offline.reporting import formatting  # noqa: E402

# Rates in speed tables: three significant digits (MISA's 2.91 against 1.32).
_rate = functools.partial(formatting.rate, digits=3)

FLAGS = flags.FLAGS


def define_flags():
    """Defines the command's flags (here, not at import, so tests can import this module)."""
    flags.DEFINE_string("reference", "corl/td3_bc", "Harness name of the reference.")
    flags.DEFINE_string("reference_dir", None, "The user's checkout of the reference.")
    flags.DEFINE_string("reference_commit", None,
                        "Commit of the checkout when it is not a git work tree.")
    flags.DEFINE_string("dataset", "jaxrl_offline/hopper/medium-50k-v0", "Project dataset.")
    flags.DEFINE_integer("chunk", 1000, "Updates per timed block.")
    flags.DEFINE_integer("repeats", 3, "Timed blocks per side (after one warm-up block).")
    flags.DEFINE_list("seed_counts", ["1", "2"], "Seed counts of ours (vmapped).")
    flags.DEFINE_integer("torch_threads", 1, "torch.set_num_threads of a torch reference.")
    flags.DEFINE_string("harness_python", None, "The Python that runs the reference's harness "
                        "(run_reference): its venv's for IDQL and ACA; default this one.")
    flags.DEFINE_string("reference_python", None, "The venv Python of a reference whose seeds run "
                        "in a child process (official/misa), passed on to run_reference.")
    flags.DEFINE_string("reference_args", "", "More flags for the reference script (ACA: "
                        "'--online_steps=N --online_eval_every=N', its online phase is untimed).")
    flags.DEFINE_string("out", str(OUT_DIR), "Output folder.")


# The harness's steps of these count something else than updates; their speed cannot be a ratio
# of updates/s from this timer.
NOT_UPDATES = {"sfbc/sfbc": "its steps count critic epochs after a behavior stage; time its "
                            "stages with python -m benchmarks.parity.sfbc_speed"}


def refusal(reference, reference_dir: str | None, reference_python: str | None,
            reference_commit: str | None = None) -> str | None:
    """Why ``reference`` cannot be timed with these flags (what to do instead), or None: checked
    before ours is timed, so a reference side that cannot start costs nothing."""
    from benchmarks.parity import references

    if reference.name in NOT_UPDATES:
        return f"{reference.name} cannot be timed here: {NOT_UPDATES[reference.name]}"
    if not reference_dir:
        return f"--reference_dir is required (a checkout of {reference.repository})"
    if not reference_commit and not (pathlib.Path(reference_dir).expanduser() / ".git").exists():
        return (f"{reference_dir} is not a git checkout: pass --reference_commit (the pinned "
                f"commit is {reference.commit})")
    if isinstance(reference, references.VenvReference) and not reference_python:
        return (f"{reference.name}'s seeds run in a child process of its own venv: pass "
                f"--reference_python=<venv>/bin/python ({reference.requirements})")
    return None


def reference_command(reference_name: str, reference_dir: str, dataset: str, chunk: int,
                      repeats: int, workdir: str, *, harness_python: str,
                      reference_python: str | None = None, reference_commit: str | None = None,
                      reference_args: str = "", torch_threads: int = 1) -> list[str]:
    """``run_reference`` for one seed of ``chunk * (repeats + 1)`` updates, a one-episode
    evaluation every ``chunk``, into ``workdir`` (nothing reused)."""
    command = [harness_python, "-m", "benchmarks.parity.run_reference",
               f"--reference={reference_name}", f"--reference_dir={reference_dir}",
               f"--dataset={dataset}", "--seeds=0", f"--steps={chunk * (repeats + 1)}",
               f"--eval_every={chunk}", "--eval_episodes=1", f"--workdir={workdir}",
               "--noreuse_seeds", f"--torch_threads={torch_threads}"]
    if reference_python:
        command.append(f"--reference_python={reference_python}")
    if reference_commit:
        command.append(f"--reference_commit={reference_commit}")
    if reference_args:
        command.append(f"--reference_args={reference_args}")
    return command


def run_reference_record(command_for: Callable[[str], list[str]]) -> tuple[dict, float]:
    """Runs ``command_for(workdir)`` (a ``run_reference`` command line) in a child process with
    this checkout on its ``PYTHONPATH``, in a temporary workdir; returns the one record it wrote
    and the 1-minute load average before it started. Exits with the command when it fails."""
    import json
    import shlex
    import subprocess
    import tempfile

    project_root = pathlib.Path(__file__).resolve().parents[2]
    env = {**os.environ, "WANDB_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(project_root),
                                                       os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="parity-speed-") as workdir:
        command = command_for(workdir)
        load_before = os.getloadavg()[0]
        completed = subprocess.run(command, cwd=str(project_root), env=env, check=False)
        if completed.returncode:
            raise SystemExit(f"the reference's run failed (exit {completed.returncode}); "
                             f"its output is above. Command: {shlex.join(command)}")
        (record_path,) = pathlib.Path(workdir, "runs").glob("*.json")
        return json.loads(record_path.read_text()), load_before


def write_result(out_dir: str, result: dict, render_markdown: Callable[[dict], str]) -> None:
    """``<out_dir>/<reference slug>__<dataset slug>.json`` and its generated ``.md``."""
    import json

    from jaxrl_offline.reporting import results

    name = formatting.file_slug(f"{result['reference_name']}__{result['dataset']}")
    out = pathlib.Path(out_dir)
    results.dump_json(out / f"{name}.json", result)
    results.dump_text(out / f"{name}.md", render_markdown(results.to_jsonable(result)))
    print(json.dumps(results.to_jsonable(result["ratios"]), indent=1), "\nwrote", out / name)


def reference_rates(train_s, chunk: int) -> dict:
    """Rates of the reference from its per-evaluation training times (the first is warm-up)."""
    blocks = [float(s) for s in train_s[1:]]
    return {"block_s": blocks, "warmup_block_s": float(train_s[0]),
            "updates_per_s": chunk / min(blocks),
            "mean_updates_per_s": chunk * len(blocks) / sum(blocks)}


def reference_provenance(record: dict) -> dict:
    """Repository, commit, seed 0's arguments (``<reference_dir>`` already a placeholder there)
    and device of the one-seed reference record a timer ran."""
    return {"repository": record["reference"]["repository"],
            "commit": record["reference"]["commit"], "argv": record["reference"]["argv"]["0"],
            "device": record["device"]}


def rates_from_record(record: dict, chunk: int) -> dict:
    """The reference's rates and provenance from the one-seed record ``reference_command`` wrote."""
    (train_s,) = record["timing"]["per_seed_train_s"]
    rates = {**reference_rates(train_s, chunk), **reference_provenance(record)}
    versions = record["versions"]
    rates["versions"] = versions.get("reference_venv") or {
        package: versions.get(package) for package in REFERENCE_PACKAGES}
    return rates


def ratios(ours: list[dict], reference: dict) -> list[dict]:
    """Ours over the reference, per seed count: per seed and aggregate (all seeds together)."""
    return [{"num_seeds": row["num_seeds"],
             "per_seed": row["updates_per_s_per_seed"] / reference["updates_per_s"],
             "aggregate": row["aggregate_updates_per_s"] / reference["updates_per_s"],
             "aggregate_mean": row["mean_aggregate_updates_per_s"]
             / reference["mean_updates_per_s"]} for row in ours]


def render(result: dict) -> str:
    """The markdown table of one speed result (generated; do not edit by hand)."""
    ref = result["reference"]
    # Results written before the reference ran through run_reference name torch threads only.
    where = ref.get("device") or f"torch threads: {ref['torch_threads']}"
    lines = [
        f"# Speed: {result['algorithm']} (ours) vs {result['reference_name']} "
        f"({ref['repository']}@{ref['commit'][:7]})",
        "",
        f"Dataset `{result['dataset']}`, {result['chunk']} updates per block, best of "
        f"{result['repeats']} blocks per side, one sitting on `{result['device']}`; reference: "
        f"{where}. Load average (1 min) before ours / reference: "
        f"{result['load_before_ours']:.1f} / {result['load_before_reference']:.1f}.",
        "",
        "| seeds | ours updates/s per seed | ours aggregate updates/s | reference updates/s "
        "(1 seed) | ratio per seed | ratio aggregate (best / mean) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row, ratio in zip(result["ours"], result["ratios"]):
        lines.append(
            f"| {row['num_seeds']} | {_rate(row['updates_per_s_per_seed'])} | "
            f"{_rate(row['aggregate_updates_per_s'])} | {_rate(ref['updates_per_s'])} | "
            f"{ratio['per_seed']:.2f}x | {ratio['aggregate']:.2f}x / "
            f"{ratio['aggregate_mean']:.2f}x |")
    lines += ["", f"Command: `{result['command']}`", ""]
    return "\n".join(lines)


def main(argv):
    del argv
    import shlex
    import sys

    import jax

    from benchmarks import speed_measure
    from benchmarks.parity import references
    from jaxrl_offline.algorithms import get_algorithm
    from jaxrl_offline.datasets import data
    from jaxrl_offline.local_suite import suite
    from jaxrl_offline.reporting import provenance

    reference = references.get_reference(FLAGS.reference)
    problem = refusal(reference, FLAGS.reference_dir, FLAGS.reference_python,
                      FLAGS.reference_commit)
    if problem:
        raise app.UsageError(problem)
    reference_dir = pathlib.Path(FLAGS.reference_dir).expanduser().resolve()
    chunk, repeats = FLAGS.chunk, FLAGS.repeats
    suite.ensure_local(FLAGS.dataset)
    provenance_at_start = provenance.record_provenance(jax.devices())

    algo = get_algorithm(reference.algorithm)
    config = algo.Config(**references.ours_config(reference.name, FLAGS.dataset))
    dataset, _ = data.load_dataset(FLAGS.dataset, algorithm=reference.algorithm, config=config)
    if hasattr(algo, "prepare_dataset"):  # As the runner does (ReBRAC: the next actions).
        dataset = algo.prepare_dataset(config, dataset)
    load_before_ours = os.getloadavg()[0]
    ours = []
    for num_seeds in map(int, FLAGS.seed_counts):
        row, _ = speed_measure.time_vmapped(algo, config, dataset, num_seeds, chunk, repeats)
        ours.append(row)
        print(f"ours, {num_seeds} seeds: {row['aggregate_updates_per_s']:.1f} updates/s")
    del dataset

    record, load_before_reference = run_reference_record(lambda workdir: reference_command(
        reference.name, str(reference_dir), FLAGS.dataset, chunk, repeats, workdir,
        harness_python=FLAGS.harness_python or sys.executable,
        reference_python=FLAGS.reference_python, reference_commit=FLAGS.reference_commit,
        reference_args=FLAGS.reference_args, torch_threads=FLAGS.torch_threads))
    ref = rates_from_record(record, chunk)
    ref["torch_threads"] = FLAGS.torch_threads
    print(f"reference: {ref['updates_per_s']:.1f} updates/s")
    result = {
        "algorithm": reference.algorithm, "reference_name": reference.name,
        "dataset": FLAGS.dataset, "chunk": chunk, "repeats": repeats,
        "config": dataclasses.asdict(config), "ours": ours, "reference": ref,
        "ratios": ratios(ours, ref), "load_before_ours": load_before_ours,
        "load_before_reference": load_before_reference,
        "device": provenance_at_start["device"], "versions": provenance_at_start["versions"],
        "git_commit": provenance_at_start["git_commit"],
        "command": shlex.join(["python", "-m", "benchmarks.parity.speed", *[
            a for a in sys.argv[1:]
            if not a.startswith(("--reference_dir", "--harness_python", "--reference_python"))]]),
    }
    write_result(FLAGS.out, result, render)


if __name__ == "__main__":
    define_flags()
    app.run(main)
