"""A slow stub algorithm (each update sleeps on the host) for progress and Ctrl-C tests.

Run as a script it is ``python -m experiments.run`` with the stub registered as ``slow_probe``:
``python tests/slow_probe.py --algos=slow_probe ...`` (the Ctrl-C test starts it so).
"""

import os
import sys
import time
import types

import jax
import jax.numpy as jnp

from helpers import ProbeConfig, probe_init

SLEEP_S = float(os.environ.get("SLOW_PROBE_SLEEP_S", "0.01"))


def update(config, state, batch):
    jax.debug.callback(lambda: time.sleep(SLEEP_S))  # A slow method, seen from the host.
    weight = 0.9 * state.weight + 0.1 * batch.reward.mean()
    return state.replace(weight=weight), {"probe/weight": weight}


def act(config, state, obs, key):
    return jnp.zeros((obs.shape[0], 1)) + 0.0 * state.weight


SLOW_PROBE = types.SimpleNamespace(NAME="slow_probe", Config=ProbeConfig, init=probe_init,
                                   update=update, act=act)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from absl import app, flags

    from experiments import cli
    from jaxrl_offline import algorithms

    algorithms.ALGORITHMS["slow_probe"] = SLOW_PROBE
    flags.adopt_module_key_flags(cli)
    app.run(cli.main, flags_parser=cli.parse_flags)
