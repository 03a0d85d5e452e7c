"""What the locomotion claims share (``mixed_locomotion``, ``misa_cql``, ``aca``): training one
(algorithm, dataset) run through the project's runner (``jaxrl_offline.runner.experiment``:
records and checkpoints under a workdir, so an interrupted claim resumes), restoring its final
agents from the run's last checkpoint, fine-tuning several online arms from one offline run
(:func:`finetune_from`), a claim's budget line and compute, and its output files."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import pathlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from jaxrl_offline.algorithms import get_algorithm
from jaxrl_offline.datasets import data, transforms
from jaxrl_offline.runner import checkpoints, experiment, finetune, training

# What an arm's record takes over from the shared offline run's (its offline evaluations).
OFFLINE_RESULTS = ("eval_steps", "normalized_scores", "returns", "train_metrics",
                   "diverged_at_step", "timing", "warnings")


def train(spec: experiment.RunSpec, workdir: pathlib.Path) -> tuple[dict, dict]:
    """Runs (or skips, or resumes) ``spec``; returns its run record and a
    ``runs`` entry for the claim's record (record path, updates/s, config)."""
    run = experiment.run_experiment(spec, workdir, progress=False)
    entry = {"record": str(experiment.record_path(workdir, spec)),
             "updates_per_s": run["timing"]["updates_per_s"],
             "config": dataclasses.asdict(spec.config)}
    return run, entry


def restore_final(algo: ModuleType, spec: experiment.RunSpec, workdir: pathlib.Path):
    """The run's dataset (host numpy, after the algorithm's transforms) and its ``DatasetInfo``
    (``episode_ends`` included), seed layout and final agent states (every leaf seed-first,
    padded seeds included: ``layout.unpad`` drops them)."""
    dataset, info = data.load_numpy(spec.dataset, algorithm=spec.algorithm)
    layout = training.make_seed_layout(spec.seeds)
    template = (*training.init_seed_states(algo, spec.config, layout, data.to_device(dataset)),
                training.initial_active(layout))
    with checkpoints.RunCheckpointer(experiment.checkpoint_dir(workdir, spec),
                                     spec.spec_hash) as checkpointer:
        _, (states, _, _), _ = checkpointer.restore(template)
    return dataset, info, layout, states


def check_shared_offline(spec: experiment.RunSpec, offline_spec: experiment.RunSpec,
                         online_fields: tuple[str, ...]) -> None:
    """``ValueError`` unless ``spec``'s offline phase is ``offline_spec`` by construction: the
    same ``init`` and ``update`` functions, dataset transforms (``TRANSFORM_TABLE`` entries of
    every family), dataset, seeds and offline schedule, and configs equal but for
    ``online_fields`` (read only when fine-tuning starts)."""
    def offline_part(run):
        algo = get_algorithm(run.algorithm)
        config = {k: v for k, v in dataclasses.asdict(run.config).items()
                  if k not in online_fields}
        data_transforms = [transforms.resolve_transforms(family, run.algorithm)
                           for family in transforms.TRANSFORM_TABLE]
        return (algo.init, algo.update, data_transforms, run.dataset, run.seeds, run.steps,
                run.chunk, run.eval_every, run.eval_episodes, run.max_episode_steps, config)

    if offline_part(spec) != offline_part(offline_spec) or offline_spec.online_steps:
        raise ValueError(
            f"{spec.name} cannot fine-tune from {offline_spec.name}: their offline phases differ "
            f"(algorithm functions, dataset transforms, dataset, seeds, schedule or config fields "
            f"other than {', '.join(online_fields) or 'none'}), or the offline run has online "
            "steps itself.")


def finetune_from(spec: experiment.RunSpec, offline_spec: experiment.RunSpec,
                  workdir: pathlib.Path, *, online_fields: tuple[str, ...] = (),
                  log: Callable[[str], None] = print) -> dict:
    """Fine-tunes ``spec`` (``online_steps > 0``) from the final agents of the offline-only run
    ``offline_spec``, so several arms share one trained offline phase (the same arrays and
    seeds), and writes ``spec``'s record.

    The offline run goes through the runner (trained, resumed or skipped when finished; it must
    checkpoint, so its final agents can be restored); the online phase is the runner's
    (``finetune.run_online``: the arm's own online checkpoints, so an interrupted arm resumes).
    The arm's record holds the offline run's evaluations and timing and says where they come
    from: ``record["offline_phase"] = {"run", "record", "spec_hash"}``.

    Args:
      spec: the arm; its offline part must equal ``offline_spec``'s
        (:func:`check_shared_offline`).
      offline_spec: the offline run (``online_steps=0``, ``checkpoint_every > 0``).
      workdir: the runner's workdir of both.
      online_fields: config fields allowed to differ (read only once fine-tuning starts).
      log: where the runner's one-line summaries go.

    Returns:
      The arm's complete record.
    """
    check_shared_offline(spec, offline_spec, online_fields)
    if not offline_spec.checkpoint_every:
        raise ValueError(f"{offline_spec.name}: a shared offline run must checkpoint "
                         "(checkpoint_every > 0) so its final agents can be restored")
    done = experiment.finished_record(spec, workdir, log)
    if done is not None:
        if done.get("offline_phase", {}).get("run") != offline_spec.name:
            raise experiment.RunConflictError(
                f"{experiment.record_path(workdir, spec)} was not fine-tuned from "
                f"{offline_spec.name} (it trained its own offline phase); delete it or use "
                "another --workdir.")
        return done
    offline = experiment.run_experiment(offline_spec, workdir, progress=False, log=log)
    dataset, info, layout, states = restore_final(
        get_algorithm(offline_spec.algorithm), offline_spec, workdir)
    record = experiment.new_record(spec, info, layout, command=None)
    record.update(copy.deepcopy({key: offline[key] for key in OFFLINE_RESULTS}))
    record["offline_phase"] = {"run": offline_spec.name, "spec_hash": offline_spec.spec_hash,
                               "record": str(experiment.record_path(workdir, offline_spec))}
    checkpointer = (checkpoints.RunCheckpointer(experiment.checkpoint_dir(workdir, spec),
                                                spec.spec_hash)
                    if spec.checkpoint_every else None)
    try:
        record = finetune.run_online(spec, get_algorithm(spec.algorithm), info,
                                     data.to_device(dataset), layout.unpad(states), record,
                                     checkpointer, spec.steps // spec.chunk, progress=False,
                                     log=log)
    finally:
        if checkpointer is not None:
            checkpointer.close()
    return experiment.write_finished(spec, workdir, record, log)


