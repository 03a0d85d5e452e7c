"""The claim benchmarks' building blocks (``benchmarks/claims``): the bimodal bandit and its known
answer, the action statistics and verdict, and the offline -> online drop / recovery metric on
hand-computed curves. No training here (``python -m benchmarks.claims`` does that)."""

import dataclasses
import json
import types

import numpy as np
import pytest

from benchmarks.claims import __main__ as claims_main
from benchmarks.claims import bimodal, metrics, mixed


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
    assert "known claims: aca, bimodal, misa_cql, mixed" in capsys.readouterr().err


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


# --- TD3-RKL claim (benchmarks/claims/mixed.py) --------------------------------------------------


def test_mixed_task_known_answer():
    obs = np.float32([[-1.0], [0.0], [1.0]])
    # a*(s) = 0.5 + 0.3 s: 0.2, 0.5, 0.8; p(s) = clip(0.5 - s, 0, 1): 1, 0.5, 0.
    np.testing.assert_allclose(mixed.optimal_action(obs), [0.2, 0.5, 0.8], rtol=1e-6)
    np.testing.assert_allclose(mixed.expert_fraction(obs), [1.0, 0.5, 0.0])
    # r = 1 - (a - a*)^2: at a* 1; at a = 0 with a* = 0.8: 1 - 0.64.
    np.testing.assert_allclose(mixed.mixed_reward(obs, np.float32([[0.2], [0.5], [0.0]])),
                               [1.0, 1.0, 0.36], rtol=1e-6)
    # Behavior std: s = -1 expert only, 0.05; s = 1 uniform only, sqrt(1/3); s = 0:
    # E[a^2] = 0.5 (0.25 + 0.0025) + 0.5 / 3 = 0.29292, mean 0.25: var 0.23042.
    np.testing.assert_allclose(mixed.behavior_std(obs),
                               [0.05, np.sqrt(0.2929167 - 0.0625), np.sqrt(1 / 3)], rtol=1e-5)
    data = mixed.mixed_task(4000, seed=0)
    assert data.obs.shape == (4000, 1) and data.action.shape == (4000, 1)
    assert np.all(data.terminal == 1.0) and np.all(np.abs(data.action) <= 1.0)
    np.testing.assert_allclose(data.reward, mixed.mixed_reward(data.obs, data.action))
    near = np.abs(data.action[:, 0] - mixed.optimal_action(data.obs)) < 0.25
    s = data.obs[:, 0]
    assert near[s < -0.5].all()  # Expert only: every action at a*(s) (0.25 = 5 x noise).
    assert near[s > 0.5].mean() < 0.35  # Random only: ~0.25 of the uniform actions land there.
    np.testing.assert_allclose(np.std(data.action[s > 0.5]), np.sqrt(1 / 3), atol=0.03)
    np.testing.assert_array_equal(data.action, mixed.mixed_task(4000, seed=0).action)


