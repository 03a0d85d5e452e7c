"""Markdown tables from a speed report (the JSON ``python -m benchmarks.speed`` writes).

``to_markdown`` gives the full table of one report (``benchmarks/results/speed/<name>.md``);
``summary_markdown`` the one-line-per-algorithm table the README shows. Both read only the
report, so they can be regenerated from committed JSON at any time.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Sequence

from jaxrl_offline.reporting.formatting import significant

from benchmarks import progress_cost

GPU_TARGET = {"algorithms": ("td3_bc", "iql"), "num_seeds": 10, "aggregate_updates_per_s": 20_000}


def measured(report: dict) -> list[dict]:
    """The algorithms of a report that ran (a failed one has only ``algorithm`` and ``error``)."""
    return [entry for entry in report["algorithms"] if "error" not in entry]


def read_report(path: str | pathlib.Path) -> dict:
    report = json.loads(pathlib.Path(path).read_text())
    if report.get("schema") != "jaxrl_offline/speed-v1":
        raise ValueError(f"{path} is not a speed report (schema {report.get('schema')!r})")
    return report


def _strategy_text(report: dict) -> str:
    """How each device ran its seeds (reports before the setting existed always vmapped)."""
    used = sorted({row.get("seed_strategy", "vmap") for entry in measured(report)
                   for row in entry["vmapped"]})
    texts = {"vmap": "each device's seeds vmapped (one batched program)",
             "map": "each device's seeds run in turn (`lax.map`, unbatched: the default on CPU)"}
    return "; ".join(texts[name] for name in used)


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}"


def _rate(value: float | None) -> str:
    """Updates/s with three significant digits (0.0304, 2.43, 241, 12,345)."""
    if value is None or not math.isfinite(value):
        return "–"
    return _num(value, 0) if abs(value) >= 1000 else significant(value, 3)


def _sizes(report: dict) -> str:
    dims = report["settings"]["hidden_dims"]
    return ("default network sizes (each algorithm's paper sizes)" if dims is None else
            f"every `*hidden_dims` field {' x '.join(str(d) for d in dims)}")


def header_lines(report: dict) -> list[str]:
    """Device, versions, commit, data, settings and load: what the numbers were measured under."""
    settings, dataset, versions = report["settings"], report["dataset"], report["versions"]
    loads = [load for entry in measured(report) for load in entry["load_average"]]
    eval_text = ("no evaluation" if not settings["eval_episodes"] else
                 f"{settings['eval_episodes']} episodes per seed, at most "
                 f"{settings['eval_max_steps'] or 'the env limit of'} steps each")
    lines = [
        f"- **Device:** {report['device']} (JAX platform `{report['platform']}`); jax "
        f"{versions.get('jax')}, jaxlib {versions.get('jaxlib')}, flax {versions.get('flax')}, "
        f"python {versions.get('python')}.",
        f"- **Commit:** `{report['git_commit']}`, {report['created']}; command "
        f"`{report['command']}`; total wall time {_num(report['wall_s'] / 60)} min.",
        f"- **Data:** `{dataset['id']}` ({dataset['num_transitions']:,} transitions, obs "
        f"{dataset['obs_dim']}, action {dataset['action_dim']}); evaluation env "
        f"`{dataset['eval_env']}`, {eval_text}.",
        f"- **Settings:** {_sizes(report)}; every other hyperparameter (batch sizes included) "
        f"is the algorithm's default unless listed under reduced settings. Vmapped: "
        f"`training.make_multi_seed_chunk` with {settings['chunk']:,} updates per seed per "
        f"call, {settings['repeats']} timed call(s) after one warm-up call, the seed axis "
        f"sharded over the devices, {_strategy_text(report)}. Python loop: one seed, one jitted "
        "`update` per Python step "
        f"on numpy batches sampled on the host, a block of {settings['chunk']:,} steps after "
        "each timed call. Rates are those of the fastest call or block (best of the timed ones, "
        "as `timeit` reports; the JSON also has every time and the mean rates).",
    ]
    if loads:
        reading = (f"- **Load:** the 1-minute load average read {min(loads):.1f} to "
                   f"{max(loads):.1f} on {report['host_cores']} host cores while the benchmark ran")
        if max(loads) <= report["host_cores"]:  # The benchmark alone keeps up to every core busy.
            lines.append(reading + " (no other jobs: the benchmark's own load).")
        else:
            lines.append(
                reading + " (other jobs shared the machine), so absolute rates are lower bounds "
                "and vary from row to row; each ratio compares vmapped calls and loop blocks "
                "timed alternately, under the same load.")
    cost = report.get("progress_cost")
    if cost:
        text = progress_cost.overheads_text(cost)
        lines.append(
            f"- **Progress ticks:** the in-chunk progress callback (`experiments.run`'s bar) cost "
            f"{text['adapted']} measured on TD3+BC ({cost['num_seeds']} seed, chunk "
            f"{cost['chunk']}, a tick every {cost['progress_every']} updates; estimated "
            f"{text['estimated_adapted']} from one callback's {_num(cost['callback_us'], 0)} "
            f"µs), {text['every_update']} with a tick on every update (the first chunk of a run; "
            f"estimated {text['estimated_every_update']}). These timings run without it.")
    return lines


def to_markdown(report: dict) -> str:
    """The full speed table of one report."""
    lines = [f"# Speed: {report['device']}", "",
             f"Generated by `python -m benchmarks.speed` into `{report['name']}.json`; "
             "regenerate this file with `python -m benchmarks.speed --render`. "
             "Do not edit by hand.", "", *header_lines(report), ""]
    lines += ["| algorithm | seeds | devices | updates/s (all seeds) | updates/s per seed | "
              "Python loop updates/s | × Python loop | compile s | eval s | eval s per env step |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    reduced = []
    for entry in measured(report):
        name = entry["algorithm"]
        for row in entry["vmapped"]:
            evaluation = row.get("eval")
            eval_cells = ("– | –" if evaluation is None else
                          f"{_num(evaluation['eval_s'], 2)} | "
                          f"{_num(evaluation['s_per_policy_call'], 4)}")
            lines.append(
                f"| {name} | {row['num_seeds']} | {row['num_devices']} | "
                f"{_rate(row['aggregate_updates_per_s'])} | {_rate(row['updates_per_s_per_seed'])}"
                f" | {_rate(row['loop_updates_per_s'])} | {_num(row['speedup_vs_loop'], 2)} | "
                f"{_num(row['compile_s'])} | {eval_cells} |")
        if entry["reduced"]:
            reduced.append(f"`{name}`: {_describe_reduced(entry['settings'], report['settings'])}")
    lines += ["", "*Columns.* updates/s (all seeds): updates of every seed per second of wall "
              "time (aggregate) of the vmapped scan; Python loop updates/s: one seed, one jitted "
              "update per Python step, timed in blocks interleaved with that row's vmapped calls; "
              "× Python loop: the ratio of the two, i.e. how much faster S seeds train this way "
              "than in S sequential loop runs. Compile s: ahead-of-time lowering and compilation "
              "of the vmapped chunk (the loop's compiling first call is in the JSON). Eval s: "
              "one evaluation of every seed (all seeds x episodes in lockstep Gymnasium envs, env "
              "creation included, policy already compiled); eval s per env step: the same per "
              "jitted policy call, so a full evaluation of 1,000-step episodes takes about "
              "1,000 times it."]
    if reduced:
        lines += ["", "*Reduced settings* (to keep the CPU run to minutes; a rate measured on "
                  "fewer updates is noisier): " + "; ".join(reduced) + "."]
    failed = [f"`{entry['algorithm']}` ({entry['error']})" for entry in report["algorithms"]
              if "error" in entry]
    if failed:
        lines += ["", "*Failed* (no measurement): " + "; ".join(failed) + "."]
    target = gpu_target_line(report)
    if target:
        lines += ["", target]
    return "\n".join(lines) + "\n"


def _describe_reduced(entry_settings: dict, settings: dict) -> str:
    parts = []
    for field in ("chunk", "repeats"):
        if entry_settings[field] != settings[field]:
            parts.append(f"{field} {entry_settings[field]}")
    if list(entry_settings["seed_counts"]) != list(settings["seed_counts"]):
        parts.append("seeds " + ", ".join(str(s) for s in entry_settings["seed_counts"]))
    config = {k: v for k, v in entry_settings["config"].items()
              if settings["config"].get(k) != v}
    if config:
        parts.append("config " + ", ".join(f"{k}={v}" for k, v in sorted(config.items())))
    return ", ".join(parts) or "as the defaults"


def gpu_target_line(report: dict) -> str | None:
    """Whether TD3+BC and IQL reach 20k aggregate updates/s with 10 seeds (GPU reports only)."""
    if report["platform"] != "gpu":
        return None
    found = []
    for entry in measured(report):
        if entry["algorithm"] not in GPU_TARGET["algorithms"]:
            continue
        for row in entry["vmapped"]:
            if row["num_seeds"] == GPU_TARGET["num_seeds"]:
                rate = row["aggregate_updates_per_s"]
                verdict = "met" if rate >= GPU_TARGET["aggregate_updates_per_s"] else "NOT met"
                found.append(f"{entry['algorithm']} {_rate(rate)} upd/s ({verdict})")
    if not found:
        return "**GPU target** (20,000 aggregate updates/s with 10 seeds): not measured here."
    return ("**GPU target** (TD3+BC and IQL, 10 seeds, 20,000 aggregate updates/s): "
            + "; ".join(found) + ".")


def summary_markdown(reports: Sequence[dict]) -> str:
    """One row per (report, algorithm): per seed count, the aggregate updates/s of the vmapped
    scan and its ratio to the Python loop timed alternately with it."""
    counts = sorted({row["num_seeds"] for report in reports for entry in measured(report)
                     for row in entry["vmapped"]})
    lines = ["| device | algorithm | Python loop, 1 seed (best) | "
             + " | ".join(f"{count} seed{'s' if count > 1 else ''}" for count in counts) + " |",
             "|---|---|---|" + "---|" * len(counts)]
    for report in reports:
        for entry in measured(report):
            by_count = {row["num_seeds"]: row for row in entry["vmapped"]}
            cells = [f"{_rate(by_count[c]['aggregate_updates_per_s'])} "
                     f"(×{_num(by_count[c]['speedup_vs_loop'], 2)})" if c in by_count else "–"
                     for c in counts]
            name = entry["algorithm"] + ("\\*" if entry["reduced"] else "")
            lines.append(f"| {report['name']} | {name} | {_rate(entry['loop']['updates_per_s'])} "
                         f"| {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"
