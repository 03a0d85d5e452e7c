"""CQL: "Conservative Q-Learning for Offline Reinforcement Learning" (Kumar et al., 2020).

arXiv:2006.04779. SAC with automatic entropy tuning whose critic loss adds the CQL(H) penalty
alpha_cql * (logsumexp_a Q(s, a) - Q(s, a_data)), the log-sum-exp estimated by importance
sampling over uniform actions and policy actions at s and s'. Optional Lagrange tuning of
alpha_cql towards a target action gap and a max-target backup (AntMaze settings). Follows
CORL's ``cql.py`` (losses computed with pre-update networks, then all optimizers step); where
CORL departs from the paper's code, ``log_std_offset`` (-1) and ``return_range_rewards`` (its
hopper-medium config) reproduce it (``benchmarks/parity/README.md`` lists every difference).
Spec: ``algorithms.md`` §2.4.
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

NAME = "cql"


@hyperparams.documented
@dataclasses.dataclass(frozen=True)
class Config(hyperparams.ActorCritic):
    """CQL hyperparameters (CORL gym-locomotion config): ``hyperparams.ActorCritic``'s with
    CORL's defaults, plus SAC's temperature and the CQL(H) regularizer.

    Attributes:
      actor_hidden_dims: policy MLP sizes (3 x 256 in CORL).
      critic_hidden_dims: Q MLP sizes (3 x 256 gym, 5 x 256 AntMaze in CORL).
      actor_lr: policy Adam step size (3e-5 gym, 1e-4 AntMaze/Adroit).
      critic_lr: Q Adam step size (3e-4).
      alpha_lr: entropy-temperature Adam step size (3e-4).
      target_entropy: SAC's target entropy; ``None`` means -action_dim.
      backup_entropy: subtract alpha log pi(a'|s') in the TD target (CORL: False).
      cql_alpha: weight alpha of the CQL penalty (10 gym, 5 AntMaze, 1 Adroit).
      cql_num_actions: K, sampled actions per source in the log-sum-exp (10).
      cql_temperature: temperature of the log-sum-exp (1.0).
      cql_clip_diff_min: lower clip of logsumexp - Q(s, a_data) (-inf; -200 AntMaze).
      cql_clip_diff_max: upper clip of the same difference (+inf).
      lagrange: tune alpha_cql by dual descent towards ``target_action_gap`` (AntMaze: True).
      target_action_gap: tau of the Lagrange version (0.8 AntMaze).
      max_target_backup: bootstrap from max over K policy actions at s' (AntMaze: True).
      bc_steps: initial updates whose actor loss is BC (log-likelihood) instead of SAC (0).
      log_std_offset: added to the actor's raw log-std before its clip to [-20, 2]: 0.0 (the
        CQL paper's code, rlkit's separate log-std head); CORL's ``cql.py`` (from JaxCQL) uses
        -1.0 (initial std 0.37 instead of 1) and learns it, and a scale of the raw log-std, as
        two scalar parameters; here the offset is fixed (the head's bias learns the same shift).
      return_range_rewards: scale rewards by 1000 / (max - min trajectory return) at load time
        (IQL's transform; ``dataset_transforms``). False: the family's table transform (raw
        rewards on locomotion, as the CQL paper); True: CORL's hopper-medium config
        (``normalize_reward: true``, scale 1, bias 0; its other locomotion configs keep raw
        rewards). Only on top of raw rewards: a table transform that already changes them
        (AntMaze's r * 10 - 5) is an error.
    """

    actor_hidden_dims: tuple[int, ...] = (256, 256, 256)
    critic_hidden_dims: tuple[int, ...] = (256, 256, 256)
    actor_lr: float = 3e-5
    alpha_lr: float = 3e-4
    target_entropy: float | None = None
    backup_entropy: bool = False
    cql_alpha: float = 10.0
    cql_num_actions: int = 10
    cql_temperature: float = 1.0
    cql_clip_diff_min: float = -float("inf")
    cql_clip_diff_max: float = float("inf")
    lagrange: bool = False
    target_action_gap: float = -1.0
    max_target_backup: bool = False
    bc_steps: int = 0
    log_std_offset: float = 0.0
    return_range_rewards: bool = False

    def dataset_transforms(self, transforms):
        """The run's dataset ``Transforms`` given the table's (``data.load_numpy(config=...)``):
        unchanged, or with return-range reward scaling when ``return_range_rewards``."""
        if not self.return_range_rewards:
            return transforms
        if transforms.reward != "none":
            raise ValueError(f"cql return_range_rewards=True scales raw rewards, but this "
                             f"dataset's table transform already changes them "
                             f"(reward={transforms.reward!r}); set return_range_rewards=False")
        return dataclasses.replace(transforms, reward="return_range", reward_scale=1000.0)


class AgentState(struct.PyTreeNode):
    actor: TrainState
    critic: TargetTrainState
    alpha: TrainState
    cql_alpha: TrainState | None  # Lagrange multiplier alpha'; None unless ``lagrange``.
    key: PRNGKey
    step: jax.Array


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    actor_key, critic_key, alpha_key, state_key = jax.random.split(key, 4)
    obs, action = example_obs[None], example_action[None]
    actor_net = networks.TanhGaussianActor(config.actor_hidden_dims, example_action.shape[-1],
                                           log_std_offset=config.log_std_offset)
    critic_net = networks.EnsembleCritic(config.critic_hidden_dims, num_critics=2)
    alpha_net = networks.Temperature(1.0)
    actor = state_lib.create_train_state(actor_net, actor_key, (obs,),
                                         state_lib.make_optimizer(config.actor_lr))
    critic = state_lib.create_critic(critic_net, critic_key, obs, action, config.critic_lr)
    alpha = state_lib.create_train_state(alpha_net, alpha_key, (),
                                         state_lib.make_optimizer(config.alpha_lr))
    cql_alpha = None
    if config.lagrange:  # The multiplier starts as alpha does (same net and key).
        cql_alpha = state_lib.create_train_state(alpha_net, alpha_key, (),
                                                 state_lib.make_optimizer(config.critic_lr))
    return AgentState(actor, critic, alpha, cql_alpha, state_key, jnp.zeros((), jnp.int32))


def alpha_loss(alpha_params: Params, state: AgentState, log_prob: jax.Array, target: float):
    """-log(alpha) * (log pi(a|s) + target_entropy), a ~ pi (SAC's automatic temperature)."""
    log_alpha = jnp.log(state.alpha.apply_fn(alpha_params))
    loss = losses.log_alpha_temperature_loss(log_alpha, log_prob, target)
    return loss, {"alpha/loss": loss, "alpha/value": jnp.exp(log_alpha)}


def actor_loss(
    actor_params: Params, state: AgentState, batch: Transition, sample_key: PRNGKey, config: Config
):
    """mean_B alpha log pi(a|s) - min_i Q_i(s, a), a ~ pi (SAC); BC log-likelihood before
    bc_steps."""
    alpha = state.alpha.apply_fn(state.alpha.params)
    dist = state.actor.apply_fn(actor_params, batch.obs)
    action, log_prob = networks.sample_and_log_prob(dist, sample_key)
    q = state.critic.apply_fn(state.critic.params, batch.obs, action).min(0)
    bc_log_prob = losses.gaussian_log_prob_clipped(dist, batch.action)
    rl_loss = (alpha * log_prob - q).mean()
    bc_loss = (alpha * log_prob - bc_log_prob).mean()
    loss = jnp.where(state.step < config.bc_steps, bc_loss, rl_loss)
    return loss, {"actor/loss": loss, "actor/entropy": -log_prob.mean(), "actor/log_prob": log_prob}


def q_on_samples(critic_params, state: AgentState, obs: jax.Array, actions: jax.Array):
    """Q of K sampled actions per state: obs [B, obs_dim], actions [K, B, A] -> [2, B, K].

    ``state`` is any agent state with a ``critic`` (MISA's too)."""
    tiled_obs = jnp.broadcast_to(obs[None], actions.shape[:2] + obs.shape[-1:])
    return jnp.swapaxes(state.critic.apply_fn(critic_params, tiled_obs, actions), 1, 2)


def importance_sampled_q(critic_params, state: AgentState, obs: jax.Array, random_key: PRNGKey,
                         next_samples, current_samples):
    """CQL(H)'s sampled actions at s with their proposal log-densities (CQL App. F).

    K uniform actions, then the policy's K actions at s' and K at s (``next_samples``,
    ``current_samples``: ([K, B, A] actions, [K, B] log-probs)), all scored at s.

    Returns:
      (Q [2, B, 3K], log mu(a|s) [B, 3K] detached: log 0.5^A for the uniform actions).
    """
    next_actions, next_log_prob = next_samples
    current_actions, current_log_prob = current_samples
    num, batch_size, action_dim = current_actions.shape
    random_actions = jax.random.uniform(random_key, (num, batch_size, action_dim), minval=-1,
                                        maxval=1)
    sampled_q = jnp.concatenate([q_on_samples(critic_params, state, obs, actions) for actions in
                                 (random_actions, next_actions, current_actions)], axis=-1)
    uniform_log_density = jnp.full((batch_size, num), action_dim * jnp.log(0.5))
    log_density = jnp.concatenate([uniform_log_density, next_log_prob.T, current_log_prob.T],
                                  axis=-1)
    return sampled_q, jax.lax.stop_gradient(log_density)


def action_gap(sampled_q: jax.Array, log_density: jax.Array, q_data: jax.Array,
               temperature: float, clip_min: float = -jnp.inf, clip_max: float = jnp.inf):
    """CQL(H)'s regularizer per critic: mean_B clip(T lse_k (Q_i(s, a_k) - log mu_k) / T
    - Q_i(s, a_data)), [2] (CQL Eq. 4; the clip is CORL's ``cql_clip_diff_min/max``).

    Args:
      sampled_q: [2, B, K]; log_density: [B, K] (shared by the critics); q_data: [2, B].
    """
    log_density = jnp.broadcast_to(log_density[None], sampled_q.shape)
    soft_max_q = losses.cql_logsumexp(sampled_q, log_density, temperature)
    chex.assert_equal_shape([soft_max_q, q_data])
    return jnp.clip(soft_max_q - q_data, clip_min, clip_max).mean(axis=1)


def critic_loss(
    critic_params: Params, state: AgentState, batch: Transition, key: PRNGKey, config: Config
):
    """TD loss of both critics plus alpha_cql * (logsumexp Q - Q(s, a_data)) (CQL(H))."""
    next_key, random_key, current_key, cql_next_key = jax.random.split(key, 4)
    num = config.cql_num_actions
    alpha = state.alpha.apply_fn(state.alpha.params)

    # --- TD target ---
    next_dist = state.actor.apply_fn(state.actor.params, batch.next_obs)
    if config.max_target_backup:
        next_actions, next_log_prob = networks.sample_and_log_prob(next_dist, next_key, num)
        next_q = q_on_samples(state.critic.target_params, state, batch.next_obs, next_actions)
        best = next_q.min(0).argmax(-1)
        next_q = jnp.take_along_axis(next_q.min(0), best[:, None], -1)[:, 0]
        next_log_prob = jnp.take_along_axis(next_log_prob.T, best[:, None], -1)[:, 0]
    else:
        next_action, next_log_prob = networks.sample_and_log_prob(next_dist, next_key)
        next_q = state.critic.apply_fn(state.critic.target_params, batch.next_obs, next_action)
        next_q = next_q.min(0)
    if config.backup_entropy:
        next_q = next_q - alpha * next_log_prob
    target = jax.lax.stop_gradient(
        losses.td_target(batch.reward, batch.terminal, config.discount, next_q)
    )
    q_data = state.critic.apply_fn(critic_params, batch.obs, batch.action)
    td_loss = losses.ensemble_td_loss(q_data, target)

    # --- CQL penalty: importance-sampled logsumexp over uniform and policy actions ---
    current_dist = state.actor.apply_fn(state.actor.params, batch.obs)
    sampled_q, log_density = importance_sampled_q(
        critic_params, state, batch.obs, random_key,
        networks.sample_and_log_prob(next_dist, cql_next_key, num),
        networks.sample_and_log_prob(current_dist, current_key, num))
    gap = action_gap(sampled_q, log_density, q_data, config.cql_temperature,
                     config.cql_clip_diff_min, config.cql_clip_diff_max)
    if config.lagrange:
        multiplier = jnp.clip(state.cql_alpha.apply_fn(state.cql_alpha.params), 0.0, 1e6)
        penalty = (jax.lax.stop_gradient(multiplier) * config.cql_alpha
                   * (gap - config.target_action_gap))
    else:
        penalty = config.cql_alpha * gap
    loss = td_loss + penalty.sum()
    metrics = {
        "critic/loss": loss,
        "critic/td_loss": td_loss,
        "critic/cql_gap": gap.mean(),
        "critic/q_mean": q_data.mean(),
    }
    return loss, (metrics, jax.lax.stop_gradient(gap))


def cql_alpha_loss(multiplier_params: Params, state: AgentState, gap: jax.Array, config: Config):
    """Dual ascent on alpha': minimize -alpha' * alpha_cql * (gap - tau), averaged over critics."""
    multiplier = jnp.clip(state.cql_alpha.apply_fn(multiplier_params), 0.0, 1e6)
    loss = -(multiplier * config.cql_alpha * (gap - config.target_action_gap)).mean()
    return loss, {"cql_alpha/loss": loss, "cql_alpha/value": multiplier}


def update(config: Config, state: AgentState, batch: Transition) -> tuple[AgentState, Metrics]:
    key, actor_key, critic_key = jax.random.split(state.key, 3)

    # All losses use the pre-update networks (CORL), then every optimizer steps.
    actor_grads, actor_metrics = jax.grad(actor_loss, has_aux=True)(
        state.actor.params, state, batch, actor_key, config
    )
    log_prob = actor_metrics.pop("actor/log_prob")
    target_entropy = losses.sac_target_entropy(config.target_entropy, batch.action.shape[-1])
    alpha_grads, alpha_metrics = jax.grad(alpha_loss, has_aux=True)(
        state.alpha.params, state, log_prob, target_entropy
    )
    critic_grads, (critic_metrics, gap) = jax.grad(critic_loss, has_aux=True)(
        state.critic.params, state, batch, critic_key, config
    )
    cql_alpha, multiplier_metrics = state.cql_alpha, {}
    if config.lagrange:
        multiplier_grads, multiplier_metrics = jax.grad(cql_alpha_loss, has_aux=True)(
            state.cql_alpha.params, state, gap, config
        )
        cql_alpha = state.cql_alpha.apply_gradients(grads=multiplier_grads)
    new_state = state.replace(
        actor=state.actor.apply_gradients(grads=actor_grads),
        alpha=state.alpha.apply_gradients(grads=alpha_grads),
        critic=state_lib.soft_update(state.critic.apply_gradients(grads=critic_grads), config.tau),
        cql_alpha=cql_alpha,
        key=key,
        step=state.step + 1,
    )
    return new_state, {**actor_metrics, **alpha_metrics, **critic_metrics, **multiplier_metrics}


def act(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Deterministic evaluation action tanh(mu(s)) for obs [B, obs_dim]."""
    del config, key
    dist = state.actor.apply_fn(state.actor.params, obs)
    return jnp.tanh(dist.distribution.mean())


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))
