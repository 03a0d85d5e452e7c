"""ACA claim, offline -> online: fine-tuning an aligned critic drops less and recovers faster.

    python -m benchmarks.claims --claim=aca [--dataset=jaxrl_offline/hopper/medium-v0]
        [--steps=500000] [--online_steps=100000] [--online_eval_every=1000]
        [--online_update_every=1] [--num_seeds=5] [--hidden=256,256] [--eval_episodes=10]
        [--chunk=1000] [--workdir=workdir/claims_aca] [--out=benchmarks/results/claims/aca]
    python -m benchmarks.claims --claim=aca --render [--out=...]  # table and plot from the record

Each algorithm of ``ALGOS`` is one run of the project's runner (``jaxrl_offline.runner.experiment``
with ``RunSpec.online_steps``; the fine-tuning path is ``jaxrl_offline.runner.finetune``): an
offline phase of ``--steps`` updates, then ``--online_steps`` env steps in the dataset's eval env,
one update per env step, evaluated at env step 0 (the offline agent) and every
``--online_eval_every`` env steps. ``aca``: SAC+ML offline, then the aligned critic fine-tuned
with SAC; ``sac_ml``: the same offline agent fine-tuned without alignment; ``iql`` and ``td3_bc``:
naive fine-tuning (their own updates go on, on a buffer that starts with the offline data).
Records and checkpoints live under ``--workdir``, so an interrupted claim resumes (a finished run
is skipped). ``--algos`` without ``aca`` only runs those algorithms into ``--workdir`` and writes
no claim record, so the claim can run as two parallel parts on two cores (``--algos=aca,sac_ml``
and ``--algos=iql,td3_bc`` with the same other flags), then once more with every algorithm, which
finds all runs finished and writes the record; its ``compute_s`` sums the runs' own compile,
training and evaluation seconds (``wall_s`` is that last command's).

Reported per algorithm and seed, from its online curve (``metrics.drop_and_recovery`` with the
step-0 score as the offline score): the initial drop (offline score minus the lowest score in the
first 10% of the online steps), the env step of recovery (first evaluation back at the offline
score), the cumulative regret and the final online score; the table gives mean ± std over seeds
(recovery over the seeds that recovered, with their count). **Behavior-level check**: the offline
agent should be at least as good as the data (the dataset's mean normalized episode return,
``behavior_level``); every (algorithm, seed) below it is listed as a warning in the table and the
record, never passed silently. The verdict compares ACA's mean drop and its recovery (fewer seeds
that never recover, then the earlier mean recovery step) with SAC+ML's and the naive baselines'
("Inconclusive" when ACA wins but some offline agent is below the behavior level).
``aca`` and ``sac_ml`` share their offline phase by construction (SAC+ML: the same ``init`` and
``update``, configs that differ only in ``align``, read when fine-tuning starts), so it is trained
once, as the offline-only run ``aca-offline`` (``SHARED_OFFLINE``), and both arms fine-tune its
final agents: the same arrays and seeds, so the same step-0 scores
(``benchmarks.claims.locomotion.finetune_from``). Each arm's run record holds the shared
offline evaluations and names their run (``offline_phase``); the claim's record
(``shared_offline``) and table say so.

Defaults are the ACA protocol of spec ``algorithms.md`` §7.2-7.4 on the local suite's hopper
medium (the MuJoCo-medium ACA settings, the ``aca.Config`` defaults: beta 7, w from 1 to 0.5 over
the first 20k online steps, empty buffer): 256 x 256 networks, 500k offline updates, 100k online
env steps with one update each, 10 episodes every 1k env steps; 5 seeds (the paper's count is not
known). IQL's cosine schedule is set to the offline updates.

Expected cost, full size (**pending: not run yet**; an estimate, not a measurement): on the idle
2-core CPU with 5 seeds and 256 x 256 networks, TD3+BC trains ~1M updates in ~5 h
(``mixed_locomotion``'s arithmetic from the committed hopper records); the committed 64 x 64
offline -> online runs (``benchmarks/results/offline_to_online``) put SAC+ML at 0.67, ACA at 0.46
and IQL at 0.92 of TD3+BC's offline rate (ACA's and SAC+ML's offline updates are the same code;
the two rates bound it). Offline 500k updates: ~2.5 h (TD3+BC) + 2.7 h (IQL) + 3.7-5.4 h
(SAC+ML, trained once for both ACA and SAC+ML) = ~9-11 h. Online 100k env steps with one update
each run at about the offline rate plus env stepping and 100 evaluations of 10 hopper episodes
per seed: ~1.5 h per algorithm, ~6 h. About 15-17 hours in all on the CPU; on one GPU the
updates are much faster but env stepping and evaluation stay on the host (not measured). The
smoke test (seconds to a minute)::

    python -m benchmarks.claims --claim=aca --dataset=jaxrl_offline/hopper/medium-50k-v0 \
        --steps=200 --chunk=100 --online_steps=200 --online_eval_every=50 \
        --online_update_every=10 --num_seeds=2 --hidden=16,16 --eval_episodes=1 \
        --max_episode_steps=50 --workdir=/tmp/claims_aca --out=/tmp/claims_aca/out

Writes ``<out>/{record.json, table.md, curves.png}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import time

import jax
import numpy as np

from benchmarks.claims import locomotion, metrics, outputs
from jaxrl_offline.reporting import results

ALGOS = ("aca", "sac_ml", "iql", "td3_bc")
BASELINES = ("sac_ml", "iql", "td3_bc")  # What ACA is compared with.
SHARED_OFFLINE = ("aca", "sac_ml")  # Arms fine-tuned from one offline run (variant "offline").
# The claim's full protocol (spec §7.2-7.4 and the defaults below): offline updates, online env
# steps, networks; a run with less says so in its table.
PROTOCOL = {"offline updates": 500_000, "online env steps": 100_000, "networks": (256, 256)}
ONLINE_FIELDS = ("align",)  # The only config field in which those arms differ.
DATASET = "jaxrl_offline/hopper/medium-v0"
OUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "results" / "claims" / "aca"
EARLY_FRACTION = 0.1  # The share of the online steps searched for the lowest score.


def config_for(name: str, steps: int, hidden: tuple[int, ...]):
    """The algorithm's default ``Config`` with ``hidden`` networks (IQL: value net too, cosine
    schedule over the ``steps`` offline updates)."""
    from jaxrl_offline.algorithms import get_algorithm

    sizes = dict(actor_hidden_dims=hidden, critic_hidden_dims=hidden)
    if name == "iql":
        sizes.update(value_hidden_dims=hidden, cosine_decay_steps=steps)
    return get_algorithm(name).Config(**sizes)


def behavior_level(dataset: str) -> float | None:
    """The dataset's mean normalized episode return (every part's episodes of a mixture), or
    ``None`` when it cannot be measured (no stored Minari episodes or no reference scores)."""
    import minari

    from jaxrl_offline.datasets import data, dataset_spec

    _, info = data.load_numpy(dataset)
    if not info.has_reference_scores:
        return None
    returns = []
    for part in dataset_spec.parse(dataset).parts:
        try:
            stored = minari.load_dataset(str(part))
        except (FileNotFoundError, ValueError):  # Not a local Minari dataset (a d4rl: file).
            return None
        returns += [float(np.sum(episode.rewards)) for episode in stored.iterate_episodes()]
    return float(np.mean(info.normalized_score(np.asarray(returns))))


def curve_metrics(online: dict) -> list[dict | None]:
    """Per seed, ``metrics.drop_and_recovery`` of its online curve against its step-0 score, plus
    ``offline_score`` and ``final_score``; ``None`` for a seed with a missing (diverged) score."""
    steps = online["env_steps"]
    scores = np.asarray([[np.nan if s is None else s for s in row]
                         for row in online["normalized_scores"]], np.float64)  # [T, S]
    out = []
    for curve in scores.T:
        if not np.all(np.isfinite(curve)):
            out.append(None)
            continue
        cell = metrics.drop_and_recovery(float(curve[0]), steps, curve, EARLY_FRACTION)
        out.append({"offline_score": float(curve[0]), "final_score": float(curve[-1]), **cell})
    return out


def summarize_algorithm(per_seed: list[dict | None], behavior: float | None) -> dict:
    """Mean ± std over the finite seeds of each measure; recovery over the recovered seeds; the
    seeds whose offline agent is below the behavior level."""
    ok = [c for c in per_seed if c is not None]
    cell = {"per_seed": per_seed, "diverged_seeds": [i for i, c in enumerate(per_seed)
                                                     if c is None]}
    for key in ("offline_score", "initial_drop", "cumulative_regret", "final_score"):
        values = [c[key] for c in ok]
        cell[key] = {"mean": float(np.mean(values)) if values else None,
                     "std": float(np.std(values)) if values else None}
    recovered = [c["recovery_step"] for c in ok if c["recovery_step"] is not None]
    cell["recovery_step"] = {"mean": float(np.mean(recovered)) if recovered else None,
                             "std": float(np.std(recovered)) if recovered else None,
                             "recovered": len(recovered), "seeds": len(ok)}
    cell["below_behavior_seeds"] = ([] if behavior is None else
                                    [i for i, c in enumerate(per_seed)
                                     if c is not None and c["offline_score"] < behavior])
    return cell


def _recovery_key(cell: dict) -> tuple[int, float]:
    """Sorts faster recovery first: fewer seeds that never recovered, then the earlier mean."""
    rec = cell["recovery_step"]
    return (rec["seeds"] - rec["recovered"],
            np.inf if rec["mean"] is None else rec["mean"])


def verdict(algorithms: dict) -> str:
    """Reproduced when ACA's mean initial drop is below, and its recovery faster than (fewer
    seeds never back at the offline score, then an earlier mean recovery step), every baseline's
    in ``BASELINES`` that was run; "Inconclusive" when that holds but some offline agent is
    below the dataset's behavior level (the claim's premise); the evidence in numbers."""
    aca = algorithms["aca"]
    others = [name for name in BASELINES if name in algorithms]

    def describe(name):
        cell = algorithms[name]
        drop, rec = cell["initial_drop"]["mean"], cell["recovery_step"]
        when = "never" if rec["mean"] is None else f"at step {rec['mean']:,.0f} on average"
        drop_text = "n/a" if drop is None else f"{drop:.1f}"
        return (f"{name} drop {drop_text}, recovered {rec['recovered']}/{rec['seeds']} seeds "
                f"({when})")

    def drop(name):
        value = algorithms[name]["initial_drop"]["mean"]
        return np.inf if value is None else value

    smaller = [n for n in others if drop("aca") < drop(n)]
    faster = [n for n in others if _recovery_key(aca) < _recovery_key(algorithms[n])]
    ok = len(smaller) == len(faster) == len(others) > 0
    below = [n for n in ["aca", *others] if algorithms[n]["below_behavior_seeds"]]
    if ok and below:
        return (f"Inconclusive: the ordering holds, but the offline agents of {', '.join(below)} "
                "are below the dataset's behavior level on some seeds (see the warnings), so "
                "the claim's premise does not hold: ACA's drop is smaller and its recovery "
                "faster than every baseline's: " + "; ".join(describe(n)
                                                             for n in ["aca", *others]) + ".")
    text = (f"ACA's drop is smaller than {len(smaller)} of {len(others)} baselines' "
            f"({', '.join(smaller) or 'none'}) and its recovery faster than {len(faster)} "
            f"({', '.join(faster) or 'none'}): " + "; ".join(describe(n) for n in ["aca", *others])
            + ".")
    return ("Reproduced: " if ok else "Not reproduced: ") + text


def _fmt(stat: dict, digits: int = 1) -> str:
    if stat["mean"] is None:
        return "n/a"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def behavior_warnings(record: dict) -> list[str]:
    """One line per algorithm whose offline agent is below the dataset's behavior level on some
    seed, or one line saying the level is unknown."""
    if record["behavior_level"] is None:
        return [f"Warning: the behavior level of {record['dataset']} is unknown (no stored "
                "episodes or reference scores), so the offline agents were not checked."]
    seeds = record["seeds"]
    return [f"Warning: {name}'s offline agent is below the behavior level "
            f"({record['behavior_level']:.1f}) on seed(s) "
            f"{', '.join(str(seeds[i]) for i in cell['below_behavior_seeds'])}: the claim assumes "
            "an offline agent trained to at least the data's level; train longer (--steps)."
            for name, cell in record["algorithms"].items() if cell["below_behavior_seeds"]]


def table_markdown(record: dict) -> str:
    """Per algorithm: offline score, drop, recovery step, regret and final online score."""
    rows = ["| algorithm | offline score | initial drop | recovery step (recovered) | "
            "cumulative regret | final online score |", "|---|---|---|---|---|---|"]
    for name, cell in record["algorithms"].items():
        rec = cell["recovery_step"]
        rec_text = "never" if rec["mean"] is None else f"{rec['mean']:,.0f} ± {rec['std']:,.0f}"
        rows.append(f"| {name} | {_fmt(cell['offline_score'])} | {_fmt(cell['initial_drop'])} | "
                    f"{rec_text} ({rec['recovered']}/{rec['seeds']}) | "
                    f"{_fmt(cell['cumulative_regret'], 3)} | {_fmt(cell['final_score'])} |")
    level = ("unknown" if record["behavior_level"] is None
             else f"{record['behavior_level']:.1f}")
    warnings = behavior_warnings(record)
    shared = record.get("shared_offline") or {}
    shared_note = ([(f"{' and '.join(shared['algorithms'])} fine-tune the same offline agents: "
                     f"one SAC+ML run (`{shared['run']}`, trained once; same arrays and seeds), "
                     "so their offline scores are equal by construction."), ""]
                   if len(shared.get("algorithms", ())) > 1 else [])
    return "\n".join([
        f"{record['dataset']}: {record['steps']:,} offline updates, then "
        f"{record['online_steps']:,} online env steps (one update each), evaluated every "
        f"{record['online_eval_every']:,} "
        f"with {record['eval_episodes']} episodes; D4RL-normalized scores, mean ± std over seeds "
        f"{', '.join(map(str, record['seeds']))}, {tuple(record['hidden'])} networks. Drop: the "
        f"offline (step-0) score minus the lowest score in the first "
        f"{EARLY_FRACTION:.0%} of the online steps; recovery: the first evaluation back at the "
        f"offline score (mean over the seeds that recovered). Dataset behavior level (mean "
        f"normalized episode return): {level}.", "", budget_line(record), "", *shared_note,
        *rows, "",
        *[f"**{w}**" for w in warnings], *([""] if warnings else []),
        f"**{record['verdict']}**", ""])


def budget_parts(record: dict) -> list[tuple]:
    """``(label, used, official)`` per ``PROTOCOL`` item of a record
    (``locomotion.budget_line``)."""
    used = {"offline updates": record["steps"], "online env steps": record["online_steps"],
            "networks": tuple(record["hidden"])}
    return [(label, used[label], official) for label, official in PROTOCOL.items()]


def is_reduced(record: dict) -> bool:
    """Whether the record's run was smaller than the official protocol."""
    return locomotion.is_reduced(budget_parts(record))


