"""Stand-ins for the old ``gym`` (<= 0.23) and ``d4rl`` modules that reference scripts import.

:func:`install` binds one D4RL env name (``"hopper-medium-v2"``) to one project dataset and puts
two modules into ``sys.modules`` for the duration of a ``with`` block:

* ``gym``: ``make(name)`` returns an :class:`OldGymEnv`, the old API over the dataset's Gymnasium
  evaluation env (``reset() -> obs``, ``step(a) -> (obs, reward, done, info)``, ``seed(s)``,
  ``get_normalized_score(ret)`` with the dataset's reference scores, ``get_dataset()``), plus
  ``Env``, ``Wrapper`` and ``wrappers.TransformObservation`` / ``TransformReward`` with old gym's
  behaviour (attribute access falls through to the wrapped env);
* ``d4rl``: ``qlearning_dataset(env)`` by D4RL's rule (:mod:`benchmarks.parity.d4rl_arrays`); each
  call is checked against the project's arrays and the check's summary is kept on the binding.

:func:`restore_jax_aliases` puts back, for the same span, ``jax`` aliases that newer JAX removed
and a reference still calls (``jax.tree_map``, removed in JAX 0.6: CORL ReBRAC's replay buffer),
each bound to the function that replaced it, so the reference runs unchanged on the project's JAX.
:func:`wandb_noops` does the same for ``wandb`` functions that its disabled mode (newer wandb)
leaves unbound (``wandb.mark_preempting`` raises "You must call wandb.init() before ..." even
after ``wandb.init()``: CORL ReBRAC calls it right after ``wandb.init``).

With ``real_gym=True`` (references that use old gym's spaces and wrappers, IDQL's ``jaxrl5``) the
installed ``gym`` 0.23 stays in place and only its ``make`` is patched for the bound name: the env
is then a real ``gym.Env`` with ``gym.spaces.Box`` spaces, and an ``mjrl`` stand-in (imported by
IDQL's ``D4RLDataset`` for a fallback it takes only when ``d4rl.qlearning_dataset`` fails) re-raises
that failure.

Every env the binding makes counts the return of each finished episode into
``Binding.episode_returns`` (for references whose evaluation returns only a mean).

Seeding follows old gym: ``seed(s)`` makes the next ``reset()`` a ``reset(seed=s)``; later resets
continue the env's generator, so CORL's ``env.seed(seed)`` before each evaluation replays the same
initial states every time, as it did on gym 0.23.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from benchmarks.parity import d4rl_arrays


@dataclasses.dataclass
class Binding:
    """One D4RL env name bound to a project dataset.

    Attributes:
      env_name: the name the reference passes to ``gym.make`` (``"hopper-medium-v2"``).
      dataset: ``d4rl_arrays.get_dataset`` dict of the project dataset.
      make_env: builds the Gymnasium evaluation env.
      ref_min_score: reference random return (D4RL ``REF_MIN_SCORE``).
      ref_max_score: reference expert return (D4RL ``REF_MAX_SCORE``).
      check: ``(dataset, received) -> summary`` run on every ``qlearning_dataset`` result; raises
        on a mismatch (``None``: no check, in tests of the facade alone).
      checks: the summaries of the checks made so far.
      episode_returns: the return of every episode finished in an env of this binding, in order.
    """

    env_name: str
    dataset: dict[str, np.ndarray]
    make_env: Callable[[], Any]
    ref_min_score: float
    ref_max_score: float
    check: Callable[[dict, dict], dict] | None = None
    checks: list[dict] = dataclasses.field(default_factory=list)
    episode_returns: list[float] = dataclasses.field(default_factory=list)


def normalized_score(binding: Binding, score):
    """D4RL's ``(score - REF_MIN) / (REF_MAX - REF_MIN)`` (a fraction, not percent)."""
    return (score - binding.ref_min_score) / (binding.ref_max_score - binding.ref_min_score)


class Env:
    """Old gym's ``Env`` base class (only what reference scripts use)."""

    def seed(self, seed=None):
        return [seed]

    def close(self):
        return None

    @property
    def unwrapped(self):
        return self


