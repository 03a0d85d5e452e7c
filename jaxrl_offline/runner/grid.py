"""Hyperparameter grids in the same compiled program as the seeds.

A grid run trains every (grid point, seed) pair as one *member* of the seed axis: ``P`` points x
``S`` seeds give ``P * S`` members (point-major: member ``p * S + s`` is point ``p`` with seed
``seeds[s]``), vmapped, sharded over the devices and padded exactly as seeds are
(``training.make_multi_seed_chunk``), so the whole grid compiles once.

The algorithm's frozen ``Config`` stays the static part. The gridded fields travel as per-member
scalars in the state (:class:`GridState`, the rejax idea of numeric hyperparameters as pytree
leaves), and :class:`GriddedAlgorithm` puts them back into a copy of the config
(:func:`with_values`) inside the vmapped ``update`` and ``act``, where they are traced scalars. A
member therefore sees the same batches, keys and evaluation episodes as a single run of its
seed with its point's config (``tests/test_grid.py`` checks they agree).

Only float fields used inside the update's math can be gridded. Sizes, counts, booleans and
strings are structural (they fix shapes or Python control flow) and are refused by type;
float fields used outside traced math (learning rates, which the optimizer built by ``init``
keeps as constants, or values in Python ``if``s) are detected by :func:`check_gridable` tracing
``init``, ``update`` and ``act`` with them as traced scalars, and refused with the list of the
fields that can be gridded.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_offline.runner import seed_layout, training
from jaxrl_offline.types import Transition


class GridFieldError(ValueError):
    """A config field that cannot be gridded (structural, or used outside the traced math)."""


class GridState(struct.PyTreeNode):
    """One member's agent state and its grid values (``{field: float32 scalar}``)."""

    agent: Any
    values: dict[str, jax.Array]


def with_values(config: Any, values: Mapping[str, Any]) -> Any:
    """A shallow copy of the frozen ``config`` with ``values`` set (they may be tracers).

    ``dataclasses.replace`` would rerun the config's ``__init__`` checks on traced values; the
    concrete values were checked when each grid point's config was built.
    """
    config = copy.copy(config)
    for name, value in values.items():
        object.__setattr__(config, name, value)
    return config


class GriddedAlgorithm:
    """An algorithm whose state is a :class:`GridState`; usable wherever the trainer and the
    evaluator take an algorithm module (``update``, ``act``)."""

    def __init__(self, algo: Any):
        self.algo = algo
        self.NAME = algo.NAME
        self.Config = algo.Config

    def update(self, config, state: GridState, batch: Transition):
        agent, metrics = self.algo.update(with_values(config, state.values), state.agent, batch)
        return state.replace(agent=agent), metrics

    def act(self, config, state: GridState, obs: jax.Array, key: jax.Array) -> jax.Array:
        return self.algo.act(with_values(config, state.values), state.agent, obs, key)


def float_fields(config_cls: type) -> list[str]:
    """The fields of a ``Config`` class annotated exactly ``float`` (the grid candidates)."""
    hints = typing.get_type_hints(config_cls)
    return [field.name for field in dataclasses.fields(config_cls) if hints[field.name] is float]


def check_field_types(algorithm: str, config_cls: type, fields: Sequence[str]) -> None:
    """``GridFieldError`` for a gridded field that is not a float field (sizes, counts,
    booleans and strings stay static)."""
    candidates = float_fields(config_cls)
    structural = [name for name in fields if name not in candidates]
    if structural:
        raise GridFieldError(
            f"--grid: {algorithm} config field(s) {structural} are structural (sizes, counts, "
            "booleans, strings: they fix shapes or Python control flow, so they stay static "
            "and cannot share one compiled program). Only float fields can be gridded; "
            f"{algorithm}'s are: {', '.join(candidates)}. Run structural values as separate "
            "runs (sweep variants or --config).")


def grid_values(configs: Sequence[Any], fields: Sequence[str]) -> dict[str, np.ndarray]:
    """``{field: [P] float32}`` of the points' configs."""
    return {name: np.asarray([getattr(config, name) for config in configs], np.float32)
            for name in fields}


