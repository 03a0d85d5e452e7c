"""Generator of the local D4RL-style locomotion suite (Minari hdf5, Gymnasium v5 MuJoCo envs).

``make_dataset("hopper", "medium")`` writes ``jaxrl_offline/hopper/medium-v0``. The kinds follow
D4RL (spec ``data.md`` §3):

* ``random``: uniform random actions (D4RL's released ``--random`` mode), 1M steps by default;
* ``medium``: the shipped "medium" SAC snapshot (about a third of the expert's return), 1M steps;
* ``expert``: the shipped "expert" snapshot, 1M steps;
* ``medium-replay``: what SAC's replay buffer held when training reached medium, regenerated from
  the shipped checkpoint sequence: each segment ``[s_k, s_{k+1})`` of training steps is replayed
  with snapshot ``s_k``'s sampled actions, the warm-up segment with uniform actions (the live run
  changed policy every step; a snapshot per 10k steps approximates it);
* ``medium-expert``: the medium episodes followed by the expert episodes, exactly those of
  ``medium`` and ``expert`` at the same size and seed (D4RL: medium + expert, 2M steps).

Actions are **sampled** from the stochastic policies, as D4RL's were. A non-default ``size`` N
(per part for medium-expert, in total for medium-replay, whose segments keep their proportions)
adds a label to the name: ``jaxrl_offline/hopper/medium-10k-v0``. Generation is deterministic given
the seed (episode ``i`` of a part depends only on ``(seed, part, i)``, not on ``num_envs``) and
atomic (written under a hidden temporary root, then renamed; an interrupted run leaves nothing).
Reference scores are D4RL's (``locomotion.ENVS``); the policies' SHA-256, the generator version and
the kind are stored in the metadata.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import time

import gymnasium as gym
import minari
import numpy as np
from minari.data_collector.episode_buffer import EpisodeBuffer
from minari.storage import get_dataset_path

from jaxrl_offline import __version__
from jaxrl_offline.datasets import dataset_spec
from jaxrl_offline.local_suite import behavior, locomotion
from jaxrl_offline.local_suite.behavior import BehaviorPolicy
from jaxrl_offline.datasets.dataset_spec import DatasetSpec
from jaxrl_offline.datasets.raw_data import DatasetError
from jaxrl_offline.local_suite.rollout import collect_episodes
from jaxrl_offline.local_suite import synthetic
from jaxrl_offline.datasets.minari_writer import create_atomically

KINDS = dataset_spec.SUITE_KINDS
DEFAULT_SIZE = 1_000_000  # random / medium / expert, and each half of medium-expert (D4RL v2).
GENERATOR_VERSION = 1
# Seed-key parts: every kind draws its episodes from its own stream of (seed, part, episode).
_PARTS = {"random": 0, "medium": 1, "expert": 2, "medium-replay": 3}


@dataclasses.dataclass(frozen=True)
class Generated:
    """What :func:`make_dataset` wrote: its id, path, transitions, episodes and seconds taken."""

    dataset_id: str
    path: str
    num_transitions: int
    num_episodes: int
    seconds: float


def dataset_id(env: str, kind: str, size: int | None = None) -> str:
    """``jaxrl_offline/<env>/<kind>[-<size>]-v0``; the default size adds no label
    (``dataset_spec.suite_id``)."""
    return dataset_spec.suite_id(env, kind, size)


def policy_actions(policy: BehaviorPolicy, obs: np.ndarray, rngs: list) -> np.ndarray:
    """Sampled actions tanh(mu + sigma eps) for a batch, eps drawn from each row's own rng."""
    noise = np.stack([rng.standard_normal(policy.action_dim) for rng in rngs]).astype(np.float32)
    return policy(obs, deterministic=False, noise=noise)


def uniform_actions(action_dim: int, obs: np.ndarray, rngs: list) -> np.ndarray:
    return np.stack([rng.uniform(-1.0, 1.0, action_dim) for rng in rngs]).astype(np.float32)


def _env_actions(batch_policy, low, high):
    """Wraps a [-1, 1] batch policy to emit env-unit actions."""
    def policy(obs, rngs):
        action = batch_policy(obs, rngs)
        return (low + (action + 1.0) * 0.5 * (high - low)).astype(np.float32)
    return policy


