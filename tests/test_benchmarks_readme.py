"""The README's results section is generated from the committed records, and is up to date."""

import json

import pytest

from benchmarks import readme
from jaxrl_offline.reporting import results

from test_results import make_record, write


def test_readme_results_section_is_up_to_date():
    text = readme.README.read_text()
    assert text.count(readme.START) == 1 and text.count(readme.END) == 1
    assert readme.replace_section(text, readme.render_section()) == text, (
        "README.md's results section is out of date with benchmarks/results: run "
        "`python -m benchmarks.readme` and commit the README")


def speed_report(name, platform):
    row = {"num_seeds": 10, "num_devices": 1, "aggregate_updates_per_s": 21_000.0,
           "updates_per_s_per_seed": 2_100.0, "speedup_vs_loop": 30.0, "compile_s": 3.0}
    return {
        "schema": "jaxrl_offline/speed-v1", "name": name, "device": f"1 x {name} ({platform})",
        "platform": platform, "host_cores": 16, "versions": {"jax": "0.10.2"},
        "git_commit": "abc", "created": "2026-01-01 00:00 UTC", "command": "python -m x",
        "wall_s": 60.0, "dataset": {"id": "d", "num_transitions": 10, "obs_dim": 3,
                                    "action_dim": 1, "eval_env": "E"},
        "settings": {"hidden_dims": [256, 256], "chunk": 1000, "repeats": 3,
                     "eval_episodes": 0, "eval_max_steps": None, "seed_counts": [10],
                     "config": {}},
        "algorithms": [{"algorithm": "td3_bc", "reduced": False, "load_average": [1.0, 2.0],
                        "loop": {"updates_per_s": 700.0, "first_call_s": 1.0},
                        "settings": {}, "vmapped": [row]}],
    }


def test_section_is_built_from_records_only(tmp_path):
    write(tmp_path / "suite_run", make_record("td3_bc", "jaxrl_offline/hopper/medium-v0",
                                              [[40.0, 60.0]]))
    for name, platform in (("cpu-2-cores", "cpu"), ("nvidia-h100", "gpu")):
        results.dump_json(tmp_path / "speed" / f"{name}.json", speed_report(name, platform))
    section = readme.render_section(tmp_path)
    assert section.startswith(readme.START) and section.endswith(readme.END)
    assert "| jaxrl_offline/hopper/medium-v0 | 50.0 ± 10.0 |" in section
    assert "Hardware: cpu." in section and "Commit: unknown" in section  # From the record.
    assert "`bc`" in section and "`td3_bc`" not in section.split("no committed record")[1]
    assert "| nvidia-h100 | td3_bc | 700 | 21,000 (×30.00) |" in section
    assert "td3_bc 21,000 upd/s (met)" in section  # GPU target, from the GPU report only.
    assert section == readme.render_section(tmp_path)  # Deterministic.
    with pytest.raises(ValueError, match="markers"):
        readme.replace_section("no markers here", section)
    assert json.loads((tmp_path / "speed" / "cpu-2-cores.json").read_text())["name"]


