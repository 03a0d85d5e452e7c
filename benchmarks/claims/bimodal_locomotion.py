"""SfBC and IDQL claim, locomotion part: on hopper data whose behavior has two known action modes
at every state, the diffusion behavior models keep both modes; a Gaussian fit puts its mass and
its mean action between them.

    python -m benchmarks.claims --claim=bimodal --part=locomotion [--seeds=0,1,2]
        [--updates=10000] [--batch_size=256] [--num_transitions=200000]
        [--out=benchmarks/results/claims/bimodal_locomotion]

**The data (``mixture_data``), a probe with a known answer.** Hopper episodes in which, at every
step, a fair coin picks the local suite's medium or expert SAC behavior policy and that policy
samples the action (tanh(mu + sigma eps), as the suite's datasets do). The behavior at any state
is therefore exactly pi_b(a|s) = 1/2 pi_medium(a|s) + 1/2 pi_expert(a|s): two modes, at the
policies' mean actions m_M(s) = tanh(mu_M(s)) and m_E(s) = tanh(mu_E(s)). Unlike the suite's
``medium-expert`` (whole episodes of one policy, so the two policies mostly visit different
states), every state here has both modes, so a behavior model's fidelity can be measured state by
state against the truth. Episode i's reset seed, coins and noise depend only on (seed, i)
(``rollout.collect_episodes``).

**The measure.** On held-out states of the same process (a different seed) whose modes are apart,
|m_E(s) - m_M(s)| >= ``MIN_SEPARATION``, every action a is placed on the segment between the modes
by t(a) = <a - m_M, m_E - m_M> / |m_E - m_M|^2 (0: the medium mode, 1: the expert mode, 1/2 the
midpoint). Per model: the fraction of samples "in the middle" (|t - 1/2| < ``BAND``), "at a mode"
(within ``BAND`` of 0 or 1), and the 1-Wasserstein distance between its t's and the t's of exact
draws from pi_b at the same states (lower: closer to the behavior). The Gaussian's mean action
(what a Gaussian BC or AWR policy acts with) is reported as its own row.

**The models**, each trained by its method's own loss on (s, a) of the data for ``--updates``
updates, one seed after another: ``gaussian`` (a tanh-Gaussian MLP, 2 x 256, the architecture of
the behavior policies themselves, fitted by maximum likelihood, Adam 3e-4: the unimodal model of
a Gaussian BC / AWR policy), ``idql`` (IDQL's DDPM behavior model, its ``actor_loss`` and EMA,
defaults otherwise; sampled from the EMA weights, T = 5) and ``sfbc`` (SfBC's VP-SDE score
U-Net, its ``behavior_loss``, defaults otherwise; DPM-Solver, 15 steps). Only the behavior models
are trained: the claim is about what they represent; the bandit part (``bimodal``) shows the
policies acting. Budget: ``--batch_size`` (default 256) replaces the papers' behavior batches
(IDQL 1024 in the paper, SfBC 4096) and ``--updates`` their millions of updates (IDQL: 3M actor
steps; SfBC: 600 data epochs); the record and the table say so. Nothing here was tuned: the
constants below were fixed before the first run, which used the evaluation seeds.

Writes ``<out>/{record.json, table.md, samples.png}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import pathlib
import time

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.claims import outputs
from jaxrl_offline import losses, networks
from jaxrl_offline import state as state_lib
from jaxrl_offline.algorithms import idql, sfbc
from jaxrl_offline.local_suite import locomotion, rollout
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import training
from jaxrl_offline.types import Transition

ENV = "hopper"
LEVELS = ("medium", "expert")  # The two modes: t = 0 and t = 1.
DATA_SEED, HELDOUT_SEED = 0, 1  # Rollout seeds of the training data and of the held-out states.
ROLLOUT_KEY = 9001  # Second entropy word of every episode seed, apart from the suite's parts.
NUM_HELDOUT_TRANSITIONS = 50_000  # Held-out rollout steps the evaluation states are drawn from.
NUM_EVAL_STATES = 1024
MIN_SEPARATION = 1.0  # |m_E - m_M| (Euclidean, in [-1, 1]^3) of an evaluation state.
SAMPLES_PER_STATE = 8
BAND = 0.25  # Half-width of the "middle" and "at a mode" bands on t.
MODELS = ("gaussian", "idql", "sfbc")
FULL_UPDATES, FULL_BATCH = 1_000_000, 512  # What ``is_reduced`` compares a run with.
OUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "results" / "claims" / "bimodal_locomotion"


# --- Data ----------------------------------------------------------------------------------------


def load_policies():
    """The local suite's (medium, expert) hopper behavior policies and their SHA-256s."""
    loaded = [locomotion.load_policy(ENV, level) for level in LEVELS]
    return (tuple(policy for policy, _ in loaded),
            {lvl: sha for lvl, (_, sha) in zip(LEVELS, loaded)})