def make_dataset(env: str, kind: str, size: int | None = None, *, seed: int = 0,
                 root: str | None = None, overwrite: bool = False, num_envs: int = 16,
                 policy_root: str | None = None) -> Generated:
    """Generates one dataset of the suite and stores it as a Minari hdf5 dataset.

    Args:
      env: ``"hopper"``, ``"halfcheetah"`` or ``"walker2d"``.
      kind: one of ``KINDS``.
      size: transitions (per part for medium-expert); ``None`` for D4RL's default.
      seed: fixes every reset seed and action sample.
      root: Minari datasets root; defaults to ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``.
      overwrite: replace an existing dataset with this id (otherwise it is an error).
      num_envs: envs stepped in lockstep (speed only; the data does not depend on it).
      policy_root: folder of behavior policies; defaults to the ones shipped with the package.
    """
    started = time.perf_counter()
    suite_env = locomotion.get_env(env)
    new_id = dataset_id(env, kind, size)
    if size is not None and size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    env_fn = functools.partial(gym.make, suite_env.env_id)
    probe = env_fn()
    low, high = (probe.action_space.low.astype(np.float64),
                 probe.action_space.high.astype(np.float64))
    action_space, obs_shape = probe.action_space, probe.observation_space.shape
    probe.close()

    def collect(part: str, batch_policy, count: int, extra_key: tuple = ()) -> list[dict]:
        return collect_episodes(env_fn, _env_actions(batch_policy, low, high), count,
                                (seed, _PARTS[part], *extra_key), num_envs)

    def level(name: str):
        policy, sha = locomotion.load_policy(env, name, policy_root)
        return functools.partial(policy_actions, policy), sha

    random_policy = functools.partial(uniform_actions, suite_env.action_dim)
    hashes: dict[str, str] = {}
    count = size or DEFAULT_SIZE
    if kind == "random":
        episodes = collect("random", random_policy, count)
    elif kind in ("medium", "expert"):
        policy, hashes[kind] = level(kind)
        episodes = collect(kind, policy, count)
    elif kind == "medium-expert":
        medium, hashes["medium"] = level("medium")
        expert, hashes["expert"] = level("expert")
        episodes = collect("medium", medium, count) + collect("expert", expert, count)
    else:
        episodes = _medium_replay(env, policy_root, size, collect, random_policy, hashes)
    manifest = locomotion.read_manifest(env, policy_root) if kind != "random" else {}
    buffers = [EpisodeBuffer(id=i, seed=ep["seed"], observations=ep["obs"],
                             actions=ep["action"], rewards=ep["reward"],
                             terminations=ep["terminal"], truncations=ep["truncated"])
               for i, ep in enumerate(episodes)]
    num_transitions = sum(len(ep["reward"]) for ep in episodes)
    description = (
        f"D4RL-style {env} '{kind}' dataset generated locally by jaxrl_offline {__version__} "
        f"(generator v{GENERATOR_VERSION}, seed {seed}) on {suite_env.env_id} with sampled actions "
        f"of SAC behavior policies trained by jaxrl_offline (experiments/train_behavior.py). "
        f"Reference scores are D4RL's constants for {env} (d4rl/infos.py); scores are D4RL-style, "
        f"comparable to published D4RL numbers only approximately.")
    extra = {
        "ref_score_source": locomotion.REF_SCORE_SOURCE, "generator": "jaxrl_offline.suite",
        "generator_version": GENERATOR_VERSION, "jaxrl_offline_version": __version__,
        "kind": kind, "seed": seed, "size_per_part": count, "policy_sha256": hashes,
        "policy_steps": {name: manifest["levels"][name]["step"] for name in hashes
                         if name in manifest.get("levels", {})},
    }
    path = create_atomically(
        new_id, buffers, root, overwrite, extra_metadata=extra,
        env=suite_env.env_id, eval_env=suite_env.env_id,
        algorithm_name="uniform random" if kind == "random" else f"SAC behavior policy ({kind})",
        author="jaxrl_offline", author_email="n/a (generated locally)",
        code_permalink=f"jaxrl_offline {__version__}: jaxrl_offline/local_suite/suite.py",
        observation_space=gym.spaces.Box(-np.inf, np.inf, obs_shape, np.float32),
        action_space=action_space,
        ref_min_score=suite_env.ref_min_score, ref_max_score=suite_env.ref_max_score,
        description=description, data_format="hdf5")
    return Generated(new_id, str(path), num_transitions, len(episodes),
                     time.perf_counter() - started)


def expected_policy_hashes(env: str, kind: str, size: int | None = None,
                           policy_root: str | None = None) -> dict[str, str]:
    """The ``policy_sha256`` metadata a dataset generated now from these policies carries."""
    if kind == "random":
        return {}
    levels = locomotion.read_manifest(env, policy_root)["levels"]
    if kind in ("medium", "expert"):
        return {kind: levels[kind]["sha256"]}
    if kind == "medium-expert":
        return {name: levels[name]["sha256"] for name in ("medium", "expert")}
    segments = locomotion.replay_sequence(env, policy_root)
    return {f"replay@{start}": behavior.file_sha256(path)
            for (start, _, path), length in zip(segments, _replay_lengths(segments, size))
            if length > 0 and path is not None}


