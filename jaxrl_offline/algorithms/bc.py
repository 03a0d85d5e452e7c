"""Behavior cloning (BC) with a deterministic tanh actor.

The CORL ``any_percent_bc`` baseline: regress dataset actions with a mean-squared error,
pi(s) = tanh(MLP(s)), Adam 3e-4, batch 256. Spec: ``algorithms.md`` §2.1.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct
from flax.training.train_state import TrainState

from jaxrl_offline import losses, networks, state as state_lib
from jaxrl_offline.types import Metrics, Params, PRNGKey, Transition

NAME = "bc"


@dataclasses.dataclass(frozen=True)
class Config:
    """BC hyperparameters (CORL defaults).

    Attributes:
      actor_hidden_dims: actor MLP sizes (CORL: 2 x 256).
      learning_rate: Adam step size (3e-4).
      batch_size: transitions per update (256).
      init_scheme: the actor's Dense initialization (``networks.INIT_SCHEMES``): "orthogonal"
        (default; gain sqrt(2), output 1e-2, zero biases) or "pytorch" (``torch.nn.Linear``'s
        default in every layer, as CORL's ``any_percent_bc.py``). [parity] switch, as TD3+BC's.
    """

    actor_hidden_dims: tuple[int, ...] = (256, 256)
    learning_rate: float = 3e-4
    batch_size: int = 256
    init_scheme: str = "orthogonal"

    def __post_init__(self):
        networks.check_init_scheme(self.init_scheme, "BC")


class AgentState(struct.PyTreeNode):
    actor: TrainState
    key: PRNGKey
    step: jax.Array


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    """Builds the agent for observations [obs_dim] and actions [action_dim]."""
    actor_key, state_key = jax.random.split(key)
    actor_net = networks.DeterministicActor(config.actor_hidden_dims, example_action.shape[-1],
                                            init_scheme=config.init_scheme)
    actor = state_lib.create_train_state(actor_net, actor_key, (example_obs[None],),
                                         state_lib.make_optimizer(config.learning_rate))
    return AgentState(actor=actor, key=state_key, step=jnp.zeros((), jnp.int32))


def actor_loss(actor_params: Params, state: AgentState, batch: Transition, config: Config):
    """mean_B ||pi(s) - a||^2 / action_dim (PyTorch ``F.mse_loss`` convention)."""
    del config
    predicted = state.actor.apply_fn(actor_params, batch.obs)
    chex.assert_equal_shape([predicted, batch.action])
    mse = losses.bc_mse(predicted, batch.action).mean() / batch.action.shape[-1]
    return mse, {"actor/bc_mse": mse}


def update(config: Config, state: AgentState, batch: Transition) -> tuple[AgentState, Metrics]:
    actor, metrics = state_lib.gradient_step(actor_loss, state.actor, state, batch, config)
    return state.replace(actor=actor, step=state.step + 1), metrics


def act(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Deterministic action pi(s) for obs [B, obs_dim] -> [B, action_dim]."""
    del config, key
    return state.actor.apply_fn(state.actor.params, obs)


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))


