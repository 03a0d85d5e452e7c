"""Aggregate statistics across datasets with stratified-bootstrap confidence intervals.

The four aggregates and the performance profile of rliable (Agarwal et al., "Deep RL at the Edge
of the Statistical Precipice", NeurIPS 2021), for scores grouped by dataset (one group of run
scores per dataset; groups may differ in size):

* ``mean``: the mean over datasets of the per-dataset mean score;
* ``median``: the median over datasets of the per-dataset mean score;
* ``iqm``: the interquartile mean of all runs pooled (25% cut from each end, as
  ``scipy.stats.trim_mean(x, 0.25)``);
* ``optimality_gap``: ``gamma - mean(min(score, gamma))`` over all runs pooled, the amount by
  which runs fall short of ``gamma`` (100 for D4RL-normalized scores: the expert);
* ``performance_profile``: for each threshold tau, the mean over datasets of the fraction of that
  dataset's runs scoring above tau.

With equal run counts per dataset these equal rliable's ``aggregate_*`` functions on the
[runs, datasets] score matrix. Confidence intervals come from a *stratified* bootstrap: each
replicate resamples runs with replacement within every dataset, and the interval is the percentile
interval of the statistic over replicates. :func:`bootstrap_ci`, the percentile interval of the
mean over seeds that run records and learning curves carry, is the same bootstrap on one group, and
:func:`difference_ci` (the parity tables' difference of two means) on two.
Every bootstrap uses a fixed generator, so tables and plots are reproducible. Non-finite scores
(diverged seeds) are dropped and datasets left without runs are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

NUM_BOOTSTRAP = 2000
CI_LEVEL = 0.95
NAMES = ("iqm", "mean", "median", "optimality_gap")
LABELS = {"iqm": "IQM", "mean": "Mean", "median": "Median", "optimality_gap": "Optimality gap"}

# A statistic maps groups of scores, each [..., n_g] (leading axes: bootstrap replicates), to [...].
Statistic = Callable[[Sequence[np.ndarray]], np.ndarray]


def _finite_groups(groups: Sequence[Sequence[float]]) -> list[np.ndarray]:
    arrays = [np.asarray(group, np.float64).ravel() for group in groups]
    arrays = [array[np.isfinite(array)] for array in arrays]
    return [array for array in arrays if array.size]


def mean_of_means(groups: Sequence[np.ndarray]) -> np.ndarray:
    return np.mean(np.stack([group.mean(axis=-1) for group in groups], axis=-1), axis=-1)


def median_of_means(groups: Sequence[np.ndarray]) -> np.ndarray:
    return np.median(np.stack([group.mean(axis=-1) for group in groups], axis=-1), axis=-1)


def interquartile_mean(groups: Sequence[np.ndarray]) -> np.ndarray:
    pooled = np.sort(np.concatenate(groups, axis=-1), axis=-1)
    cut = int(0.25 * pooled.shape[-1])
    return pooled[..., cut: pooled.shape[-1] - cut].mean(axis=-1)


def make_optimality_gap(gamma: float) -> Statistic:
    def optimality_gap(groups: Sequence[np.ndarray]) -> np.ndarray:
        pooled = np.concatenate(groups, axis=-1)
        return gamma - np.minimum(pooled, gamma).mean(axis=-1)

    return optimality_gap


def statistics(gamma: float = 100.0) -> dict[str, Statistic]:
    """The four aggregates by name; ``gamma`` is the optimality-gap target."""
    return {"iqm": interquartile_mean, "mean": mean_of_means, "median": median_of_means,
            "optimality_gap": make_optimality_gap(gamma)}


def bootstrap_replicates(groups: Sequence[np.ndarray], num_samples: int,
                         seed: int) -> list[np.ndarray]:
    """Each group resampled with replacement ``num_samples`` times: [num_samples, n_g] arrays.

    Groups are drawn in order from one generator."""
    rng = np.random.default_rng(seed)
    return [group[rng.integers(0, group.size, (num_samples, group.size))] for group in groups]


def _interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 100 * (1 - level) / 2
    return np.percentile(samples, tail, axis=0), np.percentile(samples, 100 - tail, axis=0)


def aggregates_with_ci(groups: Sequence[Sequence[float]], *, gamma: float = 100.0,
                       names: Sequence[str] = NAMES, num_samples: int = NUM_BOOTSTRAP,
                       level: float = CI_LEVEL, seed: int = 0
                       ) -> dict[str, tuple[float, float, float]]:
    """``{name: (point estimate, CI low, CI high)}`` of each aggregate over ``groups``.

    Args:
      groups: one sequence of run scores per dataset (NaN/inf dropped).
      gamma: optimality-gap target (100 for D4RL-normalized scores).
      names: which of ``NAMES`` to compute.
      num_samples: bootstrap replicates (shared by all aggregates).
      level: confidence level of the percentile interval.
      seed: bootstrap generator seed.
    """
    funcs = statistics(gamma)
    unknown = sorted(set(names) - set(funcs))
    if unknown:
        raise ValueError(f"unknown aggregates {unknown}; choose from {NAMES}")
    groups = _finite_groups(groups)
    if not groups:
        return {name: (math.nan, math.nan, math.nan) for name in names}
    replicates = bootstrap_replicates(groups, num_samples, seed)
    out = {}
    for name in names:
        low, high = _interval(funcs[name](replicates), level)
        out[name] = (float(funcs[name](groups)), float(low), float(high))
    return out


def bootstrap_ci(values: Sequence[float], num_samples: int = NUM_BOOTSTRAP,
                 level: float = CI_LEVEL, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean over ``values`` (one group; NaN/inf dropped)."""
    groups = _finite_groups([values])
    if not groups:
        return math.nan, math.nan
    low, high = _interval(mean_of_means(bootstrap_replicates(groups, num_samples, seed)), level)
    return float(low), float(high)


