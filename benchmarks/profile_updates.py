"""Where an update's time goes: FLOPs per update by network and pass, against the machine's peak.

    python -m benchmarks.profile_updates                          # misa, cql, idql, sfbc, td3_bc
    python -m benchmarks.profile_updates --algos=sfbc --config.sfbc.planning_backup=next_state
    python -m benchmarks.profile_updates --render                 # rewrite the .md from the .json

For each algorithm at its default (paper) sizes, one seed, on a random batch of hopper's shapes
(obs 11, action 3; the data's values do not change the work), this:

* compiles ``update`` and counts the FLOPs of every matrix product of the optimized HLO, 2 x
  prod(output) x contracted size, times the number of times it runs per update (a product in a
  ``while`` body counts its known trip count, nested loops multiply: HMC chains, diffusion
  sampling), beside XLA's own count (``cost_analysis()["flops"]``, which counts a loop body once);
* attributes the matmul FLOPs to the network they belong to (the Flax module named in the op's
  ``op_name`` metadata), the pass (forward, or backward: ``transpose(jvp)``) and whether they run
  inside a loop of the update;
* times a ``lax.scan`` of ``--updates`` updates (after a warm-up call) and divides the matmul
  FLOPs by the time: the achieved GFLOP/s, beside a 256-wide matmul chain timed in the same sitting
  (``peak_gflops``, what one XLA:CPU device reaches on this machine).

An update at a large fraction of the peak is compute bound: it gets faster only by doing fewer
FLOPs, so the breakdown says which part of the method to look at (e.g. SfBC's sampling inside
every update). The matmul count is what runs on average per update: the ``cond`` of a delayed
update (``jaxrl_offline.state.delayed_update``, named ``delayed_every_<period>``: TD3's actor and
targets every ``policy_freq`` updates, IDQL's critic every ``critic_every``) counts its update
branch 1/period and its skip branch the rest (an ``enabled`` warm-up is not counted); any other
``cond`` counts every branch, as XLA's own count does for all of them.
Writes ``benchmarks/results/profile/<name>.json`` and the generated ``<name>.md``.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import pathlib
import re
import sys
import time

from absl import app, flags

OUT_DIR = pathlib.Path(__file__).parent / "results" / "profile"
OBS_DIM, ACTION_DIM = 11, 3  # Hopper's shapes.

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags, defined only when run as a script (tests import the module
    beside other absl programs)."""
    flags.DEFINE_list("algos", ["td3_bc", "cql", "misa", "idql", "sfbc"], "Registry names.")
    flags.DEFINE_integer("updates", 3, "Updates per timed call (one lax.scan).")
    flags.DEFINE_integer("repeats", 2, "Timed calls after the warm-up (the fastest is reported).")
    flags.DEFINE_multi_string("config", [], "Overrides `<algo>.<field>=<value>` (Python literals).")
    flags.DEFINE_string("name", None, "Output name (default: a slug of the device and host cores).")
    flags.DEFINE_bool("render", False, "Only rewrite every .md from its .json.")


# The optimized HLO defines each value once: `%name = f32[d0,d1]{...} op(...)`.
_DEFINITION = re.compile(r"\s*(?:ROOT )?%([\w.\-]+) = f32\[([\d,]*)\]")
_DOT = re.compile(r"= f32\[([\d,]*)\]\S* dot\(%([\w.\-]+), %([\w.\-]+)\)")
_CONTRACTING = re.compile(r"lhs_contracting_dims=\{([\d,]*)\}")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_MODULE = re.compile(r"([A-Z][A-Za-z0-9]+)(?:_\d+)?[/)]")


