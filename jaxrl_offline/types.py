"""Shared types and shape conventions.

Shape conventions used in docstrings throughout the package:

* ``N``: transitions in a dataset; ``B``: batch size; ``S``: seeds (always the leading axis of
  vmapped state); ``E``: evaluation episodes per seed.
* ``obs_dim`` and ``action_dim`` are the flat observation and action sizes.

Actions inside the library always live in ``[-1, 1]^action_dim``: the data layer rescales dataset
actions from the env's bounds, and evaluation maps policy actions back (see ``DatasetInfo``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import numpy as np

if TYPE_CHECKING:
    from jaxrl_offline.datasets.dataset_spec import DatasetSpec

PRNGKey = jax.Array
Params = Any
Metrics = dict[str, jax.Array]


class Transition(NamedTuple):
    """A batch (or a whole dataset) of transitions, as device arrays.

    Attributes:
      obs: [N, obs_dim] float32 observation at time t (after the dataset's transforms).
      action: [N, action_dim] float32 action at time t, in [-1, 1].
      reward: [N] float32 reward r_t (after the dataset's reward transform).
      next_obs: [N, obs_dim] float32 observation at t + 1. Always the true next observation, also at
        time limits (Minari stores T + 1 observations per episode).
      terminal: [N] float32, 1.0 where the episode truly terminated at t + 1 (MDP termination), 0.0
        otherwise. A time-limit truncation is never a terminal: ``1 - terminal`` is the bootstrap
        mask.
    """

    obs: Any
    action: Any
    reward: Any
    next_obs: Any
    terminal: Any


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Metadata that travels with a loaded dataset.

    Attributes:
      dataset_id: the spec the dataset was loaded from (Minari id, ``d4rl:PATH`` or ``A+B``), as
        canonical text (``str(spec)``).
      eval_env_spec: a Gymnasium env id (``"Hopper-v5"``) or an ``EnvSpec`` JSON string used to
        build evaluation envs; ``None`` when the dataset carries none (evaluation is then
        impossible).
      ref_min_score: return of the reference random policy, or ``None`` when unknown.
      ref_max_score: return of the reference expert policy, or ``None`` when unknown.
      ref_score_source: where the reference scores come from (``"dataset metadata"``, ``"D4RL"``,
        ...).
      obs_dim: flat observation size.
      action_dim: flat action size.
      action_low: [action_dim] lower bounds of the env action space (dataset actions were mapped
        from [action_low, action_high] to [-1, 1]).
      action_high: [action_dim] upper bounds of the env action space.
      num_transitions: N.
      num_episodes: episodes the transitions came from.
      family: dataset family key of the transform table (``"locomotion"``, ``"antmaze"``, ...).
      transforms: human-readable description of every transform that was applied (name -> detail).
        The reward transform is also kept as numbers: ``reward_scale`` and ``reward_shift``.
      obs_mean: [obs_dim] mean subtracted from observations, or ``None`` when not normalized. The
        same normalization must be applied to evaluation observations.
      obs_std: [obs_dim] std (already including the +1e-3) observations were divided by, or
        ``None``.
      components: for a mixture, the ids of its parts; otherwise ``(dataset_id,)``.
      spec: the parsed spec (``jaxrl_offline.datasets.dataset_spec.DatasetSpec``); ``None`` for
        data that came from no spec (an online env, a probe).
      reward_scale: the reward transform as numbers, r -> reward_scale * r + reward_shift (for
        IQL's return-range scaling the factor measured on this dataset, reward_scale /
        (max - min trajectory return)); 1.0 when rewards are raw. The online phase applies it to
        env rewards.
      reward_shift: the offset of that map (AntMaze's r - 1: -1.0); 0.0 when rewards are raw.
      episode_ends: [N] bool, True at the last transition of each episode as the loader read it
        (a Minari episode's last step; a D4RL ``terminals | timeouts`` step, or the last kept row
        of an episode whose timeout row was dropped; the end of each part's data). The rows of an
        episode are consecutive and a mixture keeps each part's ends, so ``episode_ends.sum()``
        is ``num_episodes``. It marks where trajectories end, never where bootstrapping stops:
        a row with ``episode_ends`` True and ``terminal`` 0 is a truncation (every terminal row
        is an episode end). ``None`` for data that came from no loader (a probe, an eval-only
        info).
    """

    dataset_id: str
    eval_env_spec: str | None
    ref_min_score: float | None
    ref_max_score: float | None
    ref_score_source: str | None
    obs_dim: int
    action_dim: int
    action_low: np.ndarray
    action_high: np.ndarray
    num_transitions: int
    num_episodes: int
    family: str
    transforms: dict[str, Any]
    obs_mean: np.ndarray | None = None
    obs_std: np.ndarray | None = None
    components: tuple[str, ...] = ()
    spec: DatasetSpec | None = None
    reward_scale: float = 1.0
    reward_shift: float = 0.0
    episode_ends: np.ndarray | None = None

    @property
    def has_reference_scores(self) -> bool:
        return self.ref_min_score is not None and self.ref_max_score is not None

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        """Applies the dataset's observation normalization to raw env observations
        [..., obs_dim]."""
        if self.obs_mean is None:
            return np.asarray(obs, dtype=np.float32)
        return ((obs - self.obs_mean) / self.obs_std).astype(np.float32)

    def to_env_action(self, action: np.ndarray) -> np.ndarray:
        """Maps library actions in [-1, 1] back to the env's [action_low, action_high]."""
        low, high = self.action_low, self.action_high
        return low + (np.clip(action, -1.0, 1.0) + 1.0) * 0.5 * (high - low)

    def normalized_score(self, returns: np.ndarray) -> np.ndarray:
        """100 * (R - min) / (max - min); raw returns when reference scores are missing."""
        returns = np.asarray(returns, dtype=np.float64)
        if not self.has_reference_scores:
            return returns
        return 100.0 * (returns - self.ref_min_score) / (self.ref_max_score - self.ref_min_score)

    @property
    def score_label(self) -> str:
        """What ``normalized_score`` returns, for table captions and logs."""
        if self.has_reference_scores:
            return f"normalized score (reference scores from {self.ref_score_source})"
        return "raw return (no reference scores for this dataset)"
