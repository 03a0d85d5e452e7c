"""ReBRAC: "Revisiting the Minimalist Approach to Offline Reinforcement Learning" (Tarasov et al.).

arXiv:2305.09836 (NeurIPS 2023). TD3+BC with LayerNorm critics, deeper (3 x 256) networks, a
larger batch and learning rate, Q normalized by 1 / mean|Q|, and two behavior-cloning penalties:
the actor's, beta_actor ||pi(s) - a||^2, and the critic's, which subtracts
beta_critic ||a' - a'_data||^2 from the bootstrapped next-state value (a' the smoothed target
action, a'_data the dataset's next action). Follows CORL's ``algorithms/offline/rebrac.py``;
per-dataset beta_actor / beta_critic and learning rates come from CORL's
``configs/offline/rebrac/*`` (in ``experiments/overrides.py``). The spec has no ReBRAC section.
Differences from CORL: the library's orthogonal initialization (CORL: PyTorch-style uniform
kernels, biases 0.1) and LayerNorm placement (see ``critic_layer_norm``), the actor target
moves towards the updated actor (CORL: towards the actor before its step), and the actor steps
in TD3's phase, on updates 1, 3, ... (CORL: 0, 2, ...; ``state.delayed_update``).

The critic penalty needs the dataset's next action, which ``Transition`` does not carry:
``with_next_actions`` builds a ``TransitionWithNextAction`` dataset. The runner applies it through
the module's ``prepare_dataset`` hook (``experiment.run_experiment``); a plain ``Transition`` batch
(e.g. ``training.train`` on an unprepared dataset) uses ``next_action_fallback``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxrl_offline import hyperparams, losses, networks, state as state_lib
from jaxrl_offline.algorithms import td3_bc
from jaxrl_offline.types import Metrics, Params, PRNGKey, Transition

NAME = "rebrac"


@hyperparams.documented
@dataclasses.dataclass(frozen=True)
class Config(hyperparams.TD3):
    """ReBRAC hyperparameters (CORL ``rebrac.py`` and its D4RL locomotion configs): TD3's
    (``hyperparams.TD3``) with CORL's locomotion defaults, plus the layer norms and BC penalties.

    Attributes:
      actor_hidden_dims: actor MLP sizes (3 x 256).
      critic_hidden_dims: critic MLP sizes (3 x 256).
      actor_layer_norm: LayerNorm in the actor's hidden layers (False).
      critic_layer_norm: LayerNorm in the critics' hidden layers (True). The library's MLP applies
        it before the ReLU; CORL applies it after.
      actor_lr: actor Adam step size (1e-3 locomotion; 3e-4 AntMaze/Adroit).
      critic_lr: critic Adam step size (1e-3 locomotion; 5e-5 AntMaze; 3e-4 Adroit).
      batch_size: transitions per update (1024 locomotion; 256 AntMaze/Adroit).
      discount: gamma (0.99; 0.999 AntMaze).
      policy_freq: critic updates per actor/target update (2; the actor steps on updates 1, 3,
        ..., TD3's phase as in TD3+BC; CORL steps it on updates 0, 2, ...).
      actor_bc_coef: beta_actor on sum_i (pi(s)_i - a_i)^2 (per dataset, 0.001-0.1; default 0.01,
        the most common locomotion value in CORL's configs).
      critic_bc_coef: beta_critic on sum_i (a'_i - a'_data,i)^2 in the target (per dataset,
        0-0.5; default 0.01, the most common locomotion value).
      normalize_q: divide the actor's Q term by mean|min_i Q_i(s, pi(s))| (detached) (True).
      next_action_fallback: [INFERRED] a'_data when the batch has no ``next_action``:
        ``"current_action"`` uses the batch action a (a proxy for the next action of a smooth
        behavior), ``"error"`` refuses such batches.
    """

    actor_hidden_dims: tuple[int, ...] = (256, 256, 256)
    critic_hidden_dims: tuple[int, ...] = (256, 256, 256)
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    batch_size: int = 1024
    actor_layer_norm: bool = False
    critic_layer_norm: bool = True
    actor_bc_coef: float = 0.01
    critic_bc_coef: float = 0.01
    normalize_q: bool = True
    next_action_fallback: str = "current_action"


class TransitionWithNextAction(NamedTuple):
    """A ``Transition`` plus next_action [N, action_dim]: the dataset's action at next_obs."""

    obs: Any
    action: Any
    reward: Any
    next_obs: Any
    terminal: Any
    next_action: Any


def with_next_actions(dataset: Transition, atol: float = 1e-6) -> TransitionWithNextAction:
    """Adds the dataset's next actions: action[i + 1] where row i + 1 continues row i's episode.

    Row i + 1 continues row i when obs[i + 1] == next_obs[i] (within ``atol``). The last row of
    an episode has no next action in the data (CORL drops time-limit ends; at terminals it is
    unused since the target does not bootstrap); it gets its own action, like the fallback.
    """
    obs, next_obs, action = (np.asarray(x) for x in (dataset.obs, dataset.next_obs, dataset.action))
    continues = np.all(np.abs(obs[1:] - next_obs[:-1]) <= atol, axis=-1)
    next_action = action.copy()
    next_action[:-1][continues] = action[1:][continues]
    return TransitionWithNextAction(*dataset, next_action=jnp.asarray(next_action))


AgentState = td3_bc.AgentState  # TD3+BC's networks: actor and twin critics, both with targets.


def prepare_dataset(config: Config, dataset: Transition) -> TransitionWithNextAction:
    """Runner hook: the dataset the updates sample from, here with the exact next actions."""
    del config
    return with_next_actions(dataset)


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    if config.next_action_fallback not in ("current_action", "error"):
        raise ValueError(f"next_action_fallback must be 'current_action' or 'error', got "
                         f"{config.next_action_fallback!r}")
    actor_key, critic_key, state_key = jax.random.split(key, 3)
    obs, action = example_obs[None], example_action[None]
    actor_net = networks.DeterministicActor(
        config.actor_hidden_dims, example_action.shape[-1], layer_norm=config.actor_layer_norm)
    critic_net = networks.EnsembleCritic(
        config.critic_hidden_dims, num_critics=2, layer_norm=config.critic_layer_norm)
    actor = state_lib.create_target_actor(actor_net, actor_key, obs, config.actor_lr)
    critic = state_lib.create_critic(critic_net, critic_key, obs, action, config.critic_lr)
    return AgentState(actor=actor, critic=critic, key=state_key, step=jnp.zeros((), jnp.int32))


def dataset_next_action(batch, config: Config) -> jax.Array:
    """a'_data [B, A]: ``batch.next_action`` if the batch has it, else the configured fallback."""
    if hasattr(batch, "next_action"):
        return batch.next_action
    if config.next_action_fallback == "error":
        raise ValueError("ReBRAC's critic penalty needs next actions: pass a dataset built with "
                         "rebrac.with_next_actions, or set next_action_fallback='current_action'.")
    return batch.action


def critic_loss(critic_params: Params, state: AgentState, batch, noise_key: PRNGKey,
                config: Config):
    """sum_i mean_B (Q_i(s, a) - y)^2 with the penalized target

    y = r + gamma (1 - d) (min_i Q'_i(s', a') - beta_critic ||a' - a'_data||^2).
    """
    next_action = losses.smoothed_target_action(
        state.actor.apply_fn(state.actor.target_params, batch.next_obs), noise_key,
        config.policy_noise, config.noise_clip)
    penalty = losses.bc_mse(next_action, dataset_next_action(batch, config))
    next_q = state.critic.apply_fn(state.critic.target_params, batch.next_obs, next_action).min(0)
    next_value = next_q - config.critic_bc_coef * penalty
    target = losses.td_target(batch.reward, batch.terminal, config.discount, next_value)
    q = state.critic.apply_fn(critic_params, batch.obs, batch.action)
    chex.assert_shape(q, (2, batch.reward.shape[0]))
    loss = losses.ensemble_td_loss(q, target)
    metrics = {"critic/loss": loss, "critic/q_mean": q.mean(), "critic/target_mean": target.mean(),
               "critic/bc_penalty": penalty.mean()}
    return loss, metrics


def actor_loss(actor_params: Params, state: AgentState, batch, config: Config):
    """mean_B [beta_actor ||pi(s) - a||^2 - lambda min_i Q_i(s, pi(s))], lambda = 1/mean|Q|."""
    action = state.actor.apply_fn(actor_params, batch.obs)
    q = state.critic.apply_fn(state.critic.params, batch.obs, action).min(0)
    lmbda = losses.td3_bc_lambda(q, 1.0) if config.normalize_q else 1.0
    bc = losses.bc_mse(action, batch.action)
    loss = (config.actor_bc_coef * bc - lmbda * q).mean()
    return loss, {"actor/loss": loss, "actor/bc_mse": bc.mean(), "actor/lambda": jnp.asarray(lmbda)}


def update(config: Config, state: AgentState, batch) -> tuple[AgentState, Metrics]:
    """TD3+BC's schedule (``td3_bc.td3_step``, as CORL's update_td3) with ReBRAC's losses."""
    key, noise_key = jax.random.split(state.key)
    state, metrics = td3_bc.td3_step(config, state, batch, noise_key, critic_loss, actor_loss)
    return state.replace(key=key, step=state.step + 1), metrics


act = td3_bc.act  # Deterministic action pi(s) for obs [B, obs_dim] -> [B, action_dim].


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))
