r"""Writes ``benchmarks/results/datasets/README.md``: the shipped behavior policies and the suite.

    python -m experiments.suite_report --measure   # re-measure the store, then write the report
    python -m experiments.suite_report             # write the report from the committed files

The policy table is read from the shipped ``manifest.json`` files, the dataset tables are the
ones ``experiments.make_datasets --table`` wrote (``--tables``, default the committed
``suite_default_size.md`` and ``suite_100k.md``), and the "D4RL character" section puts the
statistics of ``--character`` (default ``benchmarks/results/datasets/character.json``) beside
D4RL v2's sourced figures of ``--reference`` (``experiments/d4rl_character.json``), and the "BC
against the behavior level" section puts BC's records on the suite (``--bc_runs``, default
``benchmarks/results/bc_suite/runs``) beside each dataset's behavior level and BC's published D4RL
v2 score; nothing is typed by hand. ``--measure`` first computes
``local_suite.character.dataset_character`` for every suite dataset (any size) in the Minari store
and replaces those datasets' entries in the JSON (entries of datasets no longer in the store are
kept, unless ``--fresh``), so the report itself never needs the store: it is regenerated from
committed files alone. A row whose data came from
other behavior policies than the shipped ones (stored ``policy_sha256`` against
``suite.expected_policy_hashes``) is marked stale. Once the whole suite exists at D4RL's size::

    python -m experiments.make_datasets --jobs=2 --overwrite \
        --table=benchmarks/results/datasets/suite_default_size.md
    python -m experiments.suite_report --measure --fresh
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

from absl import app, flags
from minari.storage import get_dataset_path

from jaxrl_offline.datasets import dataset_spec
from jaxrl_offline.local_suite import character, locomotion
from jaxrl_offline.local_suite import suite as suite_lib
from jaxrl_offline.reporting import results

FLAGS = flags.FLAGS
RESULTS = "benchmarks/results/datasets"
DEFAULT_TABLES = (f"{RESULTS}/suite_default_size.md", f"{RESULTS}/suite_100k.md")
DEFAULT_NOTES = f"{RESULTS}/notes.md"
DEFAULT_CHARACTER = f"{RESULTS}/character.json"
DEFAULT_BC_RUNS = "benchmarks/results/bc_suite/runs"
# D4RL v2's sourced figures (package data, next to this module).
REFERENCE = str(pathlib.Path(__file__).with_name("d4rl_character.json"))


def _define_flags() -> None:
    """Flags of the command (defined only when run, so importing this module defines none)."""
    flags.DEFINE_list("tables", list(DEFAULT_TABLES),
                      "Dataset tables written by make_datasets --table, in order.")
    flags.DEFINE_string("out", f"{RESULTS}/README.md", "Output markdown file.")
    flags.DEFINE_string("notes", DEFAULT_NOTES,
                        "Markdown file appended after the tables ('' for none).")
    flags.DEFINE_string("character", DEFAULT_CHARACTER,
                        "Statistics of the suite's datasets (written by --measure).")
    flags.DEFINE_string("reference", REFERENCE, "D4RL v2's figures, each with its source.")
    flags.DEFINE_bool("measure", False, "Measure every suite dataset in the Minari store into "
                      "--character before writing the report.")
    flags.DEFINE_string("root", None, "Minari datasets root for --measure (default "
                        "$MINARI_DATASETS_PATH).")
    flags.DEFINE_string("bc_runs", DEFAULT_BC_RUNS, "BC's run records on the suite "
                        "(experiments/sweeps/bc_suite.py), compared with the behavior level.")
    flags.DEFINE_bool("fresh", False, "With --measure: drop the entries of datasets no longer "
                      "in the store (by default they are kept).")


# D4RL-era expert targets for v5 envs (issue 4): the returns an expert should roughly reach.
EXPERT_TARGETS = {"halfcheetah": 10_000, "hopper": 3_000, "walker2d": 4_000}


def policy_table() -> str:
    lines = ["| env | trained env steps | expert: step, eval return (D4RL-norm) | target | "
             "medium: step, eval return (D4RL-norm) | medium-replay steps |",
             "|---|---|---|---|---|---|"]
    for name, env in locomotion.ENVS.items():
        try:
            manifest = locomotion.read_manifest(name)
        except FileNotFoundError:
            lines.append(f"| {name} | not trained | | {EXPERT_TARGETS[name]} | | |")
            continue

        def level(key: str) -> str:
            entry = manifest["levels"][key]
            normalized = 100 * (entry["eval_return"] - env.ref_min_score) / (
                env.ref_max_score - env.ref_min_score)
            return f"{entry['step']}, {entry['eval_return']:.0f} ({normalized:.1f})"

        replay = sum(segment["end"] - segment["start"] for segment in manifest["replay"])
        lines.append(f"| {name} | {manifest['trained_steps']} | {level('expert')} | "
                     f"{EXPERT_TARGETS[name]} | {level('medium')} | {replay} |")
    return "\n".join(lines) + "\n"


def suite_ids_in_store(root: pathlib.Path) -> list[str]:
    """Every local-suite dataset id (any size) with data under ``root``, in suite order."""
    found = []
    for env in dataset_spec.SUITE_ENVS:
        folder = root / dataset_spec.SUITE_NAMESPACE / env
        for path in sorted(folder.glob(f"*{dataset_spec.SUITE_VERSION_SUFFIX}")):
            dataset_id = f"{dataset_spec.SUITE_NAMESPACE}/{env}/{path.name}"
            if (path / "data").is_dir() and dataset_spec.parse(dataset_id).parts[0].suite:
                found.append(dataset_id)
    return sorted(found, key=_suite_order)


def _suite_order(dataset_id: str) -> tuple:
    suite = dataset_spec.parse(dataset_id).parts[0].suite
    return (suite.env, dataset_spec.SUITE_KINDS.index(suite.kind), suite.size or 0)


def measure(ids: list[str], root: pathlib.Path, path: pathlib.Path) -> dict:
    """Writes :func:`character.dataset_character` of ``ids`` (datasets under ``root``, the
    current ``$MINARI_DATASETS_PATH``) and the behavior-policy hashes in their metadata into the
    JSON at ``path`` (other entries kept); returns its contents."""
    measured = json.loads(path.read_text()) if path.exists() else {}
    for dataset_id in ids:
        print(f"measuring {dataset_id} ...", flush=True)
        metadata = json.loads((root / dataset_id / "data" / "metadata.json").read_text())
        measured[dataset_id] = {**character.dataset_character(dataset_id).to_json(),
                                "policy_sha256": metadata.get("policy_sha256", {})}
    measured = {key: measured[key] for key in sorted(measured, key=_suite_order)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(measured, indent=1) + "\n")
    return measured


def _pair(ours: str, theirs: str) -> str:
    return f"{ours} / {theirs}"


def _figure(field: dict, fmt: str, notes: list[str]) -> str:
    """A reference value formatted, with its source numbered into ``notes``; ``n/a`` if none."""
    if field["value"] is None:
        return "n/a"
    if field["source"] not in notes:
        notes.append(field["source"])
    return f"{fmt.format(field['value'])} [{notes.index(field['source']) + 1}]"


def _footnotes(notes: list[str], reference: dict) -> list[str]:
    """The numbered source lines of the ``[n]`` marks ``_figure`` put in a section."""
    return [f"{i + 1}. {reference['sources'][key]}" for i, key in enumerate(notes)]


def _spread(mean, std, fmt: str) -> str:
    return "n/a" if mean is None else f"{fmt.format(mean)} ± {fmt.format(std)}"


def _reference_spread(theirs: dict, name: str, fmt: str, notes: list[str]) -> str:
    mean, std = theirs[f"{name}_mean"], theirs[f"{name}_std"]
    if mean["value"] is None:
        return "n/a"
    return f"{_figure(mean, fmt, notes)} ± {_figure(std, fmt, notes)}"


def _staleness(suite, stored: dict | None) -> str:
    """`` (stale ...)`` when the measured data came from other behavior policies than the shipped
    ones (it is regenerated with the suite), ``""`` when they match."""
    try:
        expected = suite_lib.expected_policy_hashes(suite.env, suite.kind, suite.size)
    except FileNotFoundError:
        return " (no shipped policies)"
    return "" if stored == expected else " (stale: older behavior policies)"


def character_section(measured: dict, reference: dict) -> str:
    """Markdown: per measured dataset, ours / D4RL v2's figures for the same (env, kind)."""
    lines = [
        "## D4RL character: the suite beside D4RL v2\n",
        "Per dataset, **ours / D4RL v2's** `<env>-<kind>-v2`. Ours are measured by "
        "`python -m experiments.suite_report --measure` (`local_suite/character.py`, stored in "
        "`character.json`); D4RL's are the sourced figures of `experiments/d4rl_character.json` "
        "(numbered sources below), `n/a` where no published figure was found. `terminated` is "
        "the fraction of episodes ending in a true termination rather than a time-limit "
        "truncation; returns are undiscounted, normalized with D4RL's reference scores. A "
        "dataset whose size is not D4RL's (`size` column) is comparable in per-episode figures "
        "only.\n"]
    if not measured:
        return "\n".join(lines + ["No suite dataset has been measured yet: generate the suite "
                                   "(`python -m experiments.make_datasets`), then run "
                                   "`python -m experiments.suite_report --measure`.\n"])
    lines += ["| dataset | size | transitions | episodes | mean episode length | terminated | "
              "return mean ± std | normalized mean ± std |", "|---|---|---|---|---|---|---|---|"]
    notes: list[str] = []
    for dataset_id, ours in measured.items():
        suite = dataset_spec.parse(dataset_id).parts[0].suite
        theirs = reference["datasets"].get(f"{suite.env}/{suite.kind}")
        if theirs is None:
            raise ValueError(f"{dataset_id}: no entry {suite.env}/{suite.kind} in the D4RL "
                             "reference table; add one (values may be null) to "
                             "experiments/d4rl_character.json")
        size = ("D4RL's" if suite.size is None
                else f"{dataset_spec.size_label(suite.size)} (reduced)") + _staleness(
                    suite, ours.get("policy_sha256"))
        ret, norm = (_pair(_spread(ours[f"{name}_mean"], ours[f"{name}_std"], fmt),
                           _reference_spread(theirs, name, fmt, notes))
                     for name, fmt in (("return", "{:.0f}"), ("normalized", "{:.1f}")))
        cells = [_pair(f"{ours['transitions']:,}", _figure(theirs["transitions"], "{:,}", notes)),
                 _pair(f"{ours['episodes']:,}", _figure(theirs["episodes"], "{:,}", notes)),
                 _pair(f"{ours['mean_length']:.1f}",
                       _figure(theirs["mean_length"], "{:.1f}", notes)),
                 _pair(f"{ours['termination_rate']:.2f}",
                       _figure(theirs["termination_rate"], "{:.2f}", notes)),
                 ret, norm]
        lines.append(f"| {dataset_id} | {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", *_footnotes(notes, reference)]) + "\n"


