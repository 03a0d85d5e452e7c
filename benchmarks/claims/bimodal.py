"""SfBC and IDQL claim: an expressive behavior model picks one of two good action modes, where a
unimodal Gaussian AWR policy (IQL) averages them into the bad middle.

    python -m benchmarks.claims --claim=bimodal [--seeds=0,1,2] [--updates=600]
    python -m benchmarks.claims --claim=bimodal --part=locomotion ...  # ``bimodal_locomotion``

The task (``bimodal_task``) is a one-step bandit whose reward does not depend on the state:
r(a) = 1 - min((a - m)^2, (a + m)^2) / m^2 for a 1-D action a in [-1, 1], m = ``MODE`` = 0.7.
Known answer: r = 1 at the two modes a = +-0.7 (the optimum), r = 0 at the middle a = 0 (the
minimum on [-1, 1]), r <= 0.75 in the middle band |a| < 0.35, r = 0.82 at the bounds. The behavior
puts ``1 - middle_fraction`` of its actions at the modes (a fair coin, N(0, 0.05^2) noise) and the
rest uniformly on [-1, 1], so the critic also sees the reward fall between and beyond the modes; the
behavior's mean action is 0 (the bad middle).

Each algorithm (IQL: Gaussian AWR actor; IDQL and SfBC: diffusion behavior models with Q-based
selection) is trained for ``--updates`` updates on its own dataset per seed (dataset seed = 1000
+ seed), then acts (its evaluation action) at 256 new states. Reported per algorithm: the fraction
of actions within ``NEAR`` of a mode, in the middle band |a| < m / 2 and beyond a mode
(|a| >= m + NEAR), and the mean reward, mean ± std over seeds. The plot shows, for the first
seed, the data with r(a), and per algorithm the samples of the model it draws from (the diffusion
behavior models; IQL's Gaussian policy) and its evaluation actions. The settings were chosen on seed
100 only (``TUNING_SEED``); the evaluation seeds default to 0, 1, 2.

Writes ``benchmarks/results/claims/bimodal/{record.json, table.md, samples.png}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.claims import outputs
from jaxrl_offline.algorithms import idql, iql, sfbc
from jaxrl_offline.local_suite import synthetic
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import training
from jaxrl_offline.types import Transition

MODE = 0.7  # The two good actions, +-MODE.
NEAR = 0.15  # An action within NEAR of +-MODE counts as "at a mode".
OBS_DIM = 2  # The state is uniform noise the reward ignores (a trivial state).
NUM_TRANSITIONS = 1024
NUM_EVAL_STATES = 256
NUM_SAMPLES = 2000  # Behavior-model (or Gaussian policy) samples drawn for the plot.
EVAL_FOLD = 2**31 - 1  # Folded into the data key for evaluation keys; never a step index.
TUNING_SEED = 100  # The only seed the settings below were tried on; never an evaluation seed.
# What was tried on TUNING_SEED (600 updates unless said): IQL and IDQL with the settings of
# tests/test_idql_sfbc.py's bimodal tests (IQL 0% of actions at a mode, 100% in the middle; IDQL
# 100% at a mode). SfBC with 32 candidates acted on the right side but beyond the mode (45% within
# 0.15 of it at 600 updates, 62% at 1500; a (64, 64) critic: 45%): the near-argmax over many
# candidates picks the behavior model's tail where the small critic overestimates r. With 8
# candidates: 82%. Hence SfBC's num_candidates=8 below (and critic_batch_size=128, not 16).
TRIED = ("on seed 100: SfBC with 32 candidates acted beyond the mode (45% at a mode; 62% after "
         "1500 updates; 45% with a (64, 64) critic); with 8 candidates 82%, the setting used")
OUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "results" / "claims" / "bimodal"

SMALL = dict(critic_hidden_dims=(32, 32))
CONFIGS = {
    "iql": iql.Config(actor_hidden_dims=(32, 32), value_hidden_dims=(32, 32), batch_size=128,
                      cosine_decay_steps=None, **SMALL),
    "idql": idql.Config(denoiser_hidden_dims=(32, 32), time_features=16, time_hidden_dims=(32,),
                        value_hidden_dims=(32, 32), batch_size=128, critic_every=1,
                        actor_lr=2e-3, critic_lr=1e-3, value_lr=1e-3, cosine_decay_steps=None,
                        num_candidates=32, actor_tau=0.05, **SMALL),
    "sfbc": sfbc.Config(score_unet_hidden_dims=(32, 32), behavior_lr=1e-3, batch_size=128,
                        critic_batch_size=128, num_value_samples=1, planning_iterations=1,
                        planning_backup="next_state", num_candidates=8, num_selected=1, **SMALL),
}
ALGOS = {"iql": iql, "idql": idql, "sfbc": sfbc}


def bimodal_reward(action: np.ndarray, mode: float = MODE) -> np.ndarray:
    """r(a) = 1 - min over the modes of the squared distance / m^2: 1 at +-m, 0 at a = 0."""
    return synthetic.bimodal_probe_reward(action, mode)


def bimodal_task(n: int, seed: int, mode: float = MODE, middle_fraction: float = 0.25,
                 noise: float = 0.05) -> Transition:
    """The claim's dataset: a one-step bandit (terminal = 1) with two good modes and a bad middle.

    ``n - round(n * middle_fraction)`` actions at +-mode (``synthetic.bimodal_probe``: a fair coin
    per row plus N(0, noise^2)), then the rest uniform on [-1, 1]; obs uniform in [-1, 1]^2 and
    ignored by the reward ``bimodal_reward``.

    Returns:
      ``Transition`` of float32 numpy arrays with N = n.
    """
    if not 0.0 <= middle_fraction < 1.0:
        raise ValueError(f"middle_fraction must be in [0, 1), got {middle_fraction}")
    spread_n = int(round(n * middle_fraction))
    modes = synthetic.bimodal_probe(n - spread_n, seed, obs_dim=OBS_DIM, mode=mode, noise=noise)
    rng = np.random.default_rng([seed, 1])
    action = rng.uniform(-1, 1, (spread_n, 1)).astype(np.float32)
    spread = Transition(obs=rng.uniform(-1, 1, (spread_n, OBS_DIM)).astype(np.float32),
                        action=action, reward=bimodal_reward(action, mode),
                        next_obs=rng.uniform(-1, 1, (spread_n, OBS_DIM)).astype(np.float32),
                        terminal=np.ones(spread_n, np.float32))
    return Transition(*(np.concatenate([a, b]) for a, b in zip(modes, spread)))


def action_stats(action: np.ndarray, mode: float = MODE) -> dict[str, float]:
    """Fractions of [K] or [K, 1] actions at a mode (within NEAR), in the middle (|a| < m / 2) and
    beyond a mode (|a| >= m + NEAR), and their mean reward."""
    action = np.asarray(action, np.float64).reshape(-1, 1)
    return {"at_mode": float(np.mean(np.abs(np.abs(action[:, 0]) - mode) < NEAR)),
            "middle": float(np.mean(np.abs(action[:, 0]) < mode / 2)),
            "beyond": float(np.mean(np.abs(action[:, 0]) >= mode + NEAR)),
            "reward": float(np.mean(bimodal_reward(action, mode)))}


def samples(name: str, config, state, obs: jax.Array, key: jax.Array) -> jax.Array:
    """[K, 1] samples of the model each policy draws from: IDQL's and SfBC's diffusion behavior
    models (IDQL: EMA weights), IQL's Gaussian policy."""
    if name == "idql":
        return idql.sample_actions(config, state, obs, key)
    if name == "sfbc":
        return sfbc.sample_behavior(config, state.behavior.params, state.behavior.apply_fn, obs,
                                    key)
    return iql.explore(config, state, obs, key)


