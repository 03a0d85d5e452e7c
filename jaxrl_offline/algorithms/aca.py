"""ACA: "Actor-Critic Alignment for Offline-to-Online Reinforcement Learning" (Yu & Zhang, 2023).

ICML 2023, PMLR 202:40452-40474 (OpenReview z70d8UBFDKF); official code
ZishunYu/Actor-Critic-Alignment (PyTorch on d3rlpy 1.1). Spec: ``algorithms.md`` §7.

* **Offline (SAC+ML, this module's ``update``).** SAC whose actor loss is TD3+BC-normalized and
  adds the dataset log-likelihood, lambda mean(alpha log pi(a~|s) - min_k Q_k(s, a~))
  - mean log pi(a|s) with lambda = ml_alpha / mean|min_k Q_k(s, a~)|; plus a state baseline Z
  (``num_critics`` heads) fitted so that log pi(a|s) + Z(s) satisfies the soft Bellman equation.
  Order per step: temperature, critic, Z, actor, target critic.
* **Alignment (``start_online``).** The offline critic is discarded: R_k(s, a) = Z_k(s) exactly (Z's
  weights copied, action inputs zeroed) and the critic becomes
  Q_k(s, a) = R_k(s, a) + w clipLog(pi_0, a|s), pi_0 a frozen copy of the offline actor. With
  w = 1 the critic is log pi_0 + Z: the offline actor is its soft-greedy policy (temperature 1).
* **Online (``online_update``).** SAC on that critic (temperature reset to 1), the actor's
  gradient clipped to norm 0.25, w decayed linearly per update to a floor.

Z is an ``EnsembleCritic`` evaluated at the zero action, so its parameter tree is the critic's and
alignment is a copy with the action rows of the first kernel zeroed (Z never trains those rows).

Observations: raw, as the official code (d3rlpy without a scaler), through the ``aca`` and
``sac_ml`` rows of ``datasets.transforms.TRANSFORM_TABLE``; with the locomotion default
(normalized observations) SAC+ML's critics diverged on hopper medium (``benchmarks/parity/
README.md``, "Observation normalization").

Rewards: the official code fits Z on unshifted AntMaze rewards but fine-tunes on r - 1 (spec §7.2),
so Z starts on the wrong scale. Here the online rewards pass through the dataset's own reward
transform (``jaxrl_offline.runner.finetune``): Z and the online critic see one scale.
``align=False`` is the "SAC+ML without alignment" baseline (registered as ``sac_ml``): the same
protocol, but fine-tuning starts from the offline critic and has no log pi_0 term.
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
from jaxrl_offline.algorithms import sac
from jaxrl_offline.state import TargetTrainState
from jaxrl_offline.types import Metrics, Params, PRNGKey, Transition

NAME = "aca"


@hyperparams.documented
@dataclasses.dataclass(frozen=True)
class Config(sac.Config):
    """ACA hyperparameters (official ``configs/{offline,online}/mjc_m.yaml`` and d3rlpy defaults).

    Extends ``sac.Config``; its fields keep SAC's defaults, which are the code's.

    Attributes:
      actor_hidden_dims: actor MLP sizes (2 x 256, d3rlpy's default encoder).
      critic_hidden_dims: MLP sizes of each critic head and of Z (2 x 256; alignment copies Z
        into the critic, so they share it).
      actor_lr: actor Adam step size (3e-4), both phases.
      num_critics: critic heads, and heads of Z (2).
      initial_temperature: offline alpha at initialization (1.0).
      target_entropy: SAC's entropy target; ``None`` = -|A| (coef 1.0, MuJoCo; AntMaze uses
        -0.5 |A|).
      backup_entropy: subtract alpha log pi(a'|s') in the critic target (True, d3rlpy SAC).
      critic_layer_norm: LayerNorm in critic and Z (False; read by ``sac.init``).
      init_scheme: Dense initialization of actor, critics and Z (``networks.INIT_SCHEMES``;
        "orthogonal" here, "pytorch" is d3rlpy's, the official code's). [parity]
      value_lr: Adam step size of the baseline Z (3e-4).
      ml_alpha: alpha of lambda = alpha / mean|min_k Q| in the SAC+ML actor loss (30).
      align: build the aligned critic when fine-tuning starts (True: ACA). False gives the
        "SAC+ML without alignment" baseline: online SAC from the offline critic.
      online_temperature: alpha when fine-tuning starts (1.0: the code sets log alpha = 0).
      log_prob_clip_std: beta, the soft lower clip of log pi_0 sits at its density beta standard
        deviations from the mean, in pre-tanh space (7 MuJoCo random/medium(-replay), 15
        medium-expert, 3 AntMaze).
      interpolation_start: i0, the weight w of the log pi_0 term at the first online update (1).
      interpolation_decay_steps: i1 * 1000: w(t) = max(i0 (1 - t / this), floor) after t online
        updates (40,000 for MuJoCo medium; 10,000 random; 100,000 medium-expert; 200,000
        AntMaze).
      interpolation_floor: i2, the floor of w (0.5 medium; 0 random; 1 medium-expert).
      online_actor_max_grad_norm: online actor gradient clip (0.25).
      online_buffer: how the online replay buffer starts (``finetune.BUFFER_MODES``): "empty"
        (the code, n_trajs = 0), "top_trajectories" (medium-replay, medium-expert) or "offline".
      online_seed_trajectories: n_trajs, the highest-return offline trajectories put into the
        buffer with "top_trajectories" (50 in the code's medium-replay/expert configs).
      reset_online_optimizers: [INFERRED] fresh Adam states for actor, critic and temperature when
        fine-tuning starts (True; the spec is silent). The official code (checked 2026-12-06,
        ``benchmarks/parity/README.md``, ACA) builds a new d3rlpy algorithm but its
        ``load_model`` restores every optimizer's saved state, so it behaves like False, which the
        parity run sets. False keeps the offline moments (the aligned critic takes Z's). The
        default stays True so that committed records keep their meaning.
    """

    value_lr: float = 3e-4
    ml_alpha: float = 30.0
    align: bool = True
    online_temperature: float = 1.0
    log_prob_clip_std: float = 7.0
    interpolation_start: float = 1.0
    interpolation_decay_steps: int = 40_000
    interpolation_floor: float = 0.5
    online_actor_max_grad_norm: float = 0.25
    online_buffer: str = "empty"
    online_seed_trajectories: int = 0
    reset_online_optimizers: bool = True


class AgentState(struct.PyTreeNode):
    """SAC's networks plus Z; ``reference_actor`` (pi_0) is set when aligned fine-tuning starts.

    Attributes:
      value: the baseline Z, an ``EnsembleCritic`` evaluated at the zero action.
      reference_actor: frozen offline actor parameters (``None`` offline and with ``align=False``).
      online_step: online updates done (drives the weight w; 0 offline).
    """

    actor: TrainState
    critic: TargetTrainState
    value: TrainState
    temperature: TrainState
    key: PRNGKey
    step: jax.Array
    online_step: jax.Array
    reference_actor: Params | None = None


def init(config: Config, key: PRNGKey, example_obs: jax.Array, example_action: jax.Array):
    sac_key, value_key = jax.random.split(key)
    sac_state = sac.init(config, sac_key, example_obs, example_action)
    value_net = networks.EnsembleCritic(  # The critic's architecture (alignment copies it).
        config.critic_hidden_dims, num_critics=config.num_critics,
        layer_norm=config.critic_layer_norm, init_scheme=config.init_scheme)
    value = state_lib.create_train_state(
        value_net, value_key, (example_obs[None], jnp.zeros_like(example_action)[None]),
        state_lib.make_optimizer(config.value_lr))
    return AgentState(actor=sac_state.actor, critic=sac_state.critic, value=value,
                      temperature=sac_state.temperature, key=sac_state.key, step=sac_state.step,
                      online_step=jnp.zeros((), jnp.int32))


def baseline(value_params: Params, state: AgentState, obs: jax.Array, action_dim: int):
    """Z_k(s) for obs [B, obs_dim]: [num_critics, B] (the Z network at the zero action)."""
    zeros = jnp.zeros((*obs.shape[:-1], action_dim), obs.dtype)
    return state.value.apply_fn(value_params, obs, zeros)


# --- Offline losses (SAC+ML) ---------------------------------------------------------------------


def value_loss(value_params: Params, state: AgentState, batch: Transition, key: PRNGKey,
               config: Config):
    """sum_k mean_B (log pi(a|s) + Z_k(s) - y)^2 with y = r + gamma (1 - d) t,
    t = log pi(a'|s') + min_k Z_k(s') - alpha log pi(a'|s'), a' ~ pi(.|s'); log pi(a|s) at the
    dataset action and the whole target are constants (spec §7.2)."""
    action_dim = batch.action.shape[-1]
    next_dist = state.actor.apply_fn(state.actor.params, batch.next_obs)
    _, next_log_prob = networks.sample_and_log_prob(next_dist, key)
    alpha = state.temperature.apply_fn(state.temperature.params)
    next_z = baseline(value_params, state, batch.next_obs, action_dim).min(0)
    soft_value = next_log_prob + next_z - alpha * next_log_prob
    target = jax.lax.stop_gradient(
        losses.td_target(batch.reward, batch.terminal, config.discount, soft_value))
    log_prob = jax.lax.stop_gradient(losses.gaussian_log_prob_clipped(
        state.actor.apply_fn(state.actor.params, batch.obs), batch.action))
    z = baseline(value_params, state, batch.obs, action_dim)
    chex.assert_shape(z, (config.num_critics, batch.reward.shape[0]))
    loss = losses.ensemble_td_loss(log_prob[None] + z, target)
    return loss, {"value/loss": loss, "value/z_mean": z.mean()}


def actor_loss(actor_params: Params, state: AgentState, batch: Transition, key: PRNGKey,
               config: Config):
    """lambda * SAC's actor loss - mean_B log pi(a|s), lambda = ml_alpha / mean|min_k Q(s, a~)|
    (detached; the TD3+BC normalization), a the dataset action (spec §7.2)."""
    sac_loss, metrics = sac.actor_loss(actor_params, state, batch, key, config)
    lmbda = jax.lax.stop_gradient(config.ml_alpha / metrics["actor/q_abs_mean"])
    dist = state.actor.apply_fn(actor_params, batch.obs)
    log_likelihood = losses.gaussian_log_prob_clipped(dist, batch.action).mean()
    loss = lmbda * sac_loss - log_likelihood
    return loss, {**metrics, "actor/loss": loss, "actor/sac_loss": sac_loss,
                  "actor/lambda": lmbda, "actor/log_likelihood": log_likelihood}


def temperature_step(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey):
    """One SAC temperature step on the entropy of fresh samples a ~ pi(.|s), obs [B, obs_dim]."""
    dist = state.actor.apply_fn(state.actor.params, obs)
    _, log_prob = networks.sample_and_log_prob(dist, key)
    entropy = jax.lax.stop_gradient(-log_prob.mean())
    target = sac.target_entropy(config, dist.event_shape[-1])
    temperature, metrics = state_lib.gradient_step(
        sac.temperature_loss, state.temperature, state, entropy, target)
    return state.replace(temperature=temperature), metrics


def update(config: Config, state: AgentState, batch: Transition) -> tuple[AgentState, Metrics]:
    """One SAC+ML step: temperature, critic, Z, actor, then the target critic (spec §7.2)."""
    key, entropy_key, next_key, value_key, actor_key = jax.random.split(state.key, 5)
    state, temperature_metrics = temperature_step(config, state, batch.obs, entropy_key)

    # --- Critic (SAC) ---
    critic, critic_metrics = state_lib.gradient_step(
        sac.critic_loss, state.critic, state, batch, next_key, config)
    state = state.replace(critic=critic)

    # --- Baseline Z ---
    value, value_metrics = state_lib.gradient_step(
        value_loss, state.value, state, batch, value_key, config)
    state = state.replace(value=value)

    # --- Actor (SAC + maximum likelihood) and target critic ---
    actor, actor_metrics = state_lib.gradient_step(
        actor_loss, state.actor, state, batch, actor_key, config)
    state = state.replace(actor=actor, critic=state_lib.soft_update(state.critic, config.tau),
                          key=key, step=state.step + 1)
    return state, {**temperature_metrics, **critic_metrics, **value_metrics, **actor_metrics}


# --- Alignment and online fine-tuning (SAC+ACA) --------------------------------------------------


def clipped_log_prob(reference_params: Params, state: AgentState, obs: jax.Array,
                     action: jax.Array, config: Config) -> jax.Array:
    """clipLog(pi_0, a|s) = softplus(log pi_0(a|s) - c(s)) + c(s), [B] (spec §7.3).

    c(s) = min over u = mu_0(s) +- beta sigma_0(s) of the squashed density at raw (pre-tanh) u,
    log N(u; mu_0, sigma_0) - sum log(1 - tanh(u)^2). Monotone in log pi_0, ~log pi_0 well above
    c(s). Actions are clipped to +-(1 - 1e-5) first so buffer actions at the bound stay finite.
    """
    dist = state.actor.apply_fn(reference_params, obs)
    log_prob = losses.gaussian_log_prob_clipped(dist, action)
    base = dist.distribution
    mean, std = base.mean(), base.stddev()

    def raw_log_prob(raw):
        return base.log_prob(raw) - dist.bijector.forward_log_det_jacobian(raw)

    floor = jnp.minimum(raw_log_prob(mean - config.log_prob_clip_std * std),
                        raw_log_prob(mean + config.log_prob_clip_std * std))
    chex.assert_equal_shape([log_prob, floor])
    return jax.nn.softplus(log_prob - floor) + floor


def interpolation_weight(config: Config, online_step: jax.Array) -> jax.Array:
    """w after ``online_step`` updates: max(i0 - t i0 / decay_steps, floor) (spec §7.3)."""
    decayed = config.interpolation_start * (1.0 - online_step / config.interpolation_decay_steps)
    return jnp.maximum(decayed, config.interpolation_floor)


def log_prob_term(config: Config, state: AgentState):
    """The aligned critic's action term ``q_offset(obs, action) = w clipLog(pi_0, a|s)`` [B] at the
    state's online step (``None`` without alignment): Q_k(s, a) = R_k(s, a) + q_offset(s, a)."""
    if not config.align:
        return None
    weight = interpolation_weight(config, state.online_step)
    reference = state.reference_actor

    def q_offset(obs: jax.Array, action: jax.Array) -> jax.Array:
        return weight * clipped_log_prob(reference, state, obs, action, config)

    return q_offset


def online_q(config: Config, state: AgentState, obs: jax.Array, action: jax.Array) -> jax.Array:
    """The fine-tuned critic Q_k(s, a) = R_k(s, a) [+ w clipLog(pi_0, a|s)], [num_critics, B]."""
    q = state.critic.apply_fn(state.critic.params, obs, action)
    q_offset = log_prob_term(config, state)
    return q if q_offset is None else q + q_offset(obs, action)[None]


def aligned_critic_params(value_params: Params, action_dim: int) -> Params:
    """Z's parameters with the action rows of every head's first kernel zeroed: R_k(s, a) = Z_k(s).

    The critic's input is concat([obs, action]), so the action rows are the last ``action_dim``
    rows of the first Dense kernel ([num_critics, obs_dim + action_dim, hidden]).
    """
    def align(path, leaf):
        if jax.tree_util.keystr(path).endswith("['MLP_0']['Dense_0']['kernel']"):
            return leaf.at[:, leaf.shape[1] - action_dim:, :].set(0.0)
        return leaf

    return jax.tree_util.tree_map_with_path(align, value_params)


def start_online(config: Config, state: AgentState) -> AgentState:
    """The switch from SAC+ML to fine-tuning (spec §7.3, initialization).

    With ``align``: the critic (and its target) becomes R_k = Z_k and pi_0 is frozen. Either way the
    temperature is reset to ``online_temperature`` and the actor's optimizer clips gradients.
    """
    action_dim = state.actor.params["params"]["Dense_0"]["kernel"].shape[-1]
    critic_params = (aligned_critic_params(state.value.params, action_dim) if config.align
                     else state.critic.params)
    critic = TargetTrainState.create_with_target(
        apply_fn=state.critic.apply_fn, params=critic_params,
        tx=state_lib.make_optimizer(config.critic_lr))
    actor = TrainState.create(
        apply_fn=state.actor.apply_fn, params=state.actor.params,
        tx=state_lib.make_optimizer(config.actor_lr,
                                    max_grad_norm=config.online_actor_max_grad_norm))
    log_alpha = jnp.log(jnp.asarray(config.online_temperature, jnp.float32))
    temperature = TrainState.create(
        apply_fn=state.temperature.apply_fn, params={"params": {"log_value": log_alpha}},
        tx=state_lib.make_optimizer(config.temperature_lr))
    if not config.reset_online_optimizers:  # Keep the Adam moments (the aligned critic gets Z's).
        critic = critic.replace(
            opt_state=state.value.opt_state if config.align else state.critic.opt_state)
        actor = actor.replace(opt_state=(actor.opt_state[0], state.actor.opt_state))
        temperature = temperature.replace(opt_state=state.temperature.opt_state)
    return state.replace(actor=actor, critic=critic, temperature=temperature,
                         reference_actor=state.actor.params if config.align else None,
                         online_step=jnp.zeros((), jnp.int32))


def online_update(config: Config, state: AgentState,
                  batch: Transition) -> tuple[AgentState, Metrics]:
    """One SAC+ACA step: temperature, critic, actor, target critic, then w decays (spec §7.3)."""
    key, entropy_key, next_key, actor_key = jax.random.split(state.key, 4)
    state, temperature_metrics = temperature_step(config, state, batch.obs, entropy_key)
    q_offset = log_prob_term(config, state)  # w at this step; the term never trains.
    critic, critic_metrics = state_lib.gradient_step(
        sac.critic_loss, state.critic, state, batch, next_key, config, q_offset)
    state = state.replace(critic=critic)
    actor, actor_metrics = state_lib.gradient_step(
        sac.actor_loss, state.actor, state, batch, actor_key, config, q_offset)
    state = state.replace(actor=actor, critic=state_lib.soft_update(state.critic, config.tau),
                          key=key, step=state.step + 1, online_step=state.online_step + 1)
    weight = interpolation_weight(config, state.online_step - 1) if config.align else 0.0
    metrics = {**temperature_metrics, **critic_metrics, **actor_metrics,
               "critic/interpolation_weight": jnp.asarray(weight, jnp.float32)}
    return state, metrics


def act(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Deterministic evaluation action tanh(mu(s)) for obs [B, obs_dim] -> [B, action_dim]."""
    return sac.act(config, state, obs, key)


def explore(config: Config, state: AgentState, obs: jax.Array, key: PRNGKey) -> jax.Array:
    """Online behaviour: a ~ pi(.|s), [B, action_dim] (no random warm-up, spec §7.4)."""
    return sac.explore(config, state, obs, key)


def online_config(config: Config) -> dict:
    """``finetune.OnlineConfig`` fields: the buffer starts empty or with the best trajectories."""
    return {"buffer": config.online_buffer, "seed_trajectories": config.online_seed_trajectories}


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))

