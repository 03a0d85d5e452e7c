"""SAC: "Soft Actor-Critic Algorithms and Applications" (Haarnoja et al., 2018).

arXiv:1812.05905. A tanh-squashed Gaussian actor, an ensemble of ``num_critics`` Q networks with a
clipped (min over the ensemble) soft target, and a learned entropy temperature alpha driven to the
target entropy -|A|:

* critic:  sum_i mean_B (Q_i(s, a) - y)^2, y = r + gamma (1 - terminal) (min_i Q'_i(s', a')
  - alpha log pi(a'|s')), a' ~ pi(.|s');
* actor:   mean_B (alpha log pi(a|s) - min_i Q_i(s, a)), a ~ pi(.|s) reparameterized;
* alpha:   mean_B -alpha (log pi(a|s) + target_entropy).

The library uses SAC online (``jaxrl_offline.runner.online``) to train the behavior policies of the
local D4RL-style suite, and it is registered for offline runs too: with ``num_critics=10`` it is the
SAC-N baseline of An et al. (2021). Every loss in one ``update`` uses the pre-update networks
(jaxrl style); the target critic moves by Polyak averaging after each critic step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct
from flax.training.train_state import TrainState

from jaxrl_offline import hyperparams, losses, networks, state as state_lib
from jaxrl_offline.state import TargetTrainState
from jaxrl_offline.types import Metrics, Params, PRNGKey, Transition

NAME = "sac"

# q_offset(obs [B, obs_dim], action [B, action_dim]) -> [B]: a term added to every critic head.
QOffset = Callable[[jax.Array, jax.Array], jax.Array]


@hyperparams.documented
@dataclasses.dataclass(frozen=True)
class Config(hyperparams.ActorCritic):
    """SAC hyperparameters (Haarnoja et al. 2018, Table 1, with automatic temperature):
    ``hyperparams.ActorCritic``'s, whose defaults are the paper's, plus the temperature's.

    Attributes:
      temperature_lr: Adam step size of log alpha (3e-4).
      num_critics: Q networks in the ensemble; the target and the actor use their minimum (2;
        SAC-N uses 10 or more).
      initial_temperature: alpha at initialization (1.0).
      target_entropy: entropy target of the temperature loss; ``None`` means -action_dim.
      backup_entropy: subtract alpha log pi(a'|s') in the critic target (True, as in the paper).
      critic_layer_norm: LayerNorm in the critic MLPs (False; RLPD/ReBRAC-style critics use it).
      init_scheme: the actor's and critics' Dense initialization (``networks.INIT_SCHEMES``):
        "orthogonal" (default, the JAX convention: gain sqrt(2), output layers 1e-2 (actor) and 1
        (critics), zero biases) or "pytorch" (``torch.nn.Linear``'s default in every layer, what
        PyTorch codes such as d3rlpy's SAC train with). [parity]
    """

    temperature_lr: float = 3e-4
    num_critics: int = 2
    initial_temperature: float = 1.0
    target_entropy: float | None = None
    backup_entropy: bool = True
    critic_layer_norm: bool = False
    init_scheme: str = "orthogonal"

    def __post_init__(self):
        networks.check_init_scheme(self.init_scheme, type(self).__module__.rsplit(".", 1)[-1])


class AgentState(struct.PyTreeNode):
    actor: TrainState
    critic: TargetTrainState
    temperature: TrainState
    key: PRNGKey
    step: jax.Array


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    actor_key, critic_key, temperature_key, state_key = jax.random.split(key, 4)
    actor_net = networks.TanhGaussianActor(config.actor_hidden_dims, example_action.shape[-1],
                                           init_scheme=config.init_scheme)
    critic_net = networks.EnsembleCritic(
        config.critic_hidden_dims, num_critics=config.num_critics,
        layer_norm=config.critic_layer_norm, init_scheme=config.init_scheme
    )
    temperature_net = networks.Temperature(config.initial_temperature)
    obs, action = example_obs[None], example_action[None]
    actor = state_lib.create_train_state(actor_net, actor_key, (obs,),
                                         state_lib.make_optimizer(config.actor_lr))
    critic = state_lib.create_critic(critic_net, critic_key, obs, action, config.critic_lr)
    temperature = state_lib.create_train_state(temperature_net, temperature_key, (),
                                               state_lib.make_optimizer(config.temperature_lr))
    return AgentState(
        actor=actor, critic=critic, temperature=temperature, key=state_key,
        step=jnp.zeros((), jnp.int32),
    )


def target_entropy(config: Config, action_dim: int) -> float:
    """The temperature loss's entropy target: ``config.target_entropy`` or -|A|."""
    return losses.sac_target_entropy(config.target_entropy, action_dim)


def critic_loss(
    critic_params: Params, state: AgentState, batch: Transition, next_key: PRNGKey, config: Config,
    q_offset: QOffset | None = None,
):
    """sum_i mean_B (Q_i(s, a) - y)^2 with the clipped soft target y (SAC Eq. 5, min over Q_i).

    ``q_offset(obs [B, d], action [B, A]) -> [B]``, when given, is added to every Q_i and to the
    target Q (the critic becomes Q_i = network_i + offset); ACA's fine-tuning uses it for its
    w * clipped log pi_0(a|s) term.
    """
    next_dist = state.actor.apply_fn(state.actor.params, batch.next_obs)
    next_action, next_log_prob = networks.sample_and_log_prob(next_dist, next_key)
    next_q = state.critic.apply_fn(state.critic.target_params, batch.next_obs, next_action).min(0)
    if q_offset is not None:
        next_q = next_q + q_offset(batch.next_obs, next_action)
    if config.backup_entropy:
        alpha = state.temperature.apply_fn(state.temperature.params)
        next_q = next_q - alpha * next_log_prob
    target = losses.td_target(batch.reward, batch.terminal, config.discount, next_q)
    q = state.critic.apply_fn(critic_params, batch.obs, batch.action)
    chex.assert_shape(q, (config.num_critics, batch.reward.shape[0]))
    if q_offset is not None:
        q = q + q_offset(batch.obs, batch.action)[None]
    loss = losses.ensemble_td_loss(q, target)
    return loss, {"critic/loss": loss, "critic/q_mean": q.mean(),
                  "critic/target_mean": target.mean()}


def actor_loss(actor_params: Params, state: AgentState, batch: Transition, key: PRNGKey,
               config: Config, q_offset: QOffset | None = None):
    """mean_B (alpha log pi(a|s) - min_i Q_i(s, a)), a = tanh(mu + sigma eps) (SAC Eq. 7).

    ``q_offset`` as in :func:`critic_loss` (added to min_i Q_i; gradients flow through its action
    argument). The metric ``actor/q_abs_mean`` is mean_B |min_i Q_i(s, a)| (ACA's lambda uses it).
    """
    del config
    dist = state.actor.apply_fn(actor_params, batch.obs)
    action, log_prob = networks.sample_and_log_prob(dist, key)
    q = state.critic.apply_fn(state.critic.params, batch.obs, action).min(0)
    if q_offset is not None:
        q = q + q_offset(batch.obs, action)
    alpha = state.temperature.apply_fn(state.temperature.params)
    loss = (alpha * log_prob - q).mean()
    return loss, {"actor/loss": loss, "actor/entropy": -log_prob.mean(),
                  "actor/q_abs_mean": jnp.abs(q).mean()}


def temperature_loss(temperature_params: Params, state: AgentState, entropy: jax.Array,
                     target: float):
    """-alpha (target_entropy - H) with H the actor's batch entropy estimate (SAC Eq. 18)."""
    alpha = state.temperature.apply_fn(temperature_params)
    loss = losses.alpha_temperature_loss(alpha, entropy, target)
    return loss, {"alpha/loss": loss, "alpha/value": alpha}


def update(config: Config, state: AgentState, batch: Transition) -> tuple[AgentState, Metrics]:
    key, next_key, actor_key = jax.random.split(state.key, 3)
    critic_grads, critic_metrics = jax.grad(critic_loss, has_aux=True)(
        state.critic.params, state, batch, next_key, config
    )
    actor_grads, actor_metrics = jax.grad(actor_loss, has_aux=True)(
        state.actor.params, state, batch, actor_key, config
    )
    entropy = jax.lax.stop_gradient(actor_metrics["actor/entropy"])
    temperature_grads, temperature_metrics = jax.grad(temperature_loss, has_aux=True)(
        state.temperature.params, state, entropy, target_entropy(config, batch.action.shape[-1])
    )
    critic = state_lib.soft_update(state.critic.apply_gradients(grads=critic_grads), config.tau)
    state = state.replace(
        actor=state.actor.apply_gradients(grads=actor_grads),
        critic=critic,
        temperature=state.temperature.apply_gradients(grads=temperature_grads),
        key=key,
        step=state.step + 1,
    )
    return state, {**critic_metrics, **actor_metrics, **temperature_metrics}


def act(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Deterministic evaluation action tanh(mu(s)) for obs [B, obs_dim] -> [B, action_dim]."""
    del config, key
    dist = state.actor.apply_fn(state.actor.params, obs)
    return jnp.tanh(dist.distribution.mean())


def explore(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Exploration action a ~ pi(.|s) (a sample of the squashed Gaussian), [B, action_dim]."""
    del config
    dist = state.actor.apply_fn(state.actor.params, obs)
    return networks.sample_and_log_prob(dist, key)[0]


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))
