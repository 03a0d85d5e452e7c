"""Minari datasets -> ``RawDataset``: local lookup, fail-fast download, episode flattening.

Episodes store T + 1 observations, so every transition keeps its true next observation, also at
time limits: ``obs = observations[:-1]``, ``next_obs = observations[1:]``, ``terminal =
terminations`` (truncations never become terminals). Observations of Dict spaces (PointMaze,
AntMaze) are flattened by :func:`flatten_observation` as ``concat(observation, achieved_goal,
desired_goal)``: Gymnasium Robotics' AntMaze ``observation`` omits the ant's (x, y), which only
``achieved_goal`` carries, and the goal completes the policy input when goals vary.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from typing import Any, Callable, Iterator

import gymnasium as gym
import h5py
import minari
import numpy as np
from minari.dataset.minari_dataset import parse_dataset_id
from minari.storage import get_dataset_path

from jaxrl_offline.datasets.raw_data import DatasetError, RawDataset, env_id_of
from jaxrl_offline.types import Transition

OFFLINE_CHECK_TIMEOUT_S = 2.0
_DICT_OBS_KEYS = ("observation", "achieved_goal", "desired_goal")
_HDF5_FILE = "main_data.hdf5"  # Minari's hdf5 layout: groups episode_<i> holding these datasets:
_EPISODE_KEYS = (b"observations", b"actions", b"rewards", b"terminations", b"truncations")


def read_minari(dataset_id: str, download: bool, env_id: str | None) -> RawDataset:
    """Flattens a local (or downloaded) Minari dataset's episodes into transitions."""
    dataset = open_minari(dataset_id, download)
    action_space = dataset.spec.action_space
    if not isinstance(action_space, gym.spaces.Box) or not (
            np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
        raise DatasetError(
            f"Dataset {dataset_id!r} has action space {action_space}; jaxrl_offline supports only "
            "continuous Box action spaces with finite bounds (actions are rescaled to [-1, 1])."
        )
    flatten, flatten_note = _observation_flattener(dataset.spec.observation_space, dataset_id)
    stacked, num_episodes = _flatten_episodes(dataset, flatten, dataset_id)
    metadata = dataset.storage.metadata
    eval_env_spec = env_id or metadata.get("eval_env_spec") or metadata.get("env_spec")
    has_refs = all(metadata.get(key) is not None for key in ("ref_min_score", "ref_max_score"))
    return RawDataset(
        dataset_id=dataset_id,
        transition=Transition(obs=stacked["obs"], action=stacked["action"],
                              reward=stacked["reward"], next_obs=stacked["next_obs"],
                              terminal=stacked["terminal"]),
        episode_ends=stacked["end"],
        num_episodes=num_episodes,
        eval_env_spec=eval_env_spec,
        ref_min_score=float(metadata["ref_min_score"]) if has_refs else None,
        ref_max_score=float(metadata["ref_max_score"]) if has_refs else None,
        ref_score_source="dataset metadata" if has_refs else None,
        action_low=np.asarray(action_space.low, np.float32).reshape(-1),
        action_high=np.asarray(action_space.high, np.float32).reshape(-1),
        family_text=f"{dataset_id} {env_id_of(eval_env_spec) or ''}",
        notes={"observation_flatten": flatten_note} if flatten_note else {},
    )


def _flatten_episodes(dataset, flatten: Callable, dataset_id: str):
    """Concatenates per-episode (obs, next_obs, action, reward, terminal, end) columns.

    Returns:
      (dict of [N, ...] arrays, number of non-empty episodes).
    """
    columns: dict[str, list[np.ndarray]] = {
        key: [] for key in ("obs", "next_obs", "action", "reward", "terminal", "end")}
    for episode_id, observations, actions, rewards, terminations, truncations in (
            _episodes(dataset, flatten)):
        length = len(rewards)
        lengths = {"observations": len(observations), "actions": len(actions),
                   "terminations": len(terminations), "truncations": len(truncations)}
        if lengths != {"observations": length + 1, "actions": length, "terminations": length,
                       "truncations": length}:
            raise DatasetError(
                f"Episode {episode_id} of {dataset_id!r} has mismatched lengths {lengths} for "
                f"{length} rewards (expected {length + 1} observations and {length} of the rest). "
                "The dataset is corrupt; regenerate or re-download it."
            )
        if length == 0:
            continue
        observations = np.asarray(observations, np.float32)
        columns["obs"].append(observations[:-1])
        columns["next_obs"].append(observations[1:])
        columns["action"].append(np.asarray(actions, np.float32).reshape(length, -1))
        columns["reward"].append(np.asarray(rewards, np.float64))
        # Only true terminations stop bootstrapping; truncations keep terminal = 0.
        columns["terminal"].append(np.asarray(terminations, np.float32))
        columns["end"].append(np.arange(length) == length - 1)
    if not columns["end"]:
        raise DatasetError(
            f"Dataset {dataset_id!r} contains no transitions ({dataset.total_episodes} episodes, "
            f"{dataset.total_steps} steps). Regenerate it or pick another dataset."
        )
    return {key: np.concatenate(value) for key, value in columns.items()}, len(columns["end"])


def _episodes(dataset: minari.MinariDataset, flatten: Callable) -> Iterator[tuple]:
    """Yields (id, observations [T + 1, obs_dim], actions, rewards, terminations, truncations).

    hdf5 datasets with flat Box spaces are read with h5py's low-level API (about 3x faster than
    ``iterate_episodes`` on datasets of many short episodes); anything else goes through Minari.
    """
    spaces = (dataset.spec.observation_space, dataset.spec.action_space)
    hdf5_path = os.path.join(dataset.spec.data_path, _HDF5_FILE)
    if not (getattr(dataset.storage, "FORMAT", None) == "hdf5" and os.path.isfile(hdf5_path)
            and all(isinstance(s, gym.spaces.Box) and len(s.shape) == 1 for s in spaces)):
        for episode in dataset.iterate_episodes():
            yield (episode.id, flatten(episode.observations), episode.actions, episode.rewards,
                   episode.terminations, episode.truncations)
        return
    try:
        with h5py.File(hdf5_path, "r") as file:
            for index in dataset.episode_indices:
                try:
                    group = h5py.h5g.open(file.id, f"episode_{index}".encode())
                    episode = tuple(_read_h5(group, key) for key in _EPISODE_KEYS)
                except (OSError, KeyError) as err:
                    raise DatasetError(_truncated_message(dataset, hdf5_path, err,
                                                          f"episode_{index}")) from None
                yield (index, *episode)
    except OSError as err:
        raise DatasetError(_truncated_message(dataset, hdf5_path, err)) from None


def _truncated_message(dataset, hdf5_path: str, err: Exception, part: str = "") -> str:
    where = f" ({part})" if part else ""
    return (f"Dataset {dataset.spec.dataset_id!r}: its file {hdf5_path}{where} cannot be read by "
            f"h5py ({err}); it is truncated or corrupt (an interrupted generation, download or "
            f"copy?). Delete the dataset (minari delete {dataset.spec.dataset_id}) and regenerate "
            "or re-download it.")


def _read_h5(group, key: bytes) -> np.ndarray:
    dataset = h5py.h5d.open(group, key)
    array = np.empty(dataset.shape, dtype=dataset.dtype)
    dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, array)
    return array


