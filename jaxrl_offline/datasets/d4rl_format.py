"""Legacy D4RL hdf5 files: reading into a ``RawDataset``, writing from arrays, and D4RL's tables.

A D4RL file holds flat arrays ``observations [N, obs_dim]``, ``actions [N, action_dim]``,
``rewards [N]``, ``terminals [N]`` (true terminations) and ``timeouts [N]`` (time limits), and
sometimes ``next_observations``. Without ``next_observations`` the next observation of step i is
``observations[i + 1]`` inside an episode; at an episode's last step it is unknown, so (unlike
``d4rl.qlearning_dataset``, which drops every episode end) we drop only the steps whose next
observation is needed and unknown: timeouts and the end of the file. A terminal step keeps
``next_obs = obs`` (any value works: its bootstrap mask is 0).

D4RL files store actions in [-1, 1] (all D4RL tasks use normalized action spaces), so no
action rescaling is applied.
"""

from __future__ import annotations

import os
import re

import numpy as np

from jaxrl_offline.datasets.raw_data import (DatasetError, RawDataset, check_magnitude,
                                             check_terminals)
from jaxrl_offline.types import Transition

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts")

# Ordered (regex on the normalized file name, Gymnasium eval env id); first match wins. File names
# are lower-cased with "_" replaced by "-", so both "hopper-medium-v2" and D4RL's download name
# "hopper_medium-v2" match. The "ant-maze-*" rows are D4RL's antmaze download names [from memory of
# d4rl/locomotion/__init__.py: u-maze = umaze, big-maze = medium, hardest-maze = large,
# multigoal True = diverse]; pass env_id= when a name is not recognized.
D4RL_ENV_TABLE: tuple[tuple[str, str], ...] = (
    (r"antmaze-umaze|ant-maze-u-maze", "AntMaze_UMaze-v5"),
    (r"antmaze-medium-diverse|ant-maze-big-maze.*multigoal-true", "AntMaze_Medium_Diverse_GR-v5"),
    (r"antmaze-medium|ant-maze-big-maze", "AntMaze_Medium-v5"),
    (r"antmaze-large-diverse|ant-maze-hardest-maze.*multigoal-true", "AntMaze_Large_Diverse_GR-v5"),
    (r"antmaze-large|ant-maze-hardest-maze", "AntMaze_Large-v5"),
    (r"maze2d-open-dense", "PointMaze_OpenDense-v3"),
    (r"maze2d-open", "PointMaze_Open-v3"),
    (r"maze2d-umaze-dense", "PointMaze_UMazeDense-v3"),
    (r"maze2d-umaze", "PointMaze_UMaze-v3"),
    (r"maze2d-medium-dense", "PointMaze_MediumDense-v3"),
    (r"maze2d-medium", "PointMaze_Medium-v3"),
    (r"maze2d-large-dense", "PointMaze_LargeDense-v3"),
    (r"maze2d-large", "PointMaze_Large-v3"),
    (r"halfcheetah", "HalfCheetah-v5"),
    (r"hopper", "Hopper-v5"),
    (r"walker2d", "Walker2d-v5"),
    (r"^ant(-|$)", "Ant-v5"),
    (r"^pen(-|$)", "AdroitHandPen-v1"),
    (r"^door(-|$)", "AdroitHandDoor-v1"),
    (r"^hammer(-|$)", "AdroitHandHammer-v1"),
    (r"^relocate(-|$)", "AdroitHandRelocate-v1"),
    (r"kitchen", "FrankaKitchen-v1"),
)

