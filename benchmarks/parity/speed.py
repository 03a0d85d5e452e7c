"""Updates/s of ours against a reference, in the same sitting on the same machine, as ratios.

    python -m benchmarks.parity.speed --reference=corl/td3_bc --reference_dir=/path/to/CORL \
        --dataset=jaxrl_offline/hopper/medium-50k-v0 --chunk=1000 --repeats=3 --seed_counts=1,2

Ours: ``benchmarks.speed_measure.time_vmapped`` (the runner's ``jit(vmap(lax.scan(update)))``,
seeds sharded over one XLA:CPU device per core) with the algorithm's default ``Config`` and the
reference's settings from ``references.OURS_CONFIG`` (the sizes and rates the parity runs use),
``repeats`` timed calls of ``chunk`` updates per seed count after a warm-up call. The reference:
its own script through the parity harness, one seed, ``chunk * (repeats + 1)`` updates with a
one-episode evaluation every ``chunk`` updates; the harness times the training between
evaluations, and the first block (which holds the script's setup) is the warm-up. Both sides report their fastest block (``timeit``'s rule: the least
disturbed by other load) and the mean over blocks; the ratios divide ours by the reference's, and
the 1-minute load average is recorded before each side. Writes
``benchmarks/results/parity/speed/<reference slug>__<dataset slug>.json`` and ``.md``.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

OUT_DIR = pathlib.Path(__file__).resolve().parent.parent / "results" / "parity" / "speed"

if __name__ == "__main__":
    from experiments.run import host_device_flags  # Before JAX starts: one device per core.

    _xla_flags = host_device_flags(dict(os.environ), os.cpu_count())
    if _xla_flags is not None:
        os.environ["XLA_FLAGS"] = _xla_flags

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    """Defines the command's flags (here, not at import, so tests can import this module)."""
    flags.DEFINE_string("reference", "corl/td3_bc", "Harness name of the reference.")
    flags.DEFINE_string("reference_dir", None, "The user's checkout of the reference.")
    flags.DEFINE_string("dataset", "jaxrl_offline/hopper/medium-50k-v0", "Project dataset.")
    flags.DEFINE_integer("chunk", 1000, "Updates per timed block.")
    flags.DEFINE_integer("repeats", 3, "Timed blocks per side (after one warm-up block).")
    flags.DEFINE_list("seed_counts", ["1", "2"], "Seed counts of ours (vmapped).")
    flags.DEFINE_integer("torch_threads", 1, "torch.set_num_threads of the reference.")
    flags.DEFINE_string("out", str(OUT_DIR), "Output folder.")


def reference_rates(train_s, chunk: int) -> dict:
    """Rates of the reference from its per-evaluation training times (the first is warm-up)."""
    blocks = [float(s) for s in train_s[1:]]
    return {"block_s": blocks, "warmup_block_s": float(train_s[0]),
            "updates_per_s": chunk / min(blocks),
            "mean_updates_per_s": chunk * len(blocks) / sum(blocks)}


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
    lines = [
        f"# Speed: {result['algorithm']} (ours) vs {result['reference_name']} "
        f"({ref['repository']}@{ref['commit'][:7]})",
        "",
        f"Dataset `{result['dataset']}`, {result['chunk']} updates per block, best of "
        f"{result['repeats']} blocks per side, one sitting on `{result['device']}`; reference "
        f"torch threads: {ref['torch_threads']}. Load average (1 min) before ours / reference: "
        f"{result['load_before_ours']:.1f} / {result['load_before_reference']:.1f}.",
        "",
        "| seeds | ours updates/s per seed | ours aggregate updates/s | reference updates/s "
        "(1 seed) | ratio per seed | ratio aggregate (best / mean) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row, ratio in zip(result["ours"], result["ratios"]):
        lines.append(
            f"| {row['num_seeds']} | {row['updates_per_s_per_seed']:.0f} | "
            f"{row['aggregate_updates_per_s']:.0f} | {ref['updates_per_s']:.0f} | "
            f"{ratio['per_seed']:.2f}x | {ratio['aggregate']:.2f}x / "
            f"{ratio['aggregate_mean']:.2f}x |")
    lines += ["", f"Command: `{result['command']}`", ""]
    return "\n".join(lines)


def main(argv):
    del argv
    import json
    import shlex
    import sys

    import jax

    from benchmarks import speed_measure
    from benchmarks.parity import harness, references
    from jaxrl_offline.datasets import data
    from jaxrl_offline.local_suite import suite
    from jaxrl_offline.reporting import results
    from jaxrl_offline.algorithms import get_algorithm

    reference = references.get_reference(FLAGS.reference)
    if isinstance(reference, references.VenvReference):
        raise app.UsageError(
            f"{reference.name} runs in its own venv, which this in-process timer does not "
            "drive: time it with run_reference and experiments.run over the same updates "
            "(benchmarks/parity/README.md, MISA section, 'Smoke result and speed')")
    if not FLAGS.reference_dir:
        raise app.UsageError(f"--reference_dir is required (a checkout of {reference.repository})")
    if reference.framework != "torch" or reference.details is not None:
        raise app.UsageError(
            f"{reference.name} runs in its own environment (benchmarks/parity/README.md), not in "
            "one process with ours: compare the updates_per_s of its record and ours instead")
    reference_dir = pathlib.Path(FLAGS.reference_dir).expanduser().resolve()
    chunk, repeats = FLAGS.chunk, FLAGS.repeats
    suite.ensure_local(FLAGS.dataset)

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
        print(f"ours, {num_seeds} seeds: {row['aggregate_updates_per_s']:.0f} updates/s")

    import torch

    torch.set_num_threads(FLAGS.torch_threads)
    env, kind, env_name = references.d4rl_name(FLAGS.dataset)
    config_file = reference.config_file.format(env=env, kind=kind.replace("-", "_"))
    args = references.command_args(reference, env_name, config_file, 0, chunk * (repeats + 1),
                                   chunk, 1)
    binding, _ = harness.make_binding(FLAGS.dataset, env_name)
    load_before_reference = os.getloadavg()[0]
    seed_result = harness.run_reference_seed(
        reference, reference_dir, binding,
        [arg.replace("<reference_dir>", str(reference_dir)) for arg in args], 0)
    ref = reference_rates(seed_result.train_s, chunk)
    print(f"reference: {ref['updates_per_s']:.0f} updates/s")
    ref.update(repository=reference.repository, commit=reference.commit, argv=args,
               torch_threads=FLAGS.torch_threads)
    result = {
        "algorithm": reference.algorithm, "reference_name": reference.name,
        "dataset": FLAGS.dataset, "chunk": chunk, "repeats": repeats,
        "config": dataclasses.asdict(config), "ours": ours, "reference": ref,
        "ratios": ratios(ours, ref), "load_before_ours": load_before_ours,
        "load_before_reference": load_before_reference,
        "device": results.device_description(jax.devices()),
        "versions": {**results.versions(), "torch": torch.__version__},
        "git_commit": results.git_commit(),
        "command": shlex.join(["python", "-m", "benchmarks.parity.speed",
                               *[a for a in sys.argv[1:] if not a.startswith("--reference_dir")]]),
    }
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{reference.name}__{FLAGS.dataset}")
    out = pathlib.Path(FLAGS.out)
    results.dump_json(out / f"{name}.json", result)
    results.dump_text(out / f"{name}.md", render(results.to_jsonable(result)))
    print(json.dumps(results.to_jsonable(result["ratios"]), indent=1), "\nwrote", out / name)


if __name__ == "__main__":
    define_flags()
    app.run(main)
