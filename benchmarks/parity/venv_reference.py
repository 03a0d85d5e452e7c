"""Running one seed of a reference in its own virtual environment (a JAX reference on older jax).

A JAX reference (sail-sg/MISA: jax/flax/distrax/TFP of 2022) cannot share this process with our
jax, so its seed runs in a child process started with the reference venv's Python:

    parent (our Python)                          child (the venv's Python)
    -------------------                          -------------------------
    D4RL arrays of the dataset -> dataset.npz    shims.install(Binding over dataset.npz)
    qlearning_dataset + the project check        d4rl.qlearning_dataset: its rows must hash to
      -> summary, sha256 of the rows               the parent's checked rows (else ParityError)
    spec.json (argv, env spec, scores, hook)     imports the reference's entry module unchanged,
                                                 wraps its evaluation hook, parses its absl flags,
                                                 runs ``main``; writes result.json
    result.json -> harness.SeedResult

The child imports only numpy, the standard library, :mod:`benchmarks.parity.shims` /
:mod:`benchmarks.parity.d4rl_arrays` (neither imports jax at module level) and, for the evaluation
env, gymnasium + mujoco from the venv. The evaluation hook is a module-level function (``"f"``) or
a method of a module-level class (``"TrajSampler.sample"``: the class is replaced in the module's
namespace by a subclass whose method records the returns, read from its result by
``RETURN_READERS[reader]``). The reference's ``jax_aliases`` are restored in the child
(``shims.restore_jax_aliases``: ``jax.tree_multimap``, removed in jax 0.3.16, is
``jax.tree_util.tree_map``), the only change the child makes to the reference's world besides the
gym/d4rl stand-ins. A ``<scratch_dir>`` in the
arguments becomes a temporary folder (the reference's own log output) removed afterwards.

    python -m benchmarks.parity.venv_reference SPEC_JSON    # the child; run by run_seed
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.metadata
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.parity import d4rl_arrays, shims

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRATCH = "<scratch_dir>"
# Reads episode returns [episodes] from what an evaluation hook returned.
RETURN_READERS: dict[str, Callable[[Any], list[float]]] = {
    "returns": lambda result: np.asarray(result, np.float64).reshape(-1).tolist(),
    # A list of trajectory dicts with a "rewards" array each (JaxCQL/MISA ``TrajSampler``).
    "trajectory_rewards": lambda result: [float(np.sum(t["rewards"])) for t in result],
}
VERSION_PACKAGES = ("jax", "jaxlib", "flax", "optax", "distrax", "tensorflow-probability",
                    "numpy", "gymnasium", "mujoco", "wandb")


def rows_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the ``QLEARNING_KEYS`` arrays (dtype, shape and bytes), to compare processes."""
    digest = hashlib.sha256()
    for key in d4rl_arrays.QLEARNING_KEYS:
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{value.dtype.str}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


# --- Parent: our Python ------------------------------------------------------------------------

def run_seed(python: str, reference, reference_dir: pathlib.Path, binding: shims.Binding,
             eval_env_spec: str, args: Sequence[str], seed: int):
    """Runs one seed of ``reference`` (a ``references.VenvReference``) with the venv's ``python``.

    Args:
      python: the reference venv's interpreter (``/tmp/refs/misa-venv/bin/python``).
      reference: what to run (entry module, evaluation hook, return reader, config flags).
      reference_dir: the checkout.
      binding: ``harness.make_binding``'s binding (its ``check`` compares with our arrays).
      eval_env_spec: the dataset's evaluation env, a Gymnasium id or ``EnvSpec`` JSON.
      args: the reference's arguments (``<reference_dir>``/``<scratch_dir>`` not yet replaced).
      seed: the reference's seed.

    Returns:
      ``(harness.SeedResult, versions of the venv's packages)``.
    """
    # Our side only: harness imports the project's loaders (and so our jax).
    from benchmarks.parity import harness

    received = d4rl_arrays.qlearning_dataset(binding.dataset)
    summary = binding.check(binding.dataset, received) if binding.check else {}
    with tempfile.TemporaryDirectory(prefix="parity-venv-") as scratch:
        scratch = pathlib.Path(scratch)
        np.savez(scratch / "dataset.npz", **binding.dataset)
        local = [arg.replace("<reference_dir>", str(reference_dir)).replace(
            SCRATCH, str(scratch / "reference_output")) for arg in args]
        spec = {"reference_dir": str(reference_dir), "entry_module": reference.entry_module,
                "eval_hook": reference.eval_function, "returns_reader": reference.returns_reader,
                "jax_aliases": list(reference.jax_aliases),
                "config_flags": reference.config_class, "argv": local,
                "env_name": binding.env_name, "eval_env_spec": eval_env_spec,
                "ref_min_score": binding.ref_min_score, "ref_max_score": binding.ref_max_score,
                "dataset_npz": str(scratch / "dataset.npz"), "rows_digest": rows_digest(received),
                "data_check": summary, "output": str(scratch / "result.json")}
        (scratch / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "WANDB_MODE": "disabled"}
        completed = subprocess.run([python, "-m", "benchmarks.parity.venv_reference",
                                    str(scratch / "spec.json")], cwd=str(PROJECT_ROOT), env=env,
                                   check=False)
        if completed.returncode:
            raise RuntimeError(f"{reference.name} seed {seed} failed in {python} (exit "
                               f"{completed.returncode}); its output is above")
        # Records hold no local paths: the folders go back to their placeholders.
        text = (scratch / "result.json").read_text()
        for path, placeholder in ((scratch / "reference_output", SCRATCH),
                                  (reference_dir, "<reference_dir>")):
            text = text.replace(json.dumps(str(path))[1:-1], placeholder)
        out = json.loads(text)
    calls = np.asarray(out["calls"], np.float64).reshape(-1, 2)
    previous = np.concatenate([[out["load_end"]], calls[:-1, 1]])
    result = harness.SeedResult(
        seed=seed, argv=list(args), returns=np.asarray(out["returns"], np.float64),
        eval_s=calls[:, 1] - calls[:, 0], train_s=calls[:, 0] - previous,
        data_check=out["data_check"], config=out["config"])
    return result, out["versions"]