def test_mixed_policy_and_weight_stats_hand_values():
    obs = np.float32([[-0.75], [0.0], [0.75]])  # One state per region.
    action = np.float32([0.275, 0.3, 0.0])  # a* = 0.275, 0.5, 0.725.
    out = mixed.policy_stats(obs, action)
    # Regrets (a - a*)^2: 0, 0.04, 0.525625; at a*: only the first (within 0.1).
    np.testing.assert_allclose([out["regret_expert_only"], out["regret_mixed"],
                                out["regret_random_only"]], [0.0, 0.04, 0.525625], atol=1e-6)
    np.testing.assert_allclose(out["regret"], (0.04 + 0.525625) / 3, rtol=1e-5)
    assert out["at_expert"] == 1 / 3
    # True std rises with s (0.05, 0.48, 0.577): weights falling with it give Spearman -1.
    weights = mixed.weight_stats(obs, np.float32([3.0, 1.0, 0.5]), np.float32([0.1, 0.4, 0.6]))
    assert weights["spearman_weight_true_std"] == -1.0
    assert weights["spearman_weight_model_std"] == -1.0
    assert weights["spearman_model_true_std"] == 1.0 and weights["weight_expert_only"] == 3.0
    cell = lambda regrets, rho: {"per_seed": [{"regret": r} for r in regrets],  # noqa: E731
                                 "regret_mean": float(np.mean(regrets)),
                                 "spearman_weight_true_std_mean": rho}
    assert mixed.verdict({"td3_rkl": cell([0.1, 0.2], -0.9),
                          "td3_bc": cell([0.2, 0.3], 0.0)}).startswith("Reproduced")
    assert mixed.verdict({"td3_rkl": cell([0.1, 0.4], -0.9),
                          "td3_bc": cell([0.2, 0.3], 0.0)}).startswith("Not reproduced: TD3-RKL"
                                                                        "'s regret is below "
                                                                        "TD3+BC's on 1 of 2")
    # Ablation w = 1 at regrets 0.15, 0.25 (mean 0.2): above TD3-RKL on both seeds, and the weight
    # carries (0.2 - 0.15) / (0.25 - 0.15) = 50% of the gain over TD3+BC.
    ablated = mixed.verdict({"td3_rkl": cell([0.1, 0.2], -0.9), "td3_bc": cell([0.2, 0.3], 0.0),
                             "td3_rkl_w1": cell([0.15, 0.25], 0.0)})
    assert "regret is 0.2000, above the weighted one on 2 of 2 seeds: the weight carries 50%" \
        in ablated
    assert mixed.verdict({"td3_rkl": cell([0.1], 0.2),
                          "td3_bc": cell([0.2], 0.0)}).startswith("Not reproduced")


def test_mixed_claim_pipeline_tiny(tmp_path, monkeypatch):
    # Tiny end to end: 2 seeds vmapped, 8 updates, (8,) networks; record, table and plot, then
    # --render regenerates the same table from the record. The w = 1 ablation runs the same
    # program as td3_rkl with another config; it is left out to save its compilation.
    monkeypatch.setattr(mixed, "ALGOS", {k: mixed.ALGOS[k] for k in ("td3_bc", "td3_rkl")})
    argv = ["--seeds=0,1", "--updates=8", "--hidden=8", "--num_transitions=64",
            f"--out={tmp_path}"]
    assert claims_main.main(["--claim=mixed", *argv]) == 0
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["claim"] == "mixed" and record["seeds"] == [0, 1]
    curves = record["curves"]
    assert len(curves["td3_rkl"]["weight"]) == 2 and len(curves["obs"]) == mixed.NUM_GRID
    assert np.all(np.isfinite(curves["td3_bc"]["action"]))
    table = (tmp_path / "table.md").read_text()
    assert "| td3_rkl |" in table and record["verdict"] in table
    (tmp_path / "table.md").unlink()
    assert mixed.main(["--render", f"--out={tmp_path}"]) == 0
    assert (tmp_path / "table.md").read_text() == table and (tmp_path / "policies.png").exists()


