"""Range checks of config values set by hand (the per-dataset table, sweep files, ``--config``).

Types are checked by ``sweep.coerce_value`` against each ``Config`` field's annotation; the
ranges here go by field name, one rule per kind of quantity, so that every algorithm's fields of
one kind (learning rates, batch sizes, network sizes, ...) are held to the same range. A field
matching no rule is only type-checked. ``None`` is checked by the type (``int | None``), not here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Rule:
    """Fields whose name fully matches ``pattern`` must satisfy ``check``, described by ``must``."""

    pattern: str
    check: Callable[[Any], bool]
    must: str


def _positive_sizes(value: Any) -> bool:
    return (isinstance(value, tuple) and len(value) > 0
            and all(isinstance(size, int) and size >= 1 for size in value))


def _at_least(bound: float) -> Callable[[Any], bool]:
    return lambda value: value >= bound


def _positive(value: Any) -> bool:
    return value > 0


def _open_unit(value: Any) -> bool:
    return 0 < value < 1


RULES: tuple[Rule, ...] = (
    Rule(r".*hidden_dims", _positive_sizes,
         "a non-empty tuple of layer sizes >= 1, e.g. '(64, 64)' (one layer: '(64,)')"),
    Rule(r"(.*_)?batch_size", _at_least(1), "an integer >= 1"),
    Rule(r"(.*_)?(lr|learning_rate)", lambda v: 0 < v < math.inf, "a finite number > 0"),
    Rule(r"(actor_)?tau|.*_rate", lambda v: 0 <= v <= 1, "in [0, 1]"),
    Rule(r"discount", lambda v: 0 <= v <= 1, "in [0, 1]"),
    Rule(r"expectile|quantile", _open_unit, "strictly between 0 and 1"),
    Rule(r"num_.*|policy_freq|critic_every|diffusion_steps|sampling_steps|solver_order"
         r"|mcmc_leapfrog_steps|mcmc_num_samples|total_steps|cosine_decay_steps"
         r"|interpolation_decay_steps|planning_iterations|.*_components", _at_least(1),
         "an integer >= 1"),
    Rule(r".*_steps?|.*_trajectories", _at_least(0), "an integer >= 0"),
    Rule(r"logsumexp_temperature|cql_temperature|initial_temperature|online_temperature",
         _positive, "a number > 0"),
    Rule(r".*(alpha|_coef|_weight|_temperature|_noise|noise_clip|_std|_norm|beta.*)",
         _at_least(0), "a number >= 0"),
)


def rule_for(name: str) -> Rule | None:
    """The first rule whose pattern fully matches ``name``, or ``None``."""
    return next((rule for rule in RULES if re.fullmatch(rule.pattern, name)), None)


def range_error(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the field ``name`` (``None``: nothing, or no rule)."""
    rule = rule_for(name)
    if rule is None or value is None or isinstance(value, (bool, str)):
        return None
    try:
        ok = bool(rule.check(value))
    except TypeError:
        ok = False
    return None if ok else f"must be {rule.must}"
