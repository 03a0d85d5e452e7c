"""Reference runs as run records of the project's schema (``jaxrl_offline.reporting.results``).

A reference record is an ordinary record (every ``REQUIRED_FIELDS`` entry, so the project's tables,
plots and readers take it) with three differences: ``variant`` is the reference's short name (its
table column reads ``td3_bc/corl``), ``config`` is the reference's own parsed config, and a
``reference`` field says where it came from: repository, commit, script, the arguments of each
seed, how its evaluations were captured, and the data check of every seed. A reference with an
online phase (ACA) also gets ``online``, the fine-tuning part of our records
(:func:`online_section`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.parity.harness import SeedResult
from benchmarks.parity.references import Reference
from jaxrl_offline.reporting import formatting, results
from jaxrl_offline.datasets.raw_data import env_id_of
from jaxrl_offline.types import DatasetInfo

REFERENCE_PACKAGES = ("torch", "pyrallis", "wandb", "gym", "tensorflow-probability",
                      "tensorboard")
CAPTURE_NOTE = ("the reference's evaluation function wrapped from the launcher; the k-th call is "
                "the evaluation after k * eval_every updates")
CAPTURE_NOTE_OFFSET = (" (+ {offset}: the reference evaluates at loop index k * eval_every, after "
                       "that update; episode returns counted by the harness's env, their mean "
                       "checked against the reference's)")


def record_name(algorithm: str, variant: str, dataset_id: str) -> str:
    """The file-system name ``experiment.RunSpec.name`` would give (``td3_bc-corl__<slug>``)."""
    slug = formatting.file_slug(dataset_id)
    return f"{algorithm}-{variant}__{slug}"


def reference_record(reference: Reference, commit: str, dataset_id: str, info: DatasetInfo,
                     config: dict, seeds: Sequence[SeedResult], steps: int, eval_every: int,
                     eval_episodes: int, device: str, command: str | None,
                     versions: dict[str, str | None] | None = None) -> dict:
    """A complete, validated reference run record.

    Args:
      reference: the reference that ran.
      commit: the commit of the checkout it ran from.
      dataset_id: the project dataset.
      info: its ``DatasetInfo`` (reference scores, eval env).
      config: the reference's parsed config (``dataclasses.asdict``) of the first seed.
      seeds: one ``SeedResult`` per seed, each with [evals, episodes] returns.
      steps: updates per seed.
      eval_every: updates between evaluations.
      eval_episodes: episodes per evaluation.
      device: where the reference trained (``"cpu (torch, 1 thread)"``).
      command: the harness command line.
      versions: the reference's package versions when it ran in its own venv (recorded with
        ours under ``versions["reference_venv"]``); ``None``: ``REFERENCE_PACKAGES`` of this
        Python.
    """
    eval_steps = list(range(eval_every, steps + 1, eval_every))
    for seed in seeds:
        if seed.returns.shape != (len(eval_steps), eval_episodes):
            raise ValueError(f"seed {seed.seed}: returns {seed.returns.shape}, expected "
                             f"{(len(eval_steps), eval_episodes)} (evaluations x episodes)")
    normalized = np.stack([info.normalized_score(s.returns).mean(axis=1) for s in seeds], axis=1)
    train_s = float(sum(s.train_s.sum() for s in seeds))
    versions, reference_versions = results.versions(), versions
    for package in REFERENCE_PACKAGES if reference_versions is None else ():
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    if reference_versions is not None:
        versions["reference_venv"] = dict(reference_versions)
    record = {
        "schema_version": results.SCHEMA_VERSION, "status": "complete",
        "name": record_name(reference.algorithm, reference.variant, dataset_id),
        "algorithm": reference.algorithm, "variant": reference.variant, "dataset_id": dataset_id,
        "domain": info.family, "seeds": [s.seed for s in seeds], "config": config,
        "overrides": {}, "transforms": {"source": "the reference's own preprocessing of the raw "
                                                  "D4RL-layout arrays"},
        "dataset": {"num_transitions": info.num_transitions, "num_episodes": info.num_episodes,
                    "eval_env": env_id_of(info.eval_env_spec),
                    "ref_min_score": info.ref_min_score, "ref_max_score": info.ref_max_score,
                    "ref_score_source": info.ref_score_source},
        "score_label": info.score_label, "normalized": info.has_reference_scores,
        "steps": steps, "chunk": eval_every, "eval_every": eval_every,
        "eval_episodes": eval_episodes, "max_episode_steps": None, "eval_steps": eval_steps,
        "normalized_scores": normalized.tolist(),
        "returns": [s.returns[-1].tolist() for s in seeds],
        "final": results.final_summary(normalized.tolist()),
        "train_metrics": reference_train_metrics(seeds, eval_steps),
        "diverged_seeds": [], "diverged_at_step": {},
        "timing": {"compile_s": 0.0, "train_s": train_s,
                   "eval_s": float(sum(s.eval_s.sum() for s in seeds)),
                   "updates_per_s": steps * len(seeds) / train_s if train_s else None,
                   "resumed_at_step": [],
                   "per_seed_train_s": [s.train_s.tolist() for s in seeds]},
        "versions": versions, "git_commit": results.git_commit(), "device": device,
        "command": command,
        "reference": {"repository": reference.repository, "commit": commit,
                      "pinned_commit": reference.commit, "script": reference.script,
                      "name": reference.name,
                      "capture": reference.capture or CAPTURE_NOTE + (
                          CAPTURE_NOTE_OFFSET.format(offset=reference.steps_offset)
                          if reference.steps_offset else ""),
                      "argv": {str(s.seed): s.argv for s in seeds},
                      "data_check": {str(s.seed): s.data_check for s in seeds}},
    }
    curves = [s.config.get("online_curve") for s in seeds]
    if any(curves):
        record["config"] = {k: v for k, v in config.items() if k != "online_curve"}
        record["online"] = online_section(curves, info, record["normalized"])
    record["spec_hash"] = spec_hash(record)
    record = results.to_jsonable(record)
    # The same check as our records: a later edit of the scores breaks the digest.
    record["scores_digest"] = results.scores_digest(record)
    results.validate_record(record)
    return record


def reference_train_metrics(seeds: Sequence[SeedResult], eval_steps: Sequence[int]) -> dict:
    """``train_metrics`` in our records' layout (``steps``, then ``{name: [eval][seed]}``) from the
    seeds' logged signals (``SeedResult.train_metrics``): the names every seed logged in every
    block, NaN where a block had none. A seed cached before the capture existed has none, and
    then no name is kept (``{"steps": []}``, as before)."""
    per_seed = [seed.train_metrics for seed in seeds]
    names = set.intersection(*(set(metrics) for metrics in per_seed)) if per_seed else set()
    names = {name for name in names
             if all(len(metrics[name]) == len(eval_steps) for metrics in per_seed)}
    if not names:
        return {"steps": []}
    table = {"steps": list(eval_steps)}
    for name in sorted(names):
        table[name] = [[np.nan if metrics[name][k] is None else metrics[name][k]
                        for metrics in per_seed] for k in range(len(eval_steps))]
    return table


def online_section(curves: Sequence[dict], info: DatasetInfo, normalized: bool) -> dict:
    """``record["online"]`` of a reference with an online phase (ACA), in the schema of our
    fine-tuning records (``finetune.new_online_record``/``finish_online``), from each seed's
    ``config["online_curve"]``: ``env_steps`` (0 first), [evals][episodes] ``returns``, the
    seconds of each evaluation (``eval_s``) and of the training before each after step 0
    (``train_s``), the ``buffer`` and ``reward_transform``. The seeds ran one after another, so
    ``env_steps_per_s`` is every seed's env steps over the summed training seconds."""
    # Imports jax: only for references with an online phase.
    from jaxrl_offline.runner import finetune

    env_steps = list(curves[0]["env_steps"])
    if any(list(curve["env_steps"]) != env_steps for curve in curves) or len(env_steps) < 2:
        raise ValueError(f"online curves differ between seeds or have no evaluation after step "
                         f"0: {[curve['env_steps'] for curve in curves]}")
    returns = [np.asarray(curve["returns"], np.float64) for curve in curves]
    scores = np.stack([info.normalized_score(row).mean(axis=1) for row in returns], axis=1)
    train_s = float(sum(sum(curve["train_s"]) for curve in curves))
    online = {
        "steps": env_steps[-1], "eval_every": env_steps[1] - env_steps[0], "update_every": 1,
        "num_envs": 1, "updates_per_env_step": 1,
        "buffer": {**curves[0]["buffer"], "seeded_rows": None},
        "reward_transform": curves[0]["reward_transform"], "env_steps": env_steps,
        "normalized_scores": scores.tolist(), "returns": [row[-1].tolist() for row in returns],
        "train_episodes": None, "diverged_at_env_step": {}, "train_metrics": {"env_steps": []},
        "timing": {"train_s": train_s,
                   "eval_s": float(sum(sum(curve["eval_s"]) for curve in curves)),
                   "env_steps_per_s": None, "resumed_at_env_step": []}}
    online = finetune.finish_online(online, normalized)
    online["timing"]["env_steps_per_s"] = (env_steps[-1] * len(curves) / train_s
                                           if train_s else None)
    return online