class OldGymEnv(Env):
    """Old-gym API over a Gymnasium env; D4RL's extra methods come from the ``Binding``."""

    def __init__(self, binding: Binding):
        self._binding = binding
        self._env = binding.make_env()
        self._pending_seed: int | None = None
        self.observation_space = self._env.observation_space
        self.action_space = self._env.action_space
        self.spec = self._env.spec
        self._max_episode_steps = self.spec.max_episode_steps if self.spec else None
        self._episode_return = 0.0

    def seed(self, seed=None):
        self._pending_seed = None if seed is None else int(seed)
        return [seed]

    def reset(self):
        seed, self._pending_seed = self._pending_seed, None
        obs, _ = self._env.reset(seed=seed)
        self._episode_return = 0.0
        return obs

    def step(self, action):
        obs, reward, terminated, truncated, info = self._env.step(np.asarray(action))
        info = dict(info)
        if truncated and not terminated:
            info["TimeLimit.truncated"] = True  # Old gym's TimeLimit flag.
        self._episode_return += float(reward)
        if terminated or truncated:
            self._binding.episode_returns.append(self._episode_return)
        return obs, float(reward), bool(terminated or truncated), info

    def get_normalized_score(self, score):
        return normalized_score(self._binding, score)

    def get_dataset(self, h5path=None):
        if h5path is not None:
            raise ValueError("the parity facade serves the bound project dataset, not h5 files")
        return {key: value.copy() for key, value in self._binding.dataset.items()}

    def close(self):
        self._env.close()


class Wrapper(Env):
    """Old gym's ``Wrapper``: public attributes it lacks come from the wrapped env."""

    def __init__(self, env):
        self.env = env
        self.observation_space = env.observation_space
        self.action_space = env.action_space

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(f"attempted to get missing private attribute {name!r}")
        return getattr(self.env, name)

    def seed(self, seed=None):
        return self.env.seed(seed)

    def reset(self, **kwargs):
        return self.env.reset(**kwargs)

    def step(self, action):
        return self.env.step(action)

    def close(self):
        return self.env.close()

    @property
    def unwrapped(self):
        return self.env.unwrapped


class TransformObservation(Wrapper):
    """Old gym's ``TransformObservation(env, f)``: ``f`` applied to every observation."""

    def __init__(self, env, f):
        super().__init__(env)
        self.f = f

    def reset(self, **kwargs):
        return self.f(self.env.reset(**kwargs))

    def step(self, action):
        obs, reward, done, info = self.env.step(action)
        return self.f(obs), reward, done, info


class TransformReward(Wrapper):
    """Old gym's ``TransformReward(env, f)``: ``f`` applied to every reward."""

    def __init__(self, env, f):
        super().__init__(env)
        self.f = f

    def step(self, action):
        obs, reward, done, info = self.env.step(action)
        return obs, self.f(reward), done, info


def _check_name(binding: Binding, name: str, kwargs: dict) -> None:
    if name != binding.env_name or kwargs:
        raise ValueError(f"the parity harness binds only gym.make({binding.env_name!r}), "
                         f"got gym.make({name!r}, **{kwargs})")


def make_modules(binding: Binding) -> dict[str, types.ModuleType]:
    """The ``gym``, ``gym.wrappers`` and ``d4rl`` modules bound to ``binding``."""
    gym = types.ModuleType("gym", "jaxrl_offline parity stand-in for old gym (<= 0.23)")
    wrappers = types.ModuleType("gym.wrappers")
    wrappers.TransformObservation = TransformObservation
    wrappers.TransformReward = TransformReward

    def make(name: str, **kwargs):
        _check_name(binding, name, kwargs)
        return OldGymEnv(binding)

    gym.make, gym.Env, gym.Wrapper, gym.wrappers = make, Env, Wrapper, wrappers
    gym.__version__ = "0.23.1"  # The API level imitated (CORL pins gym 0.23).
    return {"gym": gym, "gym.wrappers": wrappers, **make_data_modules(binding)}


