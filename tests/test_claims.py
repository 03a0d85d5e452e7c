"""The claim benchmarks' building blocks (``benchmarks/claims``): the bimodal bandit and its known
answer, the action statistics and verdict, and the offline -> online drop / recovery metric on
hand-computed curves. No training here (``python -m benchmarks.claims`` does that)."""

import numpy as np
import pytest

from benchmarks.claims import __main__ as claims_main
from benchmarks.claims import bimodal, metrics


def test_bimodal_reward_known_answer():
    action = np.float32([[0.7], [-0.7], [0.0], [1.0], [0.35]])
    # 1 - min((a - 0.7)^2, (a + 0.7)^2) / 0.49: the modes 1, the middle 0, 1 - 0.09 / 0.49 at the
    # bound, 1 - 0.1225 / 0.49 = 0.75 halfway.
    np.testing.assert_allclose(bimodal.bimodal_reward(action),
                               [1.0, 1.0, 0.0, 1 - 0.09 / 0.49, 0.75], rtol=1e-6, atol=1e-6)


def test_bimodal_task_has_two_good_modes_and_a_bad_middle():
    data = bimodal.bimodal_task(1000, seed=0)
    assert data.obs.shape == (1000, bimodal.OBS_DIM) and data.action.shape == (1000, 1)
    assert np.all(data.terminal == 1.0) and np.all(np.abs(data.action) <= 1.0)
    np.testing.assert_allclose(data.reward, bimodal.bimodal_reward(data.action))
    near = np.abs(np.abs(data.action[:, 0]) - bimodal.MODE) < bimodal.NEAR
    assert 0.78 <= near.mean() <= 0.87  # 750 mode actions (noise 0.05), ~0.3 x 250 uniform ones.
    assert near[:750].all() and abs(data.action[:750].mean()) < 0.1  # Both modes, mean ~ 0.
    middle = np.abs(data.action[:, 0]) < 0.1
    assert data.reward[near].min() > 0.95 and data.reward[middle].max() < 0.3
    np.testing.assert_array_equal(data.action, bimodal.bimodal_task(1000, seed=0).action)
    with pytest.raises(ValueError, match="middle_fraction"):
        bimodal.bimodal_task(10, seed=0, middle_fraction=1.0)


def test_action_stats_and_verdict_hand_values():
    stats = bimodal.action_stats(np.float32([0.7, -0.6, 0.1, 0.9]))
    # At a mode (within 0.15 of +-0.7): 0.7, -0.6; in the middle (|a| < 0.35): 0.1; beyond
    # (|a| >= 0.85): 0.9.
    assert stats["at_mode"] == 0.5 and stats["middle"] == 0.25 and stats["beyond"] == 0.25
    rewards = [1.0, 1 - 0.01 / 0.49, 1 - 0.36 / 0.49, 1 - 0.04 / 0.49]
    np.testing.assert_allclose(stats["reward"], np.mean(rewards), rtol=1e-6)
    cell = lambda at_mode, middle: {"at_mode_mean": at_mode, "middle_mean": middle}  # noqa: E731
    assert bimodal.verdict({"iql": cell(0.0, 1.0), "idql": cell(0.9, 0.0),
                            "sfbc": cell(0.8, 0.0)}).startswith("Reproduced")
    partly = bimodal.verdict({"iql": cell(0.0, 1.0), "idql": cell(0.9, 0.0),
                              "sfbc": cell(0.5, 0.0)})
    assert "at a mode (>= 80% of actions): idql; sfbc has 50% of its actions at a mode" in partly


def test_claims_cli_rejects_unknown_claim(capsys):
    assert claims_main.main(["--claim=nope"]) == 2
    assert "known claims: bimodal" in capsys.readouterr().err


STEPS = [0, 10, 20, 30, 40, 100, 200]


def test_drop_and_recovery_hand_values():
    # Offline 60. Early window: 0 < t <= 0.1 * 200 = 20 -> steps 10, 20 (scores 50, 40): the
    # lowest is 40 at step 20, a drop of 20; back to >= 60 first at step 40. Regret: widths
    # [10, 10, 10, 10, 60, 100] / 200 times 1 - score / 100 = [.5, .6, .45, .3, .2, .1]:
    # (5 + 6 + 4.5 + 3 + 12 + 10) / 200 = 0.2025.
    out = metrics.drop_and_recovery(60.0, STEPS, [60, 50, 40, 55, 70, 80, 90])
    assert out["initial_drop"] == 20.0 and out["min_step"] == 20 and out["recovery_step"] == 40
    np.testing.assert_allclose(out["cumulative_regret"], 0.2025)
    # Never back to 60: no recovery.
    never = metrics.drop_and_recovery(60.0, STEPS, [60, 50, 40, 55, 58, 59, 59])
    assert never["recovery_step"] is None
    # No evaluation in (0, 10]: the first after step 0 (70 at step 50) stands for the window;
    # no drop (-10), "recovered" at once.
    out = metrics.drop_and_recovery(60.0, [0, 50, 100], [60, 70, 80])
    assert out["initial_drop"] == -10.0 and out["min_step"] == 50 and out["recovery_step"] == 50


def test_drop_and_recovery_rejects_bad_curves():
    with pytest.raises(ValueError, match="one score each"):
        metrics.drop_and_recovery(1.0, [0, 1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="increasing"):
        metrics.drop_and_recovery(1.0, [0, 2, 1], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="early_fraction"):
        metrics.drop_and_recovery(1.0, [0, 1], [1.0, 2.0], early_fraction=0.0)
