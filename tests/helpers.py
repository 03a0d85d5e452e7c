"""Helpers shared by several test modules."""

import flax
import jax
import numpy as np


def zeroed(params, **overrides):
    """All parameters 0, except ``overrides`` given by '/'-joined path, e.g. ``Dense_0/bias``."""
    flat = flax.traverse_util.flatten_dict(params["params"], sep="/")
    flat = {path: np.zeros(leaf.shape, np.float32) for path, leaf in flat.items()}
    for path, value in overrides.items():
        assert path in flat, f"{path} not in {sorted(flat)}"
        flat[path] = np.broadcast_to(np.asarray(value, np.float32), flat[path].shape).copy()
    return {"params": flax.traverse_util.unflatten_dict(flat, sep="/")}


def without_keys(tree):
    """Typed PRNG keys replaced by their raw bits, so trees can be compared numerically."""

    def convert(leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(leaf)
        return leaf

    return jax.tree.map(convert, tree)
