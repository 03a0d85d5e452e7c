"""The cost of the in-chunk progress ticks (``jaxrl_offline.runner.progress``), measured.

    python -m benchmarks.progress_cost                          # TD3+BC, 256 x 256, chunk 1000
    python -m benchmarks.progress_cost --algo=iql --seeds=1,4

For each seed count it compiles the same chunk function twice, without the progress callback and
with it, and times them in alternation (so both see the same load): the callback at the runner's
interval (``ChunkProgress``: about one tick per second once the speed is known) and on every
update (what the runner's first chunk does). A microbenchmark of a scan that does nothing but the
callback gives the cost of one callback. Writes ``benchmarks/results/progress_cost/<device>.json``
and the generated ``.md`` (not under ``speed/``, whose every JSON is a speed report); ``python -m
benchmarks.speed`` measures it too, for TD3+BC at its settings and one seed
(``report["progress_cost"]``, a line of the speed report).
"""

from __future__ import annotations

import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence

from benchmarks import sitting

OUT_DIR = pathlib.Path(__file__).parent / "results" / "progress_cost"


class _NullBar:
    n = 0

    def update(self, count):
        self.n += count


def overheads_text(row: dict) -> dict[str, str]:
    """A row's four overheads as percentages, each at the precision every report prints it with:
    measured (signed: negative is timing noise) and estimated, at the runner's tick interval
    (``adapted``) and with a tick on every update (``every_update``)."""
    return {"adapted": f"{100 * row['overhead_adapted']:+.2f}%",
            "estimated_adapted": f"{100 * row['estimated_adapted']:.3f}%",
            "every_update": f"{100 * row['overhead_every_update']:+.2f}%",
            "estimated_every_update": f"{100 * row['estimated_every_update']:.2f}%"}


def callback_cost_us(num_calls: int = 2000) -> float:
    """Microseconds per ``jax.debug.callback`` behind the ``lax.cond`` of a scan (best of 3)."""
    import jax
    import jax.numpy as jnp

    def run(every):
        def step(carry, index):
            jax.lax.cond((index + 1) % every == 0, lambda: jax.debug.callback(lambda: None),
                         lambda: None)
            return carry + 1.0, None
        return jax.lax.scan(step, 0.0, jnp.arange(num_calls))[0]

    compiled = jax.jit(run).lower(1).compile()
    times = {}
    for every in (1, num_calls + 1):  # every update / never
        compiled(every).block_until_ready()
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            compiled(every).block_until_ready()
            best = min(best, time.perf_counter() - start)
        times[every] = best
    return 1e6 * (times[1] - times[num_calls + 1]) / num_calls


def measure(algorithm: str, hidden_dims: tuple[int, ...] | None, num_seeds: int, chunk: int,
            repeats: int, dataset_spec: str, callback_us: float,
            log: Callable[[str], None] = print) -> dict:
    """Chunk times without and with progress ticks for one algorithm and seed count, and the
    overheads estimated from ``callback_us`` (one callback's cost)."""
    import numpy as np

    from jaxrl_offline.datasets import data
    from jaxrl_offline.local_suite import suite
    from jaxrl_offline.runner import progress, training
    from jaxrl_offline.algorithms import get_algorithm

    from benchmarks import speed_measure

    algo = get_algorithm(algorithm)
    config = speed_measure.make_config(algo, hidden_dims, {})
    suite.ensure_local(dataset_spec)
    dataset, _ = data.load_dataset(dataset_spec, algorithm=algorithm)
    layout = training.make_seed_layout(range(num_seeds))
    ticks = progress.ChunkProgress(_NullBar(), len(layout.padded_seeds), chunk)
    carries, compiled = {}, {}
    for mode in ("off", "on"):
        states, data_keys = training.init_seed_states(algo, config, layout, dataset)
        carries[mode] = [states, data_keys, training.initial_active(layout)]
        run = training.make_multi_seed_chunk(algo, config, chunk, layout,
                                             progress=ticks.tick if mode == "on" else None)
        extra = (np.int32(1),) if mode == "on" else ()
        placed = training.place_dataset(dataset, layout)
        compiled[mode] = (run.lower(*carries[mode], np.int32(0), placed, *extra).compile(), placed)

    def call(mode: str, every: int | None, chunk_index: int) -> float:
        function, placed = compiled[mode]
        extra = () if every is None else (np.int32(every),)
        states, data_keys, active = carries[mode]
        start = time.perf_counter()
        states, _, active = function(states, data_keys, active, np.int32(chunk_index), placed,
                                     *extra)
        np.asarray(active)
        carries[mode] = [states, data_keys, active]
        return time.perf_counter() - start

    warm_off = call("off", None, 0)
    call("on", 1, 0)
    ticks.end_chunk(chunk, warm_off)  # The runner's rule: about one tick per second.
    adapted = ticks.every
    times = {"off": [], "on_adapted": [], "on_every_update": []}
    for index in range(1, repeats + 1):
        times["off"].append(call("off", None, index))
        times["on_adapted"].append(call("on", adapted, index))
        times["on_every_update"].append(call("on", 1, index))
    best = {name: min(values) for name, values in times.items()}
    # Upper bounds from the callback's own cost: every callback adds its time serially.
    calls = len(layout.padded_seeds) * chunk
    row = {"algorithm": algorithm, "num_seeds": num_seeds, "chunk": chunk,
           "hidden_dims": hidden_dims, "progress_every": adapted, "times_s": times,
           "updates_per_s_off": chunk / best["off"],
           "overhead_adapted": best["on_adapted"] / best["off"] - 1,
           "overhead_every_update": best["on_every_update"] / best["off"] - 1,
           "estimated_adapted": calls // adapted * callback_us * 1e-6 / best["off"],
           "estimated_every_update": calls * callback_us * 1e-6 / best["off"]}
    text = overheads_text(row)
    log(f"{algorithm}, {num_seeds} seeds: {chunk / best['off']:.1f} upd/s without ticks; ticks "
        f"every {adapted} updates {text['adapted']}, every update {text['every_update']} "
        f"(estimated from the callback cost: {text['estimated_adapted']} and "
        f"{text['estimated_every_update']})")
    return row


