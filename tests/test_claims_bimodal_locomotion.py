"""The bimodal claim's hopper part (``benchmarks/claims/bimodal_locomotion.py``): the segment
position, W1 and band statistics on hand values, the per-step mixture's known answer (every
action is one of the two policies' samples), the verdict and table, and a tiny end to end run."""

import json

import numpy as np
import pytest

from benchmarks import claims
from benchmarks.claims import __main__ as claims_main
from benchmarks.claims import bimodal_locomotion as bl


def test_segment_position_hand_values():
    medium = np.float64([[0.0, 0.0, 0.0], [1.0, -1.0, 0.0]])
    expert = np.float64([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    actions = np.float64([[[0.0, 0.5, 0.0], [0.5, 0.0, 0.0], [1.0, 3.0, 0.0]],
                          [[1.0, -1.0, 0.0], [0.0, 0.0, 0.5], [1.0, 1.0, 0.0]]])
    # State 0: t = a_x; state 1: t = (a_y + 1) / 2 (segment of length 2 along y).
    np.testing.assert_allclose(bl.segment_position(actions, medium, expert),
                               [[0.0, 0.5, 1.0], [0.0, 0.5, 1.0]])


def test_wasserstein_and_position_stats_hand_values():
    assert bl.wasserstein_1d(np.float64([0, 1, 2]), np.float64([2, 0, 1])) == 0.0
    assert bl.wasserstein_1d(np.float64([0, 0]), np.float64([1, 3])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="different sizes"):
        bl.wasserstein_1d(np.zeros(2), np.zeros(3))
    t = np.float64([0.0, 0.1, 0.5, 0.7, 1.2, 2.0])
    stats = bl.position_stats(t, np.float64([0.0, 1.0]))  # The reference is tiled to t's size.
    assert stats["middle"] == pytest.approx(2 / 6)  # 0.5 and 0.7 (|t - 0.5| < 0.25).
    assert stats["at_mode"] == pytest.approx(3 / 6)  # 0.0, 0.1 and 1.2.
    # Sorted t against sorted [0, 0, 0, 1, 1, 1]: gaps 0, .1, .5, .3, .2, 1.
    assert stats["w1"] == pytest.approx(2.1 / 6)


@pytest.fixture(scope="module")
def policies():
    return bl.load_policies()[0]


def test_mixture_policy_picks_one_policy_per_row(policies):
    obs = np.random.default_rng(0).normal(size=(64, policies[0].obs_dim)).astype(np.float32)
    rngs = [np.random.default_rng([3, i]) for i in range(64)]
    actions = bl.mixture_policy(policies)(obs, rngs)
    replay = [np.random.default_rng([3, i]) for i in range(64)]
    first = np.array([rng.random() < 0.5 for rng in replay])
    noise = np.stack([rng.standard_normal(3) for rng in replay]).astype(np.float32)
    expected = np.where(first[:, None], policies[0](obs, noise=noise),
                        policies[1](obs, noise=noise))
    np.testing.assert_array_equal(actions, expected)
    assert 10 < first.sum() < 54  # Both policies act.


def test_behavior_samples_are_draws_of_either_policy(policies):
    obs = np.random.default_rng(1).normal(size=(5, policies[0].obs_dim)).astype(np.float32)
    draws = bl.behavior_samples(policies, obs, count=200, seed=0)
    assert draws.shape == (5, 200, 3) and np.all(np.abs(draws) <= 1.0)
    t = bl.segment_position(draws.astype(np.float64), bl.mode_actions(policies[0], obs),
                            bl.mode_actions(policies[1], obs))
    # Draws scatter around both modes (t near 0 and near 1), roughly half each.
    near_expert = np.mean(t > 0.5)
    assert 0.3 < near_expert < 0.7


def fake_record(gaussian_w1=(0.3, 0.3), diffusion_w1=(0.1, 0.2), mean_middle=0.6):
    def cell(w1s, middle=0.2):
        return {"per_seed": [{"w1": w, "middle": middle, "at_mode": 0.5} for w in w1s],
                "middle_mean": middle, "middle_std": 0.0, "at_mode_mean": 0.5,
                "at_mode_std": 0.0, "w1_mean": float(np.mean(w1s)), "w1_std": 0.0}
    return {"models": {"gaussian": cell(gaussian_w1), "gaussian_mean": cell(gaussian_w1,
                                                                            mean_middle),
                       "idql": cell(diffusion_w1), "sfbc": cell(diffusion_w1)},
            "behavior": {"middle": 0.07, "at_mode": 0.9}, "updates": 100, "batch_size": 256,
            "data": {"transitions": 1000, "episodes": 3}, "num_eval_states": 16,
            "min_separation": 1.0, "qualified_fraction": 0.25, "band": 0.25,
            "samples_per_state": 8, "seeds": [0, 1]}


def test_verdict_table_and_reduced_budget():
    record = fake_record()
    record["verdict"] = bl.verdict(record)
    assert record["verdict"].startswith("Reproduced")
    table = bl.table_markdown(record)
    assert "| IDQL diffusion (EMA) | 0.20 ± 0.00 | 0.50 ± 0.00 | 0.150 ± 0.000 |" in table
    assert "a reduced run" in table and bl.is_reduced(record)
    assert claims.REDUCED["bimodal_locomotion"](record)
    assert not bl.is_reduced({**record, "updates": 1_000_000, "batch_size": 1024})
    one_seed_worse = bl.verdict(fake_record(diffusion_w1=(0.1, 0.4)))
    assert one_seed_worse.startswith("Not reproduced") and "idql" in one_seed_worse
    no_average = bl.verdict(fake_record(mean_middle=0.1))
    assert "mean action is in the middle only 10%" in no_average


def test_claim_tiny_end_to_end(tmp_path, monkeypatch):
    # Small networks, few held-out steps and states: the pipeline, record, table and plot.
    monkeypatch.setattr(bl, "NUM_HELDOUT_TRANSITIONS", 2000)
    monkeypatch.setattr(bl, "NUM_EVAL_STATES", 16)
    small = bl.model_config

    def tiny_config(name, updates, batch_size):
        import dataclasses
        config = small(name, updates, batch_size)
        if name == "idql":
            return dataclasses.replace(config, denoiser_hidden_dims=(8,), time_features=4,
                                       time_hidden_dims=(8,))
        if name == "sfbc":
            return dataclasses.replace(config, score_unet_hidden_dims=(16, 8))
        return {**config, "hidden_dims": (8,)}

    monkeypatch.setattr(bl, "model_config", tiny_config)
    bl.trainer.cache_clear()
    argv = ["--part=locomotion", "--seeds=0,1", "--updates=3", "--batch_size=16",
            "--num_transitions=500", f"--out={tmp_path}"]
    try:
        assert claims_main.main(["--claim=bimodal", *argv]) == 0
    finally:
        bl.trainer.cache_clear()
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["claim"] == "bimodal_locomotion" and record["seeds"] == [0, 1]
    assert record["data"]["transitions"] == 500
    assert set(record["models"]) == {"gaussian", "gaussian_mean", "idql", "sfbc"}
    assert all(np.isfinite(cell["w1_mean"]) for cell in record["models"].values())
    assert record["verdict"] in (tmp_path / "table.md").read_text()
    assert (tmp_path / "samples.png").exists()


def test_gaussian_nll_hand_value():
    # tanh(N(0, I)) in 2-D at a = 0: log N(0; 0, 1) per dim and a zero tanh Jacobian term, so
    # -log pi = 2 * 0.5 * log(2 pi) = log(2 pi).
    import distrax
    import jax.numpy as jnp

    from jaxrl_offline.types import Transition

    def apply_fn(params, obs):
        shape = (obs.shape[0], 2)
        base = distrax.MultivariateNormalDiag(jnp.zeros(shape), jnp.ones(shape))
        return distrax.Transformed(base, distrax.Block(distrax.Tanh(), ndims=1))

    batch = Transition(obs=jnp.zeros((4, 3)), action=jnp.zeros((4, 2)), reward=jnp.zeros(4),
                       next_obs=jnp.zeros((4, 3)), terminal=jnp.zeros(4))
    loss, metrics = bl.gaussian_nll({}, apply_fn, batch)
    assert float(loss) == pytest.approx(np.log(2 * np.pi), rel=1e-5)
    assert float(metrics["loss"]) == float(loss)
