"""Published scores (``experiments/published_tables/*.json``, package data): loading them and
matching them to our dataset ids. Format and the shipped files: ``benchmarks/README.md``."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import pathlib
from typing import Any

from experiments import tasks
from jaxrl_offline.datasets import dataset_spec

MARKS = "†‡§¶"
# Package data (setup.cfg), so an installed wheel finds it without the source tree.
PUBLISHED_DIR = pathlib.Path(__file__).resolve().parent / "published_tables"


@dataclasses.dataclass(frozen=True)
class Reference:
    """Published scores: ``scores[algorithm][dataset] = (mean, std or None)``."""

    name: str
    data: str
    citation: str
    statistic: str
    scores: dict[str, dict[str, tuple[float, float | None]]]
    match: dict[str, list[str]]
    mark: str = MARKS[0]
    data_label: str = ""
    seeds: Any = None

    def lookup(self, algorithm: str, dataset_id: str) -> tuple[float, float | None] | None:
        """The published (mean, std) of ``algorithm`` on the task ``dataset_id`` stands for.

        A published dataset with ``match`` patterns matches ids by glob; otherwise it matches ids
        of the same task (``experiments.tasks.task_name``: ``hopper-medium-v2`` matches
        ``jaxrl_offline/hopper/medium-v0``, ``d4rl:/x/hopper-medium-v2.hdf5``, ...), and ids of
        no known task by the glob ``*<dataset>*``.
        """
        task = tasks.task_name(dataset_id)
        for dataset, value in self.scores.get(algorithm, {}).items():
            patterns = self.match.get(dataset)
            if patterns is None and task is not None:
                if dataset_spec.strip_version(dataset) == task:
                    return value
                continue
            if any(fnmatch.fnmatch(dataset_id.lower(), p.lower())
                   for p in patterns or [f"*{dataset}*"]):
                return value
        return None


def resolve_reference(spec: str | pathlib.Path) -> pathlib.Path:
    """A reference file path, or the name of a file in ``experiments/published_tables/``."""
    path = pathlib.Path(spec)
    if path.is_file():
        return path
    named = PUBLISHED_DIR / f"{spec}.json"
    if named.is_file():
        return named
    available = ", ".join(sorted(p.stem for p in PUBLISHED_DIR.glob("*.json")))
    raise ValueError(f"reference {spec}: no such file, and not a name in {PUBLISHED_DIR} "
                     f"({available}).")


def load_reference(path: str | pathlib.Path, mark: str = MARKS[0]) -> Reference:
    """Reads a published-scores JSON file (format: ``benchmarks/README.md``), by path or name."""
    path = resolve_reference(path)
    try:
        raw = json.loads(path.read_text())
        scores = {algo: {dataset: mean_std(value) for dataset, value in per_dataset.items()}
                  for algo, per_dataset in raw["scores"].items()}
        return Reference(name=raw["name"], data=raw["data"], citation=raw.get("citation", ""),
                         statistic=raw.get("statistic", "mean"), scores=scores,
                         match=raw.get("match", {}), mark=mark,
                         data_label=raw.get("data_label", raw["data"]), seeds=raw.get("seeds"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"reference file {path} is not valid ({type(err).__name__}: {err}); "
                         "see benchmarks/README.md for the format.") from None


def mean_std(value: Any) -> tuple[float, float | None]:
    if isinstance(value, dict):
        return float(value["mean"]), (None if value.get("std") is None else float(value["std"]))
    return float(value), None
