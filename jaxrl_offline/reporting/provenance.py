"""Provenance of a record or benchmark: package versions, the checkout's commit and the devices
(``jaxrl_offline.reporting.results`` re-exports these for the records).
"""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import platform
import subprocess
from collections.abc import Sequence
from typing import Any


VERSIONED_PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "minari", "mujoco", "gymnasium",
                      "orbax-checkpoint")


def versions() -> dict[str, str | None]:
    """Python, jaxrl_offline and key package versions (``None`` when not installed)."""
    from jaxrl_offline import __version__

    found = {"python": platform.python_version(), "jaxrl_offline": __version__}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def git_commit() -> str | None:
    """HEAD of the repository this package lives in (``+dirty`` with local changes), or None.

    None for an installed wheel: ``site-packages`` is no checkout, even inside some other
    repository (a virtual environment in a project folder), whose commit would be wrong."""
    repo = pathlib.Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():  # A worktree's .git is a file.
        return None
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def device_description(devices: Sequence[Any]) -> str:
    """E.g. ``"2 x cpu (cpu), 2 host cores"`` for the devices the seeds were sharded over."""
    kinds = sorted({device.device_kind for device in devices})
    platforms = sorted({device.platform for device in devices})
    return (f"{len(devices)} x {'/'.join(kinds)} ({'/'.join(platforms)}), "
            f"{os.cpu_count()} host cores")


def record_provenance(devices: Sequence[Any]) -> dict[str, Any]:
    """``{"versions", "git_commit", "device"}`` of this process on ``devices``, for a record:
    read it when the run starts, so it names the code that ran, not a HEAD that moved on while
    the run trained."""
    return {"versions": versions(), "git_commit": git_commit(),
            "device": device_description(devices)}