def mixture_policy(policies):
    """The batch policy of ``rollout.collect_episodes``: per row, a coin (``rng.random() < 1/2``
    picks ``policies[0]``) and standard-normal noise from the row's own generator, then that
    policy's sampled action."""
    def act(obs: np.ndarray, rngs: list) -> np.ndarray:
        first = np.array([rng.random() < 0.5 for rng in rngs])
        noise = np.stack([rng.standard_normal(policies[0].action_dim) for rng in rngs])
        actions = [policy(obs, deterministic=False, noise=noise.astype(np.float32))
                   for policy in policies]
        return np.where(first[:, None], actions[0], actions[1]).astype(np.float32)
    return act


def mixture_data(policies, num_transitions: int, seed: int,
                 num_envs: int = 16) -> tuple[Transition, int]:
    """``num_transitions`` hopper steps of the per-step mixture behavior: a ``Transition`` of
    float32 numpy arrays (terminal: the env's termination, never a time limit) and the number of
    episodes (the last one cut to the budget)."""
    env_fn = functools.partial(gym.make, locomotion.get_env(ENV).env_id)
    probe = env_fn()
    if not (np.all(probe.action_space.low == -1) and np.all(probe.action_space.high == 1)):
        raise ValueError(f"{ENV}: the policies act in [-1, 1], the env in "
                         f"[{probe.action_space.low}, {probe.action_space.high}]")
    probe.close()
    episodes = rollout.collect_episodes(env_fn, mixture_policy(policies), num_transitions,
                                        (seed, ROLLOUT_KEY), num_envs)
    cat = lambda key, cut=slice(None): np.concatenate(
        [episode[key][cut] for episode in episodes]).astype(np.float32)
    return Transition(obs=cat("obs", slice(None, -1)), action=cat("action"), reward=cat("reward"),
                      next_obs=cat("obs", slice(1, None)), terminal=cat("terminal")), len(episodes)


def mode_actions(policy, obs: np.ndarray) -> np.ndarray:
    """The policy's mode tanh(mu(s)) at obs [N, obs_dim] -> [N, action_dim]."""
    return policy(obs, deterministic=True)