# D4RL reference scores (d4rl/infos.py; spec data.md §3): (regex on the normalized file name,
# REF_MIN_SCORE, REF_MAX_SCORE); first match wins.
D4RL_REF_SCORES: tuple[tuple[str, float, float], ...] = (
    (r"antmaze|ant-maze", 0.0, 1.0),
    (r"maze2d-open-dense", 11.17817, 27.166538620695782),
    (r"maze2d-open", 0.01, 20.66),
    (r"maze2d-umaze-dense", 68.537689, 193.66285642381482),
    (r"maze2d-medium-dense", 44.264742, 297.4552547777125),
    (r"maze2d-large-dense", 30.569041, 303.4857382709002),
    (r"maze2d-umaze.*-v0", 0.94, 62.6),
    (r"maze2d-medium.*-v0", 5.77, 85.14),
    (r"maze2d-large.*-v0", 4.83, 191.99),
    (r"maze2d-umaze", 23.85, 161.86),
    (r"maze2d-medium", 13.13, 277.39),
    (r"maze2d-large", 6.7, 273.99),
    (r"halfcheetah", -280.178953, 12135.0),
    (r"hopper", -20.272305, 3234.3),
    (r"walker2d", 1.629008, 4592.3),
    (r"^ant(-|$)", -325.6, 3879.7),
    (r"^pen(-|$)", 96.262799, 3076.8331017826877),
    (r"^hammer(-|$)", -274.856578, 12794.134825156867),
    (r"^door(-|$)", -56.512833, 2880.5693087298737),
    (r"^relocate(-|$)", -6.425911, 4233.877797728884),
    (r"kitchen", 0.0, 4.0),
)


def normalized_file_name(path: str) -> str:
    """``"/x/Hopper_medium-v2.hdf5"`` -> ``"hopper-medium-v2"`` (the key of the D4RL tables)."""
    name = os.path.basename(path)
    if name.lower().endswith(".hdf5"):
        name = name[: -len(".hdf5")]
    return name.lower().replace("_", "-")


def lookup_env_id(path: str) -> str | None:
    """Gymnasium eval env id for a D4RL file name, or ``None`` when not in ``D4RL_ENV_TABLE``."""
    name = normalized_file_name(path)
    return next((env for pattern, env in D4RL_ENV_TABLE if re.search(pattern, name)), None)


def lookup_ref_scores(path: str) -> tuple[float, float] | None:
    """D4RL (REF_MIN_SCORE, REF_MAX_SCORE) for a file name, or ``None`` when unknown."""
    name = normalized_file_name(path)
    return next(((lo, hi) for pattern, lo, hi in D4RL_REF_SCORES if re.search(pattern, name)), None)


def read_d4rl_hdf5(path: str, spec: str, env_id: str | None = None) -> RawDataset:
    """Reads a legacy D4RL hdf5 file.

    Args:
      path: file path.
      spec: the spec it was requested as (``"d4rl:PATH"``), for ids and messages.
      env_id: eval env id overriding ``D4RL_ENV_TABLE``.

    Returns:
      ``RawDataset`` with transitions whose next observation is known (see module docstring).
    """
    arrays = _read_arrays(path, spec)
    num_steps = len(arrays["rewards"])
    obs = arrays["observations"].reshape(num_steps, -1).astype(np.float32)
    terminal = arrays["terminals"].reshape(num_steps).astype(bool)
    episode_end = terminal | arrays["timeouts"].reshape(num_steps).astype(bool)
    episode_end[-1] = True
    if "next_observations" in arrays:
        next_obs = arrays["next_observations"].reshape(num_steps, -1).astype(np.float32)
        keep = np.ones(num_steps, bool)
        note = "from the file's next_observations"
    else:
        next_obs = np.concatenate([obs[1:], obs[-1:]])
        next_obs[terminal] = obs[terminal]  # Any value works: the bootstrap mask is 0.
        keep = ~episode_end | terminal
        note = (f"observations[i + 1] within episodes; dropped {int((~keep).sum())} of "
                f"{num_steps} transitions whose next observation is unknown (timeouts / end of "
                "file)")
    episode_id = np.cumsum(np.concatenate([[0], episode_end[:-1]]))[keep]
    action = arrays["actions"].reshape(num_steps, -1).astype(np.float32)
    resolved_env = env_id or lookup_env_id(path)
    refs = lookup_ref_scores(path)
    return RawDataset(
        dataset_id=spec,
        transition=Transition(obs=obs[keep], action=action[keep],
                              reward=arrays["rewards"].reshape(num_steps).astype(np.float64)[keep],
                              next_obs=next_obs[keep], terminal=terminal[keep].astype(np.float32)),
        episode_ends=np.append(episode_id[1:] != episode_id[:-1], True)[: episode_id.size],
        num_episodes=int(np.unique(episode_id).size),
        eval_env_spec=resolved_env,
        ref_min_score=refs[0] if refs else None,
        ref_max_score=refs[1] if refs else None,
        ref_score_source="D4RL" if refs else None,
        action_low=-np.ones(action.shape[1], np.float32),
        action_high=np.ones(action.shape[1], np.float32),
        family_text=f"{normalized_file_name(path)} {resolved_env or ''}",
        notes={"next_obs": note},
    )


