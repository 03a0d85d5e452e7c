"""IQL: "Offline Reinforcement Learning with Implicit Q-Learning" (Kostrikov, Nair & Levine, 2021).

arXiv:2110.06169. Learns V as an upper expectile of the target Q over dataset actions (never
querying out-of-distribution actions), Q by a TD backup through V, and extracts the policy by
advantage-weighted regression. Per step, in the order of the official ``learner.py``: V, actor
(using the new V), Q (bootstrapping from the new V), then the Polyak target-critic update.
Spec: ``algorithms.md`` §2.3.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct
from flax.training.train_state import TrainState

from jaxrl_offline import hyperparams, losses, networks, state as state_lib
from jaxrl_offline.state import TargetTrainState
from jaxrl_offline.types import Metrics, Params, PRNGKey, Transition

NAME = "iql"


@hyperparams.documented
@dataclasses.dataclass(frozen=True)
class Config(hyperparams.ActorCritic, hyperparams.ExpectileValue):
    """IQL hyperparameters (official locomotion config): ``hyperparams.ActorCritic``'s and
    ``hyperparams.ExpectileValue``'s, whose defaults are the config's, plus AWR.

    Attributes:
      actor_lr: actor Adam step size (3e-4), cosine-decayed over ``cosine_decay_steps``.
      cosine_decay_steps: length of the actor's cosine schedule (the run's total steps, 1M in the
        paper); ``None`` keeps the actor rate constant.
      awr_temperature: inverse AWR temperature beta (3.0 locomotion, 10.0 AntMaze, 0.5
        Kitchen/Adroit).
      awr_max_weight: clip of the AWR weights exp(beta A) (100).
      dropout_rate: actor dropout (``None``; 0.1 on Kitchen/Adroit).
    """

    cosine_decay_steps: int | None = 1_000_000
    awr_temperature: float = 3.0
    awr_max_weight: float = 100.0
    dropout_rate: float | None = None


class AgentState(struct.PyTreeNode):
    actor: TrainState
    critic: TargetTrainState
    value: TrainState
    key: PRNGKey
    step: jax.Array


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    actor_key, critic_key, value_key, state_key = jax.random.split(key, 4)
    obs, action = example_obs[None], example_action[None]
    actor_net = networks.GaussianActor(
        config.actor_hidden_dims, example_action.shape[-1], dropout_rate=config.dropout_rate
    )
    critic_net = networks.EnsembleCritic(config.critic_hidden_dims, num_critics=2)
    value_net = networks.StateValue(config.value_hidden_dims)
    actor = state_lib.create_train_state(
        actor_net, actor_key, (obs,),
        state_lib.make_optimizer(config.actor_lr, config.cosine_decay_steps))
    critic = state_lib.create_critic(critic_net, critic_key, obs, action, config.critic_lr)
    value = state_lib.create_train_state(value_net, value_key, (obs,),
                                         state_lib.make_optimizer(config.value_lr))
    return AgentState(actor, critic, value, key=state_key, step=jnp.zeros((), jnp.int32))


def value_loss(value_params: Params, state: AgentState, batch: Transition, config: Config):
    """mean_B L2_tau(min_i Q_targ_i(s, a) - V(s)) (IQL Eq. 5)."""
    target_q = state.critic.apply_fn(state.critic.target_params, batch.obs, batch.action).min(0)
    v = state.value.apply_fn(value_params, batch.obs)
    chex.assert_equal_shape([target_q, v])
    loss = losses.expectile_loss(target_q - v, config.expectile).mean()
    return loss, {"value/loss": loss, "value/v_mean": v.mean()}


def actor_loss(
    actor_params: Params, state: AgentState, batch: Transition, dropout_key: PRNGKey, config: Config
):
    """-mean_B min(exp(beta (Q_targ(s, a) - V(s))), 100) log pi(a|s) (IQL Eq. 7)."""
    target_q = state.critic.apply_fn(state.critic.target_params, batch.obs, batch.action).min(0)
    v = state.value.apply_fn(state.value.params, batch.obs)
    weights = losses.awr_weights(target_q - v, config.awr_temperature, config.awr_max_weight)
    dist = state.actor.apply_fn(
        actor_params, batch.obs, training=True, rngs={"dropout": dropout_key}
    )
    log_prob = dist.log_prob(batch.action)
    chex.assert_equal_shape([weights, log_prob])
    loss = -(weights * log_prob).mean()
    return loss, {"actor/loss": loss, "actor/adv_weight_mean": weights.mean()}


def critic_loss(critic_params: Params, state: AgentState, batch: Transition, config: Config):
    """sum_i mean_B (Q_i(s, a) - (r + gamma (1 - terminal) V(s')))^2 (IQL Eq. 6)."""
    next_v = state.value.apply_fn(state.value.params, batch.next_obs)
    target = losses.td_target(batch.reward, batch.terminal, config.discount, next_v)
    q = state.critic.apply_fn(critic_params, batch.obs, batch.action)
    loss = losses.ensemble_td_loss(q, target)
    return loss, {"critic/loss": loss, "critic/q_mean": q.mean()}


def update(config: Config, state: AgentState, batch: Transition) -> tuple[AgentState, Metrics]:
    key, dropout_key = jax.random.split(state.key)

    # --- Value update ---
    value, value_metrics = state_lib.gradient_step(value_loss, state.value, state, batch, config)
    state = state.replace(value=value)

    # --- Actor update (AWR against the new V) ---
    actor, actor_metrics = state_lib.gradient_step(
        actor_loss, state.actor, state, batch, dropout_key, config)
    state = state.replace(actor=actor)

    # --- Critic update (bootstraps from the new V) and target update ---
    critic, critic_metrics = state_lib.gradient_step(
        critic_loss, state.critic, state, batch, config)
    state = state.replace(critic=state_lib.soft_update(critic, config.tau), key=key,
                          step=state.step + 1)
    return state, {**value_metrics, **actor_metrics, **critic_metrics}


def act(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Deterministic evaluation action tanh(mu(s)) (temperature 0), obs [B, obs_dim]."""
    del config, key
    return state.actor.apply_fn(state.actor.params, obs).mode()


def explore(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Online behaviour: a sample of the Gaussian policy clipped to [-1, 1], [B, action_dim]."""
    del config
    dist = state.actor.apply_fn(state.actor.params, obs)
    return jnp.clip(networks.sample_and_log_prob(dist, key)[0], -1.0, 1.0)


def online_config(config: Config) -> dict:
    """Naive fine-tuning (``jaxrl_offline.runner.finetune``; IQL paper §5.3): IQL's own updates
    continue
    online, on a replay buffer that starts with the whole offline dataset."""
    del config
    return {"buffer": "offline"}


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))