def _finite_pair(ours: Sequence[float], reference: Sequence[float]):
    """Both sides' finite values and ``mean(ours) - mean(reference)`` (NaN when a side is empty)."""
    groups = [np.asarray(group, np.float64).ravel() for group in (ours, reference)]
    ours, reference = [group[np.isfinite(group)] for group in groups]
    if not ours.size or not reference.size:
        return ours, reference, math.nan
    return ours, reference, float(ours.mean() - reference.mean())


def difference_ci(ours: Sequence[float], reference: Sequence[float],
                  num_samples: int = NUM_BOOTSTRAP, level: float = CI_LEVEL,
                  seed: int = 0) -> tuple[float, float, float]:
    """``mean(ours) - mean(reference)`` and its percentile-bootstrap CI, each side's runs resampled
    on their own (NaN/inf dropped; NaN bounds when a side has fewer than 2 runs)."""
    ours, reference, difference = _finite_pair(ours, reference)
    if ours.size < 2 or reference.size < 2:  # NaN bounds; all NaN when a side is empty.
        return difference, math.nan, math.nan
    ours_samples, reference_samples = bootstrap_replicates([ours, reference], num_samples, seed)
    low, high = _interval(ours_samples.mean(axis=-1) - reference_samples.mean(axis=-1), level)
    return difference, float(low), float(high)


def welch_difference_ci(ours: Sequence[float], reference: Sequence[float],
                        level: float = CI_LEVEL) -> tuple[float, float, float]:
    """``mean(ours) - mean(reference)`` and Welch's t-interval for it (unequal variances,
    Welch-Satterthwaite degrees of freedom; NaN/inf dropped; NaN bounds when a side has fewer than
    2 runs).

    With 2-5 seeds a side the percentile bootstrap (``difference_ci``) is too narrow: resampling
    two values gives only three distinct means, so its nominal 95% covers far less. The t-interval
    widens with the small sample (t quantiles at few degrees of freedom) and is the one to read
    before calling a small-sample difference a gap.
    """
    # scipy is a dependency of jax; imported here to keep the module's import light.
    from scipy import stats

    ours, reference, difference = _finite_pair(ours, reference)
    if ours.size < 2 or reference.size < 2:  # NaN bounds; all NaN when a side is empty.
        return difference, math.nan, math.nan
    var_ours, var_ref = ours.var(ddof=1) / ours.size, reference.var(ddof=1) / reference.size
    standard_error = math.sqrt(var_ours + var_ref)
    if standard_error == 0.0:
        return difference, difference, difference
    dof = (var_ours + var_ref) ** 2 / (var_ours ** 2 / (ours.size - 1)
                                       + var_ref ** 2 / (reference.size - 1))
    half_width = float(stats.t.ppf(0.5 + level / 2, dof)) * standard_error
    return difference, difference - half_width, difference + half_width


def performance_profile(groups: Sequence[Sequence[float]], taus: Sequence[float]) -> np.ndarray:
    """[T] mean over datasets of the fraction of runs scoring above each tau."""
    groups = _finite_groups(groups)
    if not groups:
        return np.full(len(taus), np.nan)
    return _profile(groups, np.asarray(taus, np.float64))


def _profile(groups: Sequence[np.ndarray], taus: np.ndarray) -> np.ndarray:
    fractions = [(group[..., None, :] > taus[:, None]).mean(axis=-1) for group in groups]
    return np.mean(np.stack(fractions, axis=0), axis=0)


def performance_profile_with_ci(groups: Sequence[Sequence[float]], taus: Sequence[float], *,
                                num_samples: int = NUM_BOOTSTRAP, level: float = CI_LEVEL,
                                seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The profile [T] and its pointwise stratified-bootstrap CI ([T] low, [T] high)."""
    taus = np.asarray(taus, np.float64)
    groups = _finite_groups(groups)
    if not groups:
        nan = np.full(taus.shape, np.nan)
        return nan, nan, nan
    samples = _profile(bootstrap_replicates(groups, num_samples, seed), taus)  # [num_samples, T]
    low, high = _interval(samples, level)
    return _profile(groups, taus), low, high
