"""The local D4RL-style locomotion suite: envs, D4RL's reference scores, shipped behavior policies.

D4RL's gym-mujoco suite (random, medium, medium-replay, medium-expert, expert for halfcheetah,
hopper and walker2d) cannot be downloaded here, so the project regenerates it on Gymnasium's v5
MuJoCo envs from behavior policies it trained itself (``experiments/train_behavior.py``) and ships
under ``jaxrl_offline/local_suite/behavior_policies/<env>/``. Reference scores are **D4RL's**
constants (``d4rl/infos.py``), read from the one table ``d4rl_format.D4RL_REF_SCORES``: normalized
scores are "D4RL-style" and comparable to published numbers only approximately (v5 envs differ from
D4RL's v2/v3 envs; Hopper's uniform-random return on v5 is +15.9 against D4RL's -20.27
reference).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

import numpy as np

from jaxrl_offline.datasets import d4rl_format, dataset_spec
from jaxrl_offline.local_suite import behavior
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


def _suite_env(name: str, env_id: str, obs_dim: int, action_dim: int) -> LocomotionEnv:
    """An env of the suite with D4RL's reference scores for ``name`` (``D4RL_REF_SCORES``, the
    table the D4RL hdf5 loader uses too)."""
    ref_min_score, ref_max_score = d4rl_format.lookup_ref_scores(name)
    return LocomotionEnv(name, env_id, ref_min_score, ref_max_score, obs_dim, action_dim)


ENVS: dict[str, LocomotionEnv] = {
    env.name: env for env in (
        _suite_env("halfcheetah", "HalfCheetah-v5", 17, 6),
        _suite_env("hopper", "Hopper-v5", 11, 3),
        _suite_env("walker2d", "Walker2d-v5", 17, 6),
    )
}
REF_SCORE_SOURCE = "D4RL (d4rl/infos.py)"
MEDIUM_TOLERANCE = 0.8  # medium = first snapshot reaching this fraction of expert / 3


if tuple(sorted(ENVS)) != tuple(sorted(dataset_spec.SUITE_ENVS)):
    raise ImportError(f"locomotion.ENVS {sorted(ENVS)} and dataset_spec.SUITE_ENVS "
                      f"{sorted(dataset_spec.SUITE_ENVS)} disagree: add the env to both")


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


def export_policies(env_name: str, workdir: pathlib.Path, root: pathlib.Path,
                    window: float = 0.2, medium_step: int | None = None,
                    medium_reason: str = "", mirror: pathlib.Path | None = None) -> dict:
    """Chooses expert/medium/replay snapshots of a ``train_behavior`` run and ships them.

    Reads ``workdir/history.json`` and ``workdir/snapshots/`` and writes ``root/<env>/`` (see
    ``experiments/train_behavior.py`` for the rules): the expert is the best evaluation in the last
    ``window`` of training, the medium the first snapshot after warm-up reaching
    ``MEDIUM_TOLERANCE`` of a third of the expert's return, and the replay sequence the snapshots
    before the medium. ``medium_step`` picks the medium snapshot by hand instead (the rule's
    choice can be degenerate: Hopper's first snapshot at that level stands still and never
    falls); ``medium_reason`` is recorded in the manifest beside it.

    ``mirror`` is the run's committed mirror (``train_behavior --mirror``): its ``history.json`` is
    used when the workdir has none, and snapshots missing from the workdir are taken from it. The
    mirror keeps only some snapshots late in training, so the expert is the best *available*
    snapshot of the window.
    """
    folders = [folder for folder in (workdir, mirror) if folder is not None]
    histories = [folder / "history.json" for folder in folders
                 if (folder / "history.json").exists()]
    if not histories:
        raise ValueError(f"no history.json in {' or '.join(map(str, folders))}; train first")
    history = json.loads(histories[0].read_text())
    evals = history["evals"]
    if not evals:
        raise ValueError(f"{histories[0]} has no evaluated snapshots; train first")

    def snapshot_path(step: int) -> pathlib.Path | None:
        for folder in folders:
            if (folder / "snapshots" / f"step_{step:07d}.npz").exists():
                return folder / "snapshots" / f"step_{step:07d}.npz"
        return None

    last_step = evals[-1]["step"]
    late = [e for e in evals if e["step"] >= (1 - window) * last_step
            and snapshot_path(e["step"]) is not None]
    if not late:
        raise ValueError(f"no snapshot of the last {window:.0%} of training (steps >= "
                         f"{(1 - window) * last_step:.0f}) in {' or '.join(map(str, folders))}")
    expert = max(late, key=lambda e: e["return"])
    warmup = history["settings"]["warmup_steps"]
    # Snapshots up to the end of warm-up are the untrained initial actor: never a "medium".
    earlier = [e for e in evals if warmup < e["step"] < expert["step"]]
    if not earlier:
        raise ValueError(f"{workdir}: no snapshot between the warm-up ({warmup} steps) and "
                             f"the expert (step {expert['step']}); train longer")
    # D4RL's medium is an early-stopped policy: the first snapshot that reaches (80% of) a third
    # of the expert's return; if none does, the one closest to that third.
    third = expert["return"] / 3
    reaching = [e for e in earlier if e["return"] >= MEDIUM_TOLERANCE * third]
    medium = reaching[0] if reaching else min(earlier, key=lambda e: abs(e["return"] - third))
    medium_rule = "first snapshot after warm-up reaching 0.8 * expert/3 (else closest)"
    if medium_step is not None:
        chosen = [e for e in earlier if e["step"] == medium_step]
        if not chosen:
            raise ValueError(f"medium_step={medium_step} is not an evaluated snapshot between the "
                             f"warm-up and the expert (step {expert['step']}); choose one of "
                             f"{[e['step'] for e in earlier]}")
        medium = chosen[0]
        medium_rule = f"chosen by hand (step {medium_step}): {medium_reason or 'no reason given'}"
    target = root / env_name
    if target.exists():
        shutil.rmtree(target)
    (target / "replay").mkdir(parents=True)

    def ship(step: int, relative: str) -> dict:
        source = snapshot_path(step)
        if source is None:
            raise ValueError(f"snapshot step_{step:07d}.npz is in neither "
                             f"{' nor '.join(map(str, folders))}")
        shutil.copyfile(source, target / relative)
        return {"file": relative, "sha256": behavior.file_sha256(target / relative)}

    levels = {}
    for level, entry in (("expert", expert), ("medium", medium)):
        levels[level] = {**ship(entry["step"], f"{level}.npz"), "step": entry["step"],
                         "eval_return": entry["return"], "eval_return_std": entry["return_std"]}
    snapshot_steps = [e["step"] for e in evals if e["step"] < medium["step"]]
    replay = [{"start": 0, "end": warmup, "file": None}] if warmup else []
    boundaries = sorted({s for s in snapshot_steps if s >= warmup} | {medium["step"]})
    starts = [s for s in snapshot_steps if s < medium["step"]]
    for start in starts:
        end = min(b for b in boundaries if b > start)
        segment_start = max(start, warmup)
        if segment_start < end:
            replay.append({"start": segment_start, "end": end,
                           **ship(start, f"replay/step_{start:07d}.npz")})
    manifest = {
        "env_id": history["env"], "seed": history["seed"], "algorithm": "SAC (jaxrl_offline)",
        "config": history["config"], "settings": history["settings"],
        "trained_steps": last_step, "levels": levels, "replay": replay,
        "medium_rule": medium_rule,
        "expert_rule": f"best eval return among available snapshots in the last {window:.0%} "
                       "of training",
        "evals": [[e["step"], round(e["return"], 1)] for e in evals],
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
