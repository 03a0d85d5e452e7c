"""Offline -> online measures for the ACA claim (issue 15): how far fine-tuning first drops below
the offline agent's score, how long it takes to get back, and the cumulative regret.

``drop_and_recovery(offline_score, steps, scores)`` for one seed's online evaluation curve:

* ``initial_drop = offline_score - min(early scores)``, where the early scores are the evaluations
  at env steps ``0 < t <= early_fraction * t_last`` (the first 10% of the online steps; the
  step-0 evaluation, the offline agent itself, is left out; when no evaluation falls in that
  window, the first one after step 0 stands for it). Positive: a drop; <= 0: none.
* ``min_step``: the env step of that lowest early score (the first one, on ties).
* ``recovery_step``: the first evaluation step ``t >= min_step`` with ``score >= offline_score``
  (``min_step`` itself when there was no drop), or ``None`` when the curve never gets back.
* ``cumulative_regret``: ``jaxrl_offline.reporting.results.cumulative_regret`` (the time-average of
  1 - score / 100 over the online phase, Cal-QL's definition), the same number the offline ->
  online tables report; it needs normalized scores (0-100).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxrl_offline.reporting import results


def drop_and_recovery(offline_score: float, steps: Sequence[int], scores: Sequence[float],
                      early_fraction: float = 0.1) -> dict[str, float | int | None]:
    """Initial drop, the step of the lowest early score, the step of recovery, cumulative regret.

    Args:
      offline_score: normalized score of the offline agent (the start of fine-tuning).
      steps: [T] increasing env steps of the online evaluations, starting at 0 (the offline
        agent's evaluation) or after it.
      scores: [T] normalized scores (0-100) at those steps, one seed.
      early_fraction: the share of the online steps (0, early_fraction * steps[-1]] searched for
        the lowest score.

    Returns:
      ``{"initial_drop", "min_step", "recovery_step", "cumulative_regret"}`` (see the module).
    """
    steps_array = np.asarray(steps, np.int64)
    scores_array = np.asarray(scores, np.float64)
    if steps_array.ndim != 1 or scores_array.shape != steps_array.shape or steps_array.size < 2:
        raise ValueError(f"need >= 2 evaluations with one score each, got steps "
                         f"{steps_array.shape} and scores {scores_array.shape}")
    if np.any(np.diff(steps_array) <= 0) or steps_array[0] < 0:
        raise ValueError(f"steps must be non-negative and increasing, got {steps_array.tolist()}")
    if not 0.0 < early_fraction <= 1.0:
        raise ValueError(f"early_fraction must be in (0, 1], got {early_fraction}")
    online = np.flatnonzero(steps_array > 0)
    early = online[steps_array[online] <= early_fraction * steps_array[-1]]
    if early.size == 0:
        early = online[:1]
    lowest = early[np.argmin(scores_array[early])]
    recovered = np.flatnonzero((np.arange(steps_array.size) >= lowest)
                               & (scores_array >= offline_score))
    return {
        "initial_drop": float(offline_score - scores_array[lowest]),
        "min_step": int(steps_array[lowest]),
        "recovery_step": int(steps_array[recovered[0]]) if recovered.size else None,
        "cumulative_regret": float(results.cumulative_regret(steps_array,
                                                             scores_array[:, None])[0]),
    }
