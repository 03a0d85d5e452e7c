"""Per-dataset hyperparameters: the papers' settings per domain, in one declarative table.

Every run looks itself up here (``table_layers``): each :class:`Override` whose ``algorithm``
matches and whose ``pattern`` (a regular expression, searched case-insensitively in the dataset
spec) matches contributes its ``values``, later rows winning. The layers applied are written into
the run record under ``overrides`` (keyed ``"table: <source>"``), before the sweep file and the
command line, which override them. Dataset *transforms* (reward scaling, observation
normalization) are not here: they live in ``jaxrl_offline/transforms.py``.

``DERIVED`` lists config fields computed from the run instead of set by hand: IQL's actor
cosine schedule spans the run's ``--steps`` unless a layer sets ``cosine_decay_steps`` itself.
Sources: spec ``algorithms.md`` §2.3 (IQL ``configs/*.py``) and §2.4 (CORL CQL configs).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

ANTMAZE = r"ant[-_]?maze"
KITCHEN = r"kitchen"
ADROIT = r"adroit|(^|[^a-z])(door|hammer|pen|relocate)([^a-z]|$)"


@dataclasses.dataclass(frozen=True)
class Override:
    """One row: ``values`` for ``algorithm`` on datasets matching ``pattern`` (from ``source``)."""

    algorithm: str
    pattern: str
    values: Mapping[str, Any]
    source: str


OVERRIDES: tuple[Override, ...] = (
    Override("iql", ANTMAZE, {"expectile": 0.9, "temperature": 10.0},
             "IQL configs/antmaze_config.py"),
    Override("iql", KITCHEN, {"expectile": 0.7, "temperature": 0.5, "dropout_rate": 0.1},
             "IQL configs/kitchen_config.py"),
    Override("iql", ADROIT, {"expectile": 0.7, "temperature": 0.5, "dropout_rate": 0.1},
             "IQL configs/adroit_config.py"),
    Override("cql", ANTMAZE, {"actor_lr": 1e-4, "cql_alpha": 5.0, "lagrange": True,
                              "target_action_gap": 0.8, "max_target_backup": True,
                              "cql_clip_diff_min": -200.0, "critic_hidden_dims": (256,) * 5},
             "CORL configs/offline/cql/antmaze"),
    Override("cql", ADROIT, {"actor_lr": 1e-4, "cql_alpha": 1.0},
             "CORL configs/offline/cql/adroit"),
)

# Config field -> the run setting (``experiments.sweep.SweepSettings`` attribute) it follows.
DERIVED: Mapping[str, str] = {"cosine_decay_steps": "steps"}


def table_layers(algorithm: str, dataset: str) -> list[tuple[str, dict[str, Any]]]:
    """``[("table: <source>", values), ...]`` of the rows matching this run, in table order."""
    return [(f"table: {row.source}", dict(row.values)) for row in OVERRIDES
            if row.algorithm == algorithm and re.search(row.pattern, dataset, re.IGNORECASE)]
