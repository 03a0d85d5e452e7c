r"""Generates the local D4RL-style locomotion suite as Minari hdf5 datasets.

    python -m experiments.make_datasets --envs=hopper,halfcheetah,walker2d \
        --kinds=random,medium,medium-replay,medium-expert,expert [--size=N]

writes ``jaxrl_offline/<env>/<kind>-v0`` (``<kind>-<N>-v0`` with ``--size``, e.g.
``jaxrl_offline/hopper/medium-10k-v0``) under ``$MINARI_DATASETS_PATH`` (default
``~/.minari/datasets``) and prints each id it wrote. An existing id is an error unless
``--overwrite`` (replace) or ``--skip_existing`` (keep) is given; nothing is generated before that
check passes. ``--table=PATH`` writes a markdown table of every requested dataset (size, episode
return and D4RL-normalized score mean/std); rows of other datasets already in that file are kept,
so regenerating a few datasets updates only their rows. See ``jaxrl_offline/local_suite/suite.py``
for what each kind is.

Ctrl-C finishes the dataset(s) being generated (a part of one would be another dataset), keeps
every finished one, and prints the command that generates the rest (``--skip_existing``); a
second Ctrl-C exits at once.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import pathlib
import signal
import sys

from absl import app, flags
from minari.storage import get_dataset_path

from jaxrl_offline.datasets import dataset_spec
from jaxrl_offline.local_suite import locomotion, suite
from jaxrl_offline.runner.progress import GracefulInterrupt

FLAGS = flags.FLAGS
flags.DEFINE_list("envs", list(locomotion.ENVS), "Envs: " + ", ".join(locomotion.ENVS))
flags.DEFINE_list("kinds", list(suite.KINDS), "Kinds: " + ", ".join(suite.KINDS))
flags.DEFINE_integer("size", None, "Transitions (per part for medium-expert); default D4RL's.")
flags.DEFINE_integer("seed", 0, "Generation seed.")
flags.DEFINE_bool("overwrite", False, "Replace datasets that already exist.")
flags.DEFINE_bool("skip_existing", False, "Keep datasets that already exist and go on.")
flags.DEFINE_integer("num_envs", 16, "Envs stepped in lockstep (speed only, same data).")
flags.DEFINE_integer("jobs", 1, "Datasets generated in parallel processes (one per core).")
flags.DEFINE_string("root", None, "Minari datasets root (default $MINARI_DATASETS_PATH).")
flags.DEFINE_string("table", None, "Write a markdown summary table of the datasets here.")
flags.DEFINE_string("policy_root", None, "Behavior policies folder (default: the shipped ones).")


def summary_table(ids: list[str], root: pathlib.Path, seconds: dict[str, float]) -> str:
    """Markdown: per dataset, transitions, episodes, return and normalized score mean/std."""
    lines = ["| dataset | transitions | episodes | return mean ± std | normalized mean ± std "
             "| generation s |", "|---|---|---|---|---|---|"]
    for dataset_id in ids:
        env = locomotion.get_env(dataset_spec.parse(dataset_id).parts[0].suite.env)
        returns = suite.episode_returns(str(root / dataset_id))
        lengths = returns.size
        dataset_size = _num_steps(root / dataset_id)
        normalized = 100 * (returns - env.ref_min_score) / (env.ref_max_score - env.ref_min_score)
        took = f"{seconds[dataset_id]:.0f}" if dataset_id in seconds else "-"
        lines.append(f"| {dataset_id} | {dataset_size} | {lengths} | {returns.mean():.0f} ± "
                     f"{returns.std():.0f} | {normalized.mean():.1f} ± {normalized.std():.1f} | "
                     f"{took} |")
    return "\n".join(lines) + "\n"


def _num_steps(path: pathlib.Path) -> int:
    return int(json.loads((path / "data" / "metadata.json").read_text())["total_steps"])


def _generate(env: str, kind: str, kwargs: dict) -> suite.Generated:
    return suite.make_dataset(env, kind, kwargs["size"], seed=kwargs["seed"], root=kwargs["root"],
                              overwrite=kwargs["overwrite"], num_envs=kwargs["num_envs"],
                              policy_root=kwargs["policy_root"])


def check_numbers(num_envs: int, jobs: int, size: int | None, seed: int) -> None:
    """``app.UsageError`` naming the flag when a number is out of range (before any work)."""
    limits = (("num_envs", num_envs, 1, "envs stepped in lockstep", 16),
              ("jobs", jobs, 1, "parallel generation processes", 1),
              ("size", size, 1, "transitions per dataset", 10_000),
              ("seed", seed, 0, "the generation seed", 0))
    for name, value, low, meaning, example in limits:
        if value is not None and value < low:
            raise app.UsageError(f"--{name}={value} is out of range: {meaning} must be >= {low} "
                                 f"(e.g. --{name}={example}); nothing was generated.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    check_numbers(FLAGS.num_envs, FLAGS.jobs, FLAGS.size, FLAGS.seed)
    if FLAGS.overwrite and FLAGS.skip_existing:
        raise app.UsageError("--overwrite and --skip_existing exclude each other")
    for env in FLAGS.envs:
        locomotion.get_env(env)
    root = pathlib.Path(FLAGS.root) if FLAGS.root else get_dataset_path()
    plan = [(env, kind, suite.dataset_id(env, kind, FLAGS.size))
            for env in FLAGS.envs for kind in FLAGS.kinds]
    existing = [dataset_id for *_, dataset_id in plan if (root / dataset_id / "data").is_dir()]
    if existing and not (FLAGS.overwrite or FLAGS.skip_existing):
        raise app.UsageError(
            f"these datasets already exist under {root}: {', '.join(existing)}. Pass "
            "--overwrite to regenerate them or --skip_existing to keep them.")
    todo = [(env, kind) for env, kind, dataset_id in plan
            if not (dataset_id in existing and FLAGS.skip_existing)]
    for *_, dataset_id in plan:
        if dataset_id in existing and FLAGS.skip_existing:
            print(f"kept {dataset_id} (exists)", flush=True)
    kwargs = dict(size=FLAGS.size, seed=FLAGS.seed, root=str(root), overwrite=FLAGS.overwrite,
                  num_envs=FLAGS.num_envs, policy_root=FLAGS.policy_root)
    seconds = {}

    def report(generated: suite.Generated) -> None:
        seconds[generated.dataset_id] = generated.seconds
        print(f"wrote {generated.dataset_id}: {generated.num_transitions} transitions, "
              f"{generated.num_episodes} episodes, {generated.seconds:.1f} s", flush=True)

    with GracefulInterrupt(STOP_MESSAGE) as stop:
        _generate_all(todo, kwargs, report, stop)
    done = [dataset_id for *_, dataset_id in plan if (root / dataset_id / "data").is_dir()]
    if FLAGS.table:
        table = summary_table(done, root, seconds)
        if pathlib.Path(FLAGS.table).exists():
            table = suite.merge_tables(pathlib.Path(FLAGS.table).read_text(), table)
        pathlib.Path(FLAGS.table).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(FLAGS.table).write_text(table)
        print(table)
    if stop.requested and len(done) < len(plan):
        kept = [arg for arg in sys.argv[1:] if not arg.startswith(("--overwrite", "--nooverwrite",
                                                                   "--skip_existing"))]
        command = " ".join(["python -m experiments.make_datasets", *kept, "--skip_existing"])
        print(f"stopped by Ctrl-C: {len(done)} of {len(plan)} datasets written (each one "
              f"complete); generate the rest with: {command}", flush=True)
        raise SystemExit(130)


STOP_MESSAGE = ("Ctrl-C: finishing the dataset(s) being generated (a part of one is no dataset), "
                "then stopping. Press Ctrl-C again to exit at once.")


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C reaches the whole process group; only the parent decides."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _generate_all(todo, kwargs, report, stop) -> None:
    """Generates ``todo`` in order (or ``--jobs`` at a time); after a Ctrl-C (``stop``) no new
    dataset is started."""
    if FLAGS.jobs <= 1:
        for env, kind in todo:
            print(f"generating {env} {kind} ...", flush=True)
            report(_generate(env, kind, kwargs))
            if stop.requested:
                return
        return
    # Spawned workers (not forked: the parent may already run JAX threads).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(FLAGS.jobs, mp_context=context,
                                                initializer=_ignore_sigint) as pool:
        futures = [pool.submit(_generate, env, kind, kwargs) for env, kind in todo]
        for future in concurrent.futures.as_completed(futures):
            if not future.cancelled():
                report(future.result())
            if stop.requested:
                for pending in futures:
                    pending.cancel()


if __name__ == "__main__":
    sys.exit(app.run(main))
