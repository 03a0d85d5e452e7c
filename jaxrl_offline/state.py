"""Train-state utilities: a TrainState with target parameters, building and stepping train
states, soft updates, the delayed (every-k-steps) update, optimizers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training import train_state

from jaxrl_offline.types import Params


class TargetTrainState(train_state.TrainState):
    """A Flax ``TrainState`` that also carries Polyak-averaged target parameters.

    Target parameters are plain data (no optimizer state); they move only through
    :func:`soft_update`.
    """

    target_params: Params = struct.field(pytree_node=True, default=None)

    @classmethod
    def create_with_target(cls, *, apply_fn, params, tx) -> "TargetTrainState":
        # The target starts as an exact copy of the online network (same init key), as in TD3/SAC.
        return cls.create(apply_fn=apply_fn, params=params, tx=tx, target_params=params)


def soft_update(state: TargetTrainState, tau: float) -> TargetTrainState:
    """target <- tau * online + (1 - tau) * target (Polyak averaging)."""
    new_target = optax.incremental_update(state.params, state.target_params, tau)
    return state.replace(target_params=new_target)


def make_optimizer(
    learning_rate: float,
    cosine_decay_steps: int | None = None,
    max_grad_norm: float | None = None,
    weight_decay: float | None = None,
) -> optax.GradientTransformation:
    """Adam (AdamW when ``weight_decay`` is given), optionally with cosine learning-rate decay
    (IQL's actor) and gradient clipping."""
    schedule = (
        optax.cosine_decay_schedule(learning_rate, cosine_decay_steps)
        if cosine_decay_steps
        else learning_rate
    )
    adam = (optax.adam(schedule) if weight_decay is None
            else optax.adamw(schedule, weight_decay=weight_decay))
    if max_grad_norm is None:
        return adam
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), adam)


def create_train_state(network: nn.Module, key: jax.Array, example_inputs: Sequence[Any],
                       optimizer: optax.GradientTransformation, *, with_target: bool = False):
    """A ``TrainState`` (or, ``with_target``, a ``TargetTrainState``) of a freshly initialized net.

    Args:
      network: the Flax module; its ``apply`` becomes the state's ``apply_fn``.
      key: init key.
      example_inputs: positional ``network.init`` inputs with a leading batch axis of 1 (e.g.
        ``(obs[None], action[None])``; ``()`` for ``networks.Temperature``).
      optimizer: e.g. ``make_optimizer(lr)``.
      with_target: also carry ``target_params``, starting as an exact copy (TD3/SAC targets).
    """
    params = network.init(key, *example_inputs)
    if with_target:
        return TargetTrainState.create_with_target(apply_fn=network.apply, params=params,
                                                   tx=optimizer)
    return train_state.TrainState.create(apply_fn=network.apply, params=params, tx=optimizer)


def create_critic(network: nn.Module, key: jax.Array, obs: jax.Array, action: jax.Array,
                  learning_rate: float) -> TargetTrainState:
    """A Q network's train state as every algorithm builds it: Adam at ``learning_rate`` and
    ``target_params`` starting as a copy. ``obs`` [1, obs_dim], ``action`` [1, action_dim]."""
    return create_train_state(network, key, (obs, action), make_optimizer(learning_rate),
                              with_target=True)


def create_target_actor(network: nn.Module, key: jax.Array, obs: jax.Array,
                        learning_rate: float) -> TargetTrainState:
    """A TD3-style actor's train state: Adam at ``learning_rate`` and ``target_params`` starting
    as a copy (TD3's actor has a target, smoothed like the critic's). ``obs`` [1, obs_dim]."""
    return create_train_state(network, key, (obs,), make_optimizer(learning_rate),
                              with_target=True)


def gradient_step(loss_fn: Callable, state: train_state.TrainState, *loss_args, **loss_kwargs):
    """One optimizer step on ``loss_fn(state.params, *loss_args, **loss_kwargs) -> (loss, aux)``.

    Returns:
      ``(state after apply_gradients, aux)``.
    """
    grads, aux = jax.grad(loss_fn, has_aux=True)(state.params, *loss_args, **loss_kwargs)
    return state.apply_gradients(grads=grads), aux