def budget_line(record: dict) -> str:
    """How the run's budget compares with ``PROTOCOL``; a reduced run says so."""
    return locomotion.budget_line(budget_parts(record))


def plot(record: dict, path: pathlib.Path) -> None:
    """Online curves, mean ± std over seeds per algorithm, with the behavior level."""
    from jaxrl_offline.reporting import plots

    fig, ax = plots.new_figure(figsize=(7, 4))
    for j, (name, curve) in enumerate(record["curves"].items()):
        steps = np.asarray(curve["env_steps"])
        scores = np.asarray([[np.nan if s is None else s for s in row]
                             for row in curve["normalized_scores"]], np.float64)
        mean, std = np.nanmean(scores, axis=1), np.nanstd(scores, axis=1)
        ax.plot(steps, mean, color=f"C{j}", label=name)
        ax.fill_between(steps, mean - std, mean + std, color=f"C{j}", alpha=0.2)
    if record["behavior_level"] is not None:
        ax.axhline(record["behavior_level"], color="gray", ls="--", lw=1, label="behavior level")
    ax.axvspan(0, EARLY_FRACTION * record["online_steps"], color="red", alpha=0.06)
    ax.set(xlabel="online env steps", ylabel="normalized score",
           title=f"Offline -> online on {record['dataset']} (red: the first "
                 f"{EARLY_FRACTION:.0%})")
    ax.legend(fontsize=7)
    plots.write_figure(fig, path, dpi=80)


