"""Shared loss math: pure functions, each tested once against hand-computed values.

Functions act elementwise or per example; algorithms reduce with an explicit ``.mean()``.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def td_target(reward: jax.Array, terminal: jax.Array, discount: float, next_value: jax.Array):
    """One-step TD target y = r + gamma * (1 - terminal) * V(s').

    Args:
      reward: [B] rewards.
      terminal: [B] 1.0 for true terminations (never time-limit truncations).
      discount: gamma.
      next_value: [B] bootstrap value of the next state.

    Returns:
      [B] targets.
    """
    chex.assert_equal_shape([reward, terminal, next_value])
    return reward + discount * (1.0 - terminal) * next_value


def expectile_loss(diff: jax.Array, expectile: float) -> jax.Array:
    """Asymmetric squared loss L2_tau(u) = |tau - 1(u < 0)| u^2 (IQL Eq. 5), elementwise.

    Args:
      diff: u = target - prediction (IQL: Q(s, a) - V(s)).
      expectile: tau in (0, 1); 0.5 gives half the squared error.
    """
    weight = jnp.where(diff < 0, 1.0 - expectile, expectile)
    return weight * diff**2


def quantile_loss(diff: jax.Array, quantile: float) -> jax.Array:
    """Asymmetric absolute loss |tau - 1(u < 0)| |u| (IDQL's quantile value loss), elementwise."""
    weight = jnp.where(diff < 0, 1.0 - quantile, quantile)
    return weight * jnp.abs(diff)


def awr_weights(advantage: jax.Array, temperature: float, max_weight: float = 100.0):
    """Advantage-weighted regression weights min(exp(beta * A), max_weight) (IQL Eq. 7).

    The weights are constants for the actor loss: gradients are stopped here.
    """
    return jax.lax.stop_gradient(jnp.minimum(jnp.exp(temperature * advantage), max_weight))


def bc_mse(predicted_action: jax.Array, dataset_action: jax.Array) -> jax.Array:
    """Per-example squared error summed over action dimensions: ||pi(s) - a||^2, [B].

    TD3+BC's ``F.mse_loss`` averages over dimensions too; that equals ``bc_mse(...).mean() /
    action_dim``, which algorithms state explicitly where they use it.
    """
    chex.assert_equal_shape([predicted_action, dataset_action])
    return jnp.sum((predicted_action - dataset_action) ** 2, axis=-1)


def td3_bc_lambda(q_values: jax.Array, alpha: float) -> jax.Array:
    """TD3+BC's Q normalizer lambda = alpha / mean|Q(s, pi(s))|, detached (Fujimoto & Gu, Eq. 3)."""
    return jax.lax.stop_gradient(alpha / jnp.abs(q_values).mean())


def cql_logsumexp(sampled_q: jax.Array, log_density: jax.Array, temperature: float = 1.0):
    """CQL(H)'s importance-corrected soft maximum over sampled actions (CQL Eq. 4 / App. F).

    temperature * logsumexp((Q(s, a_j) - log mu(a_j | s)) / temperature) over the sampled actions
    a_j, whose proposal log-densities ``log_density`` correct the sampling (uniform actions use
    log(0.5^action_dim); policy actions their detached log-probs).

    Args:
      sampled_q: [..., K] Q-values of K sampled actions per state.
      log_density: [..., K] log mu(a_j | s) of each sampled action.
      temperature: CQL's temperature (1.0 in all reference configs).

    Returns:
      [...] the soft maximum per state.
    """
    chex.assert_equal_shape([sampled_q, log_density])
    return temperature * jax.nn.logsumexp((sampled_q - log_density) / temperature, axis=-1)


def gaussian_log_prob_clipped(distribution, action: jax.Array, clip: float = 1.0 - 1e-5):
    """log pi(a|s) of dataset actions, clipped to +-clip so tanh-squashed densities stay finite."""
    return distribution.log_prob(jnp.clip(action, -clip, clip))


def reverse_kl_estimate(policy_log_prob: jax.Array, behavior_log_prob: jax.Array) -> jax.Array:
    """Monte Carlo reverse KL(pi || beta) = E_{a~pi}[log pi(a|s) - log beta(a|s)] (TD3-RKL).

    Args:
      policy_log_prob: [M, ...] log pi(a_j|s) of M reparameterized samples a_j ~ pi(.|s).
      behavior_log_prob: [M, ...] log beta(a_j|s) of the same samples.

    Returns:
      [...] the estimate per state (unbiased; differentiable through the samples).
    """
    chex.assert_equal_shape([policy_log_prob, behavior_log_prob])
    return jnp.mean(policy_log_prob - behavior_log_prob, axis=0)


def ensemble_td_loss(q: jax.Array, target: jax.Array) -> jax.Array:
    """TD regression of a critic ensemble: sum_i mean_B (Q_i(s, a) - y)^2 (each head its own loss).

    Args:
      q: [num_critics, B] Q_i(s, a) of every head.
      target: [B] regression targets y, shared by the heads (detach them where the target must not
        train; TD3/SAC targets come from target networks and are constants already).

    Returns:
      [] the loss. IDQL's code averages over the heads instead: divide by num_critics.
    """
    chex.assert_rank(q, 2)
    chex.assert_shape(target, q.shape[1:])
    return ((q - target[None]) ** 2).mean(axis=1).sum()


def smoothed_target_action(action: jax.Array, key: jax.Array, noise_std: float,
                           noise_clip: float) -> jax.Array:
    """TD3's target policy smoothing: clip(a' + clip(N(0, noise_std^2), -c, c), -1, 1) (TD3 Eq. 14).

    Args:
      action: [B, A] the target actor's action at s'.
      key: noise key.
      noise_std: sigma, in [-1, 1] action units (TD3: 0.2).
      noise_clip: c (TD3: 0.5).

    Returns:
      [B, A] the smoothed action, inside [-1, 1].
    """
    noise = jnp.clip(noise_std * jax.random.normal(key, action.shape), -noise_clip, noise_clip)
    return jnp.clip(action + noise, -1.0, 1.0)


def sac_target_entropy(target_entropy: float | None, action_dim: int) -> float:
    """SAC's entropy target: the configured value, or the heuristic -|A| when it is ``None``."""
    return -float(action_dim) if target_entropy is None else target_entropy


def log_alpha_temperature_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float):
    """SAC's temperature loss on log alpha: -mean_B log(alpha) (log pi(a|s) + target_entropy).

    The form of SAC's reference code and of CQL/MISA (gradient through log alpha; the log-probs
    of a ~ pi are constants). Args: log_alpha [] ; log_prob [B].
    """
    return -(log_alpha * jax.lax.stop_gradient(log_prob + target_entropy)).mean()


def alpha_temperature_loss(alpha: jax.Array, entropy: jax.Array, target_entropy: float):
    """SAC's temperature loss on alpha: alpha (H - target_entropy) (SAC Eq. 18), H the batch
    entropy estimate -mean_B log pi(a|s) (a constant). Args: alpha [], entropy []."""
    return alpha * (jax.lax.stop_gradient(entropy) - target_entropy)
