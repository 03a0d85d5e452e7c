"""What the vmapped chunk's shared update counter saves, measured side by side.

    python -m benchmarks.shared_step                      # TD3+BC, ReBRAC, TD3-RKL, IDQL; 4 seeds
    python -m benchmarks.shared_step --algos=td3_bc --seeds=8 --chunk=500

Vmapped over seeds (``seed_strategy="vmap"``, the default on accelerators), every cond on the
update counter ``state.step`` becomes a select that computes both branches when each seed carries
its own counter: TD3's delayed actor runs on every update instead of one in ``policy_freq``, and
IDQL's critic schedule and TD3-RKL's behavior fit run whether taken or not.
``training.make_multi_seed_chunk`` therefore passes the active seeds' common counter unbatched
(``shared_step=True``, the default), which keeps those conds branches.

For each algorithm this compiles the vmapped chunk both ways, and the ``"map"`` strategy (each
device's seeds in turn, unbatched: the runner's default on CPU, where the conds are branches
either way), calls the three in alternation (so all see the same load), then checks that they
trained the same parameters (the largest absolute difference: float rounding only). On an
accelerator the runner vmaps; on this CPU the ``map`` column is what the runner runs.
Writes ``benchmarks/results/shared_step/<device>.json`` and the generated ``.md``.
"""

from __future__ import annotations

import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence

from benchmarks import sitting

OUT_DIR = pathlib.Path(__file__).parent / "results" / "shared_step"
# name: (seed_strategy, shared_step) of training.make_multi_seed_chunk.
MODES = {"per_seed": ("vmap", False), "shared": ("vmap", True), "map": ("map", True)}


def measure(algorithm: str, hidden_dims: tuple[int, ...] | None, num_seeds: int, chunk: int,
            repeats: int, dataset_spec: str, log: Callable[[str], None] = print) -> dict:
    """Chunk times of one algorithm, vmapped, with a per-seed and a shared step counter."""
    import jax
    import numpy as np

    from jaxrl_offline.algorithms import get_algorithm
    from jaxrl_offline.datasets import data
    from jaxrl_offline.local_suite import suite
    from jaxrl_offline.runner import training

    from benchmarks import speed_measure

    algo = get_algorithm(algorithm)
    config = speed_measure.make_config(algo, hidden_dims, {})
    suite.ensure_local(dataset_spec)
    dataset, _ = data.load_dataset(dataset_spec, algorithm=algorithm)
    layout = training.make_seed_layout(range(num_seeds))
    placed = training.place_dataset(dataset, layout)
    carries, compiled, compile_s = {}, {}, {}
    for mode in MODES:
        states, data_keys = training.init_seed_states(algo, config, layout, dataset)
        carries[mode] = [states, data_keys, training.initial_active(layout)]
        strategy, shared_step = MODES[mode]
        run = training.make_multi_seed_chunk(algo, config, chunk, layout, strategy,
                                             shared_step=shared_step)
        start = time.perf_counter()
        compiled[mode] = run.lower(*carries[mode], np.int32(0), placed).compile()
        compile_s[mode] = time.perf_counter() - start

    def call(mode: str, chunk_index: int) -> float:
        states, data_keys, active = carries[mode]
        start = time.perf_counter()
        states, _, active = compiled[mode](states, data_keys, active, np.int32(chunk_index),
                                           placed)
        jax.block_until_ready(states)
        carries[mode] = [states, data_keys, active]
        return time.perf_counter() - start

    for mode in MODES:  # Chunk 0 warms up (allocations, thread pools).
        call(mode, 0)
    times = {mode: [] for mode in MODES}
    for index in range(1, repeats + 1):
        for mode in MODES:
            times[mode].append(call(mode, index))
    rates = {mode: chunk / min(values) for mode, values in times.items()}
    # Padding seeds are computed vmapped and skipped with map: compare the real seeds only.
    params = {mode: [leaf for leaf in jax.tree.leaves(layout.unpad(carries[mode][0]))
                     if jax.numpy.issubdtype(leaf.dtype, jax.numpy.floating)] for mode in MODES}
    difference = max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                     for mode in MODES if mode != "shared"
                     for a, b in zip(params[mode], params["shared"]))
    row = {"algorithm": algorithm, "num_seeds": num_seeds, "chunk": chunk,
           "hidden_dims": hidden_dims, "times_s": times, "compile_s": compile_s,
           "updates_per_s_per_seed": rates, "speedup": rates["shared"] / rates["per_seed"],
           "map_over_shared": rates["map"] / rates["shared"],
           "updates": chunk * (repeats + 1), "max_abs_param_difference": difference,
           "all_finite": all(bool(np.asarray(carries[mode][2]).all()) for mode in MODES)}
    log(f"{algorithm}, {num_seeds} seeds vmapped: {rates['per_seed']:.1f} -> "
        f"{rates['shared']:.1f} upd/s per seed ({row['speedup']:.2f}x; map {rates['map']:.1f}); "
        f"parameters after {row['updates']} updates differ by at most {difference:.2g}")
    return row


