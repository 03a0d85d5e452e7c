"""A :class:`~experiments.table_data.ScoreTable` as text: markdown, LaTeX and long-format CSV.

Cells are mean ± std over seeds (``_fmt``: one decimal, or two significant digits below 1),
marked when seeds diverged; the aggregate rows give each estimate with its 95% CI. Published
numbers (``experiments.published``) stand next to the matching algorithm, and with them every
column header says which data it was measured on. :func:`caption` says what the numbers are
(seed, episode and update counts, diverged seeds, legacy records, published sources).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxrl_offline.reporting import aggregate, results
from jaxrl_offline.reporting.formatting import significant

from experiments import tasks
from experiments.published import Reference
from experiments.table_data import ScoreTable

def _fmt(mean: float | None, std: float | None = None) -> str:
    """One decimal (45.3 ± 2.1), or two significant digits below 1 (0.031 ± 0.005); the spread
    has the mean's decimals."""
    if mean is None or not np.isfinite(mean):
        return "–"
    text = significant(mean, 2, min_decimals=1)
    decimals = len(text.partition(".")[2])
    return text if std is None or not np.isfinite(std) else f"{text} ± {std:.{decimals}f}"


def _cell(cell: dict | None) -> str:
    """A score cell: ``mean ± std``, marked ``(1/4 seeds, 3 diverged)`` when seeds diverged and
    ``diverged (0/4 seeds)`` when none is left; ``–`` means not run."""
    if cell is None:
        return "–"
    text = _fmt(cell.get("mean"), cell.get("std"))
    if not cell.get("num_diverged"):
        return text
    counted, total = cell["num_seeds"], cell["total_seeds"]
    if not counted:
        return f"diverged (0/{total} seeds)"
    return f"{text} ({counted}/{total} seeds, {cell['num_diverged']} diverged)"


def _published_columns(table: ScoreTable, column: str,
                       references: Sequence[Reference]) -> list[Reference]:
    """The references with a number for ``column``'s algorithm on some dataset of the table."""
    if "/" in column:  # Sweep variants have no published counterpart.
        return []
    datasets = [label for kind, label in table.rows if kind == "dataset"]
    return [ref for ref in references if any(ref.lookup(column, d) for d in datasets)]


def ours_label(table: ScoreTable, column: str) -> str:
    """What our column was measured on: data source(s) and update count(s)."""
    records = [r for r in table.records if results.column_label(r) == column]
    sources = sorted({tasks.SOURCE_LABELS[tasks.source_of(r["dataset_id"])] for r in records})
    steps = sorted({r["steps"] for r in records})
    return f"{', '.join(sources)}, {'/'.join(results.updates_text(n) for n in steps)} updates"


def _layout(table: ScoreTable, references: Sequence[Reference]) -> tuple[list[str], list[list]]:
    """Header and body of the table as text cells, published columns next to their algorithm.

    With published columns, every column header says which data it was measured on."""
    header, getters, published = ["dataset"], [], {}
    for column in table.columns:
        published[column] = _published_columns(table, column, references)
        header.append(f"{column} ours ({ours_label(table, column)})" if references else column)
        getters.append(lambda row, c=column: _cell(table.cells.get((row, c))))
        for ref in published[column]:
            header.append(f"{column} published{ref.mark} ({ref.data_label})")
            getters.append(lambda row, c=column, r=ref: _published(table, r, c, row))
    body = [[label, *(get(label) for get in getters)] for _, label in table.rows]
    for name in table.aggregate_names:
        row = [f"{aggregate.LABELS[name]} [95% CI]"]
        for column in table.columns:
            value, low, high = table.aggregates[column].get(name, (None, None, None))
            row.append(f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]")
            row += [_published_aggregate(table, ref, column, name) for ref in published[column]]
        body.append(row)
    return header, body


def _published_aggregate(table: ScoreTable, ref: Reference, column: str, name: str) -> str:
    """The mean or median over our column's datasets of the published means (when every one of
    them has a published number); other aggregates need per-seed scores, which papers omit."""
    datasets = [label for kind, label in table.rows
                if kind == "dataset" and (label, column) in table.cells]
    values = [ref.lookup(column, dataset) for dataset in datasets]
    if name not in ("mean", "median") or not values or not all(values):
        return "–"
    reduce = np.mean if name == "mean" else np.median
    return _fmt(float(reduce([value[0] for value in values])))


def _published(table: ScoreTable, ref: Reference, algorithm: str, row: str) -> str:
    datasets = [label for kind, label in table.rows if kind == "dataset"]
    if row in datasets:
        value = ref.lookup(algorithm, row)
        return _fmt(*value) if value else "–"
    domain = row.removesuffix(" average")  # An average row: the mean of its datasets, if all.
    members = [d for d in datasets if _domain(table, d) == domain]
    values = [ref.lookup(algorithm, d) for d in members]
    return _fmt(float(np.mean([v[0] for v in values]))) if all(values) else "–"


def _domain(table: ScoreTable, dataset_id: str) -> str:
    return next(r["domain"] for r in table.records if r["dataset_id"] == dataset_id)