def bc_records(runs_dir: str | os.PathLike) -> dict[str, dict]:
    """BC's run records in ``runs_dir`` by dataset id (an absent folder holds none)."""
    paths = sorted(pathlib.Path(runs_dir).glob("*.json"))
    records = (results.read_record(path) for path in paths)
    return {record["dataset_id"]: record for record in records if record["algorithm"] == "bc"}


def bc_section(measured: dict, reference: dict, bc_runs: dict[str, dict]) -> str:
    """Markdown: per dataset at D4RL's size, BC's final score beside the behavior level (the
    data's mean normalized return) and beside BC's published score on D4RL v2."""
    lines = [
        "## BC against the behavior level\n",
        "On D4RL, BC lands near the behavior policy's level on single-policy data and between the "
        "levels on mixtures; this checks the suite does the same. **BC** is the last evaluation "
        "(mean ± std over seeds) of `experiments/sweeps/bc_suite.py` (256 x 256, 3 seeds, 100k "
        "updates, 10 episodes every 10k; records in `benchmarks/results/bc_suite/runs/`, "
        "`experiments/queue_bc_suite.sh` runs them); **behavior** is the dataset's mean "
        "normalized episode return (the character table above); **D4RL v2 BC** is BC's "
        "published score on the same kind of D4RL dataset after 1M updates (n/a where none was "
        "printed). Only datasets at D4RL's size are listed.\n",
        "| dataset | behavior | BC (ours, 100k) | BC − behavior | D4RL v2 BC (1M) |",
        "|---|---|---|---|---|"]
    notes: list[str] = []
    for dataset_id, ours in measured.items():
        suite = dataset_spec.parse(dataset_id).parts[0].suite
        if suite.size is not None:
            continue
        theirs = reference["datasets"][f"{suite.env}/{suite.kind}"]["bc_normalized"]
        behavior = ours["normalized_mean"]
        record = bc_runs.get(dataset_id)
        if record is None:
            bc, gap = "not run yet", "–"
        else:
            last = record["final"]["last"]
            bc = (f"{last['mean']:.1f} ± {last['std']:.1f} (n={last['num_seeds']}, "
                  f"{record['steps']:,} updates)")
            gap = f"{last['mean'] - behavior:+.1f}"
        lines.append(f"| {dataset_id}{_staleness(suite, ours.get('policy_sha256'))} | "
                     f"{behavior:.1f} | {bc} | {gap} | {_figure(theirs, '{:.1f}', notes)} |")
    return "\n".join(lines + ["", *_footnotes(notes, reference)]) + "\n"