def _short(used: Any, official: Any) -> bool:
    """A budget item falls short of the official one: a smaller count, or another setting (a
    network size); a larger count does not."""
    if isinstance(used, int) and isinstance(official, int):
        return used < official
    return used != official


def is_reduced(parts: list[tuple[str, Any, Any]]) -> bool:
    """Whether any ``(label, used, official)`` budget item falls short of the official one."""
    return any(_short(used, official) for _, used, official in parts)


def budget_line(parts: list[tuple[str, Any, Any]]) -> str:
    """How a claim run's budget compares with its paper's protocol, for its table.

    Args:
      parts: ``(label, used, official)`` per budget item (update counts, network sizes, ...).

    Returns:
      "Budget: the official protocol (...)." when no item falls short of the official one (a
      larger count is not short), else a sentence that marks the run **reduced** and lists each
      item that falls short with the official value (and, for counts, the fraction used).
    """
    def text(value):
        return f"{value:,}" if isinstance(value, int) else str(value)

    def item(label, used, official):
        share = (f", {used / official:.1%} of it" if isinstance(used, int)
                 and isinstance(official, int) else "")
        return f"{label} {text(used)} (official {text(official)}{share})"

    if not is_reduced(parts):
        return ("Budget: the official protocol ("
                + ", ".join(f"{label} {text(used)}" for label, used, _ in parts) + ").")
    differing = [item(*part) for part in parts if _short(part[1], part[2])]
    return ("Budget: **reduced** to fit the CPU: " + "; ".join(differing) + ". What the methods "
            "do at this budget, not the paper's result.")


def compute_seconds(record_paths: list[pathlib.Path]) -> float:
    """Compilation, training and evaluation seconds summed over the run records that exist,
    whichever process or session made them: a claim's cost when its runs were resumed or run in
    parallel. A record listed twice counts once, and an arm fine-tuned from a shared offline run
    (``record["offline_phase"]``, ACA's) counts only its online phase."""
    total = 0.0
    for path in dict.fromkeys(record_paths):  # The shared offline record once.
        if not path.exists():
            continue
        run = json.loads(path.read_text())
        if "offline_phase" not in run:  # An arm's copy of the shared offline timing is not new.
            timing = run.get("timing", {})
            total += sum(timing.get(key) or 0.0 for key in ("compile_s", "train_s", "eval_s"))
        online = run.get("online", {}).get("timing", {})
        total += sum(online.get(key) or 0.0 for key in ("train_s", "eval_s"))
    return total


def run_parser(prog: str, *, datasets: tuple[str, ...], workdir: str, out: pathlib.Path,
               steps: int, eval_every: int) -> argparse.ArgumentParser:
    """The flags every locomotion claim takes (its own defaults for the protocol's values)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--num_seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", default="256,256")
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--eval_every", type=int, default=eval_every)
    parser.add_argument("--eval_episodes", type=int, default=10)
    parser.add_argument("--datasets", default=",".join(datasets))
    parser.add_argument("--workdir", default=workdir)
    parser.add_argument("--out", default=str(out))
    return parser


def parse_run_flags(parser: argparse.ArgumentParser, argv: list[str]):
    """``(args, hidden, seeds, datasets)``, with a clear error for a bad count or size."""
    args = parser.parse_args(argv)
    if args.num_seeds < 1 or args.steps < 1:
        parser.error(f"--num_seeds and --steps must be >= 1; got {args.num_seeds}, {args.steps}")
    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h)
    except ValueError:
        parser.error(f"--hidden must be comma-separated layer sizes (256,256); got {args.hidden!r}")
    seeds = tuple(range(args.seed, args.seed + args.num_seeds))
    return args, hidden, seeds, [d for d in args.datasets.split(",") if d]


def spec_for(algorithm: str, dataset: str, config: Any, seeds: tuple[int, ...], args,
             variant: str = "") -> experiment.RunSpec:
    """The runner's ``RunSpec`` of one claim run, checkpointed every 10 chunks."""
    return experiment.RunSpec(algorithm, dataset, config, seeds, args.steps,
                              min(args.chunk, args.steps), args.eval_every, args.eval_episodes,
                              variant=variant, checkpoint_every=10)
