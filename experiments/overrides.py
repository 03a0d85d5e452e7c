"""Per-dataset hyperparameters: the papers' settings per domain, in one declarative table.

Every run looks itself up here (``table_layers``): each :class:`Override` whose ``algorithm``
matches and whose dataset condition holds contributes its ``values``, later rows winning. A
condition is a domain ``pattern`` (a regular expression, searched case-insensitively in the spec
text), a D4RL ``task`` (``hopper-medium``) or a ``level`` (``medium-replay``) of the parsed spec
(``jaxrl_offline.datasets.dataset_spec``: its task or any mixture part's, in every spelling of the
data: the local suite at any size, Minari, D4RL files). The layers applied are written into
the run record under ``overrides`` (keyed ``"table: <source>"``), before the sweep file and the
command line, which override them. Dataset *transforms* (reward scaling, observation
normalization) are not here: they live in ``jaxrl_offline/datasets/transforms.py``.

``DERIVED`` lists config fields computed from the run instead of set by hand: IQL's and IDQL's
actor cosine schedule spans the run's ``--steps`` unless a layer sets ``cosine_decay_steps``
itself, and so do SfBC's planning phases (``total_steps``).
Sources: spec ``algorithms.md`` §2.3 (IQL ``configs/*.py``) and §2.4 (CORL CQL configs); ReBRAC
from CORL's ``configs/offline/rebrac/*`` (read directly; not in the spec).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from jaxrl_offline.datasets import dataset_spec
from jaxrl_offline.datasets.dataset_spec import DatasetSpec

ANTMAZE = r"ant[-_]?maze"
KITCHEN = r"kitchen"
ADROIT = r"adroit|(^|[^a-z])(door|hammer|pen|relocate)([^a-z]|$)"
MAZE2D = r"maze2d|point[-_]?maze"


@dataclasses.dataclass(frozen=True)
class Override:
    """One row: ``values`` for ``algorithm`` on the datasets it names (from ``source``).

    Attributes:
      algorithm: registry name.
      pattern: regular expression searched case-insensitively in the spec text ("" = any).
      values: config fields and values.
      source: where the values come from (recorded in the run's ``overrides``).
      task: D4RL task (``hopper-medium``) that the spec, or a part of a mixture, stands for.
      level: D4RL level (``random``, ``medium-replay``) of that task.
    """

    algorithm: str
    pattern: str
    values: Mapping[str, Any]
    source: str
    task: str = ""
    level: str = ""

    def matches(self, spec: DatasetSpec) -> bool:
        """Whether this row applies to the parsed dataset ``spec``."""
        return ((not self.pattern or re.search(self.pattern, str(spec), re.IGNORECASE) is not None)
                and (not self.task or self.task in spec.tasks)
                and (not self.level or self.level in spec.levels))


OVERRIDES: tuple[Override, ...] = (
    Override("iql", ANTMAZE, {"expectile": 0.9, "awr_temperature": 10.0},
             "IQL configs/antmaze_config.py"),
    Override("iql", KITCHEN, {"expectile": 0.7, "awr_temperature": 0.5, "dropout_rate": 0.1},
             "IQL configs/kitchen_config.py"),
    Override("iql", ADROIT, {"expectile": 0.7, "awr_temperature": 0.5, "dropout_rate": 0.1},
             "IQL configs/adroit_config.py"),
    Override("cql", ANTMAZE, {"actor_lr": 1e-4, "cql_alpha": 5.0, "lagrange": True,
                              "target_action_gap": 0.8, "max_target_backup": True,
                              "cql_clip_diff_min": -200.0, "critic_hidden_dims": (256,) * 5},
             "CORL configs/offline/cql/antmaze"),
    Override("cql", ADROIT, {"actor_lr": 1e-4, "cql_alpha": 1.0},
             "CORL configs/offline/cql/adroit"),
    Override("rebrac", ANTMAZE, {"actor_lr": 3e-4, "critic_lr": 5e-5, "batch_size": 256,
                                 "discount": 0.999}, "CORL configs/offline/rebrac/antmaze/*"),
    Override("rebrac", ADROIT, {"actor_lr": 3e-4, "critic_lr": 3e-4, "batch_size": 256},
             "CORL configs/offline/rebrac/{pen,door,hammer,relocate}/*"),
    Override("rebrac", MAZE2D, {"actor_lr": 3e-4, "critic_lr": 3e-4, "batch_size": 256,
                                "actor_bc_coef": 0.003, "critic_bc_coef": 0.001},
             "CORL configs/offline/rebrac/maze2d/*"),
)


# ReBRAC's per-dataset (beta_actor, beta_critic), the paper's tuned values as shipped in CORL's
# configs/offline/rebrac/<env>/<level>_v*.yaml (D4RL v2 locomotion and AntMaze, Adroit v1).
REBRAC_BC_COEFS: Mapping[tuple[str, str], tuple[float, float]] = {
    ("halfcheetah", "random"): (0.001, 0.1), ("halfcheetah", "medium"): (0.001, 0.01),
    ("halfcheetah", "expert"): (0.01, 0.01), ("halfcheetah", "medium-expert"): (0.01, 0.1),
    ("halfcheetah", "medium-replay"): (0.01, 0.001), ("halfcheetah", "full-replay"): (0.001, 0.1),
    ("hopper", "random"): (0.001, 0.01), ("hopper", "medium"): (0.01, 0.01),
    ("hopper", "expert"): (0.1, 0.1), ("hopper", "medium-expert"): (0.1, 0.01),
    ("hopper", "medium-replay"): (0.05, 0.5), ("hopper", "full-replay"): (0.01, 0.01),
    ("walker2d", "random"): (0.01, 0.0), ("walker2d", "medium"): (0.05, 0.1),
    ("walker2d", "expert"): (0.01, 0.5), ("walker2d", "medium-expert"): (0.01, 0.01),
    ("walker2d", "medium-replay"): (0.05, 0.01), ("walker2d", "full-replay"): (0.01, 0.01),
    ("antmaze", "umaze"): (0.003, 0.002), ("antmaze", "umaze-diverse"): (0.003, 0.001),
    ("antmaze", "medium-play"): (0.001, 0.0005), ("antmaze", "medium-diverse"): (0.001, 0.0),
    ("antmaze", "large-play"): (0.002, 0.001), ("antmaze", "large-diverse"): (0.002, 0.002),
    ("pen", "human"): (0.1, 0.5), ("pen", "cloned"): (0.05, 0.5), ("pen", "expert"): (0.01, 0.01),
    ("door", "human"): (0.1, 0.1), ("door", "cloned"): (0.01, 0.1),
    ("door", "expert"): (0.05, 0.01),
    ("hammer", "human"): (0.01, 0.5), ("hammer", "cloned"): (0.1, 0.5),
    ("hammer", "expert"): (0.01, 0.01), ("relocate", "human"): (0.1, 0.01),
    ("relocate", "cloned"): (0.1, 0.01), ("relocate", "expert"): (0.05, 0.01),
}
OVERRIDES += tuple(
    Override("rebrac", "", {"actor_bc_coef": actor_coef, "critic_bc_coef": critic_coef},
             f"CORL configs/offline/rebrac/{env}/{level.replace('-', '_')}",
             task=f"{env}-{level}")
    for (env, level), (actor_coef, critic_coef) in REBRAC_BC_COEFS.items()
)

# IDQL (spec §6.4: launcher expectile 0.9 AntMaze, 0.7 otherwise) and SfBC (spec §4.3-4.4, 4.6:
# n = 1 pick outside locomotion, K = 4 AntMaze umaze(-diverse) and 5 other AntMazes, 512-256-256
# critic on AntMaze large).
OVERRIDES += (
    Override("idql", ANTMAZE, {"expectile": 0.9}, "IDQL launcher train_ddpm_iql_offline.py"),
    Override("sfbc", ANTMAZE, {"num_selected": 1, "planning_iterations": 5},
             "SfBC paper App. B.1 (K) and Sec. 4 (top-4 averaging on locomotion only)"),
    Override("sfbc", ANTMAZE + r".*umaze", {"planning_iterations": 4}, "SfBC paper App. B.1"),
    Override("sfbc", ANTMAZE + r".*large", {"critic_hidden_dims": (512, 256, 256)},
             "SfBC code model.py MUlQnet"),
    Override("sfbc", f"{KITCHEN}|{ADROIT}|{MAZE2D}", {"num_selected": 1},
             "SfBC paper (top-4 averaging on locomotion only)"),
)

# ACA's online configs per dataset family (spec §7.3, official configs/online/*.yaml; MuJoCo
# medium is the Config default). Also for sac_ml, whose buffer seeding follows ACA's. AntMaze's
# non-squashed Gaussian policy is not implemented (the tanh policy is used).
OVERRIDES += tuple(
    Override(algorithm, pattern, values, f"ACA configs/online/{source}", level=level)
    for algorithm in ("aca", "sac_ml")
    for pattern, level, values, source in (
        ("", "random",
         {"interpolation_decay_steps": 10_000, "interpolation_floor": 0.0}, "mjc_r.yaml"),
        ("", "medium-replay",
         {"online_buffer": "top_trajectories", "online_seed_trajectories": 50}, "mjc_mr.yaml"),
        ("", "medium-expert",
         {"log_prob_clip_std": 15.0, "interpolation_decay_steps": 100_000,
          "interpolation_floor": 1.0, "online_buffer": "top_trajectories",
          "online_seed_trajectories": 50}, "mjc_me.yaml"),
        (ANTMAZE, "", {"log_prob_clip_std": 3.0, "interpolation_decay_steps": 200_000,
                       "target_entropy": -4.0}, "antmaze.yaml (target entropy -0.5 |A|, |A| = 8)"),
    )
)

# Config field -> the run setting (``experiments.sweep.SweepSettings`` attribute) it follows.
DERIVED: Mapping[str, str] = {"cosine_decay_steps": "steps", "total_steps": "steps"}


def table_layers(algorithm: str,
                 dataset: str | DatasetSpec) -> list[tuple[str, dict[str, Any]]]:
    """``[("table: <source>", values), ...]`` of the rows matching this run, in table order.

    Raises ``DatasetError`` for a malformed dataset spec (before anything runs)."""
    spec = dataset_spec.parse(dataset)
    return [(f"table: {row.source}", dict(row.values)) for row in OVERRIDES
            if row.algorithm == algorithm and row.matches(spec)]
