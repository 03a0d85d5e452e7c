"""Train-state utilities: a TrainState with target parameters, soft updates, optimizers."""

from __future__ import annotations

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
