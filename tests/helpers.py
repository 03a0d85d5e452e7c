"""Helpers shared by several test modules."""

import dataclasses

import flax
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from absl import flags

from experiments import cli
from jaxrl_offline.runner import experiment
from jaxrl_offline.types import Transition


def zeroed(params, **overrides):
    """All parameters 0, except ``overrides`` given by '/'-joined path, e.g. ``Dense_0/bias``."""
    flat = flax.traverse_util.flatten_dict(params["params"], sep="/")
    flat = {path: np.zeros(leaf.shape, np.float32) for path, leaf in flat.items()}
    for path, value in overrides.items():
        assert path in flat, f"{path} not in {sorted(flat)}"
        flat[path] = np.broadcast_to(np.asarray(value, np.float32), flat[path].shape).copy()
    return {"params": flax.traverse_util.unflatten_dict(flat, sep="/")}


def without_keys(tree):
    """Typed PRNG keys replaced by their raw bits, so trees can be compared numerically."""

    def convert(leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(leaf)
        return leaf

    return jax.tree.map(convert, tree)


POLICY_ACTION = np.float32([0.25, -0.5])  # Every FixedPolicy sample.
POLICY_LOG_PROB = -1.0  # log pi of every FixedPolicy sample.
DATA_LOG_PROB = -0.3  # FixedPolicy.log_prob of any other (e.g. dataset) action.


class FixedPolicy:
    """Stands in for a policy distribution over a batch of states (``batch_shape``, the leading
    dims of obs): every sample is ``POLICY_ACTION`` with log-prob ``POLICY_LOG_PROB``, and any
    action has log-prob ``DATA_LOG_PROB``."""

    def __init__(self, batch_shape):
        self.batch_shape = tuple(batch_shape)

    def sample_and_log_prob(self, seed, sample_shape=()):
        del seed
        shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        action = jnp.broadcast_to(jnp.asarray(POLICY_ACTION), shape + self.batch_shape + (2,))
        return action, jnp.full(shape + self.batch_shape, POLICY_LOG_PROB, jnp.float32)

    def log_prob(self, action):
        return jnp.full(action.shape[:-1], DATA_LOG_PROB, jnp.float32)


def small_sac_batch(obs_dim: int = 3, action_dim: int = 2) -> Transition:
    """A fixed 4-row batch (one terminal) for the SAC-family hand-computed loss tests."""
    rng = np.random.default_rng(0)
    return Transition(
        obs=jnp.asarray(rng.normal(size=(4, obs_dim)), jnp.float32),
        action=jnp.asarray(rng.uniform(-0.9, 0.9, (4, action_dim)), jnp.float32),
        reward=jnp.float32([1.0, -0.5, 0.25, 2.0]),
        next_obs=jnp.asarray(rng.normal(size=(4, obs_dim)), jnp.float32),
        terminal=jnp.float32([0.0, 1.0, 0.0, 0.0]))


def run_cli(*args: str) -> None:
    """``python -m experiments.run ARGS`` in process; the absl flags are unparsed afterwards."""
    try:
        cli.main(cli.parse_args(["run", *args]))
    finally:
        flags.FLAGS.unparse_flags()


def hand_batch(rng: np.random.Generator) -> Transition:
    """B = 4 numpy transitions (obs_dim 3, action_dim 2), terminal in rows 1 and 3, for the
    hand-computed loss tests; obs, action and next_obs are drawn from ``rng`` in that order."""
    return Transition(
        obs=rng.normal(size=(4, 3)).astype(np.float32),
        action=rng.uniform(-0.9, 0.9, (4, 2)).astype(np.float32),
        reward=np.float32([1.0, -0.5, 2.0, 0.3]),
        next_obs=rng.normal(size=(4, 3)).astype(np.float32),
        terminal=np.float32([0.0, 1.0, 0.0, 1.0]),
    )


def invpend_root(tmp_path_factory, dataset_id: str, num_transitions: int):
    """A Minari root holding one InvertedPendulum 'medium' dataset (seed 0, 4 envs)."""
    from jaxrl_offline.local_suite.synthetic import make_inverted_pendulum_dataset

    root = tmp_path_factory.mktemp("minari")
    make_inverted_pendulum_dataset(dataset_id, kind="medium", num_transitions=num_transitions,
                                   seed=0, root=str(root), num_envs=4)
    return root


class Bandit(gym.Env):
    """One-step probe env, reward -|a - 0.5|: the best action is 0.5."""

    observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), -float(abs(action[0] - 0.5)), True, False, {}


# --- A scalar probe algorithm's pieces (compile in a fraction of a second) ---------------------
# The runner tests' diverging probe and the progress tests' slow probe differ only in `update`.


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    batch_size: int = 8


class ProbeState(struct.PyTreeNode):
    weight: jax.Array
    key: jax.Array


def probe_init(config, key, example_obs, example_action):
    return ProbeState(weight=jax.random.normal(key, ()), key=key)


class Interrupted(Exception):
    """Stands for a crash (or kill) of a run between two chunks."""


def interrupt_after(spec, workdir, chunks_done: int) -> None:
    """Runs ``spec`` under ``workdir`` and stops it, as a crash would, once ``chunks_done`` chunks
    have finished."""

    def interrupt(done):
        if done == chunks_done:
            raise Interrupted

    with pytest.raises(Interrupted):
        experiment.run_experiment(spec, workdir, progress=False, on_chunk=interrupt)