def make_data_modules(binding: Binding) -> dict[str, types.ModuleType]:
    """The ``d4rl`` stand-in bound to ``binding`` and an ``mjrl`` that re-raises its failure."""
    d4rl = types.ModuleType("d4rl", "jaxrl_offline parity stand-in for d4rl")
    mjrl = types.ModuleType("mjrl", "jaxrl_offline parity stand-in for mjrl (a fallback only)")
    failures: list[BaseException] = []

    def qlearning_dataset(env, dataset=None, terminate_on_end=False, **kwargs):
        try:
            dataset = env.get_dataset(**kwargs) if dataset is None else dataset
            received = d4rl_arrays.qlearning_dataset(dataset, terminate_on_end)
            if binding.check is not None:
                binding.checks.append(binding.check(dataset, received))
        except Exception as error:
            failures.append(error)
            raise
        return received

    def mjrl_qlearning_dataset(*args, **kwargs):
        cause = failures[-1] if failures else None
        raise d4rl_arrays.ParityError(
            "d4rl.qlearning_dataset failed and the reference fell back to mjrl, which the "
            f"parity harness does not provide; the d4rl failure: {cause!r}") from cause

    d4rl.qlearning_dataset = qlearning_dataset
    d4rl.get_normalized_score = lambda env_name, score: normalized_score(binding, score)
    mjrl.qlearning_dataset = mjrl_qlearning_dataset
    return {"d4rl": d4rl, "mjrl": mjrl}


def _real_gym_env(gym: types.ModuleType, binding: Binding):
    """An :class:`OldGymEnv` that is a real old-gym ``Env`` with ``gym.spaces.Box`` spaces."""

    class RealGymEnv(OldGymEnv, gym.Env):
        def __init__(self, binding: Binding):
            OldGymEnv.__init__(self, binding)
            self.observation_space = _box(gym, self.observation_space)
            self.action_space = _box(gym, self.action_space)

    return RealGymEnv(binding)


def _box(gym: types.ModuleType, space):
    if not hasattr(space, "low"):
        raise TypeError(f"the real-gym facade converts Box spaces only, got {space!r}")
    return gym.spaces.Box(low=space.low, high=space.high, dtype=space.dtype)


def _import_real_gym() -> types.ModuleType:
    try:
        import gym
    except ImportError:
        raise ImportError("this reference runs against the installed old gym (0.23): run the "
                          "harness with the reference's own environment (benchmarks/parity/"
                          "README.md)") from None
    if not hasattr(gym, "spaces"):
        raise ImportError(f"{gym!r} is not the real old gym (a stand-in is installed)")
    return gym


# Removed ``jax`` aliases -> (submodule, function) that replaced them, same signature and result.
# jax.tree_multimap (removed in jax 0.3.16; the official MISA code) is tree_map over several trees.
JAX_ALIASES = {"tree_map": ("tree", "map"), "tree_multimap": ("tree_util", "tree_map")}


@contextlib.contextmanager
def restore_jax_aliases(names) -> Iterator[list[str]]:
    """Binds each removed alias in ``names`` (``JAX_ALIASES``) on the ``jax`` module while the
    block runs; an alias this JAX still has is left alone. Yields the names it bound."""
    unknown = sorted(set(names) - set(JAX_ALIASES))
    if unknown:
        raise ValueError(f"no replacement known for jax.{unknown[0]}; known: {sorted(JAX_ALIASES)}")
    import jax

    bound = []
    try:
        for name in names:
            if name not in vars(jax):
                module, function = JAX_ALIASES[name]
                setattr(jax, name, getattr(getattr(jax, module), function))
                bound.append(name)
        yield bound
    finally:
        for name in bound:
            delattr(jax, name)


@contextlib.contextmanager
def wandb_noops(names) -> Iterator[list[str]]:
    """With ``WANDB_MODE=disabled``, binds each ``wandb.<name>`` in ``names`` to a no-op while
    the block runs (its disabled mode leaves them raising); any other mode is left alone."""
    if not names or os.environ.get("WANDB_MODE") != "disabled":
        yield []
        return
    import wandb

    saved = {name: getattr(wandb, name) for name in names}
    for name in names:
        setattr(wandb, name, lambda *args, **kwargs: None)
    try:
        yield list(names)
    finally:
        for name, function in saved.items():
            setattr(wandb, name, function)


