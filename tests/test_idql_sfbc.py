"""Tests of IDQL and SfBC (``jaxrl_offline/algorithms/{idql,sfbc}.py``).

* IDQL: the three value losses and their implied importance weights against hand-computed
  values; the V, Q and diffusion losses with stub networks of known output; argmax selection.
* SfBC: the soft value, the planning targets, and the planning backup iterated to its fixed point
  on a tiny chain with a known answer; the selection logits; the phase switch (Q_{k-1} frozen,
  critic restarted).
* A bimodal-action bandit: IDQL and SfBC act at a mode, a unimodal Gaussian policy (IQL) between.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState

from jaxrl_offline.generative import diffusion
from jaxrl_offline.local_suite import synthetic
from jaxrl_offline.runner import training
from jaxrl_offline.algorithms import idql, iql, sfbc
from jaxrl_offline.state import TargetTrainState
from jaxrl_offline.types import Transition

TINY = dict(denoiser_hidden_dims=(8, 8), time_features=4, time_hidden_dims=(8,),
            critic_hidden_dims=(8, 8), value_hidden_dims=(8, 8))
U = np.float32([-2.0, -0.5, 0.5, 2.0])  # u = Qbar - V.


# --- IDQL -----------------------------------------------------------------------------------------


def test_idql_value_objectives_hand_values():
    expectile = idql.Config(value_loss="expectile", expectile=0.7)
    # |0.7 - 1(u < 0)| u^2 = [0.3 * 4, 0.3 * 0.25, 0.7 * 0.25, 0.7 * 4].
    np.testing.assert_allclose(idql.value_objective(U, expectile), [1.2, 0.075, 0.175, 2.8],
                               rtol=1e-6)
    quantile = idql.Config(value_loss="quantile", quantile=0.6)
    # |0.6 - 1(u < 0)| |u| = [0.4 * 2, 0.4 * 0.5, 0.6 * 0.5, 0.6 * 2].
    np.testing.assert_allclose(idql.value_objective(U, quantile), [0.8, 0.2, 0.3, 1.2], rtol=1e-6)
    exponential = idql.Config(value_loss="exponential", exponential_beta=1.0)
    # (min(e^u, 6) - 1) u: (e^-2 - 1)(-2) = 1.729329, (e^-0.5 - 1)(-0.5) = 0.196735,
    # (e^0.5 - 1)(0.5) = 0.324361, e^2 = 7.39 is capped at 6: (6 - 1) 2 = 10.
    np.testing.assert_allclose(idql.value_objective(U, exponential),
                               [1.729329, 0.196735, 0.324361, 10.0], rtol=1e-5)
    # Its gradient in u is e^{beta u} - 1 (capped), that of e^{beta u} / beta - u.
    grad = jax.grad(lambda u: idql.value_objective(u, exponential).sum())(jnp.asarray(U))
    np.testing.assert_allclose(grad, [np.exp(-2) - 1, np.exp(-0.5) - 1, np.exp(0.5) - 1, 5.0],
                               rtol=1e-5)
    with pytest.raises(ValueError, match="unknown value_loss"):
        idql.Config(value_loss="huber")


def test_idql_importance_weights_hand_values():
    u = jnp.asarray(np.append(U, [0.0, 100.0]))
    weights = lambda **kw: np.exp(idql.log_importance_weights(u, idql.Config(**kw)))  # noqa: E731
    # Expectile: |tau - 1(u < 0)|, the same at every |u|.
    np.testing.assert_allclose(weights(expectile=0.7), [0.3, 0.3, 0.7, 0.7, 0.7, 0.7], rtol=1e-6)
    # Quantile: |tau - 1(u < 0)| / |u| (u = 0 is clamped to 1e-6).
    np.testing.assert_allclose(weights(value_loss="quantile")[:4], [0.2, 0.8, 1.2, 0.3], rtol=1e-5)
    # Exponential: |e^u - 1| / |u| = (1 - e^-2)/2 = 0.432332, (1 - e^-0.5)/0.5 = 0.786939,
    # (e^0.5 - 1)/0.5 = 1.297443, (e^2 - 1)/2 = 3.194528, beta = 1 at u = 0; finite at u = 100.
    log_w = np.asarray(idql.log_importance_weights(u, idql.Config(value_loss="exponential")))
    np.testing.assert_allclose(np.exp(log_w[:5]), [0.432332, 0.786939, 1.297443, 3.194528, 1.0],
                               rtol=1e-5)
    np.testing.assert_allclose(log_w[5], 100 - np.log(100), rtol=1e-6)


def linear_q(params, obs, action):
    """Q_i(s, a) = w_i . [s, a] + c_i for each row i of params["w"]: [members, B]."""
    return (jnp.einsum("kd,bd->kb", params["w"], jnp.concatenate([obs, action], -1))
            + params["c"][:, None])


BATCH = Transition(
    obs=np.float32([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]]),
    action=np.float32([[0.4], [-0.9], [0.1]]),
    reward=np.float32([1.0, -0.5, 0.25]),
    next_obs=np.float32([[0.1, 0.3], [-1.0, 2.0], [0.6, -0.4]]),
    terminal=np.float32([0.0, 1.0, 0.0]),
)


@functools.cache
def init_state(algo, config):
    """``algo.init`` for BATCH's shapes, jitted (eager init dispatches op by op) and cached."""
    return jax.jit(functools.partial(algo.init, config))(
        jax.random.key(0), BATCH.obs[0], BATCH.action[0])


