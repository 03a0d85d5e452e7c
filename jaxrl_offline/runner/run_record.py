"""A run's record as the experiment loop builds it: the record of a run that has not trained
yet, its completion (final scores, divergence, speed, digest) and its one-line summary
(``jaxrl_offline.reporting.results`` reads and writes records; ``jaxrl_offline.runner.experiment``
fills them).
"""

from __future__ import annotations

from jaxrl_offline.datasets import data
from jaxrl_offline.reporting import provenance, results
from jaxrl_offline.reporting.formatting import duration, rate, significant
from jaxrl_offline.runner import training
from jaxrl_offline.runner.run_spec import RunSpec, config_to_json


def new_record(spec: RunSpec, info, layout: training.SeedLayout, command: str | None) -> dict:
    """The record of a run that has not trained yet (``status`` ``"running"``)."""
    return {
        "schema_version": results.SCHEMA_VERSION, "status": "running", "name": spec.name,
        "algorithm": spec.algorithm, "variant": spec.variant, "dataset_id": spec.dataset,
        "domain": info.family, "seeds": list(spec.seeds), "config": config_to_json(spec.config),
        "overrides": config_to_json(spec.overrides), "transforms": info.transforms,
        "dataset": {"num_transitions": info.num_transitions, "num_episodes": info.num_episodes,
                    "eval_env": data.env_id_of(info.eval_env_spec),
                    "ref_min_score": info.ref_min_score, "ref_max_score": info.ref_max_score,
                    "ref_score_source": info.ref_score_source,
                    "reward_scale": info.reward_scale, "reward_shift": info.reward_shift},
        "score_label": info.score_label, "normalized": info.has_reference_scores,
        "steps": spec.steps, "chunk": spec.chunk, "eval_every": spec.eval_every,
        "eval_episodes": spec.eval_episodes, "max_episode_steps": spec.max_episode_steps,
        "eval_steps": [], "normalized_scores": [], "returns": [], "final": {},
        "train_metrics": {"steps": []}, "diverged_seeds": [], "diverged_at_step": {},
        "timing": {"compile_s": 0.0, "train_s": 0.0, "eval_s": 0.0, "updates_per_s": None,
                   "resumed_at_step": []},
        **provenance.record_provenance(layout.mesh.devices.ravel().tolist()),
        "spec_hash": spec.spec_hash, "command": command, "warnings": [],
    }


def finish_record(record: dict) -> dict:
    """Adds ``final``, ``diverged_seeds``, ``updates_per_s`` and ``scores_digest``; marks the
    record complete."""
    record = dict(record)
    record["final"] = results.final_summary(record["normalized_scores"])
    record["diverged_seeds"] = sorted(int(seed) for seed in record["diverged_at_step"])
    train_s = record["timing"]["train_s"]
    record["timing"] = {**record["timing"],
                        "updates_per_s": record["steps"] / train_s if train_s else None}
    record["status"] = "complete"
    record = results.to_jsonable(record)
    record["scores_digest"] = results.scores_digest(record)
    return record


def summary_line(record: dict) -> str:
    """One line per finished run: scores (mean ± std over seeds, 95% CI) and timing."""
    def fmt(score):
        final = record["final"][score]
        return (f"{score} {_num(final['mean'])} ± {_num(final['std'])} "
                f"[{_num(final['ci_low'])}, {_num(final['ci_high'])}]")
    timing = record["timing"]
    diverged = (f"; DIVERGED seeds {record['diverged_seeds']} left out of the scores"
                if record["diverged_seeds"] else "")
    kind = "normalized score" if record["normalized"] else "raw return"
    budget = results.budget_note(record["steps"])
    return (f"{record['name']}: {fmt('last')}, {fmt('best')} ({kind}, "
            f"{results.seeds_text(record)} x {record['eval_episodes']} episodes{diverged})"
            + (f" | budget: {budget}" if budget else "") + " | "
            f"{rate(timing['updates_per_s'])} upd/s, compile {duration(timing['compile_s'])}, "
            f"train {duration(timing['train_s'])}, eval {duration(timing['eval_s'])}")


def _num(value) -> str:
    """A score: one decimal, or two significant digits below 1 (0.031)."""
    return significant(value, 2, min_decimals=1)