def test_mixed_locomotion_verdict_table_and_plot(tmp_path):
    from benchmarks.claims import mixed_locomotion

    def score(mean, low, high):
        return {"mean": mean, "std": 1.0, "ci_low": low, "ci_high": high, "per_seed": [mean]}

    def cell(rkl, weights):
        return {"td3_bc": score(50.0, 45.0, 55.0), "td3_rkl": rkl,
                "weight_by_part": {"jaxrl_offline/hopper/random-v0": [weights[0]],
                                   "jaxrl_offline/hopper/expert-v0": [weights[1]]}}

    # Disjoint CIs (60 > 55) and the expert part weighted most: reproduced.
    good = {"A+B": cell(score(70.0, 60.0, 80.0), (0.5, 1.5))}
    assert mixed_locomotion.verdict(good).startswith("Reproduced: TD3-RKL's mean score is above "
                                                     "TD3+BC's on 1 of 1 datasets (1 with")
    # Above on average, but the CIs overlap (52 < 55): not reproduced; nor with the random part
    # weighted most.
    assert mixed_locomotion.verdict({"A+B": cell(score(60.0, 52.0, 68.0), (0.5, 1.5))}
                                    ).startswith("Not reproduced")
    assert "highest on the expert part on 0" in mixed_locomotion.verdict(
        {"A+B": cell(score(70.0, 60.0, 80.0), (1.5, 0.5))})
    record = {"steps": 200, "eval_episodes": 1, "seeds": [0], "hidden": [32, 32],
              "datasets": good, "verdict": mixed_locomotion.verdict(good)}
    table = mixed_locomotion.table_markdown(record)
    # No ablation run in this record: its column reads "-".
    assert "| A+B | 50.0 ± 1.0 | 70.0 ± 1.0 | - | random-v0 0.50; expert-v0 1.50 |" in table
    # 200 updates, 1 seed, 32 x 32, 1 of the 2 mixtures: reduced, and every short item named.
    assert mixed_locomotion.is_reduced(record)
    assert ("Budget: **reduced** to fit the CPU: updates 200 (official 1,000,000, 0.0% of it); "
            "seeds 1 (official 5, 20.0% of it); networks (32, 32) (official (256, 256)); "
            "datasets 1 (official 2, 50.0% of it).") in table
    full = {**record, "steps": 1_000_000, "seeds": [0, 1, 2, 3, 4], "hidden": [256, 256],
            "datasets": {"A+B": good["A+B"], "C+D": good["A+B"]}}
    assert not mixed_locomotion.is_reduced(full)
    from benchmarks import claims

    assert claims.REDUCED["mixed_locomotion"](record)
    mixed_locomotion.plot(record, tmp_path / "scores.png")
    assert (tmp_path / "scores.png").stat().st_size > 0
    # With the w = 1 ablation: its score in the table and the verdict (which it does not decide).
    ablated = {"jaxrl_offline/hopper/random-v0+jaxrl_offline/hopper/expert-v0":
               {**good["A+B"], "td3_rkl_w1": score(40.0, 30.0, 50.0)}}
    text = mixed_locomotion.verdict(ablated)
    assert text.startswith("Reproduced") and text.endswith(
        "Without the per-state weight (w = 1) TD3-RKL scores 40.0 on random-v0+expert-v0 "
        "(weighted 70.0). That is inside the weighted run's 95% CI on 0 of 1.")
    # An ablation inside TD3-RKL's CI (60-80) on every dataset: the weight explains nothing.
    flat = {d: {**c, "td3_rkl_w1": score(65.0, 55.0, 75.0)} for d, c in ablated.items()}
    assert mixed_locomotion.verdict(flat).endswith(
        "inside the weighted run's 95% CI on 1 of 1: at this budget the weight does not explain "
        "TD3-RKL's difference to TD3+BC.")
    with_ablation = {**record, "datasets": ablated, "verdict": text}
    assert "| 50.0 ± 1.0 | 70.0 ± 1.0 | 40.0 ± 1.0 |" in mixed_locomotion.table_markdown(
        with_ablation)
    mixed_locomotion.plot(with_ablation, tmp_path / "scores.png")


