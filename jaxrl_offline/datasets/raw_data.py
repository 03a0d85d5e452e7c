"""Host-side raw dataset container, its validation, and the data layer's error type.

A :class:`RawDataset` is what a reader (Minari, legacy D4RL hdf5) produces before any transform:
numpy arrays in the env's own units plus the metadata needed to build a ``DatasetInfo``. Mixtures
are concatenations of raw datasets; transforms (``jaxrl_offline.datasets.transforms``) then run
once on the result.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from jaxrl_offline.types import Transition


class DatasetError(ValueError):
    """A dataset could not be loaded; the message says what was wrong and what to do."""


# Observations beyond this magnitude are not a real environment's state: they are what random
# bytes inside an hdf5 file look like once read as floats (values up to ~1e34 were seen).
OBS_MAGNITUDE_LIMIT = 1e6


@dataclasses.dataclass
class RawDataset:
    """Untransformed transitions on the host.

    Attributes:
      dataset_id: the spec this part was loaded from.
      transition: ``Transition`` of numpy arrays: obs / next_obs [N, obs_dim] float32, action
        [N, action_dim] float32 in env units, reward [N] float64, terminal [N] float32.
      episode_ends: [N] bool, True at the last transition of each trajectory (termination,
        truncation, episode boundary or end of file). Used to split trajectories for return-range
        reward scaling.
      num_episodes: number of trajectories in ``transition``.
      eval_env_spec: a Gymnasium env id or ``EnvSpec`` JSON string, or ``None``.
      ref_min_score: reference random-policy return, or ``None``.
      ref_max_score: reference expert return, or ``None``.
      ref_score_source: where the reference scores come from, or ``None``.
      action_low: [action_dim] env action lower bounds.
      action_high: [action_dim] env action upper bounds.
      family_text: text matched against ``transforms.FAMILY_PATTERNS`` (ids, env ids, file names).
      notes: reader-level facts to record in ``DatasetInfo.transforms`` (dropped transitions,
        observation flattening, ...).
    """

    dataset_id: str
    transition: Transition
    episode_ends: np.ndarray
    num_episodes: int
    eval_env_spec: str | None
    ref_min_score: float | None
    ref_max_score: float | None
    ref_score_source: str | None
    action_low: np.ndarray
    action_high: np.ndarray
    family_text: str
    notes: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def num_transitions(self) -> int:
        return int(self.transition.reward.shape[0])


def check_transition(transition: Transition, where: str, episode_ends: np.ndarray | None = None):
    """Raises ``DatasetError`` on empty data, inconsistent shapes or non-finite values.

    Args:
      transition: ``Transition`` of numpy arrays (see ``RawDataset``).
      where: the dataset spec, used in messages.
      episode_ends: optional [N] array checked for the same length.
    """
    fields = dict(transition._asdict())
    if episode_ends is not None:
        fields["episode_ends"] = episode_ends
    shapes = {name: np.shape(value) for name, value in fields.items()}
    expected_ndim = {"obs": 2, "next_obs": 2, "action": 2, "reward": 1, "terminal": 1,
                     "episode_ends": 1}
    lengths = {shape[0] if shape else None for shape in shapes.values()}
    bad_rank = [name for name, shape in shapes.items() if len(shape) != expected_ndim[name]]
    if bad_rank or len(lengths) != 1 or shapes["obs"] != shapes["next_obs"]:
        described = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise DatasetError(
            f"Dataset {where!r} has mismatched field shapes ({described}). Expected obs and "
            "next_obs [N, obs_dim], action [N, action_dim], reward and terminal [N], all with the "
            "same N"
            + (f"; wrong rank: {bad_rank}" if bad_rank else "")
            + ". The file is inconsistent or truncated: regenerate or re-download it."
        )
    if shapes["reward"][0] == 0:
        raise DatasetError(
            f"Dataset {where!r} contains no transitions (0 steps after reading). Check that the "
            "dataset was generated completely (regenerate it, e.g. with "
            "jaxrl_offline.local_suite.synthetic.ensure_dataset for jaxrl_offline/ ids), or pick "
            "another id."
        )
    for name, value in transition._asdict().items():
        if not np.issubdtype(np.asarray(value).dtype, np.number):
            raise DatasetError(
                f"Dataset {where!r} field {name!r} has dtype {np.asarray(value).dtype}, not a "
                "number type. The file is corrupt or not an RL dataset: regenerate it.")
        finite = np.isfinite(value)
        if not finite.all():
            bad_rows = np.unique(np.nonzero(~finite)[0])
            raise DatasetError(
                f"Dataset {where!r} has {int((~finite).sum())} non-finite (NaN/inf) values in "
                f"field {name!r}, in {bad_rows.size} of {finite.shape[0]} transitions (first rows: "
                f"{bad_rows[:5].tolist()}). Clean or filter those transitions (or regenerate the "
                "dataset) before training; the loader does not silently drop them."
            )
    check_terminals(transition.terminal, "terminal", where)
    for name in ("obs", "next_obs"):
        check_magnitude(getattr(transition, name), name, where)
    if episode_ends is not None:
        check_episode_ends(transition.terminal, episode_ends, where)


def check_episode_ends(terminal: np.ndarray, episode_ends: np.ndarray, where: str) -> None:
    """Raises ``DatasetError`` unless the last row ends an episode and every terminal row does
    (after a true termination the next row cannot continue the same episode)."""
    ends = np.asarray(episode_ends).astype(bool)
    inside = np.nonzero((np.asarray(terminal) > 0) & ~ends)[0]
    if not ends[-1] or inside.size:
        problem = ("its last row does not end an episode" if not ends[-1] else
                   f"{inside.size} terminal row(s) lie inside an episode (first rows: "
                   f"{inside[:5].tolist()})")
        raise DatasetError(
            f"Dataset {where!r}: {problem}. An episode must end at its termination and the data "
            "must end with a complete (or truncated) episode; the file is malformed: regenerate "
            "it, or split its episodes at the terminations.")


def check_terminals(values: np.ndarray, name: str, where: str) -> None:
    """Raises ``DatasetError`` unless every entry of a termination flag array is 0 or 1."""
    values = np.asarray(values)
    if values.dtype == bool:
        return
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        found = np.unique(values[bad])
        raise DatasetError(
            f"Dataset {where!r} field {name!r} has {int(bad.sum())} of {values.size} entries that "
            f"are not 0 or 1 (dtype {values.dtype}, e.g. {found[:5].tolist()}). A termination "
            "flag must be 0/1 (or bool): a fractional value would be read as a termination. Fix "
            "the file (e.g. terminals = terminals > 0.5 if that is what it means) and reload.")


def check_magnitude(values: np.ndarray, name: str, where: str,
                    limit: float = OBS_MAGNITUDE_LIMIT) -> None:
    """Raises ``DatasetError`` when ``|values|`` exceeds ``limit`` anywhere (corrupt data)."""
    values = np.asarray(values)
    if not values.size or not np.issubdtype(values.dtype, np.number):
        return
    magnitude = np.abs(values if np.issubdtype(values.dtype, np.floating)
                       else values.astype(np.float64))
    # Non-finite values have their own message (check_transition).
    magnitude = np.where(np.isfinite(magnitude), magnitude, 0)
    largest = float(magnitude.max())
    if largest > limit:
        row = int(np.unravel_index(np.argmax(magnitude), values.shape)[0])
        count = int((np.any(magnitude > limit, axis=tuple(range(1, values.ndim)))
                     if values.ndim > 1 else magnitude > limit).sum())
        raise DatasetError(
            f"Dataset {where!r} field {name!r} (dtype {values.dtype}) holds values up to "
            f"{largest:.3g} in magnitude (largest at row {row}; {count} of {values.shape[0]} rows "
            f"above {limit:.0e}). No environment state is that large: the file is probably "
            "corrupt (random bytes read as numbers). Regenerate or re-download it.")


def concatenate(parts: list[RawDataset]) -> tuple[Transition, np.ndarray, int]:
    """Concatenates the arrays of several raw datasets (in memory, in the given order).

    Returns:
      (transition [sum N], episode_ends [sum N], total number of episodes).
    """
    fields = zip(*(part.transition for part in parts))
    transition = Transition(*(np.concatenate(arrays) for arrays in fields))
    episode_ends = np.concatenate([p.episode_ends for p in parts])
    return transition, episode_ends, sum(p.num_episodes for p in parts)


def env_id_of(eval_env_spec: str | None) -> str | None:
    """The env id of a ``DatasetInfo.eval_env_spec`` (a plain id or an ``EnvSpec`` JSON string)."""
    if eval_env_spec is None or not eval_env_spec.lstrip().startswith("{"):
        return eval_env_spec
    return json.loads(eval_env_spec).get("id")