def stub_idql_state(config):
    """A real IDQL state whose critic (online and target) and value net are linear stubs."""
    state = init_state(idql, idql.Config(**TINY))
    online = {"w": np.float32([[1.0, 0.5, -1.0], [0.2, -0.3, 2.0]]), "c": np.float32([0.1, -0.2])}
    target = {"w": np.float32([[0.5, 1.0, 0.5], [-0.4, 0.6, 1.0]]), "c": np.float32([0.3, 0.0])}
    critic = TargetTrainState.create(apply_fn=linear_q, params=online, target_params=target,
                                     tx=optax.sgd(0.0))
    value = TrainState.create(apply_fn=lambda p, obs: obs @ p["u"] + p["b"],
                              params={"u": np.float32([0.7, -0.2]), "b": np.float32(0.05)},
                              tx=optax.sgd(0.0))
    return state.replace(critic=critic, value=value), online, target


@pytest.mark.parametrize("value_loss", idql.VALUE_LOSSES)
def test_idql_value_and_critic_losses_with_linear_stubs(value_loss):
    config = idql.Config(**TINY, value_loss=value_loss, discount=0.9)
    state, online, target = stub_idql_state(config)
    inputs = np.concatenate([BATCH.obs, BATCH.action], -1).astype(np.float64)
    v = BATCH.obs @ np.float64([0.7, -0.2]) + 0.05
    # V loss: u = min over the two *target* heads minus V, then the hand-written f.
    u = (inputs @ target["w"].T + target["c"]).min(-1) - v
    f = {"expectile": np.where(u < 0, 0.3, 0.7) * u**2,
         "quantile": np.where(u < 0, 0.4, 0.6) * np.abs(u),
         "exponential": (np.minimum(np.exp(u), 6.0) - 1) * u}[value_loss]
    loss, metrics = idql.value_loss(state.value.params, state, BATCH, config)
    np.testing.assert_allclose(loss, f.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["value/v_mean"], v.mean(), rtol=1e-5)
    # Q loss: y = r + 0.9 (1 - terminal) V(s'), mean over both *online* heads and the batch.
    y = BATCH.reward + 0.9 * (1 - BATCH.terminal) * (
        BATCH.next_obs @ np.float64([0.7, -0.2]) + 0.05)
    q = inputs @ online["w"].T + online["c"]
    loss, _ = idql.critic_loss(state.critic.params, state, BATCH, config)
    np.testing.assert_allclose(loss, ((q - y[:, None]) ** 2).mean(), rtol=1e-5)


def test_idql_actor_loss_with_zero_network():
    # eps_theta = 0: the loss is mean_B ||eps||^2 of the noise ddpm_perturb drew.
    config = idql.Config(**TINY)
    state = init_state(idql, config)
    actor = state.actor.replace(apply_fn=lambda p, obs, noisy, t, **kw: jnp.zeros_like(noisy))
    state = state.replace(actor=actor)
    loss, _ = idql.actor_loss(state.actor.params, state, BATCH, jax.random.key(5), config)
    noise_key, _ = jax.random.split(jax.random.key(5))
    schedule = diffusion.make_ddpm_schedule("vp", 5)
    _, _, noise = diffusion.ddpm_perturb(noise_key, jnp.asarray(BATCH.action), schedule)
    np.testing.assert_allclose(loss, np.mean(np.sum(np.asarray(noise) ** 2, -1)), rtol=1e-6)


