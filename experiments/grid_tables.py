"""The "best grid point per dataset" table of hyperparameter-grid records (``--grid``).

Every grid point has its own record and so its own column in the score table
(``td3_bc/alpha=2.5``). This table adds, per grid and dataset, the point with the highest mean
score. It is selected on the evaluation scores it reports, so it is an optimistic (selection-
biased) number, not a held-out estimate, and the table says so.
"""

from __future__ import annotations

import csv
import io
import math
import pathlib
from collections.abc import Sequence

from jaxrl_offline.reporting import results
from jaxrl_offline.runner import grid

from experiments.table_render import _fmt  # The score tables' number format.

TITLE = "Best grid point per dataset, selected on evaluation scores"


def best_points(records: Sequence[dict], score: str = "last") -> dict[tuple[str, str], dict]:
    """``{(dataset, grid label): {"record", "point", "summary"}}``: the grid point with the
    highest mean ``score`` over seeds, per dataset and grid (algorithm, sweep variant, fields)."""
    best: dict[tuple[str, str], dict] = {}
    for record in records:
        if not record.get("grid"):
            continue
        point = record["grid"]["point"]
        base = record["variant"].removesuffix(grid.variant_label("", point)).rstrip("-")
        label = (f"{record['algorithm']}{'/' + base if base else ''} "
                 f"[{', '.join(record['grid']['fields'])}]")
        summary = results.summarize(results.per_seed_scores(record["normalized_scores"], score))
        key = (record["dataset_id"], label)
        mean = summary["mean"] if math.isfinite(summary["mean"]) else float("-inf")
        if key not in best or mean > best[key]["mean"]:
            best[key] = {"record": record, "point": point, "summary": summary, "mean": mean}
    return best


def _point_text(point: dict) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in point.items())


def to_markdown(best: dict, score: str) -> str:
    labels = sorted({label for _, label in best})
    datasets = sorted({dataset for dataset, _ in best})
    lines = [f"**{TITLE}** ({score} score): per dataset, the grid point with the highest mean "
             f"{score} score over seeds, mean ± std over seeds. The point was chosen on the same "
             "evaluation episodes that are reported, so these numbers are optimistically "
             "biased (no held-out selection).", "",
             "| dataset | " + " | ".join(f"{label} best point" for label in labels) + " |",
             "|" + "---|" * (len(labels) + 1)]
    for dataset in datasets:
        cells = []
        for label in labels:
            entry = best.get((dataset, label))
            cells.append("–" if entry is None else
                         f"{_fmt(entry['summary']['mean'], entry['summary']['std'])} "
                         f"({_point_text(entry['point'])})")
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(best: dict, score: str) -> str:
    out = io.StringIO()
    fields = ("score", "selected_on", "dataset", "grid", "point", "record", "mean", "std",
              "ci_low", "ci_high", "num_seeds")
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for (dataset, label), entry in sorted(best.items()):
        summary = entry["summary"]
        writer.writerow({"score": score, "selected_on": "evaluation scores", "dataset": dataset,
                         "grid": label, "point": _point_text(entry["point"]),
                         "record": entry["record"]["name"],
                         **{name: summary.get(name) for name in fields[6:]}})
    return out.getvalue()


def write_best_table(workdir: str | pathlib.Path, records: Sequence[dict],
                     score: str = "last") -> str | None:
    """Writes ``tables/grid_best_<score>.{md,csv}`` when ``records`` hold grid points; returns
    the markdown (``None`` without grid records)."""
    best = best_points(records, score)
    if not best:
        return None
    markdown = to_markdown(best, score)
    out_dir = pathlib.Path(workdir) / "tables"
    results.dump_text(out_dir / f"grid_best_{score}.md", markdown)
    results.dump_text(out_dir / f"grid_best_{score}.csv", to_csv(best, score))
    return markdown
