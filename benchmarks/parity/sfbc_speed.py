"""SfBC's speed against its official code, stage by stage, in one sitting on the same machine.

    python -m benchmarks.parity.sfbc_speed --reference_dir=/tmp/refs/SfBC \
        --reference_commit=d384e9f0f272f3760ba56db2a235383fb8faef45 \
        --harness_python=/tmp/refs/sfbc-venv/bin/python --dataset=jaxrl_offline/hopper/medium-50k-v0

SfBC is not a loop of identical updates (``benchmarks.parity.speed`` refuses it): its official
pipeline trains the behavior model, draws ``num_value_samples`` (16) behavior actions per dataset
state once ("presampling", ``sampling_steps`` score-model evaluations each), then regresses the
critic on batches of 4,096 rows. So each stage is timed on its own, ours against the reference's:

* **Ours** (``jaxrl_offline.algorithms.sfbc_staged``, the stages ``experiments.sfbc_staged``
  runs, one seed through ``over_seeds``): behavior and critic steps/s from ``repeats`` timed scans
  of ``behavior_chunk`` / ``critic_chunk`` steps after a warm-up scan (compilation excluded, as
  the reference has none), presampling as one timed call after an ahead-of-time compile.
* **The reference** (``run_reference --reference=sfbc/sfbc`` in a child process of
  ``--harness_python``, its venv): ``--n_behavior_epochs`` epochs of one pass over the data, then
  one critic epoch and one 1-episode evaluation; ``benchmarks.parity.sfbc`` records the behavior
  stage's seconds (its setup, data loading and model building included: a slight undercount of
  its rate), the seconds from the behavior stage's end to the first critic step (checkpoint load
  plus presampling) and the critic epoch's seconds.

Both sides sample with ``--sampling_steps`` score-model evaluations (5, the parity smoke run's
``--diffusion_steps=5``, so presampling takes minutes, not a quarter of an hour). Ours refuses an
order-3 plan with so few evaluations for training (``max_solver_error_gain``); this timer lifts
that limit, because only the cost counts here and the sampled actions are never used. The ratios
divide ours' rate by the reference's (for presampling: the reference's seconds by ours). Writes
``benchmarks/results/parity/speed/sfbc_sfbc__<dataset>.json`` and ``.md`` (``"kind": "stages"``;
the README's speed section lists each stage).
"""

from __future__ import annotations

import os
import pathlib

if __name__ == "__main__":
    from experiments.run import host_device_flags  # Before JAX starts: one device per core.

    _xla_flags = host_device_flags(dict(os.environ), os.cpu_count())
    if _xla_flags is not None:
        os.environ["XLA_FLAGS"] = _xla_flags

from absl import app, flags  # noqa: E402

from benchmarks.parity.speed import OUT_DIR  # noqa: E402

FLAGS = flags.FLAGS
REFERENCE = "sfbc/sfbc"
STAGES = ("behavior", "presample", "critic")


def define_flags():
    """Defines the command's flags (here, not at import, so tests can import this module)."""
    flags.DEFINE_string("reference_dir", None, "The user's checkout of ChenDRAG/SfBC.")
    flags.DEFINE_string("reference_commit", None,
                        "Commit of the checkout when it is not a git work tree.")
    flags.DEFINE_string("harness_python", None, "The SfBC venv's Python (its README section).")
    flags.DEFINE_string("dataset", "jaxrl_offline/hopper/medium-50k-v0", "Project dataset.")
    flags.DEFINE_integer("behavior_epochs", 25, "The reference's --n_behavior_epochs (its "
                         "smallest: the first checkpoint is after 25).")
    flags.DEFINE_integer("sampling_steps", 5, "Score-model evaluations per sample, both sides.")
    flags.DEFINE_integer("behavior_chunk", 25, "Ours: behavior steps per timed scan.")
    flags.DEFINE_integer("critic_chunk", 35, "Ours: critic steps per timed scan.")
    flags.DEFINE_integer("repeats", 2, "Ours: timed scans per stage (after one warm-up scan).")
    flags.DEFINE_string("out", str(OUT_DIR), "Output folder.")