def test_idql_act_takes_the_argmax_candidate():
    config = idql.Config(**TINY, num_candidates=16)
    state, _, _ = stub_idql_state(config)
    # Qbar = -(a - 0.3)^2 on both target heads: the best candidate is the one closest to 0.3.
    critic = state.critic.replace(apply_fn=lambda p, obs, a: jnp.stack([-(a[:, 0] - 0.3) ** 2] * 2))
    state = state.replace(critic=critic)
    action = jax.jit(functools.partial(idql.act, config))(state, BATCH.obs, jax.random.key(7))
    sample_key, _ = jax.random.split(jax.random.key(7))
    candidates = idql.sample_actions(config, state, jnp.repeat(jnp.asarray(BATCH.obs), 16, 0),
                                     sample_key).reshape(3, 16)
    best = np.take_along_axis(np.asarray(candidates),
                              np.abs(candidates - 0.3).argmin(1)[:, None], 1)
    np.testing.assert_allclose(action, best, rtol=1e-6)
    resampled = idql.act(dataclasses.replace(config, action_selection="resample"), state,
                         BATCH.obs, jax.random.key(7))
    assert all(np.isclose(candidates[i], resampled[i, 0]).any() for i in range(3))


def test_idql_ema_warmup_rates_hand_values():
    # Warm-up w = 10: rate max(0.001, 10 / (10 + t)): 1 at t = 0 (a copy), 0.1 at t = 90, the
    # paper's 0.001 from t = 9990 on; nothing of the initialization is left after the copy.
    warm = idql.Config(**TINY)
    for step, rate in [(0, 1.0), (90, 0.1), (9990, 0.001), (50_000, 0.001)]:
        got, init_weight = idql.ema_rate(warm, jnp.int32(step))
        np.testing.assert_allclose(got, rate, rtol=1e-6)
        assert init_weight == 0.0
    # The paper (w = 0): 0.001 from the start, so after 2k updates 0.999^2000 = 13.5% of the
    # evaluated weights are still the initialization (the diffusion sweep's IDQL records).
    paper = idql.Config(**TINY, actor_ema_warmup=0.0)
    rate, init_weight = idql.ema_rate(paper, jnp.int32(1999))
    np.testing.assert_allclose([rate, init_weight], [0.001, 0.999**2000], rtol=1e-4)
    with pytest.raises(ValueError, match="actor_ema_warmup must be >= 0"):
        idql.Config(actor_ema_warmup=-1.0)


def test_idql_evaluation_weights_after_a_short_run_are_not_the_initialization():
    # 30 updates: with the warm-up the sampling (EMA) weights sit near the online weights; with
    # the paper's constant 0.001 they are still ~97% the initial weights.
    dataset = jax.tree.map(jnp.asarray, synthetic.bimodal_probe(256, seed=0, mode=0.9))

    def distances(config):
        @jax.jit
        def run(dataset):
            state, data_key = training.init_agent(idql, config, 0, dataset)
            trained, metrics = training.make_train_chunk(idql, config, 30)(state, data_key, dataset)
            def distance(a, b):
                return optax.global_norm(jax.tree.map(jnp.subtract, a, b))
            return (distance(trained.actor.target_params, state.actor.params),
                    distance(trained.actor.target_params, trained.actor.params), metrics)
        return run(dataset)

    config = idql.Config(**TINY, batch_size=32, critic_batch_size=32, cosine_decay_steps=None)
    from_init, from_online, metrics = distances(config)
    assert from_online < 0.5 * from_init, (from_online, from_init)
    assert metrics["actor/ema_init_weight"] == 0.0
    paper_from_init, paper_from_online, _ = distances(
        dataclasses.replace(config, actor_ema_warmup=0.0))
    assert paper_from_init < 0.1 * paper_from_online, (paper_from_init, paper_from_online)


# --- SfBC -----------------------------------------------------------------------------------------


