"""Behavior policies: small actor-only files, and a fast numpy forward pass to roll them out.

A behavior policy is the actor of an online SAC run (``networks.TanhGaussianActor``) saved as an
``.npz`` of its Dense kernels and biases plus its hidden sizes. Data generation runs it in numpy:
for the tens of envs stepped together a numpy MLP beats a jitted call per step, and it needs no
compilation. :func:`numpy_actor` reproduces the flax network exactly (tested against it).

Actions follow SAC: the *sampled* action tanh(mu + sigma * eps) (as D4RL's datasets were collected)
or the deterministic tanh(mu) when ``deterministic=True``; both in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib

import numpy as np

from jaxrl_offline.networks import TanhGaussianActor

_FORMAT = "jaxrl_offline.behavior/1"


@dataclasses.dataclass(frozen=True)
class BehaviorPolicy:
    """An actor-only checkpoint.

    Attributes:
      layers: hidden (kernel [in, out], bias [out]) pairs, in order.
      mean_layer: (kernel, bias) of the mean head.
      log_std_layer: (kernel, bias) of the log-std head.
      log_std_min: lower clip of the log-std (as in ``TanhGaussianActor``).
      log_std_max: upper clip of the log-std.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    mean_layer: tuple[np.ndarray, np.ndarray]
    log_std_layer: tuple[np.ndarray, np.ndarray]
    log_std_min: float = -20.0
    log_std_max: float = 2.0

    @property
    def obs_dim(self) -> int:
        return self.layers[0][0].shape[0]

    @property
    def action_dim(self) -> int:
        return self.mean_layer[0].shape[1]

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        return tuple(kernel.shape[1] for kernel, _ in self.layers)

    def __call__(self, obs: np.ndarray, rng: np.random.Generator | None = None,
                 deterministic: bool = False, noise: np.ndarray | None = None) -> np.ndarray:
        """Actions [B, action_dim] in [-1, 1] for observations [B, obs_dim].

        Sampled actions use ``noise`` [B, action_dim] (standard normal) when given, else ``rng``.
        """
        return numpy_actor(self, obs, rng, deterministic, noise)


def from_flax_params(params, log_std_min: float = -20.0, log_std_max: float = 2.0):
    """A :class:`BehaviorPolicy` from the ``params`` of a ``TanhGaussianActor`` (one seed)."""
    tree = params["params"]
    mlp = tree["MLP_0"]
    layers = tuple((np.asarray(mlp[f"Dense_{i}"]["kernel"], np.float32),
                    np.asarray(mlp[f"Dense_{i}"]["bias"], np.float32)) for i in range(len(mlp)))
    head = lambda name: (np.asarray(tree[name]["kernel"], np.float32),  # noqa: E731
                         np.asarray(tree[name]["bias"], np.float32))
    return BehaviorPolicy(layers, head("Dense_0"), head("Dense_1"), log_std_min, log_std_max)


def to_flax_params(policy: BehaviorPolicy):
    """The inverse of :func:`from_flax_params`: params for ``TanhGaussianActor.apply``."""
    mlp = {f"Dense_{i}": {"kernel": k, "bias": b} for i, (k, b) in enumerate(policy.layers)}
    return {"params": {"MLP_0": mlp,
                       "Dense_0": {"kernel": policy.mean_layer[0], "bias": policy.mean_layer[1]},
                       "Dense_1": {"kernel": policy.log_std_layer[0],
                                   "bias": policy.log_std_layer[1]}}}


def flax_module(policy: BehaviorPolicy) -> TanhGaussianActor:
    """The flax module whose ``apply(to_flax_params(policy), obs)`` is this policy."""
    return TanhGaussianActor(policy.hidden_dims, policy.action_dim, policy.log_std_min,
                             policy.log_std_max)


def numpy_actor(policy: BehaviorPolicy, obs: np.ndarray, rng: np.random.Generator | None,
                deterministic: bool, noise: np.ndarray | None = None) -> np.ndarray:
    """The ``TanhGaussianActor`` forward pass in float32 numpy, then a squashed sample."""
    hidden = np.asarray(obs, np.float32)
    for kernel, bias in policy.layers:
        hidden = np.maximum(hidden @ kernel + bias, 0.0)
    mean = hidden @ policy.mean_layer[0] + policy.mean_layer[1]
    if deterministic:
        return np.tanh(mean)
    if noise is None and rng is None:
        raise ValueError("a sampled action needs noise= or rng=np.random.Generator; or "
                         "deterministic=True")
    log_std = np.clip(hidden @ policy.log_std_layer[0] + policy.log_std_layer[1],
                      policy.log_std_min, policy.log_std_max)
    if noise is None:
        noise = rng.standard_normal(mean.shape).astype(np.float32)
    return np.tanh(mean + np.exp(log_std) * noise)


def save(policy: BehaviorPolicy, path: str | os.PathLike) -> str:
    """Writes ``policy`` to ``path`` (.npz) atomically; returns its SHA-256 (of the file)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"format": np.array(_FORMAT),
              "log_std_range": np.array([policy.log_std_min, policy.log_std_max], np.float32),
              "mean_kernel": policy.mean_layer[0], "mean_bias": policy.mean_layer[1],
              "log_std_kernel": policy.log_std_layer[0], "log_std_bias": policy.log_std_layer[1]}
    for i, (kernel, bias) in enumerate(policy.layers):
        arrays[f"hidden{i}_kernel"], arrays[f"hidden{i}_bias"] = kernel, bias
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        np.savez(file, **arrays)
    os.replace(temporary, path)
    return file_sha256(path)


def load(path: str | os.PathLike) -> BehaviorPolicy:
    """Reads a policy written by :func:`save`; a clear error for anything else."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no behavior policy file at {path}")
    with np.load(path) as data:
        if "format" not in data or str(data["format"]) != _FORMAT:
            raise ValueError(f"{path} is not a jaxrl_offline behavior policy (expected format "
                             f"{_FORMAT!r}); write it with jaxrl_offline.local_suite.behavior.save")
        count = sum(1 for name in data.files if name.endswith("_kernel")
                    and name.startswith("hidden"))
        layers = tuple((data[f"hidden{i}_kernel"], data[f"hidden{i}_bias"]) for i in range(count))
        low, high = (float(v) for v in data["log_std_range"])
        return BehaviorPolicy(layers, (data["mean_kernel"], data["mean_bias"]),
                              (data["log_std_kernel"], data["log_std_bias"]), low, high)


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
