"""``python -m experiments.run ... --dry_run``: the plan of a sweep and what it will cost.

Lists every run the flags or sweep file define (algorithm, dataset, seeds, steps, config fields
that differ from the algorithm's defaults), whether it is finished, partial (resumable from a
checkpoint, at which step) or new, and an estimated time for each and for the sweep. Estimates
come from a short probe on this machine of each distinct (algorithm, config, seeds, dataset
shape) still to train: dataset load, seed init, the compile of the chunk function, a few short
chunks and one evaluation. Nothing is written under the workdir (a dataset the project generates
itself is generated where datasets live, as the run would).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from typing import Any

import numpy as np

from jaxrl_offline.datasets import data
from jaxrl_offline.local_suite import suite
from jaxrl_offline.runner import evaluation, experiment, training
from jaxrl_offline.algorithms import get_algorithm
from jaxrl_offline.reporting.formatting import duration, rate

PROBE_UPDATES = 10  # Updates per probe chunk (a scan of any length compiles alike).
PROBE_MIN_S, PROBE_MAX_CALLS = 2.0, 20


@dataclasses.dataclass
class RunPlan:
    """One run of the plan: its spec, status and the estimate of what remains."""

    spec: Any
    status: str  # "finished", "partial", "new" or "conflict"
    steps_done: int = 0
    estimate_s: float | None = None


def run_status(spec, workdir) -> tuple[str, int]:
    """``(status, offline steps done)`` of a run in ``workdir``, reading files only."""
    try:
        if experiment.finished_record(spec, workdir) is not None:
            return "finished", spec.steps
    except experiment.RunConflictError:
        return "conflict", 0
    directory = experiment.checkpoint_dir(workdir, spec)
    chunks = [int(path.name) for path in directory.iterdir() if path.name.isdigit()] if (
        directory.is_dir()) else []
    if chunks:  # Orbax names each committed checkpoint by its step (chunks done).
        return "partial", min(max(chunks), spec.steps // spec.chunk) * spec.chunk
    return "new", 0


def config_changes(spec) -> dict[str, Any]:
    """Config fields of ``spec`` that differ from the algorithm's defaults."""
    defaults = get_algorithm(spec.algorithm).Config()
    return {field.name: getattr(spec.config, field.name)
            for field in dataclasses.fields(defaults)
            if getattr(spec.config, field.name) != getattr(defaults, field.name)}


def probe(spec) -> dict[str, float]:
    """Measures one run kind: ``init_s``, ``compile_s``, ``updates_per_s`` (of the run: all seeds
    together), ``eval_s`` (one evaluation, its compile included) and ``probe_s`` (wall time)."""
    start = time.perf_counter()
    algo = get_algorithm(spec.algorithm)
    suite.ensure_local(spec.dataset)
    dataset, info = data.load_dataset(spec.dataset, algorithm=spec.algorithm, config=spec.config)
    if hasattr(algo, "prepare_dataset"):
        dataset = algo.prepare_dataset(spec.config, dataset)
    layout = training.make_seed_layout(spec.seeds)
    init_start = time.perf_counter()
    states, data_keys = training.init_seed_states(algo, spec.config, layout, dataset)
    active, dataset = training.initial_active(layout), training.place_dataset(dataset, layout)
    init_s = time.perf_counter() - init_start
    updates = min(spec.chunk, PROBE_UPDATES)
    run_chunk = training.make_multi_seed_chunk(algo, spec.config, updates, layout)
    compile_start = time.perf_counter()
    compiled = run_chunk.lower(states, data_keys, active, np.int32(0), dataset).compile()
    compile_s = time.perf_counter() - compile_start
    calls = []
    for chunk_index in range(PROBE_MAX_CALLS + 1):  # Call 0 warms up.
        call_start = time.perf_counter()
        states, _, active = compiled(states, data_keys, active, np.int32(chunk_index), dataset)
        np.asarray(active)
        calls.append(time.perf_counter() - call_start)
        if len(calls) >= 3 and sum(calls[1:]) >= PROBE_MIN_S:
            break
    policy = evaluation.make_batched_policy(algo, spec.config)
    eval_start = time.perf_counter()
    evaluation.evaluate(policy, layout.unpad(states), info, num_episodes=spec.eval_episodes,
                        seed=0, max_episode_steps=spec.max_episode_steps)
    return {"init_s": init_s, "compile_s": compile_s,
            "updates_per_s": updates / statistics.median(calls[1:]),
            "eval_s": time.perf_counter() - eval_start,
            "probe_s": time.perf_counter() - start,
            "shape": [list(dataset.obs.shape[1:]), list(dataset.action.shape[1:])]}