def flatten_observation(obs: Any) -> np.ndarray:
    """Flattens a (batched) observation the way the data layer flattens dataset observations.

    Arrays pass through. Dicts with an ``observation`` key become ``concat(observation,
    achieved_goal, desired_goal)`` (the keys present, in that order; AntMaze's ``observation`` lacks
    the (x, y) that ``achieved_goal`` holds); other dicts are concatenated over sorted keys; tuples
    in order. Evaluation must use this same function on env observations.

    Args:
      obs: array [..., d], or dict / tuple of arrays [..., d_k] sharing the leading axes.

    Returns:
      [..., obs_dim] array.
    """
    if isinstance(obs, dict):
        return np.concatenate([np.asarray(obs[key]) for key in dict_observation_keys(obs)], axis=-1)
    if isinstance(obs, tuple):
        return np.concatenate([np.asarray(part) for part in obs], axis=-1)
    return np.asarray(obs)


def dict_observation_keys(keys) -> list[str]:
    """The order in which ``flatten_observation`` concatenates the keys of a Dict observation."""
    keys = list(keys)
    if "observation" in keys:
        return [key for key in _DICT_OBS_KEYS if key in keys]
    return sorted(keys)


def _observation_flattener(space: gym.Space, dataset_id: str) -> tuple[Callable, str | None]:
    """Returns (function mapping stored episode observations to [T + 1, obs_dim], description)."""
    def as_rows(x):
        x = np.asarray(x)
        return x.reshape(x.shape[0], -1)

    if isinstance(space, gym.spaces.Box):
        return as_rows, None
    if isinstance(space, gym.spaces.Dict):
        keys = dict_observation_keys(space.spaces)
        if all(isinstance(space.spaces[k], gym.spaces.Box) and len(space.spaces[k].shape) == 1
               for k in keys):
            return (lambda obs: flatten_observation({k: as_rows(obs[k]) for k in keys}),
                    f"concat({', '.join(keys)}) of the Dict observation")
    if isinstance(space, gym.spaces.Tuple) and all(
            isinstance(s, gym.spaces.Box) and len(s.shape) == 1 for s in space.spaces):
        return (lambda obs: flatten_observation(tuple(as_rows(o) for o in obs)),
                "concat of the Tuple observation's Box parts, in order")
    raise DatasetError(
        f"Dataset {dataset_id!r} has observation space {space}; jaxrl_offline supports Box "
        "observations and Dict/Tuple spaces made of 1-D Box parts. Convert the observations first."
    )


