r"""Trains the SAC behavior policies of the local D4RL-style suite, resumably, and exports them.

    python -m experiments.train_behavior --env=hopper --steps=1000000      # train (resumes)
    python -m experiments.train_behavior --env=hopper --export             # ship the policies

Training writes under ``--workdir`` (default ``$JAXRL_OFFLINE_STATE/behavior/<env>``, where
``JAXRL_OFFLINE_STATE`` defaults to ``~/.jaxrl_offline``: outside the repository, so a checkout,
``git clean`` or CI never touches hours of training):

* ``checkpoint/``: the full online state (agent, replay buffer, keys) every
  ``--checkpoint_every`` env steps and at the end of every invocation, so a run killed or stopped
  by ``--max_minutes`` continues where it was (the episodes in progress restart);
* ``snapshots/step_<N>.npz``: the actor every ``--snapshot_every`` steps (``behavior.save``);
* ``history.json``: deterministic evaluation returns (``--eval_episodes`` episodes) per snapshot,
  and the training episode returns.

The full checkpoint holds a replay buffer of up to 1M rows (over 100 MB), too big to commit, and
the workdir is lost with the machine. So that training survives a lost machine, the run also keeps
a small **mirror** in the repository (``--mirror``, default
``benchmarks/results/behavior/<env>/``, committed with the project):

* ``history.json``, rewritten after every evaluation;
* ``agent.npz``: the agent alone (networks, optimizer states, temperature, keys; about 4 MB),
  written with every full checkpoint;
* ``snapshots/step_<N>.npz``: the actor snapshots that ``--export`` may still need: every one up to
  ``--mirror_snapshots_until`` (the medium and the medium-replay segments come from there) and,
  after it, each one that sets a new best evaluation (expert candidates).

Started with no full checkpoint but with a mirror, the run **resumes from the mirror**: the agent
and keys are restored and the replay buffer, which is not kept, is refilled with
``--refill_steps`` env steps of the restored policy's exploration before learning continues. Those
steps are not counted in the training steps; ``history["refills"]`` records each refill. This is
a warm restart, not a bit-exact resume (a run resumed from its full checkpoint is).

``--steps`` is the total to reach; rerunning with a larger value extends a finished run.
``--export`` chooses the levels from ``history.json`` and copies them into
``jaxrl_offline/local_suite/behavior_policies/<env>/`` with a ``manifest.json``:

* **expert**: the snapshot with the best evaluation return in the last ``--expert_window``
  fraction of training (evaluation returns are noisy from one snapshot to the next);
* **medium**: the first snapshot after the warm-up whose evaluation return reaches 80% of a third
  of the expert's (D4RL's medium is an early-stopped policy at about a third of the expert);
* **replay**: the snapshots before medium, which regenerate medium-replay: segment ``[s_k,
  s_{k+1})`` replays snapshot ``s_k``'s sampled actions, and the warm-up segment uniform actions.

``--medium_step=N --medium_reason=...`` overrides the medium rule (recorded in the manifest). The
shipped Hopper medium uses it: the rule's snapshot stood still for the whole 1,000 steps (return
1,000 = the alive bonus, no falls), unlike D4RL's medium, which hops and falls.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import sys
import time

from absl import app, flags

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxrl_offline.local_suite import behavior, envs, locomotion
from jaxrl_offline.runner import evaluation, online  # noqa: E402
from jaxrl_offline.runner.progress import GracefulInterrupt  # noqa: E402
from jaxrl_offline.algorithms import sac  # noqa: E402
from jaxrl_offline.runner.checkpoints import (RunCheckpointer, digest, flatten_arrays,  # noqa: E402
                                       unflatten_arrays)

FLAGS = flags.FLAGS
flags.DEFINE_string("env", "hopper", "Env of the suite: " + ", ".join(locomotion.ENVS))
flags.DEFINE_integer("steps", 1_000_000, "Total env steps to reach (the run resumes below it).")
flags.DEFINE_integer("seed", 0, "Seed of the run (agent, replay sampling, env resets).")
flags.DEFINE_string("workdir", None, "Run folder; default $JAXRL_OFFLINE_STATE/behavior/<env> "
                    "(JAXRL_OFFLINE_STATE defaults to ~/.jaxrl_offline).")
flags.DEFINE_string("mirror", None, "Committed mirror of the run (history, agent, snapshots); "
                    "default benchmarks/results/behavior/<env> ('' turns it off).")
flags.DEFINE_integer("mirror_snapshots_until", 200_000, "Mirror every snapshot up to this step; "
                     "after it only those setting a new best evaluation.")
flags.DEFINE_integer("refill_steps", 100_000, "Env steps of the restored policy that refill the "
                     "replay buffer when resuming from the mirror (no full checkpoint).")
flags.DEFINE_integer("snapshot_every", 10_000, "Env steps between actor snapshots + evaluations.")
flags.DEFINE_integer("checkpoint_every", 50_000, "Env steps between full checkpoints.")
flags.DEFINE_integer("eval_episodes", 10, "Deterministic evaluation episodes per snapshot.")
flags.DEFINE_integer("warmup_steps", 10_000, "Uniform-random env steps before SAC acts.")
flags.DEFINE_integer("update_every", 10, "Env steps between scanned update bursts (UTD stays 1).")
flags.DEFINE_float("max_minutes", None, "Stop (after a checkpoint) once this much time passed.")
flags.DEFINE_bool("export", False, "Export medium/expert/replay policies from the snapshots.")
flags.DEFINE_float("expert_window", 0.2, "Fraction of training at its end the expert comes from.")
flags.DEFINE_integer("medium_step", None, "With --export: ship this snapshot as medium instead "
                     "of the rule's choice (then say why in --medium_reason).")
flags.DEFINE_string("medium_reason", "", "With --medium_step: why, recorded in the manifest.")
flags.DEFINE_string("export_root", str(locomotion.POLICY_ROOT), "Where --export writes.")


def run_settings(warmup_steps: int, update_every: int) -> tuple[sac.Config, online.OnlineSettings]:
    return sac.Config(), online.OnlineSettings(
        num_envs=1, warmup_steps=warmup_steps, update_every=update_every, updates_per_step=1,
        buffer_capacity=1_000_000)


def spec_hash(env: str, seed: int, config, settings) -> str:
    """Hash of what determines the run, for its checkpoints and mirror.

    The SAC config is hashed in the spelling the first behavior runs were started with (one
    ``hidden_dims`` when the actor's and critic's sizes agree; SAC's fields were renamed to
    ``actor_hidden_dims``/``critic_hidden_dims`` later), so those runs still resume.
    """
    config_fields = dataclasses.asdict(config)
    if config_fields.get("actor_hidden_dims") == config_fields.get("critic_hidden_dims"):
        config_fields["hidden_dims"] = config_fields.pop("actor_hidden_dims")
        del config_fields["critic_hidden_dims"]
    spec = {"env": env, "seed": seed, "config": config_fields,
            "settings": dataclasses.asdict(settings)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def state_root() -> pathlib.Path:
    """Where long-running state (behavior-policy training) lives: outside the repository."""
    return pathlib.Path(os.environ.get("JAXRL_OFFLINE_STATE", "~/.jaxrl_offline")).expanduser()


def save_agent(path: pathlib.Path, step: int, state: online.LoopState, run_hash: str) -> None:
    """The agent and keys of ``state`` (no replay buffer) as one compressed npz, atomically."""
    arrays = flatten_arrays({"agent": state.agent, "act_key": state.act_key,
                             "data_key": state.data_key})
    host = {name: np.asarray(jax.device_get(value)) for name, value in arrays.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(temporary, **host, __step__=np.int64(step),
                        __spec_hash__=np.array(run_hash), __digest__=np.array(digest(host)))
    os.replace(temporary, path)


def load_agent(path: pathlib.Path, state: online.LoopState,
               run_hash: str) -> tuple[int, online.LoopState]:
    """Inverse of :func:`save_agent` into ``state`` (whose buffer is kept as it is)."""
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files if not name.startswith("__")}
        step, stored_hash = int(stored["__step__"]), str(stored["__spec_hash__"])
        stored_digest = str(stored["__digest__"])
    if stored_hash != run_hash:
        raise ValueError(f"{path} was written by a run with other settings (spec hash "
                         f"{stored_hash}, this run {run_hash}); pass --mirror='' or another "
                         "--mirror to start over")
    if digest(arrays) != stored_digest:
        raise ValueError(f"{path} is corrupt (its arrays do not match their digest); delete it "
                         "to start over, or restore it from git")
    template = {"agent": state.agent, "act_key": state.act_key, "data_key": state.data_key}
    restored = unflatten_arrays(arrays, template)
    return step, state.replace(agent=restored["agent"], act_key=restored["act_key"],
                               data_key=restored["data_key"])


def train(env_name: str, total_steps: int, seed: int, workdir: pathlib.Path,
          mirror: pathlib.Path | None = None) -> None:
    env = locomotion.get_env(env_name)
    config, settings = run_settings(FLAGS.warmup_steps, FLAGS.update_every)
    if (FLAGS.snapshot_every % settings.update_every
            or FLAGS.checkpoint_every % FLAGS.snapshot_every):
        raise app.UsageError("--snapshot_every must be a multiple of --update_every and "
                             "--checkpoint_every a multiple of --snapshot_every")
    loop = online.OnlineLoop(sac, config, envs.make_env(env.env_id), num_seeds=1, seed=seed,
                             settings=settings)
    state = online.init_loop_state(sac, config, [seed], loop.obs_dim, loop.action_dim, settings)
    history = {"env": env.env_id, "seed": seed, "config": dataclasses.asdict(config),
               "settings": dataclasses.asdict(settings), "evals": [], "episodes": []}
    step = 0
    run_hash = spec_hash(env_name, seed, config, settings)
    checkpointer = RunCheckpointer(workdir / "checkpoint", run_hash)
    if checkpointer.latest_step() is not None:
        step, state, meta = checkpointer.restore(state)
        history = meta["history"]
        print(f"resumed {env_name} at step {step}", flush=True)
    elif mirror is not None and (mirror / "agent.npz").exists():
        step, state = load_agent(mirror / "agent.npz", state, run_hash)
        history = json.loads((mirror / "history.json").read_text())
        history["evals"] = [e for e in history["evals"] if e["step"] <= step]
        history["episodes"] = [e for e in history["episodes"] if e[0] <= step]
        print(f"resumed {env_name} at step {step} from the mirror {mirror} (no full checkpoint: "
              f"refilling the replay buffer with {FLAGS.refill_steps} policy steps)", flush=True)
        state = _refill(loop, state, settings, step, history)
    policy = evaluation.make_batched_policy(sac, config)
    info = locomotion.eval_info(env_name)
    stop = GracefulInterrupt("Ctrl-C: finishing the current snapshot block, then saving a "
                             "checkpoint. Press Ctrl-C again to exit at once (losing the block).")
    with stop:
        step = _train_blocks(env_name, total_steps, workdir, mirror, run_hash, loop, state, step,
                             history, checkpointer, policy, info, stop)
    checkpointer.close()
    loop.close()
    if stop.requested and step < total_steps:
        command = " ".join(["python -m experiments.train_behavior", *sys.argv[1:]])
        print(f"stopped by Ctrl-C at step {step} (checkpoint {checkpointer.directory}); resume "
              f"with: {command}", flush=True)
        raise SystemExit(130)


def _refill(loop, state, settings, step: int, history: dict):
    """Fills the empty replay buffer of an agent restored from the mirror with ``--refill_steps``
    env steps of its exploration policy (no learning), recorded in ``history["refills"]``."""
    refill = FLAGS.refill_steps - FLAGS.refill_steps % settings.update_every
    if not refill:
        return state
    started = time.monotonic()
    # Steps counted from past the warm-up so that the policy (not uniform noise) acts.
    state, _ = loop.run(state, settings.warmup_steps, refill, learn=False)
    history.setdefault("refills", []).append(
        {"at_step": step, "env_steps": refill, "seconds": round(time.monotonic() - started, 1),
         "why": "resumed from the mirror's agent.npz; the replay buffer is not mirrored"})
    print(f"refilled the replay buffer with {refill} steps", flush=True)
    return state


def _train_blocks(env_name, total_steps, workdir, mirror, run_hash, loop, state, step, history,
                  checkpointer, policy, info, stop) -> int:
    """Trains and evaluates ``--snapshot_every`` env steps at a time until ``total_steps``,
    ``--max_minutes`` or Ctrl-C (``stop``); checkpoints (and mirrors the agent) when due and before
    stopping. Returns the step reached."""
    _, settings = run_settings(FLAGS.warmup_steps, FLAGS.update_every)
    started, history_path = time.monotonic(), workdir / "history.json"

    def on_episode(at_step, _seed_index, episode_return, length):
        history["episodes"].append([at_step, round(episode_return, 2), length])

    best_return = max((e["return"] for e in history["evals"]), default=-np.inf)

    while step < total_steps:
        chunk_start = time.monotonic()
        num = min(FLAGS.snapshot_every, total_steps - step)
        num -= num % settings.update_every
        state, metrics = loop.run(state, step, num, on_episode)
        step += num
        snapshot = behavior.from_flax_params(jax.tree.map(lambda x: x[0], state.agent.actor.params))
        behavior.save(snapshot, workdir / "snapshots" / f"step_{step:07d}.npz")
        result = evaluation.evaluate(policy, state.agent, info, num_episodes=FLAGS.eval_episodes,
                                     seed=10_000 + step)
        mean_return = float(np.mean(result.returns))
        history["evals"].append({"step": step, "return": mean_return,
                                 "return_std": float(np.std(result.returns)),
                                 "normalized": float(np.mean(result.normalized))})
        recent = [r for s, r, _ in history["episodes"][-10:]]
        speed = num / (time.monotonic() - chunk_start)
        print(f"{env_name} step {step}: eval {mean_return:8.1f} (D4RL-norm "
              f"{np.mean(result.normalized):5.1f}), train episodes {np.mean(recent or [0]):8.1f}, "
              f"alpha {float(metrics.get('alpha/value', [np.nan])[0]):.3f}, "
              f"{speed:5.0f} steps/s", flush=True)
        _write_json(history_path, history)
        if mirror is not None:
            _write_json(mirror / "history.json", history)
            if step <= FLAGS.mirror_snapshots_until or mean_return > best_return:
                (mirror / "snapshots").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(workdir / "snapshots" / f"step_{step:07d}.npz",
                                mirror / "snapshots" / f"step_{step:07d}.npz")
        best_return = max(best_return, mean_return)
        out_of_time = FLAGS.max_minutes is not None and (
            time.monotonic() - started > 60 * FLAGS.max_minutes)
        if (step % FLAGS.checkpoint_every == 0 or step >= total_steps or out_of_time
                or stop.requested):
            checkpointer.save(step, state, {"history": history})
            if mirror is not None:
                save_agent(mirror / "agent.npz", step, state, run_hash)
        if out_of_time:
            print(f"stopping after --max_minutes={FLAGS.max_minutes}; rerun to continue",
                  flush=True)
            break
        if stop.requested:
            break
    return step


def _write_json(path: pathlib.Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=1))
    os.replace(temporary, path)


def mirror_dir(env_name: str) -> pathlib.Path | None:
    if FLAGS.mirror == "":
        return None
    return pathlib.Path(FLAGS.mirror or f"benchmarks/results/behavior/{env_name}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    locomotion.get_env(FLAGS.env)
    workdir = pathlib.Path(FLAGS.workdir or state_root() / "behavior" / FLAGS.env)
    if FLAGS.export:
        manifest = locomotion.export_policies(FLAGS.env, workdir, pathlib.Path(FLAGS.export_root),
                                              FLAGS.expert_window, FLAGS.medium_step,
                                              FLAGS.medium_reason, mirror_dir(FLAGS.env))
        levels = manifest["levels"]
        print(f"exported {FLAGS.env}: expert step {levels['expert']['step']} "
              f"({levels['expert']['eval_return']:.0f}), medium step {levels['medium']['step']} "
              f"({levels['medium']['eval_return']:.0f}), {len(manifest['replay'])} replay "
              f"segments -> {FLAGS.export_root}/{FLAGS.env}")
    else:
        train(FLAGS.env, FLAGS.steps, FLAGS.seed, workdir, mirror_dir(FLAGS.env))


if __name__ == "__main__":
    sys.exit(app.run(main))