def reference_command(reference_dir: str, dataset: str, workdir: str, *, harness_python: str,
                      behavior_epochs: int, sampling_steps: int,
                      reference_commit: str | None = None) -> list[str]:
    """``run_reference`` for one seed: the short behavior stage, presampling, one critic epoch."""
    command = [harness_python, "-m", "benchmarks.parity.run_reference",
               f"--reference={REFERENCE}", f"--reference_dir={reference_dir}",
               f"--dataset={dataset}", "--seeds=0", "--steps=1", "--eval_every=1",
               "--eval_episodes=1", f"--workdir={workdir}", "--noreuse_seeds",
               f"--reference_args=--n_behavior_epochs={behavior_epochs} --sample_per_epoch=1 "
               f"--diffusion_steps={sampling_steps}"]
    if reference_commit:
        command.append(f"--reference_commit={reference_commit}")
    return command


def reference_stages(record: dict) -> dict:
    """The reference's per-stage rates from its one-seed, one-critic-epoch record."""
    harness = record["config"]["harness"]
    ((critic_epoch_s,),) = record["timing"]["per_seed_train_s"]
    return {"behavior_steps_per_s": harness["behavior_steps"] / harness["behavior_s"],
            "behavior_steps": harness["behavior_steps"], "behavior_s": harness["behavior_s"],
            "presample_s": harness["critic_setup_s"],
            "critic_steps_per_s": harness["critic_steps_per_epoch"] / critic_epoch_s,
            "critic_steps": harness["critic_steps_per_epoch"], "critic_s": critic_epoch_s}


def stage_ratios(ours: dict, reference: dict) -> dict:
    """Ours over the reference per stage (presampling: the reference's seconds over ours)."""
    return {"behavior": ours["behavior_steps_per_s"] / reference["behavior_steps_per_s"],
            "presample": reference["presample_s"] / ours["presample_s"],
            "critic": ours["critic_steps_per_s"] / reference["critic_steps_per_s"]}


def render(result: dict) -> str:
    """The markdown table of one SfBC stage comparison (generated; do not edit by hand)."""
    ours, ref, ratio = result["ours"], result["reference"], result["ratios"]
    lines = [
        f"# Speed: SfBC's stages, ours vs {result['reference_name']} "
        f"({ref['repository']}@{ref['commit'][:7]})",
        "",
        f"Dataset `{result['dataset']}` ({result['num_states']:,} states), "
        f"{result['sampling_steps']} score-model evaluations per sample, one seed, one sitting on "
        f"`{result['device']}`; reference: {ref['device']}. Load average (1 min) before ours / "
        f"reference: {result['load_before_ours']:.1f} / {result['load_before_reference']:.1f}.",
        "",
        "| stage | ours | reference | ratio (ours faster > 1) |",
        "| --- | --- | --- | --- |",
        f"| behavior step (batch {result['config']['batch_size']}) | "
        f"{ours['behavior_steps_per_s']:.3g} steps/s | {ref['behavior_steps_per_s']:.3g} steps/s "
        f"({ref['behavior_steps']} steps, setup included) | {ratio['behavior']:.2f}x |",
        f"| presampling ({result['config']['num_value_samples']} actions per state) | "
        f"{ours['presample_s']:.1f} s | {ref['presample_s']:.1f} s (checkpoint load included) | "
        f"{ratio['presample']:.2f}x |",
        f"| critic step (batch {result['config']['critic_batch_size']}) | "
        f"{ours['critic_steps_per_s']:.3g} steps/s | {ref['critic_steps_per_s']:.3g} steps/s "
        f"(one epoch of {ref['critic_steps']}) | {ratio['critic']:.2f}x |",
        "", f"Command: `{result['command']}`", ""]
    return "\n".join(lines)


