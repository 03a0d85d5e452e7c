"""One seed of ACA's reference (``ZishunYu/Actor-Critic-Alignment``, PyTorch on d3rlpy 1.1.0):
its offline and online scripts through the harness.

The reference is two scripts run one after the other with the same ``--dataset``/``--seed``
(its README): ``run_sacml.py`` (``main(args)``: SAC+ML for 500k updates, ``SACML.fit`` with a
model file every 100 epochs of 1000 updates, ``d3rlpy_logs/SAC+ML/<dataset>/<seed>/exp/
model_<step>.pt``) and ``run_aca.py`` (``main(args)``: loads ``model_500000.pt`` into ``ACA``,
aligns the critic (``utility.critic_init``) and fine-tunes with ``fit_online`` for 100k env steps,
evaluating every 1000). :func:`run_seed` imports both scripts unchanged (the checkout on
``sys.path``: they import ``aca_agent``, ``sacml_agent`` and ``utility``) and calls their ``main``
in a scratch directory that links the checkout's ``configs/`` (both read
``configs/{offline,online}/<file>.yaml`` relative to the working directory).

Harness units (``references.REFERENCES["aca/aca"]``): ``--steps`` and ``--eval_every`` count
**offline updates** of SAC+ML (``fit``'s ``n_steps`` and ``n_steps_per_epoch``: d3rlpy runs its
scorers after every epoch); ``--online_steps`` and ``--online_eval_every`` (in
``--reference_args``) count **online env steps** (``fit_online``'s ``n_steps`` and
``n_steps_per_epoch``: one update per env step once the buffer holds more than a batch, an
evaluation after every epoch). The scripts hard-code these numbers in their calls; the harness
replaces exactly those keyword arguments (and ``fit``'s ``save_interval``, so that the last offline
epoch writes the model), and links ``model_<steps>.pt`` as ``model_500000.pt``, the name
``run_aca.py`` loads. It also evaluates once before ``fit_online``'s first step (env step 0, the
aligned agent before any online update), as our fine-tuning records do.

Stand-ins while it runs, besides the harness's ``gym.make``/``d4rl`` (real old gym 0.23):
``--gpu`` is an ``int`` flag and d3rlpy reads ``use_gpu=0`` as CUDA device 0, so ``main`` gets
``Namespace(dataset, seed, gpu=False)`` (d3rlpy's CPU value); ``d3rlpy.metrics
.evaluate_on_environment`` (the offline scorer) and ``d3rlpy.online.iterators
.evaluate_on_environment`` (the online one) build their scorers with ``n_trials`` = the harness's
episodes, and each call's episode returns are counted by the harness's env (their mean checked
against the scorer's, ``harness.EvalCapture``). The data check compares the ``MDPDataset``
``d3rlpy.datasets.get_d4rl`` builds (observations, actions, rewards, terminals, episode
terminals = terminals | timeouts) with ``get_dataset``'s, which the binding's check compares with
the project's arrays.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import tempfile
import time
from collections.abc import Sequence

import numpy as np

from benchmarks.parity import d4rl_arrays, harness, shims

HARNESS_FLAGS = ("harness_offline_updates", "harness_offline_eval_every", "harness_episodes",
                 "online_steps", "online_eval_every")
OWN_FLAGS = ("dataset", "seed")  # run_aca.py's and run_sacml.py's argparse flags (and --gpu).
PRETRAINED_STEP = 500_000  # run_aca.py loads d3rlpy_logs/SAC+ML/<dataset>/<seed>/*/model_500000.pt


def split_args(args: Sequence[str]) -> tuple[argparse.Namespace, dict[str, int]]:
    """(the scripts' ``args`` namespace, the harness's budgets) from the harness's argument list
    (``references.command_args`` plus ``--online_steps``/``--online_eval_every``)."""
    own, values = {}, {}
    for arg in args:
        key, sep, text = arg[2:].partition("=")
        if not arg.startswith("--") or not sep:
            raise ValueError(f"aca/aca: expected --key=value arguments, got {arg!r}")
        if key in HARNESS_FLAGS:
            values[key] = int(text)
        elif key in OWN_FLAGS:
            own[key] = text
        else:
            raise ValueError(f"aca/aca: unknown argument {arg!r}; the scripts take only "
                             f"--dataset and --seed (--gpu is the harness's: CPU), the harness "
                             f"{HARNESS_FLAGS}")
    missing = [name for name in HARNESS_FLAGS if name not in values]
    if missing:
        raise ValueError(f"aca/aca needs {missing}: pass --reference_args='--online_steps=N "
                         f"--online_eval_every=M' (online env steps; 0 is not allowed)")
    for steps, every in (("harness_offline_updates", "harness_offline_eval_every"),
                         ("online_steps", "online_eval_every")):
        if values[every] <= 0 or values[steps] <= 0 or values[steps] % values[every]:
            raise ValueError(f"aca/aca: {steps}={values[steps]} must be a positive multiple of "
                             f"{every}={values[every]} (d3rlpy evaluates after whole epochs)")
    if values["harness_episodes"] <= 0:
        raise ValueError("aca/aca: --eval_episodes must be positive")
    return argparse.Namespace(dataset=own["dataset"], seed=int(own["seed"]), gpu=False), values


def check_mdp_dataset(binding: shims.Binding, mdp_dataset) -> dict:
    """Checks the ``MDPDataset`` d3rlpy built against ``get_dataset``'s rows (and those against
    the project's, ``binding.check``); returns the summary."""
    dataset = binding.dataset
    expected = {"observations": dataset["observations"], "actions": dataset["actions"],
                "rewards": dataset["rewards"], "terminals": dataset["terminals"],
                "episode_terminals": dataset["terminals"] | dataset["timeouts"]}
    for key, value in expected.items():
        received = np.asarray(getattr(mdp_dataset, key)).reshape(value.shape)
        if not np.array_equal(received, value.astype(received.dtype)):
            raise d4rl_arrays.ParityError(f"d3rlpy's MDPDataset.{key} is not get_dataset's")
    reduced = d4rl_arrays.qlearning_dataset(dataset)
    transitions = sum(len(episode.transitions) for episode in mdp_dataset.episodes)
    if transitions != len(reduced["rewards"]):
        raise d4rl_arrays.ParityError(f"d3rlpy made {transitions} transitions, D4RL's rule "
                                      f"{len(reduced['rewards'])}")
    summary = binding.check(dataset, reduced) if binding.check is not None else {}
    return {"reference_rows": len(dataset["rewards"]), "reference_transitions": transitions,
            "reference_episodes": len(mdp_dataset.episodes), "get_dataset_vs_project": summary}


