"""Grid runs: the points of a hyperparameter grid (``--grid``) trained as one program.

``experiments/sweep.py`` plans one ``RunSpec`` per grid point (its own config, variant
``alpha=2.5`` and record ``<algo>-alpha=2.5__<dataset>.json``, exactly those of a plain run of
that config). :func:`run_grid` trains a grid's points together: :class:`GridSpec` is the
combined run (name ``<algo>-grid-alpha=1_2.5_5__<dataset>``: its checkpoints and partial record),
whose members are the (point, seed) pairs (``jaxrl_offline.runner.grid``), trained, evaluated,
checkpointed and resumed by ``experiment.train_run`` like the seeds of a plain run; at the end
the combined record is split into one record per point.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence

from jaxrl_offline.reporting import results
from jaxrl_offline.runner import distributed, experiment, grid
from jaxrl_offline.runner.experiment import RunSpec

# Everything but these must be equal across a grid's points.
_POINT_FIELDS = ("config", "overrides", "variant")


@dataclasses.dataclass(frozen=True)
class GridSpec(RunSpec):
    """The combined run of a grid's ``points`` (``RunSpec`` s differing only in the gridded
    fields' values); ``config`` is point 0's, the members' values travel in their states."""

    points: tuple[RunSpec, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self.points[0].grid_fields

    @property
    def spec_hash(self) -> str:
        """Hash of the points' hashes (guards the grid's checkpoints)."""
        text = " ".join(point.spec_hash for point in self.points)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def grid_spec(points: Sequence[RunSpec]) -> GridSpec:
    """The combined run of ``points``; ``ValueError`` unless they form one grid."""
    first = points[0]
    if not first.grid_fields or first.online_steps:
        raise ValueError(f"{first.name} is not a grid point of an offline run")
    shared = {f.name: getattr(first, f.name) for f in dataclasses.fields(RunSpec)
              if f.name not in _POINT_FIELDS}
    for point in points[1:]:
        differing = [name for name, value in shared.items() if getattr(point, name) != value]
        if differing:
            raise ValueError(f"grid points {first.name} and {point.name} differ in {differing}")
    values = "-".join(
        f"{name}=" + "_".join(dict.fromkeys(f"{getattr(p.config, name):g}" for p in points))
        for name in first.grid_fields)
    base = first.variant.removesuffix(grid.variant_label("", _point(first)))
    variant = f"{base}grid-{values}" if base else f"grid-{values}"
    return GridSpec(**shared, config=first.config, variant=variant, points=tuple(points))


def _point(spec: RunSpec) -> dict[str, float]:
    return {name: getattr(spec.config, name) for name in spec.grid_fields}


def run_grid(points: Sequence[RunSpec], workdir: str | os.PathLike, *, overwrite: bool = False,
             progress: bool = True, command: str | None = None,
             log: Callable[[str], None] = print, on_chunk: Callable[[int], None] | None = None,
             log_to: tuple[str, ...] = ()) -> list[dict]:
    """Runs (or skips, or resumes) a grid's points as one program; returns their records.

    Arguments as ``experiment.run_experiment``. The grid is skipped when every point has a
    finished record; otherwise all its points train (together) and every point's record is
    written. ``overwrite`` removes every point's record and the grid's checkpoints first. Live
    tracking (``log_to``) is not available for grids and is switched off with a note.
    """
    spec = grid_spec(points)
    if overwrite:
        for run in (*points, spec):
            experiment.remove_run(run, workdir)
    done = [experiment.finished_record(point, workdir, log) for point in points]
    if all(record is not None for record in done):
        log(f"{spec.name}: every grid point already finished, skipped; --redo=<a point's name> "
            "redoes the grid.")
        return done
    if progress:
        log(f"{spec.name}: {len(points)} grid points x {len(spec.seeds)} seeds = "
            f"{len(points) * len(spec.seeds)} members, trained in one program.")
    if log_to:
        log(f"{spec.name}: live tracking (--log_to) is not available for grid runs; off.")
    return experiment.train_run(spec, workdir, _setup, finish=_write_points, progress=progress,
                                command=command, log=log, on_chunk=on_chunk)


def _setup(spec: GridSpec, algo, dataset):
    """``experiment.train_run``'s members of a grid: (point, seed) pairs, point-major."""
    grid.check_gridable(algo, spec.config, spec.fields, dataset)
    layout = grid.make_grid_layout(spec.seeds, len(spec.points))
    per_point = grid.grid_values([point.config for point in spec.points], spec.fields)
    values = grid.member_values(per_point, len(spec.seeds), len(layout.padded_seeds))
    states = grid.init_grid_states(algo, spec.config, values, layout, dataset)
    fields = {"members": list(range(len(layout.seeds))),
              "grid": {"fields": list(spec.fields), "run": spec.name}}
    return grid.GriddedAlgorithm(algo), layout, states, fields


def _write_points(spec: GridSpec, workdir, record: dict, log) -> list[dict]:
    """Splits the combined record into one finished record per point and writes them."""
    num_seeds, written = len(spec.seeds), []
    for index, point in enumerate(spec.points):
        first = index * num_seeds
        members = slice(first, first + num_seeds)
        own = {key: value for key, value in record.items() if key != "members"}
        own.update(
            name=point.name, variant=point.variant, spec_hash=point.spec_hash,
            config=experiment.config_to_json(point.config),
            overrides=experiment.config_to_json(point.overrides),
            grid={**record["grid"], "point": _point(point)},
            normalized_scores=[row[members] for row in record["normalized_scores"]],
            returns=record["returns"][members],
            train_metrics={name: values if name == "steps" else [row[members] for row in values]
                           for name, values in record["train_metrics"].items()},
            diverged_at_step={str(spec.seeds[int(member) - first]): step
                              for member, step in record["diverged_at_step"].items()
                              if first <= int(member) < first + num_seeds})
        own = experiment.finish_record(own)
        if distributed.is_primary():
            results.write_record(experiment.record_path(workdir, point), own)
        log(experiment.summary_line(own))
        written.append(own)
    return written