def time_ours(config, dataset, behavior_chunk: int, critic_chunk: int, repeats: int) -> dict:
    """Ours' stage rates for one seed (compilation and a warm-up call excluded)."""
    import time

    import jax
    import numpy as np

    from jaxrl_offline.algorithms import sfbc_staged
    from jaxrl_offline.runner import training

    def best(call, *args) -> tuple[float, object]:
        out = jax.block_until_ready(call(*args))  # Warm-up (and compilation).
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            out = jax.block_until_ready(call(out[0], *args[1:]))
            times.append(time.perf_counter() - start)
        return min(times), out

    layout = training.make_seed_layout([0])
    states, _ = training.init_seed_states(sfbc_staged, config, layout, dataset)
    behavior = sfbc_staged.over_seeds(sfbc_staged.train_behavior, config=config, in_axes=(0, None),
                                      num_steps=behavior_chunk)
    behavior_s, (states, _) = best(behavior, states, dataset)
    presample = sfbc_staged.over_seeds(sfbc_staged.presample, config=config, in_axes=(0, None))
    compiled = presample.lower(states, dataset.obs).compile()
    start = time.perf_counter()
    states, _ = jax.block_until_ready(compiled(states, dataset.obs))
    presample_s = time.perf_counter() - start
    done = np.zeros(dataset.obs.shape[0], np.float32)
    done[-1] = 1.0  # Only the targets' values depend on it, not the cost.
    first = sfbc_staged.initial_targets(config, dataset, done)
    targets = jax.tree.map(lambda x: np.broadcast_to(x, (len(layout.padded_seeds), *x.shape)),
                           first)
    critic = sfbc_staged.over_seeds(sfbc_staged.train_critic, config=config,
                                    in_axes=(0, 0, None), num_steps=critic_chunk)
    critic_s, _ = best(critic, states, targets, dataset)
    return {"behavior_steps_per_s": behavior_chunk / behavior_s, "behavior_block_s": behavior_s,
            "presample_s": presample_s, "critic_steps_per_s": critic_chunk / critic_s,
            "critic_block_s": critic_s}


def main(argv):
    del argv
    import dataclasses
    import json
    import shlex
    import sys

    import jax

    from benchmarks.parity import references, speed
    from jaxrl_offline.algorithms import sfbc_staged
    from jaxrl_offline.datasets import data
    from jaxrl_offline.local_suite import suite
    from jaxrl_offline.reporting import provenance

    if not FLAGS.reference_dir or not FLAGS.harness_python:
        raise app.UsageError("--reference_dir (a checkout of ChenDRAG/SfBC) and --harness_python "
                             "(its venv's Python; benchmarks/parity/README.md, SfBC) are required")
    reference = references.get_reference(REFERENCE)
    reference_dir = pathlib.Path(FLAGS.reference_dir).expanduser().resolve()
    if not FLAGS.reference_commit and not (reference_dir / ".git").exists():
        raise app.UsageError(f"{reference_dir} is not a git checkout: pass --reference_commit "
                             f"(the pinned commit is {reference.commit})")
    suite.ensure_local(FLAGS.dataset)
    provenance_at_start = provenance.record_provenance(jax.devices())
    # Speed only: the few-evaluation plan the training configs refuse is allowed here.
    config = sfbc_staged.Config(**{**references.ours_config(REFERENCE, FLAGS.dataset),
                                   "sampling_steps": FLAGS.sampling_steps,
                                   "max_solver_error_gain": 1e12})
    dataset, _ = data.load_dataset(FLAGS.dataset, algorithm="sfbc")
    load_before_ours = os.getloadavg()[0]
    ours = time_ours(config, dataset, FLAGS.behavior_chunk, FLAGS.critic_chunk, FLAGS.repeats)
    num_states = int(dataset.obs.shape[0])
    del dataset
    print("ours:", json.dumps(ours))

    record, load_before_reference = speed.run_reference_record(lambda workdir: reference_command(
        str(reference_dir), FLAGS.dataset, workdir, harness_python=FLAGS.harness_python,
        behavior_epochs=FLAGS.behavior_epochs, sampling_steps=FLAGS.sampling_steps,
        reference_commit=FLAGS.reference_commit))
    ref = {**reference_stages(record), **speed.reference_provenance(record)}
    print("reference:", json.dumps({k: v for k, v in ref.items() if k != "argv"}))
    result = {
        "kind": "stages", "algorithm": "sfbc_staged", "reference_name": reference.name,
        "dataset": FLAGS.dataset, "num_states": num_states,
        "sampling_steps": FLAGS.sampling_steps, "config": dataclasses.asdict(config),
        "ours": ours, "reference": ref, "ratios": stage_ratios(ours, ref),
        "load_before_ours": load_before_ours, "load_before_reference": load_before_reference,
        "device": provenance_at_start["device"], "versions": provenance_at_start["versions"],
        "git_commit": provenance_at_start["git_commit"],
        "command": shlex.join(["python", "-m", "benchmarks.parity.sfbc_speed", *[
            a for a in sys.argv[1:] if not a.startswith(("--reference_dir", "--harness_python"))]]),
    }
    speed.write_result(FLAGS.out, result, render)


if __name__ == "__main__":
    define_flags()
    app.run(main)
