"""Dataset loading: Minari ids, D4RL hdf5 files and mixtures -> ``Transition`` + ``DatasetInfo``.

One entry point, :func:`load_dataset`, takes a *spec* (text, parsed once by
:func:`jaxrl_offline.datasets.dataset_spec.parse`, or a ``DatasetSpec``):

* a Minari id (``"mujoco/hopper/medium-v0"``, ``"jaxrl_offline/invpend/mixed-v0"``), read from the
  local Minari store (``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``);
* ``"d4rl:PATH.hdf5"`` (optionally ``"d4rl:PATH.hdf5?env=Hopper-v5"``), a legacy D4RL file;
* a mixture ``"A+B(+C...)"`` of specs of the same env, concatenated in memory (never written);
  ``+`` always separates parts, so file paths cannot contain it.

Host loading (numpy, :func:`load_numpy`) is separate from device placement (:func:`to_device`).
Per-dataset preprocessing comes from the declarative table in ``jaxrl_offline.datasets.transforms``
and every transform applied is described in ``DatasetInfo.transforms``. Dict observations are
flattened by :func:`flatten_observation` (``jaxrl_offline.datasets.minari_format``), which
evaluation must share.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxrl_offline.datasets import d4rl_format, dataset_spec
from jaxrl_offline.datasets.dataset_spec import DatasetPart, DatasetSpec
from jaxrl_offline.datasets.minari_format import flatten_observation, read_minari
from jaxrl_offline.datasets.raw_data import DatasetError, RawDataset, check_transition, concatenate
from jaxrl_offline.datasets.raw_data import env_id_of
from jaxrl_offline.datasets.transforms import (Transforms, apply_transforms, family_of,
                                               resolve_transforms)
from jaxrl_offline.datasets.transforms import table_key
from jaxrl_offline.types import DatasetInfo, Transition

__all__ = ["DatasetError", "load_dataset", "load_numpy", "to_device", "env_id_of",
           "flatten_observation"]


def load_dataset(spec: str | DatasetSpec, *, algorithm: str | None = None, download: bool = False,
                 transforms: Transforms | None = None, env_id: str | None = None,
                 config: Any = None) -> tuple[Transition, DatasetInfo]:
    """Loads a dataset onto the default device.

    Args:
      spec: Minari id, ``"d4rl:PATH.hdf5[?env=ENV_ID]"`` or a mixture ``"A+B"`` of those (text,
        or a parsed ``DatasetSpec``).
      algorithm: registry name (``"iql"``, ...) selecting ``TRANSFORM_TABLE[family][algorithm]``;
        ``None`` uses the family's ``"*"`` entry.
      download: download a Minari id missing locally (fails at once when offline).
      transforms: explicit transforms, overriding the table.
      env_id: Gymnasium eval env id overriding the one from the dataset (for a mixture: all parts).
      config: the run's algorithm ``Config``; one with a ``dataset_transforms(transforms)``
        method adjusts the table's transforms by its own switches (CQL's
        ``return_range_rewards``); the record's ``transforms.source`` says so. Ignored with
        explicit ``transforms``.

    Returns:
      (``Transition`` of float32 device arrays: obs [N, obs_dim], action [N, action_dim] in
      [-1, 1], reward [N], next_obs [N, obs_dim], terminal [N]; ``DatasetInfo``, whose
      ``episode_ends`` [N] says where the reader's episodes end, truncations included).
    """
    transition, info = load_numpy(spec, algorithm=algorithm, download=download,
                                  transforms=transforms, env_id=env_id, config=config)
    return to_device(transition), info


def to_device(transition: Transition) -> Transition:
    """Copies a host ``Transition`` to the default device as float32 ``jax.Array`` leaves."""
    return Transition(*(jnp.asarray(np.asarray(x, dtype=np.float32)) for x in transition))


def load_numpy(spec: str | DatasetSpec, *, algorithm: str | None = None, download: bool = False,
               transforms: Transforms | None = None, env_id: str | None = None,
               config: Any = None) -> tuple[Transition, DatasetInfo]:
    """Like :func:`load_dataset`, but returns host numpy float32 arrays."""
    parsed = dataset_spec.parse(spec)
    spec = str(parsed)
    parts = [_load_part(part, download, env_id) for part in parsed.parts]
    if len(parts) > 1:
        _check_compatible(spec, parts)
    transition, episode_ends, num_episodes = concatenate(parts)
    first = parts[0]
    family = family_of(first.family_text)
    if transforms is None:
        transforms = resolve_transforms(family, algorithm)
        source = f"TRANSFORM_TABLE[{table_key(family, algorithm)}]"
        if hasattr(config, "dataset_transforms"):  # A Config switch of the algorithm's own.
            adjusted = config.dataset_transforms(transforms)
            if adjusted != transforms:
                transforms, source = adjusted, f"{source} adjusted by the algorithm's Config"
    else:
        source = "transforms= argument"
    transition, description, obs_mean, obs_std, (reward_scale, reward_shift) = apply_transforms(
        transition, episode_ends, first.action_low, first.action_high, transforms, where=spec)
    check_transition(transition, spec)
    notes: dict[str, Any] = {}
    for part in parts:
        for key, value in part.notes.items():
            notes[key if len(parts) == 1 else f"{part.dataset_id}: {key}"] = value
    ref_min, ref_max, ref_source = _mixture_refs(spec, parts)
    info = DatasetInfo(
        dataset_id=spec,
        eval_env_spec=first.eval_env_spec,
        ref_min_score=ref_min,
        ref_max_score=ref_max,
        ref_score_source=ref_source,
        obs_dim=int(transition.obs.shape[1]),
        action_dim=int(transition.action.shape[1]),
        action_low=np.asarray(first.action_low, np.float32),
        action_high=np.asarray(first.action_high, np.float32),
        num_transitions=int(transition.reward.shape[0]),
        num_episodes=num_episodes,
        family=family,
        transforms={"source": source, "config": _jsonable(transforms), **notes, **description},
        obs_mean=obs_mean,
        obs_std=obs_std,
        components=tuple(part.dataset_id for part in parts),
        spec=parsed,
        reward_scale=reward_scale,
        reward_shift=reward_shift,
        episode_ends=np.asarray(episode_ends, bool),  # Transforms keep every row in place.
    )
    return transition, info


def _load_part(part: DatasetPart, download: bool, env_id: str | None) -> RawDataset:
    """Reads one (non-mixture) part of a spec into a validated ``RawDataset``."""
    if part.is_d4rl:
        raw = d4rl_format.read_d4rl_hdf5(os.path.expanduser(part.path), str(part),
                                         env_id or part.env_override)
    else:
        raw = read_minari(part.dataset_id, download, env_id)
    check_transition(raw.transition, str(part), raw.episode_ends)
    return raw


def _check_compatible(spec: str, parts: list[RawDataset]):
    """Raises ``DatasetError`` unless all parts of a mixture share dims, action bounds and env."""
    def describe(p):
        return (f"{p.dataset_id}: obs_dim={p.transition.obs.shape[1]}, action_dim="
                f"{p.transition.action.shape[1]}, eval env={env_id_of(p.eval_env_spec)}")
    first = parts[0]
    for part in parts[1:]:
        same = (part.transition.obs.shape[1] == first.transition.obs.shape[1]
                and part.transition.action.shape[1] == first.transition.action.shape[1]
                and np.array_equal(part.action_low, first.action_low)
                and np.array_equal(part.action_high, first.action_high)
                and env_id_of(part.eval_env_spec) == env_id_of(first.eval_env_spec))
        if not same:
            raise DatasetError(
                f"Cannot mix {spec!r}: its parts are not datasets of the same env ("
                + "; ".join(describe(p) for p in parts)
                + "). A mixture needs equal observation/action dims, action bounds and eval env; "
                "pass env_id= if only the recorded eval env differs."
            )


def _mixture_refs(spec: str, parts: list[RawDataset]):
    """Reference scores shared by the parts that have them (``DatasetError`` if they disagree)."""
    with_refs = [p for p in parts if p.ref_min_score is not None and p.ref_max_score is not None]
    if not with_refs:
        return None, None, None
    first = with_refs[0]
    for part in with_refs[1:]:
        if not np.allclose([part.ref_min_score, part.ref_max_score],
                           [first.ref_min_score, first.ref_max_score]):
            raise DatasetError(
                f"Parts of {spec!r} disagree on reference scores ("
                + "; ".join(f"{p.dataset_id}: {p.ref_min_score}..{p.ref_max_score}"
                            for p in with_refs)
                + "), so normalized scores would be ambiguous. Mix datasets of one benchmark "
                "family, or fix the metadata (minari: dataset.storage.update_metadata)."
            )
    source = first.ref_score_source
    if len(parts) > 1:
        source = f"{source} of {', '.join(p.dataset_id for p in with_refs)}"
    return first.ref_min_score, first.ref_max_score, source


def _jsonable(transforms: Transforms) -> dict[str, Any]:
    return dataclasses.asdict(transforms)
