"""What the locomotion claims share (``mixed_locomotion``, ``misa_cql``): training one (algorithm,
dataset) run through the project's runner (``jaxrl_offline.runner.experiment``: records and
checkpoints under a workdir, so an interrupted claim resumes), restoring its final agents from
the run's last checkpoint, and the record's provenance and output files."""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jax

from jaxrl_offline.datasets import data
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import checkpoints, experiment, training


def train(spec: experiment.RunSpec, workdir: pathlib.Path) -> tuple[dict, dict]:
    """Runs (or skips, or resumes) ``spec``; returns its run record and a
    ``runs`` entry for the claim's record (record path, updates/s, config)."""
    run = experiment.run_experiment(spec, workdir, progress=False)
    entry = {"record": str(experiment.record_path(workdir, spec)),
             "updates_per_s": run["timing"]["updates_per_s"],
             "config": dataclasses.asdict(spec.config)}
    return run, entry


def restore_final(algo: ModuleType, spec: experiment.RunSpec, workdir: pathlib.Path):
    """The run's dataset (host numpy, after the algorithm's transforms), seed layout and final
    agent states (every leaf seed-first, padded seeds included: ``layout.unpad`` drops them)."""
    dataset, _ = data.load_numpy(spec.dataset, algorithm=spec.algorithm)
    layout = training.make_seed_layout(spec.seeds)
    template = (*training.init_seed_states(algo, spec.config, layout, data.to_device(dataset)),
                training.initial_active(layout))
    with checkpoints.RunCheckpointer(experiment.checkpoint_dir(workdir, spec),
                                     spec.spec_hash) as checkpointer:
        _, (states, _, _), _ = checkpointer.restore(template)
    return dataset, layout, states


def provenance() -> dict[str, Any]:
    """Device, git commit and versions for a claim's record."""
    return {"device": results.device_description(jax.devices()),
            "git_commit": results.git_commit(), "versions": results.versions()}


def write_outputs(record: dict, out: pathlib.Path, plot: Callable[[dict, pathlib.Path], None],
                  table_markdown: Callable[[dict], str]) -> None:
    """Writes ``<out>/{record.json, table.md, <record["plot"]>}`` and prints the table."""
    plot(record, out / record["plot"])
    results.dump_json(out / "record.json", record)
    results.dump_text(out / "table.md", table_markdown(record))
    print(table_markdown(record))
    print(f"{out}: record.json, table.md, {record['plot']} ({record['wall_s']:.0f} s)")


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
