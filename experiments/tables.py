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

This module writes the files and is the command line; the numbers come from
``experiments/table_data.py`` (records to a :class:`ScoreTable`, merged workdirs) and the text
from ``experiments/table_render.py`` (markdown, LaTeX, CSV, captions). Their public names are
importable from here too.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from absl import app, flags, logging

from jaxrl_offline.reporting import plots, results

from experiments import grid_tables, online_tables, sweep_settings
# Published scores live in experiments.published, the table's numbers in experiments.table_data
# and its text in experiments.table_render; re-exported here for the table API.
from experiments.published import (MARKS, PUBLISHED_DIR, Reference,  # noqa: F401
                                   load_reference, resolve_reference)
from experiments.table_data import (OPTIMALITY_TARGET, ScoreTable,  # noqa: F401
                                    expand_workdirs, merge_records, score_table)
from experiments.table_render import (_fmt, budget_warning, caption,  # noqa: F401
                                      ours_label, to_csv, to_latex, to_markdown)


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
    published = getattr(sweep_settings.sweep_module(sweep), "PUBLISHED", ())
    return sweep_settings.load_sweep(sweep)["workdir"], tuple(published)


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
