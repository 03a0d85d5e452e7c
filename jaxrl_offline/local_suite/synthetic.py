"""Datasets the project makes itself: InvertedPendulum Minari datasets and in-memory probes.

Real D4RL/Minari data cannot be downloaded on the team's machines (spec ``data.md`` §4), so the
default job and the tests use datasets generated here in seconds, with no network:

* ``jaxrl_offline/invpend/{random,medium,expert,mixed}-v0``: real Minari hdf5 datasets on
  ``InvertedPendulum-v5``, rolled out with numpy policies around the linear controller
  ``a = clip(K . obs, +-3)``, ``K = [1, 10, 1, 1]``, which scores 1000 (the maximum). See
  ``SYNTHETIC_DATASETS`` for sizes and seeds, and ``TIERS`` / ``MIXTURES`` for the behaviours.
* probes with known answers (``bandit_probe``, ``chain_probe``, ``expert_probe``), returned as
  ``Transition``s of numpy arrays.

Generation is deterministic given the seed (episode ``i`` of a tier depends only on
``(seed, tier, i)``) and atomic: the dataset is written under a hidden temporary root and moved into
place, so an interrupted run leaves no dataset id behind. Changing a generator means a new ``-vN``.
"""

from __future__ import annotations

import pathlib

import gymnasium as gym
import minari
import numpy as np
from minari.data_collector.episode_buffer import EpisodeBuffer
from minari.dataset.minari_dataset import parse_dataset_id
from minari.storage import get_dataset_path

from jaxrl_offline import __version__
from jaxrl_offline.datasets.d4rl_format import write_d4rl_hdf5
from jaxrl_offline.datasets.raw_data import DatasetError
from jaxrl_offline.local_suite.rollout import collect_episodes
from jaxrl_offline.types import DatasetInfo, Transition
from jaxrl_offline.datasets.minari_writer import create_atomically

__all__ = ["SYNTHETIC_DATASETS", "DEFAULT_DATASET", "ensure_dataset",
           "make_inverted_pendulum_dataset", "write_d4rl_hdf5", "bandit_probe",
           "bandit_probe_reward", "bimodal_probe", "bimodal_probe_reward", "chain_probe",
           "expert_probe", "expert_probe_policy",
           "probe_info", "measure_random_return"]

INVPEND_ENV_ID = "InvertedPendulum-v5"
INVPEND_GAIN = np.array([1.0, 10.0, 1.0, 1.0])  # K of the expert a = clip(K . obs, +-3).
INVPEND_MAX_ACTION = 3.0
# Mean return of uniform random actions: measure_random_return(1000, seed=0) = 5.339 (s.e. 0.12).
INVPEND_RANDOM_SCORE = 5.339
INVPEND_EXPERT_SCORE = 1000.0  # The expert's return on every seed (the episode cap).

# Behaviour tiers: (gain multiplier on K, Gaussian noise std, uniform random actions?).
TIERS = {
    "random": (0.0, 0.0, True),   # Uniform in [-3, 3]; return ~5.
    "weak": (0.1, 1.0, False),    # 0.1 K . obs + N(0, 1); return ~8.
    "medium": (1.0, 1.0, False),  # K . obs + N(0, 1); return ~120-150.
    "expert": (1.0, 0.0, False),  # K . obs; return 1000.
}
# A mixture kind is (tier, fraction of transitions) pairs. "mixed" is built so that plain BC fails
# while value-based offline RL can do better: BC regresses to the state-conditional mean action,
# about 0.1-0.2 K . obs where the tiers overlap, and linear gains below ~0.3 K drop the pole (0.15 K
# scores ~80); the expert's actions are in the data and inside the support of the weak tier's
# noise, and the returns tell them apart. Measured with scratch 64x64 implementations (20k
# updates, 2 seeds, 5 episodes; 25k/50k transitions): BC 21/38, TD3+BC 71-1000, IQL 130-644.
MIXTURES = {"mixed": (("weak", 0.9), ("expert", 0.1))}

SYNTHETIC_DATASETS = {
    "jaxrl_offline/invpend/random-v0": {"kind": "random", "num_transitions": 20_000, "seed": 0},
    "jaxrl_offline/invpend/medium-v0": {"kind": "medium", "num_transitions": 20_000, "seed": 1},
    "jaxrl_offline/invpend/expert-v0": {"kind": "expert", "num_transitions": 20_000, "seed": 2},
    "jaxrl_offline/invpend/mixed-v0": {"kind": "mixed", "num_transitions": 30_000, "seed": 3},
}
DEFAULT_DATASET = "jaxrl_offline/invpend/mixed-v0"


