"""Run records: the JSON file one (algorithm, dataset) run leaves behind, and statistics over seeds.

A record is a plain JSON object (schema in ``experiments/README.md``; ``REQUIRED_FIELDS`` below)
holding the final config, the overrides that produced it, per-seed and per-episode scores and the
environment the run came from. Records are written atomically (temporary file + ``os.replace``)
and validated when read: a half-written or hand-damaged file, or one whose scores no longer match
its ``scores_digest``, raises :class:`RecordError` naming the file; it is never used silently.

Statistics over seeds (mean, std and a percentile bootstrap confidence interval, as rliable:
Agarwal et al., 2021) use the bootstrap of :mod:`jaxrl_offline.reporting.aggregate`, which also
holds the aggregates over datasets (IQM and others); its generator is fixed, so tables are
reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pathlib
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxrl_offline.reporting import aggregate
# Where a record came from (package versions, commit, devices), re-exported: ``results.versions()``.
from jaxrl_offline.reporting.provenance import (  # noqa: F401
    VERSIONED_PACKAGES, device_description, git_commit, record_provenance, versions)

SCHEMA_VERSION = 1
PROTOCOL_UPDATES = 1_000_000  # The papers' training budget (D4RL protocol: 1M gradient updates).
SCORES = ("last", "best")

REQUIRED_FIELDS = (
    "schema_version", "status", "name", "algorithm", "variant", "dataset_id", "domain", "seeds",
    "config", "overrides", "transforms", "score_label", "normalized", "steps", "chunk",
    "eval_every", "eval_episodes", "eval_steps", "normalized_scores", "returns", "final", "timing",
    "diverged_seeds", "versions", "git_commit", "device", "spec_hash",
)


class RecordError(ValueError):
    """A run record that is missing, half-written, corrupt or inconsistent."""


# --- JSON ----------------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: tuples -> lists, numpy -> Python, NaN/inf -> ``None`` (strict JSON)."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def dump_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` atomically: a temp file in the same folder, fsync, then a rename."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def dump_json(path: str | os.PathLike, payload: Any) -> None:
    """Writes ``payload`` as strict JSON (NaN -> null), atomically."""
    dump_text(path, json.dumps(to_jsonable(payload), indent=1, allow_nan=False) + "\n")


def write_record(path: str | os.PathLike, record: dict) -> None:
    """Validates and atomically writes a complete record."""
    validate_record(to_jsonable(record), path)
    dump_json(path, record)


def read_record(path: str | os.PathLike) -> dict:
    """Reads and validates one record; raises :class:`RecordError` naming the file otherwise."""
    path = pathlib.Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(
            f"run record {path} cannot be read ({err}); it is half-written or corrupt. "
            f"{redo_advice(path)}"
        ) from None
    validate_record(record, path)
    return record


def redo_advice(path: str | os.PathLike) -> str:
    """What to do about one bad record: delete that file alone (other runs keep their results)."""
    name = pathlib.Path(path).stem
    return (f"Delete only this file ({path}) and rerun the same command (the record is rebuilt "
            f"from the run's final checkpoint if there is one), or rerun with --redo={name} to "
            "retrain just this run; other runs keep their results (--overwrite would retrain them "
            "all).")


# --- Score digest --------------------------------------------------------------------------------
# A record carries ``scores_digest``, a SHA-256 of its scores, checked whenever it is read (tables
# included): a hand-edited or corrupted score is an error naming the file. Records written before
# digests existed have none; they are accepted and listed as "legacy (no score digest)" under the
# tables until :func:`stamp_digest` (``python -m experiments.stamp_digests``) adds one.

DIGEST_FIELDS = ("seeds", "eval_steps", "normalized_scores", "returns", "final", "diverged_seeds")
ONLINE_DIGEST_FIELDS = ("env_steps", "normalized_scores", "returns", "final", "regret")


def scores_digest(record: dict) -> str:
    """SHA-256 (hex) of the record's scores: ``DIGEST_FIELDS`` plus fine-tuning scores."""
    payload = {name: record.get(name) for name in DIGEST_FIELDS}
    if isinstance(record.get("online"), dict):
        payload["online"] = {name: record["online"].get(name) for name in ONLINE_DIGEST_FIELDS}
    text = json.dumps(to_jsonable(payload), sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def is_legacy(record: dict) -> bool:
    """True for a record written before score digests (accepted, marked legacy in tables)."""
    return "scores_digest" not in record


def stamp_digest(path: str | os.PathLike) -> bool:
    """Adds ``scores_digest`` to a valid record lacking one; returns whether it wrote the file.

    A record that already has a digest is left alone (a wrong digest stays an error).
    """
    record = read_record(path)
    if not is_legacy(record):
        return False
    dump_json(path, {**record, "scores_digest": scores_digest(record)})
    return True


def validate_record(record: Any, path: str | os.PathLike = "<record>") -> None:
    """Checks fields, array shapes and the score digest of a record; raises :class:`RecordError`
    on any problem."""
    def fail(problem: str):
        raise RecordError(f"run record {path} is invalid: {problem}. {redo_advice(path)}")

    if not isinstance(record, dict):
        fail("not a JSON object")
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        fail(f"missing fields {missing}")
    if record["schema_version"] != SCHEMA_VERSION:
        fail(f"schema_version {record['schema_version']} (this code reads {SCHEMA_VERSION})")
    if record["status"] != "complete":
        fail(f"status is {record['status']!r}, not 'complete'")
    num_seeds, num_evals = len(record["seeds"]), len(record["eval_steps"])
    scores = record["normalized_scores"]
    if len(scores) != num_evals or any(len(row) != num_seeds for row in scores):
        fail(f"normalized_scores is not [{num_evals} evals][{num_seeds} seeds]")
    returns = record["returns"]
    if len(returns) != num_seeds or any(len(row) != record["eval_episodes"] for row in returns):
        fail(f"returns is not [{num_seeds} seeds][{record['eval_episodes']} episodes]")
    if not num_evals or record["eval_steps"][-1] != record["steps"]:
        fail("the last eval step is not the final step")
    for score in SCORES:
        if len(record["final"].get(score, {}).get("per_seed", ())) != num_seeds:
            fail(f"final.{score}.per_seed does not have {num_seeds} entries")
    if "online" in record:
        problem = online_record_problem(record)
        if problem:
            fail(problem)
    if not is_legacy(record) and record["scores_digest"] != scores_digest(record):
        fail("its scores do not match its scores_digest, so they were edited by hand or "
             "corrupted")


ONLINE_FIELDS = ("steps", "eval_every", "update_every", "env_steps", "normalized_scores",
                 "returns", "final", "regret", "buffer", "reward_transform", "train_metrics",
                 "timing")


def online_record_problem(record: dict) -> str | None:
    """What is wrong with ``record["online"]`` (fine-tuning results), or ``None``."""
    online = record["online"]
    if not isinstance(online, dict):
        return "online is not an object"
    missing = [name for name in ONLINE_FIELDS if name not in online]
    if missing:
        return f"online lacks fields {missing}"
    num_seeds, steps = len(record["seeds"]), online["env_steps"]
    if not steps or steps[0] != 0 or steps[-1] != online["steps"] or steps != sorted(set(steps)):
        return "online.env_steps does not rise from 0 to online.steps"
    scores = online["normalized_scores"]
    if len(scores) != len(steps) or any(len(row) != num_seeds for row in scores):
        return f"online.normalized_scores is not [{len(steps)} evals][{num_seeds} seeds]"
    if len(online["returns"]) != num_seeds or any(
            len(row) != record["eval_episodes"] for row in online["returns"]):
        return f"online.returns is not [{num_seeds} seeds][{record['eval_episodes']} episodes]"
    for score in SCORES:
        if len(online["final"].get(score, {}).get("per_seed", ())) != num_seeds:
            return f"online.final.{score}.per_seed does not have {num_seeds} entries"
    regret = online["regret"]
    if record["normalized"] and len((regret or {}).get("per_seed", ())) != num_seeds:
        return f"online.regret.per_seed does not have {num_seeds} entries"
    return None


def cumulative_regret(env_steps: Sequence[int], normalized_scores: Any) -> np.ndarray:
    """Cumulative regret of fine-tuning per seed: the time-average of 1 - score / 100 over the
    online phase, each evaluation standing for the env steps since the previous one.

    regret = sum_{i >= 1} (1 - score_i / 100) (t_i - t_{i-1}) / (t_n - t_0) for evaluations at env
    steps t_0 = 0 < t_1 < ... < t_n. With evenly spaced evaluations it is the mean of
    (1 - normalized return) over the evaluations after step 0, Cal-QL's definition (Nakamoto et
    al. 2023). 0: expert-level throughout; 1: random-level. A seed with a missing (NaN) score gets
    NaN.

    Args:
      env_steps: [T] increasing env steps of the evaluations, starting at 0.
      normalized_scores: [T][S] normalized scores (0-100 scale; ``None`` for NaN).

    Returns:
      [S] float64 regrets.
    """
    steps = np.asarray(env_steps, np.float64)
    scores = as_array(normalized_scores)
    if steps.ndim != 1 or steps.size < 2 or scores.shape[0] != steps.size:
        raise ValueError(f"need >= 2 evaluations with one score row each, got steps {steps.shape}"
                         f" and scores {scores.shape}")
    widths = np.diff(steps) / (steps[-1] - steps[0])
    return np.sum((1.0 - scores[1:] / 100.0) * widths[:, None], axis=0)


def as_array(rows: Any) -> np.ndarray:
    """JSON rows (``None`` for NaN) -> float64 array."""
    return np.array([[np.nan if x is None else x for x in row] for row in rows], np.float64)


def find_records(workdir: str | os.PathLike) -> list[pathlib.Path]:
    return sorted((pathlib.Path(workdir) / "runs").glob("*.json"))


def load_records(workdir: str | os.PathLike) -> list[dict]:
    """All records under ``<workdir>/runs/``; any unreadable one raises :class:`RecordError`."""
    return [read_record(path) for path in find_records(workdir)]


def column_label(record: dict) -> str:
    """The table column of a record: the algorithm, plus ``/variant`` for sweep variants."""
    algorithm, variant = record["algorithm"], record["variant"]
    return f"{algorithm}/{variant}" if variant else algorithm


def column_order(label: str) -> tuple[int, str]:
    """Sort key of column labels: registry order (bc, td3_bc, iql, ...), then variant name."""
    from jaxrl_offline.algorithms import ALGORITHMS

    order = list(ALGORITHMS)
    algorithm = label.split("/")[0]
    return (order.index(algorithm) if algorithm in order else len(order), label)


def updates_text(steps: int) -> str:
    """``20000`` -> ``"20k"``, ``1000000`` -> ``"1M"``, other counts with separators."""
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if steps >= scale and steps % (scale // 10) == 0:
            return f"{steps / scale:g}{suffix}"
    return f"{steps:,}"


def budget_note(steps: int) -> str | None:
    """``"20k updates, 2% of the 1M-update protocol"`` when ``steps`` is short of the papers'
    budget, else ``None``."""
    if steps >= PROTOCOL_UPDATES:
        return None
    share = 100 * steps / PROTOCOL_UPDATES
    share_text = f"{share:.2g}%" if share < 10 else f"{share:.0f}%"
    return (f"{updates_text(steps)} updates, {share_text} of the {updates_text(PROTOCOL_UPDATES)}-"
            "update protocol")


def seed_counts(record: dict, per_seed: Any = None) -> tuple[int, int, int]:
    """``(seeds with a finite score, seeds, diverged seeds)`` of a record; the finite count is of
    ``per_seed`` ([S] scores) when given, else of the last evaluation."""
    scores = as_array(record["normalized_scores"])[-1] if per_seed is None else per_seed
    return (int(np.isfinite(np.asarray(scores, np.float64)).sum()), len(record["seeds"]),
            len(record.get("diverged_seeds") or ()))


def seeds_text(record: dict, per_seed: Any = None) -> str:
    """``"4 seeds"``, or with diverged seeds ``"1/4 seeds, 3 diverged"`` (``"0/4 seeds, all
    diverged"``): how many seeds a score stands for, for legends and summaries."""
    finite, total, diverged = seed_counts(record, per_seed)
    if not diverged:
        return f"{total} seeds"
    return f"{finite}/{total} seeds, {'all' if diverged == total else diverged} diverged"


# --- Statistics ----------------------------------------------------------------------------------


def per_seed_scores(normalized_scores: Any, score: str) -> np.ndarray:
    """[S] score per seed from [evals, S] scores: ``"last"`` eval or ``"best"`` (max over evals)."""
    scores = as_array(normalized_scores)
    if score == "last":
        return scores[-1]
    if score == "best":
        finite = np.isfinite(scores).any(axis=0)
        best = np.full(scores.shape[1], np.nan)
        best[finite] = np.nanmax(scores[:, finite], axis=0)
        return best
    raise ValueError(f"unknown score {score!r}; expected one of {SCORES}")


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Mean, std (ddof=0, as CORL and numpy), 95% bootstrap CI and count over the finite values."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    low, high = aggregate.bootstrap_ci(finite)
    return {
        "mean": float(finite.mean()) if finite.size else math.nan,
        "std": float(finite.std()) if finite.size else math.nan,
        "ci_low": low,
        "ci_high": high,
        "num_seeds": int(finite.size),
        "per_seed": values.tolist(),
    }


def curve_with_ci(normalized_scores: Any, num_samples: int = 1000,
                  level: float = aggregate.CI_LEVEL,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds per eval point and its bootstrap CI; [evals] arrays (diverged seeds out)."""
    scores = as_array(normalized_scores)
    means, lows, highs = [], [], []
    for row in scores:
        finite = row[np.isfinite(row)]
        means.append(finite.mean() if finite.size else math.nan)
        low, high = aggregate.bootstrap_ci(finite, num_samples, level, seed)
        lows.append(low)
        highs.append(high)
    return np.array(means), np.array(lows), np.array(highs)


def final_summary(normalized_scores: Any) -> dict[str, dict]:
    """The record's ``final`` field: ``summarize`` of the last and the best eval per seed."""
    return {score: summarize(per_seed_scores(normalized_scores, score)) for score in SCORES}