def to_markdown(report: dict) -> str:
    from jaxrl_offline.reporting.formatting import rate, significant

    lines = [*sitting.heading("Cost of the in-chunk progress ticks", report),
             f"One `jax.debug.callback` behind the scan's `lax.cond`: "
             f"{significant(report['callback_us'], 2)} µs (microbenchmark, best of 3).", "",
             "*Measured*: chunk time with ticks against the same chunk compiled without them, "
             f"called in alternation (best of {report['repeats']} each; negative values are "
             f"timing noise; 1-minute load average {report['load_average']:.1f} on "
             f"{os.cpu_count()} cores). *Estimated*: ticks per chunk x seeds x the callback's "
             "cost, over the chunk time (an upper bound: callbacks of different devices "
             "overlap).", "",
             "| algorithm | seeds | hidden | chunk | upd/s (no ticks) | ticks every | overhead "
             "measured | estimated | ticks on every update (first chunk): measured | estimated |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        dims = "default" if row["hidden_dims"] is None else " x ".join(map(str, row["hidden_dims"]))
        text = overheads_text(row)
        lines.append(
            f"| {row['algorithm']} | {row['num_seeds']} | {dims} | {row['chunk']} | "
            f"{rate(row['updates_per_s_off'])} | {row['progress_every']} updates | "
            f"{text['adapted']} | {text['estimated_adapted']} | {text['every_update']} | "
            f"{text['estimated_every_update']} |")
    return "\n".join(lines) + "\n"


def run(algorithm: str = "td3_bc", seed_counts: Sequence[int] = (1, 2),
        hidden_dims: tuple[int, ...] | None = (256, 256), chunk: int = 1000, repeats: int = 3,
        dataset_spec: str = "jaxrl_offline/halfcheetah/medium-50k-v0", command: str = "",
        log: Callable[[str], None] = print) -> dict:
    """The report: callback microbenchmark plus :func:`measure` per seed count."""
    from jaxrl_offline.reporting import results

    report = sitting.header("jaxrl_offline/progress-cost-v1", command, repeats)
    callback_us = callback_cost_us()
    return results.to_jsonable({
        **report, "callback_us": callback_us,
        "rows": [measure(algorithm, hidden_dims, seeds, chunk, repeats, dataset_spec,
                         callback_us, log) for seeds in seed_counts]})


def write(report: dict, out_dir=OUT_DIR) -> list:
    return sitting.write(report, out_dir, to_markdown)


def main(argv: Sequence[str]) -> None:
    from absl import flags

    values = flags.FLAGS
    dims = None if values.hidden_dims == "default" else tuple(
        int(d) for d in values.hidden_dims.split(","))
    command = "python -m benchmarks.progress_cost " + " ".join(
        arg for arg in sys.argv[1:] if arg.startswith("--"))
    report = run(values.algo, [int(s) for s in values.seeds], dims, values.chunk, values.repeats,
                 command=command.strip())
    for path in write(report, values.out_dir or OUT_DIR):
        print(path)


if __name__ == "__main__":
    from experiments.run import host_device_flags

    xla_flags = host_device_flags(dict(os.environ), os.cpu_count())
    if xla_flags is not None:
        os.environ["XLA_FLAGS"] = xla_flags

    from absl import app, flags

    flags.DEFINE_string("algo", "td3_bc", "Algorithm.")
    flags.DEFINE_list("seeds", ["1", "2"], "Seed counts.")
    flags.DEFINE_string("hidden_dims", "256,256", "Sizes of every *hidden_dims ('default').")
    flags.DEFINE_integer("chunk", 1000, "Updates per chunk.")
    flags.DEFINE_integer("repeats", 3, "Timed calls per variant.")
    flags.DEFINE_string("out_dir", None,
                        "Output folder (default benchmarks/results/progress_cost).")
    app.run(main)
