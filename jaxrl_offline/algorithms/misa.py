"""MISA: "Mutual Information Regularized Offline Reinforcement Learning" (Ma et al., NeurIPS 2023).

arXiv:2210.07484. Regularizes policy evaluation and improvement with a lower bound on I(S; A)
parameterized by the policy and Q, p(a|s) = pi(a|s) exp(Q(s, a)) / E_pi[exp Q(s, .)]. Critic:
TD + min_q_weight * (log-mean-exp of Q over N policy actions - Q(s, a_data)). Actor: SAC-style
-min Q plus bc_weight * (alpha log pi(a~|s) - log pi(a_data|s)) plus the sampling-based correction
of the log-partition's gradient, unbiased_weight * E_p[log pi(a|s)] with a ~ p drawn by HMC
started at the dataset actions. Follows the official ``sail-sg/MISA`` ``algos/misa.py`` (losses from
the same pre-update networks, then every optimizer steps). Spec: ``algorithms.md`` §5.

CQL and TD3+BC are special cases by configuration (tested in ``tests/test_td3_family.py``):
``critic_regularizer="cql"`` (importance-sampled uniform and policy actions), ``bc_weight=0``,
``entropy_weight=1`` and no correction give CQL's losses; ``policy="deterministic"``,
``min_q_weight=0``, ``bc_mode="mse"``, ``q_reduction="first"`` and ``q_normalization=2.5`` give
TD3+BC's (its actor target network and policy delay are schedule, not loss, and are not here).
Left out of the code's options (all off by default there): Lagrange tuning of min_q_weight,
max-target backup, ``add_positive``, ``detach_pi``, n-step returns. Networks use the library's
orthogonal initialization (the code: variance scaling 1e-2 on output layers).
"""

from __future__ import annotations

import dataclasses

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct
from flax.training.train_state import TrainState

from jaxrl_offline import hyperparams, losses, networks, state as state_lib
from jaxrl_offline.generative import mcmc
from jaxrl_offline.algorithms import cql
from jaxrl_offline.state import TargetTrainState
from jaxrl_offline.types import Metrics, Params, PRNGKey, Transition

NAME = "misa"
ACTIVATIONS = {"relu": nn.relu, "elu": nn.elu}
CHOICES = {"policy": ("tanh_gaussian", "deterministic"), "critic_regularizer": ("misa", "cql"),
           "bc_mode": ("mle", "mse"), "q_reduction": ("min", "first"),
           "critic_activation": tuple(ACTIVATIONS)}
CHAIN_START_CLIP = 1.0 - 1e-5  # HMC starts at dataset actions, kept where log pi is finite.


