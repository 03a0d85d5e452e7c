"""Regenerates the results and claims sections of README.md from the committed records.

    python -m benchmarks.readme            # rewrite the sections between the markers
    python -m benchmarks.readme --check    # exit 1 if a section is not up to date

The section between ``<!-- results:start -->`` and ``<!-- results:end -->`` is built only from
``benchmarks/results/<name>/runs/*.json`` (run records: one score table per folder, offline ->
online tables for a folder of fine-tuning runs, each with the hardware, updates, seeds and commit
of its runs), ``benchmarks/results/speed/*.json`` (speed reports) and
``benchmarks/results/parity/speed/*.json`` (ours against the reference implementations). Nothing in
it is typed by hand; ``tests/test_benchmarks_readme.py`` fails when it is out of date with the
records.

The section between ``<!-- claims:start -->`` and ``<!-- claims:end -->`` is built from the claim
benchmarks' records, ``benchmarks/results/claims/<claim>/record.json`` (``python -m
benchmarks.claims``): each claim's table, plot, command, runtime and outcome.
"""

from __future__ import annotations

import functools
import json
import pathlib
import sys
from collections.abc import Sequence

from jaxrl_offline.reporting import formatting

# Rates in speed tables: three significant digits (MISA's 2.91 against 1.32).
_rate = functools.partial(formatting.rate, digits=3)

REPO = pathlib.Path(__file__).resolve().parent.parent
README = REPO / "README.md"
RESULTS_DIR = REPO / "benchmarks" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
CLAIMS_START, CLAIMS_END = "<!-- claims:start -->", "<!-- claims:end -->"