# Name scope of ``delayed_update``'s cond: its branches are (skip, update), the update taken on
# one update in ``period``.
DELAYED_SCOPE = "delayed_every_{period}"


def nan_like(shapes):
    """NaN arrays of ``shapes`` (a pytree of ``jax.ShapeDtypeStruct``; zeros for a non-float
    leaf): the metrics of an update, or of a chunk, that was skipped (averaged away by
    ``nanmean``)."""
    def one(shape):
        if jnp.issubdtype(shape.dtype, jnp.inexact):
            return jnp.full(shape.shape, jnp.nan, shape.dtype)
        return jnp.zeros(shape.shape, shape.dtype)

    return jax.tree.map(one, shapes)


def delayed_update(update_fn: Callable, state, *, step: jax.Array, period: int, phase: int,
                   enabled: jax.Array | bool = True):
    """``update_fn(state) -> (state, metrics)`` on the updates with ``step % period == phase``.

    On other updates the state passes through and every metric is NaN (the trainer averages
    metrics with nanmean). ``step`` counts updates from 0, before this update's increment.

    TD3's policy delay uses ``phase = period - 1``: Fujimoto's ``TD3.train`` increments
    ``total_it`` first and updates the actor when ``total_it % policy_freq == 0``, so with
    ``step = total_it - 1`` the actor steps on updates ``period - 1, 2 period - 1, ...``, after
    ``period`` critic steps (IDQL's critic schedule reuses the same phase).

    Vmapped over seeds, the cond stays a branch when ``step`` is unbatched (the offline trainer
    passes the seeds' shared counter so: ``training.make_multi_seed_chunk``'s ``shared_step``).
    With a per-seed ``step`` (the online loop) the predicate is batched and ``lax.cond`` lowers to
    a select, so both branches run. ``state.key`` is taken out while the cond runs (as a select
    operand it would count as a second use of the key for ``jax_debug_key_reuse``) and put back
    afterwards; ``update_fn`` must not use it. The cond
    runs under the name scope ``delayed_every_<period>`` (``DELAYED_SCOPE``; HLO metadata only),
    so ``benchmarks/profile_updates.py`` can count its update branch 1/period of the time.

    Args:
      update_fn: the delayed update; closes over the batch, config and any key it needs.
      state: an ``AgentState`` (a pytree with a ``key`` field).
      step: [] int, the update counter.
      period: updates per delayed update (a Python int).
      phase: which residue of ``step % period`` runs the update, in [0, period).
      enabled: [] bool, an extra condition (e.g. a warm-up).

    Returns:
      ``(state, metrics)``.
    """
    if not 0 <= phase < period:
        raise ValueError(f"phase must be in [0, period={period}), got {phase}")
    key = state.key
    if period == 1 and enabled is True:
        new_state, metrics = update_fn(state.replace(key=None))
        return new_state.replace(key=key), metrics

    def skip(current):
        _, metrics = jax.eval_shape(update_fn, current)
        return current, nan_like(metrics)

    run = (step % period == phase) & enabled
    with jax.named_scope(DELAYED_SCOPE.format(period=period)):
        new_state, metrics = jax.lax.cond(run, update_fn, skip, state.replace(key=None))
    return new_state.replace(key=key), metrics


def actor_and_targets_step(actor_loss: Callable, state, tau: float, **loss_kwargs):
    """TD3's delayed step: one actor step on ``actor_loss(actor_params, state, **loss_kwargs)``,
    then Polyak updates of both targets (actor and critic), as in TD3's ``train``.

    Returns:
      ``(state, actor metrics)``; ``state`` has ``actor`` and ``critic`` ``TargetTrainState``s.
    """
    actor, metrics = gradient_step(actor_loss, state.actor, state, **loss_kwargs)
    return state.replace(actor=soft_update(actor, tau),
                         critic=soft_update(state.critic, tau)), metrics
