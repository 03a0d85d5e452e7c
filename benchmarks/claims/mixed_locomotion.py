"""TD3-RKL claim, locomotion part: TD3-RKL against TD3+BC at equal updates on hopper mixtures.

    python -m benchmarks.claims --claim=mixed --part=locomotion [--steps=1000000] [--num_seeds=5]
        [--hidden=256,256] [--eval_every=5000] [--eval_episodes=10] [--chunk=1000]
        [--datasets=A+B,...] [--workdir=workdir/claims_mixed]
        [--out=benchmarks/results/claims/mixed_locomotion]

The defaults are the paper protocol of spec ``algorithms.md`` §3.3 (TD3+BC's: 256 x 256 networks,
1M updates, 10 episodes every 5k, 5 seeds; TD3-RKL's reconstruction with its behavior model fitted
for the first 100k updates, or a tenth of a shorter run) on ``DATASETS``: hopper random+expert and
medium+expert, each the concatenation of the local suite's 1M-transition parts (generated on first
use). Each (algorithm, dataset) is one run of the project's runner
(``jaxrl_offline.runner.experiment``; records and checkpoints under ``--workdir``, so an
interrupted claim resumes). Then, per dataset, the final TD3-RKL agents (restored from the run's
last checkpoint) give the per-state weight w(s) on ``NUM_WEIGHT_STATES`` dataset states of each
mixture part, normalized over them together: the claim predicts a higher mean w(s) on the expert
part (narrow coverage) than on the random / medium one. The same agents also give w(s) and the
gap |pi(s) - a| to the data's action by the step within the episode (``STEP_BUCKETS``): where the
parts' states overlap (an episode's first steps) the weight cannot tell them apart. The ablation
``td3_rkl_w1`` (TD3-RKL with w(s) = 1, ``coverage_weight="none"``, everything else equal; the
low-dimensional claim's ablation) says what the per-state weight itself does to the score, and its
|pi(s) - a| by episode step sits beside TD3-RKL's in the diagnostic.

Expected cost, full size (not run yet): the committed 256 x 256 hopper records give TD3+BC 134
updates/s with 2 seeds on the idle 2-core CPU (``benchmarks/results/hopper_medium``) and
TD3-RKL at 0.63 of TD3+BC's rate under the same load (``benchmarks/results/td3_family``), so with
5 seeds about 5 h (TD3+BC) + 8 h (TD3-RKL) per dataset, plus ~200 evaluations of 10 episodes per
run and ~5 minutes to generate each 1M-transition part: about a day and a half for both
datasets. On a GPU it should take well under an hour per run (not measured). The smoke test
(about two minutes)::

    python -m benchmarks.claims --claim=mixed --part=locomotion --steps=200 --num_seeds=2 \
        --hidden=32,32 --eval_every=0 --eval_episodes=1 \
        --datasets=jaxrl_offline/hopper/medium-50k-v0+jaxrl_offline/hopper/medium-50k-v0 \
        --workdir=/tmp/claims_mixed --out=/tmp/claims_mixed/out

Writes ``<out>/{record.json, table.md, scores.png}``.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.claims import locomotion, outputs
from jaxrl_offline.algorithms import td3_bc, td3_rkl
from jaxrl_offline.datasets import data, dataset_spec
from jaxrl_offline.reporting import results
from jaxrl_offline.generative import mixture
from jaxrl_offline.runner import experiment

DATASETS = ("jaxrl_offline/hopper/random-v0+jaxrl_offline/hopper/expert-v0",
            "jaxrl_offline/hopper/medium-v0+jaxrl_offline/hopper/expert-v0")
# The policies compared; "td3_rkl_w1" is the ablation: TD3-RKL with w(s) = 1 (no per-state weight),
# trained by the runner as algorithm "td3_rkl" with variant "w1" (``RUNNER_NAMES``).
ALGOS = {"td3_bc": td3_bc, "td3_rkl": td3_rkl, "td3_rkl_w1": td3_rkl}
RUNNER_NAMES = {"td3_bc": ("td3_bc", ""), "td3_rkl": ("td3_rkl", ""),
                "td3_rkl_w1": ("td3_rkl", "w1")}
NUM_WEIGHT_STATES = 4096  # Dataset rows per mixture part on which w(s) is evaluated.
# Ranges [low, high) of the step within an episode for the w(s) diagnostic (None: no upper end).
STEP_BUCKETS = ((0, 10), (10, 50), (50, 200), (200, None))
# The paper protocol (spec §3.3, TD3+BC's): budget items a reduced record is measured against.
PROTOCOL = {"updates": 1_000_000, "seeds": 5, "networks": (256, 256), "datasets": len(DATASETS)}
OUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "results" / "claims" / "mixed_locomotion"


def configs(steps: int, hidden: tuple[int, ...]) -> dict:
    """Paper defaults with ``hidden`` networks; beta fitted for min(100k, steps // 10) updates;
    the ablation differs from TD3-RKL only in ``coverage_weight="none"``."""
    sizes = dict(actor_hidden_dims=hidden, critic_hidden_dims=hidden)
    behavior_steps = min(td3_rkl.Config.behavior_steps, max(1, steps // 10))
    rkl = td3_rkl.Config(**sizes, behavior_hidden_dims=hidden, behavior_steps=behavior_steps)
    return {"td3_bc": td3_bc.Config(**sizes), "td3_rkl": rkl,
            "td3_rkl_w1": dataclasses.replace(rkl, coverage_weight="none")}


def part_slices(dataset: str) -> dict[str, slice]:
    """Rows of each part in the loaded mixture (``data.load_numpy`` concatenates in order), keyed
    by the part's id (``<id> #<i>`` when a part repeats)."""
    parts = [str(part) for part in dataset_spec.parse(dataset).parts]
    out, start = {}, 0
    for i, part in enumerate(parts):
        size = data.load_numpy(part)[1].num_transitions
        out[part if parts.count(part) == 1 else f"{part} #{i + 1}"] = slice(start, start + size)
        start += size
    return out


def episode_steps(episode_ends: np.ndarray) -> np.ndarray:
    """[N] each row's step within its episode (0 on an episode's first row), from the loader's
    ``episode_ends`` [N] bool (True on each episode's last row)."""
    ends = np.asarray(episode_ends, bool)
    index = np.arange(len(ends))
    first = np.concatenate([[True], ends[:-1]])
    return index - np.maximum.accumulate(np.where(first, index, 0))


def _group_means(values: np.ndarray, groups) -> list[list[float]]:
    """Per group of rows (in the order they were concatenated into ``values`` [S, B]), the mean
    over its rows for each seed."""
    bounds = np.cumsum([0, *(len(rows) for rows in groups)])
    return [[float(seed[start:stop].mean()) for seed in values]
            for start, stop in zip(bounds[:-1], bounds[1:])]


def _weights_and_actions(spec: experiment.RunSpec, layout, states, obs: np.ndarray):
    """TD3-RKL's w(s) [S, B] (normalized over the B states together, as over a training batch)
    and its evaluation actions [S, B, A] at ``obs``, per real seed."""
    config = spec.config
    obs = jnp.asarray(obs)

    def per_seed(state, key):
        weight_key, act_key = jax.random.split(key)
        behavior = state.behavior.apply_fn(state.behavior.params, obs)
        weights = mixture.coverage_weights(behavior, config.coverage_weight, weight_key,
                                           config.num_kl_samples, config.coverage_max_weight)
        return weights, td3_rkl.act(config, state, obs, act_key)

    keys = jax.random.split(jax.random.key(0), len(layout.padded_seeds))
    weights, actions = jax.jit(jax.vmap(per_seed))(states, keys)
    return layout.unpad(np.asarray(weights)), layout.unpad(np.asarray(actions))


def weight_diagnostics(spec: experiment.RunSpec, workdir: pathlib.Path,
                       ablation_spec: experiment.RunSpec | None = None) -> tuple[dict, dict]:
    """From the TD3-RKL run's last checkpoint: ``(weight_by_part, by_episode_step)``.

    ``weight_by_part``: mean w(s) per mixture part and seed on ``NUM_WEIGHT_STATES`` rows of each
    part, normalized over all parts' rows together. ``by_episode_step``: per part and
    ``STEP_BUCKETS`` range of the step within the episode, per seed, the mean w(s) (normalized over
    all those rows together) and ``action_gap``, the mean |pi(s) - a| to the dataset's action;
    with ``ablation_spec`` (the w = 1 run, same dataset and seeds) also ``action_gap_w1``, its
    agents' gap on the same rows. The second shows where in an episode the weight relaxes BC (on
    random+expert the expert episodes' first steps share the random data's states and broad
    actions) and, beside the ablation's gap, whether that changes the policy there.
    """
    dataset, info, layout, states = locomotion.restore_final(td3_rkl, spec, workdir)
    rng = np.random.default_rng(0)
    slices = part_slices(spec.dataset)
    rows = {name: rng.choice(np.arange(s.start, s.stop), min(NUM_WEIGHT_STATES, s.stop - s.start),
                             replace=False) for name, s in slices.items()}
    weights, _ = _weights_and_actions(spec, layout, states,
                                      np.concatenate([dataset.obs[r] for r in rows.values()]))
    by_part = dict(zip(rows, _group_means(weights, rows.values())))

    steps = episode_steps(info.episode_ends)
    bucket_rows = {}
    for name, s in slices.items():
        part_rows = np.arange(s.start, s.stop)
        for low, high in STEP_BUCKETS:
            inside = part_rows[(steps[part_rows] >= low) & (steps[part_rows] < (high or np.inf))]
            if len(inside):
                chosen = rng.choice(inside, min(NUM_WEIGHT_STATES, len(inside)), replace=False)
                bucket_rows[(name, f"{low}-{high - 1}" if high else f"{low}+")] = chosen
    all_rows = np.concatenate(list(bucket_rows.values()))
    weights, actions = _weights_and_actions(spec, layout, states, dataset.obs[all_rows])
    values = {"weight": _group_means(weights, bucket_rows.values()),
              "action_gap": _action_gap_means(actions, dataset.action[all_rows], bucket_rows)}
    if ablation_spec is not None:
        _, _, ablation_layout, ablation_states = locomotion.restore_final(td3_rkl, ablation_spec,
                                                                          workdir)
        _, ablation_actions = _weights_and_actions(ablation_spec, ablation_layout,
                                                   ablation_states, dataset.obs[all_rows])
        values["action_gap_w1"] = _action_gap_means(ablation_actions, dataset.action[all_rows],
                                                    bucket_rows)
    by_step = {}
    for i, ((name, bucket), row) in enumerate(bucket_rows.items()):
        by_step.setdefault(name, {})[bucket] = {
            **{key: means[i] for key, means in values.items()}, "rows": int(len(row))}
    return by_part, by_step


def _action_gap_means(actions: np.ndarray, data_actions: np.ndarray, groups: dict) -> list:
    """Per group of rows, per seed, the mean |pi(s) - a| over the rows and action dimensions
    (``actions`` [S, B, A] against the dataset's [B, A])."""
    return _group_means(np.abs(actions - data_actions).mean(-1), groups.values())


def budget_parts(record: dict) -> list[tuple]:
    """``(label, used, official)`` per ``PROTOCOL`` item of a record
    (``locomotion.budget_line``)."""
    used = {"updates": record["steps"], "seeds": len(record["seeds"]),
            "networks": tuple(record["hidden"]), "datasets": len(record["datasets"])}
    return [(label, used[label], official) for label, official in PROTOCOL.items()]


def is_reduced(record: dict) -> bool:
    """Whether the record's run was smaller than the paper protocol."""
    return locomotion.is_reduced(budget_parts(record))


def table_markdown(record: dict) -> str:
    """Per dataset: each algorithm's final score (mean ± std over seeds; "-" where a record made
    before the ablation has no such run) and TD3-RKL's mean w(s) per mixture part."""
    rows = ["| dataset | " + " | ".join(f"{a} (last)" for a in ALGOS)
            + " | TD3-RKL mean w(s) per part |", "|---|" + "---|" * (len(ALGOS) + 1)]
    for dataset, cell in record["datasets"].items():
        scores = [f"{cell[a]['mean']:.1f} ± {cell[a]['std']:.1f}" if a in cell else "-"
                  for a in ALGOS]
        weights = "; ".join(f"{part.split('/')[-1]} {np.mean(w):.2f}"
                            for part, w in cell["weight_by_part"].items())
        rows.append(f"| {dataset} | " + " | ".join(scores) + f" | {weights} |")
    return "\n".join([
        f"Hopper mixtures, D4RL-normalized score of the last evaluation ({record['steps']:,} "
        f"updates, {record['eval_episodes']} episodes, seeds "
        f"{', '.join(map(str, record['seeds']))}, {tuple(record['hidden'])} networks).", "",
        locomotion.budget_line(budget_parts(record)), "", *rows, "",
        f"**{record['verdict']}**", "", *episode_step_table(record)])


def episode_step_table(record: dict) -> list[str]:
    """TD3-RKL's w(s) and |pi(s) - a| by part and episode step (records made before this
    diagnostic have none: no lines)."""
    cells = [(dataset, part, bucket, values)
             for dataset, cell in record["datasets"].items()
             for part, buckets in cell.get("by_episode_step", {}).items()
             for bucket, values in buckets.items()]
    if not cells:
        return []
    rows = ["| dataset | part | episode steps | TD3-RKL w(s) | mean abs(pi(s) - a) "
            "| w = 1: mean abs(pi(s) - a) |", "|---|---|---|---|---|---|"]
    rows += [f"| {dataset} | {part.split('/')[-1]} | {bucket} | {np.mean(v['weight']):.2f} | "
             f"{np.mean(v['action_gap']):.3f} | "
             + (f"{np.mean(v['action_gap_w1']):.3f} |" if "action_gap_w1" in v else "- |")
             for dataset, part, bucket, v in cells]
    return ["TD3-RKL's final agents by the step within the episode: w(s) normalized over all "
            f"these rows together (up to {NUM_WEIGHT_STATES:,} per part and range), and the mean "
            "absolute difference between its evaluation action and the dataset's action (last "
            "column: the w = 1 ablation's agents on the same rows); mean over seeds.", "", *rows,
            ""]


def verdict(datasets: dict) -> str:
    """Reproduced when, on every dataset, TD3-RKL's 95% bootstrap CI of the last score lies above
    TD3+BC's and its mean w(s) is highest on the expert part."""
    above = [d for d, c in datasets.items() if c["td3_rkl"]["mean"] > c["td3_bc"]["mean"]]
    clear = [d for d, c in datasets.items() if c["td3_rkl"]["ci_low"] > c["td3_bc"]["ci_high"]]
    expert_heaviest = [
        d for d, c in datasets.items()
        if max(c["weight_by_part"], key=lambda p: np.mean(c["weight_by_part"][p])).split("/")[-1]
        .startswith("expert")]
    text = (f"TD3-RKL's mean score is above TD3+BC's on {len(above)} of {len(datasets)} datasets "
            f"({len(clear)} with disjoint 95% CIs); its mean w(s) is highest on the expert part "
            f"on {len(expert_heaviest)}.")
    ablated = {d: c["td3_rkl_w1"]["mean"] for d, c in datasets.items() if "td3_rkl_w1" in c}
    if ablated:
        scores = [f"{value:.1f} on {_short(d)} (weighted {datasets[d]['td3_rkl']['mean']:.1f})"
                  for d, value in ablated.items()]
        text += " Without the per-state weight (w = 1) TD3-RKL scores " + "; ".join(scores) + "."
        inside = [d for d, value in ablated.items()
                  if datasets[d]["td3_rkl"]["ci_low"] <= value <= datasets[d]["td3_rkl"]["ci_high"]]
        text += (f" That is inside the weighted run's 95% CI on {len(inside)} of {len(ablated)}"
                 + (": at this budget the weight does not explain TD3-RKL's difference to TD3+BC."
                    if len(inside) == len(ablated) else "."))
    ok = len(clear) == len(expert_heaviest) == len(datasets)
    return ("Reproduced: " if ok else "Not reproduced: ") + text


def _short(dataset: str) -> str:
    """``random-v0+expert-v0`` for ``jaxrl_offline/hopper/random-v0+jaxrl_offline/hopper/...``."""
    return "+".join(part.split("/")[-1] for part in dataset.split("+"))


def plot(record: dict, path: pathlib.Path) -> None:
    """Final scores per dataset and algorithm, one dot per seed; TD3-RKL's mean w(s) per mixture
    part."""
    from jaxrl_offline.reporting import plots

    names = list(record["datasets"])
    fig, (ax, wax) = plots.new_figure(1, 2, figsize=(5 + 5 * len(names), 3.5))
    present = [a for a in ALGOS if all(a in record["datasets"][d] for d in names)]
    width = 0.8 / len(present)
    for j, name in enumerate(present):
        for i, dataset in enumerate(names):
            cell = record["datasets"][dataset][name]
            x = i + (j - (len(present) - 1) / 2) * width
            ax.bar(x, cell["mean"], width=width * 0.95, color=f"C{j}",
                   label=name if i == 0 else None)
            ax.scatter([x] * len(cell["per_seed"]), cell["per_seed"], color="black", s=8)
    ax.set_xticks(range(len(names)), [n.replace("+", "+\n") for n in names], fontsize=7)
    ax.set(ylabel="normalized score (last eval)",
           title="TD3-RKL vs TD3+BC (and w = 1), hopper mixtures")
    ax.legend(fontsize=7)
    labels = []
    for i, dataset in enumerate(names):
        for part, weights in record["datasets"][dataset]["weight_by_part"].items():
            x = len(labels)
            labels.append(f"{_short(dataset)}:\n{part.split('/')[-1]}")
            wax.bar(x, np.mean(weights), width=0.6, color=f"C{i}")
            wax.scatter([x] * len(weights), weights, color="black", s=8)
    wax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=15)
    wax.set(ylabel="TD3-RKL mean w(s) on the part's states",
            title="mean w(s) per mixture part")
    plots.write_figure(fig, path, dpi=70)