def _relative(path: pathlib.Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _commit(commit: str | None) -> str:
    if not commit:
        return "unknown"
    head, dirty = commit.removesuffix("+dirty"), commit.endswith("+dirty")
    return f"`{head[:10]}`" + (" (with uncommitted changes)" if dirty else "")


def score_section(folder: pathlib.Path) -> str:
    """The score table of one results folder, with where and how its runs were made.

    Fine-tuning runs (records with ``"online"``) show offline -> online instead
    (``experiments.online_tables``: the offline agent's score -> the last online score, and the
    cumulative regret), since their offline score is only the start of each run; a folder with
    both kinds (the parity folder) shows the offline-only runs' score table, then that.
    """
    from benchmarks.parity import tables as parity_tables
    from experiments import grid_tables, online_tables, tables

    # SfBC's reference records count critic epochs; in updates, like every other record.
    records = parity_tables.load_records(folder)
    offline_only = [record for record in records if "online" not in record]
    fine_tuned = [record for record in records if "online" in record]
    blocks = []
    if offline_only:
        blocks.append(tables.to_markdown(tables.score_table(offline_only, "last")).rstrip())
    if fine_tuned:
        # The offline phase's budget.
        budget = tables.budget_warning(tables.score_table(fine_tuned, "last"))
        blocks.append("\n".join([*([f"**{budget}**", ""] if budget else []),
                                 online_tables.to_markdown(fine_tuned).rstrip()]))
    body = "\n\n".join(blocks)
    devices = sorted({record["device"] for record in records})
    commits = sorted({_commit(record["git_commit"]) for record in records})
    commands = sorted({record["command"] for record in records if record.get("command")})
    versions = sorted({f"jax {r['versions'].get('jax')}" for r in records})
    best = grid_tables.best_points(records, "last")  # Grid folders: the selected points too.
    lines = [f"#### `{_relative(folder)}/`", "", body, "",
             *([grid_tables.to_markdown(best, "last").rstrip(), ""] if best else []),
             f"Hardware: {'; '.join(devices)}. Commit: {', '.join(commits)}; "
             f"{', '.join(versions)}."
             + (f" Command: {'; '.join(f'`{c}`' for c in commands)}." if commands else "")]
    return "\n".join(lines)


def missing_line(folders: Sequence[pathlib.Path]) -> str:
    """Which registered algorithms have no record on the local suite yet."""
    from jaxrl_offline.reporting import results
    from jaxrl_offline.algorithms import ALGORITHMS

    from experiments import tasks

    covered = {record["algorithm"] for folder in folders for record in results.load_records(folder)
               if tasks.source_of(record["dataset_id"]) == "local"}
    missing = [name for name in ALGORITHMS if name not in covered]
    if not missing:
        return "Every registered algorithm has a committed record on the local suite."
    return ("Registered algorithms with no committed record on the local suite yet: "
            + ", ".join(f"`{name}`" for name in missing) + ".")


def speed_section(results_dir: pathlib.Path) -> str:
    """The summary of every speed report, with its device, commit and settings."""
    from benchmarks import speed_table

    paths = sorted((results_dir / "speed").glob("*.json"))
    if not paths:
        return "No speed report committed yet (`python -m benchmarks.speed`)."
    reports = [speed_table.read_report(path) for path in paths]
    lines = [speed_table.summary_markdown(reports).rstrip(), "",
             "Per number of vmapped seeds: aggregate updates/s of the vmapped scan (every "
             "seed's updates per second) and, in parentheses, its ratio to one seed trained with "
             "one jitted update per Python step (the pattern of other libraries), timed "
             "alternately with it; the loop column is the loop's best rate over the run. "
             "\\* reduced settings (fewer updates or seed counts, or a cheaper configuration; "
             "listed in the full table)."]
    for path, report in zip(paths, reports):
        lines += ["", f"`{report['name']}` ([full table]({_relative(path.with_suffix('.md'))})):",
                  "", *speed_table.header_lines(report)]
        target = speed_table.gpu_target_line(report)
        if target:
            lines += ["", target]
    if not any(report["platform"] == "gpu" for report in reports):
        lines += ["", "No GPU report yet: no GPU was available when these were measured "
                  "(`python -m benchmarks.speed --preset=gpu` on one)."]
    return "\n".join(lines)


def reference_speed_section(results_dir: pathlib.Path) -> str:
    """Ours against each reference implementation, timed in one sitting
    (``benchmarks/results/parity/speed/*.json``, ``python -m benchmarks.parity.speed``)."""
    paths = sorted((results_dir / "parity" / "speed").glob("*.json"))
    if not paths:
        return ("No same-sitting comparison with a reference implementation committed yet "
                "(`python -m benchmarks.parity.speed`).")
    lines = ["Against the reference implementations, in one sitting per row "
             "(`python -m benchmarks.parity.speed`: both sides at the parity runs' settings, the "
             "reference on one seed through the parity harness; the ratio divides ours by the "
             "reference's updates/s, best block of each):", "",
             "| algorithm | reference | dataset | ours, 1 seed | reference, 1 seed | ratio, 1 seed "
             "| ours, most seeds (aggregate) | ratio, aggregate | load before ours / ref | "
             "commit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for path in paths:
        result = json.loads(path.read_text())
        if result.get("kind") == "stages":
            lines += _stage_rows(result, path)
            continue
        ref = result["reference"]
        rows = {row["num_seeds"]: row for row in result["ours"]}
        ratios = {row["num_seeds"]: row for row in result["ratios"]}
        most = max(rows)
        one = (f"{_rate(rows[1]['updates_per_s_per_seed'])} | {_rate(ref['updates_per_s'])} | "
               f"{ratios[1]['per_seed']:.2f}x" if 1 in rows
               else f"– | {_rate(ref['updates_per_s'])} | –")
        lines.append(
            f"| {result['algorithm']} | [{result['reference_name']}]"
            f"({_relative(path.with_suffix('.md'))}) "
            f"({ref['repository']}@{ref['commit'][:7]}) | `{result['dataset']}` | {one} | "
            f"{_rate(rows[most]['aggregate_updates_per_s'])} ({most} seeds) | "
            f"{ratios[most]['aggregate']:.2f}x | {result['load_before_ours']:.1f} / "
            f"{result['load_before_reference']:.1f} | {_commit(result.get('git_commit'))} |")
    lines += ["", "A load average above the machine's 2 cores means other jobs shared it: the "
              "absolute rates are lower bounds, the ratio compares two sides timed minutes apart."]
    return "\n".join(lines)


def _stage_rows(result: dict, path: pathlib.Path) -> list[str]:
    """SfBC's stages (``benchmarks.parity.sfbc_speed``), one row each; one seed, so the
    aggregate columns are empty."""
    ours, ref, ratio = result["ours"], result["reference"], result["ratios"]
    link = (f"[{result['reference_name']}]({_relative(path.with_suffix('.md'))}) "
            f"({ref['repository']}@{ref['commit'][:7]})")
    tail = (f"– | – | {result['load_before_ours']:.1f} / {result['load_before_reference']:.1f} | "
            f"{_commit(result.get('git_commit'))} |")
    return [
        f"| sfbc_staged: behavior steps/s | {link} | `{result['dataset']}` | "
        f"{_rate(ours['behavior_steps_per_s'])} | {_rate(ref['behavior_steps_per_s'])} | "
        f"{ratio['behavior']:.2f}x | {tail}",
        f"| sfbc_staged: presampling s ({result['sampling_steps']} evaluations, "
        f"{result['num_states']:,} states) | {link} | `{result['dataset']}` | "
        f"{ours['presample_s']:.1f} s | {ref['presample_s']:.1f} s | {ratio['presample']:.2f}x | "
        f"{tail}",
        f"| sfbc_staged: critic steps/s | {link} | `{result['dataset']}` | "
        f"{_rate(ours['critic_steps_per_s'])} | {_rate(ref['critic_steps_per_s'])} | "
        f"{ratio['critic']:.2f}x | {tail}"]


def render_section(results_dir: pathlib.Path = RESULTS_DIR) -> str:
    """The whole generated section, markers included."""
    folders = sorted(path.parent for path in results_dir.glob("*/runs")
                     if any(path.glob("*.json")))
    parts = [START, "<!-- Generated by `python -m benchmarks.readme` from "
             "benchmarks/results/*/runs/*.json and benchmarks/results/speed/*.json; "
             "do not edit by hand. -->", "", "### Scores", ""]
    for folder in folders:
        parts += [score_section(folder), ""]
    parts += [missing_line(folders), "", "### Speed", "", speed_section(results_dir), "",
              reference_speed_section(results_dir), "", END]
    return "\n".join(parts)


def _runtime(record: dict) -> str:
    """The claim command's wall time, and the compute summed over its runs where the record has
    it (runs resumed across sessions or made by parallel ``--algos`` parts)."""
    text = f"{record['wall_s']:.0f} s"
    if "compute_s" in record:
        text += (f" for the command that wrote the record, {record['compute_s']:.0f} s of "
                 f"compute summed over its runs")
    return text


def claims_section(results_dir: pathlib.Path = RESULTS_DIR) -> str:
    """The generated claims section, markers included: per claim record its table, plot, the
    command that made it, its runtime and hardware; then the claims with no record yet and those
    run only at a reduced budget."""
    from benchmarks import claims

    parts = [CLAIMS_START, "<!-- Generated by `python -m benchmarks.readme` from "
             "benchmarks/results/claims/*/record.json; do not edit by hand. -->", ""]
    recorded = {}  # Claim folder -> its record, for the pending list below.
    for path in sorted((results_dir / "claims").glob("*/record.json")):
        record = recorded[path.parent.name] = json.loads(path.read_text())
        plot = _relative(path.parent / record["plot"])
        parts += [f"### {claims.TITLES[record['claim']]}", "",
                  claims.TABLES[record["claim"]](record).rstrip(), "",
                  f"![{record['claim']}]({plot})", "",
                  f"Command: `{record['command']}`; runtime {_runtime(record)} on "
                  f"{record['device']}. Commit: {_commit(record['git_commit'])}. Record: "
                  f"[`{_relative(path)}`]({_relative(path)}).", ""]
    parts += [claims.pending_text(recorded), "", CLAIMS_END]
    return "\n".join(parts)


def replace_section(text: str, section: str, start_marker: str = START,
                    end_marker: str = END) -> str:
    """``text`` with the marked section replaced; ``ValueError`` if the markers are missing."""
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"README lacks the {start_marker} ... {end_marker} markers")
    return text[:start] + section + text[end + len(end_marker):]


def render_readme(text: str, results_dir: pathlib.Path = RESULTS_DIR) -> str:
    """``text`` (the README) with both generated sections rewritten."""
    text = replace_section(text, render_section(results_dir))
    return replace_section(text, claims_section(results_dir), CLAIMS_START, CLAIMS_END)


def main(argv: Sequence[str]) -> int:
    text = README.read_text()
    updated = render_readme(text)
    if "--check" in argv:
        if updated != text:
            print("README.md results or claims section is out of date: run "
                  "python -m benchmarks.readme")
            return 1
        return 0
    README.write_text(updated)
    print(f"{README}: results and claims sections regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