def render(tables: list[str], notes: str | None, measured: dict, reference: dict,
           bc_runs: dict[str, dict] | None = None) -> str:
    """The whole report (markdown)."""
    parts = ["# The local D4RL-style suite: behavior policies and datasets\n",
             "Generated by `python -m experiments.suite_report` from the shipped behavior-policy "
             "manifests (`jaxrl_offline/local_suite/behavior_policies/*/manifest.json`), from "
             "the tables "
             "`python -m experiments.make_datasets --table=...` wrote and from the statistics "
             "`python -m experiments.suite_report --measure` wrote (`character.json`).\n",
             "## Behavior policies (SAC, evaluation = mean of 10 deterministic episodes)\n",
             policy_table()]
    for table in tables:
        path = pathlib.Path(table)
        parts += [f"## Datasets: `{path.name}`\n", path.read_text()]
    parts.append(character_section(measured, reference))
    if measured:
        parts.append(bc_section(measured, reference, bc_runs or {}))
    if notes:
        parts.append(pathlib.Path(notes).read_text())
    return "\n".join(parts)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    character_path = pathlib.Path(FLAGS.character)
    if FLAGS.measure:
        root = pathlib.Path(FLAGS.root) if FLAGS.root else get_dataset_path()
        ids = suite_ids_in_store(root)
        if not ids:
            raise app.UsageError(f"--measure: no local-suite dataset under {root}; generate them "
                                 "with python -m experiments.make_datasets (or pass --root).")
        if FLAGS.root:  # read_minari reads the store of $MINARI_DATASETS_PATH.
            os.environ["MINARI_DATASETS_PATH"] = str(root)
        if FLAGS.fresh:
            character_path.unlink(missing_ok=True)
        measure(ids, root, character_path)
    measured = json.loads(character_path.read_text()) if character_path.exists() else {}
    reference = json.loads(pathlib.Path(FLAGS.reference).read_text())
    text = render(FLAGS.tables, FLAGS.notes, measured, reference, bc_records(FLAGS.bc_runs))
    pathlib.Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(FLAGS.out).write_text(text)
    print(text)


if __name__ == "__main__":
    _define_flags()
    sys.exit(app.run(main))