def main(argv: list[str]) -> int:
    parser = locomotion.run_parser(
        "python -m benchmarks.claims --claim=mixed --part=locomotion", datasets=DATASETS,
        workdir="workdir/claims_mixed", out=OUT_DIR, steps=1_000_000, eval_every=5000)
    args, hidden, seeds, datasets = locomotion.parse_run_flags(parser, argv)
    workdir, start = pathlib.Path(args.workdir), time.perf_counter()
    provenance = results.record_provenance(jax.devices())  # Before training: the code that runs.
    per_dataset, runs = {}, {}
    for dataset in datasets:
        cell, specs = {}, {}
        for name, config in configs(args.steps, hidden).items():
            algorithm, variant = RUNNER_NAMES[name]
            specs[name] = locomotion.spec_for(algorithm, dataset, config, seeds, args,
                                              variant=variant)
            run, runs[specs[name].name] = locomotion.train(specs[name], workdir)
            cell[name] = run["final"]["last"]
        cell["weight_by_part"], cell["by_episode_step"] = weight_diagnostics(
            specs["td3_rkl"], workdir, specs["td3_rkl_w1"])
        per_dataset[dataset] = cell
    record = {
        "schema": "jaxrl_offline/claim-v1", "claim": "mixed_locomotion",
        "command": "python -m benchmarks.claims --claim=mixed --part=locomotion"
                   + "".join(" " + a for a in argv),
        "seeds": list(seeds), "steps": args.steps, "eval_episodes": args.eval_episodes,
        "hidden": list(hidden), "datasets": per_dataset, "runs": runs,
        **provenance, "plot": "scores.png", "table": "table.md",
    }
    record["verdict"] = verdict(per_dataset)
    record["wall_s"] = time.perf_counter() - start
    record["compute_s"] = locomotion.compute_seconds(
        [pathlib.Path(run["record"]) for run in runs.values()])
    outputs.write_outputs(record, pathlib.Path(args.out), plot, table_markdown)
    return 0