def ensure_dataset(dataset_id: str = DEFAULT_DATASET, root: str | None = None) -> str:
    """Creates a ``SYNTHETIC_DATASETS`` dataset unless it already exists; returns its id.

    Args:
      dataset_id: one of ``SYNTHETIC_DATASETS`` (an existing local dataset of any id is accepted).
      root: Minari datasets root; defaults to ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``.
    """
    root_path = pathlib.Path(root) if root is not None else get_dataset_path()
    if (root_path / dataset_id / "data").is_dir():
        return dataset_id
    if dataset_id not in SYNTHETIC_DATASETS:
        raise DatasetError(
            f"ensure_dataset cannot create {dataset_id!r}: it is not local and not one of the "
            f"generated datasets {list(SYNTHETIC_DATASETS)}. Use make_inverted_pendulum_dataset "
            "for custom ids, or download Minari datasets with `minari download`."
        )
    make_inverted_pendulum_dataset(dataset_id, root=root, **SYNTHETIC_DATASETS[dataset_id])
    return dataset_id


def make_inverted_pendulum_dataset(dataset_id: str, kind: str, num_transitions: int, seed: int,
                                   root: str | None = None, overwrite: bool = False,
                                   num_envs: int = 8) -> minari.MinariDataset:
    """Rolls out an InvertedPendulum-v5 behaviour and stores it as a Minari hdf5 dataset.

    Args:
      dataset_id: Minari id to create (``namespace/name-vN``).
      kind: a ``TIERS`` key (``"random"``, ``"weak"``, ``"medium"``, ``"expert"``) or a
        ``MIXTURES`` key (``"mixed"``).
      num_transitions: exact number of steps; the last episode of each tier is cut (truncated).
      seed: determines every reset seed and every noise draw.
      root: Minari datasets root; defaults to ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``.
      overwrite: replace an existing dataset with this id.
      num_envs: envs stepped in lockstep with a batched numpy policy (does not change the data).

    Returns:
      The created ``minari.MinariDataset`` (``ref_min_score`` = ``INVPEND_RANDOM_SCORE``,
      ``ref_max_score`` = 1000, eval env InvertedPendulum-v5, float32 observations).
    """
    if num_transitions <= 0:
        raise ValueError(f"num_transitions must be positive, got {num_transitions}")
    try:
        parse_dataset_id(dataset_id)
    except (TypeError, ValueError):
        raise DatasetError(
            f"{dataset_id!r} is not a valid Minari id: use namespace/name-vN with names of 2+ "
            "characters, e.g. 'jaxrl_offline/invpend/mixed-v1'.") from None
    parts = MIXTURES.get(kind, ((kind, 1.0),))
    if any(tier not in TIERS for tier, _ in parts):
        raise ValueError(f"unknown kind {kind!r}; choose from {list(TIERS) + list(MIXTURES)}")
    counts = [int(round(fraction * num_transitions)) for _, fraction in parts]
    counts[-1] = num_transitions - sum(counts[:-1])
    episodes = []
    for tier_index, ((tier, _), count) in enumerate(zip(parts, counts)):
        episodes += rollout_inverted_pendulum(tier, count, (seed, tier_index), num_envs)
    buffers = [EpisodeBuffer(id=i, seed=ep["seed"], observations=ep["obs"], actions=ep["action"],
                             rewards=ep["reward"], terminations=ep["terminal"],
                             truncations=ep["truncated"])
               for i, ep in enumerate(episodes)]
    composition = ", ".join(f"{count} steps {tier}" for (tier, _), count in zip(parts, counts))
    description = (
        f"InvertedPendulum-v5 '{kind}' data generated by jaxrl_offline.local_suite.synthetic "
        f"({composition}; "
        f"seed {seed}). Expert: a = clip(K . obs, +-3), K = {INVPEND_GAIN.tolist()}; tiers: "
        f"{TIERS} as (gain multiplier, noise std, uniform). ref_min_score = mean uniform-random "
        f"return over 1000 episodes; ref_max_score = expert return. gymnasium {gym.__version__}.")
    path = create_atomically(
        dataset_id, buffers, root, overwrite,
        env=INVPEND_ENV_ID, eval_env=INVPEND_ENV_ID,
        algorithm_name=f"numpy linear controller ({kind})",
        author="jaxrl_offline", author_email="n/a (generated locally)",
        code_permalink=f"jaxrl_offline {__version__}: jaxrl_offline/local_suite/synthetic.py",
        observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        ref_min_score=INVPEND_RANDOM_SCORE, ref_max_score=INVPEND_EXPERT_SCORE,
        description=description, data_format="hdf5")
    return minari.MinariDataset(path / "data")