def test_mixed_locomotion_episode_steps_and_step_table():
    from benchmarks.claims import mixed_locomotion

    # Episodes of 3, 1 and 2 rows: steps restart after every end.
    ends = np.array([False, False, True, True, False, True])
    assert mixed_locomotion.episode_steps(ends).tolist() == [0, 1, 2, 0, 0, 1]
    assert mixed_locomotion.episode_steps(np.array([False, False])).tolist() == [0, 1]
    # Per seed (rows of values), the mean over each group's rows, groups in concatenation order.
    values = np.array([[1.0, 3.0, 10.0], [2.0, 4.0, 20.0]])
    assert mixed_locomotion._group_means(values, [[7, 8], [9]]) == [[2.0, 3.0], [10.0, 20.0]]
    cell = {"weight_by_part": {}, "by_episode_step": {"jaxrl_offline/hopper/expert-v0": {
        "0-9": {"weight": [0.6, 0.7], "action_gap": [0.4, 0.5], "rows": 10},
        "200+": {"weight": [1.8, 1.9], "action_gap": [0.1, 0.2], "action_gap_w1": [0.3, 0.3],
                 "rows": 10}}}}
    lines = mixed_locomotion.episode_step_table({"datasets": {"A+B": cell}})
    # The ablation's gap where the record has it, "-" where it does not.
    assert "| A+B | expert-v0 | 0-9 | 0.65 | 0.450 | - |" in lines
    assert "| A+B | expert-v0 | 200+ | 1.85 | 0.150 | 0.300 |" in lines
    # A record made before the diagnostic has no step table.
    assert mixed_locomotion.episode_step_table({"datasets": {"A+B": {"weight_by_part": {}}}}) == []


# --- MISA claim (benchmarks/claims/misa_cql.py) --------------------------------------------------


def misa_episodes():
    """Three tiny episodes: rows 0-2 terminate, rows 3-4 time out, row 5 is cut by the data's
    end."""
    obs = np.float32([[0], [1], [2], [10], [11], [20]])
    next_obs = np.float32([[1], [2], [3], [11], [12], [21]])
    terminal = np.float32([0, 0, 1, 0, 0, 0])
    reward = np.float32([1, 2, 3, 4, 8, 2])
    return obs, next_obs, terminal, reward


def test_misa_returns_to_go_hand_values():
    from benchmarks.claims import misa_cql

    obs, next_obs, terminal, reward = misa_episodes()
    # The loader's episode ends: row 2 terminal; row 4 a truncation (time out); row 5 last.
    ends = np.bool_([0, 0, 1, 0, 1, 1])
    mc_return, tail = misa_cql.returns_to_go(reward, terminal, ends, discount=0.5)
    # Terminal episode: G2 = 3, G1 = 2 + 0.5 * 3 = 3.5, G0 = 1 + 0.5 * 3.5 = 2.75, nothing missing.
    # Timeout: G4 = 8, G3 = 4 + 0.5 * 8 = 8, missing 0.5 V(s5') and 0.25 V(s5'); the cut row: 2.
    np.testing.assert_allclose(mc_return, [2.75, 3.5, 3.0, 8.0, 8.0, 2.0])
    np.testing.assert_allclose(tail, [0.0, 0.0, 0.0, 0.25, 0.5, 0.5])
    with pytest.raises(ValueError, match="terminal row must also be an episode end"):
        misa_cql.returns_to_go(reward, terminal, np.bool_([0, 0, 0, 0, 1, 1]), 0.5)
    with pytest.raises(ValueError, match="one length"):
        misa_cql.returns_to_go(reward[:3], terminal, ends, 0.5)
    # gamma 0.5: a tail of 0.25 or 0.5 is above 0.01, so only the terminating episode is used.
    data = types.SimpleNamespace(obs=obs, next_obs=next_obs, terminal=terminal, reward=reward)
    rows, at_rows = misa_cql.q_rows(data, ends, 0.5)
    np.testing.assert_array_equal(rows, [0, 1, 2])
    np.testing.assert_allclose(at_rows, [2.75, 3.5, 3.0])
    out = misa_cql.overestimation(np.float32([2.0, 4.0]), np.float32([1.0, 2.0]))
    assert out == {"q": 3.0, "mc": 1.5, "ratio": 2.0, "gap": 1.5}
    with pytest.raises(ValueError, match="equal non-empty"):
        misa_cql.overestimation(np.float32([1.0]), np.float32([1.0, 2.0]))


