"""Adds a score digest to run records written before records carried one.

    python -m experiments.stamp_digests benchmarks/results/hopper_medium [more folders or files]

A folder stands for its ``runs/*.json`` (or its own ``*.json`` when it has no ``runs/``). Each
valid record without ``scores_digest`` gets one (``jaxrl_offline.reporting.results.stamp_digest``);
records that already have one are left alone, and an invalid record is an error naming the file.
Until stamped, a record is accepted and listed as "legacy (no score digest)" under the tables.
"""

from __future__ import annotations

import pathlib
import sys

from absl import app

from jaxrl_offline.reporting import results


def record_files(paths: list[str]) -> list[pathlib.Path]:
    """The record files a list of files and folders stands for."""
    files = []
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            runs = path / "runs"
            files += sorted((runs if runs.is_dir() else path).glob("*.json"))
        elif path.is_file():
            files.append(path)
        else:
            raise app.UsageError(f"{path}: no such file or folder")
    return files


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("give record files or folders holding runs/*.json")
    try:
        for path in record_files(argv[1:]):
            print(f"{'stamped' if results.stamp_digest(path) else 'has a digest'}: {path}")
    except results.RecordError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    sys.exit(app.run(main))
