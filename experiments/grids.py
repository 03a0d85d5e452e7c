"""Hyperparameter grids in sweeps: ``--grid.<field>=v1,v2,...`` and a sweep file's ``grid``.

A grid names float ``Config`` fields and their values (``{"alpha": [1, 2.5, 5]}``, or per
algorithm ``{"td3_bc": {"alpha": [1, 2.5, 5]}}``, spelled like ``config``). Each (variant,
algorithm, dataset) run then becomes one run per grid point (the cartesian product of the
fields' values), with variant ``alpha=2.5`` (``<variant>-alpha=2.5`` within a sweep variant) and
its own record and table column, and the grid's points train together in one compiled program
(``jaxrl_offline.runner.grid_run``). The ``grid`` layer comes last in the config's provenance, so a
gridded field ignores the other layers' value of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from jaxrl_offline.runner import grid
from jaxrl_offline.algorithms import get_algorithm


def merge(from_sweep: Mapping[str, Mapping[str, Any]],
          from_command_line: Mapping[str, Mapping[str, Any]],
          online_steps: int) -> dict[str, dict[str, tuple]]:
    """``{algo: {field: values}}`` of the sweep file's grid and ``--grid`` (which wins per
    field), checked: lists of distinct numbers on float fields, offline runs only."""
    merged = {}
    for algo in from_sweep:
        fields = {**from_sweep[algo], **from_command_line.get(algo, {})}
        merged[algo] = {name: _values(name, value) for name, value in fields.items()}
        if merged[algo]:
            grid.check_field_types(algo, get_algorithm(algo).Config, list(merged[algo]))
        if merged[algo] and online_steps:
            raise ValueError("--grid: grids train offline only; drop --online_steps or the grid "
                             "(fine-tune the selected grid point as a plain run).")
    return merged


def _values(name: str, value: Any) -> tuple:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not values or not numbers:
        raise ValueError(f"--grid.{name}={value!r}: a grid is a list of numbers, e.g. "
                         f"--grid.{name}=1,2.5,5 (in a sweep file grid={{{name!r}: [1, 2.5, 5]}}).")
    if len(set(values)) != len(values):
        raise ValueError(f"--grid.{name}={value!r} repeats a value; each point must differ.")
    return values


def points(fields: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """The grid's points, ``[{field: value}]`` (one empty point without a grid)."""
    names = list(fields)
    return [dict(zip(names, combination))
            for combination in itertools.product(*(fields[name] for name in names))]


def variant(base: str, config: Any, point: Mapping[str, Any]) -> str:
    """A point's variant from its built config's values (``base`` alone without a grid)."""
    if not point:
        return base
    return grid.variant_label(base, {name: getattr(config, name) for name in point})


def group_runs(runs: Sequence) -> list[list[tuple[int, Any]]]:
    """``[(index, run)]`` groups: the consecutive points of one grid, or a single plain run."""
    groups: list[list[tuple[int, Any]]] = []
    for index, run in enumerate(runs):
        if run.grid_fields and groups and _grid_of(groups[-1][-1][1]) == _grid_of(run):
            groups[-1].append((index, run))
        else:
            groups.append([(index, run)])
    return groups


def _grid_of(run) -> tuple | None:
    if not run.grid_fields:
        return None
    point = {name: getattr(run.config, name) for name in run.grid_fields}
    base = run.variant.removesuffix(grid.variant_label("", point))
    return run.algorithm, run.dataset, run.grid_fields, base
