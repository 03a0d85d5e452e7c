"""TD3+BC: "A Minimalist Approach to Offline Reinforcement Learning" (Fujimoto & Gu, 2021).

arXiv:2106.06860. TD3 with a behavior-cloning term in the actor loss,
L_pi = -lambda Q1(s, pi(s)) + (pi(s) - a)^2 with lambda = alpha / mean|Q1(s, pi(s))|,
on mean/std-normalized states. The actor and both targets move every ``policy_freq`` critic
steps. Spec: ``algorithms.md`` §2.2.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxrl_offline import losses, networks, state as state_lib
from jaxrl_offline.state import TargetTrainState
from jaxrl_offline.types import Metrics, Params, PRNGKey, Transition

NAME = "td3_bc"


@dataclasses.dataclass(frozen=True)
class Config:
    """TD3+BC hyperparameters (paper Table 4 / official code).

    Attributes:
      hidden_dims: actor and critic MLP sizes (2 x 256).
      actor_lr: actor Adam step size (3e-4).
      critic_lr: critic Adam step size (3e-4).
      batch_size: transitions per update (256).
      discount: gamma (0.99).
      tau: Polyak rate of the target networks (0.005).
      policy_noise: std of target policy smoothing noise, in [-1, 1] action units (0.2).
      noise_clip: clip of the smoothing noise (0.5).
      policy_freq: critic updates per actor/target update (d = 2).
      alpha: BC trade-off alpha in lambda = alpha / mean|Q| (2.5).
    """

    hidden_dims: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    batch_size: int = 256
    discount: float = 0.99
    tau: float = 0.005
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_freq: int = 2
    alpha: float = 2.5


class AgentState(struct.PyTreeNode):
    actor: TargetTrainState
    critic: TargetTrainState
    key: PRNGKey
    step: jax.Array


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    actor_key, critic_key, state_key = jax.random.split(key, 3)
    actor_net = networks.DeterministicActor(config.hidden_dims, example_action.shape[-1])
    critic_net = networks.EnsembleCritic(config.hidden_dims, num_critics=2)
    actor = TargetTrainState.create_with_target(
        apply_fn=actor_net.apply,
        params=actor_net.init(actor_key, example_obs[None]),
        tx=state_lib.make_optimizer(config.actor_lr),
    )
    critic = TargetTrainState.create_with_target(
        apply_fn=critic_net.apply,
        params=critic_net.init(critic_key, example_obs[None], example_action[None]),
        tx=state_lib.make_optimizer(config.critic_lr),
    )
    return AgentState(actor=actor, critic=critic, key=state_key, step=jnp.zeros((), jnp.int32))


def critic_loss(
    critic_params: Params, state: AgentState, batch: Transition, noise_key: PRNGKey, config: Config
):
    """sum_i mean_B (Q_i(s, a) - y)^2 with y from the clipped double-Q target (TD3 Eq. 10)."""
    next_action = state.actor.apply_fn(state.actor.target_params, batch.next_obs)
    noise = jnp.clip(
        config.policy_noise * jax.random.normal(noise_key, next_action.shape),
        -config.noise_clip,
        config.noise_clip,
    )
    next_action = jnp.clip(next_action + noise, -1.0, 1.0)
    next_q = state.critic.apply_fn(state.critic.target_params, batch.next_obs, next_action).min(0)
    target = losses.td_target(batch.reward, batch.terminal, config.discount, next_q)
    q = state.critic.apply_fn(critic_params, batch.obs, batch.action)
    chex.assert_shape(q, (2, batch.reward.shape[0]))
    loss = ((q - target[None]) ** 2).mean(axis=1).sum()
    return loss, {"critic/loss": loss, "critic/q_mean": q.mean(), "critic/target_mean": target.mean()}


def actor_loss(actor_params: Params, state: AgentState, batch: Transition, config: Config):
    """-lambda mean_B Q1(s, pi(s)) + mean_{B, dims}(pi(s) - a)^2 (TD3+BC Eq. 3)."""
    action = state.actor.apply_fn(actor_params, batch.obs)
    q1 = state.critic.apply_fn(state.critic.params, batch.obs, action)[0]
    lmbda = losses.td3_bc_lambda(q1, config.alpha)
    bc = losses.bc_mse(action, batch.action).mean() / action.shape[-1]
    loss = -lmbda * q1.mean() + bc
    return loss, {"actor/loss": loss, "actor/bc_mse": bc, "actor/lambda": lmbda}


def update(config: Config, state: AgentState, batch: Transition) -> tuple[AgentState, Metrics]:
    key, noise_key = jax.random.split(state.key)

    # --- Critic update (every step) ---
    critic_grads, critic_metrics = jax.grad(critic_loss, has_aux=True)(
        state.critic.params, state, batch, noise_key, config
    )
    state = state.replace(critic=state.critic.apply_gradients(grads=critic_grads))

    # --- Delayed actor and target update ---
    # Under vmap over seeds the predicate is batched, so lax.cond lowers to a select; both
    # branches run, which keeps the update a single traced function for every seed.
    def delayed_update(current: AgentState):
        actor_grads, metrics = jax.grad(actor_loss, has_aux=True)(
            current.actor.params, current, batch, config
        )
        actor = state_lib.soft_update(current.actor.apply_gradients(grads=actor_grads), config.tau)
        critic = state_lib.soft_update(current.critic, config.tau)
        return current.replace(actor=actor, critic=critic), metrics

    def skip(current: AgentState):
        # NaN marks "no actor step here"; the trainer averages metrics with nanmean.
        skipped = jnp.full((), jnp.nan, jnp.float32)
        return current, {"actor/loss": skipped, "actor/bc_mse": skipped, "actor/lambda": skipped}

    # The (already split) key stays out of the cond: as a select, it would count as a second use
    # of state.key for jax_debug_key_reuse.
    state, actor_metrics = jax.lax.cond(
        state.step % config.policy_freq == config.policy_freq - 1,
        delayed_update,
        skip,
        state.replace(key=None),
    )
    return state.replace(key=key, step=state.step + 1), {**critic_metrics, **actor_metrics}


def act(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Deterministic action pi(s) for obs [B, obs_dim] -> [B, action_dim]."""
    del config, key
    return state.actor.apply_fn(state.actor.params, obs)


# TD3's Gaussian exploration noise std, in [-1, 1] action units (TD3/TD3+BC main.py expl_noise).
EXPLORATION_NOISE = 0.1


def explore(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Online behaviour: clip(pi(s) + N(0, 0.1^2), -1, 1), [B, action_dim] (TD3's exploration)."""
    del config
    action = state.actor.apply_fn(state.actor.params, obs)
    return jnp.clip(action + EXPLORATION_NOISE * jax.random.normal(key, action.shape), -1.0, 1.0)


def online_config(config: Config) -> dict:
    """Naive fine-tuning (``jaxrl_offline.finetune``): TD3+BC's own updates continue online, on a
    replay buffer that starts with the whole offline dataset."""
    del config
    return {"buffer": "offline"}


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))