def rollout_inverted_pendulum(tier: str, num_transitions: int, seed_key: tuple,
                              num_envs: int = 8) -> list[dict]:
    """Exactly ``num_transitions`` steps of whole episodes (the last one cut) of a behaviour tier.

    Episode ``i`` uses reset seed and noise from ``SeedSequence([*seed_key, i])`` only, so the
    result does not depend on ``num_envs`` (see
    :func:`jaxrl_offline.local_suite.rollout.collect_episodes`).

    Returns:
      Episodes as dicts: obs [T + 1, 4] float32, action [T, 1] float32 (env units), reward [T],
      terminal [T] bool, truncated [T] bool, seed (the reset seed).
    """
    gain, noise_std, uniform = TIERS[tier]

    def policy(obs: np.ndarray, rngs: list) -> np.ndarray:
        actions = gain * (obs.astype(np.float64) @ INVPEND_GAIN)[:, None]
        for row, rng in enumerate(rngs):
            if uniform:
                actions[row] = rng.uniform(-INVPEND_MAX_ACTION, INVPEND_MAX_ACTION, 1)
            elif noise_std:
                actions[row] += noise_std * rng.standard_normal(1)
        return np.clip(actions, -INVPEND_MAX_ACTION, INVPEND_MAX_ACTION).astype(np.float32)

    return collect_episodes(lambda: gym.make(INVPEND_ENV_ID), policy, num_transitions, seed_key,
                            num_envs)


def measure_random_return(num_episodes: int = 1000, seed: int = 0) -> float:
    """Mean return of uniform random actions on InvertedPendulum-v5 (reset seeds 0..n-1).

    ``measure_random_return(1000, 0)`` gives ``INVPEND_RANDOM_SCORE``.
    """
    env = gym.make(INVPEND_ENV_ID)
    returns = []
    for episode in range(num_episodes):
        rng = np.random.default_rng([seed, episode])
        env.reset(seed=episode)
        total, finished = 0.0, False
        while not finished:
            action = rng.uniform(-INVPEND_MAX_ACTION, INVPEND_MAX_ACTION, 1).astype(np.float32)
            _, reward, terminated, truncated, _ = env.step(action)
            total, finished = total + reward, terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


# --- Probes with known answers -------------------------------------------------------------------


def bandit_probe_reward(obs: np.ndarray, action: np.ndarray) -> np.ndarray:
    """r(s, a) = s . w + a . v, w = linspace(-1, 1, obs_dim), v = linspace(1, -1, action_dim)."""
    w = np.linspace(-1.0, 1.0, obs.shape[-1])
    v = np.linspace(1.0, -1.0, action.shape[-1])
    return (obs @ w + action @ v).astype(np.float32)


def bandit_probe(n: int, seed: int, obs_dim: int = 3, action_dim: int = 2) -> Transition:
    """One-step bandit: every transition is terminal, so Q(s, a) = r(s, a) exactly.

    obs and action are uniform in [-1, 1]; ``reward = bandit_probe_reward(obs, action)``; next_obs
    is random (unused: terminal = 1). A critic trained on it must match ``bandit_probe_reward``; the
    greedy action is ``sign(v)`` = [1, ..., -1].

    Returns:
      ``Transition`` of float32 numpy arrays with N = n.
    """
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (n, obs_dim)).astype(np.float32)
    action = rng.uniform(-1, 1, (n, action_dim)).astype(np.float32)
    return Transition(obs=obs, action=action, reward=bandit_probe_reward(obs, action),
                      next_obs=rng.uniform(-1, 1, (n, obs_dim)).astype(np.float32),
                      terminal=np.ones(n, np.float32))
BIMODAL_MODE = 0.6  # The two modes of bimodal_probe's actions: +-0.6 on every action dimension.


def bimodal_probe_reward(action: np.ndarray, mode: float = BIMODAL_MODE) -> np.ndarray:
    """r(a) = 1 - min(||a - m||^2, ||a + m||^2) / (action_dim m^2), m = mode * ones.

    1 at either mode, 0 at their mean a = 0 (and below 0 beyond); independent of the state.
    """
    action_dim = action.shape[-1]
    distance = np.minimum(np.sum((action - mode) ** 2, -1), np.sum((action + mode) ** 2, -1))
    return (1.0 - distance / (action_dim * mode**2)).astype(np.float32)