def spec_hash(record: dict) -> str:
    """Hash of what determines a reference run's result (reference, commit, data, arguments)."""
    fingerprint = {key: record[key] for key in ("algorithm", "variant", "dataset_id", "seeds",
                                                "steps", "eval_every", "eval_episodes")}
    fingerprint["reference"] = {key: record["reference"][key]
                                for key in ("repository", "commit", "script", "argv")}
    text = json.dumps(results.to_jsonable(fingerprint), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_reference(record: dict[str, Any]) -> bool:
    return "reference" in record


def write(workdir: str | os.PathLike, record: dict) -> str:
    """Writes ``<workdir>/runs/<name>.json`` atomically; returns the path."""
    path = os.path.join(workdir, "runs", f"{record['name']}.json")
    results.write_record(path, record)
    return path


def seed_cache_path(workdir: str | os.PathLike, reference: Reference, dataset_id: str, commit: str,
                    argv: Sequence[str]) -> str:
    """Where one finished reference seed is kept: named by the run and a hash of everything that
    decides its result (reference, commit, dataset, the seed's full argument list)."""
    key = json.dumps([reference.name, commit, dataset_id, list(argv)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    name = record_name(reference.algorithm, reference.variant, dataset_id)
    return os.path.join(workdir, "reference_seeds", f"{name}__{digest}.json")


def save_seed(path: str, result: SeedResult) -> None:
    """Writes one finished seed atomically (temp file + rename)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    payload = {"seed": result.seed, "argv": list(result.argv), "data_check": result.data_check,
               "config": result.config, "returns": np.asarray(result.returns).tolist(),
               "eval_s": np.asarray(result.eval_s).tolist(),
               "train_s": np.asarray(result.train_s).tolist(),
               "train_metrics": result.train_metrics}
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as handle:
        json.dump(payload, handle, default=str)
    os.replace(temporary, path)


def load_seed(path: str) -> SeedResult | None:
    """The seed ``save_seed`` wrote at ``path``, or None when there is none."""
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        payload = json.load(handle)
    return SeedResult(seed=payload["seed"], argv=payload["argv"],
                      returns=np.asarray(payload["returns"], np.float64),
                      eval_s=np.asarray(payload["eval_s"], np.float64),
                      train_s=np.asarray(payload["train_s"], np.float64),
                      data_check=payload["data_check"], config=payload["config"],
                      train_metrics=payload.get("train_metrics", {}))  # {}: cached before capture