class MetricBlocks:
    """Training signals a reference logs through ``wandb.log``, averaged per evaluation block.

    ``log(data)`` adds every finite scalar of ``data`` (numbers, NumPy scalars, one-element
    tensors) to the open block's running sums; ``close_block()`` (called just before each
    evaluation) turns them into that block's means. Names that say they are evaluation results
    (``EVAL_WORDS``) are left out: a reference logs those after its evaluation, so they would land
    in the next block. Block ``k`` is every update logged between evaluations ``k - 1`` and ``k``
    (ours logs each evaluation's last chunk: the same signal, over more updates here).
    """

    EVAL_WORDS = ("eval", "score", "return")
    COUNTERS = ("epoch", "step", "steps", "iteration", "timestep")  # Not signals.

    def __init__(self):
        self.sums: dict[str, list[float]] = {}  # name -> [sum, count] of the open block
        self.blocks: list[dict[str, float]] = []

    def log(self, data, *args, **kwargs) -> None:
        del args, kwargs  # step=, commit=: the block boundaries come from the evaluations.
        if not isinstance(data, dict):
            return
        for name, value in data.items():
            lowered = str(name).lower()
            if lowered in self.COUNTERS or any(word in lowered for word in self.EVAL_WORDS):
                continue
            value = _scalar(value)
            if value is not None:
                entry = self.sums.setdefault(str(name), [0.0, 0])
                entry[0] += value
                entry[1] += 1

    def close_block(self) -> None:
        self.blocks.append({name: total / count for name, (total, count) in self.sums.items()})
        self.sums = {}

    def per_block(self) -> dict[str, list[float | None]]:
        """``{name: [mean of block 1, ...]}`` (``None`` where a block logged no such value)."""
        names = sorted({name for block in self.blocks for name in block})
        return {name: [block.get(name) for block in self.blocks] for name in names}


def _scalar(value) -> float | None:
    """``value`` as a finite float, or None (not a number, more than one element, NaN/inf)."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, (int, float)):
        try:  # NumPy/JAX scalars, CPU tensors without grad.
            array = np.asarray(value)
        except Exception:  # noqa: BLE001 - anything that is no plain number is skipped.
            return None
        if array.size != 1 or not np.issubdtype(array.dtype, np.number):
            return None
        value = array.reshape(())
    value = float(value)
    return value if math.isfinite(value) else None


@contextlib.contextmanager
def wandb_metrics(blocks: MetricBlocks) -> Iterator[bool]:
    """Routes ``wandb.log`` into ``blocks`` (then on to the real ``wandb.log``) while the block
    runs; yields False, changing nothing, where ``wandb`` is not installed.

    ``wandb.init`` rebinds the module's ``log`` to its run's (``NoopRun.log`` when disabled), so
    ``init`` is wrapped too and routes the new ``log`` again after it returns. Both attributes are
    restored on exit.
    """
    try:
        import wandb
    except ImportError:
        yield False
        return
    saved = {name: getattr(wandb, name) for name in ("log", "init") if hasattr(wandb, name)}
    if "log" not in saved:  # A stand-in module without ``log``.
        yield False
        return

    def routed(log):
        def log_and_record(data, *args, **kwargs):
            blocks.log(data)
            return log(data, *args, **kwargs)
        return log_and_record

    def init(*args, **kwargs):
        run = saved["init"](*args, **kwargs)
        wandb.log = routed(wandb.log)
        return run

    wandb.log = routed(saved["log"])
    if "init" in saved:
        wandb.init = init
    try:
        yield True
    finally:
        for name, value in saved.items():
            setattr(wandb, name, value)


@contextlib.contextmanager
def install(binding: Binding, real_gym: bool = False) -> Iterator[dict[str, types.ModuleType]]:
    """Puts the stand-in modules into ``sys.modules`` (``real_gym``: ``d4rl`` and ``mjrl`` only,
    with the installed gym's ``make`` patched); restores what was there on exit."""
    if real_gym:
        gym = _import_real_gym()
        original_make = gym.make

        def make(name: str, **kwargs):
            _check_name(binding, name, kwargs)
            return _real_gym_env(gym, binding)

        modules = make_data_modules(binding)
        gym.make = make
    else:
        modules = make_modules(binding)
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield modules
    finally:
        if real_gym:
            gym.make = original_make
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
