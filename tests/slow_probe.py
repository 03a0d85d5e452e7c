"""A slow stub algorithm (each update sleeps on the host) for progress and Ctrl-C tests.

Run as a script it is ``python -m experiments.run`` with the stub registered as ``slow_probe``:
``python tests/slow_probe.py --algos=slow_probe ...`` (the Ctrl-C test starts it so).
"""

import dataclasses
import os
import sys
import time
import types

import jax
import jax.numpy as jnp
from flax import struct

SLEEP_S = float(os.environ.get("SLOW_PROBE_SLEEP_S", "0.01"))


@dataclasses.dataclass(frozen=True)
class Config:
    batch_size: int = 8


class State(struct.PyTreeNode):
    weight: jax.Array
    key: jax.Array


def init(config, key, example_obs, example_action):
    return State(weight=jax.random.normal(key, ()), key=key)


def update(config, state, batch):
    jax.debug.callback(lambda: time.sleep(SLEEP_S))  # A slow method, seen from the host.
    weight = 0.9 * state.weight + 0.1 * batch.reward.mean()
    return state.replace(weight=weight), {"probe/weight": weight}


def act(config, state, obs, key):
    return jnp.zeros((obs.shape[0], 1)) + 0.0 * state.weight


SLOW_PROBE = types.SimpleNamespace(NAME="slow_probe", Config=Config, init=init, update=update,
                                   act=act)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from absl import app, flags

    from experiments import cli
    from jaxrl_offline import algorithms

    algorithms.ALGORITHMS["slow_probe"] = SLOW_PROBE
    flags.adopt_module_key_flags(cli)
    app.run(cli.main, flags_parser=cli.parse_flags)