def write_outputs(record: dict, out: pathlib.Path, *, announce: bool = True) -> None:
    """``record.json``, ``table.md`` and the plot under ``out``."""
    outputs.write_outputs(record, out, plot, table_markdown, announce=announce)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.claims --claim=aca")
    parser.add_argument("--dataset", default=DATASET)
    parser.add_argument("--steps", type=int, default=500_000, help="offline updates per seed")
    parser.add_argument("--online_steps", type=int, default=100_000)
    parser.add_argument("--online_eval_every", type=int, default=1_000)
    parser.add_argument("--online_update_every", type=int, default=1)
    parser.add_argument("--num_seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", default="256,256")
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--eval_episodes", type=int, default=10)
    parser.add_argument("--max_episode_steps", type=int, default=None)
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument("--workdir", default="workdir/claims_aca")
    parser.add_argument("--out", default=str(OUT_DIR))
    parser.add_argument("--render", action="store_true",
                        help="regenerate table and plot from <out>/record.json")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    if args.render:
        write_outputs(json.loads((out / "record.json").read_text()), out, announce=False)
        print(f"{out}: table.md, curves.png regenerated from record.json")
        return 0
    algos = [a for a in args.algos.split(",") if a]
    if not algos or set(algos) - set(ALGOS):
        parser.error(f"--algos must name some of {', '.join(ALGOS)}; got {args.algos!r}")
    runs_only = "aca" not in algos  # Runs into --workdir only; the record needs ACA.
    if args.num_seeds < 1 or args.steps < 1 or args.online_steps < 1:
        parser.error(f"--num_seeds, --steps and --online_steps must be >= 1; got "
                     f"{args.num_seeds}, {args.steps}, {args.online_steps}")
    from jaxrl_offline.runner import experiment

    hidden = tuple(int(h) for h in args.hidden.split(",") if h)
    seeds = tuple(range(args.seed, args.seed + args.num_seeds))
    workdir, start = pathlib.Path(args.workdir), time.perf_counter()
    provenance = results.record_provenance(jax.devices())  # Before training: the code that runs.
    experiment.ensure_local(args.dataset, "claims aca")
    behavior = behavior_level(args.dataset)
    per_algo, curves, runs = {}, {}, {}

    def spec_of(name, **online):
        return experiment.RunSpec(
            name, args.dataset, config_for(name, args.steps, hidden), seeds, args.steps,
            min(args.chunk, args.steps), 0, args.eval_episodes,
            max_episode_steps=args.max_episode_steps, checkpoint_every=10, **online)

    offline_spec = spec_of("aca", variant="offline")
    for name in algos:
        spec = spec_of(name, online_steps=args.online_steps,
                       online_eval_every=args.online_eval_every,
                       online_update_every=args.online_update_every)
        if name in SHARED_OFFLINE:
            run = locomotion.finetune_from(spec, offline_spec, workdir,
                                           online_fields=ONLINE_FIELDS)
        else:
            run = experiment.run_experiment(spec, workdir, progress=False)
        online = run["online"]
        per_algo[name] = summarize_algorithm(curve_metrics(online), behavior)
        curves[name] = {"env_steps": online["env_steps"],
                        "normalized_scores": online["normalized_scores"]}
        runs[spec.name] = {"record": str(experiment.record_path(workdir, spec)),
                           "updates_per_s": run["timing"]["updates_per_s"],
                           "env_steps_per_s": online["timing"]["env_steps_per_s"],
                           "config": dataclasses.asdict(spec.config),
                           "offline_phase": run.get("offline_phase", {}).get("run")}
    if runs_only:
        print(f"{', '.join(algos)}: runs finished in {workdir} (no claim record without aca; "
              f"the same command with aca in --algos reuses them)")
        return 0
    shared = [name for name in algos if name in SHARED_OFFLINE]
    record = {
        "schema": "jaxrl_offline/claim-v1", "claim": "aca",
        "command": "python -m benchmarks.claims --claim=aca" + "".join(" " + a for a in argv),
        "dataset": args.dataset, "seeds": list(seeds), "steps": args.steps,
        "online_steps": args.online_steps, "online_eval_every": args.online_eval_every,
        "online_update_every": args.online_update_every, "eval_episodes": args.eval_episodes,
        "hidden": list(hidden), "behavior_level": behavior, "algorithms": per_algo,
        "curves": curves, "runs": runs, **provenance,
        "plot": "curves.png", "table": "table.md",
        "shared_offline": {"run": offline_spec.name, "algorithms": shared,
                           "record": str(experiment.record_path(workdir, offline_spec))},
    }
    record["verdict"] = verdict(per_algo)
    record["behavior_warnings"] = behavior_warnings(record)
    record["wall_s"] = time.perf_counter() - start
    record["compute_s"] = locomotion.compute_seconds(
        [experiment.record_path(workdir, offline_spec)]
        + [pathlib.Path(run["record"]) for run in runs.values()])
    write_outputs(record, out)
    return 0