def probe_key(spec, shape) -> str:
    return json.dumps([spec.algorithm, experiment.config_to_json(spec.config), len(spec.seeds),
                       shape, spec.eval_episodes, spec.max_episode_steps], sort_keys=True)


def estimate(spec, steps_done: int, measured: dict[str, float]) -> float:
    """Seconds left for a run: init and compile, the remaining updates, the remaining
    evaluations (fine-tuning is not estimated)."""
    evals_left = sum(1 for step in spec.eval_steps if step > steps_done)
    return (measured["init_s"] + measured["compile_s"]
            + (spec.steps - steps_done) / measured["updates_per_s"]
            + evals_left * measured["eval_s"])


def plan(runs, workdir, *, overwrite: bool = False, log=print) -> tuple[list[RunPlan], list]:
    """``(plans, probes)``: statuses and estimates of ``runs`` (each distinct kind still to
    train is probed once) and the probe measurements."""
    plans, probes, shapes = [], {}, {}
    for spec in runs:
        status, done = ("new", 0) if overwrite else run_status(spec, workdir)
        plans.append(RunPlan(spec, status, done))
    for item in plans:
        if item.status not in ("new", "partial"):
            continue
        spec = item.spec
        shape = shapes.get(spec.dataset)
        key = None if shape is None else probe_key(spec, shape)
        if key not in probes:
            log(f"probing {spec.algorithm} on {spec.dataset} ({len(spec.seeds)} seeds) ...")
            measured = probe(spec)
            shapes[spec.dataset] = measured["shape"]
            key = probe_key(spec, measured["shape"])
            probes[key] = {**measured, "label": f"{spec.algorithm} on {spec.dataset}"}
        item.estimate_s = estimate(spec, item.steps_done, probes[key])
    return plans, list(probes.values())


def _seeds_text(seeds) -> str:
    if list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 1:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def _status_text(item: RunPlan) -> str:
    if item.status == "partial":
        return f"partial (resumes at step {item.steps_done:,})"
    if item.status == "conflict":
        return "conflict (a record with other settings; --overwrite replaces it)"
    return item.status


def report(plans, probes, workdir) -> str:
    """The dry-run text: one line per run, the probes, and the total."""
    lines = [f"Dry run: {len(plans)} runs in {workdir} (nothing trained, nothing written there)."]
    header = ("algorithm", "dataset", "seeds", "steps", "config (non-default)", "status",
              "estimate")
    rows = []
    for item in plans:
        spec = item.spec
        changes = ", ".join(f"{k}={v}" for k, v in config_changes(spec).items()) or "-"
        algorithm = f"{spec.algorithm}-{spec.variant}" if spec.variant else spec.algorithm
        rows.append((algorithm, spec.dataset, _seeds_text(spec.seeds), f"{spec.steps:,}",
                     changes, _status_text(item),
                     "-" if item.estimate_s is None else duration(item.estimate_s)))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append("  " + "  ".join(str(cell).ljust(width)
                                      for cell, width in zip(row, widths)).rstrip())
    for measured in probes:
        lines.append(
            f"probe {measured['label']}: compile {duration(measured['compile_s'])}, "
            f"{rate(measured['updates_per_s'])} upd/s, one evaluation "
            f"{duration(measured['eval_s'])} (untrained policy), probe took "
            f"{duration(measured['probe_s'])}")
    counts = {status: sum(item.status == status for item in plans)
              for status in ("finished", "partial", "new", "conflict")}
    total = sum(item.estimate_s or 0.0 for item in plans)
    probe_s = sum(measured["probe_s"] for measured in probes)
    lines.append(
        f"Total: {counts['finished']} finished, {counts['partial']} partial, {counts['new']} new"
        + (f", {counts['conflict']} in conflict" if counts["conflict"] else "")
        + f"; estimated {duration(total)} on this machine to finish (probes took "
        f"{duration(probe_s)}; fine-tuning phases not estimated).")
    return "\n".join(lines)


def dry_run(runs, workdir, *, overwrite: bool = False, log=print) -> str:
    """:func:`plan` then :func:`report`."""
    plans, probes = plan(runs, workdir, overwrite=overwrite, log=log)
    return report(plans, probes, workdir)
