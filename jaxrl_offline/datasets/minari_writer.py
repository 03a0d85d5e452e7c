"""Writing Minari datasets atomically: a hidden staging root, extra metadata, one rename.

Every dataset generator (``local_suite/synthetic.py``, ``local_suite/suite.py``) writes through
:func:`create_atomically`: Minari creates the dataset under a hidden ``.jaxrl_offline-tmp-*``
folder of the store (Minari's listing skips hidden folders), the extra metadata is added, and one
rename moves it into place, so an interrupted generation leaves no dataset id behind. Staging
folders of killed generations are removed by the next one (:func:`remove_stale_staging`).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import socket
import tempfile
import time

import minari
from minari.storage import get_dataset_path

from jaxrl_offline.datasets.raw_data import DatasetError

_TMP_PREFIX = ".jaxrl_offline-tmp-"
_OWNER_FILE = "owner"  # "<hostname> <pid>" of the generation writing a staging folder.
_UNOWNED_STAGING_S = 3600.0


@contextlib.contextmanager
def _minari_root(path: pathlib.Path):
    """Temporarily points Minari (``MINARI_DATASETS_PATH``) at ``path``."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def remove_stale_staging(root: pathlib.Path) -> list[pathlib.Path]:
    """Deletes staging folders (``.jaxrl_offline-tmp-*``) left under ``root`` by killed
    generations; returns them.

    A folder is stale when its owner file names a process of this host that no longer runs, or,
    lacking one (killed before writing it), when it is over an hour old. Folders of live
    generations, here or on other hosts sharing the folder, are kept.
    """
    removed = []
    for staging in pathlib.Path(root).glob(f"{_TMP_PREFIX}*"):
        try:
            host, pid = (staging / _OWNER_FILE).read_text().split()
            stale = host == socket.gethostname() and not _process_alive(int(pid))
        except (OSError, ValueError):
            try:
                stale = time.time() - staging.stat().st_mtime > _UNOWNED_STAGING_S
            except OSError:
                continue
        if stale:
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Exists, owned by another user.
        return True
    return True


def create_atomically(dataset_id, buffers, root, overwrite, extra_metadata=None,
                      **create_kwargs) -> pathlib.Path:
    """``minari.create_dataset_from_buffers`` into a hidden temp root, then a rename into place.

    ``extra_metadata`` (JSON-serializable) is added to the dataset's ``metadata.json`` before the
    rename, so the dataset never appears without it.
    """
    root_path = pathlib.Path(root) if root is not None else get_dataset_path()
    root_path.mkdir(parents=True, exist_ok=True)
    final = root_path / dataset_id
    if final.exists() and not overwrite:
        raise DatasetError(f"Dataset {dataset_id!r} already exists under {root_path}; pass "
                           "overwrite=True to replace it, or use a new -vN version.")
    remove_stale_staging(root_path)
    # Hidden (dot) directories are skipped by Minari's listing, so nothing half-written shows.
    staging = pathlib.Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=root_path))
    (staging / _OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")
    try:
        with _minari_root(staging):  # All optional metadata is passed, so Minari does not warn.
            dataset = minari.create_dataset_from_buffers(dataset_id, buffers, **create_kwargs)
            if extra_metadata:
                dataset.storage.update_metadata(dict(extra_metadata))
        namespace = dataset_id.split("/")[:-1]
        for depth in range(1, len(namespace) + 1):  # Namespace metadata files Minari wrote.
            source = staging.joinpath(*namespace[:depth], "namespace_metadata.json")
            target = root_path.joinpath(*namespace[:depth], "namespace_metadata.json")
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.exists() and not target.exists():
                shutil.copyfile(source, target)
        if final.exists() and overwrite:
            os.rename(final, staging / "replaced")
        try:
            os.rename(staging / dataset_id, final)
        except OSError:
            if not (final / "data").is_dir():  # Not a concurrent writer that got there first.
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
