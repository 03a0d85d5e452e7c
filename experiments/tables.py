"""Score tables from run records: markdown (printed), CSV (with CIs) and LaTeX in ``DIR/tables/``.

    python -m experiments.tables --workdir=workdir/default [--score=best] \
        [--reference=iql_paper_table1 --reference=corl_last]
    python -m experiments.tables --sweep=iql_table1     # the sweep's workdir and published tables
    python -m experiments.tables --workdir='workdir/task_*' --out=workdir/merged  # merged tasks

Rows are datasets grouped by domain (with a per-domain average row when a domain has several
datasets), columns are algorithms (``algo/variant`` for sweep variants); cells are mean ± std over
seeds of the ``last`` (final) or ``best`` (max over evaluations, per seed) score. The last rows
aggregate over datasets (``jaxrl_offline.reporting.aggregate``): IQM, mean, median and optimality
gap, each with a 95% stratified-bootstrap CI. ``--reference`` (a file, or the name of one in
``experiments/published_tables/``) adds published numbers next to the matching algorithm; a
published task (``hopper-medium-v2``) matches every dataset id standing for it
(``experiments.tasks``), and both our columns and the published ones are labeled with the data
they were measured on. Hyperparameter-grid points (``--grid``) are columns of their own
(``td3_bc/alpha=2.5``); a workdir with grid records also gets ``tables/grid_best_<score>.md``
(``experiments/grid_tables.py``), the best point per dataset, labelled as selected on evaluation
scores.

Several ``--workdir`` flags, or glob patterns, merge the records of several workdirs (e.g. the
tasks of a sweep split over machines with ``--task_index``/``--num_tasks``) into one table, written
under ``--out``; a run found in two workdirs must have the same settings and scores there.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import app, flags, logging

from jaxrl_offline.reporting import aggregate, plots, results
from jaxrl_offline.reporting.formatting import significant

from experiments import grid_tables, online_tables, sweep as sweep_lib, tasks
# Published scores live in experiments.published; re-exported here for the table API.
from experiments.published import (MARKS, PUBLISHED_DIR, Reference,  # noqa: F401
                                   load_reference, resolve_reference)

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


_steps_text = results.updates_text


def ours_label(table: ScoreTable, column: str) -> str:
    """What our column was measured on: data source(s) and update count(s)."""
    records = [r for r in table.records if results.column_label(r) == column]
    sources = sorted({tasks.SOURCE_LABELS[tasks.source_of(r["dataset_id"])] for r in records})
    steps = sorted({r["steps"] for r in records})
    return f"{', '.join(sources)}, {'/'.join(_steps_text(n) for n in steps)} updates"


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


def write_tables(workdir: str | pathlib.Path, score: str = "last",
                 reference_files: Sequence[str] = (), records: Sequence[dict] | None = None) -> str:
    """Writes ``tables/scores_<score>.{md,csv,tex}`` under ``workdir`` from its records (or from
    ``records``, e.g. :func:`merge_records`); returns the markdown."""
    records = results.load_records(workdir) if records is None else records
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
    best = grid_tables.write_best_table(workdir, records, score)  # Grid records only.
    return markdown if best is None else f"{markdown}\n{best}"


def write_reports(workdir: str, score: str = "last") -> str:
    """Score tables, offline -> online tables (if records have them) and learning curves of a
    workdir (after ``sweep.run_all``); returns the markdown of the tables."""
    markdown = write_tables(workdir, score=score)
    online_markdown = online_tables.write_online_tables(workdir)
    plots.write_learning_curves(workdir)
    return f"{markdown}\n{online_markdown}" if online_markdown else markdown


def sweep_tables(sweep: str) -> tuple[str, tuple[str, ...]]:
    """The workdir of a sweep file and the published tables it names (``PUBLISHED``)."""
    import importlib.util

    path = sweep_lib.sweep_path(sweep)
    module_spec = importlib.util.spec_from_file_location(f"_sweep_tables_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return (sweep_lib.load_sweep(sweep)["workdir"], tuple(getattr(module, "PUBLISHED", ())))


FLAGS = flags.FLAGS


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if not FLAGS["verbosity"].present:  # JAX logs backend probing at INFO.
        logging.set_verbosity(logging.WARNING)
    try:
        workdirs, references = expand_workdirs(FLAGS.workdir or ()), tuple(FLAGS.reference or ())
        if FLAGS.sweep:
            sweep_workdir, published = sweep_tables(FLAGS.sweep)
            workdirs = workdirs or [pathlib.Path(sweep_workdir)]
            references = published + tuple(r for r in references if r not in published)
        if not workdirs:
            raise ValueError("give --workdir (or --sweep)")
        if len(workdirs) == 1 and FLAGS.out is None:
            workdir, records = workdirs[0], None
        else:
            workdir, records = pathlib.Path(FLAGS.out or "workdir/merged"), merge_records(workdirs)
            print(f"{len(records)} runs from {len(workdirs)} workdirs: "
                  f"{', '.join(map(str, workdirs))}")
        print(write_tables(workdir, FLAGS.score, references, records))
        # If records have online phases.
        print(online_tables.write_online_tables(workdir, records))
    except (ValueError, results.RecordError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"Tables written to {pathlib.Path(workdir) / 'tables'}/")


if __name__ == "__main__":
    flags.DEFINE_multi_string("workdir", None, "Folder holding runs/ (records), or a quoted "
                              "glob; repeat it to merge several workdirs into one table. "
                              "Default with --sweep: the sweep's.")
    flags.DEFINE_string("out", None, "Where the tables of merged workdirs go (<out>/tables/); "
                        "default workdir/merged.")
    flags.DEFINE_string("sweep", None, "Sweep file or name (experiments/sweeps/): its workdir "
                        "and the published tables it names (PUBLISHED).")
    flags.DEFINE_enum("score", "last", results.SCORES, "last: final evaluation; best: max over "
                      "evaluations per seed.")
    flags.DEFINE_multi_string("reference", None, "Published-scores JSON file(s) or names in "
                              "experiments/published_tables/ (e.g. iql_paper_table1) to show "
                              "beside ours.")
    app.run(main)