def bimodal_probe(n: int, seed: int, obs_dim: int = 2, action_dim: int = 1,
                  mode: float = BIMODAL_MODE, noise: float = 0.05) -> Transition:
    """One-step bandit whose actions are bimodal in every state: two good modes, a bad mean.

    obs are uniform in [-1, 1]; each action is +mode or -mode (all dimensions, a fair coin per
    row) plus N(0, noise^2), clipped to [-1, 1]; ``reward = bimodal_probe_reward(action)``;
    terminal = 1. The state-conditional mean action, 0, is out of distribution and scores 0;
    a mean-seeking BC term (MSE) is pulled there, a mode-seeking one (reverse KL) to +-mode.

    Returns:
      ``Transition`` of float32 numpy arrays with N = n.
    """
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (n, obs_dim)).astype(np.float32)
    sign = rng.choice(np.float32([-1.0, 1.0]), size=(n, 1))
    action = np.clip(sign * mode + noise * rng.standard_normal((n, action_dim)), -1, 1)
    action = action.astype(np.float32)
    return Transition(obs=obs, action=action, reward=bimodal_probe_reward(action, mode),
                      next_obs=rng.uniform(-1, 1, (n, obs_dim)).astype(np.float32),
                      terminal=np.ones(n, np.float32))


def chain_probe(n: int, seed: int, reward0: float = 1.0, reward1: float = 2.0,
                action_dim: int = 1) -> Transition:
    """Two-step chain s0 -> s1 -> end with action-independent rewards.

    States are one-hot: s0 = [1, 0], s1 = [0, 1], end = [0, 0]. From s0 any action gives reward0
    and leads to s1 (terminal 0); from s1 any action gives reward1 and ends (terminal 1). Actions
    are uniform in [-1, 1]. For every policy: Q(s1, a) = reward1 and Q(s0, a) = reward0 + gamma *
    reward1 (e.g. 1 + 0.99 * 2 = 2.98).

    Returns:
      ``Transition`` of float32 numpy arrays with N = 2 * (n // 2), alternating s0 / s1 rows.
    """
    rng = np.random.default_rng(seed)
    pairs = n // 2
    s0, s1, end = np.float32([1, 0]), np.float32([0, 1]), np.float32([0, 0])
    obs = np.tile(np.stack([s0, s1]), (pairs, 1))
    next_obs = np.tile(np.stack([s1, end]), (pairs, 1))
    action = rng.uniform(-1, 1, (2 * pairs, action_dim)).astype(np.float32)
    return Transition(obs=obs, action=action,
                      reward=np.tile(np.float32([reward0, reward1]), pairs),
                      next_obs=next_obs, terminal=np.tile(np.float32([0.0, 1.0]), pairs))


def expert_probe_policy(obs: np.ndarray, action_dim: int = 2) -> np.ndarray:
    """The probe expert: tanh(obs @ W), W[i, j] = sin(1 + i + 2 j) (fixed, in [-1, 1])."""
    rows, cols = np.meshgrid(np.arange(obs.shape[-1]), np.arange(action_dim), indexing="ij")
    return np.tanh(obs @ np.sin(1.0 + rows + 2.0 * cols)).astype(np.float32)


def expert_probe(n: int, seed: int, obs_dim: int = 4, action_dim: int = 2) -> Transition:
    """Expert demonstrations: action = ``expert_probe_policy(obs)`` exactly, obs ~ N(0, I).

    BC must recover ``expert_probe_policy`` (the actions are noise-free and inside (-1, 1)).
    Rewards and terminals are 0; next_obs are fresh N(0, I) draws.

    Returns:
      ``Transition`` of float32 numpy arrays with N = n.
    """
    rng = np.random.default_rng(seed)
    obs = rng.standard_normal((n, obs_dim)).astype(np.float32)
    return Transition(obs=obs, action=expert_probe_policy(obs, action_dim),
                      reward=np.zeros(n, np.float32),
                      next_obs=rng.standard_normal((n, obs_dim)).astype(np.float32),
                      terminal=np.zeros(n, np.float32))


def probe_info(transition: Transition, name: str = "probe") -> DatasetInfo:
    """A ``DatasetInfo`` for in-memory arrays (no env, no reference scores, no transforms)."""
    obs_dim, action_dim = transition.obs.shape[1], transition.action.shape[1]
    return DatasetInfo(dataset_id=name, eval_env_spec=None, ref_min_score=None, ref_max_score=None,
                       ref_score_source=None, obs_dim=obs_dim, action_dim=action_dim,
                       action_low=-np.ones(action_dim, np.float32),
                       action_high=np.ones(action_dim, np.float32),
                       num_transitions=int(transition.reward.shape[0]),
                       num_episodes=int(transition.terminal.sum()), family="default",
                       transforms={}, components=(name,))