def _replay_lengths(segments, size: int | None) -> np.ndarray:
    """Transitions per replay segment: the segment lengths, scaled to ``size`` if given."""
    lengths = np.array([end - start for start, end, _ in segments], np.int64)
    if size is not None:
        lengths = np.floor(lengths * size / int(lengths.sum())).astype(np.int64)
        lengths[-1] += size - lengths.sum()
    return lengths


def _medium_replay(env, policy_root, size, collect, random_policy, hashes) -> list[dict]:
    """Replays the checkpoint sequence up to medium, scaled to ``size`` transitions if given."""
    segments = locomotion.replay_sequence(env, policy_root)
    lengths = _replay_lengths(segments, size)
    episodes = []
    for index, ((start, _, path), length) in enumerate(zip(segments, lengths)):
        if length <= 0:
            continue
        if path is None:
            policy = random_policy
        else:
            snapshot = behavior.load(path)
            hashes[f"replay@{start}"] = behavior.file_sha256(path)
            policy = functools.partial(policy_actions, snapshot)
        episodes += collect("medium-replay", policy, int(length), (index,))
    return episodes


def ensure_local(spec: str | DatasetSpec, root: str | None = None) -> None:
    """Generates every part of a dataset spec (``A`` or ``A+B``, text or parsed) that the project
    can make itself (the InvertedPendulum sets and the locomotion suite) and that is not present
    yet."""
    for part in dataset_spec.parse(spec).parts:
        if str(part) in synthetic.SYNTHETIC_DATASETS:
            synthetic.ensure_dataset(str(part), root)
        elif part.suite is not None:
            ensure_dataset(part.suite.env, part.suite.kind, part.suite.size, root=root)


def ensure_dataset(env: str, kind: str, size: int | None = None, *, seed: int = 0,
                   root: str | None = None) -> str:
    """Generates the dataset unless a local dataset with its id exists; returns the id.

    An existing dataset made from other behavior policies than the shipped ones (an older
    package version) is an error, not silently reused."""
    new_id = dataset_id(env, kind, size)
    base = get_dataset_path() if root is None else root
    metadata_path = pathlib.Path(base) / new_id / "data" / "metadata.json"
    if metadata_path.parent.is_dir():
        stored = json.loads(metadata_path.read_text()).get("policy_sha256", {})
        if stored != expected_policy_hashes(env, kind, size):
            raise DatasetError(
                f"{new_id} under {base} was generated from other behavior policies than the ones "
                f"this version of jaxrl_offline ships (policy hashes {stored} != "
                f"{expected_policy_hashes(env, kind, size)}). Regenerate it: python -m "
                f"experiments.make_datasets --envs={env} --kinds={kind}"
                f"{'' if size is None else f' --size={size}'} --overwrite")
        return new_id
    try:
        make_dataset(env, kind, size, seed=seed, root=root)
    except FileNotFoundError as err:
        raise DatasetError(f"cannot generate {new_id}: {err}") from None
    return new_id


def episode_returns(dataset_path: str) -> np.ndarray:
    """Undiscounted returns of every episode of a stored dataset."""
    dataset = minari.MinariDataset(f"{dataset_path}/data")
    return np.array([float(np.sum(episode.rewards)) for episode in dataset.iterate_episodes()])


def merge_tables(existing: str, new: str) -> str:
    """``new``'s rows replace same-dataset rows of ``existing``; other rows keep their place and
    datasets new to the table are appended. A cell that ``new`` leaves unknown (``-``: the
    generation time of a dataset kept with ``--skip_existing``) keeps ``existing``'s value."""
    def rows(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("| jaxrl_offline/")]

    def dataset(row: str) -> str:
        return row.split("|")[1].strip()

    def merged(old_row: str, new_row: str | None) -> str:
        if new_row is None:
            return old_row
        old_cells, new_cells = old_row.split("|"), new_row.split("|")
        if len(old_cells) != len(new_cells):
            return new_row
        return "|".join(old if new.strip() == "-" else new
                        for old, new in zip(old_cells, new_cells))

    fresh = {dataset(row): row for row in rows(new)}
    kept = [merged(row, fresh.pop(dataset(row), None)) for row in rows(existing)]
    return "\n".join([*new.splitlines()[:2], *kept, *fresh.values()]) + "\n"
