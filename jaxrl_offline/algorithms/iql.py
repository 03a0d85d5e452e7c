"""IQL: "Offline Reinforcement Learning with Implicit Q-Learning" (Kostrikov, Nair & Levine, 2021).

arXiv:2110.06169. Learns V as an upper expectile of the target Q over dataset actions (never
querying out-of-distribution actions), Q by a TD backup through V, and extracts the policy by
advantage-weighted regression. Per step, in the order of the official ``learner.py``: V, actor
(using the new V), Q (bootstrapping from the new V), then the Polyak target-critic update.
Spec: ``algorithms.md`` §2.3.

Two switches reproduce CORL's ``iql.py`` (corl-team/CORL, the parity reference) where it departs
from the paper: ``actor_kind="deterministic"`` (its hopper medium / medium-replay setting) and
``use_updated_value=False`` (its update order); both default to the paper's choice.
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
ACTOR_KINDS = ("gaussian", "deterministic")


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
      dropout_rate: actor dropout (``None``; 0.1 on Kitchen/Adroit); Gaussian actor only.
      actor_kind: ``"gaussian"`` (the paper: N(tanh(mu(s)), exp(log_std)), loss -w log pi(a|s))
        or ``"deterministic"`` (CORL's ``iql_deterministic``, set in its hopper medium and
        medium-replay configs, not the paper's: a = tanh(mu(s)) trained by the advantage-weighted
        squared error mean_B w ||pi(s) - a||^2, see ``deterministic_actor_loss``).
      use_updated_value: the actor's advantages and the Q target use V after this step's value
        update (``True``, the official ``learner.py``) or V before it (``False``, CORL's order:
        all three losses read the step's starting V and target critic).
      init_scheme: the actor's, critics' and value's Dense initialization
        (``networks.INIT_SCHEMES``): "orthogonal" (default; the official JAX code's) or "pytorch"
        (``torch.nn.Linear``'s default in every layer, as CORL's ``iql.py``). [parity] switch, as
        TD3+BC's, for the comparison with CORL (``benchmarks/parity/README.md``).
    """

    cosine_decay_steps: int | None = 1_000_000
    awr_temperature: float = 3.0
    awr_max_weight: float = 100.0
    dropout_rate: float | None = None
    actor_kind: str = "gaussian"
    use_updated_value: bool = True
    init_scheme: str = "orthogonal"

    def __post_init__(self):
        networks.check_init_scheme(self.init_scheme, "IQL")
        if self.actor_kind not in ACTOR_KINDS:
            raise ValueError(
                f"IQL actor_kind must be one of {ACTOR_KINDS}, got {self.actor_kind!r}")
        if self.actor_kind == "deterministic" and self.dropout_rate is not None:
            raise ValueError(
                f"IQL's deterministic actor has no dropout; got dropout_rate={self.dropout_rate}. "
                "Set dropout_rate=None or actor_kind='gaussian'.")


class AgentState(struct.PyTreeNode):
    actor: TrainState
    critic: TargetTrainState
    value: TrainState
    key: PRNGKey
    step: jax.Array


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    actor_key, critic_key, value_key, state_key = jax.random.split(key, 4)
    obs, action = example_obs[None], example_action[None]
    if config.actor_kind == "deterministic":
        actor_net = networks.DeterministicActor(config.actor_hidden_dims, example_action.shape[-1],
                                                init_scheme=config.init_scheme)
    else:
        actor_net = networks.GaussianActor(
            config.actor_hidden_dims, example_action.shape[-1], dropout_rate=config.dropout_rate,
            init_scheme=config.init_scheme)
    critic_net = networks.EnsembleCritic(config.critic_hidden_dims, num_critics=2,
                                         init_scheme=config.init_scheme)
    value_net = networks.StateValue(config.value_hidden_dims, init_scheme=config.init_scheme)
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


def _awr_weights(state: AgentState, batch: Transition, config: Config) -> jax.Array:
    """min(exp(beta (min_i Q_targ_i(s, a) - V(s))), 100), [B], detached (IQL Eq. 7)."""
    target_q = state.critic.apply_fn(state.critic.target_params, batch.obs, batch.action).min(0)
    v = state.value.apply_fn(state.value.params, batch.obs)
    return losses.awr_weights(target_q - v, config.awr_temperature, config.awr_max_weight)


def actor_loss(
    actor_params: Params, state: AgentState, batch: Transition, dropout_key: PRNGKey, config: Config
):
    """-mean_B min(exp(beta (Q_targ(s, a) - V(s))), 100) log pi(a|s) (IQL Eq. 7)."""
    if config.actor_kind == "deterministic":
        return deterministic_actor_loss(actor_params, state, batch, config)
    weights = _awr_weights(state, batch, config)
    dist = state.actor.apply_fn(
        actor_params, batch.obs, training=True, rngs={"dropout": dropout_key}
    )
    log_prob = dist.log_prob(batch.action)
    chex.assert_equal_shape([weights, log_prob])
    loss = -(weights * log_prob).mean()
    return loss, {"actor/loss": loss, "actor/adv_weight_mean": weights.mean()}


def deterministic_actor_loss(actor_params: Params, state: AgentState, batch: Transition,
                             config: Config):
    """mean_B w ||pi(s) - a||^2 with the weights w of Eq. 7 (CORL's ``iql_deterministic``): the
    Gaussian log-likelihood with a fixed unit variance, up to a factor 1/2 and a constant.

    Args:
      actor_params: the deterministic actor's parameters; pi(s) [B, action_dim].
      batch: obs [B, obs_dim], action [B, action_dim].
    """
    weights = _awr_weights(state, batch, config)
    squared_error = losses.bc_mse(state.actor.apply_fn(actor_params, batch.obs), batch.action)
    chex.assert_equal_shape([weights, squared_error])
    loss = (weights * squared_error).mean()
    return loss, {"actor/loss": loss, "actor/adv_weight_mean": weights.mean(),
                  "actor/bc_mse": squared_error.mean()}


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
    # The actor and critic losses read V from ``targets``: the new V, or (CORL) the old one.
    targets = state.replace(value=value) if config.use_updated_value else state

    # --- Actor update (AWR against V) ---
    actor, actor_metrics = state_lib.gradient_step(
        actor_loss, state.actor, targets, batch, dropout_key, config)

    # --- Critic update (bootstraps from V) and target update ---
    critic, critic_metrics = state_lib.gradient_step(
        critic_loss, state.critic, targets, batch, config)
    critic = state_lib.soft_update(critic, config.tau)
    state = state.replace(value=value, actor=actor, critic=critic, key=key, step=state.step + 1)
    return state, {**value_metrics, **actor_metrics, **critic_metrics}


def act(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Deterministic evaluation action tanh(mu(s)) (temperature 0), obs [B, obs_dim]."""
    del key
    if config.actor_kind == "deterministic":
        return state.actor.apply_fn(state.actor.params, obs)
    return state.actor.apply_fn(state.actor.params, obs).mode()


def explore(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Online behaviour: a sample of the Gaussian policy clipped to [-1, 1], [B, action_dim]."""
    if config.actor_kind == "deterministic":
        raise ValueError("IQL's deterministic actor has no exploration distribution; fine-tune "
                         "online with actor_kind='gaussian'.")
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