def open_minari(dataset_id: str, download: bool) -> minari.MinariDataset:
    """``minari.load_dataset`` with clear errors for malformed, missing and offline ids."""
    try:
        parse_dataset_id(dataset_id)
    except (TypeError, ValueError):
        raise DatasetError(
            f"{dataset_id!r} is not a valid dataset spec. Use a Minari id 'namespace/name-vN' "
            "(e.g. 'mujoco/hopper/medium-v0'; the -vN version is required), 'd4rl:PATH.hdf5' for a "
            "legacy D4RL file, or 'A+B' for a mixture."
        ) from None
    root = get_dataset_path()
    if not os.path.isdir(os.path.join(root, dataset_id, "data")):
        if not download:
            raise DatasetError(_not_found_message(dataset_id, root))
        _download(dataset_id, root)
    try:
        return minari.load_dataset(dataset_id, download=False)
    except Exception as error:  # Minari raises several types for unreadable / incompatible data.
        raise DatasetError(
            f"Dataset {dataset_id!r} exists under {root} but Minari {minari.__version__} cannot "
            f"read it ({type(error).__name__}: {error}). It may be incomplete or from an "
            "incompatible Minari version: delete it (minari delete ID) and regenerate/re-download."
        ) from error


def _not_found_message(dataset_id: str, root) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Misconfigured dataset" warnings for broken folders.
        local = sorted(minari.list_local_datasets())
    # The generators live in the suite layer above this one, so they are named, not imported.
    hint = ("It is generated locally in seconds: jaxrl_offline.local_suite.synthetic."
            f"ensure_dataset({dataset_id!r}). " if dataset_id.startswith("jaxrl_offline/invpend/")
            else
            "It is generated locally: python -m experiments.make_datasets (or "
            "jaxrl_offline.local_suite.suite.ensure_dataset). "
            if dataset_id.startswith("jaxrl_offline/") else
            f"Get it with load_dataset({dataset_id!r}, download=True) or `minari download "
            f"{dataset_id}` on a connected machine (copy ~/.minari/datasets/{dataset_id} "
            f"to {os.path.join(str(root), dataset_id)} when this one is offline); datasets of the "
            "jaxrl_offline/ namespace are made locally (jaxrl_offline.local_suite.synthetic."
            "ensure_dataset, python -m experiments.make_datasets). ")
    return (f"Dataset {dataset_id!r} is not in the local Minari store {root} (set by "
            f"MINARI_DATASETS_PATH, default ~/.minari/datasets). Local datasets: "
            f"{', '.join(local) if local else 'none'}. " + hint
            + "Legacy D4RL files load as 'd4rl:PATH.hdf5'.")


def _download(dataset_id: str, root):
    """Downloads a Minari dataset, failing at once (no retries) when the remote is unreachable."""
    remote = os.environ.get("MINARI_REMOTE", "hf://farama-minari")
    host = "storage.googleapis.com" if remote.startswith("gcp://") else "huggingface.co"
    offline_flag = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if offline_flag or not _host_reachable(host, 443, OFFLINE_CHECK_TIMEOUT_S):
        reason = "HF_HUB_OFFLINE is set" if offline_flag else (
            f"{host}:443 is unreachable within {OFFLINE_CHECK_TIMEOUT_S:g} s")
        raise DatasetError(
            f"Dataset {dataset_id!r} is not in the local Minari store {root} and this machine "
            f"appears to be offline ({reason}), so it cannot be downloaded. On a connected machine "
            f"run `minari download {dataset_id}`, then copy ~/.minari/datasets/{dataset_id} to "
            f"{os.path.join(str(root), dataset_id)} here (or point MINARI_DATASETS_PATH at a copy "
            "of that store)."
        )
    try:
        minari.download_dataset(dataset_id)
    except ImportError as error:
        raise DatasetError(
            f"Downloading {dataset_id!r} needs Minari's remote extras: {error}") from error
    except Exception as error:  # Remote errors come in many types (HTTP, ValueError, ...).
        raise DatasetError(
            f"Downloading {dataset_id!r} from {remote} failed ({type(error).__name__}: {error}). "
            "Check the id with `minari list remote`, or download it on another machine and copy it "
            f"to {os.path.join(str(root), dataset_id)}."
        ) from error


def _host_reachable(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to host:port opens within ``timeout`` seconds (DNS included)."""
    result = []

    def connect():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, daemon=True)  # getaddrinfo ignores socket timeouts.
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])