def to_markdown(report: dict) -> str:
    from jaxrl_offline.reporting.formatting import rate, significant

    lines = [*sitting.heading("Shared update counter in vmapped chunks", report),
             "Updates/s per seed of the vmapped chunk (`seed_strategy=\"vmap\"`) with each seed's "
             "own `state.step` (batched: conds on it run both branches) and with the seeds' "
             "shared counter passed unbatched (`shared_step=True`, the default), and with "
             "`seed_strategy=\"map\"` (each device's seeds in turn, unbatched: the CPU "
             f"default), called in alternation, best of {report['repeats']} each; 1-minute load "
             f"average {report['load_average']:.1f} on {os.cpu_count()} cores. The last column: "
             "the largest parameter difference between the three after the same updates (float "
             "rounding, not different math).", "",
             "| algorithm | seeds | hidden | chunk | vmap, per-seed counter | vmap, shared counter "
             "| speedup | map | max param difference |", "|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        dims = "default" if row["hidden_dims"] is None else " x ".join(map(str, row["hidden_dims"]))
        rates = row["updates_per_s_per_seed"]
        lines.append(
            f"| {row['algorithm']} | {row['num_seeds']} | {dims} | {row['chunk']} | "
            f"{rate(rates['per_seed'])} | {rate(rates['shared'])} | {row['speedup']:.2f}x | "
            f"{rate(rates['map'])} | {significant(row['max_abs_param_difference'], 2)} |")
    return "\n".join(lines) + "\n"


def run(algorithms: Sequence[str] = ("td3_bc", "rebrac", "td3_rkl", "idql"), num_seeds: int = 4,
        hidden_dims: tuple[int, ...] | None = (256, 256), chunk: int = 200, repeats: int = 3,
        dataset_spec: str = "jaxrl_offline/halfcheetah/medium-50k-v0", command: str = "",
        log: Callable[[str], None] = print) -> dict:
    """The report: :func:`measure` for each algorithm."""
    from jaxrl_offline.reporting import results

    report = sitting.header("jaxrl_offline/shared-step-v1", command, repeats)
    return results.to_jsonable({
        **report, "rows": [measure(name, hidden_dims, num_seeds, chunk, repeats, dataset_spec, log)
                           for name in algorithms]})


def write(report: dict, out_dir=OUT_DIR) -> list:
    return sitting.write(report, out_dir, to_markdown)


def main(argv: Sequence[str]) -> None:
    from absl import flags

    if len(argv) > 1:
        raise SystemExit(f"unexpected arguments {argv[1:]}")
    values = flags.FLAGS
    dims = None if values.hidden_dims == "default" else tuple(
        int(d) for d in values.hidden_dims.split(","))
    command = "python -m benchmarks.shared_step " + " ".join(
        arg for arg in sys.argv[1:] if arg.startswith("--"))
    report = run(values.algos, values.seeds, dims, values.chunk, values.repeats, values.dataset,
                 command.strip())
    for path in write(report, values.out_dir):
        print(path)


if __name__ == "__main__":
    from absl import app, flags

    from experiments.run import host_device_flags

    xla_flags = host_device_flags(dict(os.environ), os.cpu_count())
    if xla_flags is not None:  # Before JAX starts: one XLA:CPU device per core, as the runner.
        os.environ["XLA_FLAGS"] = xla_flags
    flags.DEFINE_list("algos", ["td3_bc", "rebrac", "td3_rkl", "idql"], "Registry names.")
    flags.DEFINE_integer("seeds", 4, "Vmapped seeds (sharded over the devices).")
    flags.DEFINE_string("hidden_dims", "256,256", "Sizes for every *hidden_dims field; 'default' "
                        "keeps each algorithm's.")
    flags.DEFINE_integer("chunk", 200, "Updates per seed per jitted call.")
    flags.DEFINE_integer("repeats", 3, "Timed calls per mode after one warm-up; the fastest "
                         "gives the rate.")
    flags.DEFINE_string("dataset", "jaxrl_offline/halfcheetah/medium-50k-v0", "Dataset spec.")
    flags.DEFINE_string("out_dir", str(OUT_DIR), "Output folder.")
    app.run(main)