def misa_record():
    from benchmarks.claims import misa_cql

    def stat(values):
        return {"mean": float(np.mean(values)), "std": float(np.std(values)),
                "ci_low": min(values), "ci_high": max(values), "per_seed": list(values)}

    def cell(scores, ratios):
        return {"score": stat(scores), "q_data": stat([200.0, 220.0]),
                "q_policy": stat([250.0, 260.0]), "mc_return": 240.0,
                "ratio_data": stat(ratios), "ratio_policy": stat([r + 0.1 for r in ratios]),
                "curve": {"steps": [100, 200], "mean": [1.0, np.mean(scores)],
                          "low": [0.5, min(scores)], "high": [1.5, max(scores)]}}

    datasets = {"jaxrl_offline/hopper/medium-v0": {"misa": cell([60.0, 70.0], [0.9, 1.0]),
                                                   "cql": cell([40.0, 50.0], [1.2, 1.3])}}
    return {"steps": 200, "eval_episodes": 1, "seeds": [0, 1], "hidden": [32, 32],
            "discount": 0.99, "num_q_states_max": 10, "tail_tolerance": 0.01,
            "datasets": datasets, "verdict": misa_cql.verdict(datasets)}


def test_misa_verdict_table_and_plot(tmp_path):
    from benchmarks.claims import misa_cql

    record = misa_record()
    assert record["verdict"] == (
        "Reproduced: MISA's mean last score is above CQL's on 1 of 1 datasets (1 with disjoint "
        "95% CIs). Its Q / MC-return ratio: hopper/medium-v0, data actions: MISA 0.95 vs CQL "
        "1.25, lower (per-seed values apart); hopper/medium-v0, policy actions: MISA 1.05 vs CQL "
        "1.35, lower (per-seed values apart).")
    cell = record["datasets"]["jaxrl_offline/hopper/medium-v0"]
    cell["cql"]["score"]["ci_high"] = 65.0  # Overlapping CIs: not reproduced.
    assert misa_cql.verdict(record["datasets"]).startswith("Not reproduced: MISA's mean last "
                                                           "score is above CQL's on 1 of 1 "
                                                           "datasets (0 with")
    table = misa_cql.table_markdown(record)
    assert ("| jaxrl_offline/hopper/medium-v0 | misa | 65.0 ± 5.0 | [60.0, 70.0] | 210.0 ± 10.0 | "
            "255.0 ± 5.0 | 240.0 | 0.95 ± 0.05 | 1.05 ± 0.05 |") in table
    assert record["verdict"] in table
    assert ("Budget: **reduced** to fit the CPU: updates 200 (official 1,200,000, 0.0% of it); "
            "networks (32, 32) (official (256, 256)).") in table
    full = {**record, "steps": 1_200_000, "hidden": [256, 256]}
    assert "Budget: the official protocol (updates 1,200,000, networks (256, 256))." \
        in misa_cql.table_markdown(full)
    misa_cql.plot(record, tmp_path / "scores_q.png")
    assert (tmp_path / "scores_q.png").stat().st_size > 0


