"""Checks of a loaded dataset against its evaluation env, run before any update.

The data layer (``raw_data.check_transition``, the readers) refuses data that is broken on its
own: non-finite values, terminals that are not 0/1, absurd magnitudes, truncated files. What is
left needs the env: :func:`check_eval_env` builds the eval env once and refuses a dataset whose
observation or action size differs from the env's spaces, or that names no env (or an env
Gymnasium cannot make). :func:`dataset_warnings` lists what is suspicious but usable (actions
outside the env's bounds, clipped); the runner prints each and stores them in the run record.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from jaxrl_offline.local_suite import envs
from jaxrl_offline.runner import evaluation
from jaxrl_offline.datasets.raw_data import DatasetError, env_id_of
from jaxrl_offline.types import DatasetInfo


def check_eval_env(info: DatasetInfo) -> None:
    """Raises ``DatasetError`` unless the dataset's eval env can be made and matches its dims.

    Args:
      info: metadata of the loaded dataset (``obs_dim``, ``action_dim``, ``eval_env_spec``).
    """
    where = info.dataset_id
    if info.eval_env_spec is None:
        raise DatasetError(
            f"Dataset {where!r} names no evaluation env: its file name matches no known env "
            "(jaxrl_offline.datasets.d4rl_format.D4RL_ENV_TABLE) and it carries no eval_env_spec. "
            "Name "
            f"the env in the spec, e.g. 'd4rl:PATH.hdf5?env=Hopper-v5', or store eval_env_spec "
            "in the Minari metadata.")
    env_id = env_id_of(info.eval_env_spec)
    try:
        env = envs.make_env(info.eval_env_spec)()
    except Exception as err:  # noqa: BLE001 - gymnasium raises many types (VersionNotFound, ...).
        raise DatasetError(
            f"Dataset {where!r}: its evaluation env {env_id!r} cannot be made ({type(err).__name__}"
            f": {err}). Give a registered Gymnasium id, e.g. 'd4rl:PATH.hdf5?env=Hopper-v5' "
            "(gymnasium.pprint_registry() lists them).") from None
    try:
        obs, _ = env.reset(seed=0)
        obs_dim = int(evaluation.flatten_obs(obs).size)
        space = env.action_space
    finally:
        env.close()
    action_dim = int(np.prod(space.shape)) if isinstance(space, gym.spaces.Box) else None
    if (obs_dim, action_dim) != (info.obs_dim, info.action_dim):
        raise DatasetError(
            f"Dataset {where!r} does not fit its evaluation env {env_id!r}: the data has "
            f"obs_dim={info.obs_dim}, action_dim={info.action_dim}; the env has obs_dim={obs_dim}, "
            f"action_dim={action_dim} ({space}). The file is of another env than its name says: "
            "rename it or name the right env with '?env=ENV_ID'.")


def dataset_warnings(info: DatasetInfo) -> list[str]:
    """Suspicious but usable facts about the data, one message each (printed and recorded)."""
    warnings = []
    outside = info.transforms.get("actions_outside_bounds")
    if outside:
        warnings.append(
            f"Dataset {info.dataset_id!r}: {outside}. If the file's actions are in other units "
            "than the env's, rescale them before training; otherwise this is harmless.")
    return warnings