# --- Child: the reference venv's Python --------------------------------------------------------

@dataclasses.dataclass
class _Capture:
    returns: list[list[float]] = dataclasses.field(default_factory=list)
    calls: list[tuple[float, float]] = dataclasses.field(default_factory=list)

    def wrap(self, function: Callable, reader: Callable[[Any], list[float]]) -> Callable:
        @functools.wraps(function)
        def captured(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            self.calls.append((start, time.perf_counter()))
            self.returns.append(reader(result))
            return result
        return captured


def _install_hook(module, hook: str, capture: _Capture, reader) -> None:
    """Wraps ``module.<hook>`` (a function) or ``module.<Class>.<method>`` (via a subclass)."""
    owner_name, _, method = hook.partition(".")
    owner = getattr(module, owner_name)
    if not method:
        setattr(module, owner_name, capture.wrap(owner, reader))
        return
    subclass = type(owner.__name__, (owner,),
                    {method: capture.wrap(getattr(owner, method), reader),
                     "__module__": owner.__module__})
    setattr(module, owner_name, subclass)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):  # ml_collections.ConfigDict
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # -inf stays readable ("-inf") in strict JSON.
    if isinstance(value, (np.generic,)):
        return _jsonable(value.item())
    return value


def _make_env(eval_env_spec: str):
    import gymnasium

    spec = (gymnasium.envs.registration.EnvSpec.from_json(eval_env_spec)
            if eval_env_spec.lstrip().startswith("{") else eval_env_spec)
    return gymnasium.make(spec)


def child_main(spec_path: str) -> None:
    spec = json.loads(pathlib.Path(spec_path).read_text())
    sys.path.insert(0, spec["reference_dir"])  # Its top-level packages shadow ours (experiments).
    with np.load(spec["dataset_npz"]) as arrays:
        dataset = {key: arrays[key] for key in arrays.files}
    load_end = {"t": time.perf_counter()}

    def check(_, received: dict) -> dict:
        if rows_digest(received) != spec["rows_digest"]:
            raise d4rl_arrays.ParityError("the reference's qlearning_dataset rows differ from the "
                                          "rows the parent checked against the project")
        load_end["t"] = time.perf_counter()  # Training starts once the data is handed over.
        return spec["data_check"]

    binding = shims.Binding(env_name=spec["env_name"], dataset=dataset,
                            make_env=functools.partial(_make_env, spec["eval_env_spec"]),
                            ref_min_score=spec["ref_min_score"],
                            ref_max_score=spec["ref_max_score"], check=check)
    capture = _Capture()
    # ml_collections' config flags register their overrides (--algo_cfg.x) from sys.argv when
    # the module defines them, as on the reference's own command line.
    argv = sys.argv = [spec["entry_module"], *spec["argv"]]
    with shims.install(binding), shims.restore_jax_aliases(spec["jax_aliases"]):
        module = importlib.import_module(spec["entry_module"])
        _install_hook(module, spec["eval_hook"], capture, RETURN_READERS[spec["returns_reader"]])
        from absl import flags

        flags.FLAGS(argv)
        config = {name: _jsonable(flags.FLAGS[name].value)
                  for name in getattr(module, spec["config_flags"])}
        module.main(argv[:1])
    if not binding.checks:
        raise d4rl_arrays.ParityError(f"{spec['entry_module']} never called "
                                      "d4rl.qlearning_dataset")
    versions = {}
    for package in VERSION_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    pathlib.Path(spec["output"]).write_text(json.dumps({
        "returns": capture.returns, "calls": capture.calls, "load_end": load_end["t"],
        "data_check": binding.checks[0], "config": config, "versions": versions}))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m benchmarks.parity.venv_reference SPEC_JSON (run by run_seed)")
    child_main(sys.argv[1])