def test_sfbc_soft_value_and_planning_targets_hand_values():
    # softmax(20 [1, 2] / 10) = softmax([2, 4]) = [0.119203, 0.880797]; V = 0.119203 + 1.761594.
    np.testing.assert_allclose(sfbc.soft_value(jnp.float32([[1.0, 2.0]]), 20.0, 10.0), [1.880797],
                               rtol=1e-6)
    reward, terminal = jnp.float32([1.0, 2.0]), jnp.float32([0.0, 1.0])
    next_q = jnp.float32([[0.0, 4.0], [5.0, 5.0]])
    value = jnp.float32([3.0, 2.5])
    config = sfbc.Config(discount=0.5)
    target = functools.partial(sfbc.planning_target, reward, terminal, next_q, value)
    # Phase 0: r + 0.5 (1 - terminal) mean_j Qbar(s', a'_j) = [1 + 0.5 * 2, 2].
    np.testing.assert_allclose(target(jnp.int32(0), config), [2.0, 2.0])
    # current_state: mean_j max(r + 0.5 (1 - d) Qbar_j, V(s)) = [mean(max(1, 3), max(3, 3)), 2.5].
    np.testing.assert_allclose(target(jnp.int32(1), config), [3.0, 2.5])
    # next_state: r + 0.5 (1 - d) mean_j max(Qbar_j, V(s')) = [1 + 0.5 mean(3, 4), 2].
    next_state = dataclasses.replace(config, planning_backup="next_state")
    np.testing.assert_allclose(target(jnp.int32(1), next_state), [2.75, 2.0])


@pytest.mark.parametrize("backup, expected", [
    # Q*(s0, a) = r0(a) + gamma max_a' r1(a'): the one improvement step recovers the optimum.
    ("next_state", {"s0": [0.9, 1.9], "s1": [0.0, 1.0]}),
    # The official form also lifts every dataset action to V(s): Q1(s1, .) = max(r1, V0(s1)) = 1,
    # Q1(s0, -1) = max(0 + 0.9 * 1, V0(s0) = 1.45).
    ("current_state", {"s0": [1.45, 1.9], "s1": [1.0, 1.0]}),
])
def test_sfbc_planning_backup_on_chain(backup, expected):
    # s0 -> s1 -> end, actions {-1, +1} each taken half the time by the behavior policy, reward 1
    # for +1 and 0 for -1 in both states, gamma = 0.9. Tabular Q[state, action]; the behavior
    # model's candidates are exactly {-1, +1}. Phase 0 (behavior value, the Monte-Carlo round):
    # Q0(s1) = [0, 1], Q0(s0) = r0 + 0.9 * 0.5 = [0.45, 1.45]; V0 = soft max (std 0.1: ~max).
    config = sfbc.Config(discount=0.9, planning_backup=backup)
    reward = jnp.float32([[0.0, 1.0], [0.0, 1.0]])  # [state, action]
    terminal = jnp.float32([0.0, 1.0])

    def backup_once(q, previous, phase):
        rows = []
        for state, next_state in ((0, 1), (1, 1)):
            value_state = state if backup == "current_state" else next_state
            value = sfbc.soft_value(previous[value_state][None], 20.0, 0.1)
            rows.append(sfbc.planning_target(
                reward[state], jnp.broadcast_to(terminal[state], (2,)),
                jnp.broadcast_to(q[next_state], (2, 2)), jnp.broadcast_to(value, (2,)),
                jnp.int32(phase), config))
        return jnp.stack(rows)

    q0 = jnp.zeros((2, 2))
    for _ in range(30):
        q0 = backup_once(q0, q0, 0)
    np.testing.assert_allclose(q0, [[0.45, 1.45], [0.0, 1.0]], atol=1e-5)
    q1 = jnp.zeros((2, 2))
    for _ in range(30):
        q1 = backup_once(q1, q0, 1)
    np.testing.assert_allclose(q1, [expected["s0"], expected["s1"]], atol=1e-5)


def test_sfbc_selection_logits_and_picks():
    config = sfbc.Config(num_selected=2, selection_temperature=100.0)
    # logits = 100 q / max(std, 0.1) = [0, 10, 500, 20]; capped at the 2nd largest + 40 = 60.
    q = jnp.float32([[0.0, 0.1, 5.0, 0.2]])
    np.testing.assert_allclose(sfbc.selection_logits(q, jnp.float32(1.0), config),
                               [[0, 10, 60, 20]], rtol=1e-6)
    candidates = jnp.float32([[[0.1], [0.2], [0.3], [0.4]]])
    # Picks without replacement: 60 and 20 beat 10 and 0 by 40 logits: the mean of 0.3 and 0.4.
    action = sfbc.select(candidates, q, jax.random.key(0), jnp.float32(1.0), config)
    np.testing.assert_allclose(action, [[0.35]], rtol=1e-6)


