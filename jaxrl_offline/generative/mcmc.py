"""Hamiltonian Monte Carlo over a batch of independent chains, as one ``lax.scan``.

Used by MISA's sampling-based gradient (``algorithms/misa.py``), which draws actions from the
unnormalized p(a|s) = pi(a|s) exp(Q(s, a)) with one chain per state. Plays the role of TFP's
``HamiltonianMonteCarlo`` + ``sample_chain`` in the official code. Its step size adapts across
calls instead (``adapt_step_size``, applied by MISA after every update to the step size it carries
in its state), since the chains are short and their target moves with the networks.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def hmc_chains(log_density: Callable[[jax.Array], jax.Array], start: jax.Array, key: jax.Array,
               num_samples: int, burnin_steps: int, leapfrog_steps: int,
               step_size: float | jax.Array):
    """Runs B independent HMC chains and returns their draws after burn-in.

    Each step draws a unit Gaussian momentum, takes ``leapfrog_steps`` leapfrog steps of size
    ``step_size`` and accepts by Metropolis on the Hamiltonian; a proposal whose log-density is
    not finite (e.g. outside a tanh policy's range) is rejected.

    Args:
      log_density: x [B, D] -> [B] unnormalized log-density of each chain's state; chain b must
        depend on row b only (its gradient is taken through the sum over chains).
      start: [B, D] initial states, with finite log-density.
      key: PRNG key.
      num_samples: draws kept per chain, after ``burnin_steps`` discarded steps.
      burnin_steps: steps discarded first.
      leapfrog_steps: leapfrog steps per proposal.
      step_size: leapfrog step size (a Python float or a traced scalar).

    Returns:
      ([num_samples, B, D] draws, detached; [num_samples, B] bool acceptances).
    """
    def summed(x):
        value = log_density(x)
        return value.sum(), value

    def density_and_grad(x):
        (_, value), grad = jax.value_and_grad(summed, has_aux=True)(x)
        return value, grad

    def step(carry, step_key):
        position, log_p, grad = carry
        momentum_key, accept_key = jax.random.split(step_key)
        momentum = jax.random.normal(momentum_key, position.shape)
        proposal, new_momentum = position, momentum + 0.5 * step_size * grad
        for index in range(leapfrog_steps):
            proposal = proposal + step_size * new_momentum
            proposal_log_p, proposal_grad = density_and_grad(proposal)
            half = index == leapfrog_steps - 1  # The last momentum step is a half step.
            new_momentum = new_momentum + (0.5 if half else 1.0) * step_size * proposal_grad
        log_ratio = (proposal_log_p - 0.5 * jnp.sum(new_momentum**2, -1)) - (
            log_p - 0.5 * jnp.sum(momentum**2, -1))
        uniform = jax.random.uniform(accept_key, log_ratio.shape)
        accept = jnp.isfinite(log_ratio) & (jnp.log(uniform) < log_ratio)
        carry = (jnp.where(accept[:, None], proposal, position),
                 jnp.where(accept, proposal_log_p, log_p),
                 jnp.where(accept[:, None], proposal_grad, grad))
        return carry, (carry[0], accept)

    keys = jax.random.split(key, burnin_steps + num_samples)
    _, (draws, accepted) = jax.lax.scan(step, (start, *density_and_grad(start)), keys)
    return jax.lax.stop_gradient(draws[burnin_steps:]), accepted[burnin_steps:]


def adapt_step_size(step_size: jax.Array, accept_rate: jax.Array, target_accept: float,
                    adaptation_rate: float) -> jax.Array:
    """step_size * exp(adaptation_rate * (accept_rate - target_accept)): a multiplicative
    Robbins-Monro rule on log step size whose fixed point has acceptance ``target_accept`` (too
    many rejections shrink the step; too few grow it). ``adaptation_rate = 0`` keeps it fixed.

    Args:
      step_size: scalar current step size.
      accept_rate: scalar acceptance rate observed with it.
      target_accept: desired acceptance rate in (0, 1).
      adaptation_rate: gain on the log step size.

    Returns:
      The next step size, scalar.
    """
    return step_size * jnp.exp(adaptation_rate * (accept_rate - target_accept))
