"""Score tables from run records: markdown (printed), CSV (with CIs) and LaTeX in ``DIR/tables/``.

    python -m experiments.tables --workdir=workdir/default [--score=best] \
        [--reference=experiments/references/iql_paper_table1.json]

Rows are datasets grouped by domain (with a per-domain average row when a domain has several
datasets), columns are algorithms (``algo/variant`` for sweep variants); cells are mean ± std over
seeds of the ``last`` (final) or ``best`` (max over evaluations, per seed) score. The last row is
the IQM over all datasets × seeds with a 95% stratified-bootstrap CI. ``--reference`` adds
published numbers next to the matching algorithm, labeled with their source and the data they
were measured on (format in ``experiments/README.md``).
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import io
import json
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import app, flags, logging

from jaxrl_offline import results

MARKS = "†‡§¶"


@dataclasses.dataclass(frozen=True)
class Reference:
    """Published scores: ``scores[algorithm][dataset] = (mean, std or None)``."""

    name: str
    data: str
    citation: str
    statistic: str
    scores: dict[str, dict[str, tuple[float, float | None]]]
    match: dict[str, list[str]]
    mark: str = MARKS[0]

    def lookup(self, algorithm: str, dataset_id: str) -> tuple[float, float | None] | None:
        for dataset, value in self.scores.get(algorithm, {}).items():
            patterns = self.match.get(dataset, [f"*{dataset}*"])
            if any(fnmatch.fnmatch(dataset_id.lower(), p.lower()) for p in patterns):
                return value
        return None


def load_reference(path: str | pathlib.Path, mark: str = MARKS[0]) -> Reference:
    """Reads a reference JSON file (see ``experiments/references/``)."""
    try:
        raw = json.loads(pathlib.Path(path).read_text())
        scores = {algo: {dataset: _mean_std(value) for dataset, value in per_dataset.items()}
                  for algo, per_dataset in raw["scores"].items()}
        return Reference(name=raw["name"], data=raw["data"], citation=raw.get("citation", ""),
                         statistic=raw.get("statistic", "mean"), scores=scores,
                         match=raw.get("match", {}), mark=mark)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"reference file {path} is not valid ({type(err).__name__}: {err}); "
                         "see experiments/README.md for the format.") from None


def _mean_std(value: Any) -> tuple[float, float | None]:
    if isinstance(value, dict):
        return float(value["mean"]), (None if value.get("std") is None else float(value["std"]))
    return float(value), None


@dataclasses.dataclass
class ScoreTable:
    """The numbers of a table. ``cells[(row, column)]`` holds ``results.summarize`` dicts plus
    ``num_episodes``; rows are dataset ids and ``"<domain> average"``; the IQM row is apart."""

    score: str
    columns: list[str]
    rows: list[tuple[str, str]]  # (kind "dataset" | "average", label)
    cells: dict[tuple[str, str], dict]
    iqm: dict[str, tuple[float, float, float]]
    records: list[dict]


def score_table(records: Sequence[dict], score: str = "last") -> ScoreTable:
    """Per-dataset summaries, per-domain averages and IQMs of ``records``."""
    if score not in results.SCORES:
        raise ValueError(f"--score must be one of {results.SCORES}, got {score!r}")
    columns = sorted({results.column_label(r) for r in records}, key=results.column_order)
    cells, per_seed, domains = {}, {}, {}
    for record in records:
        key = (record["dataset_id"], results.column_label(record))
        if key in cells:
            raise ValueError(f"two records for {key}: remove one from runs/")
        per_seed[key] = results.per_seed_scores(record["normalized_scores"], score)
        cells[key] = {**results.summarize(per_seed[key]), "num_episodes": record["eval_episodes"]}
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
    iqm = {column: results.iqm_with_ci([v for (d, c), v in per_seed.items() if c == column])
           for column in columns}
    return ScoreTable(score, columns, rows, cells, iqm, list(records))


def _fmt(mean: float | None, std: float | None = None) -> str:
    if mean is None or not np.isfinite(mean):
        return "–"
    return f"{mean:.1f}" if std is None or not np.isfinite(std) else f"{mean:.1f} ± {std:.1f}"


def _published_columns(table: ScoreTable, column: str,
                       references: Sequence[Reference]) -> list[Reference]:
    """The references with a number for ``column``'s algorithm on some dataset of the table."""
    if "/" in column:  # Sweep variants have no published counterpart.
        return []
    datasets = [label for kind, label in table.rows if kind == "dataset"]
    return [ref for ref in references if any(ref.lookup(column, d) for d in datasets)]


