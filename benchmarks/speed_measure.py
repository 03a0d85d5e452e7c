"""Measurements of the speed benchmark (``python -m benchmarks.speed``).

For one algorithm and one dataset this times, with the library's own training path:

* **vmapped seeds**: ``training.make_multi_seed_chunk`` (``jit(vmap(lax.scan(update)))`` with the
  seed axis sharded over every local device, exactly what ``experiments.run`` executes) for each
  seed count: compile time (ahead-of-time lowering and compilation), then ``repeats`` timed calls
  of ``chunk`` updates per seed after one warm-up call;
* **the Python loop** other libraries use (jaxrl, CORL, JAX-CORL without ``n_jitted_updates``):
  one seed, one jitted ``update`` per Python step, its batch sampled on the host with numpy and
  copied to the device; blocks of ``chunk`` steps, blocking only at the end of a block (dispatch
  stays asynchronous within it), one block after each timed vmapped call, so the two modes are
  timed under the same load;
* **evaluation**: one ``evaluation.evaluate`` call (all seeds x episodes in lockstep Gymnasium
  envs) after the batched policy was compiled.

The loop trains one seed at a time, so ``S`` seeds cost ``S`` loop runs: the ratio of our
aggregate updates/s at ``S`` seeds to the loop's updates/s is the speed-up of training ``S`` seeds
our way over ``S`` sequential loop runs, on the same data, networks and batch sizes; it is taken
against the loop blocks interleaved with that seed count's calls. Both modes report the rate of
their fastest timed call or block (best of ``repeats``, as ``timeit`` does: the least disturbed by
other load on the machine) and the rate over all of them.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from jaxrl_offline.datasets import data
from jaxrl_offline.local_suite import suite
from jaxrl_offline.runner import evaluation, training
from jaxrl_offline.algorithms import get_algorithm
from jaxrl_offline.reporting.formatting import duration, rate
from jaxrl_offline.types import Transition

PER_ALGORITHM_FIELDS = ("chunk", "repeats", "seed_counts", "config")


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the benchmark measures.

    Attributes:
      algos: registry names.
      dataset: dataset spec (generated on first use when it is one of the project's).
      seed_counts: numbers of vmapped seeds to time.
      hidden_dims: every ``*hidden_dims`` config field set to this; ``None`` keeps the defaults.
      chunk: updates per seed in one jitted call (one ``lax.scan``), and Python-loop steps per
        timed block.
      repeats: timed calls per seed count (after one warm-up call) and timed loop blocks.
      eval_episodes: episodes per seed of the timed evaluation (0: no evaluation).
      eval_max_steps: cap on evaluation episode length (``None``: the env's limit).
      config: config overrides for every algorithm that has the field.
      seed_strategy: how each device runs its seeds (``training.make_multi_seed_chunk``):
        ``"auto"`` (the runner's default: in turn on CPU, vmapped on accelerators), ``"vmap"``
        or ``"map"``.
      per_algorithm: ``{algo: {field: value}}`` replacing ``chunk``, ``repeats``, ``loop_steps``,
        ``seed_counts`` or ``config`` for one algorithm (slow algorithms at small settings).
    """

    algos: tuple[str, ...]
    dataset: str
    seed_counts: tuple[int, ...] = (1, 4, 16, 64)
    hidden_dims: tuple[int, ...] | None = None
    chunk: int = 1000
    repeats: int = 3
    eval_episodes: int = 10
    eval_max_steps: int | None = 1000
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    seed_strategy: str = "auto"
    per_algorithm: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def for_algorithm(self, name: str) -> Settings:
        """These settings with ``per_algorithm[name]`` applied (``config`` merged)."""
        changes = dict(self.per_algorithm.get(name, {}))
        unknown = sorted(set(changes) - set(PER_ALGORITHM_FIELDS))
        if unknown:
            raise ValueError(f"per_algorithm[{name!r}]: unknown fields {unknown}; valid: "
                             f"{PER_ALGORITHM_FIELDS}")
        if "config" in changes:
            changes["config"] = {**self.config, **changes["config"]}
        return dataclasses.replace(self, **changes)


