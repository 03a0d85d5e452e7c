"""Speed benchmark: updates/s of every algorithm with vmapped seeds, against a Python loop.

    python -m benchmarks.speed                       # --preset=small: all algorithms, CPU minutes
    python -m benchmarks.speed --preset=gpu          # TD3+BC and IQL, 256 x 256, 1-64 seeds
    python -m benchmarks.speed --preset=full         # all algorithms at their paper sizes
    python -m benchmarks.speed --algos=iql --seeds=1,10 --chunk=1000   # flags override a preset
    python -m benchmarks.speed --render              # rewrite every .md from its .json

Writes ``benchmarks/results/speed/<name>.json`` (every measurement, settings, device, versions,
commit) and the generated table ``<name>.md``; ``<name>`` defaults to a slug of the device. What
is measured and how: ``benchmarks/speed_measure.py`` and ``benchmarks/README.md``. On a machine
without an accelerator the seed axis is sharded over one XLA:CPU device per core, as
``experiments.run`` does (``XLA_FLAGS`` is set before JAX starts).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

OUT_DIR = pathlib.Path(__file__).parent / "results" / "speed"
DATASET = "jaxrl_offline/halfcheetah/medium-50k-v0"  # Never terminates: fixed-length evaluations.

# The small setting keeps a CPU run to minutes: compiles dominate it (one per algorithm and seed
# count), so only the three cheapest algorithms get all four seed counts, the others two; slow
# algorithms time fewer updates per call, and SfBC runs its cheaper planning backup (its default
# samples 256 x 16 x 2 behavior actions, 15 solver steps each, per update). The table lists every
# such change.
_SMALL_PER_ALGORITHM = {
    **{name: {"seed_counts": (1, 16)} for name in ("sac", "td3_rkl", "aca", "sac_ml")},
    "cql": {"chunk": 5, "seed_counts": (1, 16)},
    "rebrac": {"chunk": 5, "seed_counts": (1, 16)},
    "idql": {"chunk": 2, "seed_counts": (1, 16)},
    "misa": {"chunk": 2, "seed_counts": (1, 4)},
    "sfbc": {"chunk": 2, "seed_counts": (1, 4),
             "config": {"planning_backup": "next_state", "num_value_samples": 4,
                        "batch_size": 1024}},
}

PRESETS: dict[str, dict[str, Any]] = {
    "small": dict(algos=None, seed_counts=(1, 4, 16, 64), hidden_dims=(64, 64), chunk=20,
                  repeats=3, eval_episodes=2, eval_max_steps=50,
                  per_algorithm=_SMALL_PER_ALGORITHM),
    "gpu": dict(algos=("td3_bc", "iql"), seed_counts=(1, 4, 10, 16, 64), hidden_dims=(256, 256),
                chunk=1000, repeats=3, eval_episodes=10, eval_max_steps=1000),
    "full": dict(algos=None, seed_counts=(1, 4, 16, 64), hidden_dims=None, chunk=1000,
                 repeats=3, eval_episodes=10, eval_max_steps=1000),
}


def device_slug(devices: Sequence[Any]) -> str:
    """``cpu-2-cores``, ``nvidia-h100-80gb-hbm3``, ``4x-nvidia-a100-sxm4-40gb``, ..."""
    kinds = sorted({device.device_kind for device in devices})
    if {device.platform for device in devices} == {"cpu"}:
        return f"cpu-{os.cpu_count()}-cores"
    count = "" if len(devices) == 1 else f"{len(devices)}x-"
    return count + re.sub(r"[^a-z0-9]+", "-", "-".join(kinds).lower()).strip("-")


def make_settings(preset: str, explicit: dict[str, Any]):
    """A preset's settings with the explicitly given values on top."""
    from jaxrl_offline.algorithms import ALGORITHMS

    from benchmarks import speed_measure

    values = {"dataset": DATASET, **PRESETS[preset], **explicit}
    values["algos"] = tuple(values["algos"] or ALGORITHMS)
    return speed_measure.Settings(**values)


def run_benchmark(settings, *, name: str | None = None, command: str = "",
                  log: Callable[[str], None] = print) -> dict:
    """Measures every algorithm of ``settings``; returns the report (see ``write_report``)."""
    import jax

    from jaxrl_offline.reporting import results

    from benchmarks import speed_measure

    start = time.perf_counter()
    devices = jax.devices()
    report = {
        "schema": "jaxrl_offline/speed-v1", "name": name or device_slug(devices),
        "device": results.device_description(devices), "device_slug": device_slug(devices),
        "platform": jax.default_backend(), "host_cores": os.cpu_count(),
        "versions": results.versions(), "git_commit": results.git_commit(),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command, "settings": dataclasses.asdict(settings),
        "dataset": speed_measure.dataset_summary(settings.dataset),
        "algorithms": [],
    }
    for algorithm in settings.algos:
        try:
            entry = speed_measure.benchmark_algorithm(algorithm, settings, log)
        except Exception as err:  # noqa: BLE001 - one broken algorithm must not void the run.
            log(f"{algorithm}: FAILED ({type(err).__name__}: {err})")
            entry = {"algorithm": algorithm, "error": f"{type(err).__name__}: {err}"[:500]}
        report["algorithms"].append(entry)
    if "td3_bc" in settings.algos:  # The progress ticks' cost at TD3+BC's speed.
        from benchmarks import progress_cost

        tuned = settings.for_algorithm("td3_bc")
        callback_us = progress_cost.callback_cost_us()
        report["progress_cost"] = {"callback_us": callback_us, **progress_cost.measure(
            "td3_bc", tuned.hidden_dims, 1, tuned.chunk, tuned.repeats, settings.dataset,
            callback_us, log)}
    report["wall_s"] = time.perf_counter() - start
    return results.to_jsonable(report)