def caption(table: ScoreTable, references: Sequence[Reference] = ()) -> str:
    """What the numbers are, with seed, episode and step counts and the published sources."""
    labels = sorted({r["score_label"] for r in table.records})
    which = {"last": "final evaluation", "best": "best evaluation (max over evaluations, per seed)"}
    counts = sorted({(len(r["seeds"]), r["eval_episodes"], r["steps"]) for r in table.records})
    runs = "; ".join(f"{s} seeds × {e} episodes per evaluation, {n:,} updates"
                     for s, e, n in counts)
    text = (f"{' / '.join(labels)} at the {which[table.score]}: mean ± std over seeds (95% "
            f"bootstrap CIs in the CSV). Aggregates over each column's datasets: IQM of all "
            f"datasets × seeds, mean and median of the per-dataset means"
            + (", optimality gap (100 - mean of min(score, 100) over all runs)"
               if "optimality_gap" in table.aggregate_names else "")
            + f", each with a 95% stratified-bootstrap CI (seeds resampled within each dataset, "
            f"{aggregate.NUM_BOOTSTRAP:,} resamples). Runs: {runs}.")
    diverged = [f"{r['name']} {r['diverged_seeds']}" for r in table.records if r["diverged_seeds"]]
    if diverged:
        text += (f" Diverged seeds (left out of the statistics): {'; '.join(diverged)}; a cell "
                 "marked (n/m seeds, k diverged) stands for n of its m seeds, one reading "
                 "'diverged (0/m seeds)' lost them all, and – means not run.")
    legacy = [r["name"] for r in table.records if results.is_legacy(r)]
    if legacy:
        text += (f" Records written before score digests, accepted unchecked, legacy (no score "
                 f"digest): {', '.join(legacy)} (python -m experiments.stamp_digests stamps them).")
    if references:
        text += (" Columns marked ours were measured here on the datasets of the rows; a "
                 "published number is shown on every row whose dataset stands for the task it "
                 "was published on, even when the data differ (e.g. the local suite's "
                 "regenerated datasets against D4RL's).")
    for ref in references:
        used = any(_published_columns(table, column, [ref]) for column in table.columns)
        text += (f" {ref.mark} Published ({ref.statistic}): {ref.name} ({ref.citation}), "
                 f"measured on {ref.data}; not run here." if used else
                 f" (Reference {ref.name}: no dataset of this table matches it.)")
    return text


def budget_warning(table: ScoreTable) -> str | None:
    """A line saying the runs trained for less than the papers' protocol, or ``None``."""
    notes = sorted({(r["steps"], results.budget_note(r["steps"])) for r in table.records
                    if results.budget_note(r["steps"])})
    if not notes:
        return None
    return (f"Short budget: {'; '.join(note for _, note in notes)} of the papers. These scores "
            "are far from converged and not comparable to published ones (algorithms that learn "
            "slowly rank low).")


def to_markdown(table: ScoreTable, references: Sequence[Reference] = ()) -> str:
    header, body = _layout(table, references)
    budget = budget_warning(table)
    lines = [*([f"**{budget}**", ""] if budget else []),
             f"**Scores ({table.score}).** {caption(table, references)}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def to_latex(table: ScoreTable, references: Sequence[Reference] = ()) -> str:
    header, body = _layout(table, references)
    def tex(text: str) -> str:
        for char in "\\&%$#_{}":
            text = text.replace(char, "\\" + char)
        return text.replace("±", "$\\pm$").replace("–", "--").replace("×", "$\\times$")
    text = caption(table, references)
    if budget_warning(table):
        text = f"{budget_warning(table)} {text}"
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{tex(text)}}}",
             f"\\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", "\\toprule",
             " & ".join(tex(h) for h in header) + " \\\\", "\\midrule"]
    split = len(table.rows)  # Aggregate rows after a rule.
    lines += [" & ".join(tex(cell) for cell in row) + " \\\\" for row in body[:split]]
    lines += ["\\midrule"] + [" & ".join(tex(cell) for cell in row) + " \\\\"
                               for row in body[split:]]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("score", "row", "column", "source", "mean", "std", "ci_low", "ci_high",
              "num_seeds", "num_episodes", "total_seeds", "num_diverged")


def to_csv(table: ScoreTable, references: Sequence[Reference] = ()) -> str:
    """Long format: one line per (row, column, source) with mean, std and 95% CI."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for _, label in table.rows:
        for column in table.columns:
            cell = table.cells.get((label, column))
            if cell is not None:
                writer.writerow({"score": table.score, "row": label, "column": column,
                                 "source": "this run", **{k: _csv_num(cell.get(k))
                                                          for k in CSV_FIELDS[4:]}})
    for column, values in table.aggregates.items():
        for name, (value, low, high) in values.items():
            writer.writerow({"score": table.score, "row": aggregate.LABELS[name],
                             "column": column, "source": "this run", "mean": _csv_num(value),
                             "ci_low": _csv_num(low), "ci_high": _csv_num(high)})
    for ref in references:
        for kind, label in table.rows:
            for algorithm in sorted({r["algorithm"] for r in table.records}):
                value = ref.lookup(algorithm, label) if kind == "dataset" else None
                if value is not None:
                    writer.writerow({"score": table.score, "row": label, "column": algorithm,
                                     "source": f"published: {ref.name} on {ref.data}",
                                     "mean": value[0], "std": _csv_num(value[1])})
    return out.getvalue()


def _csv_num(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    return value