def make_config(algo, hidden_dims: tuple[int, ...] | None, overrides: Mapping[str, Any]):
    """The algorithm's default ``Config`` with network sizes and the overrides it has fields for."""
    fields = {field.name for field in dataclasses.fields(algo.Config)}
    values = {name: value for name, value in overrides.items() if name in fields}
    if hidden_dims is not None:
        values.update({name: tuple(hidden_dims) for name in fields
                       if name.endswith("hidden_dims") and name not in values})
    return algo.Config(**values)


def time_vmapped(algo, config, dataset: Transition, num_seeds: int, chunk: int, repeats: int,
                 between: Callable[[], float] | None = None,
                 seed_strategy: str = "auto") -> tuple[dict, Any]:
    """Times ``make_multi_seed_chunk`` with ``num_seeds`` seeds; returns (row, unpadded states).

    ``between`` (if given) runs after every timed call and returns a time of its own (a block of
    the Python loop), collected in ``row["loop_block_s"]``: interleaving the two modes exposes
    both to the same load on a shared machine."""
    layout = training.make_seed_layout(range(num_seeds))
    start = time.perf_counter()
    states, data_keys = training.init_seed_states(algo, config, layout, dataset)
    jax.block_until_ready(states)
    init_s = time.perf_counter() - start
    active, dataset = training.initial_active(layout), training.place_dataset(dataset, layout)
    run_chunk = training.make_multi_seed_chunk(algo, config, chunk, layout, seed_strategy)
    start = time.perf_counter()
    compiled = run_chunk.lower(states, data_keys, active, np.int32(0), dataset).compile()
    compile_s = time.perf_counter() - start
    calls, loop_blocks = [], []
    for chunk_index in range(repeats + 1):  # Call 0 warms up (allocations, thread pools).
        start = time.perf_counter()
        states, _, active = compiled(states, data_keys, active, np.int32(chunk_index), dataset)
        jax.block_until_ready(states)
        calls.append(time.perf_counter() - start)
        if chunk_index and between is not None:
            loop_blocks.append(between())
    per_seed = chunk / min(calls[1:])
    row = {"num_seeds": num_seeds, "num_devices": int(layout.mesh.devices.size),
           "seed_strategy": training.resolve_seed_strategy(seed_strategy, layout),
           "padded_seeds": len(layout.padded_seeds), "init_s": init_s, "compile_s": compile_s,
           "warmup_call_s": calls[0], "call_s": calls[1:], "updates_per_seed": chunk * repeats,
           "updates_per_s_per_seed": per_seed, "aggregate_updates_per_s": per_seed * num_seeds,
           "mean_aggregate_updates_per_s": chunk * repeats * num_seeds / sum(calls[1:]),
           "loop_block_s": loop_blocks,
           "all_finite": bool(np.asarray(layout.unpad(active)).all())}
    return row, layout.unpad(states)


def make_python_loop(algo, config, host_data: Transition, steps: int,
                     seed: int = 0) -> tuple[float, Callable[[], float]]:
    """The loop of other libraries for one seed: one jitted ``update`` per Python step on a numpy
    batch sampled on the host.

    Returns:
      (seconds of the compiling first call, ``run_block()``: runs ``steps`` more steps, blocking
      only at the end, and returns their wall time).
    """
    device_data = data.to_device(host_data)
    state, _ = jax.jit(functools.partial(training.init_agent, algo, config))(
        np.uint32(seed), device_data)
    update = jax.jit(functools.partial(algo.update, config))
    rng = np.random.default_rng(seed)
    num_transitions = host_data.reward.shape[0]
    carry = {}

    def host_batch() -> Transition:
        indices = rng.integers(0, num_transitions, config.batch_size)
        return Transition(*(field[indices] for field in host_data))

    start = time.perf_counter()
    carry["state"], _ = update(state, host_batch())  # Compiles; includes one update.
    jax.block_until_ready(carry["state"])
    first_call_s = time.perf_counter() - start

    def run_block() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            carry["state"], _ = update(carry["state"], host_batch())
        jax.block_until_ready(carry["state"])
        return time.perf_counter() - start

    return first_call_s, run_block