def test_misa_claim_pipeline_tiny(tmp_path, monkeypatch):
    # Tiny end to end through the runner: 2 seeds, 20 updates, (16,) networks, batch 16, few
    # sampled actions and HMC draws; record, table, plot and finite Q statistics.
    from benchmarks.claims import misa_cql

    small = dict(batch_size=16, num_actions=4, mcmc_num_samples=2, mcmc_burnin_steps=1)
    configs = misa_cql.configs
    monkeypatch.setattr(misa_cql, "configs", lambda hidden: {
        k: dataclasses.replace(c, **small) for k, c in configs(hidden).items()})
    monkeypatch.setattr(misa_cql, "NUM_Q_STATES", 64)
    argv = ["--steps=20", "--num_seeds=2", "--hidden=16", "--eval_every=0", "--eval_episodes=1",
            "--datasets=jaxrl_offline/hopper/medium-50k-v0", f"--workdir={tmp_path / 'runs'}",
            f"--out={tmp_path / 'out'}"]
    assert claims_main.main(["--claim=misa_cql", *argv]) == 0
    record = json.loads((tmp_path / "out" / "record.json").read_text())
    cell = record["datasets"]["jaxrl_offline/hopper/medium-50k-v0"]
    assert record["claim"] == "misa_cql" and record["seeds"] == [0, 1]
    for name in ("misa", "cql"):
        assert len(cell[name]["q_policy"]["per_seed"]) == 2 and cell[name]["num_q_states"] == 64
        assert np.all(np.isfinite(cell[name]["ratio_data"]["per_seed"]))
    assert cell["misa"]["mc_return"] == cell["cql"]["mc_return"] > 0
    assert set(record["runs"]) == {"misa__jaxrl_offline_hopper_medium-50k-v0",
                                   "misa-cql__jaxrl_offline_hopper_medium-50k-v0"}
    assert record["verdict"] in (tmp_path / "out" / "table.md").read_text()
    assert (tmp_path / "out" / "scores_q.png").exists()

# --- ACA claim (benchmarks/claims/aca.py) --------------------------------------------------------


def _fake_aca_record():
    """Two seeds, evaluations at 0, 10, ..., 100 (early window (0, 10]); behavior level 50."""
    from benchmarks.claims import aca

    steps = list(range(0, 101, 10))
    curves = {  # [T, S] normalized scores.
        "aca": [[60, 62], [58, 61], *[[65, 66]] * 9],  # drop 2, 1; back at step 20.
        "sac_ml": [[60, 62], [30, 40], *[[50, 55]] * 4, *[[70, 70]] * 5],  # drop 30, 22; at 60.
        "iql": [[55, 45], [50, 40], *[[50, 40]] * 3, *[[60, 50]] * 6],  # back at 50; seed 1
        # (offline 45) is below the behavior level 50.
        "td3_bc": [[55, 57], [20, 25], *[[40, 45]] * 9],  # never back.
    }
    record = {"dataset": "d", "seeds": [0, 1], "steps": 100, "online_steps": 100,
              "online_eval_every": 10, "eval_episodes": 1, "hidden": [8], "behavior_level": 50.0,
              "curves": {n: {"env_steps": steps, "normalized_scores": c}
                         for n, c in curves.items()},
              "plot": "curves.png"}
    record["algorithms"] = {
        n: aca.summarize_algorithm(aca.curve_metrics(c), 50.0) for n, c in record["curves"].items()}
    return record