def _read_arrays(path: str, spec: str) -> dict[str, np.ndarray]:
    """The file's ``REQUIRED_KEYS`` (+ ``next_observations``), checked for presence and length."""
    import h5py  # Imported lazily: only the reader and the writer need it.

    if not os.path.isfile(path):
        raise DatasetError(
            f"D4RL file {path!r} (from spec {spec!r}) does not exist. Give the path of a D4RL hdf5 "
            "file, e.g. 'd4rl:~/.d4rl/datasets/hopper_medium-v2.hdf5'."
        )
    try:
        with h5py.File(path, "r") as file:
            missing = [key for key in REQUIRED_KEYS if key not in file]
            if missing:
                raise DatasetError(
                    f"D4RL file {path!r} lacks the keys {missing} (it has {sorted(file.keys())}). "
                    f"A legacy D4RL file needs {list(REQUIRED_KEYS)} (plus optional "
                    "next_observations); rewrite it with "
                    "jaxrl_offline.local_suite.synthetic.write_d4rl_hdf5 "
                    "or convert it to Minari."
                )
            keys = REQUIRED_KEYS + (("next_observations",) if "next_observations" in file else ())
            arrays = {key: file[key][()] for key in keys}
    except OSError as err:  # h5py's error for truncated or damaged files names neither.
        raise DatasetError(
            f"D4RL file {path!r} (dataset {spec!r}) cannot be read by h5py ({err}); it is "
            "truncated or corrupt (an interrupted download or copy?). Re-download or regenerate "
            "it."
        ) from None
    for key, value in arrays.items():
        if not np.issubdtype(value.dtype, np.number) and value.dtype != bool:
            raise DatasetError(
                f"D4RL file {path!r} (dataset {spec!r}): {key!r} has dtype {value.dtype}, not "
                "numbers. The file is corrupt or not a D4RL dataset; regenerate it.")
    for key in ("terminals", "timeouts"):
        check_terminals(arrays[key], key, f"{spec} ({path})")
    for key in ("observations", "next_observations"):
        if key in arrays:
            check_magnitude(arrays[key], key, f"{spec} ({path})")
    lengths = {key: len(value) for key, value in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise DatasetError(
            f"D4RL file {path!r} has arrays of different lengths: {lengths}. It is truncated or "
            "corrupt; re-download or regenerate it."
        )
    if lengths["rewards"] == 0:
        raise DatasetError(
            f"D4RL file {path!r} contains no transitions (all arrays are empty). Regenerate or "
            "re-download it."
        )
    return arrays


def write_d4rl_hdf5(path: str, observations, actions, rewards, terminals, timeouts,
                    next_observations=None) -> str:
    """Writes arrays as a legacy D4RL hdf5 file (the format ``load_dataset("d4rl:PATH")`` reads).

    Args:
      path: output file (parent directories are created).
      observations: [N, obs_dim].
      actions: [N, action_dim] in [-1, 1].
      rewards: [N].
      terminals: [N] bool, true terminations.
      timeouts: [N] bool, time-limit ends (``observations[i + 1]`` then starts a new episode).
      next_observations: optional [N, obs_dim].

    Returns:
      ``path``.
    """
    import h5py

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    columns = {"observations": np.asarray(observations, np.float32),
               "actions": np.asarray(actions, np.float32),
               "rewards": np.asarray(rewards, np.float32),
               "terminals": np.asarray(terminals, bool),
               "timeouts": np.asarray(timeouts, bool)}
    if next_observations is not None:
        columns["next_observations"] = np.asarray(next_observations, np.float32)
    with h5py.File(path, "w") as file:
        for key, value in columns.items():
            file.create_dataset(key, data=value)
    return path
