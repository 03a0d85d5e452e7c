"""The numbers of a score table, from the run records of one or several workdirs.

:func:`score_table` turns records into a :class:`ScoreTable`: per-dataset summaries over seeds,
per-domain averages and the aggregates over datasets (``jaxrl_offline.reporting.aggregate``: IQM,
mean, median and optimality gap, each with a 95% stratified-bootstrap CI).
:func:`expand_workdirs` and :func:`merge_records` gather the records of several workdirs (e.g.
the tasks of a sweep split over machines) into one set. ``experiments.table_render`` writes the
table as text; ``experiments.tables`` is the command line.
"""

from __future__ import annotations

import dataclasses
import glob
import pathlib
from collections.abc import Sequence

import numpy as np

from jaxrl_offline.reporting import aggregate, results

OPTIMALITY_TARGET = 100.0  # D4RL-normalized expert score: the optimality gap's gamma.


@dataclasses.dataclass
class ScoreTable:
    """The numbers of a table. ``cells[(row, column)]`` holds ``results.summarize`` dicts plus
    ``num_episodes``; rows are dataset ids and ``"<domain> average"``; the aggregate rows are
    apart: ``aggregates[column][name] = (estimate, ci_low, ci_high)`` for ``aggregate.NAMES``
    (the optimality gap only when every score is normalized), ``iqm[column]`` the IQM's."""

    score: str
    columns: list[str]
    rows: list[tuple[str, str]]  # (kind "dataset" | "average", label)
    cells: dict[tuple[str, str], dict]
    iqm: dict[str, tuple[float, float, float]]
    records: list[dict]
    aggregates: dict[str, dict[str, tuple[float, float, float]]] = dataclasses.field(
        default_factory=dict)

    @property
    def aggregate_names(self) -> list[str]:
        return [name for name in aggregate.NAMES
                if any(name in values for values in self.aggregates.values())]


def score_table(records: Sequence[dict], score: str = "last") -> ScoreTable:
    """Per-dataset summaries, per-domain averages and aggregates (with CIs) of ``records``."""
    if score not in results.SCORES:
        raise ValueError(f"--score must be one of {results.SCORES}, got {score!r}")
    columns = sorted({results.column_label(r) for r in records}, key=results.column_order)
    cells, per_seed, domains = {}, {}, {}
    for record in records:
        key = (record["dataset_id"], results.column_label(record))
        if key in cells:
            raise ValueError(f"two records for {key}: remove one from runs/")
        per_seed[key] = results.per_seed_scores(record["normalized_scores"], score)
        cells[key] = {**results.summarize(per_seed[key]), "num_episodes": record["eval_episodes"],
                      "total_seeds": len(record["seeds"]),
                      "num_diverged": len(record["diverged_seeds"])}
        domains.setdefault(record["domain"], set()).add(record["dataset_id"])
    rows = []
    for domain in sorted(domains):
        datasets = sorted(domains[domain])
        rows += [("dataset", dataset) for dataset in datasets]
        if len(datasets) > 1:
            label = f"{domain} average"
            rows.append(("average", label))
            for column in columns:
                means = [cells[(d, column)]["mean"] for d in datasets if (d, column) in cells]
                if len(means) == len(datasets):
                    cells[(label, column)] = {"mean": float(np.mean(means)), "std": None}
    names = [name for name in aggregate.NAMES
             if name != "optimality_gap" or all(r["normalized"] for r in records)]
    aggregates = {column: aggregate.aggregates_with_ci(
        [v for (d, c), v in per_seed.items() if c == column], gamma=OPTIMALITY_TARGET,
        names=names) for column in columns}
    iqm = {column: aggregates[column]["iqm"] for column in columns}
    return ScoreTable(score, columns, rows, cells, iqm, list(records), aggregates)


def expand_workdirs(patterns: Sequence[str]) -> list[pathlib.Path]:
    """The folders named by ``--workdir`` values, each a folder or a glob pattern, in order and
    without repeats; ``ValueError`` for a value that names no folder."""
    workdirs: list[pathlib.Path] = []
    for pattern in patterns:
        matches = (sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])
        folders = [pathlib.Path(match) for match in matches if pathlib.Path(match).is_dir()]
        if not folders:
            raise ValueError(f"--workdir={pattern}: no such folder (quote a glob pattern so the "
                             "shell leaves it to this script).")
        workdirs += [folder for folder in folders if folder not in workdirs]
    return workdirs


def merge_records(workdirs: Sequence[str | pathlib.Path]) -> list[dict]:
    """The records of several workdirs, one per run (record name).

    A run found in several workdirs is kept once when its settings (``spec_hash``), seeds and
    scores agree everywhere; otherwise ``ValueError`` names both files.
    """
    found: dict[str, tuple[pathlib.Path, dict]] = {}
    for workdir in workdirs:
        for path in results.find_records(workdir):
            record = results.read_record(path)
            if record["name"] not in found:
                found[record["name"]] = (path, record)
                continue
            first_path, first = found[record["name"]]
            same = all(first.get(key) == record.get(key)
                       for key in ("spec_hash", "scores_digest", "seeds", "normalized_scores"))
            if not same:
                raise ValueError(
                    f"run {record['name']} has different records in {first_path} and {path} "
                    "(other settings or scores); keep the one you mean (delete or move the "
                    "other) before merging.")
    return [record for _, record in found.values()]