def member_values(values: Mapping[str, np.ndarray], num_seeds: int,
                  num_padded: int) -> dict[str, np.ndarray]:
    """Per-member values [num_padded]: each point's value for its ``num_seeds`` members; padding
    members repeat point 0 (their results are dropped)."""
    def expand(per_point):
        members = np.repeat(per_point, num_seeds)
        return np.concatenate([members, np.full(num_padded - len(members), per_point[0])])
    return {name: expand(per_point).astype(np.float32) for name, per_point in values.items()}


def make_grid_layout(seeds: Sequence[int], num_points: int,
                     devices: Sequence[jax.Device] | None = None) -> seed_layout.SeedLayout:
    """A ``SeedLayout`` of ``num_points * len(seeds)`` members, point-major; ``seeds`` of the
    layout are the members' seed values (each seed once per point), padded like seeds."""
    members = tuple(seeds) * num_points
    # The same device count and padding as that many distinct seeds.
    placeholder = seed_layout.make_seed_layout(range(len(members)), devices)
    padding = len(placeholder.padded_seeds) - len(members)
    return dataclasses.replace(placeholder, seeds=members,
                               padded_seeds=members + seed_layout.padding_seeds(members, padding))


def _init_member(algo, config, seed, values, dataset):
    state, data_key = training.init_agent(algo, with_values(config, values), seed, dataset)
    return GridState(agent=state, values=values), data_key


def init_grid_states(algo: Any, config: Any, values: Mapping[str, np.ndarray],
                     layout: training.SeedLayout, dataset: Transition):
    """Initial :class:`GridState` s and data keys of every (padded) member, sharded like seeds.

    One jitted ``init`` (values traced, so compiled once) is called per member, as
    ``training.init_seed_states`` does per seed. ``values``: ``{field: [M_padded]}``.
    """
    init_one = jax.jit(functools.partial(_init_member, algo, config))
    per_member = [init_one(np.uint32(seed), {name: column[index] for name, column in
                                             values.items()}, dataset)
                  for index, seed in enumerate(layout.padded_seeds)]
    return jax.device_put(training.stack_trees(per_member), layout.seed_sharding)


def _trace(algo, config, fields, dataset) -> None:
    """Traces init, then update and act, as separate programs (as the run compiles them), with
    ``fields`` as traced float32 scalars; raises what JAX raises."""
    values = {name: jnp.float32(getattr(config, name)) for name in fields}
    with jax.checking_leaks():  # A value kept by init outside the state (an optimizer's rate).
        state = jax.eval_shape(functools.partial(_init_member, algo, config), np.uint32(0),
                               values, dataset)
    gridded = GriddedAlgorithm(algo)

    def update_and_act(carry):
        member, data_key = carry
        batch = training.sample_batch(dataset, data_key, config.batch_size)
        member, _ = gridded.update(config, member, batch)
        return gridded.act(config, member, dataset.obs[:2], data_key)

    jax.eval_shape(update_and_act, state)


def _trace_error(algo, config, fields, dataset) -> Exception | None:
    try:
        _trace(algo, config, fields, dataset)
    except Exception as err:  # noqa: BLE001 - JAX tracer errors, leaked-trace errors.
        return err
    return None


def check_gridable(algo: Any, config: Any, fields: Sequence[str], dataset: Transition) -> None:
    """``GridFieldError`` unless ``fields`` trace as per-member scalars through ``algo``'s
    ``init``, ``update`` and ``act`` (no Python control flow, shapes or optimizer settings).

    On failure the message lists which of the algorithm's float fields can be gridded (each
    traced alone; only on this error path)."""
    error = _trace_error(algo, config, fields, dataset)
    if error is None:
        return
    candidates = float_fields(type(config))
    ok = [name for name in candidates if _trace_error(algo, config, [name], dataset) is None]
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    raise GridFieldError(
        f"--grid: {algo.NAME} config field(s) {list(fields)} cannot be gridded: they are used "
        "outside the update's traced math (an optimizer setting built at init such as a "
        "learning rate, a shape, or a Python if), so they must stay static. JAX said: "
        f"{type(error).__name__}: {reason}. Fields of {algo.NAME} that can be gridded: "
        f"{', '.join(ok) or 'none'}. Run other values as separate runs (variants or --config).")


def variant_label(base: str, point: Mapping[str, float]) -> str:
    """The variant of one grid point: ``alpha=2.5`` (``base-alpha=2.5`` with a sweep variant)."""
    label = "-".join(f"{name}={value:g}" for name, value in point.items())
    return f"{base}-{label}" if base else label

