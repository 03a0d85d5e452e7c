"""Offline -> online tables from the records of runs with fine-tuning (``record["online"]``).

Written by ``python -m experiments.tables`` and at the end of every sweep whenever some record has
online results: ``DIR/tables/online.{md,csv}``. Rows are datasets, columns algorithms. The first
table gives, per cell, the mean normalized score over seeds when fine-tuning starts (env step 0:
the offline agent) -> at the last online evaluation (± std over seeds); the second the cumulative
regret of fine-tuning (``jaxrl_offline.reporting.results.cumulative_regret``: the time-average of
1 - score / 100 over the online phase; lower is better).
"""

from __future__ import annotations

import csv
import io
import pathlib
from collections.abc import Sequence

import numpy as np

from jaxrl_offline.reporting import results


def online_cells(records: Sequence[dict]) -> dict[tuple[str, str], dict]:
    """``{(dataset, column): {"start", "end", "regret": summaries, "steps", ...}}``."""
    cells = {}
    for record in records:
        online = record["online"]
        key = (record["dataset_id"], results.column_label(record))
        if key in cells:
            raise ValueError(f"two records for {key}: remove one from runs/")
        scores = online["normalized_scores"]
        cells[key] = {
            "start": results.summarize(results.as_array(scores)[0]),
            "end": results.summarize(results.per_seed_scores(scores, "last")),
            "regret": online["regret"],
            "steps": online["steps"], "num_seeds": len(record["seeds"]),
            "num_episodes": record["eval_episodes"], "offline_steps": record["steps"],
        }
    return cells


def _num(value: float | None, digits: int) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def to_markdown(records: Sequence[dict]) -> str:
    """The two markdown tables (scores start -> end, cumulative regret) with a caption."""
    cells = online_cells(records)
    columns = sorted({column for _, column in cells}, key=results.column_order)
    datasets = sorted({dataset for dataset, _ in cells})
    header = ["| dataset | " + " | ".join(columns) + " |",
              "|---|" + "---|" * len(columns)]
    scores, regrets = list(header), list(header)
    for dataset in datasets:
        score_row, regret_row = [], []
        for column in columns:
            cell = cells.get((dataset, column))
            if cell is None:
                score_row.append("–")
                regret_row.append("–")
                continue
            start, end, regret = cell["start"], cell["end"], cell["regret"] or {}
            score_row.append(f"{_num(start['mean'], 1)} → {_num(end['mean'], 1)} ± "
                             f"{_num(end['std'], 1)}")
            regret_row.append(f"{_num(regret.get('mean'), 3)} ± {_num(regret.get('std'), 3)}")
        scores.append(f"| {dataset} | " + " | ".join(score_row) + " |")
        regrets.append(f"| {dataset} | " + " | ".join(regret_row) + " |")
    described = sorted({(c["offline_steps"], c["steps"], c["num_seeds"], c["num_episodes"])
                        for c in cells.values()})
    protocol = "; ".join(f"{offline:,} offline updates then {online:,} env steps, {seeds} seeds x "
                         f"{episodes} episodes" for offline, online, seeds, episodes in described)
    return "\n".join([
        "Offline → online: mean normalized score over seeds when fine-tuning starts (the offline "
        f"agent) → at the last online evaluation, ± std over seeds ({protocol}).", "",
        *scores, "",
        "Cumulative regret of fine-tuning (time-average of 1 − score/100 over the online phase; "
        "lower is better), mean ± std over seeds.", "",
        *regrets, ""])


def to_csv(records: Sequence[dict]) -> str:
    """Long format: one line per (dataset, column) with start, end and regret statistics."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "column", "online_steps", "num_seeds", "start_mean", "start_std",
                     "end_mean", "end_std", "end_ci_low", "end_ci_high", "regret_mean",
                     "regret_std"])
    for (dataset, column), cell in sorted(online_cells(records).items()):
        start, end, regret = cell["start"], cell["end"], cell["regret"] or {}
        values = [start["mean"], start["std"], end["mean"], end["std"], end["ci_low"],
                  end["ci_high"], regret.get("mean"), regret.get("std")]
        writer.writerow([dataset, column, cell["steps"], cell["num_seeds"],
                         *("" if v is None or not np.isfinite(v) else v for v in values)])
    return out.getvalue()


def write_online_tables(workdir: str | pathlib.Path,
                        records: Sequence[dict] | None = None) -> str:
    """Writes ``tables/online.{md,csv}`` when some record has online results; returns the
    markdown, or ``""`` when none has."""
    records = results.load_records(workdir) if records is None else records
    records = [record for record in records if "online" in record]
    if not records:
        return ""
    markdown = to_markdown(records)
    out_dir = pathlib.Path(workdir) / "tables"
    results.dump_text(out_dir / "online.md", markdown)
    results.dump_text(out_dir / "online.csv", to_csv(records))
    return markdown
