"""SfBC's official staged pipeline (spec ``algorithms.md`` §4.1-4.6), as pure stage functions.

The official code samples from the behavior model once, not in every update:

1. **behavior** (:func:`train_behavior`): ``behavior_steps`` denoising score-matching steps on
   uniformly drawn dataset batches (``sfbc.behavior_loss``);
2. **presample** (:func:`presample`): M_V = ``num_value_samples`` behavior actions per dataset
   state with the 15-step DPM-Solver, drawn in chunks of ``presample_chunk`` states so memory
   stays bounded, cached as [N, M_V, action_dim] and reused by every planning iteration;
3. **critic** (:func:`train_critic`), K = ``planning_iterations`` times: ``critic_steps``
   regression steps of Q on standardized targets (``sfbc.critic_loss``). Iteration 1 regresses
   the per-trajectory Monte-Carlo returns (:func:`monte_carlo_returns`); between iterations
   :func:`refresh_targets` rebuilds the targets by the backward sweep
   R_i = max(r_i + gamma R_{i+1} (1 - done_i), V(s_i)) (:func:`backward_sweep`), V the soft value
   over the cached actions (alpha = 20, :func:`soft_values`), re-standardizes them
   ((R - mean) / max(std, 0.1), :func:`standardize`) and restarts Q and Adam from the initial
   weights;
4. **act**: ``sfbc.act`` (M = 32 candidates, alpha_sel = 100 on the standardized Q).

``done_i`` [N] is 1 where the loader's episode ends: ``DatasetInfo.episode_ends`` (terminal,
timeout, or the end of a part's data; SfBC's ``terminals | timeouts`` with the last transition
forced done). The official code deliberately ends the Monte-Carlo returns (and the sweep) at
timeouts as well as at terminals, so here a truncated episode's return does not bootstrap: this is
the paper's estimator, not a confusion of termination with truncation (``Transition.terminal``
stays the true terminal and the critic never reads ``done``).

Cost (hopper shapes, obs 11 / action 3, defaults; FLOPs from XLA's ``cost_analysis`` of the
jitted stage, seconds on a 2-core CPU under load ~9, one seed, jax 0.10.2): presampling is
16 x 15 U-Net forwards of 3.3 MFLOP = 0.78 GFLOP per dataset state (14 ms), once per run; a
critic step is 1.7 GFLOP (37 ms, 4096 rows, no sampling); a behavior step 40 GFLOP (0.9 s); a
target refresh 2.3 MFLOP per state. The per-update ``sfbc`` spends ~440 GFLOP per update
(202 as XLA counts it, each solver ``lax.scan`` body once), sampling for every batch row.

Each stage is a single-seed pure function ``stage(config, state, ...)``; :func:`over_seeds` jits
and vmaps one over a leading seed axis with the dataset shared (spec §8.2). The run driver that
writes a normal run record is ``experiments/sfbc_staged.py``. The per-update ``sfbc`` module
(registry name ``sfbc``) is the [INFERRED] restructuring of this pipeline into the update contract.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from jaxrl_offline import hyperparams
from jaxrl_offline import state as state_lib
from jaxrl_offline.algorithms import sfbc
from jaxrl_offline.types import Metrics, Params, PRNGKey, Transition

NAME = "sfbc_staged"


@hyperparams.documented
@dataclasses.dataclass(frozen=True)
class Config(sfbc.Config):
    """``sfbc.Config`` plus the stage lengths of the official pipeline.

    The fields of the per-update variant's TD form (``tau``, ``planning_backup``, ``total_steps``,
    ``return_std_rate``) are unused here; ``reset_critic`` restarts Q and Adam per iteration.

    Attributes:
      behavior_steps: behavior-model gradient steps of ``batch_size`` rows (586_200: 600 virtual
        epochs of 4M samples at 4096 rows, ~977 steps each; the paper says 500 epochs)
        [INFERRED conversion of epochs to steps].
      critic_steps: critic regression steps per planning iteration (24_400: 100 virtual epochs of
        1M samples at 4096 rows, gym; AntMaze uses 2M-sample epochs) [INFERRED conversion].
      critic_batch_size: rows per critic regression step (4096, code).
      presample_chunk: dataset states per sampler call when presampling and per critic call when
        computing soft values (1024): bounds memory to chunk x M_V rows [INFERRED].
    """

    behavior_steps: int = 586_200
    critic_steps: int = 24_400
    critic_batch_size: int = 4096
    presample_chunk: int = 1024

    def __post_init__(self):
        super().__post_init__()
        for name in ("behavior_steps", "critic_steps", "critic_batch_size", "presample_chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"sfbc_staged: {name} must be >= 1, got {getattr(self, name)}")


class AgentState(struct.PyTreeNode):
    behavior: TrainState
    critic: TrainState  # Q on the standardized return scale; no target network.
    initial_critic_params: Params  # What Q restarts from each planning iteration.
    key: PRNGKey
    step: jax.Array  # Critic steps taken.

    @property
    def return_std(self) -> jax.Array:
        """1: Q already lives on the standardized scale (``sfbc.act`` divides logits by it)."""
        return jnp.ones((), jnp.float32)


class Targets(NamedTuple):
    """Standardized critic targets of one seed.

    Attributes:
      values: [N] (R - mean) / scale.
      mean: [] mean of the raw targets R.
      scale: [] max(std(R), min_return_std).
    """

    values: jax.Array
    mean: jax.Array
    scale: jax.Array


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    base = sfbc.init(config, key, example_obs, example_action)
    critic = TrainState.create(apply_fn=base.critic.apply_fn, params=base.initial_critic_params,
                               tx=state_lib.make_optimizer(config.critic_lr))
    return AgentState(behavior=base.behavior, critic=critic,
                      initial_critic_params=base.initial_critic_params, key=base.key,
                      step=jnp.zeros((), jnp.int32))


def _rows(dataset: Transition, key: PRNGKey, batch_size: int):
    """``batch_size`` uniformly drawn rows (with replacement) and their indices [B]."""
    indices = jax.random.randint(key, (batch_size,), 0, dataset.reward.shape[0])
    return jax.tree.map(lambda field: field[indices], dataset), indices


# --- Stage 1: behavior model ----------------------------------------------------------------

def behavior_update(config: Config, state: AgentState, dataset: Transition):
    """One behavior step (``sfbc.behavior_loss``) on a uniformly drawn batch."""
    key, batch_key, loss_key = jax.random.split(state.key, 3)
    batch, _ = _rows(dataset, batch_key, config.batch_size)
    behavior, metrics = state_lib.gradient_step(sfbc.behavior_loss, state.behavior, state, batch,
                                                loss_key, config)
    return state.replace(behavior=behavior, key=key), metrics


def train_behavior(config: Config, state: AgentState, dataset: Transition, num_steps: int):
    """``num_steps`` behavior steps (one ``lax.scan``); metrics averaged over them."""
    state, metrics = jax.lax.scan(lambda s, _: behavior_update(config, s, dataset), state,
                                  length=num_steps)
    return state, jax.tree.map(jnp.mean, metrics)


# --- Stage 2: presampled behavior actions and Monte-Carlo returns ---------------------------

def _num_chunks(config: Config, num_rows: int) -> int:
    return -(-num_rows // config.presample_chunk)


def _chunked(fn, config: Config, row_arrays: tuple, per_chunk: tuple = ()):
    """``fn(*row_chunks, *per_chunk_items)`` over ``presample_chunk`` rows at a time
    (``lax.map``), the last chunk padded with copies of the final row; results trimmed back to N
    rows. ``per_chunk`` arrays have one leading entry per chunk (e.g. keys)."""
    num, chunk = row_arrays[0].shape[0], config.presample_chunk
    pad = -num % chunk

    def split(x):
        padded = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)])
        return padded.reshape(-1, chunk, *x.shape[1:])

    out = jax.lax.map(lambda args: fn(*args), (*map(split, row_arrays), *per_chunk))
    return jax.tree.map(lambda y: y.reshape(-1, *y.shape[2:])[:num], out)


def presample(config: Config, state: AgentState, obs: jax.Array):
    """M_V behavior actions per state, [N, obs_dim] -> (state, [N, M_V, action_dim] in [-1, 1])."""
    key, sample_key = jax.random.split(state.key)
    samples = config.num_value_samples
    # One key per chunk, carried through lax.map as raw key data: the key-reuse checker counts a
    # typed key array scanned under vmap as consumed.
    chunk_keys = jax.random.key_data(
        jax.random.split(sample_key, _num_chunks(config, obs.shape[0])))

    def sample_chunk(chunk_obs, chunk_key):
        actions = sfbc.sample_behavior(config, state.behavior.params, state.behavior.apply_fn,
                                       jnp.repeat(chunk_obs, samples, axis=0),
                                       jax.random.wrap_key_data(chunk_key))
        return actions.reshape(chunk_obs.shape[0], samples, -1)

    return state.replace(key=key), _chunked(sample_chunk, config, (obs,), (chunk_keys,))


def backward_sweep(reward: jax.Array, done: jax.Array, value: jax.Array, discount: float):
    """R_i = max(r_i + gamma R_{i+1} (1 - done_i), V_i) over the flat dataset, a reverse
    ``lax.scan`` (R_N = 0). All arguments [N]; returns [N]."""
    chex.assert_rank(reward, 1)
    chex.assert_equal_shape([reward, done, value])
    def step(next_return, row):
        r, d, v = row
        current = jnp.maximum(r + discount * next_return * (1.0 - d), v)
        return current, current

    _, returns = jax.lax.scan(step, jnp.zeros((), reward.dtype), (reward, done, value),
                              reverse=True)
    return returns


def monte_carlo_returns(reward: jax.Array, done: jax.Array, discount: float) -> jax.Array:
    """G_i = r_i + gamma G_{i+1} (1 - done_i): the sweep with V = -inf."""
    return backward_sweep(reward, done, jnp.full_like(reward, -jnp.inf), discount)


def standardize(returns: jax.Array, min_std: float) -> Targets:
    """(R - mean) / max(std, min_std) (SfBC's return standardization)."""
    mean = returns.mean()
    scale = jnp.maximum(returns.std(), min_std)
    return Targets(values=(returns - mean) / scale, mean=mean, scale=scale)


def initial_targets(config: Config, dataset: Transition, done: jax.Array) -> Targets:
    """Standardized Monte-Carlo returns: the targets of planning iteration 1."""
    return standardize(monte_carlo_returns(dataset.reward, done, config.discount),
                       config.min_return_std)


# --- Stage 3: critic regression and implicit in-sample planning -----------------------------

def critic_update(config: Config, state: AgentState, targets: Targets, dataset: Transition):
    """One regression step of Q on the standardized targets of a uniformly drawn batch."""
    key, batch_key = jax.random.split(state.key)
    batch, indices = _rows(dataset, batch_key, config.critic_batch_size)
    critic, metrics = state_lib.gradient_step(sfbc.critic_loss, state.critic, state, batch,
                                              targets.values[indices])
    return state.replace(critic=critic, key=key, step=state.step + 1), metrics


def train_critic(config: Config, state: AgentState, targets: Targets, dataset: Transition,
                 num_steps: int):
    """``num_steps`` critic steps (one ``lax.scan``); metrics averaged over them."""
    state, metrics = jax.lax.scan(lambda s, _: critic_update(config, s, targets, dataset), state,
                                  length=num_steps)
    return state, jax.tree.map(jnp.mean, metrics)


def soft_values(config: Config, state: AgentState, obs: jax.Array, actions: jax.Array):
    """V(s_i) = sum_j softmax_j(alpha Q(s_i, a_ij)) Q(s_i, a_ij) on the standardized scale.

    Args:
      obs: [N, obs_dim].
      actions: [N, M_V, action_dim] cached behavior actions.

    Returns:
      [N] values, computed ``presample_chunk`` states at a time.
    """
    chex.assert_shape(actions, (obs.shape[0], None, None))
    def chunk_values(chunk_obs, chunk_actions):
        rows, samples = chunk_actions.shape[:2]
        q = state.critic.apply_fn(state.critic.params, jnp.repeat(chunk_obs, samples, axis=0),
                                  chunk_actions.reshape(rows * samples, -1))
        return sfbc.soft_value(q.reshape(rows, samples), config.planning_temperature,
                               jnp.ones((), q.dtype))

    return _chunked(chunk_values, config, (obs, actions))


def refresh_targets(config: Config, state: AgentState, targets: Targets, dataset: Transition,
                    done: jax.Array, actions: jax.Array) -> tuple[AgentState, Targets, Metrics]:
    """Between iterations: targets from the sweep with V un-standardized by the current mean and
    scale, re-standardized; Q and Adam restart from the initial weights (``reset_critic``)."""
    value = soft_values(config, state, dataset.obs, actions) * targets.scale + targets.mean
    returns = backward_sweep(dataset.reward, done, value, config.discount)
    params = state.initial_critic_params if config.reset_critic else state.critic.params
    critic = state.critic.replace(params=params, opt_state=state.critic.tx.init(params))
    metrics = {"value/planning_v_mean": value.mean(),
               "value/lifted_fraction": (returns <= value).mean()}
    return (state.replace(critic=critic), standardize(returns, config.min_return_std), metrics)


def act(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """``sfbc.act``: M candidates, alpha_sel selection on the standardized Q."""
    return sfbc.act(config, state, obs, key)


def over_seeds(stage, config: Config, in_axes: tuple, **static):
    """``jit(vmap(partial(stage, config, **static), in_axes))``: 0 for an argument with a leading
    seed axis (states, targets, cached actions), None for a shared one (the dataset, done flags).
    """
    return jax.jit(jax.vmap(functools.partial(stage, config, **static), in_axes=in_axes))
