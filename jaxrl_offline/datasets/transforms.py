"""Dataset transforms: one declarative table, and the numpy functions that apply it on the host.

Which transforms a run gets is decided here and nowhere else (no ``if "antmaze" in name`` branches
in algorithms or runners): a dataset is mapped to a *family* by ``FAMILY_PATTERNS``, and
``TRANSFORM_TABLE[family][algorithm]`` (falling back to ``[family]["*"]``) gives its ``Transforms``.
The conventions come from the official codes (spec ``algorithms.md`` §1.2, §2):

* observation normalization: per-feature mean / (std + 1e-3) over dataset observations (TD3+BC,
  CORL);
* return-range reward scaling: r / (max_traj_return - min_traj_return) * 1000 (IQL, IDQL);
* AntMaze reward shift r - 1 (IQL, IDQL, CORL); CQL's AntMaze r * 10 - 5 (CORL); MISA's
  (r - 0.5) * 4;
* dataset actions clipped to +-(1 - 1e-5) for tanh-policy log-probs (IQL, IDQL), +-0.999 (MISA).

Actions are always rescaled first from the env bounds [low, high] to [-1, 1] (see ``types.py``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

from jaxrl_offline.datasets.raw_data import DatasetError
from jaxrl_offline.types import Transition

REWARD_MODES = ("none", "return_range", "affine")
OBS_STD_EPS = 1e-3  # TD3+BC / CORL: std + 1e-3.
TANH_ACTION_CLIP = 1.0 - 1e-5  # IQL / IDQL clip of dataset actions.


@dataclasses.dataclass(frozen=True)
class Transforms:
    """Preprocessing applied to a dataset at load time (and, for observations, at evaluation).

    Attributes:
      normalize_obs: subtract the per-feature dataset mean from obs and next_obs and divide by
        (std + 1e-3); the statistics go into ``DatasetInfo.obs_mean`` / ``obs_std`` so evaluation
        applies the same map to env observations.
      reward: ``"none"`` (raw rewards), ``"return_range"`` (r * reward_scale / (max - min
        trajectory return) + reward_shift; IQL uses reward_scale 1000) or ``"affine"``
        (r * reward_scale + reward_shift; AntMaze r - 1 is scale 1, shift -1).
      reward_scale: multiplier of the reward transform (must stay 1.0 when ``reward="none"``).
      reward_shift: offset added after scaling (must stay 0.0 when ``reward="none"``).
      clip_actions: clip dataset actions (already in [-1, 1]) to +-clip_actions, e.g. 1 - 1e-5 so
        atanh / tanh-Gaussian log-probs of dataset actions stay finite; ``None`` for no clipping.
    """

    normalize_obs: bool
    reward: str = "none"
    reward_scale: float = 1.0
    reward_shift: float = 0.0
    clip_actions: float | None = None

    def __post_init__(self):
        if self.reward not in REWARD_MODES:
            raise ValueError(
                f"Transforms.reward must be one of {REWARD_MODES}, got {self.reward!r}")
        if self.reward == "none" and (self.reward_scale != 1.0 or self.reward_shift != 0.0):
            raise ValueError(
                "Transforms(reward='none') ignores reward_scale/reward_shift; set reward='affine' "
                f"to use scale={self.reward_scale}, shift={self.reward_shift}"
            )
        if self.clip_actions is not None and not 0.0 < self.clip_actions <= 1.0:
            raise ValueError(f"Transforms.clip_actions must be in (0, 1], got {self.clip_actions}")


# Ordered (regex, family) pairs, matched with re.search against the lower-cased dataset id, file
# name and env id; the first match wins, so specific patterns come before general ones.
FAMILY_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"ant[-_]?maze", "antmaze"),
    (r"point[-_]?maze|maze2d", "pointmaze"),
    (r"kitchen", "kitchen"),
    (r"adroit|(^|[^a-z])(door|hammer|pen|relocate)([^a-z]|$)", "adroit"),
    (r"halfcheetah|hopper|walker2d|(^|[^a-z])ant([^a-z]|$)|humanoid|swimmer|reacher|pusher"
     r"|invertedpendulum|inverteddoublependulum|invpend", "locomotion"),
)

_LOCOMOTION = {
    "*": Transforms(normalize_obs=True),
    "bc": Transforms(normalize_obs=True),
    "td3_bc": Transforms(normalize_obs=True),
    "awac": Transforms(normalize_obs=True),
    "iql": Transforms(normalize_obs=True, reward="return_range", reward_scale=1000.0,
                      clip_actions=TANH_ACTION_CLIP),
    "idql": Transforms(normalize_obs=False, reward="return_range", reward_scale=1000.0,
                       clip_actions=TANH_ACTION_CLIP),
    "cql": Transforms(normalize_obs=True, clip_actions=TANH_ACTION_CLIP),
    "misa": Transforms(normalize_obs=False, clip_actions=0.999),
    "td3_rkl": Transforms(normalize_obs=True),  # TD3+BC's preprocessing (spec §3.3).
    "rebrac": Transforms(normalize_obs=False),  # CORL ReBRAC: normalize_states=False.
    # SfBC: raw observations and rewards (its returns are standardized inside the algorithm).
    "sfbc": Transforms(normalize_obs=False),
    # ACA's official code (d3rlpy 1.1, scaler=None in run_sacml.py / run_aca.py): raw
    # observations; SAC+ML is ACA's own offline stage, so it follows.
    "aca": Transforms(normalize_obs=False),
    "sac_ml": Transforms(normalize_obs=False),
}
_ANTMAZE_SHIFT = Transforms(normalize_obs=False, reward="affine", reward_shift=-1.0)
_ANTMAZE_SHIFT_CLIP = dataclasses.replace(_ANTMAZE_SHIFT, clip_actions=TANH_ACTION_CLIP)
_MANIPULATION = {
    "*": Transforms(normalize_obs=True),
    "iql": Transforms(normalize_obs=True, clip_actions=TANH_ACTION_CLIP),
    "cql": Transforms(normalize_obs=True, clip_actions=TANH_ACTION_CLIP),
    "misa": Transforms(normalize_obs=False, clip_actions=0.999),
    "rebrac": Transforms(normalize_obs=False),
    "sfbc": Transforms(normalize_obs=False),
}

TRANSFORM_TABLE: dict[str, dict[str, Transforms]] = {
    "locomotion": _LOCOMOTION,
    "antmaze": {
        "*": _ANTMAZE_SHIFT,
        "iql": _ANTMAZE_SHIFT_CLIP,
        "idql": _ANTMAZE_SHIFT_CLIP,
        "cql": Transforms(normalize_obs=False, reward="affine", reward_scale=10.0,
                          reward_shift=-5.0, clip_actions=TANH_ACTION_CLIP),
        "misa": Transforms(normalize_obs=False, reward="affine", reward_scale=4.0,
                           reward_shift=-2.0, clip_actions=0.999),
        # CORL ReBRAC AntMaze: normalize_reward=True is r * 100 ("like in LAPO"), no shift.
        "rebrac": Transforms(normalize_obs=False, reward="affine", reward_scale=100.0),
        "sfbc": Transforms(normalize_obs=False),  # SfBC: raw 0/1 AntMaze rewards, no shift.
    },
    "pointmaze": {"*": Transforms(normalize_obs=True), "rebrac": Transforms(normalize_obs=False),
                  "sfbc": Transforms(normalize_obs=False)},
    "adroit": _MANIPULATION,
    "kitchen": _MANIPULATION,
    # Unknown datasets get the dense-reward control defaults.
    "default": _LOCOMOTION,
}


def family_of(text: str) -> str:
    """The ``TRANSFORM_TABLE`` family of a dataset, from its ids / file name / env id text."""
    lowered = text.lower()
    for pattern, family in FAMILY_PATTERNS:
        if re.search(pattern, lowered):
            return family
    return "default"


def table_key(family: str, algorithm: str | None) -> str:
    """The ``TRANSFORM_TABLE`` entry ``resolve_transforms`` uses, e.g. ``"locomotion/iql"``."""
    if family not in TRANSFORM_TABLE:
        raise ValueError(f"unknown dataset family {family!r}; known: {sorted(TRANSFORM_TABLE)}")
    entries = TRANSFORM_TABLE[family]
    return f"{family}/{algorithm if algorithm in entries else '*'}"


def resolve_transforms(family: str, algorithm: str | None) -> Transforms:
    """``TRANSFORM_TABLE[family][algorithm]``, falling back to ``TRANSFORM_TABLE[family]["*"]``."""
    family_key, algorithm_key = table_key(family, algorithm).split("/")
    return TRANSFORM_TABLE[family_key][algorithm_key]


def rescale_actions(action: np.ndarray, low: np.ndarray,
                    high: np.ndarray) -> tuple[np.ndarray, str]:
    """Maps env actions [N, action_dim] from [low, high] to [-1, 1] (float32).

    Returns:
      (actions, description). Values outside [low, high] are clipped (and counted).
    """
    low = np.asarray(low, np.float64)
    high = np.asarray(high, np.float64)
    outside = int(((action < low) | (action > high)).sum())
    clipped = np.clip(action.astype(np.float64), low, high)
    if np.all(low == -1.0) and np.all(high == 1.0):
        description = "none (env bounds are [-1, 1])"
    else:
        clipped = 2.0 * (clipped - low) / (high - low) - 1.0
        description = f"[{_fmt(low)}, {_fmt(high)}] -> [-1, 1]"
    if outside:
        description += f"; {outside} action entries outside the bounds were clipped"
    return clipped.astype(np.float32), description


def normalize_observations(obs: np.ndarray, next_obs: np.ndarray):
    """Per-feature standardization with statistics over ``obs`` [N, obs_dim].

    Returns:
      (obs, next_obs, mean [obs_dim], std [obs_dim]); std already includes the +1e-3.
    """
    mean = obs.mean(axis=0, dtype=np.float64)
    std = obs.std(axis=0, dtype=np.float64) + OBS_STD_EPS
    normalize = lambda x: ((x - mean) / std).astype(np.float32)  # noqa: E731
    return normalize(obs), normalize(next_obs), mean.astype(np.float32), std.astype(np.float32)


def trajectory_returns(reward: np.ndarray, episode_ends: np.ndarray) -> np.ndarray:
    """Undiscounted return of each trajectory; a trailing unfinished trajectory counts too.

    Args:
      reward: [N] rewards.
      episode_ends: [N] bool, True at the last transition of each trajectory.

    Returns:
      [num_trajectories] float64 returns.
    """
    starts = np.concatenate([[0], np.nonzero(episode_ends[:-1])[0] + 1])
    return np.add.reduceat(reward.astype(np.float64), starts)


def scale_return_range(reward, episode_ends, scale: float, shift: float, where: str = "dataset"):
    """IQL's reward scaling: r * scale / (max_traj_return - min_traj_return) + shift.

    Returns:
      (reward [N] float64, description).
    """
    factor, description = _return_range_factor(reward, episode_ends, scale, shift, where)
    return reward * factor + shift, description


def _return_range_factor(reward, episode_ends, scale: float, shift: float,
                         where: str) -> tuple[float, str]:
    """scale / (max - min trajectory return) and its description."""
    returns = trajectory_returns(reward, episode_ends)
    spread = float(returns.max() - returns.min())
    if not spread > 0.0:
        raise DatasetError(
            f"Return-range reward scaling is undefined for {where!r}: its {returns.size} "
            f"trajector{'y has' if returns.size == 1 else 'ies all have'} the same return "
            f"({returns.max():.6g}). Pass transforms=Transforms(..., reward='affine' or 'none') "
            "to load_dataset instead."
        )
    factor = scale / spread
    description = (f"x{scale:g}/(max-min trajectory return) = x{factor:.6g} over {returns.size} "
                   f"trajectories (returns {returns.min():.6g}..{returns.max():.6g})")
    if shift:
        description += f", then {shift:+g}"
    return factor, description


def reward_affine(reward, episode_ends, transforms: Transforms,
                  where: str = "dataset") -> tuple[float, float, str | None]:
    """The reward transform as numbers: r -> scale * r + shift, for this dataset.

    ``"none"`` is (1, 0); ``"affine"`` is (reward_scale, reward_shift); ``"return_range"`` is
    (reward_scale / (max - min trajectory return), reward_shift), the spread measured on the raw
    ``reward`` [N] with trajectories ending where ``episode_ends`` [N] is True. The online phase
    applies the same numbers to env rewards (``DatasetInfo.reward_scale`` / ``reward_shift``).

    Returns:
      (scale, shift, description or ``None`` for ``"none"``).
    """
    if transforms.reward == "return_range":
        factor, description = _return_range_factor(
            reward, episode_ends, transforms.reward_scale, transforms.reward_shift, where)
        return factor, float(transforms.reward_shift), description
    if transforms.reward == "affine":
        return (float(transforms.reward_scale), float(transforms.reward_shift),
                f"r * {transforms.reward_scale:g} + {transforms.reward_shift:g}")
    return 1.0, 0.0, None


def apply_transforms(transition: Transition, episode_ends, action_low, action_high,
                     transforms: Transforms, where: str = "dataset"):
    """Applies action rescaling plus ``transforms`` to raw host arrays.

    Args:
      transition: raw ``Transition`` of numpy arrays (actions in env units).
      episode_ends: [N] bool trajectory ends (for return-range scaling).
      action_low: [action_dim] env lower action bounds.
      action_high: [action_dim] env upper action bounds.
      transforms: what to apply.
      where: dataset spec for error messages.

    Returns:
      (float32 ``Transition``, description dict, obs_mean or None, obs_std or None,
      (reward scale, reward shift) of :func:`reward_affine`).
    """
    description: dict[str, Any] = {}
    action, description["action_rescale"] = rescale_actions(
        transition.action, action_low, action_high)
    outside = (transition.action < action_low) | (transition.action > action_high)
    if outside.any():  # Surfaced as a console warning and in the run record (validation.py).
        description["actions_outside_bounds"] = (
            f"{int(outside.sum())} of {outside.size} action entries lie outside the env bounds "
            f"[{_fmt(np.asarray(action_low))}, {_fmt(np.asarray(action_high))}] (largest "
            f"|action| {float(np.abs(transition.action).max()):.3g}) and were clipped to them")
    if transforms.clip_actions is not None:
        action = np.clip(action, -transforms.clip_actions, transforms.clip_actions)
        description["action_clip"] = transforms.clip_actions
    obs, next_obs = transition.obs.astype(np.float32), transition.next_obs.astype(np.float32)
    obs_mean = obs_std = None
    if transforms.normalize_obs:
        obs, next_obs, obs_mean, obs_std = normalize_observations(obs, next_obs)
        description["obs_normalization"] = (
            f"(x - mean) / (std + {OBS_STD_EPS:g}), per feature over {obs.shape[0]} transitions")
    reward = transition.reward.astype(np.float64)
    scale, shift, reward_text = reward_affine(reward, episode_ends, transforms, where)
    if reward_text is not None:
        reward = reward * scale + shift
        description["reward"] = reward_text
    out = Transition(obs=obs, action=action, reward=reward.astype(np.float32), next_obs=next_obs,
                     terminal=transition.terminal.astype(np.float32))
    return out, description, obs_mean, obs_std, (scale, shift)


def _fmt(bounds: np.ndarray) -> str:
    """Compact text for a bound vector: one number when all entries are equal."""
    if np.all(bounds == bounds.flat[0]):
        return f"{bounds.flat[0]:g}"
    return "[" + ", ".join(f"{b:g}" for b in bounds) + "]"