@hyperparams.documented
@dataclasses.dataclass(frozen=True)
class Config(hyperparams.ActorCritic):
    """MISA hyperparameters (official code defaults, ``algos/misa.py`` and ``experiments/main.py``):
    ``hyperparams.ActorCritic``'s plus the policy, the regularizers and the HMC sampler.

    Attributes:
      actor_hidden_dims: policy MLP sizes (256-256, ReLU).
      critic_activation: Q nonlinearity, ``"elu"`` (code) or ``"relu"``.
      actor_lr: policy Adam step size (1e-4).
      alpha_lr: temperature Adam step size (1e-4, the policy's).
      target_entropy: SAC target entropy; ``None`` means -action_dim (code).
      policy: ``"tanh_gaussian"`` (code) or ``"deterministic"`` (a tanh MLP: the fixed-variance
        Gaussian limit used for the TD3+BC special case; needs ``bc_mode="mse"``, no correction).
      log_std_offset: added to the raw log-std (-1; the code learns it, equivalent to the bias).
      log_std_min: lower clip of the log-std (-5).
      log_std_max: upper clip of the log-std (2).
      mean_clip: clip of the pre-tanh mean (9); ``None`` for no clip.
      critic_regularizer: ``"misa"``: log-sum-exp over ``num_actions`` policy actions at s, no
        importance weights (code ``misa=True``); ``"cql"``: CQL(H)'s importance-sampled uniform and
        policy actions at s and s' (code ``misa=False``).
      num_actions: N, sampled actions per state and source in the log-sum-exp (50).
      min_q_weight: weight of the critic regularizer (5.0).
      logsumexp_temperature: temperature T of the critic regularizer's log-sum-exp (1.0).
      log_k_norm: subtract log(batch_size) inside the log-sum-exp, as the code does (a constant).
      bc_mode: ``"mle"``: -log pi(a_data|s) (code); ``"mse"``: mean (a_pi - a_data)^2.
      bc_weight: weight of the BC term (0.5, code ``bc_weight_misa``).
      entropy_weight: weight of alpha log pi(a~|s) (0.5: the code multiplies it and the MLE term
        by the same bc_weight_misa; 1.0 with bc_weight=0 is SAC/CQL's actor loss).
      unbiased_grad: add the HMC correction of the log-partition gradient (True).
      unbiased_weight: weight of mean log pi(a_mcmc|s) (0.1).
      mcmc_num_samples: HMC draws per state after burn-in (50, the code's n_actions).
      mcmc_burnin_steps: HMC burn-in steps (5). The code's within-chain step-size adaptation
        (rate 0.01 over 4 steps, at most 4% change) is replaced by ``mcmc_adaptation_rate``.
      mcmc_leapfrog_steps: leapfrog steps per HMC proposal (2).
      mcmc_step_size: initial leapfrog step size (1.0); carried in ``AgentState.mcmc_step_size``.
      mcmc_target_accept: acceptance rate the step size adapts toward (0.75, the target of TFP's
        ``SimpleStepSizeAdaptation`` that the code uses).
      mcmc_adaptation_rate: after each update, ``step_size *= exp(rate (accept - target))`` with the
        update's acceptance rate after burn-in (``mcmc.adapt_step_size``). 0.05 [INFERRED: at the
        fixed 1.0 in a [-1, 1] action space about 0.1% of proposals were accepted, so the
        correction barely acted; this reaches a usable step size within ~100 updates]; 0 keeps
        the step size fixed (the paper's setting up to the code's 4%). Metrics:
        ``actor/mcmc_accept_rate``, ``actor/mcmc_step_size``.
      q_reduction: Q of the actor's RL term: ``"min"`` over both critics (code) or ``"first"``.
      q_normalization: ``None`` (code): RL term -mean Q; a float alpha: -alpha / mean|Q| * mean Q
        (TD3+BC's lambda, detached).
      policy_noise: target smoothing noise std, deterministic policy only (0.2, TD3).
      noise_clip: clip of that noise (0.5).
    """

    actor_lr: float = 1e-4
    critic_activation: str = "elu"
    alpha_lr: float = 1e-4
    target_entropy: float | None = None
    policy: str = "tanh_gaussian"
    log_std_offset: float = -1.0
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    mean_clip: float | None = 9.0
    critic_regularizer: str = "misa"
    num_actions: int = 50
    min_q_weight: float = 5.0
    logsumexp_temperature: float = 1.0
    log_k_norm: bool = True
    bc_mode: str = "mle"
    bc_weight: float = 0.5
    entropy_weight: float = 0.5
    unbiased_grad: bool = True
    unbiased_weight: float = 0.1
    mcmc_num_samples: int = 50
    mcmc_burnin_steps: int = 5
    mcmc_leapfrog_steps: int = 2
    mcmc_step_size: float = 1.0
    mcmc_target_accept: float = 0.75
    mcmc_adaptation_rate: float = 0.05
    q_reduction: str = "min"
    q_normalization: float | None = None
    policy_noise: float = 0.2
    noise_clip: float = 0.5


class AgentState(struct.PyTreeNode):
    actor: TrainState
    critic: TargetTrainState
    alpha: TrainState | None  # SAC temperature; None for the deterministic policy.
    key: PRNGKey
    step: jax.Array
    mcmc_step_size: jax.Array  # HMC leapfrog step size, adapted after every update; scalar.


def validate(config: Config) -> None:
    for name, choices in CHOICES.items():
        if getattr(config, name) not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {getattr(config, name)!r}")
    if config.policy == "deterministic" and (
        config.bc_mode == "mle" or config.unbiased_grad
        or (config.critic_regularizer == "cql" and config.min_q_weight)
    ):
        raise ValueError("policy='deterministic' has no density: it needs bc_mode='mse', "
                         "unbiased_grad=False and no 'cql' regularizer.")
    if not 0.0 < config.mcmc_target_accept < 1.0 or config.mcmc_adaptation_rate < 0:
        raise ValueError(
            f"mcmc_target_accept must be in (0, 1) and mcmc_adaptation_rate >= 0 (0 = fixed step "
            f"size), got {config.mcmc_target_accept} and {config.mcmc_adaptation_rate}")


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    validate(config)
    actor_key, critic_key, alpha_key, state_key = jax.random.split(key, 4)
    obs, action = example_obs[None], example_action[None]
    action_dim = example_action.shape[-1]
    if config.policy == "tanh_gaussian":
        actor_net = networks.TanhGaussianActor(
            config.actor_hidden_dims, action_dim, config.log_std_min, config.log_std_max,
            config.log_std_offset, config.mean_clip,
        )
    else:
        actor_net = networks.DeterministicActor(config.actor_hidden_dims, action_dim)
    critic_net = networks.EnsembleCritic(
        config.critic_hidden_dims, activation=ACTIVATIONS[config.critic_activation]
    )
    actor = state_lib.create_train_state(actor_net, actor_key, (obs,),
                                         state_lib.make_optimizer(config.actor_lr))
    critic = state_lib.create_critic(critic_net, critic_key, obs, action, config.critic_lr)
    alpha = None
    if config.policy == "tanh_gaussian":  # log alpha starts at 0 (code).
        alpha = state_lib.create_train_state(networks.Temperature(1.0), alpha_key, (),
                                             state_lib.make_optimizer(config.alpha_lr))
    return AgentState(actor, critic, alpha, state_key, jnp.zeros((), jnp.int32),
                      mcmc_step_size=jnp.asarray(config.mcmc_step_size, jnp.float32))