def behavior_samples(policies, obs: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` exact draws of pi_b(.|s) per row of obs: [N, count, action_dim]."""
    rng = np.random.default_rng([seed, 7])
    first = rng.random((obs.shape[0], count)) < 0.5
    noise = rng.standard_normal((count, *obs.shape[:1], policies[0].action_dim)).astype(np.float32)
    draws = np.stack([[policy(obs, deterministic=False, noise=noise[k]) for k in range(count)]
                      for policy in policies])  # [2, count, N, A]
    return np.where(first.T[:, :, None], draws[0], draws[1]).transpose(1, 0, 2)


def evaluation_states(policies, heldout: Transition, num_states: int | None = None,
                      min_separation: float = MIN_SEPARATION):
    """The first ``num_states`` (default ``NUM_EVAL_STATES``) held-out states whose modes are at
    least ``min_separation`` apart: (obs [S, obs_dim], m_M [S, A], m_E [S, A], the fraction of
    states that qualified)."""
    num_states = NUM_EVAL_STATES if num_states is None else num_states
    medium, expert = (mode_actions(policy, heldout.obs) for policy in policies)
    apart = np.linalg.norm(expert - medium, axis=-1) >= min_separation
    picked = np.flatnonzero(apart)[:num_states]
    if picked.size < num_states:
        raise ValueError(f"only {picked.size} held-out states have modes >= {min_separation} "
                         f"apart; need {num_states}: generate more held-out steps")
    return heldout.obs[picked], medium[picked], expert[picked], float(apart.mean())


def segment_position(actions: np.ndarray, medium: np.ndarray, expert: np.ndarray) -> np.ndarray:
    """t(a) = <a - m_M, m_E - m_M> / |m_E - m_M|^2 for actions [S, K, A] and modes [S, A]: [S, K]
    (0 at the medium mode, 1 at the expert mode)."""
    direction = expert - medium
    return (np.einsum("ska,sa->sk", actions - medium[:, None], direction)
            / np.sum(direction**2, axis=-1)[:, None])


def wasserstein_1d(x: np.ndarray, y: np.ndarray) -> float:
    """W1 between two equal-size 1-D samples: the mean gap of their sorted values."""
    x, y = np.sort(np.ravel(x)), np.sort(np.ravel(y))
    if x.size != y.size:
        raise ValueError(f"samples of different sizes: {x.size} and {y.size}")
    return float(np.mean(np.abs(x - y)))


def position_stats(t: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Fractions of t in the middle band and at a mode, and W1 to the behavior's ``reference``."""
    t = np.ravel(t)
    return {"middle": float(np.mean(np.abs(t - 0.5) < BAND)),
            "at_mode": float(np.mean(np.minimum(np.abs(t), np.abs(t - 1.0)) < BAND)),
            "w1": wasserstein_1d(t, np.resize(np.ravel(reference), t.size))}


# --- Models --------------------------------------------------------------------------------------


def gaussian_nll(params, apply_fn, batch: Transition):
    """-mean log pi(a|s) of a tanh-Gaussian at the dataset actions (maximum likelihood)."""
    log_prob = losses.gaussian_log_prob_clipped(apply_fn(params, batch.obs), batch.action)
    loss = -log_prob.mean()
    return loss, {"loss": loss}


def model_config(name: str, updates: int, batch_size: int):
    """IDQL's / SfBC's default ``Config`` with ``batch_size`` (IDQL: cosine decay over
    ``updates``); the Gaussian's is its network width."""
    if name == "idql":
        return idql.Config(batch_size=batch_size, critic_batch_size=min(256, batch_size),
                           cosine_decay_steps=updates)
    if name == "sfbc":
        return sfbc.Config(batch_size=batch_size, critic_batch_size=min(256, batch_size),
                           total_steps=updates)
    return {"hidden_dims": (256, 256), "learning_rate": 3e-4, "batch_size": batch_size}


def init_model(name: str, config, key, example_obs, example_action):
    if name == "gaussian":
        net = networks.TanhGaussianActor(config["hidden_dims"], example_action.shape[-1])
        return state_lib.create_train_state(net, key, (example_obs[None],),
                                            optax.adam(config["learning_rate"]))
    return {"idql": idql, "sfbc": sfbc}[name].init(config, key, example_obs, example_action)


def model_step(name: str, config, state, batch: Transition, key):
    """One update of the model by its method's behavior loss (IDQL: then its EMA)."""
    if name == "gaussian":
        state, _ = state_lib.gradient_step(gaussian_nll, state, state.apply_fn, batch)
        return state
    if name == "idql":
        actor, _ = state_lib.gradient_step(idql.actor_loss, state.actor, state, batch, key, config)
        rate, _ = idql.ema_rate(config, state.step)
        return state.replace(actor=state_lib.soft_update(actor, rate), step=state.step + 1)
    behavior, _ = state_lib.gradient_step(sfbc.behavior_loss, state.behavior, state, batch, key,
                                          config)
    return state.replace(behavior=behavior, step=state.step + 1)


def model_samples(name: str, config, state, obs: jax.Array, key) -> jax.Array:
    """One sample per row of obs [N, obs_dim] -> [N, A] (IDQL: EMA weights)."""
    if name == "gaussian":
        return networks.sample_and_log_prob(state.apply_fn(state.params, obs), key)[0]
    if name == "idql":
        return idql.sample_actions(config, state, obs, key)
    return sfbc.sample_behavior(config, state.behavior.params, state.behavior.apply_fn, obs, key)


def gaussian_mean_action(state, obs: jax.Array) -> jax.Array:
    """tanh of the Gaussian's pre-tanh mean: the action a Gaussian BC / AWR policy takes."""
    return jnp.tanh(state.apply_fn(state.params, obs).distribution.mean())


@functools.cache
def trainer(name: str, updates: int, batch_size: int):
    """One jitted program per model: init, ``updates`` scanned updates, then ``SAMPLES_PER_STATE``
    samples at each evaluation state (and the Gaussian's mean action)."""
    config = model_config(name, updates, batch_size)

    @jax.jit
    def run(dataset: Transition, seed, eval_obs):
        init_key, data_key = training.seed_keys(seed)
        state = init_model(name, config, init_key, dataset.obs[0], dataset.action[0])

        def body(state, step_key):
            batch_key, loss_key = jax.random.split(step_key)
            batch = training.sample_batch(dataset, batch_key, batch_size)
            return model_step(name, config, state, batch, loss_key), None

        train_key, sample_key = jax.random.split(data_key)
        state, _ = jax.lax.scan(body, state, jax.random.split(train_key, updates))
        repeated = jnp.repeat(eval_obs, SAMPLES_PER_STATE, axis=0)
        sampled = model_samples(name, config, state, repeated, sample_key)
        sampled = sampled.reshape(eval_obs.shape[0], SAMPLES_PER_STATE, -1)
        mean = gaussian_mean_action(state, eval_obs) if name == "gaussian" else None
        return sampled, mean

    return config, run


# --- Claim ---------------------------------------------------------------------------------------


def run_claim(seeds: list[int], updates: int, batch_size: int, num_transitions: int) -> tuple:
    """Data, held-out states, every model on every seed: (record body, arrays for the plot)."""
    policies, hashes = load_policies()
    started = time.perf_counter()
    data, num_episodes = mixture_data(policies, num_transitions, DATA_SEED)
    heldout, _ = mixture_data(policies, NUM_HELDOUT_TRANSITIONS, HELDOUT_SEED)
    obs, medium, expert, qualified = evaluation_states(policies, heldout)
    data_s = time.perf_counter() - started
    truth = segment_position(behavior_samples(policies, obs, SAMPLES_PER_STATE, HELDOUT_SEED),
                             medium, expert)
    behavior = position_stats(truth, truth)
    dataset = jax.tree.map(jnp.asarray, data)
    per_model, arrays = {}, {"behavior": truth.ravel()}
    for name in MODELS:
        start, stats, mean_stats = time.perf_counter(), [], []
        config, run = trainer(name, updates, batch_size)
        for seed in seeds:
            sampled, mean = jax.device_get(run(dataset, seed, jnp.asarray(obs)))
            t = segment_position(np.asarray(sampled, np.float64), medium, expert)
            stats.append(position_stats(t, truth))
            arrays.setdefault(name, t.ravel())
            if mean is not None:
                mean_t = segment_position(np.asarray(mean, np.float64)[:, None], medium, expert)
                mean_stats.append(position_stats(np.repeat(mean_t, SAMPLES_PER_STATE, 1), truth))
                arrays.setdefault("gaussian_mean", mean_t.ravel())
        per_model[name] = summarize(stats, time.perf_counter() - start, config)
        if mean_stats:
            per_model["gaussian_mean"] = summarize(mean_stats, 0.0, config)
    body = {"models": per_model, "behavior": behavior, "policy_sha256": hashes,
            "num_eval_states": NUM_EVAL_STATES, "qualified_fraction": qualified,
            "data": {"transitions": int(data.reward.shape[0]),
                     "episodes": num_episodes,
                     "mean_reward": float(data.reward.mean()), "generation_s": data_s}}
    return body, arrays


def summarize(stats: list[dict], wall_s: float, config) -> dict:
    keys = stats[0]
    return {"per_seed": stats,
            **{f"{k}_mean": float(np.mean([s[k] for s in stats])) for k in keys},
            **{f"{k}_std": float(np.std([s[k] for s in stats])) for k in keys},
            "wall_s": wall_s,
            "config": config if isinstance(config, dict) else dataclasses.asdict(config)}


def verdict(record: dict) -> str:
    """Reproduced when, on every seed, both diffusion models are closer to the behavior (W1 of t)
    than the Gaussian's samples, and the Gaussian's mean action lies in the middle band at least
    twice as often as the behavior's own draws do."""
    models = record["models"]
    gaussian_w1 = [s["w1"] for s in models["gaussian"]["per_seed"]]
    closer = {name: all(s["w1"] < g for s, g in zip(models[name]["per_seed"], gaussian_w1))
              for name in ("idql", "sfbc")}
    averages = models["gaussian_mean"]["middle_mean"] >= 2 * record["behavior"]["middle"]
    if all(closer.values()) and averages:
        return ("Reproduced: on every seed IDQL's and SfBC's behavior models are closer to the "
                "two-mode behavior than the Gaussian fit, whose mean action sits in the middle "
                f"{models['gaussian_mean']['middle_mean']:.0%} of the time (behavior draws: "
                f"{record['behavior']['middle']:.0%}).")
    misses = [f"{name} is not closer than the Gaussian on every seed"
              for name, ok in closer.items() if not ok]
    if not averages:
        misses.append(f"the Gaussian's mean action is in the middle only "
                      f"{models['gaussian_mean']['middle_mean']:.0%} of the time (behavior "
                      f"{record['behavior']['middle']:.0%})")
    return "Not reproduced: " + "; ".join(misses) + "."


def budget_line(record: dict) -> str:
    return (f"Budget: {record['updates']:,} updates of batch {record['batch_size']} per model "
            f"and seed (the papers: IDQL 3M actor updates of batch 1024 (paper) / 512 (code); "
            f"SfBC 600 data epochs of batch 4096)"
            + (", so **a reduced run**: the models are compared with each other at one budget, "
               "not at the papers' fidelity." if is_reduced(record) else "."))


def is_reduced(record: dict) -> bool:
    """Below the papers' behavior-model budgets: fewer than ``FULL_UPDATES`` updates or a batch
    below ``FULL_BATCH`` (IDQL's code; SfBC's is 4096, for ~146k updates)."""
    return record["updates"] < FULL_UPDATES or record["batch_size"] < FULL_BATCH


def table_markdown(record: dict) -> str:
    rows = ["| samples of | in the middle | at a mode | W1 to the behavior |", "|---|---|---|---|"]
    behavior = record["behavior"]
    rows.append(f"| the behavior pi_b (exact draws) | {behavior['middle']:.2f} | "
                f"{behavior['at_mode']:.2f} | 0 |")
    labels = {"gaussian": "Gaussian fit (samples)", "gaussian_mean": "Gaussian fit (mean action)",
              "idql": "IDQL diffusion (EMA)", "sfbc": "SfBC score model"}
    for name, cell in record["models"].items():
        rows.append(f"| {labels[name]} | {cell['middle_mean']:.2f} ± {cell['middle_std']:.2f} | "
                    f"{cell['at_mode_mean']:.2f} ± {cell['at_mode_std']:.2f} | "
                    f"{cell['w1_mean']:.3f} ± {cell['w1_std']:.3f} |")
    data = record["data"]
    return "\n".join([
        f"Hopper, behavior = a fair coin per step between the medium and the expert SAC policy "
        f"({data['transitions']:,} transitions, {data['episodes']:,} episodes). At "
        f"{record['num_eval_states']} held-out states whose two modes are >= "
        f"{record['min_separation']} apart ({record['qualified_fraction']:.0%} of states "
        f"qualify), each action's position t on the segment from the medium mode (0) to the "
        f"expert mode (1): fraction in the middle (|t - 0.5| < {record['band']}), at a mode "
        f"(within {record['band']} of 0 or 1), and the 1-Wasserstein distance of t to the "
        f"behavior's; {record['samples_per_state']} samples per state, mean ± std over seeds "
        f"{', '.join(map(str, record['seeds']))}.",
        "", budget_line(record), "", *rows, "", f"**{record['verdict']}**", ""])


def plot(arrays: dict, path: pathlib.Path, seed: int) -> None:
    """Histograms of t: the behavior, then each model's samples (the Gaussian: and its mean)."""
    from jaxrl_offline.reporting import plots

    panels = [("gaussian", "Gaussian fit"), ("idql", "IDQL diffusion"), ("sfbc", "SfBC score")]
    fig, axes = plots.new_figure(1, len(panels), figsize=(4.2 * len(panels), 3.2), sharey=True)
    bins = np.linspace(-1.0, 2.0, 61)
    for ax, (name, title) in zip(axes, panels):
        ax.hist(arrays["behavior"], bins=bins, density=True, color="gray", alpha=0.5,
                label="behavior (exact)")
        ax.hist(arrays[name], bins=bins, density=True, histtype="step", lw=1.5,
                label="model samples")
        if name == "gaussian":
            ax.hist(arrays["gaussian_mean"], bins=bins, density=True, histtype="step", lw=1.5,
                    label="mean action")
        ax.axvspan(0.5 - BAND, 0.5 + BAND, color="red", alpha=0.08)
        ax.set_title(title)
        ax.set_xlabel("t (0: medium mode, 1: expert mode)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Hopper per-step medium/expert mixture, seed {seed} (red: the middle)")
    plots.write_figure(fig, path, dpi=80)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.claims --claim=bimodal --part=locomotion")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated model seeds")
    parser.add_argument("--updates", type=int, default=10_000, help="updates per model and seed")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--num_transitions", type=int, default=200_000)
    parser.add_argument("--out", default=str(OUT_DIR), help="output folder")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if not seeds or min(args.updates, args.batch_size, args.num_transitions) < 1:
        parser.error(f"need seeds and positive --updates, --batch_size, --num_transitions; got "
                     f"{args.seeds!r}, {args.updates}, {args.batch_size}, {args.num_transitions}")
    start = time.perf_counter()
    provenance = results.record_provenance(jax.devices())  # Before training: the code that runs.
    body, arrays = run_claim(seeds, args.updates, args.batch_size, args.num_transitions)
    out = pathlib.Path(args.out)
    record = {
        "schema": "jaxrl_offline/claim-v1", "claim": "bimodal_locomotion",
        "command": "python -m benchmarks.claims --claim=bimodal --part=locomotion"
                   + "".join(f" {arg}" for arg in argv),
        "seeds": seeds, "updates": args.updates, "batch_size": args.batch_size,
        "env": ENV, "levels": list(LEVELS), "min_separation": MIN_SEPARATION, "band": BAND,
        "samples_per_state": SAMPLES_PER_STATE, **body,
        **provenance,
        "plot": "samples.png", "table": "table.md",
    }
    record["verdict"] = verdict(record)
    record["wall_s"] = time.perf_counter() - start
    outputs.write_outputs(record, out, lambda _, path: plot(arrays, path, seeds[0]),
                          table_markdown)
    return 0