def _dims(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


_COMPUTATION = re.compile(r"^(ENTRY )?%([\w.\-]+) .*\{$")
_CALLEE = re.compile(r"(?:calls|body|to_apply|true_computation|false_computation)=%([\w.\-]+)")
_BRANCHES = re.compile(r"branch_computations=\{([^}]*)\}")
_TRIP_COUNT = re.compile(r'"known_trip_count":\{"n":"(\d+)"\}')
# A delayed update's cond (``state.DELAYED_SCOPE``): its own op_name ends in the scope's ``/cond``.
_DELAYED_COND = re.compile(r'op_name="[^"]*delayed_every_(\d+)/cond"')
_TRUE_FALSE = re.compile(r"(true|false)_computation=%([\w.\-]+)")
COUNTING = "delayed-cond-weighted"  # Reports' ``counting``: a delayed update's cond weighted.


def _computations(hlo_text: str) -> tuple[dict[str, list[str]], str]:
    """The HLO module's computations, ``{name: lines}``, and the entry computation's name."""
    computations: dict[str, list[str]] = {}
    entry, current = "", None
    for line in hlo_text.splitlines():
        header = _COMPUTATION.match(line)
        if header:
            current = header.group(2)
            computations[current] = []
            if header.group(1):
                entry = current
        elif current is not None:
            computations[current].append(line)
    return computations, entry


def _branch_weights(line: str) -> dict[str, float]:
    """Runs per run of its caller of each branch of a delayed update's ``conditional``: the
    update branch (index 1, or ``true_computation``) 1/period, the skip branch 1 - 1/period;
    ``{}`` for any other line."""
    delayed = _DELAYED_COND.search(line)
    if not delayed:
        return {}
    every = 1.0 / int(delayed.group(1))
    branches = _BRANCHES.search(line)
    if branches:
        names = re.findall(r"%([\w.\-]+)", branches.group(1))
        return dict(zip(names, (1.0 - every, every))) if len(names) == 2 else {}
    return {name: every if kind == "true" else 1.0 - every
            for kind, name in _TRUE_FALSE.findall(line)}


def _executions(computations: dict[str, list[str]], entry: str) -> dict[str, float]:
    """How many times each computation runs per call of the entry, on average: a ``while`` body
    runs its known trip count times per run of its caller (nested loops multiply); fusions and
    calls run once per run of their caller; the branches of a delayed update's ``cond``
    (:func:`_branch_weights`) 1/period (update) and 1 - 1/period (skip); any other cond's
    branches once each (every branch counted, as XLA's own cost analysis does)."""
    counts: dict[str, float] = collections.defaultdict(float)

    def visit(name: str, times: float) -> None:
        counts[name] += times
        for line in computations.get(name, []):
            trips = _TRIP_COUNT.search(line)
            callees = _CALLEE.findall(line)
            branches = _BRANCHES.search(line)
            if branches:
                callees += re.findall(r"%([\w.\-]+)", branches.group(1))
            weights = _branch_weights(line)
            for callee in callees:
                loop_body = " while(" in line and f"body=%{callee}" in line
                runs = int(trips.group(1)) if loop_body and trips else weights.get(callee, 1.0)
                visit(callee, times * runs)

    visit(entry, 1.0)
    return counts


def dot_flops_by_part(hlo_text: str) -> dict[str, float]:
    """FLOPs of every ``dot`` of an optimized HLO module per call of the module, summed per
    ``"<loop ><Module> <pass>"``.

    A dot inside a loop counts once per iteration (the ``while``'s known trip count; XLA's own
    ``cost_analysis`` counts a loop body once); a dot in the update branch of a delayed update's
    ``cond`` counts 1/period (what runs on average per update; :func:`_executions`).
    ``<Module>`` is the first Flax module (a CamelCase name) in the op's ``op_name``, ``<pass>``
    is ``backward`` inside a ``transpose(...)`` (reverse-mode AD) and ``forward`` otherwise, and
    the prefix ``in-loop`` marks ops inside a ``while`` of the update (a
    ``lax.scan``/``fori_loop``: HMC chains, solver steps).
    """
    computations, entry = _computations(hlo_text)
    executions = _executions(computations, entry)
    shapes = {}
    for lines in computations.values():
        for line in lines:
            match = _DEFINITION.match(line)
            if match:
                shapes[match.group(1)] = _dims(match.group(2))
    parts: collections.Counter = collections.Counter()
    for name, lines in computations.items():
        for line in lines:
            match = _DOT.search(line)
            if not match or not executions.get(name):
                continue
            output, lhs = _dims(match.group(1)), shapes.get(match.group(2), [])
            contracting = _CONTRACTING.search(line)
            size = 1
            if contracting and lhs:
                for axis in _dims(contracting.group(1)):
                    size *= lhs[axis]
            flops = 2.0 * size * executions[name]
            for dim in output:
                flops *= dim
            op_name = _OP_NAME.search(line)
            op_name = op_name.group(1) if op_name else ""
            modules = _MODULE.findall(op_name)
            loop = "in-loop " if "while" in op_name else ""
            kind = "backward" if "transpose(" in op_name else "forward"
            parts[f"{loop}{modules[0] if modules else 'other'} {kind}"] += flops
    return dict(parts)


def measure_peak_gflops(width: int = 256, rows: int = 4096, depth: int = 8,
                        repeats: int = 5) -> float:
    """GFLOP/s of a chain of ``depth`` [rows, width] x [width, width] products with a ReLU, the
    shape of a 256-wide MLP on a large batch (best of ``repeats``)."""
    import jax
    import jax.numpy as jnp

    def chain(x, weights):
        for weight in weights:
            x = jax.nn.relu(x @ weight)
        return x

    keys = jax.random.split(jax.random.PRNGKey(0), depth + 1)
    x = jax.random.normal(keys[0], (rows, width))
    weights = [jax.random.normal(k, (width, width)) / width ** 0.5 for k in keys[1:]]
    run = jax.jit(chain)
    run(x, weights).block_until_ready()
    best = min(_timed(lambda: run(x, weights).block_until_ready()) for _ in range(repeats))
    return 2.0 * rows * width * width * depth / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def profile_algorithm(name: str, overrides: dict, updates: int, repeats: int) -> dict:
    """The profile of one algorithm (see the module docstring)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl_offline.algorithms import get_algorithm
    from jaxrl_offline.types import Transition

    algo = get_algorithm(name)
    config = algo.Config(**overrides)
    if hasattr(config, "total_steps"):  # A phased run: profile its first phase's update.
        config = type(config)(**{**config.__dict__, "total_steps": max(updates * 10, 1000)})
    batch_size = getattr(config, "batch_size", 256)
    rng = np.random.default_rng(0)
    batch = Transition(
        obs=jnp.asarray(rng.normal(size=(batch_size, OBS_DIM)), jnp.float32),
        action=jnp.asarray(rng.uniform(-1, 1, size=(batch_size, ACTION_DIM)), jnp.float32),
        reward=jnp.asarray(rng.normal(size=batch_size), jnp.float32),
        next_obs=jnp.asarray(rng.normal(size=(batch_size, OBS_DIM)), jnp.float32),
        terminal=jnp.zeros(batch_size, jnp.float32))
    state = algo.init(config, jax.random.PRNGKey(0), batch.obs[0], batch.action[0])

    def one_update(carry, _):
        carry, _ = algo.update(config, carry, batch)
        return carry, None

    single = jax.jit(lambda s: algo.update(config, s, batch)[0])
    started = time.perf_counter()
    compiled_single = single.lower(state).compile()
    compile_s = time.perf_counter() - started
    cost = compiled_single.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", float("nan")))
    parts = dot_flops_by_part(compiled_single.as_text())
    scanned = jax.jit(lambda s: jax.lax.scan(one_update, s, None, length=updates)[0])
    state = jax.block_until_ready(scanned(state))
    times = []
    for _ in range(repeats):
        times.append(_timed(lambda: jax.block_until_ready(scanned(state))))
    seconds = min(times) / updates
    matmul_flops = float(sum(parts.values()))
    return {"algorithm": name, "overrides": overrides, "batch_size": batch_size,
            "xla_flops_per_update": flops, "matmul_flops_per_update": matmul_flops,
            "dot_flops_by_part": parts, "compile_s": compile_s,
            "seconds_per_update": seconds, "updates_per_s": 1.0 / seconds,
            "achieved_gflops": matmul_flops / seconds / 1e9, "call_seconds": times}


def parse_overrides(entries) -> dict[str, dict]:
    import ast

    out: dict[str, dict] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        algo, _, field = key.partition(".")
        if not field or not value:
            raise app.UsageError(f"--config={entry!r}: write --config=<algo>.<field>=<value>")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        out.setdefault(algo, {})[field] = parsed
    return out


def render(report: dict) -> str:
    """The markdown table of one report."""
    lines = [f"# Update profile: {report['device']} (generated)", "",
             f"Generated by `python -m benchmarks.profile_updates` into `{report['name']}.json`; "
             "regenerate this file with `--render`. Do not edit by hand.", "",
             f"- **When:** {report['date']}, commit `{report['commit']}`; command "
             f"`{report['command']}`.",
             f"- **Peak:** a 256-wide matmul chain (4096 rows, ReLU) reached "
             f"**{report['peak_gflops']:.0f} GFLOP/s** on one device in the same sitting.",
             f"- **Load:** 1-minute load average {report['load_before']:.1f} before, "
             f"{report['load_after']:.1f} after, on {report['host_cores']} host cores (other jobs "
             "lower the achieved rates; the FLOP counts do not depend on load).",
             "- **Setting:** default (paper) sizes, one seed, hopper's shapes (obs 11, action 3). "
             "Matmul GFLOP: every matrix product of the compiled update, a product inside a loop "
             "counted once per iteration; XLA GFLOP: XLA's own cost analysis, which counts a loop "
             "body once (so it undercounts sampling loops and HMC chains). Achieved GFLOP/s and "
             f"the parts use the matmul count. {_cond_note(report)}", "",
             "| algorithm | batch | matmul GFLOP / update | XLA GFLOP / update | updates/s | "
             "achieved GFLOP/s | % of peak | where the matmul FLOPs go |",
             "|---|---|---|---|---|---|---|---|"]
    for entry in report["algorithms"]:
        parts = entry["dot_flops_by_part"]
        total = sum(parts.values()) or 1.0
        top = sorted(parts.items(), key=lambda item: -item[1])[:4]
        where = "; ".join(f"{part} {100 * value / total:.0f}%" for part, value in top)
        name = entry["algorithm"] + (
            f" ({', '.join(f'{k}={v}' for k, v in entry['overrides'].items())})"
            if entry["overrides"] else "")
        lines.append(f"| {name} | {entry['batch_size']} | "
                     f"{entry['matmul_flops_per_update'] / 1e9:.2f} | "
                     f"{entry['xla_flops_per_update'] / 1e9:.2f} | "
                     f"{entry['updates_per_s']:.2f} | {entry['achieved_gflops']:.1f} | "
                     f"{100 * entry['achieved_gflops'] / report['peak_gflops']:.0f}% | {where} |")
    return "\n".join(lines) + "\n"


def _cond_note(report: dict) -> str:
    """How the report's matmul count treats ``cond`` branches (reports before the weighting have
    no ``counting`` field and counted every branch)."""
    if report.get("counting") != COUNTING:
        return ("A `cond` counts both branches (this report predates the per-update weighting of "
                "delayed updates: TD3's actor and IDQL's critic are counted on every update).")
    return ("Counted is what runs on average per update: the branch of a delayed update "
            "(`state.delayed_update`: TD3's actor and targets every `policy_freq` updates, "
            "IDQL's critic every `critic_every`) is weighted 1/period, its skip branch the rest; "
            "any other `cond` counts both branches, and XLA's own count counts both branches of "
            "every `cond`.")


def _device_name() -> str:
    import jax

    device = jax.devices()[0]
    return f"{device.platform}-{os.cpu_count()}-cores"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if FLAGS.render:
        for path in sorted(OUT_DIR.glob("*.json")):
            path.with_suffix(".md").write_text(render(json.loads(path.read_text())))
        return 0
    import subprocess

    overrides = parse_overrides(FLAGS.config)
    unknown = set(overrides) - set(FLAGS.algos)
    if unknown:
        raise app.UsageError(f"--config names {sorted(unknown)}, not in --algos={FLAGS.algos}")
    load_before = os.getloadavg()[0]
    peak = measure_peak_gflops()
    entries = []
    for name in FLAGS.algos:
        entry = profile_algorithm(name, overrides.get(name, {}), FLAGS.updates, FLAGS.repeats)
        print(f"{name}: {entry['matmul_flops_per_update'] / 1e9:.2f} matmul GFLOP/update, "
              f"{entry['updates_per_s']:.2f} updates/s, {entry['achieved_gflops']:.1f} GFLOP/s "
              f"(peak {peak:.0f})", flush=True)
        entries.append(entry)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    name = FLAGS.name or _device_name()
    report = {"name": name, "device": _device_name(), "host_cores": os.cpu_count(),
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": commit, "command": " ".join(["python -m benchmarks.profile_updates",
                                                     *sys.argv[1:]]),
              "peak_gflops": peak, "load_before": load_before, "load_after": os.getloadavg()[0],
              "counting": COUNTING,
              "algorithms": entries}
    (OUT_DIR / f"{name}.json").write_text(json.dumps(report, indent=1))
    (OUT_DIR / f"{name}.md").write_text(render(report))
    print(f"wrote {OUT_DIR / name}.md")
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
