"""Tests of SfBC's staged pipeline (``jaxrl_offline/algorithms/sfbc_staged.py``) and its driver
(``experiments/sfbc_staged.py``).

* Monte-Carlo returns and the backward planning sweep on a 2-episode toy dataset (a timeout
  episode, then a terminal one; done flags are the loader's episode ends) against hand-computed
  values.
* The soft value, the standardization and a target refresh with a stub critic of known output.
* Presampled actions: shape [N, M_V, action_dim], finite, in [-1, 1].
* Seed i of the vmapped stages equals a single-seed run with seed i.
* A tiny end-to-end run that writes a valid record.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState

from experiments import cli  # noqa: F401  (its flags and the driver's must not clash)
from experiments import sfbc_staged as driver
from jaxrl_offline.algorithms import sfbc_staged as staged
from jaxrl_offline.datasets import data
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import experiment, training
from jaxrl_offline.types import Transition

TINY = staged.Config(score_unet_hidden_dims=(8,), critic_hidden_dims=(8,), batch_size=16,
                     critic_batch_size=16, num_value_samples=4, num_candidates=4, num_selected=1,
                     presample_chunk=3, behavior_steps=2, critic_steps=2, sampling_steps=2,
                     solver_order=1)  # A 2-evaluation sampler: fast to compile.


TOY_DONE = jnp.float32([0, 0, 1, 0, 1])  # The toy's episode ends (DatasetInfo.episode_ends).


def toy_dataset() -> Transition:
    """Rows 0-2: an episode cut by a timeout (terminal 0); rows 3-4: an episode ending in a
    terminal (``TOY_DONE``). obs is the row number; rewards 1, 1, 1 | 1, 2."""
    obs = np.arange(5, dtype=np.float32)[:, None]
    next_obs = np.float32([[1], [2], [99], [4], [5]])
    return Transition(obs=jnp.asarray(obs), action=jnp.zeros((5, 1)),
                      reward=jnp.float32([1, 1, 1, 1, 2]), next_obs=jnp.asarray(next_obs),
                      terminal=jnp.float32([0, 0, 0, 0, 1]))


def test_returns_and_sweep_hand_values():
    data, done = toy_dataset(), TOY_DONE  # The timeout ends its returns too.
    # gamma 0.5: G_2 = 1, G_1 = 1 + 0.5, G_0 = 1 + 0.75; G_4 = 2, G_3 = 1 + 0.5 * 2.
    np.testing.assert_allclose(staged.monte_carlo_returns(data.reward, done, 0.5),
                               [1.75, 1.5, 1.0, 2.0, 2.0])
    # R_4 = max(2, 3) = 3; R_3 = max(1 + 1.5, 0); R_2 = max(1, 0); R_1 = max(1 + 0.5, 2) = 2;
    # R_0 = max(1 + 0.5 * 2, 0) = 2.
    value = jnp.float32([0, 2, 0, 0, 3])
    np.testing.assert_allclose(staged.backward_sweep(data.reward, done, value, 0.5),
                               [2.0, 2.0, 1.0, 2.5, 3.0])


def test_standardize_floors_the_std():
    np.testing.assert_allclose(staged.standardize(jnp.float32([1, 3]), 0.1).values, [-1, 1])
    floored = staged.standardize(jnp.float32([1, 3]), 2.0)
    np.testing.assert_allclose(floored.values, [-0.5, 0.5])
    assert float(floored.mean) == 2.0 and float(floored.scale) == 2.0


def stub_state(initial_w: float = 1.0) -> staged.AgentState:
    """Q(s, a) = a_0 (a stub critic of known output); params only matter for the reset."""
    critic = TrainState.create(apply_fn=lambda params, obs, action: action[:, 0],
                               params={"w": jnp.zeros(())}, tx=optax.adam(1e-3))
    critic = critic.replace(step=7)
    return staged.AgentState(behavior=critic, critic=critic,
                             initial_critic_params={"w": jnp.full((), initial_w)},
                             key=jax.random.key(0), step=jnp.zeros((), jnp.int32))


def test_soft_value_hand_values():
    config = dataclasses.replace(TINY, planning_temperature=1.0, presample_chunk=2)
    actions = jnp.float32([[[0], [1]], [[0], [0]], [[2], [2]]])  # [3 states, 2 samples, 1].
    values = staged.soft_values(config, stub_state(), jnp.zeros((3, 1)), actions)
    # softmax([0, 1]) . [0, 1] = e / (1 + e).
    np.testing.assert_allclose(values, [np.e / (1 + np.e), 0.0, 2.0], rtol=1e-6)


def test_refresh_targets_unstandardizes_sweeps_and_resets():
    config = dataclasses.replace(TINY, discount=0.5, planning_temperature=20.0)
    data, done = toy_dataset(), TOY_DONE
    # Equal cached actions c per state: V_std = c, so V = 2 c + 1 = [0, 2, 0, 0, 3].
    c = jnp.float32([-0.5, 0.5, -0.5, -0.5, 1.0])
    actions = jnp.repeat(c[:, None, None], 4, axis=1)
    targets = staged.Targets(values=jnp.zeros(5), mean=jnp.float32(1.0), scale=jnp.float32(2.0))
    state, new, metrics = staged.refresh_targets(config, stub_state(), targets, data, done,
                                                 actions)
    hand = np.float32([2.0, 2.0, 1.0, 2.5, 3.0])
    np.testing.assert_allclose(new.values, (hand - hand.mean()) / hand.std(), rtol=1e-5)
    np.testing.assert_allclose(new.mean, hand.mean(), rtol=1e-6)
    np.testing.assert_allclose(metrics["value/planning_v_mean"], 1.0)
    assert float(state.critic.params["w"]) == 1.0  # Restarted from the initial weights ...
    adam = state.critic.opt_state[0]
    assert int(adam.count) == 0  # ... with a fresh Adam.


def random_dataset(num: int = 10) -> Transition:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(num, 3)).astype(np.float32)
    return Transition(obs=jnp.asarray(obs), action=jnp.asarray(rng.uniform(-1, 1, (num, 2)),
                                                                jnp.float32),
                      reward=jnp.asarray(rng.normal(size=num), jnp.float32),
                      next_obs=jnp.asarray(np.roll(obs, -1, axis=0)),
                      terminal=jnp.float32(np.arange(num) == 4))


@functools.cache
def stage(fn, in_axes, single: bool, **static):
    """A stage jitted once: for one seed, or vmapped over seeds (``over_seeds``)."""
    if single:
        return jax.jit(functools.partial(fn, TINY, **static))
    return staged.over_seeds(fn, TINY, in_axes, **static)


def run_stages(states, data, single: bool):
    """behavior -> presample -> critic -> refresh -> critic, vmapped over seeds or for one seed."""
    done = jnp.float32(np.arange(10) % 5 == 4)  # random_dataset's two episodes of 5 rows.
    targets = staged.initial_targets(TINY, data, done)
    if not single:
        targets = jax.tree.map(lambda x: jnp.stack([x, x]), targets)
    states, _ = stage(staged.train_behavior, (0, None), single, num_steps=2)(states, data)
    states, actions = stage(staged.presample, (0, None), single)(states, data.obs)
    states, _ = stage(staged.train_critic, (0, 0, None), single, num_steps=2)(states, targets, data)
    states, targets, _ = stage(staged.refresh_targets, (0, 0, None, None, 0), single)(
        states, targets, data, done, actions)
    states, _ = stage(staged.train_critic, (0, 0, None), single, num_steps=2)(states, targets, data)
    return states, actions, targets


def test_presample_shapes_and_range():
    data = random_dataset()
    state, _ = training.init_agent(staged, TINY, 0, data)
    _, actions = jax.jit(functools.partial(staged.presample, TINY))(state, data.obs)
    assert actions.shape == (10, TINY.num_value_samples, 2)
    assert bool(jnp.all(jnp.isfinite(actions))) and float(jnp.abs(actions).max()) <= 1.0


def test_vmapped_seed_equals_single_seed_run():
    data = random_dataset()
    init_one = jax.jit(functools.partial(training.init_agent, staged, TINY))  # One trace.
    per_seed = [init_one(np.uint32(seed), data)[0] for seed in (0, 1)]
    vmapped = run_stages(training.stack_trees(per_seed), data, single=False)
    for index, seed in enumerate((0, 1)):  # Fresh keys: stacking consumed per_seed's.
        single = run_stages(init_one(np.uint32(seed), data)[0], data, single=True)
        pick = jax.tree.map(lambda x, i=index: x[i], (vmapped[0].critic.params, *vmapped[1:]))
        jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-5),
                     pick, (single[0].critic.params, *single[1:]))


class Crash(Exception):
    """Stands for a kill of the staged run between two stage chunks."""


def crash_after(chunks: int):
    def on_chunk(done):
        if done == chunks:
            raise Crash
    return on_chunk


def test_end_to_end_run_writes_a_record_and_resumes(tiny_invpend_dataset, tmp_path):
    config = dataclasses.replace(TINY, presample_chunk=512)
    spec = driver.make_spec(tiny_invpend_dataset, config, (0, 1), chunk=2, eval_every=2,
                            eval_episodes=1, max_episode_steps=5, checkpoint_every=1)
    # Stage chunks: 1 behavior, 2 presample, 3 and 4 critic (iteration 2 starts with a refresh).
    # Killed after the behavior stage, then after the first critic chunk; each rerun resumes.
    resumed = tmp_path / "resumed"
    for chunks in (1, 3):
        with pytest.raises(Crash):
            driver.run_staged(spec, resumed, log=lambda line: None,
                              on_chunk=crash_after(chunks))
    resumed_record = driver.run_staged(spec, resumed, log=lambda line: None)
    assert resumed_record["timing"]["resumed_at_step"] == [0, 2]
    record = driver.run_staged(spec, tmp_path, log=lambda line: None)
    for key in ("eval_steps", "normalized_scores", "returns", "train_metrics", "scores_digest"):
        assert resumed_record[key] == record[key], key
    assert record["status"] == "complete" and record["algorithm"] == "sfbc_staged"
    assert record["steps"] == 4 and record["eval_steps"] == [2, 4]
    assert set(record["timing"]["stages_s"]) == {"behavior", "presample", "critic", "refresh"}
    assert results.read_record(experiment.record_path(tmp_path, spec)) == record
    assert len(record["normalized_scores"][-1]) == 2
    # SfBC's done flags are the loader's episode ends.
    _, info = data.load_dataset(tiny_invpend_dataset, algorithm="sfbc")
    done = driver.done_flags_of(info)
    assert int(done.sum()) == info.num_episodes and float(done[-1]) == 1.0
    with pytest.raises(ValueError, match="has no episode_ends"):
        driver.done_flags_of(dataclasses.replace(info, episode_ends=None))


def test_make_spec_refuses_a_chunk_that_does_not_divide_the_stages():
    with pytest.raises(ValueError, match="not a multiple of --chunk=3"):
        driver.make_spec("x", TINY, (0,), chunk=3, eval_every=0, eval_episodes=1)
    with pytest.raises(ValueError, match="critic_steps must be >= 1"):
        staged.Config(critic_steps=0)
