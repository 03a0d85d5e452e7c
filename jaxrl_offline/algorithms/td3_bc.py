"""TD3+BC: "A Minimalist Approach to Offline Reinforcement Learning" (Fujimoto & Gu, 2021).

arXiv:2106.06860. TD3 with a behavior-cloning term in the actor loss,
L_pi = -lambda Q1(s, pi(s)) + (pi(s) - a)^2 with lambda = alpha / mean|Q1(s, pi(s))|,
on mean/std-normalized states. The actor and both targets move every ``policy_freq`` critic
steps. Spec: ``algorithms.md`` §2.2.
"""

from __future__ import annotations

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from jaxrl_offline import hyperparams, losses, networks, state as state_lib
from jaxrl_offline.state import TargetTrainState
from jaxrl_offline.types import Metrics, Params, PRNGKey, Transition

NAME = "td3_bc"


@hyperparams.documented
@dataclasses.dataclass(frozen=True)
class Config(hyperparams.TD3):
    """TD3+BC hyperparameters (paper Table 4 / official code): TD3's (``hyperparams.TD3``, whose
    defaults are the paper's) plus the BC trade-off.

    Attributes:
      alpha: BC trade-off alpha in lambda = alpha / mean|Q| (2.5).
      init_scheme: the actor's and critics' Dense initialization (``networks.INIT_SCHEMES``).
        "pytorch" (default): ``torch.nn.Linear``'s default, U(+-1/sqrt(fan_in)) kernels and
        biases in every layer, what the paper's official code and CORL train with. "orthogonal":
        orthogonal kernels with gain sqrt(2), output layers 1e-2 (actor) and 1 (critics), zero
        biases, the JAX convention; this library's TD3+BC used it until 2026-12-06 (records made
        before carry ``init_scheme="orthogonal"``). The paper does not state an initialization;
        the parity runs against CORL (``benchmarks/parity/README.md``, 5 seeds a side, 100k
        updates on the local hopper medium) found the orthogonal one about 9 points lower late
        in training, a gap the PyTorch default closes. [parity]
    """

    alpha: float = 2.5
    init_scheme: str = "pytorch"

    def __post_init__(self):
        networks.check_init_scheme(self.init_scheme, "TD3+BC")


class AgentState(struct.PyTreeNode):
    actor: TargetTrainState
    critic: TargetTrainState
    key: PRNGKey
    step: jax.Array


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    actor_key, critic_key, state_key = jax.random.split(key, 3)
    obs, action = example_obs[None], example_action[None]
    actor_net = networks.DeterministicActor(config.actor_hidden_dims, example_action.shape[-1],
                                            init_scheme=config.init_scheme)
    critic_net = networks.EnsembleCritic(config.critic_hidden_dims, num_critics=2,
                                         init_scheme=config.init_scheme)
    actor = state_lib.create_target_actor(actor_net, actor_key, obs, config.actor_lr)
    critic = state_lib.create_critic(critic_net, critic_key, obs, action, config.critic_lr)
    return AgentState(actor=actor, critic=critic, key=state_key, step=jnp.zeros((), jnp.int32))


def critic_loss(critic_params: Params, state: AgentState, batch: Transition, noise_key: PRNGKey,
                config: Config, next_action: jax.Array | None = None):
    """sum_i mean_B (Q_i(s, a) - y)^2 with y from the clipped double-Q target (TD3 Eq. 10).

    ``next_action`` [B, A] is the target actor's action at s' before smoothing (default: the
    deterministic target actor, pi'(s'); TD3-RKL passes its Gaussian actor's mean action).
    """
    if next_action is None:
        next_action = state.actor.apply_fn(state.actor.target_params, batch.next_obs)
    next_action = losses.smoothed_target_action(next_action, noise_key, config.policy_noise,
                                                config.noise_clip)
    next_q = state.critic.apply_fn(state.critic.target_params, batch.next_obs, next_action).min(0)
    target = losses.td_target(batch.reward, batch.terminal, config.discount, next_q)
    q = state.critic.apply_fn(critic_params, batch.obs, batch.action)
    chex.assert_shape(q, (2, batch.reward.shape[0]))
    loss = losses.ensemble_td_loss(q, target)
    return loss, {"critic/loss": loss, "critic/q_mean": q.mean(),
                  "critic/target_mean": target.mean()}


def actor_loss(actor_params: Params, state: AgentState, batch: Transition, config: Config):
    """-lambda mean_B Q1(s, pi(s)) + mean_{B, dims}(pi(s) - a)^2 (TD3+BC Eq. 3)."""
    action = state.actor.apply_fn(actor_params, batch.obs)
    q1 = state.critic.apply_fn(state.critic.params, batch.obs, action)[0]
    lmbda = losses.td3_bc_lambda(q1, config.alpha)
    bc = losses.bc_mse(action, batch.action).mean() / action.shape[-1]
    loss = -lmbda * q1.mean() + bc
    return loss, {"actor/loss": loss, "actor/bc_mse": bc, "actor/lambda": lmbda}


def td3_step(config, state, batch, noise_key: PRNGKey, critic_loss_fn=None, actor_loss_fn=None,
             actor_enabled: jax.Array | bool = True, **actor_loss_kwargs):
    """TD3's schedule, shared by the TD3 family (ReBRAC, TD3-RKL): a critic step on
    ``critic_loss_fn(critic_params, state, batch, noise_key, config)`` every update, then, in TD3's
    phase (``state.delayed_update``: updates policy_freq - 1, 2 policy_freq - 1, ...), an actor
    step on ``actor_loss_fn(actor_params, state, batch=, config=, **actor_loss_kwargs)`` (with the
    new critic) and Polyak updates of both targets. The losses default to TD3+BC's.

    Returns:
      ``(state, metrics)``; the caller advances ``key`` and ``step``.
    """
    critic, critic_metrics = state_lib.gradient_step(
        critic_loss_fn or critic_loss, state.critic, state, batch, noise_key, config)
    state = state.replace(critic=critic)
    actor_step = functools.partial(state_lib.actor_and_targets_step, actor_loss_fn or actor_loss,
                                   tau=config.tau, batch=batch, config=config, **actor_loss_kwargs)
    state, actor_metrics = state_lib.delayed_update(
        actor_step, state, step=state.step, period=config.policy_freq,
        phase=config.policy_freq - 1, enabled=actor_enabled)
    return state, {**critic_metrics, **actor_metrics}


def update(config: Config, state: AgentState, batch: Transition) -> tuple[AgentState, Metrics]:
    key, noise_key = jax.random.split(state.key)
    state, metrics = td3_step(config, state, batch, noise_key)
    return state.replace(key=key, step=state.step + 1), metrics


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
    """Naive fine-tuning (``jaxrl_offline.runner.finetune``): TD3+BC's own updates continue online,
    on a
    replay buffer that starts with the whole offline dataset."""
    del config
    return {"buffer": "offline"}


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))