def time_evaluation(algo, config, states, info, num_episodes: int,
                    max_steps: int | None) -> dict:
    """One ``evaluation.evaluate`` of every seed, after compiling the batched policy."""
    policy = evaluation.make_batched_policy(algo, config)
    num_seeds = jax.tree.leaves(states)[0].shape[0]
    obs = np.zeros((num_seeds, num_episodes, info.obs_dim), np.float32)
    start = time.perf_counter()
    keys = evaluation.policy_keys(1, range(num_seeds))
    jax.block_until_ready(policy(states, obs, keys, np.int32(0)))
    compile_s = time.perf_counter() - start
    result = evaluation.evaluate(policy, states, info, num_episodes=num_episodes, seed=0,
                                 max_episode_steps=max_steps)
    return {"episodes_per_seed": num_episodes, "max_episode_steps": max_steps,
            "policy_compile_s": compile_s, "eval_s": result.wall_s,
            "policy_calls": result.num_policy_calls,
            "env_steps": int(result.lengths.sum()),
            "s_per_policy_call": result.wall_s / max(result.num_policy_calls, 1)}


def benchmark_algorithm(name: str, settings: Settings,
                        log: Callable[[str], None] = print) -> dict:
    """Every measurement of one algorithm (its per-algorithm settings applied)."""
    settings = settings.for_algorithm(name)
    algo = get_algorithm(name)
    config = make_config(algo, settings.hidden_dims, settings.config)
    suite.ensure_local(settings.dataset)
    host_data, info = data.load_numpy(settings.dataset, algorithm=name)
    load_start, start = os.getloadavg()[0], time.perf_counter()
    first_call_s, run_loop_block = make_python_loop(algo, config, host_data, settings.chunk)
    run_loop_block()  # Warm-up block.
    device_data, rows = data.to_device(host_data), []
    for num_seeds in settings.seed_counts:
        row, states = time_vmapped(algo, config, device_data, num_seeds, settings.chunk,
                                   settings.repeats, between=run_loop_block,
                                   seed_strategy=settings.seed_strategy)
        row["loop_updates_per_s"] = settings.chunk / min(row["loop_block_s"])
        row["speedup_vs_loop"] = row["aggregate_updates_per_s"] / row["loop_updates_per_s"]
        if settings.eval_episodes:
            row["eval"] = time_evaluation(algo, config, states, info, settings.eval_episodes,
                                          settings.eval_max_steps)
        rows.append(row)
        log(f"{name}: {num_seeds} seeds {rate(row['aggregate_updates_per_s'])} upd/s aggregate "
            f"({rate(row['updates_per_s_per_seed'])} per seed), Python loop "
            f"{rate(row['loop_updates_per_s'])} upd/s: x{row['speedup_vs_loop']:.2f}; compile "
            f"{duration(row['compile_s'])}" + (f", eval {duration(row['eval']['eval_s'])}"
                                               if "eval" in row else ""))
    blocks = [block for row in rows for block in row["loop_block_s"]]
    loop = {"steps_per_block": settings.chunk, "first_call_s": first_call_s,
            "updates_per_s": settings.chunk / min(blocks),
            "mean_updates_per_s": settings.chunk * len(blocks) / sum(blocks)}
    return {"algorithm": name, "config": dataclasses.asdict(config),
            "settings": {field: getattr(settings, field) for field in PER_ALGORITHM_FIELDS},
            "reduced": name in settings.per_algorithm, "loop": loop, "vmapped": rows,
            "wall_s": time.perf_counter() - start,
            "load_average": [load_start, os.getloadavg()[0]]}


def dataset_summary(spec: str) -> dict:
    """Size and shapes of the benchmark dataset (for the report)."""
    suite.ensure_local(spec)
    host_data, info = data.load_numpy(spec)
    return {"id": spec, "num_transitions": info.num_transitions, "obs_dim": info.obs_dim,
            "action_dim": info.action_dim, "eval_env": data.env_id_of(info.eval_env_spec),
            "num_episodes": info.num_episodes, "host_bytes": int(sum(x.nbytes for x in host_data))}
