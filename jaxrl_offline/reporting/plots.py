"""Learning curves from run records: one PNG per dataset, mean and 95% bootstrap CI over seeds
(plus ``<dataset>_online.png`` fine-tuning curves for runs with online results).

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global backend
switch), so this works headless and inside other programs.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from jaxrl_offline.reporting import formatting, results


def _plot_curves(records: Sequence[dict], path: str | os.PathLike, curve, title: str,
                 xlabel: str) -> pathlib.Path:
    """One mean curve with its 95% bootstrap CI band per record (``curve(record) -> (steps,
    normalized_scores)``), ordered like the table columns, saved to ``path``."""
    records = sorted(records, key=lambda r: results.column_order(results.column_label(r)))
    figure, axes = new_axes()
    for record in records:
        steps, scores = curve(record)
        mean, low, high = results.curve_with_ci(scores)
        line, = axes.plot(np.asarray(steps), mean, marker="o", markersize=3,
                          label=f"{results.column_label(record)} ({results.seeds_text(record)})")
        axes.fill_between(np.asarray(steps), low, high, alpha=0.2, color=line.get_color(),
                          linewidth=0)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("normalized score" if records[0]["normalized"] else "return")
    return save_figure(figure, axes, path)


def new_axes():
    """``(figure, axes)`` of the project's 6 x 4 in, 120 dpi figures (Agg canvas, no display)."""
    return new_figure(figsize=(6.0, 4.0), dpi=120)


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float],
               dpi: float | None = None, **subplots_kwargs):
    """``(figure, axes)``: a grid of subplots on the Agg canvas (no pyplot, nothing to close);
    ``axes`` is what ``Figure.subplots`` returns for these arguments (``sharex``, ``squeeze``)."""
    figure = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, **subplots_kwargs)


def write_figure(figure, path: str | os.PathLike, dpi: float | None = None) -> pathlib.Path:
    """Lays ``figure`` out and writes it to ``path`` (folders created) at ``dpi`` (default: the
    figure's own)."""
    figure.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi="figure" if dpi is None else dpi)
    return path


def save_figure(figure, axes, path: str | os.PathLike) -> pathlib.Path:
    """Adds the grid and legend, lays out and writes ``path`` (folders created)."""
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return write_figure(figure, path)


def plot_dataset(records: Sequence[dict], path: str | os.PathLike) -> pathlib.Path:
    """Draws every record's curve (one per table column) for one dataset into ``path``."""
    return _plot_curves(records, path, lambda r: (r["eval_steps"], r["normalized_scores"]),
                        records[0]["dataset_id"], "updates")


def write_learning_curves(workdir: str | os.PathLike,
                          records: Sequence[dict] | None = None) -> list[pathlib.Path]:
    """``<workdir>/plots/<dataset>.png`` for each dataset with records; returns the paths."""
    records = results.load_records(workdir) if records is None else records
    by_dataset: dict[str, list[dict]] = {}
    for record in records:
        by_dataset.setdefault(record["dataset_id"], []).append(record)
    out_dir = pathlib.Path(workdir) / "plots"
    paths = [plot_dataset(group, out_dir / f"{formatting.file_slug(dataset)}.png")
             for dataset, group in sorted(by_dataset.items())]
    return paths + write_online_curves(workdir, records)


def plot_online_dataset(records: Sequence[dict], path: str | os.PathLike) -> pathlib.Path:
    """Fine-tuning curves of one dataset: normalized score against online env steps (mean and 95%
    bootstrap CI over seeds; env step 0 is the offline agent), one curve per table column."""
    return _plot_curves(
        records, path, lambda r: (r["online"]["env_steps"], r["online"]["normalized_scores"]),
        f"{records[0]['dataset_id']}: offline → online",
        "online env steps (after offline training)")


def write_online_curves(workdir: str | os.PathLike,
                        records: Sequence[dict] | None = None) -> list[pathlib.Path]:
    """``<workdir>/plots/<dataset>_online.png`` for each dataset with fine-tuning records."""
    records = results.load_records(workdir) if records is None else records
    by_dataset: dict[str, list[dict]] = {}
    for record in records:
        if "online" in record:
            by_dataset.setdefault(record["dataset_id"], []).append(record)
    out_dir = pathlib.Path(workdir) / "plots"
    return [plot_online_dataset(
        group, out_dir / f"{formatting.file_slug(dataset)}_online.png")
        for dataset, group in sorted(by_dataset.items())]
