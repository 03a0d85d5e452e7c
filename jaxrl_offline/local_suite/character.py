"""D4RL-character statistics of a stored dataset: the numbers compared with D4RL v2's.

``dataset_character("jaxrl_offline/hopper/medium-v0")`` reads the dataset with the project's
Minari loader (``datasets.minari_format.read_minari``, so episodes are split exactly as training
sees them) and returns its transitions, episodes, mean episode length, termination rate (the
fraction of episodes whose last transition is a true termination, not a time-limit truncation),
and the mean and (population) standard deviation of the undiscounted episode returns, raw and
D4RL-normalized (``100 * (R - ref_min) / (ref_max - ref_min)`` with the dataset's stored reference
scores). ``experiments.suite_report --measure`` writes these for every suite dataset in the store
to ``benchmarks/results/datasets/character.json``; the report renders them beside D4RL's figures.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxrl_offline.datasets.minari_format import read_minari
from jaxrl_offline.datasets.raw_data import DatasetError


@dataclasses.dataclass(frozen=True)
class Character:
    """Episode-level statistics of one dataset (see the module docstring).

    ``normalized_mean`` / ``normalized_std`` are ``None`` when the dataset has no reference scores.
    """

    dataset_id: str
    transitions: int
    episodes: int
    mean_length: float
    termination_rate: float
    return_mean: float
    return_std: float
    normalized_mean: float | None
    normalized_std: float | None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def episode_statistics(dataset_id: str, rewards: np.ndarray, terminal: np.ndarray,
                       episode_ends: np.ndarray, ref_min: float | None = None,
                       ref_max: float | None = None) -> Character:
    """Statistics of flat transitions split into episodes at ``episode_ends``.

    Args:
      rewards, terminal, episode_ends: [N] arrays; ``episode_ends[i]`` is True at the last
        transition of an episode (the last transition must end one), ``terminal[i]`` is 1 only at
        true terminations.
      ref_min, ref_max: D4RL reference returns, or ``None`` (no normalized score).
    """
    rewards = np.asarray(rewards, np.float64)
    terminal = np.asarray(terminal).astype(bool)
    ends = np.asarray(episode_ends).astype(bool)
    if not (rewards.shape == terminal.shape == ends.shape and rewards.ndim == 1):
        raise ValueError(f"{dataset_id}: rewards, terminal and episode_ends must be [N] arrays of "
                         f"one length, got {rewards.shape}, {terminal.shape}, {ends.shape}")
    if rewards.size == 0 or not ends[-1]:
        raise DatasetError(f"{dataset_id}: no transitions, or the last transition ends no episode "
                           "(episode_ends[-1] is False); the dataset is incomplete, regenerate it.")
    last = np.flatnonzero(ends)
    returns = np.add.reduceat(rewards, np.concatenate([[0], last[:-1] + 1]))
    normalized = (None if ref_min is None or ref_max is None
                  else 100.0 * (returns - ref_min) / (ref_max - ref_min))
    return Character(
        dataset_id=dataset_id,
        transitions=int(rewards.size),
        episodes=int(last.size),
        mean_length=float(rewards.size / last.size),
        termination_rate=float(terminal[last].mean()),
        return_mean=float(returns.mean()),
        return_std=float(returns.std()),
        normalized_mean=None if normalized is None else float(normalized.mean()),
        normalized_std=None if normalized is None else float(normalized.std()),
    )


def dataset_character(dataset_id: str) -> Character:
    """:func:`episode_statistics` of a local Minari dataset (under ``$MINARI_DATASETS_PATH``)."""
    raw = read_minari(dataset_id, download=False, env_id=None)
    return episode_statistics(dataset_id, raw.transition.reward, raw.transition.terminal,
                              raw.episode_ends, raw.ref_min_score, raw.ref_max_score)