# -log(alpha) (log pi(a~|s) + target_entropy), a~ ~ pi: SAC's automatic temperature, as CQL's.
alpha_loss = cql.alpha_loss


def _policy_actions(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey, num: int):
    """[num, B, A] policy actions and [num, B] log-probs (None for the deterministic policy)."""
    output = state.actor.apply_fn(state.actor.params, obs)
    if config.policy == "deterministic":
        return jnp.broadcast_to(output[None], (num,) + output.shape), None
    return networks.sample_and_log_prob(output, key, num)


def _regularizer_terms(critic_params, state, batch, keys, config: Config):
    """Q [2, B, K] of the sampled actions and their log proposal densities [B, K]."""
    random_key, current_key, next_key = keys
    batch_size, num = batch.action.shape[0], config.num_actions
    current_samples = _policy_actions(config, state, batch.obs, current_key, num)
    if config.critic_regularizer == "misa":
        sampled_q = cql.q_on_samples(critic_params, state, batch.obs, current_samples[0])
        log_density = jnp.zeros((batch_size, num))
    else:  # CQL(H), cql.importance_sampled_q: uniform, policy at s', policy at s.
        sampled_q, log_density = cql.importance_sampled_q(
            critic_params, state, batch.obs, random_key,
            _policy_actions(config, state, batch.next_obs, next_key, num), current_samples)
    if config.log_k_norm:
        log_density = log_density + jnp.log(batch_size)
    return sampled_q, jax.lax.stop_gradient(log_density)


def critic_loss(critic_params: Params, state: AgentState, batch: Transition, key: PRNGKey,
                config: Config):
    """sum_i [mean_B (Q_i(s, a) - y)^2 + min_q_weight mean_B (T lse_k Q_i(s, a_k)/T - Q_i(s, a))].

    lse_k is importance-corrected by the proposal densities for ``critic_regularizer="cql"``.
    """
    next_key, random_key, current_key, cql_next_key = jax.random.split(key, 4)  # As cql.py.
    next_output = state.actor.apply_fn(state.actor.params, batch.next_obs)
    if config.policy == "deterministic":  # TD3 target smoothing.
        next_action = losses.smoothed_target_action(next_output, next_key, config.policy_noise,
                                                    config.noise_clip)
    else:
        next_action, _ = networks.sample_and_log_prob(next_output, next_key)
    next_q = state.critic.apply_fn(state.critic.target_params, batch.next_obs, next_action).min(0)
    target = jax.lax.stop_gradient(
        losses.td_target(batch.reward, batch.terminal, config.discount, next_q))
    q_data = state.critic.apply_fn(critic_params, batch.obs, batch.action)
    td_loss = losses.ensemble_td_loss(q_data, target)
    loss, metrics = td_loss, {"critic/td_loss": td_loss, "critic/q_mean": q_data.mean()}
    if config.min_q_weight:
        sampled_q, log_density = _regularizer_terms(
            critic_params, state, batch, (random_key, current_key, cql_next_key), config)
        gap = cql.action_gap(sampled_q, log_density, q_data, config.logsumexp_temperature)  # [2]
        loss = loss + config.min_q_weight * gap.sum()
        metrics["critic/mi_gap"] = gap.mean()
    return loss, {**metrics, "critic/loss": loss}


