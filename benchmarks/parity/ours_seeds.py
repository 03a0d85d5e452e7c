"""Ours, a seed at a time: single-seed runs kept as committed parts, merged into one parity record.

A parity cell whose side of ours takes longer than a session (IDQL: about 4 h for 3 seeds
vmapped on this CPU) cannot rely on checkpoints under ``$JAXRL_OFFLINE_STATE``: a new machine
starts without them. Run one seed per job instead (``queue_reference.sh`` with ``OURS_SEEDS=k``:
``--seed=k --num_seeds=1``), keep each finished single-seed record in the committed
``benchmarks/results/parity/ours_seeds/``, and merge the parts once every seed is there::

    python -m benchmarks.parity.ours_seeds --algorithm=idql \\
        --dataset=jaxrl_offline/hopper/medium-v0 --num_seeds=3

Seed ``k`` run alone is seed ``k`` of a vmapped run: training keys, batches, evaluation resets
and policy keys are all derived from the seed's value, never its position
(``tests/test_training.py`` checks the equality; the vmapped and the single-seed programs may
still round differently in the last bits, as any two compilations may). The merged record is
the record the vmapped run would have written, with its ``spec_hash`` recomputed for the merged
seeds, the parts' commands, commits and timings kept under ``merged_from``, and ``timing``
summed over the parts (core time, not wall time). Offline records only: an offline-to-online
record's online section is not merged (``ValueError``).
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Sequence
from typing import Any

from absl import app, flags

from experiments import migrations
from jaxrl_offline.reporting import results
from jaxrl_offline.reporting.formatting import file_slug

PARTS_DIR = pathlib.Path(__file__).resolve().parents[2] / "benchmarks/results/parity/ours_seeds"
RUNS_DIR = PARTS_DIR.parent / "runs"
# Fields every part must share: the run's definition apart from its seed.
SHARED_FIELDS = ("algorithm", "variant", "dataset_id", "domain", "config", "overrides",
                 "transforms", "dataset", "score_label", "normalized", "steps", "chunk",
                 "eval_every", "eval_episodes", "max_episode_steps", "eval_steps")


def part_name(record: dict[str, Any]) -> str:
    """File name of a single-seed part: ``<run name>__seed<k>__<spec_hash>.json``."""
    (seed,) = record["seeds"]
    return f"{record['name']}__seed{seed}__{record['spec_hash']}.json"


def keep_part(record_path: str | pathlib.Path,
              parts_dir: str | pathlib.Path = PARTS_DIR) -> pathlib.Path:
    """Copies a finished single-seed record into the parts folder; returns its path there."""
    record = results.read_record(record_path)
    if record.get("status") != "complete" or len(record.get("seeds", ())) != 1:
        raise ValueError(f"{record_path}: a part is a complete single-seed record (status "
                         f"{record.get('status')!r}, seeds {record.get('seeds')}); run it with "
                         "--num_seeds=1 --seed=k to the end first")
    path = pathlib.Path(parts_dir) / part_name(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    results.write_record(path, record)
    return path


def _per_seed_rows(parts: Sequence[dict], field: str) -> list[list[Any]]:
    """[eval][seed] rows of ``field`` (each part's rows are [eval][1])."""
    return [[row[0] for row in rows] for rows in zip(*(part[field] for part in parts))]


def _merged_metrics(parts: Sequence[dict]) -> dict[str, Any]:
    names = [set(part["train_metrics"]) for part in parts]
    if any(n != names[0] for n in names):
        raise ValueError(f"the parts log different train metrics: {sorted(map(sorted, names))}")
    merged = {"steps": parts[0]["train_metrics"]["steps"]}
    for name in sorted(names[0] - {"steps"}):
        merged[name] = [[row[0] for row in rows]
                        for rows in zip(*(part["train_metrics"][name] for part in parts))]
    return merged


def merge(parts: Sequence[dict[str, Any]], command: str | None = None) -> dict[str, Any]:
    """One multi-seed record from complete single-seed records of the same run (seeds sorted).

    ``ValueError`` names the first field on which two parts disagree, a repeated seed, a part that
    is not complete or not single-seed, or an offline-to-online part.
    """
    if not parts:
        raise ValueError("no parts to merge")
    for part in parts:
        if part.get("status") != "complete" or len(part.get("seeds", ())) != 1:
            raise ValueError(f"{part.get('name')}: seeds {part.get('seeds')}, status "
                             f"{part.get('status')!r}; only complete single-seed records merge")
        if part.get("online") is not None:
            raise ValueError(f"{part['name']}: an offline-to-online record; its online section "
                             "is not merged, run its seeds vmapped instead")
    parts = sorted(parts, key=lambda part: part["seeds"][0])
    seeds = [part["seeds"][0] for part in parts]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seed given twice among the parts: {seeds}")
    first = parts[0]
    for part in parts[1:]:
        for field in SHARED_FIELDS:
            if part[field] != first[field]:
                raise ValueError(f"seed {part['seeds'][0]} differs from seed {seeds[0]} in "
                                 f"{field!r}: {part[field]!r} vs {first[field]!r}; rerun it "
                                 "with the same flags")
    merged = {field: first[field] for field in first if field not in ("scores_digest",)}
    normalized_scores = _per_seed_rows(parts, "normalized_scores")
    merged.update(
        seeds=seeds,
        normalized_scores=normalized_scores,
        returns=[part["returns"][0] for part in parts],  # [seed][episode], last evaluation
        final=results.final_summary(normalized_scores),
        train_metrics=_merged_metrics(parts),
        diverged_at_step={key: value for part in parts
                          for key, value in part["diverged_at_step"].items()},
        diverged_seeds=sorted(seed for part in parts for seed in part["diverged_seeds"]),
        warnings=[f"seed {part['seeds'][0]}: {warning}" for part in parts
                  for warning in part["warnings"]],
        merged_from=[{"seed": part["seeds"][0], "spec_hash": part["spec_hash"],
                      "command": part["command"], "git_commit": part["git_commit"],
                      "device": part["device"], "versions": part["versions"],
                      "timing": part["timing"], "scores_digest": part.get("scores_digest")}
                     for part in parts],
        command=command,
    )
    summed = {key: sum(part["timing"][key] for part in parts)
              for key in ("compile_s", "train_s", "eval_s")}
    # Each part trained its own seed: the per-seed rate is the mean of the parts' rates.
    rates = [part["timing"]["updates_per_s"] for part in parts]
    merged["timing"] = {**summed, "updates_per_s": (sum(rates) / len(rates)
                                                    if None not in rates else None),
                        "resumed_at_step": sorted({step for part in parts
                                                   for step in part["timing"]["resumed_at_step"]})}
    merged["spec_hash"] = migrations.record_spec_hash(merged)
    merged = results.to_jsonable(merged)
    merged["scores_digest"] = results.scores_digest(merged)
    results.validate_record(merged)
    return merged


def find_parts(algorithm: str, dataset: str, seeds: Sequence[int],
               parts_dir: str | pathlib.Path = PARTS_DIR, variant: str = "") -> list[pathlib.Path]:
    """The part of each seed in ``seeds`` (``FileNotFoundError`` names the missing ones; more
    than one part of a seed, from different settings, is a ``ValueError``)."""
    name = f"{algorithm}{'-' + variant if variant else ''}__{file_slug(dataset)}"
    found, missing = [], []
    for seed in seeds:
        matches = sorted(pathlib.Path(parts_dir).glob(f"{name}__seed{seed}__*.json"))
        if len(matches) > 1:
            raise ValueError(f"seed {seed} of {name} has {len(matches)} parts with different "
                             f"settings: {[m.name for m in matches]}; remove the stale ones")
        (found if matches else missing).append(matches[0] if matches else seed)
    if missing:
        raise FileNotFoundError(f"{name}: no part yet for seed(s) {missing} in {parts_dir} "
                                "(queue_reference.sh with OURS_SEEDS=k runs one)")
    return found


def define_flags() -> None:
    flags.DEFINE_string("algorithm", None, "Registry name of ours, e.g. idql.")
    flags.DEFINE_string("variant", "", "The runs' variant, if any.")
    flags.DEFINE_string("dataset", None, "Dataset id, e.g. jaxrl_offline/hopper/medium-v0.")
    flags.DEFINE_integer("num_seeds", 3, "Seeds 0..num_seeds-1 are merged.")
    flags.DEFINE_string("parts_dir", str(PARTS_DIR), "Folder of the single-seed parts.")
    flags.DEFINE_string("out_dir", str(RUNS_DIR), "Where the merged record is written.")


def main(argv: Sequence[str]) -> None:
    del argv
    options = flags.FLAGS
    paths = find_parts(options.algorithm, options.dataset, range(options.num_seeds),
                       options.parts_dir, options.variant)
    command = " ".join(["python -m benchmarks.parity.ours_seeds", *sys.argv[1:]])
    merged = merge([results.read_record(path) for path in paths], command=command)
    out = pathlib.Path(options.out_dir) / f"{merged['name']}.json"
    results.write_record(out, merged)
    final = merged["final"]["last"]
    print(f"{out}: seeds {merged['seeds']}, last evaluation {final['mean']:.1f} "
          f"+- {final['std']:.1f}")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["algorithm", "dataset"])
    app.run(main)