class Phases:
    """The evaluations of both phases: a capture per phase (``harness.EvalCapture``, returns
    counted by the harness's env) and the wall time each phase's training began."""

    def __init__(self, binding: shims.Binding, episodes: int):
        self.binding, self.episodes = binding, episodes
        self.returns: dict[str, list[np.ndarray]] = {"offline": [], "online": []}
        self.calls: dict[str, list[tuple[float, float]]] = {"offline": [], "online": []}
        self.started: dict[str, float] = {}
        self.phase = "offline"

    def scorer_factory(self, original):
        """``evaluate_on_environment`` with ``n_trials`` = the harness's episodes; each scorer
        it builds keeps its calls' returns and wall times under the phase it was built in."""

        def make(env, n_trials=10, epsilon=0.0, render=False):
            del n_trials  # The scripts' default (10); the harness's episodes instead.
            scorer = original(env, n_trials=self.episodes, epsilon=epsilon, render=render)
            capture = harness.EvalCapture(lambda algo, *args: {"return": scorer(algo, *args)},
                                          self.binding.episode_returns)
            capture.returns, capture.calls = self.returns[self.phase], self.calls[self.phase]
            return lambda algo, *args: capture(algo, *args)["return"]

        return make

    def result(self, phase: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """([evals, episodes] returns, [evals] eval seconds, [evals] training seconds before
        each) of ``phase``."""
        starts = np.array([start for start, _ in self.calls[phase]])
        ends = np.array([end for _, end in self.calls[phase]])
        previous = np.concatenate([[self.started[phase]], ends[:-1]])
        return np.stack(self.returns[phase]), ends - starts, starts - previous


@contextlib.contextmanager
def _patched(owner, name: str, replacement):
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield original
    finally:
        setattr(owner, name, original)


@contextlib.contextmanager
def _harness_hooks(binding: shims.Binding, phases: Phases, budgets: dict[str, int]):
    """The data check, the budgets and the captured scorers, on d3rlpy while the block runs."""
    from d3rlpy import algos, base, datasets, metrics
    from d3rlpy.online import iterators

    get_d4rl, fit = datasets.get_d4rl, base.LearnableBase.fit
    fit_online = algos.base.AlgoBase.fit_online

    def checked_get_d4rl(*args, **kwargs):
        mdp_dataset, env = get_d4rl(*args, **kwargs)
        binding.checks.append(check_mdp_dataset(binding, mdp_dataset))
        return mdp_dataset, env

    def budgeted_fit(self, *args, **kwargs):
        epochs = budgets["harness_offline_updates"] // budgets["harness_offline_eval_every"]
        kwargs.update(n_steps=budgets["harness_offline_updates"], save_interval=epochs,
                      n_steps_per_epoch=budgets["harness_offline_eval_every"])
        phases.phase, phases.started["offline"] = "offline", time.perf_counter()
        return fit(self, *args, **kwargs)

    def budgeted_fit_online(self, env, buffer=None, explorer=None, *args, **kwargs):
        phases.phase = "online"
        phases.scorer_factory(scorer_online)(kwargs["eval_env"])(self)  # Env step 0.
        kwargs.update(n_steps=budgets["online_steps"],
                      n_steps_per_epoch=budgets["online_eval_every"])
        phases.started["online"] = time.perf_counter()
        return fit_online(self, env, buffer, explorer, *args, **kwargs)

    with (_patched(datasets, "get_d4rl", checked_get_d4rl),
          _patched(base.LearnableBase, "fit", budgeted_fit),
          _patched(algos.base.AlgoBase, "fit_online", budgeted_fit_online),
          _patched(metrics, "evaluate_on_environment",
                   phases.scorer_factory(metrics.evaluate_on_environment)),
          _patched(iterators, "evaluate_on_environment",
                   phases.scorer_factory(iterators.evaluate_on_environment)) as scorer_online):
        yield


def _link_pretrained(args: argparse.Namespace, steps: int) -> str:
    """Links the offline model of ``steps`` updates under the name ``run_aca.py`` loads."""
    folder = pathlib.Path("d3rlpy_logs", "SAC+ML", args.dataset, str(args.seed), "exp")
    model = folder / f"model_{steps}.pt"
    if not model.exists():
        raise RuntimeError(f"aca/aca: the offline stage wrote no {model}")
    if steps != PRETRAINED_STEP:
        os.symlink(model.name, folder / f"model_{PRETRAINED_STEP}.pt")
    return str(model)


def run_seed(reference, reference_dir: pathlib.Path, binding: shims.Binding,
             args: Sequence[str], seed: int) -> harness.SeedResult:
    """Runs ``run_sacml.py`` then ``run_aca.py`` once (one seed); returns the offline
    evaluations as the seed's result and the online ones under ``config["online"]``."""
    namespace, budgets = split_args(args)
    binding.checks.clear()
    phases = Phases(binding, budgets["harness_episodes"])
    with (shims.install(binding, real_gym=reference.real_gym),
          harness._import_root(reference_dir),
          tempfile.TemporaryDirectory(prefix="aca_") as scratch, contextlib.chdir(scratch),
          harness._argv([str(reference_dir / reference.script)]),
          _harness_hooks(binding, phases, budgets)):
        os.symlink(reference_dir / "configs", "configs")
        offline = harness.load_script(reference_dir / "run_sacml.py", "parity_reference_sacml")
        online = harness.load_script(reference_dir / reference.script, "parity_reference_aca")
        marks = {"start": time.perf_counter()}
        offline.main(argparse.Namespace(**vars(namespace)))
        _link_pretrained(namespace, budgets["harness_offline_updates"])
        marks["online_setup"] = time.perf_counter()
        online.main(argparse.Namespace(**vars(namespace)))
        config = {"offline": offline.get_config("configs/offline", namespace.dataset),
                  "online": online.get_config("configs/online", namespace.dataset)}
    if not binding.checks:
        raise d4rl_arrays.ParityError("ACA never built its dataset (d3rlpy.datasets.get_d4rl)")
    returns, eval_s, train_s = phases.result("offline")
    online_returns, online_eval_s, online_train_s = phases.result("online")
    n_trajs = int(config["online"]["n_trajs"])
    config["harness"] = {**budgets, "gpu": False,
                         "online_setup_s": phases.started["online"] - marks["online_setup"]}
    config["online_curve"] = {
        "env_steps": list(range(0, budgets["online_steps"] + 1, budgets["online_eval_every"])),
        "returns": online_returns.tolist(), "eval_s": online_eval_s.tolist(),
        # [0] would be the (negative) gap before the step-0 evaluation: no training precedes it.
        "train_s": online_train_s[1:].tolist(),
        "buffer": {"buffer": "top_trajectories" if n_trajs else "empty",
                   "seed_trajectories": n_trajs},
        "reward_transform": {"scale": 1.0, "shift": -1.0 if "antmaze" in namespace.dataset
                             else 0.0}}  # run_aca.py's reward_scaler.
    return harness.SeedResult(seed=seed, argv=list(args), returns=returns, eval_s=eval_s,
                              train_s=train_s, data_check=binding.checks[0], config=config)