def write_report(report: dict, out_dir: str | os.PathLike = OUT_DIR) -> tuple[pathlib.Path, ...]:
    """Writes ``<out_dir>/<name>.json`` and the generated ``<name>.md``; returns both paths."""
    from jaxrl_offline.reporting import results

    from benchmarks import speed_table

    out_dir = pathlib.Path(out_dir)
    json_path, md_path = out_dir / f"{report['name']}.json", out_dir / f"{report['name']}.md"
    results.dump_json(json_path, report)
    results.dump_text(md_path, speed_table.to_markdown(report))
    return json_path, md_path


def render_all(out_dir: str | os.PathLike = OUT_DIR) -> list[pathlib.Path]:
    """Regenerates every ``<name>.md`` from its ``<name>.json``."""
    from jaxrl_offline.reporting import results

    from benchmarks import speed_table

    paths = []
    for json_path in sorted(pathlib.Path(out_dir).glob("*.json")):
        report = speed_table.read_report(json_path)
        results.dump_text(json_path.with_suffix(".md"), speed_table.to_markdown(report))
        paths.append(json_path.with_suffix(".md"))
    return paths


def _explicit_flags(flag_values) -> dict[str, Any]:
    """Settings given on the command line (they override the preset)."""
    explicit = {}
    for flag, field, parse in (
            ("algos", "algos", lambda v: tuple(v)),
            ("seeds", "seed_counts", lambda v: tuple(int(s) for s in v)),
            ("hidden_dims", "hidden_dims",
             lambda v: None if v in ("", "default") else tuple(int(d) for d in v.split(","))),
            ("chunk", "chunk", int), ("repeats", "repeats", int),
            ("eval_episodes", "eval_episodes", int),
            ("eval_max_steps", "eval_max_steps", lambda v: v or None),
            ("dataset", "dataset", str), ("seed_strategy", "seed_strategy", str)):
        if flag_values[flag].present:
            explicit[field] = parse(flag_values[flag].value)
    return explicit


def main(argv: Sequence[str]) -> None:
    from absl import flags, logging

    flag_values = flags.FLAGS
    if len(argv) > 1:
        raise SystemExit(f"unexpected arguments {argv[1:]}")
    if not flag_values["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    if flag_values.render:
        print("\n".join(str(path) for path in render_all(flag_values.out_dir)))
        return
    settings = make_settings(flag_values.preset, _explicit_flags(flag_values))
    command = "python -m benchmarks.speed " + " ".join(argv_flags(sys.argv[1:]))
    report = run_benchmark(settings, name=flag_values.name, command=command.strip())
    for path in write_report(report, flag_values.out_dir):
        print(path)


def argv_flags(args: Sequence[str]) -> list[str]:
    return [arg for arg in args if arg.startswith("--")]


def define_flags() -> None:
    from absl import flags

    flags.DEFINE_enum("preset", "small", sorted(PRESETS), "Settings to start from (flags below "
                      "override them): small (CPU minutes), gpu (TD3+BC, IQL), full.")
    flags.DEFINE_list("algos", None, "Registry names (default: the preset's; all for small/full).")
    flags.DEFINE_list("seeds", None, "Numbers of vmapped seeds to time, e.g. 1,4,16,64.")
    flags.DEFINE_string("hidden_dims", None, "Comma-separated sizes for every *hidden_dims field; "
                        "'default' keeps each algorithm's.")
    flags.DEFINE_integer("chunk", None, "Updates per seed per jitted call (and Python-loop steps "
                         "per timed block).")
    flags.DEFINE_integer("repeats", None, "Timed calls per seed count, after one warm-up call "
                         "(and timed loop blocks); the fastest gives the rate.")
    flags.DEFINE_integer("eval_episodes", None, "Episodes per seed of the timed evaluation "
                         "(0: none).")
    flags.DEFINE_integer("eval_max_steps", None, "Cap on evaluation episode length (0: env's).")
    flags.DEFINE_string("dataset", None, f"Dataset spec (default {DATASET}).")
    flags.DEFINE_enum("seed_strategy", None, ["auto", "vmap", "map"], "How each device runs its "
                      "seeds (default auto: in turn on CPU, vmapped on accelerators).")
    flags.DEFINE_string("name", None, "Output file stem (default: a slug of the device).")
    flags.DEFINE_string("out_dir", str(OUT_DIR), "Output folder.")
    flags.DEFINE_bool("render", False, "Only regenerate every <name>.md from its <name>.json.")


if __name__ == "__main__":
    from experiments.run import host_device_flags

    xla_flags = host_device_flags(dict(os.environ), os.cpu_count())
    if xla_flags is not None:  # Before JAX starts: one XLA:CPU device per core.
        os.environ["XLA_FLAGS"] = xla_flags

    from absl import app

    define_flags()
    app.run(main)