def actor_loss(actor_params: Params, state: AgentState, batch: Transition, sample_key: PRNGKey,
               mcmc_actions: jax.Array | None, config: Config):
    """Policy loss, averaged over the batch (official ``misa.py``, generalized):

    -lambda Q(s, a~) + entropy_weight alpha log pi(a~|s) + bc_weight L_bc
    + unbiased_weight log pi(a_mcmc|s), with a~ ~ pi(.|s) reparameterized (pi(s) if
    deterministic), L_bc = -log pi(a_data|s) ("mle") or mean_dims (a~ - a_data)^2 ("mse").
    """
    output = state.actor.apply_fn(actor_params, batch.obs)
    if config.policy == "deterministic":
        action, log_prob = output, None
    else:
        action, log_prob = networks.sample_and_log_prob(output, sample_key)
    q_values = state.critic.apply_fn(state.critic.params, batch.obs, action)
    q = q_values.min(0) if config.q_reduction == "min" else q_values[0]
    lmbda = 1.0
    if config.q_normalization is not None:
        lmbda = losses.td3_bc_lambda(q, config.q_normalization)
    loss = -lmbda * q.mean()
    metrics = {}
    if log_prob is not None:
        alpha = state.alpha.apply_fn(state.alpha.params)
        loss = loss + config.entropy_weight * (alpha * log_prob).mean()
        metrics = {"actor/entropy": -log_prob.mean(), "actor/log_prob": log_prob}
    if config.bc_weight:
        if config.bc_mode == "mle":
            bc = -losses.gaussian_log_prob_clipped(output, batch.action).mean()
        else:
            bc = losses.bc_mse(action, batch.action).mean() / action.shape[-1]
        loss = loss + config.bc_weight * bc
        metrics["actor/bc_loss"] = bc
    if mcmc_actions is not None:  # Gradient of -log Z(s) = -E_p[grad log pi(a|s)], a ~ p by HMC.
        # pi(.|s) of the batch, broadcast over the draws: the policy network runs once per state,
        # not once per draw (the same gradient at 1/mcmc_num_samples of the actor's cost).
        chex.assert_shape(mcmc_actions, (None,) + batch.action.shape)
        correction = networks.log_prob_of_samples(output, mcmc_actions).mean()
        loss = loss + config.unbiased_weight * correction
    return loss, {**metrics, "actor/loss": loss}


def hmc_actions(config: Config, state: AgentState, obs: jax.Array, start: jax.Array, key: PRNGKey):
    """HMC draws from p(a|s) proportional to pi(a|s) exp(min_i Q_i(s, a)), one chain per state.

    Chains start at ``start`` [B, A] (the dataset actions, as in the code) and run
    ``mcmc_burnin_steps`` + ``mcmc_num_samples`` steps (``mcmc.hmc_chains``).

    Returns:
      ([mcmc_num_samples, B, A] detached draws, acceptance rate after burn-in).
    """

    policy = state.actor.apply_fn(state.actor.params, obs)  # Loop-invariant: computed once.

    def log_target(action):
        log_pi = policy.log_prob(action)
        return log_pi + state.critic.apply_fn(state.critic.params, obs, action).min(0)

    draws, accepted = mcmc.hmc_chains(
        log_target, jnp.clip(start, -CHAIN_START_CLIP, CHAIN_START_CLIP), key,
        config.mcmc_num_samples, config.mcmc_burnin_steps, config.mcmc_leapfrog_steps,
        state.mcmc_step_size)
    return draws, accepted.mean()


def update(config: Config, state: AgentState, batch: Transition) -> tuple[AgentState, Metrics]:
    key, actor_key, critic_key, mcmc_key = jax.random.split(state.key, 4)
    metrics = {}

    # All losses use the pre-update networks (official code), then every optimizer steps.
    mcmc_actions, step_size = None, state.mcmc_step_size
    if config.unbiased_grad:
        mcmc_actions, accept_rate = hmc_actions(config, state, batch.obs, batch.action, mcmc_key)
        metrics["actor/mcmc_accept_rate"], metrics["actor/mcmc_step_size"] = accept_rate, step_size
        step_size = mcmc.adapt_step_size(step_size, accept_rate, config.mcmc_target_accept,
                                         config.mcmc_adaptation_rate)
    actor_grads, actor_metrics = jax.grad(actor_loss, has_aux=True)(
        state.actor.params, state, batch, actor_key, mcmc_actions, config
    )
    alpha = state.alpha
    if config.policy == "tanh_gaussian":
        target_entropy = losses.sac_target_entropy(config.target_entropy, batch.action.shape[-1])
        alpha_grads, alpha_metrics = jax.grad(alpha_loss, has_aux=True)(
            state.alpha.params, state, actor_metrics.pop("actor/log_prob"), target_entropy
        )
        alpha = state.alpha.apply_gradients(grads=alpha_grads)
        metrics.update(alpha_metrics)
    critic_grads, critic_metrics = jax.grad(critic_loss, has_aux=True)(
        state.critic.params, state, batch, critic_key, config
    )
    new_state = state.replace(
        actor=state.actor.apply_gradients(grads=actor_grads),
        alpha=alpha,
        critic=state_lib.soft_update(state.critic.apply_gradients(grads=critic_grads), config.tau),
        key=key,
        step=state.step + 1,
        mcmc_step_size=step_size,
    )
    return new_state, {**metrics, **actor_metrics, **critic_metrics}


def act(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Deterministic evaluation action (tanh of the clipped mean, or pi(s)) for obs [B, obs_dim]."""
    del key
    output = state.actor.apply_fn(state.actor.params, obs)
    if config.policy == "deterministic":
        return output
    return jnp.tanh(output.distribution.mean())


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))
