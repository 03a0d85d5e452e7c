"""Running one seed of a reference script, unchanged, on a project dataset.

The script is loaded from the user's checkout as a module (``importlib``) while the stand-in
``gym``/``d4rl`` modules are installed (:mod:`benchmarks.parity.shims`). Before its ``train()``
runs, the harness replaces the module's evaluation function (CORL: ``eval_actor``) by an
:class:`EvalCapture` that calls the original and keeps the returns it gives back, with wall times.
The ``k``-th evaluation is taken at step ``k * eval_every``: the harness sets the reference's
evaluation frequency; CORL evaluates when ``(t + 1) % eval_every == 0``, IDQL at loop index
``i = k * eval_interval`` (after ``i + 1`` updates; its ``max_steps`` is the steps plus one,
``Reference.steps_offset``). Nothing in the reference's files changes; CORL's flags come through
``sys.argv`` as on its command line, IDQL's ``call_main`` gets the settings dict its launcher
builds (``references.details_from_args``), and IDQL's evaluation returns a mean only, so the
episode returns are counted by the harness's env (``EvalCapture``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import importlib.util
import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.parity import d4rl_arrays, shims
from jaxrl_offline.datasets import data
from jaxrl_offline.local_suite import envs
from jaxrl_offline.datasets.transforms import Transforms
from jaxrl_offline.types import DatasetInfo


def make_binding(dataset_id: str, env_name: str) -> tuple[shims.Binding, DatasetInfo]:
    """Binds ``env_name`` to a local project dataset, with the check against its arrays."""
    project, info = data.load_numpy(dataset_id, transforms=Transforms(normalize_obs=False))
    if not info.has_reference_scores:
        raise ValueError(f"{dataset_id} has no reference scores; D4RL normalization needs them")

    def check(dataset: dict, received: dict) -> dict:
        return d4rl_arrays.check_against_project(dataset, received, project, info)

    binding = shims.Binding(
        env_name=env_name, dataset=d4rl_arrays.get_dataset(dataset_id),
        make_env=envs.make_env(info.eval_env_spec),
        ref_min_score=info.ref_min_score, ref_max_score=info.ref_max_score, check=check)
    return binding, info


class EvalCapture:
    """Wraps a reference's evaluation function; keeps its returns and the wall times around it.

    Attributes:
      returns: one [episodes] float64 array per evaluation, in call order.
      calls: (start, end) ``time.perf_counter()`` of each evaluation.
      metrics: where the reference's logged training signals go (``shims.MetricBlocks``); a
        block is closed at each call, before the evaluation runs.
      episode_returns: ``None``: the returns are what the function returns (CORL). Otherwise the
        binding's list of finished episodes' returns: the call's returns are the episodes it
        finished, and their mean must equal the ``"return"`` the function reports (IDQL's
        ``evaluate`` returns only that mean).
    """

    def __init__(self, function: Callable[..., Any],
                 episode_returns: list[float] | None = None,
                 metrics: shims.MetricBlocks | None = None):
        self.function = function
        self.episode_returns = episode_returns
        self.metrics = metrics
        self.returns: list[np.ndarray] = []
        self.calls: list[tuple[float, float]] = []

    def __call__(self, *args, **kwargs):
        finished = len(self.episode_returns) if self.episode_returns is not None else 0
        if self.metrics is not None:
            self.metrics.close_block()  # The training signals logged since the last evaluation.
        start = time.perf_counter()
        result = self.function(*args, **kwargs)
        self.calls.append((start, time.perf_counter()))
        if self.episode_returns is None:
            self.returns.append(np.asarray(result, np.float64).reshape(-1))
            return result
        returns = np.asarray(self.episode_returns[finished:], np.float64)
        reported = result.get("return") if isinstance(result, dict) else None
        if not len(returns) or reported is None or not np.isclose(returns.mean(), reported,
                                                                   rtol=1e-5, atol=1e-3):
            raise d4rl_arrays.ParityError(
                f"the evaluation reported {result!r}, but the harness's env finished "
                f"{len(returns)} episodes with mean return "
                f"{returns.mean() if len(returns) else float('nan')}")
        self.returns.append(returns)
        return result


@dataclasses.dataclass
class SeedResult:
    """What one seed of a reference run produced.

    Attributes:
      seed: the reference's ``--seed``.
      argv: the reference's command-line arguments.
      returns: [evals, episodes] raw returns.
      eval_s: [evals] seconds per evaluation.
      train_s: [evals] seconds of training before each evaluation (the first also holds the
        script's setup after the dataset was loaded: normalization, buffer, networks).
      data_check: the summary of ``d4rl_arrays.check_against_project``.
      config: the reference's config as its script parsed it (``dataclasses.asdict``), or ``{}``.
      train_metrics: ``{name: [evals] mean}`` of the scalars the script logged through
        ``wandb.log`` between evaluations (``shims.MetricBlocks``; ``None`` where a block logged
        no such value), ``{}`` for a reference that logs nothing this way.
    """

    seed: int
    argv: list[str]
    returns: np.ndarray
    eval_s: np.ndarray
    train_s: np.ndarray
    data_check: dict
    config: dict = dataclasses.field(default_factory=dict)
    train_metrics: dict = dataclasses.field(default_factory=dict)


def load_script(path: pathlib.Path, module_name: str):
    """Imports a script file as a module (its ``if __name__ == "__main__"`` block does not run)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _argv(argv: Sequence[str]):
    saved = sys.argv
    sys.argv = list(argv)
    try:
        yield
    finally:
        sys.argv = saved


@contextlib.contextmanager
def _import_root(root: pathlib.Path | None):
    """``root`` first on ``sys.path``; the modules imported from it are dropped on exit (they
    hold the stand-in modules of this run's binding)."""
    if root is None:
        yield
        return
    before = set(sys.modules)
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        for name in set(sys.modules) - before:
            if str(root) in str(getattr(sys.modules[name], "__file__", None) or ""):
                del sys.modules[name]


def run_seed(script: pathlib.Path, eval_function: str, binding: shims.Binding,
             args: Sequence[str], seed: int, entry: str = "train",
             config_class: str | None = None, dataset_function: str = "",
             jax_aliases: Sequence[str] = (), wandb_noops: Sequence[str] = (),
             details: dict | None = None, returns_from: str = "result", real_gym: bool = False,
             import_root: pathlib.Path | None = None) -> SeedResult:
    """Runs ``script``'s ``entry()`` once with ``args`` and returns its captured evaluations.

    ``config_class`` names the script's pyrallis config dataclass; it is parsed from ``args`` (as
    the script itself parses them) for the record. ``dataset_function`` names a module-level
    function of the script that builds the D4RL transitions itself (``fn(env, ...)``); it is
    wrapped so its output goes through the same check as ``d4rl.qlearning_dataset``'s.
    ``jax_aliases``: removed ``jax`` aliases to restore while it runs
    (``shims.restore_jax_aliases``); ``wandb_noops``: ``wandb`` functions that raise in its
    disabled mode, made no-ops while it runs (``shims.wandb_noops``). With ``details`` the script
    is called as ``entry(details)`` instead (``args`` are only recorded) and ``details`` is the
    record's config. ``returns_from``, ``real_gym``: see ``references.Reference``;
    ``import_root`` goes on ``sys.path`` while the script runs."""
    if returns_from not in ("result", "env"):
        raise ValueError(f"returns_from must be 'result' or 'env', got {returns_from!r}")
    os.environ.setdefault("WANDB_MODE", "disabled")
    binding.checks.clear()
    check, load_end = binding.check, {"t": time.perf_counter()}

    def timed_check(dataset: dict, received: dict) -> dict:
        summary = check(dataset, received) if check is not None else {}
        load_end["t"] = time.perf_counter()  # Training starts once the data is handed over.
        return summary

    binding.check = timed_check
    try:
        metrics = shims.MetricBlocks()
        with (shims.install(binding, real_gym=real_gym), _import_root(import_root),
              shims.restore_jax_aliases(jax_aliases), shims.wandb_noops(wandb_noops),
              shims.wandb_metrics(metrics)):
            module = load_script(script, f"parity_reference_{script.stem}")
            capture = EvalCapture(getattr(module, eval_function),
                                  binding.episode_returns if returns_from == "env" else None,
                                  metrics)
            setattr(module, eval_function, capture)
            if dataset_function:
                setattr(module, dataset_function,
                        checked_dataset_function(getattr(module, dataset_function), binding))
            config = _parse_config(getattr(module, config_class), args) if config_class else {}
            with _argv([str(script), *args]):
                if details is None:
                    getattr(module, entry)()
                else:
                    config = copy.deepcopy(details)
                    getattr(module, entry)(copy.deepcopy(details))
    finally:
        binding.check = check
    if not binding.checks:
        raise d4rl_arrays.ParityError(f"{script} never called d4rl.qlearning_dataset")
    starts = np.array([start for start, _ in capture.calls])
    ends = np.array([end for _, end in capture.calls])
    previous = np.concatenate([[load_end["t"]], ends[:-1]])
    return SeedResult(seed=seed, argv=list(args), returns=np.stack(capture.returns),
                      eval_s=ends - starts, train_s=starts - previous,
                      data_check=binding.checks[0], config=config,
                      train_metrics=metrics.per_block())


def run_reference_seed(reference, reference_dir: pathlib.Path, binding: shims.Binding,
                       args: Sequence[str], seed: int) -> SeedResult:
    """:func:`run_seed` of a ``references.Reference``'s script in the checkout ``reference_dir``
    (``args`` with local paths), with its evaluation function, config class, own dataset
    function and JAX aliases; a ``details`` reference (IDQL) gets its settings dict built from
    ``args`` (``references.details_from_args``); a reference with a ``runner`` (SfBC's two
    stages) is run by that function instead."""
    from benchmarks.parity import references

    if reference.runner:
        module, _, function = reference.runner.partition(":")
        return getattr(importlib.import_module(module), function)(
            reference, reference_dir, binding, args, seed)
    details = (references.details_from_args(reference, list(args))
               if reference.details is not None else None)
    return run_seed(reference_dir / reference.script, reference.eval_function, binding, args,
                    seed, entry=reference.entry, config_class=reference.config_class,
                    dataset_function=reference.dataset_function,
                    jax_aliases=reference.jax_aliases, wandb_noops=reference.wandb_noops,
                    details=details, returns_from=reference.returns_from,
                    real_gym=reference.real_gym,
                    import_root=reference_dir if reference.import_root else None)


def checked_dataset_function(function: Callable[..., dict], binding: shims.Binding):
    """``function(env, dataset=None, ...)``, a script's own ``qlearning_dataset``, with its result
    checked like ``d4rl.qlearning_dataset``'s (``binding.check``, summary in ``binding.checks``)."""

    def checked(env, *args, **kwargs):
        received = function(env, *args, **kwargs)
        dataset = kwargs.get("dataset", args[0] if args else None)
        if binding.check is not None:
            binding.checks.append(binding.check(
                binding.dataset if dataset is None else dataset, received))
        return received

    return checked


def _parse_config(config_class: type, args: Sequence[str]) -> dict:
    import pyrallis  # A reference dependency (the [parity] extra), not the project's.

    config = dataclasses.asdict(pyrallis.parse(config_class=config_class, args=list(args)))
    config.pop("name", None)  # CORL appends a random uuid to it.
    return config