def test_aca_claim_metrics_verdict_and_render(tmp_path):
    from benchmarks.claims import aca

    record = _fake_aca_record()
    cells = record["algorithms"]
    # ACA: drops 60 - 58 = 2 and 62 - 61 = 1 at step 10, back at step 20 on both seeds.
    assert cells["aca"]["initial_drop"] == {"mean": 1.5, "std": 0.5}
    assert cells["aca"]["recovery_step"] == {"mean": 20.0, "std": 0.0, "recovered": 2, "seeds": 2}
    assert cells["sac_ml"]["recovery_step"]["mean"] == 60.0
    assert cells["td3_bc"]["recovery_step"]["recovered"] == 0
    assert cells["iql"]["below_behavior_seeds"] == [1]
    assert cells["aca"]["below_behavior_seeds"] == []
    # Regret of ACA seed 0: widths 10 / 100 times 1 - score / 100 after each evaluation:
    # 0.1 x (0.42 + 9 x 0.35) = 0.357.
    np.testing.assert_allclose(cells["aca"]["per_seed"][0]["cumulative_regret"],
                               0.1 * (1 - 0.58) + 0.9 * (1 - 0.65))
    # ACA wins on both counts, but IQL's offline agent is below the behavior level.
    assert aca.verdict(cells).startswith("Inconclusive: the ordering holds, but the offline "
                                         "agents of iql")
    clean = {n: {**c, "below_behavior_seeds": []} for n, c in cells.items()}
    assert aca.verdict(clean).startswith("Reproduced: ACA's drop is smaller than 3 of 3")
    worse = {**clean, "aca": clean["sac_ml"], "sac_ml": clean["aca"]}
    # Swapped: drop 26 (below td3_bc's 33.5 only), recovery at 60 (after iql's 50).
    assert "smaller than 1 of 3 baselines' (td3_bc) and its recovery faster than 1 (td3_bc)" \
        in aca.verdict(worse)
    assert aca.verdict(worse).startswith("Not reproduced")
    record["verdict"] = aca.verdict(cells)
    record["behavior_warnings"] = aca.behavior_warnings(record)
    table = aca.table_markdown(record)
    assert "| aca | 61.0 ± 1.0 | 1.5 ± 0.5 | 20 ± 0 (2/2) |" in table
    assert "| td3_bc |" in table and "never (0/2)" in table
    assert aca.budget_line(record) in table and "Budget: **reduced**" in table
    assert "**Warning: iql's offline agent is below the behavior level (50.0) on seed(s) 1" \
        in table
    assert aca.behavior_warnings({**record, "behavior_level": None})[0].startswith(
        "Warning: the behavior level of d is unknown")
    aca.write_outputs(record, tmp_path)
    (tmp_path / "table.md").unlink()
    assert aca.main(["--render", f"--out={tmp_path}"]) == 0
    assert (tmp_path / "table.md").read_text() == table
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_budget_line_marks_a_reduced_run():
    from benchmarks.claims import locomotion

    assert locomotion.budget_line([("updates", 1000, 1000), ("networks", (256,), (256,))]) == (
        "Budget: the official protocol (updates 1,000, networks (256,)).")
    text = locomotion.budget_line([("updates", 50_000, 500_000), ("networks", (64,), (256,)),
                                   ("steps", 10, 10)])
    assert text.startswith("Budget: **reduced** to fit the CPU: updates 50,000 (official "
                           "500,000, 10.0% of it); networks (64,) (official (256,)).")
    assert "steps" not in text
    longer = [("updates", 2_000_000, 1_200_000), ("networks", (256,), (256,))]
    assert not locomotion.is_reduced(longer)
    assert locomotion.budget_line(longer).startswith("Budget: the official protocol")


def test_shared_offline_phase_is_checked():
    from benchmarks.claims import aca, locomotion
    from jaxrl_offline.runner import experiment

    def spec(name, variant="", online_steps=10, **fields):
        config = dataclasses.replace(aca.config_for(name, 100, (8,)), **fields)
        return experiment.RunSpec(name, "d", config, (0,), 100, 100, 0, 1, variant=variant,
                                  online_steps=online_steps)

    offline = spec("aca", "offline", online_steps=0)
    locomotion.check_shared_offline(spec("sac_ml"), offline, aca.ONLINE_FIELDS)  # align only
    with pytest.raises(ValueError, match="sac_ml__d cannot fine-tune from aca-offline__d"):
        locomotion.check_shared_offline(spec("sac_ml", batch_size=64), offline, ("align",))
    with pytest.raises(ValueError, match="offline phases differ"):
        locomotion.check_shared_offline(spec("sac_ml"), offline, ())
    with pytest.raises(ValueError, match="offline phases differ"):
        locomotion.check_shared_offline(spec("td3_bc"), offline, aca.ONLINE_FIELDS)