def _layout(table: ScoreTable, references: Sequence[Reference]) -> tuple[list[str], list[list]]:
    """Header and body of the table as text cells, published columns next to their algorithm."""
    header, getters = ["dataset"], []
    for column in table.columns:
        header.append(column)
        getters.append(lambda row, c=column: _fmt(table.cells.get((row, c), {}).get("mean"),
                                                  table.cells.get((row, c), {}).get("std")))
        for ref in _published_columns(table, column, references):
            header.append(f"{column} (published{ref.mark})")
            getters.append(lambda row, c=column, r=ref: _published(table, r, c, row))
    body = [[label, *(get(label) for get in getters)] for _, label in table.rows]
    iqm_row = ["IQM [95% CI]"]
    for column in table.columns:
        value, low, high = table.iqm[column]
        iqm_row.append(f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]")
        iqm_row += ["–"] * len(_published_columns(table, column, references))
    return header, body + [iqm_row]


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
            f"bootstrap CIs in the CSV). IQM: interquartile mean over all datasets × seeds with a "
            f"95% stratified-bootstrap CI. Runs: {runs}.")
    diverged = [f"{r['name']} {r['diverged_seeds']}" for r in table.records if r["diverged_seeds"]]
    if diverged:
        text += f" Diverged seeds (left out of the statistics): {'; '.join(diverged)}."
    for ref in references:
        used = any(_published_columns(table, column, [ref]) for column in table.columns)
        text += (f" {ref.mark} Published ({ref.statistic}): {ref.name} ({ref.citation}), "
                 f"measured on {ref.data}; not run here." if used else
                 f" (Reference {ref.name}: no dataset of this table matches it.)")
    return text


def to_markdown(table: ScoreTable, references: Sequence[Reference] = ()) -> str:
    header, body = _layout(table, references)
    lines = [f"**Scores ({table.score}).** {caption(table, references)}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def to_latex(table: ScoreTable, references: Sequence[Reference] = ()) -> str:
    header, body = _layout(table, references)
    def tex(text: str) -> str:
        for char in "\\&%$#_{}":
            text = text.replace(char, "\\" + char)
        return text.replace("±", "$\\pm$").replace("–", "--").replace("×", "$\\times$")
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{tex(caption(table, references))}}}",
             f"\\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", "\\toprule",
             " & ".join(tex(h) for h in header) + " \\\\", "\\midrule"]
    lines += [" & ".join(tex(cell) for cell in row) + " \\\\" for row in body[:-1]]
    lines += ["\\midrule", " & ".join(tex(cell) for cell in body[-1]) + " \\\\", "\\bottomrule",
              "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("score", "row", "column", "source", "mean", "std", "ci_low", "ci_high",
              "num_seeds", "num_episodes")


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
    for column, (value, low, high) in table.iqm.items():
        writer.writerow({"score": table.score, "row": "IQM", "column": column,
                         "source": "this run", "mean": _csv_num(value), "ci_low": _csv_num(low),
                         "ci_high": _csv_num(high)})
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


def write_tables(workdir: str | pathlib.Path, score: str = "last",
                 reference_files: Sequence[str] = ()) -> str:
    """Writes ``tables/scores_<score>.{md,csv,tex}`` under ``workdir``; returns the markdown."""
    records = results.load_records(workdir)
    if not records:
        raise ValueError(f"no run records in {pathlib.Path(workdir) / 'runs'}")
    references = [load_reference(path, MARKS[i % len(MARKS)])
                  for i, path in enumerate(reference_files)]
    table = score_table(records, score)
    out_dir = pathlib.Path(workdir) / "tables"
    markdown = to_markdown(table, references)
    for suffix, text in (("md", markdown), ("csv", to_csv(table, references)),
                         ("tex", to_latex(table, references))):
        results.dump_text(out_dir / f"scores_{score}.{suffix}", text)
    return markdown


FLAGS = flags.FLAGS


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if not FLAGS["verbosity"].present:  # JAX logs backend probing at INFO.
        logging.set_verbosity(logging.WARNING)
    try:
        print(write_tables(FLAGS.workdir, FLAGS.score, FLAGS.reference or ()))
    except (ValueError, results.RecordError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"Tables written to {pathlib.Path(FLAGS.workdir) / 'tables'}/")


if __name__ == "__main__":
    flags.DEFINE_string("workdir", None, "Folder holding runs/ (records).", required=True)
    flags.DEFINE_enum("score", "last", results.SCORES, "last: final evaluation; best: max over "
                      "evaluations per seed.")
    flags.DEFINE_multi_string("reference", None, "Published-scores JSON file(s) to show beside "
                              "ours (e.g. experiments/references/iql_paper_table1.json).")
    app.run(main)
