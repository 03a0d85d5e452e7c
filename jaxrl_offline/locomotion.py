"""The local D4RL-style locomotion suite: envs, D4RL's reference scores, shipped behavior policies.

D4RL's gym-mujoco suite (random, medium, medium-replay, medium-expert, expert for halfcheetah,
hopper and walker2d) cannot be downloaded here, so the project regenerates it on Gymnasium's v5
MuJoCo envs from behavior policies it trained itself (``experiments/train_behavior.py``) and ships
under ``jaxrl_offline/behavior_policies/<env>/``. Reference scores are **D4RL's** constants
(``d4rl/infos.py``): normalized scores are "D4RL-style" and comparable to published numbers only
approximately (v5 envs differ from D4RL's v2/v3 envs; Hopper's uniform-random return on v5 is
+15.9 against D4RL's -20.27 reference).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from jaxrl_offline import behavior
from jaxrl_offline.types import DatasetInfo

POLICY_ROOT = pathlib.Path(__file__).parent / "behavior_policies"


@dataclasses.dataclass(frozen=True)
class LocomotionEnv:
    """One env of the suite.

    Attributes:
      name: short name used in dataset ids (``jaxrl_offline/<name>/<kind>-v0``).
      env_id: the Gymnasium env the data comes from and is evaluated in.
      ref_min_score: D4RL's REF_MIN_SCORE (random policy return).
      ref_max_score: D4RL's REF_MAX_SCORE (SAC expert return).
      obs_dim: observation size.
      action_dim: action size.
    """

    name: str
    env_id: str
    ref_min_score: float
    ref_max_score: float
    obs_dim: int
    action_dim: int


ENVS: dict[str, LocomotionEnv] = {
    env.name: env for env in (
        LocomotionEnv("halfcheetah", "HalfCheetah-v5", -280.178953, 12135.0, 17, 6),
        LocomotionEnv("hopper", "Hopper-v5", -20.272305, 3234.3, 11, 3),
        LocomotionEnv("walker2d", "Walker2d-v5", 1.629008, 4592.3, 17, 6),
    )
}
REF_SCORE_SOURCE = "D4RL (d4rl/infos.py)"


def get_env(name: str) -> LocomotionEnv:
    try:
        return ENVS[name]
    except KeyError:
        raise ValueError(f"unknown locomotion env {name!r}; the suite has "
                         f"{', '.join(sorted(ENVS))}") from None


def eval_info(name: str) -> DatasetInfo:
    """A ``DatasetInfo`` for evaluating raw-observation policies in the env (D4RL scores)."""
    env = get_env(name)
    return DatasetInfo(
        dataset_id=f"online:{env.env_id}", eval_env_spec=env.env_id,
        ref_min_score=env.ref_min_score, ref_max_score=env.ref_max_score,
        ref_score_source=REF_SCORE_SOURCE, obs_dim=env.obs_dim, action_dim=env.action_dim,
        action_low=-np.ones(env.action_dim), action_high=np.ones(env.action_dim),
        num_transitions=0, num_episodes=0, family="locomotion", transforms={})


def policy_dir(name: str, root: str | pathlib.Path | None = None) -> pathlib.Path:
    return pathlib.Path(root or POLICY_ROOT) / get_env(name).name


def read_manifest(name: str, root: str | pathlib.Path | None = None) -> dict:
    """The ``manifest.json`` of an env's shipped behavior policies (levels, steps, returns)."""
    path = policy_dir(name, root) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no behavior policies for {name!r} at {path.parent}. Train them with "
            f"`python -m experiments.train_behavior --env={name}` and export them with "
            f"`--export`, or install a jaxrl_offline release that ships them.")
    return json.loads(path.read_text())


def load_policy(name: str, level: str, root: str | pathlib.Path | None = None):
    """``(BehaviorPolicy, sha256)`` of level ``"medium"`` or ``"expert"`` of env ``name``."""
    manifest = read_manifest(name, root)
    if level not in manifest["levels"]:
        raise ValueError(f"{name} has no {level!r} policy; it has {sorted(manifest['levels'])}")
    entry = manifest["levels"][level]
    path = policy_dir(name, root) / entry["file"]
    return behavior.load(path), behavior.file_sha256(path)


def replay_sequence(name: str, root: str | pathlib.Path | None = None):
    """The checkpoint sequence that regenerates medium-replay: ``[(start_step, end_step, policy
    file or None)]``, ``None`` meaning uniform random actions (SAC's warm-up)."""
    manifest = read_manifest(name, root)
    directory = policy_dir(name, root)
    return [(segment["start"], segment["end"],
             None if segment["file"] is None else directory / segment["file"])
            for segment in manifest["replay"]]