def test_speed_section_shows_the_same_sitting_ratios_to_the_references(tmp_path):
    assert "No same-sitting comparison" in readme.reference_speed_section(tmp_path)
    result = {"algorithm": "misa", "reference_name": "official/misa",
              "dataset": "jaxrl_offline/hopper/medium-v0", "git_commit": "a" * 40,
              "load_before_ours": 2.5, "load_before_reference": 3.0,
              "reference": {"repository": "sail-sg/MISA", "commit": "b" * 40,
                            "updates_per_s": 1.1},
              "ours": [{"num_seeds": 1, "updates_per_s_per_seed": 2.2,
                        "aggregate_updates_per_s": 2.2},
                       {"num_seeds": 2, "updates_per_s_per_seed": 1.6,
                        "aggregate_updates_per_s": 3.2}],
              "ratios": [{"num_seeds": 1, "per_seed": 2.0, "aggregate": 2.0},
                         {"num_seeds": 2, "per_seed": 1.45, "aggregate": 2.91}]}
    results.dump_json(tmp_path / "parity" / "speed" / "official_misa__x.json", result)
    section = readme.render_section(tmp_path)
    stages = {"kind": "stages", "algorithm": "sfbc_staged", "reference_name": "sfbc/sfbc",
              "dataset": "jaxrl_offline/hopper/medium-50k-v0", "num_states": 50000,
              "sampling_steps": 5, "git_commit": None, "load_before_ours": 1.0,
              "load_before_reference": 1.5,
              "reference": {"repository": "ChenDRAG/SfBC", "commit": "c" * 40,
                            "behavior_steps_per_s": 1.0, "presample_s": 300.0,
                            "critic_steps_per_s": 18.0},
              "ours": {"behavior_steps_per_s": 1.2, "presample_s": 150.0,
                       "critic_steps_per_s": 27.0},
              "ratios": {"behavior": 1.2, "presample": 2.0, "critic": 1.5}}
    results.dump_json(tmp_path / "parity" / "speed" / "sfbc_sfbc__x.json", stages)
    section = readme.render_section(tmp_path)
    assert ("| sfbc_staged: presampling s (5 evaluations, 50,000 states) | [sfbc/sfbc](" in section
            and "| 150.0 s | 300.0 s | 2.00x | – | – | 1.0 / 1.5 | unknown |" in section)
    assert "| sfbc_staged: critic steps/s |" in section and "| 27.0 | 18.0 | 1.50x |" in section
    assert ("| misa | [official/misa](" in section and "(sail-sg/MISA@bbbbbbb) | "
            "`jaxrl_offline/hopper/medium-v0` | 2.20 | 1.10 | 2.00x | 3.20 (2 seeds) | 2.91x | "
            "2.5 / 3.0 | `aaaaaaaaaa` |" in section)


def test_folder_with_both_kinds_keeps_the_offline_table(tmp_path):
    # The parity folder holds offline-only runs and fine-tuning runs (ACA's): both tables show.
    from experiments import online_tables

    offline_only = make_record("td3_bc", "jaxrl_offline/hopper/medium-v0", [[40.0, 60.0]])
    write(tmp_path / "parity", offline_only)
    fine_tuned = results.load_records(readme.RESULTS_DIR / "offline_to_online")[0]
    results.dump_json(tmp_path / "parity" / "runs" / f"{fine_tuned['name']}.json", fine_tuned)
    section = readme.score_section(tmp_path / "parity")
    assert "| jaxrl_offline/hopper/medium-v0 | 50.0 ± 10.0 |" in section
    assert online_tables.to_markdown([fine_tuned]).rstrip() in section
    assert section.index("50.0 ± 10.0") < section.index("Cumulative regret")


def test_sfbc_reference_budget_counts_critic_steps(tmp_path):
    # SfBC's reference record counts critic epochs (20 of 245 steps); the score section's budget
    # line counts them in critic steps, as ours (4,900), not as 20 updates.
    reference = results.load_records(readme.RESULTS_DIR / "parity")
    (sfbc,) = [r for r in reference if r["name"].startswith("sfbc_staged-ref")]
    assert sfbc["steps"] == 20
    results.dump_json(tmp_path / "parity" / "runs" / f"{sfbc['name']}.json", sfbc)
    section = readme.score_section(tmp_path / "parity")
    assert "4,900 updates" in section and "20 updates" not in section


def test_fine_tuning_folder_shows_offline_to_online():
    # The committed fine-tuning sweep: its section is the offline -> online table (start score,
    # last online score, regret), not the offline table of the runs' shared start.
    from experiments import online_tables

    folder = readme.RESULTS_DIR / "offline_to_online"
    records = results.load_records(folder)
    section = readme.score_section(folder)
    assert online_tables.to_markdown(records).rstrip() in section
    assert " → " in section and "Cumulative regret" in section