def test_sfbc_refuses_solver_plans_that_amplify_errors():
    # Order 3 under 12 evaluations (the diffusion sweep used 5) is refused at construction, before
    # any update; DDIM at 5 passes, and the limit can be raised knowingly.
    with pytest.raises(ValueError, match=r"sfbc .* 60x .* at least 12 evaluations"):
        sfbc.Config(sampling_steps=10)
    sfbc.Config(sampling_steps=5, solver_order=1)
    sfbc.Config(sampling_steps=5, max_solver_error_gain=float("inf"))


def test_sfbc_clip_samples_switch():
    """``clip_samples=False`` (the official code) returns the solver's raw samples; the default
    clips them to [-1, 1] and leaves the ones inside unchanged. An untrained score model's samples
    are about standard normal, so many leave [-1, 1]."""
    state = init_state(sfbc, sfbc.Config(score_unet_hidden_dims=(8,), critic_hidden_dims=(8,)))
    obs = jnp.zeros((256, 2))

    def sample(clip):
        config = sfbc.Config(score_unet_hidden_dims=(8,), critic_hidden_dims=(8,),
                             clip_samples=clip)
        return np.asarray(sfbc.sample_behavior(config, state.behavior.params,
                                               state.behavior.apply_fn, obs, jax.random.key(0)))

    raw, clipped = sample(False), sample(True)
    assert (np.abs(raw) > 1).mean() > 0.1
    np.testing.assert_array_equal(clipped, np.clip(raw, -1.0, 1.0))


def test_sfbc_phase_switch_freezes_and_restarts_the_critic():
    # total_steps 4, K = 2: phase 1 starts at update 2.
    config = sfbc.Config(score_unet_hidden_dims=(8,), critic_hidden_dims=(8,), total_steps=4)
    np.testing.assert_array_equal([sfbc.planning_phase(jnp.int32(s), config) for s in range(5)],
                                  [0, 0, 1, 1, 1])
    initial = init_state(sfbc, config)
    # A critic that has trained for a while (params moved, Adam count 7).
    trained = jax.tree.map(lambda p: p + 0.5, initial.critic.params)
    critic = initial.critic.replace(params=trained, target_params=trained,
                                    opt_state=initial.critic.tx.init(trained))
    critic = critic.replace(opt_state=jax.tree.map(lambda x: x + 7 if x.dtype == jnp.int32 else x,
                                                   critic.opt_state))
    for step, switches in ((1, False), (2, True), (3, False)):
        state = sfbc.start_phase(initial.replace(critic=critic, step=jnp.int32(step)), config)
        # At the switch Q_{k-1} is frozen and the critic, its target and Adam restart.
        expected_planning = trained if switches else initial.planning_params
        expected_critic = initial.initial_critic_params if switches else trained
        jax.tree.map(np.testing.assert_array_equal, state.planning_params, expected_planning)
        jax.tree.map(np.testing.assert_array_equal, state.critic.params, expected_critic)
        jax.tree.map(np.testing.assert_array_equal, state.critic.target_params, expected_critic)
        assert int(state.critic.opt_state[0].count) == (0 if switches else 7)
    no_reset = dataclasses.replace(config, reset_critic=False)
    state = sfbc.start_phase(initial.replace(critic=critic, step=jnp.int32(2)), no_reset)
    jax.tree.map(np.testing.assert_array_equal, state.critic.params, trained)
    jax.tree.map(np.testing.assert_array_equal, state.planning_params, trained)


# --- Bimodal actions: diffusion policies act at a mode, a Gaussian between ------------------------


MODE = 0.9  # Modes near the action bound: candidates cannot leave the data's range (see below).


def bimodal_dataset():
    """synthetic.bimodal_probe with actions at +-0.9, plus 25% actions uniform between the modes so
    the critic also sees the reward fall between them (r = 1 at +-0.9, 0 at the mean 0).

    With modes at +-0.6 nothing tells the critic that rewards drop beyond them; a small critic
    then extrapolates upward there, and the argmax over 32 candidates picks the rare behavior
    sample that landed beyond a mode (seen with SfBC after 1000 updates). At +-0.9 the clipping
    to [-1, 1] keeps every candidate within 0.1 of the data.
    """
    modes = synthetic.bimodal_probe(768, seed=0, mode=MODE)
    rng = np.random.default_rng(1)
    action = rng.uniform(-MODE, MODE, (256, 1)).astype(np.float32)
    spread = Transition(obs=rng.uniform(-1, 1, (256, 2)).astype(np.float32), action=action,
                        reward=synthetic.bimodal_probe_reward(action, MODE),
                        next_obs=rng.uniform(-1, 1, (256, 2)).astype(np.float32),
                        terminal=np.ones(256, np.float32))
    return jax.tree.map(lambda a, b: jnp.asarray(np.concatenate([a, b])), modes, spread)


