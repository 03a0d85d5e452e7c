"""Plots from run records: ``python -m experiments.plots --workdir=DIR [--score=last]``.

Writes ``DIR/plots/<dataset>.png`` (learning curves: mean and 95% bootstrap CI over seeds per
evaluation, one curve per algorithm; the runner does the same at the end of every sweep) and
``DIR/plots/performance_profile_<score>.png``: for every threshold tau, the fraction of runs
scoring above tau (averaged over datasets, so each dataset weighs the same) with a 95%
stratified-bootstrap band (``jaxrl_offline.reporting.aggregate``; rliable's performance profile).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np
from absl import app, flags, logging

from jaxrl_offline.reporting import aggregate, plots, results


def profile_groups(records: Sequence[dict], score: str) -> dict[str, list[np.ndarray]]:
    """``{column: [per-seed scores of each dataset]}`` in registry column order."""
    groups: dict[str, list[np.ndarray]] = {}
    for record in records:
        groups.setdefault(results.column_label(record), []).append(
            results.per_seed_scores(record["normalized_scores"], score))
    return dict(sorted(groups.items(), key=lambda item: results.column_order(item[0])))


def plot_performance_profile(records: Sequence[dict], path: str | os.PathLike,
                             score: str = "last", num_taus: int = 101) -> pathlib.Path:
    """One profile curve per table column, with its 95% stratified-bootstrap band."""
    groups = profile_groups(records, score)
    finite = np.concatenate([np.ravel(g) for gs in groups.values() for g in gs])
    finite = finite[np.isfinite(finite)]
    normalized = all(record["normalized"] for record in records)
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = max(100.0 if normalized else 0.0, float(finite.max())) if finite.size else 100.0
    taus = np.linspace(low, high, num_taus)
    figure, axes = plots.new_axes()
    num_datasets = len({record["dataset_id"] for record in records})
    for column, column_groups in groups.items():
        profile, band_low, band_high = aggregate.performance_profile_with_ci(column_groups, taus)
        plural = "s" if len(column_groups) > 1 else ""
        line, = axes.plot(taus, profile, label=f"{column} ({len(column_groups)} dataset{plural})")
        axes.fill_between(taus, band_low, band_high, alpha=0.2, color=line.get_color(),
                          linewidth=0)
    label = "normalized score" if normalized else "return"
    axes.set_xlabel(f"{label} threshold τ ({score} evaluation)")
    axes.set_ylabel(f"fraction of runs with {label} > τ")
    axes.set_title(f"Performance profile over {num_datasets} dataset(s)", fontsize=10)
    axes.set_ylim(-0.02, 1.02)
    return plots.save_figure(figure, axes, path)


def write_plots(workdir: str | os.PathLike, score: str = "last") -> list[pathlib.Path]:
    """Learning curves and the performance profile of every record under ``workdir/runs``."""
    records = results.load_records(workdir)
    if not records:
        raise ValueError(f"no run records in {pathlib.Path(workdir) / 'runs'}")
    paths = plots.write_learning_curves(workdir, records)
    profile = pathlib.Path(workdir) / "plots" / f"performance_profile_{score}.png"
    return paths + [plot_performance_profile(records, profile, score)]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:  # JAX logs backend probing at INFO.
        logging.set_verbosity(logging.WARNING)
    try:
        paths = write_plots(flags.FLAGS.workdir, flags.FLAGS.score)
    except (ValueError, results.RecordError) as err:
        raise SystemExit(f"error: {err}") from None
    print("\n".join(str(path) for path in paths))


if __name__ == "__main__":
    flags.DEFINE_string("workdir", None, "Folder holding runs/ (records).", required=True)
    flags.DEFINE_enum("score", "last", results.SCORES, "Score of the performance profile.")
    app.run(main)