def test_readme_claims_section_is_up_to_date():
    text = readme.README.read_text()
    assert text.count(readme.CLAIMS_START) == 1 and text.count(readme.CLAIMS_END) == 1
    assert readme.render_readme(text) == text, (
        "README.md's claims section is out of date with benchmarks/results/claims: run "
        "`python -m benchmarks.readme` and commit the README")


def test_claims_section_shows_table_plot_command_and_runtime(tmp_path):
    cell = {"at_mode_mean": 1.0, "at_mode_std": 0.0, "middle_mean": 0.0, "middle_std": 0.0,
            "beyond_mean": 0.0, "beyond_std": 0.0, "reward_mean": 1.0, "reward_std": 0.0}
    record = {"claim": "bimodal", "command": "python -m benchmarks.claims --claim=bimodal",
              "seeds": [0, 1, 2], "tuning_seed": 100, "updates": 600, "mode": 0.7,
              "data_stats": {"at_mode": 0.8, "middle": 0.1, "beyond": 0.1, "reward": 0.9},
              "algorithms": {"iql": {**cell, "at_mode_mean": 0.0, "middle_mean": 1.0},
                             "idql": cell, "sfbc": cell},
              "verdict": "Reproduced: yes.", "tried": "nothing", "plot": "samples.png",
              "wall_s": 91.2, "device": "1 x cpu (cpu), 2 host cores", "git_commit": None}
    results.dump_json(tmp_path / "claims" / "bimodal" / "record.json", record)
    section = readme.claims_section(tmp_path)
    assert section.startswith(readme.CLAIMS_START) and section.endswith(readme.CLAIMS_END)
    assert "| iql | 0.00 ± 0.00 | 1.00 ± 0.00 | 0.00 ± 0.00 | 1.00 ± 0.00 |" in section
    assert "**Reproduced: yes.**" in section and "claims/bimodal/samples.png)" in section
    assert "Command: `python -m benchmarks.claims --claim=bimodal`; runtime 91 s" in section
    assert "Claims with no record yet: ACA" in section


def test_pending_claims_drop_out_once_their_record_exists():
    from benchmarks import claims

    full = {"steps": 1_200_000, "hidden": [256, 256]}
    none_recorded = claims.pending_text({})
    assert none_recorded.startswith("Claims with no record yet: ACA offline-to-online")
    assert "reduced budget" not in none_recorded
    assert "MISA against CQL" in claims.pending_text({"bimodal": {}})
    text = claims.pending_text({"misa_cql": full})
    assert "MISA against CQL" not in text and "ACA offline-to-online" in text
    reduced = claims.pending_text({"misa_cql": {**full, "steps": 10_000}})
    assert ("Claims recorded only at a reduced budget (the full protocol is implemented, not "
            "run): MISA against CQL") in reduced
    assert reduced.index("no record yet: ACA") < reduced.index("reduced budget")
    records = {key: {} for key in claims.PENDING}
    records["misa_cql"] = full
    records["aca"] = {"steps": 500_000, "online_steps": 100_000, "hidden": [256, 256]}
    records["bimodal_locomotion"] = {"updates": 1_000_000, "batch_size": 1024}
    records["mixed_locomotion"] = {"steps": 1_000_000, "seeds": [0, 1, 2, 3, 4],
                                   "hidden": [256, 256], "datasets": {"A+B": {}, "C+D": {}}}
    assert claims.pending_text(records) == "Claims with no record yet: none."
    records["mixed_locomotion"] = {**records["mixed_locomotion"], "steps": 50_000}
    assert claims.pending_text(records) == (
        "Claims with no record yet: none. Claims recorded only at a reduced budget (the full "
        f"protocol is implemented, not run): {claims.PENDING['mixed_locomotion']}.")


def test_claim_runtime_names_summed_compute_when_recorded():
    from benchmarks import readme

    assert readme._runtime({"wall_s": 12.4}) == "12 s"
    assert readme._runtime({"wall_s": 12.4, "compute_s": 3600.2}) == (
        "12 s for the command that wrote the record, 3600 s of compute summed over its runs")
