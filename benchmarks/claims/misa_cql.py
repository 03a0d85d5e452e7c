"""MISA claim: MISA against CQL with the same data, updates and critic; score and Q overestimation.

    python -m benchmarks.claims --claim=misa_cql [--steps=1200000] [--num_seeds=5]
        [--hidden=256,256] [--eval_every=10000] [--eval_episodes=10] [--chunk=1000]
        [--datasets=jaxrl_offline/hopper/medium-v0,...] [--workdir=workdir/claims_misa_cql]
        [--out=benchmarks/results/claims/misa_cql]

Both algorithms are ``jaxrl_offline.algorithms.misa`` (spec ``algorithms.md`` §5, the official
code's defaults: 1.2M updates, batch 256, 256 x 256 networks, ReLU actor, ELU critics, Adam 1e-4
actor / 3e-4 critic, gamma 0.99, min_q_weight 5, 50 sampled actions per source): ``misa`` as is,
``cql`` (the run variant ``misa-cql``) with the code's ``misa=False`` fallback,
``critic_regularizer="cql"`` (CQL(H)'s importance-sampled uniform and policy actions), no BC or
HMC term and the SAC actor loss (``bc_weight=0``, ``entropy_weight=1``, ``unbiased_grad=False``).
So the data (MISA's transforms: raw rewards and observations, actions clipped to 0.999), the
batches' seeds, the update count, the networks and the optimizers are the same; only the two
regularizers differ. Each run goes through the project's runner (``benchmarks.claims.locomotion``;
records and checkpoints under ``--workdir``, an interrupted claim resumes).

Q overestimation, after training, from each seed's final agent: on ``NUM_Q_STATES`` dataset rows
(drawn once with ``numpy.random.default_rng(0)``, the same for every algorithm and seed) the
mean of min(Q1, Q2) at the dataset action and at the policy's deterministic action, against the
mean discounted Monte-Carlo return-to-go of the dataset from those rows (``returns_to_go``, with
the algorithms' discount, on the rewards the critics were trained on). At a true terminal the
return-to-go is exact; where an episode was truncated (a time limit or the dataset's end) it
misses gamma^k V(s_end) for the k steps left, so only rows whose missing tail weighs at most
``TAIL_TOLERANCE`` (gamma^k <= 0.01: k >= 459 steps before a truncation, or any row of an
episode that terminated) are drawn. The MC return is the behavior policy's value, so the
Q(s, a_data) / MC ratio measures overestimation at the data; Q(s, pi(s)) / MC compares the
learned policy's predicted value with the data's realized one (above 1 is an improvement only if
the score says so too). Episode ends are the loader's (``DatasetInfo.episode_ends``: each
episode's last row, a terminal or a truncation); ``terminal`` says which of them terminated.

Verdict: reproduced when MISA's 95% bootstrap CI of the last score lies above CQL's on every
dataset; it also states which overestimation ratio is lower and whether the per-seed values
separate. Nothing is tuned: both run the code defaults on the evaluation seeds.

Expected cost, full size (pending: not run yet): ``benchmarks/results/profile/cpu-2-cores.md``
measures MISA at 2.15 updates/s and CQL (``cql``, 3 x 256, 10 actions per source) at 5.9
updates/s per seed on the 2-core CPU; MISA's CQL mode samples 50 actions per source, so count it
at most ~6 updates/s. At 1.2M updates and 5 seeds that is about 1.2e6 / 2.15 x 5 = 2.8e6 s (32
days) for MISA plus >= 1.2e6 / 6 x 5 = 1e6 s (12 days) for CQL per dataset, plus 120
evaluations of 10 episodes per run: not feasible on this CPU; on one GPU it should be about a day
per dataset (not measured). The committed record is a reduced run sized to this CPU (its table
says so): 10k updates, 64 x 64 networks, 3 seeds, an evaluation every 2k, 4,529 s on one core
while another job used the second (MISA 32 min at 5.1 updates/s for the 3 vmapped seeds). The
smoke test (110 s on the loaded 2-core CPU)::

    python -m benchmarks.claims --claim=misa_cql --steps=100 --num_seeds=2 --hidden=32,32 \\
        --eval_every=0 --eval_episodes=1 --datasets=jaxrl_offline/hopper/medium-50k-v0 \\
        --workdir=/tmp/claims_misa_cql --out=/tmp/claims_misa_cql/out

Writes ``<out>/{record.json, table.md, scores_q.png}``.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.claims import locomotion, outputs
from jaxrl_offline.algorithms import misa
from jaxrl_offline.reporting import results

DATASETS = ("jaxrl_offline/hopper/medium-v0",)
VARIANTS = {"misa": "", "cql": "cql"}  # Algorithm -> run variant of ``misa``.
NUM_Q_STATES = 10_000  # Dataset rows on which Q and the MC return are compared.
TAIL_TOLERANCE = 0.01  # Largest gamma^k of a truncated episode's missing tail at a drawn row.
OUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "results" / "claims" / "misa_cql"
COMMAND = "python -m benchmarks.claims --claim=misa_cql"
PAPER_STEPS, PAPER_HIDDEN = 1_200_000, (256, 256)  # The official code's protocol (spec §5).


def configs(hidden: tuple[int, ...]) -> dict[str, misa.Config]:
    """MISA's code defaults with ``hidden`` networks, and the same with CQL's regularizer and
    actor loss (the official code's ``misa=False``)."""
    base = misa.Config(actor_hidden_dims=hidden, critic_hidden_dims=hidden)
    return {"misa": base,
            "cql": dataclasses.replace(base, critic_regularizer="cql", bc_weight=0.0,
                                       entropy_weight=1.0, unbiased_grad=False)}


def returns_to_go(reward: np.ndarray, terminal: np.ndarray, ends: np.ndarray,
                  discount: float) -> tuple[np.ndarray, np.ndarray]:
    """Discounted return-to-go of each row within its episode, and its missing tail's weight.

    Args:
      reward, terminal, ends: [N] per-row reward, true-termination flag and episode-end flag
        (``DatasetInfo.episode_ends``); rows of one episode are consecutive.
      discount: gamma.

    Returns:
      ``(G, tail)``: G_t = sum_{i=t}^{T} gamma^(i-t) r_i up to the episode's last row T; tail_t =
      0 where the episode terminated at T (G is exact), else gamma^(T+1-t), the weight of the
      value V(s_{T+1}) that a truncation leaves out.
    """
    reward, terminal, ends = (np.asarray(x) for x in (reward, terminal, ends))
    if not (reward.ndim == 1 and reward.shape == terminal.shape == ends.shape):
        raise ValueError(f"reward, terminal and ends must be [N] arrays of one length; got "
                         f"{reward.shape}, {terminal.shape}, {ends.shape}")
    if reward.size and not ends[-1]:
        raise ValueError("ends[-1] must be True: the last row ends an episode")
    if np.any(terminal.astype(bool) & ~ends.astype(bool)):
        raise ValueError("a terminal row must also be an episode end (DatasetInfo.episode_ends)")
    out, tail = np.zeros(reward.shape, np.float64), np.zeros(reward.shape, np.float64)
    running, weight = 0.0, 0.0
    for t in range(reward.size - 1, -1, -1):
        if ends[t]:
            running, weight = 0.0, 0.0 if terminal[t] else 1.0
        running = reward[t] + discount * running
        weight = discount * weight
        out[t], tail[t] = running, weight
    return out, tail


def overestimation(q: np.ndarray, mc_return: np.ndarray) -> dict[str, float]:
    """Mean Q, mean MC return, their ratio mean(Q) / mean(MC) (1 = unbiased on average, above 1
    overestimates) and the mean gap mean(Q - MC), over the same rows."""
    q, mc_return = np.asarray(q, np.float64), np.asarray(mc_return, np.float64)
    if q.shape != mc_return.shape or q.ndim != 1 or not q.size:
        raise ValueError(f"q and mc_return must be equal non-empty [N] arrays; got {q.shape}, "
                         f"{mc_return.shape}")
    q_mean, mc_mean = float(q.mean()), float(mc_return.mean())
    return {"q": q_mean, "mc": mc_mean, "ratio": q_mean / mc_mean if mc_mean else float("nan"),
            "gap": float((q - mc_return).mean())}


def q_rows(dataset, ends: np.ndarray, discount: float,
           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``NUM_Q_STATES`` rows whose return-to-go misses at most ``TAIL_TOLERANCE`` of a
    truncated tail (a fixed draw), and the return-to-go at them; ``ends`` [N] are the dataset's
    episode ends (``DatasetInfo.episode_ends``)."""
    mc_return, tail = returns_to_go(dataset.reward, dataset.terminal, ends, discount)
    eligible = np.nonzero(tail <= TAIL_TOLERANCE)[0]
    if not eligible.size:
        raise ValueError(f"no dataset row is at least log({TAIL_TOLERANCE}) / log({discount}) "
                         "steps from a truncation: its Monte-Carlo return is undefined; use a "
                         "dataset with longer or terminating episodes")
    rows = np.sort(np.random.default_rng(seed).choice(
        eligible, min(NUM_Q_STATES, eligible.size), replace=False))
    return rows, mc_return[rows]


def q_stats(spec, workdir: pathlib.Path) -> dict:
    """Per seed, the overestimation at dataset and policy actions of the run's final agents."""
    dataset, info, layout, states = locomotion.restore_final(misa, spec, workdir)
    config = spec.config
    rows, mc_return = q_rows(dataset, info.episode_ends, config.discount)
    obs, action = jnp.asarray(dataset.obs[rows]), jnp.asarray(dataset.action[rows])

    def per_seed(state):
        q = lambda a: state.critic.apply_fn(state.critic.params, obs, a).min(0)  # noqa: E731
        return q(action), q(misa.act(config, state, obs, jax.random.key(0)))

    q_data, q_policy = (layout.unpad(np.asarray(x)) for x in jax.jit(jax.vmap(per_seed))(states))
    data_stats = [overestimation(q, mc_return) for q in q_data]
    policy_stats = [overestimation(q, mc_return) for q in q_policy]
    return {"num_q_states": int(rows.size), "mc_return": float(mc_return.mean()),
            "q_data": results.summarize([s["q"] for s in data_stats]),
            "ratio_data": results.summarize([s["ratio"] for s in data_stats]),
            "q_policy": results.summarize([s["q"] for s in policy_stats]),
            "ratio_policy": results.summarize([s["ratio"] for s in policy_stats])}


def verdict(datasets: dict) -> str:
    """Reproduced when MISA's last-score 95% CI lies above CQL's on every dataset; the text also
    says, per dataset, whose Q overestimates less (ratio at dataset and at policy actions)."""
    clear = [d for d, c in datasets.items()
             if c["misa"]["score"]["ci_low"] > c["cql"]["score"]["ci_high"]]
    above = [d for d, c in datasets.items()
             if c["misa"]["score"]["mean"] > c["cql"]["score"]["mean"]]
    notes = []
    for dataset, cell in datasets.items():
        for where in ("data", "policy"):
            misa_r, cql_r = (cell[a][f"ratio_{where}"] for a in ("misa", "cql"))
            side = "lower" if misa_r["mean"] < cql_r["mean"] else "higher"
            apart = (max(misa_r["per_seed"]) < min(cql_r["per_seed"])
                     or min(misa_r["per_seed"]) > max(cql_r["per_seed"]))
            notes.append(f"{dataset.split('/', 1)[-1]}, {where} actions: MISA {misa_r['mean']:.2f}"
                         f" vs CQL {cql_r['mean']:.2f}, {side}"
                         f"{' (per-seed values apart)' if apart else ' (per-seed values overlap)'}")
    text = (f"MISA's mean last score is above CQL's on {len(above)} of {len(datasets)} datasets "
            f"({len(clear)} with disjoint 95% CIs). Its Q / MC-return ratio: "
            + "; ".join(notes) + ".")
    return ("Reproduced: " if len(clear) == len(datasets) else "Not reproduced: ") + text


def table_markdown(record: dict) -> str:
    """Per dataset and algorithm: last score, Q at dataset and policy actions, the MC return and
    the ratios."""
    rows = ["| dataset | algorithm | score (last) | 95% CI | Q(s, a_data) | Q(s, pi(s)) | "
            "MC return | Q/MC, data | Q/MC, policy |", "|---" * 9 + "|"]
    pm = lambda s, f: f"{s['mean']:{f}} ± {s['std']:{f}}"  # noqa: E731
    for dataset, cell in record["datasets"].items():
        for name in VARIANTS:
            c = cell[name]
            rows.append(f"| {dataset} | {name} | {pm(c['score'], '.1f')} | "
                        f"[{c['score']['ci_low']:.1f}, {c['score']['ci_high']:.1f}] | "
                        f"{pm(c['q_data'], '.1f')} | {pm(c['q_policy'], '.1f')} | "
                        f"{c['mc_return']:.1f} | {pm(c['ratio_data'], '.2f')} | "
                        f"{pm(c['ratio_policy'], '.2f')} |")
    return "\n".join([
        f"MISA against CQL (MISA's code with its `misa=False` regularizer and SAC actor loss; same "
        f"data, {record['steps']:,} updates, {tuple(record['hidden'])} networks, seeds "
        f"{', '.join(map(str, record['seeds']))}): D4RL-normalized score of the last evaluation "
        f"({record['eval_episodes']} episodes), mean ± std over seeds. Q = min of the twin "
        f"critics on {record['num_q_states_max']:,} fixed dataset rows at least "
        f"{record['tail_tolerance']} of a truncation's tail from its end, against the "
        f"discounted Monte-Carlo return-to-go of the data there (gamma {record['discount']}).",
        "", budget_line(record), "", *rows, "", f"**{record['verdict']}**", ""])


def budget_parts(record: dict) -> list[tuple]:
    """``(label, used, official)`` per budget item of a record (``locomotion.budget_line``)."""
    return [("updates", record["steps"], PAPER_STEPS),
            ("networks", tuple(record["hidden"]), PAPER_HIDDEN)]


def is_reduced(record: dict) -> bool:
    """Whether the record's run was smaller than the official protocol."""
    return locomotion.is_reduced(budget_parts(record))


def budget_line(record: dict) -> str:
    """How the run's budget compares with the official protocol; a reduced run says so."""
    return locomotion.budget_line(budget_parts(record))


def plot(record: dict, path: pathlib.Path) -> None:
    """Per dataset: score curves (mean and 95% CI over seeds) and Q at dataset and policy actions
    per seed against the MC return."""
    from jaxrl_offline.reporting import plots

    names = list(record["datasets"])
    fig, axes = plots.new_figure(len(names), 2, figsize=(10, 3.5 * len(names)), squeeze=False)
    for (ax, qax), dataset in zip(axes, names):
        cell = record["datasets"][dataset]
        for j, name in enumerate(VARIANTS):
            curve = cell[name]["curve"]
            ax.plot(curve["steps"], curve["mean"], color=f"C{j}", label=name, marker=".")
            ax.fill_between(curve["steps"], curve["low"], curve["high"], color=f"C{j}", alpha=0.2)
            for k, where in enumerate(("q_data", "q_policy")):
                x = 2 * j + k
                qax.bar(x, cell[name][where]["mean"], width=0.7, color=f"C{j}",
                        alpha=1.0 if k == 0 else 0.5)
                qax.scatter([x] * len(cell[name][where]["per_seed"]),
                            cell[name][where]["per_seed"], color="black", s=8)
        qax.axhline(cell["misa"]["mc_return"], color="gray", ls="--", label="MC return of data")
        qax.set_xticks(range(4), [f"{n}\n{w}" for n in VARIANTS for w in ("Q(s,a_data)",
                                                                         "Q(s,pi(s))")],
                       fontsize=7)
        qax.set(title=f"Q vs Monte-Carlo return, {dataset.split('/', 1)[-1]}", ylabel="mean Q")
        qax.legend(fontsize=7)
        ax.set(title=f"score, {dataset.split('/', 1)[-1]}", xlabel="updates",
               ylabel="normalized score")
        ax.legend(fontsize=7)
    plots.write_figure(fig, path, dpi=70)


def main(argv: list[str]) -> int:
    parser = locomotion.run_parser(COMMAND, datasets=DATASETS, workdir="workdir/claims_misa_cql",
                                   out=OUT_DIR, steps=1_200_000, eval_every=10_000)
    args, hidden, seeds, datasets = locomotion.parse_run_flags(parser, argv)
    workdir, start = pathlib.Path(args.workdir), time.perf_counter()
    provenance = results.record_provenance(jax.devices())  # Before training: the code that runs.
    per_dataset, runs, algo_configs = {}, {}, configs(hidden)
    for dataset in datasets:
        cell = {}
        for name, variant in VARIANTS.items():
            spec = locomotion.spec_for("misa", dataset, algo_configs[name], seeds, args, variant)
            run, runs[spec.name] = locomotion.train(spec, workdir)
            mean, low, high = results.curve_with_ci(run["normalized_scores"])
            cell[name] = {"score": run["final"]["last"], **q_stats(spec, workdir),
                          "curve": {"steps": run["eval_steps"], "mean": mean.tolist(),
                                    "low": low.tolist(), "high": high.tolist()}}
        per_dataset[dataset] = cell
    record = {
        "schema": "jaxrl_offline/claim-v1", "claim": "misa_cql",
        "command": COMMAND + "".join(" " + a for a in argv),
        "seeds": list(seeds), "steps": args.steps, "eval_episodes": args.eval_episodes,
        "hidden": list(hidden), "discount": algo_configs["misa"].discount,
        "num_q_states_max": NUM_Q_STATES, "tail_tolerance": TAIL_TOLERANCE,
        "datasets": per_dataset, "runs": runs, **provenance,
        "plot": "scores_q.png", "table": "table.md",
    }
    record["verdict"] = verdict(per_dataset)
    record["wall_s"] = time.perf_counter() - start
    outputs.write_outputs(record, pathlib.Path(args.out), plot, table_markdown)
    return 0
