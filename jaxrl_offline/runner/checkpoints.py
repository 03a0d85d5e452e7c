"""Checkpoints of a running experiment with orbax: arrays (vmapped train state, RNG state) + JSON.

One :class:`RunCheckpointer` per run directory keeps the latest checkpoint only. With
``jax.distributed`` every process calls ``save`` and ``restore`` together (orbax writes each
process's shards; the directory must be shared) and a checkpoint resumes only with the process
count that wrote it. Each checkpoint holds

* ``arrays``: a flat dict ``{key path: array}`` of any pytree of arrays (typed PRNG keys are stored
  as their raw ``key_data`` and re-wrapped on restore), restored with the shardings of a template;
* ``meta``: JSON with the caller's metadata (the partial run record, the chunk index), the hash of
  the settings that produced it and a SHA-256 digest of every array.

Orbax commits a checkpoint atomically (temporary directory, then rename), so a process killed
while saving leaves the previous checkpoint in place. A checkpoint that fails to restore, whose
arrays do not match their digest, or that was written by a run with different settings raises
:class:`CheckpointError` naming the directory and what to do; it is never used silently.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxrl_offline.runner import distributed
from jaxrl_offline.reporting.results import to_jsonable

_ARRAYS, _META = "arrays", "meta"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, half-written or from other settings."""


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def flatten_arrays(tree: Any) -> dict[str, jax.Array]:
    """``{keystr(path): array}`` over the leaves of ``tree``; typed keys become ``key_data``."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): (jax.random.key_data(leaf) if _is_key(leaf) else leaf)
            for path, leaf in leaves}


def unflatten_arrays(arrays: dict[str, Any], template: Any) -> Any:
    """Inverse of :func:`flatten_arrays`, with the structure and key types of ``template``."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, leaf in paths:
        value = arrays[jax.tree_util.keystr(path)]
        leaves.append(jax.random.wrap_key_data(value, impl=jax.random.key_impl(leaf))
                      if _is_key(leaf) else value)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def digest(arrays: dict[str, Any]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of ``arrays`` (fetched to the host, gathered
    from every process)."""
    sha = hashlib.sha256()
    arrays = distributed.to_host(arrays)
    for name in sorted(arrays):
        value = np.asarray(arrays[name])
        sha.update(f"{name}|{value.dtype}|{value.shape}|".encode())
        sha.update(np.ascontiguousarray(value).tobytes())
    return sha.hexdigest()


class RunCheckpointer:
    """Saves and restores one run's checkpoints under ``directory`` (a context manager).

    Args:
      directory: the run's checkpoint folder (created on first save).
      spec_hash: hash of the run settings; a checkpoint with another hash is refused.
    """

    def __init__(self, directory: str | os.PathLike, spec_hash: str):
        self.directory = pathlib.Path(directory).absolute()
        self.spec_hash = spec_hash
        options = ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, enable_async_checkpointing=False,
            cleanup_tmp_directories=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def __enter__(self) -> "RunCheckpointer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._manager.close()

    def latest_step(self) -> int | None:
        """Step (the caller's counter, e.g. chunks done) of the latest committed checkpoint."""
        return self._manager.latest_step()

    def save(self, step: int, tree: Any, metadata: dict) -> None:
        """Saves the arrays of ``tree`` and the JSON ``metadata`` as checkpoint ``step``."""
        arrays = flatten_arrays(tree)
        meta = {"spec_hash": self.spec_hash, "digest": digest(arrays),
                "num_processes": jax.process_count(), "metadata": to_jsonable(metadata)}
        self._manager.save(step, args=ocp.args.Composite(
            **{_ARRAYS: ocp.args.StandardSave(arrays), _META: ocp.args.JsonSave(meta)}),
            force=True)
        self._manager.wait_until_finished()

    def _restore(self, step: int, **items) -> tuple[Any, str | None]:
        """One orbax item restore: ``(value, None)``, or ``(None, error text)`` on any failure.

        Orbax reading corrupt array files can leave tensorstore callbacks that later print
        "Exception ignored ... Event loop is closed"; the failure itself is reported here.
        """
        (name,) = items
        try:
            return self._manager.restore(step, args=ocp.args.Composite(**items))[name], None
        except Exception as err:  # noqa: BLE001 - any failure makes the checkpoint unusable.
            return None, f"{type(err).__name__}: {err}"

    def restore(self, template: Any) -> tuple[int, Any, dict]:
        """Restores the latest checkpoint into the structure, key types and shardings of
        ``template``; returns ``(step, tree, metadata)``."""
        step = self.latest_step()
        where = self.directory / str(step)
        advice = (f"Delete only {self.directory} (this run's checkpoints), or rerun with "
                  f"--redo={self.directory.name}, to start just this run over; other runs keep "
                  "their results.")
        meta, error = self._restore(step, **{_META: ocp.args.JsonRestore()})
        if error is None and not (isinstance(meta, dict) and {"spec_hash", "digest"} <= set(meta)):
            error = "its metadata lacks spec_hash/digest"
        if error is not None:
            raise CheckpointError(f"checkpoint {where} has unreadable metadata ({error}); it is "
                                  f"corrupt or half-written. {advice}")
        if meta["spec_hash"] != self.spec_hash:
            raise CheckpointError(
                f"checkpoint {where} was written by a run with different settings (spec hash "
                f"{meta['spec_hash']}, this run {self.spec_hash}). {advice}")
        saved_by = meta.get("num_processes", 1)  # Checkpoints before jax.distributed: 1.
        if saved_by != jax.process_count():
            raise CheckpointError(
                f"checkpoint {where} was written by {saved_by} process(es) and this run has "
                f"{jax.process_count()}; resume it with the same process count (jax.distributed "
                f"launch), or start the run over. {advice}")
        arrays, error = self._restore(step, **{
            _ARRAYS: ocp.args.StandardRestore(flatten_arrays(template))})
        if error is not None:
            raise CheckpointError(f"checkpoint {where} cannot be restored ({error}); it is "
                                  f"corrupt or from an incompatible version. {advice}")
        if digest(arrays) != meta["digest"]:
            raise CheckpointError(
                f"checkpoint {where} is corrupt: its arrays do not match the digest saved with "
                f"them. {advice}")
        return step, unflatten_arrays(arrays, template), meta["metadata"]