def test_aca_claim_tiny_end_to_end(tmp_path):
    # The runner's offline -> online path for ACA and SAC+ML, fine-tuned from one shared offline
    # run (the naive baselines run the runner's plain path; each costs its own compilation): 2
    # seeds, 100 offline updates, 40 env steps, (8,) networks.
    from benchmarks.claims import aca
    from jaxrl_offline.reporting import results

    out = tmp_path / "out"
    argv = ["--dataset=jaxrl_offline/hopper/medium-50k-v0", "--algos=aca,sac_ml", "--steps=100",
            "--chunk=100", "--online_steps=40", "--online_eval_every=20",
            "--online_update_every=20", "--num_seeds=2", "--hidden=8", "--eval_episodes=1",
            "--max_episode_steps=20", f"--workdir={tmp_path / 'work'}", f"--out={out}"]
    assert claims_main.main(["--claim=aca", *argv]) == 0
    record = json.loads((out / "record.json").read_text())
    assert record["claim"] == "aca" and record["seeds"] == [0, 1]
    assert record["curves"]["aca"]["env_steps"] == [0, 20, 40]
    # One offline run, trained once: both arms start from its agents (same step-0 scores) and
    # their records carry its offline evaluations; the table says so.
    offline = "aca-offline__jaxrl_offline_hopper_medium-50k-v0"
    assert record["shared_offline"]["run"] == offline
    assert record["shared_offline"]["algorithms"] == ["aca", "sac_ml"]
    curves = record["curves"]
    assert curves["aca"]["normalized_scores"][0] == curves["sac_ml"]["normalized_scores"][0]
    runs = sorted(p.name for p in (tmp_path / "work" / "runs").glob("*.json"))
    assert runs == sorted(f"{n}__jaxrl_offline_hopper_medium-50k-v0.json"
                          for n in ("aca", "sac_ml", "aca-offline"))
    offline_record = results.read_record(tmp_path / "work" / "runs" / f"{offline}.json")
    for name in ("aca", "sac_ml"):
        arm = record["runs"][f"{name}__jaxrl_offline_hopper_medium-50k-v0"]
        assert arm["offline_phase"] == offline
        arm_record = results.read_record(arm["record"])
        assert arm_record["normalized_scores"] == offline_record["normalized_scores"]
        assert arm_record["offline_phase"]["run"] == offline
    assert "fine-tune the same offline agents" in (out / "table.md").read_text()
    assert record["behavior_level"] > 10  # hopper medium data, normalized.
    assert record["behavior_warnings"]  # 100 updates: far below the data's level, and said so.
    # Offline agents below the behavior level: never "Reproduced", whichever arm drops less.
    assert record["verdict"].startswith(("Not reproduced", "Inconclusive"))
    assert (out / "curves.png").exists() and record["verdict"] in (out / "table.md").read_text()
    # Compute: the shared offline run once plus each arm's online phase, from their records.
    arms = [results.read_record(record["runs"][f"{n}__jaxrl_offline_hopper_medium-50k-v0"]
                                ["record"]) for n in ("aca", "sac_ml")]
    expected = sum(offline_record["timing"][k] for k in ("compile_s", "train_s", "eval_s"))
    expected += sum(arm["online"]["timing"][k] for arm in arms for k in ("train_s", "eval_s"))
    assert record["compute_s"] == pytest.approx(expected) and record["compute_s"] > 0
    # A subset without aca only runs (here: finds the finished run) and writes no record.
    (out / "record.json").unlink()
    subset = [arg.replace("--algos=aca,sac_ml", "--algos=sac_ml") for arg in argv]
    assert aca.main(subset) == 0 and not (out / "record.json").exists()
    with pytest.raises(SystemExit):
        aca.main(["--algos=xyz"])


def test_bimodal_bandit_plot(tmp_path):
    """The bandit's figure from hand-made arrays: the data, then each algorithm's samples and
    evaluation actions."""
    rng = np.random.default_rng(0)
    arrays = {"data": {"actions": rng.uniform(-1, 1, 50)}}
    for name in bimodal.ALGOS:
        arrays[name] = {"samples": rng.uniform(-1, 1, 20), "actions": rng.uniform(-1, 1, 5)}
    bimodal.plot(arrays, tmp_path / "samples.png", seed=0)
    assert (tmp_path / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
