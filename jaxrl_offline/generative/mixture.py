"""State-conditioned Gaussian mixtures: a multimodal behavior model beta(a|s) and its math.

A mixture is a ``MixtureParams`` of arrays with shared leading (batch) dims: K logits, K means
and K diagonal log-stds. The log-density, moments, sampling and the coverage-based weights are
pure functions of it (tested against ``distrax.MixtureSameFamily``), so algorithms differentiate
through them and vmap them over sample axes. Used by TD3-RKL (``algorithms/td3_rkl.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl_offline import networks

WEIGHT_KINDS = ("none", "inverse_std", "exp_neg_entropy")


class MixtureParams(NamedTuple):
    """A diagonal Gaussian mixture per state.

    Attributes:
      logits: [..., K] unnormalized log mixture weights.
      means: [..., K, action_dim] component means.
      log_stds: [..., K, action_dim] component log-stds.
    """

    logits: jax.Array
    means: jax.Array
    log_stds: jax.Array


def _spread_bias_init(key, shape, dtype=jnp.float32):
    """Component means start spread uniformly over the action box [-1, 1] (breaks symmetry)."""
    return jax.random.uniform(key, shape, dtype, -1.0, 1.0)


class GaussianMixturePolicy(nn.Module):
    """beta(a|s) = sum_k w_k(s) N(a; mu_k(s), diag sigma_k(s)^2), an MLP with three heads.

    Attributes:
      hidden_dims: trunk MLP sizes.
      action_dim: A.
      num_components: K.
      log_std_min: lower clip of the component log-stds.
      log_std_max: upper clip of the component log-stds.
    """

    hidden_dims: Sequence[int]
    action_dim: int
    num_components: int = 5
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> MixtureParams:
        features = networks.MLP(self.hidden_dims, activate_final=True)(obs)
        shape = obs.shape[:-1] + (self.num_components, self.action_dim)
        k, a = self.num_components, self.action_dim
        logits = nn.Dense(k, kernel_init=networks.default_init(1e-2))(features)
        means = nn.Dense(k * a, kernel_init=networks.default_init(1.0),
                         bias_init=_spread_bias_init)(features)
        log_stds = nn.Dense(k * a, kernel_init=networks.default_init(1e-2))(features)
        log_stds = jnp.clip(log_stds.reshape(shape), self.log_std_min, self.log_std_max)
        return MixtureParams(logits, means.reshape(shape), log_stds)


def log_prob(params: MixtureParams, action: jax.Array) -> jax.Array:
    """log beta(a|s) = logsumexp_k [log w_k + sum_i log N(a_i; mu_ki, sigma_ki^2)].

    Args:
      params: mixture with leading dims [...].
      action: [..., action_dim].

    Returns:
      [...] log-densities.
    """
    chex.assert_equal_shape_prefix([params.means, action], action.ndim - 1)
    z = (action[..., None, :] - params.means) * jnp.exp(-params.log_stds)
    component = jnp.sum(-0.5 * z**2 - params.log_stds - 0.5 * jnp.log(2.0 * jnp.pi), axis=-1)
    return jax.nn.logsumexp(jax.nn.log_softmax(params.logits, axis=-1) + component, axis=-1)


def squashed_log_prob(params: MixtureParams, action: jax.Array, clip: float = 1.0 - 1e-5):
    """log-density of tanh(u), u ~ mixture, at actions clipped to +-clip (change of variables)."""
    action = jnp.clip(action, -clip, clip)
    log_det = jnp.sum(jnp.log1p(-(action**2)), axis=-1)
    return log_prob(params, jnp.arctanh(action)) - log_det


def moments(params: MixtureParams) -> tuple[jax.Array, jax.Array]:
    """Mean and per-dimension std of the mixture (law of total variance), each [..., action_dim]."""
    weights = jax.nn.softmax(params.logits, axis=-1)[..., None]
    mean = jnp.sum(weights * params.means, axis=-2)
    second = jnp.sum(weights * (jnp.exp(2.0 * params.log_stds) + params.means**2), axis=-2)
    return mean, jnp.sqrt(jnp.maximum(second - mean**2, 0.0))


def sample(params: MixtureParams, key: jax.Array, num_samples: int) -> jax.Array:
    """``num_samples`` draws per state: [num_samples, ..., action_dim] (no gradient path needed)."""
    component_key, noise_key = jax.random.split(key)
    batch_shape = params.logits.shape[:-1]
    component = jax.random.categorical(
        component_key, params.logits, shape=(num_samples,) + batch_shape
    )
    pick = lambda x: jnp.take_along_axis(  # noqa: E731
        jnp.broadcast_to(x[None], (num_samples,) + x.shape), component[..., None, None], axis=-2
    )[..., 0, :]
    noise = jax.random.normal(noise_key, (num_samples,) + params.means.shape[:-2]
                              + params.means.shape[-1:])
    return pick(params.means) + jnp.exp(pick(params.log_stds)) * noise


def coverage_weights(params: MixtureParams, kind: str, key: jax.Array | None = None,
                     num_samples: int = 10, max_weight: float | None = None) -> jax.Array:
    """Per-state regularization weights w(s), large where beta's action coverage is narrow.

    Kinds (all normalized to batch mean 1 and detached):
      * ``"none"``: w = 1.
      * ``"inverse_std"``: w proportional to 1 / mean_i std_i(s), std from :func:`moments`.
      * ``"exp_neg_entropy"``: w proportional to exp(-H(s) / action_dim), H estimated by Monte
        Carlo with ``num_samples`` draws (needs ``key``).

    Args:
      params: mixture with leading dims [B].
      kind: one of ``WEIGHT_KINDS``.
      key: PRNG key for ``"exp_neg_entropy"``.
      num_samples: Monte Carlo draws per state for the entropy.
      max_weight: clip of the normalized weights; ``None`` for no clip.

    Returns:
      [B] weights.
    """
    batch_size, action_dim = params.logits.shape[0], params.means.shape[-1]
    if kind == "none":
        return jnp.ones((batch_size,))
    if kind == "inverse_std":
        raw = 1.0 / jnp.mean(moments(params)[1], axis=-1)
    elif kind == "exp_neg_entropy":
        draws = sample(params, key, num_samples)
        entropy = -jnp.mean(jax.vmap(log_prob, in_axes=(None, 0))(params, draws), axis=0)
        raw = jnp.exp(-(entropy - jnp.mean(entropy)) / action_dim)  # Shifted: no overflow.
    else:
        raise ValueError(f"unknown coverage weight kind {kind!r}; choose from {WEIGHT_KINDS}")
    weights = raw / jnp.mean(raw)
    if max_weight is not None:
        weights = jnp.minimum(weights, max_weight)
    return jax.lax.stop_gradient(weights)