def config_for(name: str, num_updates: int):
    """``CONFIGS[name]``, with SfBC's phase schedule (``total_steps``) set to ``num_updates``."""
    if name == "sfbc":
        return dataclasses.replace(CONFIGS[name], total_steps=num_updates)
    return CONFIGS[name]


@functools.cache
def trainer(name: str, num_updates: int):
    """One jitted program per algorithm: train one seed, then act and sample at new states."""
    algo, config = ALGOS[name], config_for(name, num_updates)
    train_chunk = training.make_train_chunk(algo, config, num_updates)

    @jax.jit
    def run(dataset, seed):
        state, data_key = training.init_agent(algo, config, seed, dataset)
        state, _ = train_chunk(state, data_key, dataset)
        obs_key, act_key, sample_key = jax.random.split(jax.random.fold_in(data_key, EVAL_FOLD), 3)
        obs = jax.random.uniform(obs_key, (NUM_EVAL_STATES, OBS_DIM), minval=-1.0, maxval=1.0)
        sample_obs = jnp.tile(obs, (NUM_SAMPLES // NUM_EVAL_STATES + 1, 1))[:NUM_SAMPLES]
        return (algo.act(config, state, obs, act_key),
                samples(name, config, state, sample_obs, sample_key))

    return run


def run_claim(seeds: list[int], num_updates: int) -> dict:
    """Trains every algorithm on every seed; the record (without the plot's samples)."""
    per_algo, arrays = {}, {}
    for name in ALGOS:
        start = time.perf_counter()
        stats, kept = [], None
        for seed in seeds:
            dataset = jax.tree.map(jnp.asarray, bimodal_task(NUM_TRANSITIONS, 1000 + seed))
            action, sampled = jax.device_get(trainer(name, num_updates)(dataset, seed))
            stats.append(action_stats(action))
            if kept is None:
                kept = {"actions": np.asarray(action)[:, 0], "samples": np.asarray(sampled)[:, 0]}
        arrays[name] = kept
        per_algo[name] = {
            "per_seed": stats,
            **{f"{k}_mean": float(np.mean([s[k] for s in stats])) for k in stats[0]},
            **{f"{k}_std": float(np.std([s[k] for s in stats])) for k in stats[0]},
            "sample_stats": action_stats(kept["samples"]),
            "wall_s": time.perf_counter() - start,
            "config": dataclasses.asdict(config_for(name, num_updates)),
        }
    data = bimodal_task(NUM_TRANSITIONS, 1000 + seeds[0])
    arrays["data"] = {"actions": data.action[:, 0], "reward": data.reward}
    return {"algorithms": per_algo, "data_stats": action_stats(data.action)}, arrays


def verdict(algorithms: dict) -> str:
    """The claim's outcome in words, from the per-algorithm means: a diffusion policy "picks a
    mode" with >= 80% of its actions within ``NEAR`` of one, IQL "averages" with >= 80% of its
    actions in the middle band."""
    picks = [n for n in ("idql", "sfbc") if algorithms[n]["at_mode_mean"] >= 0.8]
    averages = algorithms["iql"]["middle_mean"] >= 0.8
    if len(picks) == 2 and averages:
        return ("Reproduced: IDQL and SfBC act at a mode (>= 80% of actions), the Gaussian AWR "
                "policy (IQL) averages into the bad middle (>= 80% of actions).")
    misses = [f"{n} has {algorithms[n]['at_mode_mean']:.0%} of its actions at a mode and "
              f"{algorithms[n]['middle_mean']:.0%} in the middle"
              for n in ("idql", "sfbc") if n not in picks]
    at_mode = ", ".join(picks) or "neither diffusion policy"
    return (f"Not fully reproduced: at a mode (>= 80% of actions): {at_mode}; "
            + "; ".join(misses) + f"; IQL in the middle (>= 80%): {'yes' if averages else 'no'}.")


def table_markdown(record: dict) -> str:
    """The claim's table: per algorithm, actions at a mode / in the middle and the mean reward."""
    rows = ["| policy | actions at a mode | actions in the middle | actions beyond a mode | "
            "mean reward |", "|---|---|---|---|---|"]
    data = record["data_stats"]
    rows.append(f"| behavior data (seed {record['seeds'][0]}'s dataset) | {data['at_mode']:.2f} | "
                f"{data['middle']:.2f} | {data['beyond']:.2f} | {data['reward']:.2f} |")
    for name, cell in record["algorithms"].items():
        rows.append(f"| {name} | {cell['at_mode_mean']:.2f} ± {cell['at_mode_std']:.2f} | "
                    f"{cell['middle_mean']:.2f} ± {cell['middle_std']:.2f} | "
                    f"{cell['beyond_mean']:.2f} ± {cell['beyond_std']:.2f} | "
                    f"{cell['reward_mean']:.2f} ± {cell['reward_std']:.2f} |")
    return "\n".join([
        f"Bimodal bandit (modes ±{record['mode']}, r = 1 there, 0 at a = 0): evaluation actions "
        f"of each policy at {NUM_EVAL_STATES} new states, mean ± std over seeds "
        f"{', '.join(map(str, record['seeds']))} ({record['updates']:,} updates each). "
        f"At a mode: within {NEAR} of ±{record['mode']}; middle: |a| < {record['mode'] / 2}; "
        f"beyond: |a| >= {record['mode'] + NEAR:.2f}.",
        "", *rows, "", f"**{record['verdict']}**", "",
        f"Settings chosen on seed {record['tuning_seed']} only; tried: {record['tried']}.", ""])


def plot(arrays: dict, path: pathlib.Path, seed: int) -> None:
    """Data histogram, then per algorithm its model's samples and its evaluation actions."""
    from jaxrl_offline.reporting import plots

    names = list(ALGOS)
    fig, axes = plots.new_figure(1, len(names) + 1, figsize=(4 * (len(names) + 1), 3.2),
                                 sharex=True)
    bins = np.linspace(-1, 1, 41)
    grid = np.linspace(-1, 1, 201)[:, None]
    axes[0].hist(arrays["data"]["actions"], bins=bins, color="gray", density=True)
    twin = axes[0].twinx()
    twin.plot(grid[:, 0], bimodal_reward(grid), color="black", lw=1)
    twin.set_ylabel("reward r(a)")
    axes[0].set_title("behavior data")
    labels = {"iql": "Gaussian policy samples", "idql": "diffusion behavior samples",
              "sfbc": "diffusion behavior samples"}
    for ax, name in zip(axes[1:], names):
        ax.hist(arrays[name]["samples"], bins=bins, density=True, alpha=0.5, label=labels[name])
        ax.hist(arrays[name]["actions"], bins=bins, density=True, alpha=0.7,
                label="evaluation actions")
        ax.set_title(name)
        ax.legend(fontsize=7)
    for ax in axes:
        ax.axvspan(-MODE / 2, MODE / 2, color="red", alpha=0.08)
        ax.set_xlabel("action")
    fig.suptitle(f"Bimodal bandit, seed {seed} (red band: the bad middle)")
    plots.write_figure(fig, path, dpi=80)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.claims --claim=bimodal")
    parser.add_argument("--part", default="bandit", choices=("bandit", "locomotion"))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated evaluation seeds")
    parser.add_argument("--updates", type=int, default=600, help="updates per seed")
    parser.add_argument("--out", default=str(OUT_DIR), help="output folder")
    args, rest = parser.parse_known_args(argv)
    if args.part == "locomotion":
        from benchmarks.claims import bimodal_locomotion

        return bimodal_locomotion.main([a for a in argv if not a.startswith("--part")])
    if rest:
        parser.error(f"unknown arguments {rest}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if not seeds or (TUNING_SEED in seeds and pathlib.Path(args.out) == OUT_DIR):
        parser.error(f"--seeds must be non-empty evaluation seeds; the tuning seed {TUNING_SEED} "
                     f"may only be written outside {OUT_DIR} (--out); got {args.seeds!r}")
    start = time.perf_counter()
    provenance = results.record_provenance(jax.devices())  # Before training: the code that runs.
    body, arrays = run_claim(seeds, args.updates)
    out = pathlib.Path(args.out)
    record = {
        "schema": "jaxrl_offline/claim-v1", "claim": "bimodal",
        "command": "python -m benchmarks.claims --claim=bimodal"
                   + ("" if argv == [] else " " + " ".join(argv)),
        "seeds": seeds, "tuning_seed": TUNING_SEED, "updates": args.updates, "mode": MODE,
        "num_transitions": NUM_TRANSITIONS, **body,
        **provenance,
        "plot": "samples.png", "table": "table.md", "tried": TRIED,
    }
    record["verdict"] = verdict(record["algorithms"])
    record["wall_s"] = time.perf_counter() - start
    outputs.write_outputs(record, out, lambda _, path: plot(arrays, path, seeds[0]),
                          table_markdown)
    return 0