def behavior_samples(algo, config, state, key):
    """2000 behavior-model samples at uniform states in [-1, 1]^2, [2000] (IDQL: EMA weights)."""
    obs_key, sample_key = jax.random.split(key)
    obs = jax.random.uniform(obs_key, (2000, 2), minval=-1.0, maxval=1.0)
    if algo is idql:
        return idql.sample_actions(config, state, obs, sample_key)[:, 0]
    return sfbc.sample_behavior(config, state.behavior.params, state.behavior.apply_fn, obs,
                                sample_key)[:, 0]


def train_and_act(algo, config, num_steps):
    """One seed trained on ``bimodal_dataset`` for ``num_steps`` updates (the trainer's chunk), then
    its actions at 64 new states [64, 1] and, for diffusion policies, 2000 behavior samples; all in
    one jitted program (one compile)."""

    @jax.jit
    def run(dataset, obs):
        state, data_key = training.init_agent(algo, config, 0, dataset)
        state, _ = training.make_train_chunk(algo, config, num_steps)(state, data_key, dataset)
        act_key, sample_key = jax.random.split(jax.random.key(3))
        samples = None if algo is iql else behavior_samples(algo, config, state, sample_key)
        return algo.act(config, state, obs, act_key), samples

    obs = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (64, 2)), jnp.float32)
    action, samples = run(bimodal_dataset(), obs)
    return np.asarray(action), samples


BIMODAL_IDQL = idql.Config(
    denoiser_hidden_dims=(32, 32), time_features=16, time_hidden_dims=(32,),
    critic_hidden_dims=(32, 32), value_hidden_dims=(32, 32),
    batch_size=128, critic_every=1, actor_lr=2e-3, critic_lr=1e-3, value_lr=1e-3,
    cosine_decay_steps=None, num_candidates=32,
    actor_tau=0.05)  # A fast EMA for 600 updates (set before the EMA warm-up existed).
BIMODAL_SFBC = sfbc.Config(
    score_unet_hidden_dims=(32, 32), behavior_lr=1e-3, batch_size=128, critic_hidden_dims=(32, 32),
    critic_batch_size=16, num_value_samples=1, planning_iterations=1, planning_backup="next_state",
    total_steps=600,
    num_selected=1)  # Averaging SfBC's 4 locomotion picks could mix the two modes.


@pytest.mark.parametrize("algo, config, num_steps", [(idql, BIMODAL_IDQL, 600),
                                                       (sfbc, BIMODAL_SFBC, 600)],
                         ids=["idql", "sfbc"])
def test_diffusion_policies_act_at_a_mode(algo, config, num_steps):
    action, samples = train_and_act(algo, config, num_steps)
    distance_to_mode = np.abs(np.abs(action) - MODE)
    assert np.mean(distance_to_mode < 0.15) > 0.9, np.sort(action[:, 0])
    # The candidates come from a bimodal behavior model (data: 37.5% at each mode, 25% spread
    # between them): both modes are present. (How well each model gets the mass split is checked
    # in tests/test_diffusion.py; SfBC's constant-rate continuous-time model can still be far off
    # after 1000 updates, e.g. 23/77 in one run.)
    samples = np.asarray(samples)
    near = lambda center: np.mean(np.abs(samples - center) < 0.15)  # noqa: E731
    assert near(MODE) > 0.1 and near(-MODE) > 0.1, (near(MODE), near(-MODE))


def test_unimodal_gaussian_policy_lands_between_the_modes():
    config = iql.Config(actor_hidden_dims=(32, 32), critic_hidden_dims=(32, 32),
                        value_hidden_dims=(32, 32), batch_size=128, cosine_decay_steps=None)
    action, _ = train_and_act(iql, config, num_steps=500)
    assert np.abs(action).mean() < 0.3, np.sort(action[:, 0])
