"""Runs offline-RL experiments: algorithms x datasets x seeds, with records, tables and plots.

    python -m experiments.run                      # the embedded default sweep (a few minutes)
    python -m experiments.run --algos=iql --datasets=mujoco/hopper/medium-v0 --num_seeds=5
        --steps=1000000 --config.iql.expectile=0.8
    python -m experiments.run --sweep=experiments/sweeps/default.py --num_seeds=5

--config.<field>=VALUE sets a Config field of every selected algorithm, each of which must have it
(a Python literal: 0.9, '(64, 64)', None, true); --config.<algorithm>.<field>=VALUE sets it for one.
A field some selected algorithm lacks, a wrong type or an out-of-range value is an error.

See experiments/README.md for every flag, the record schema and the tables.
"""

import os


def host_device_flags(environ: dict, cpu_count: int | None) -> str | None:
    """XLA_FLAGS giving XLA:CPU one device per core, or None to leave the environment alone.

    Sharding the seed axis over one CPU device per core trains faster (284 vs 168 updates/s for 2
    seeds on 2 cores). Skipped when XLA_FLAGS already sets the count, when an accelerator plugin
    is installed and JAX_PLATFORMS does not force the CPU, or with a single core.
    """
    flags = environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags or not cpu_count or cpu_count < 2:
        return None
    forced_cpu = environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu"
    if not forced_cpu and _accelerator_installed():
        return None
    return f"{flags} --xla_force_host_platform_device_count={cpu_count}".strip()


def _accelerator_installed() -> bool:
    import importlib.util

    plugins = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin", "libtpu")
    return any(importlib.util.find_spec(name) is not None for name in plugins)


if __name__ == "__main__":
    # Must happen before jax is imported (experiments.cli imports it).
    xla_flags = host_device_flags(dict(os.environ), os.cpu_count())
    if xla_flags is not None:
        os.environ["XLA_FLAGS"] = xla_flags

    from absl import app, flags

    from experiments import cli

    flags.adopt_module_key_flags(cli)  # --help lists the runner's flags.
    app.run(cli.main, flags_parser=cli.parse_flags)
