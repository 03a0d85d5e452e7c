"""Tests for jaxrl_offline.runner.checkpoints: round trip (typed keys, shardings), corruption,
mismatch.
"""

import shutil
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_offline.runner import checkpoints, training


class Carry(NamedTuple):
    params: dict
    keys: jax.Array  # typed PRNG keys
    active: jax.Array


def make_carry(offset: float = 0.0) -> Carry:
    layout = training.make_seed_layout([0, 1])
    carry = Carry(params={"w": jnp.arange(6.0).reshape(2, 3) + offset,
                          "step": jnp.array([3, 3], jnp.int32)},
                  keys=jax.random.split(jax.random.key(0), 2), active=jnp.array([True, False]))
    return jax.device_put(carry, layout.seed_sharding)


def assert_carry_equal(actual: Carry, expected: Carry):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    np.testing.assert_array_equal(actual.params["w"], expected.params["w"])
    np.testing.assert_array_equal(actual.params["step"], expected.params["step"])
    np.testing.assert_array_equal(actual.active, expected.active)
    assert jax.dtypes.issubdtype(actual.keys.dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(jax.random.key_data(actual.keys),
                                  jax.random.key_data(expected.keys))


def test_roundtrip_keeps_latest_only(tmp_path):
    with checkpoints.RunCheckpointer(tmp_path / "ckpt", "hash") as ckpt:
        assert ckpt.latest_step() is None
        ckpt.save(1, make_carry(0.0), {"record": {"scores": [1.0, float("nan")]}})
        ckpt.save(2, make_carry(10.0), {"record": {"scores": [2.0]}})
        assert ckpt.latest_step() == 2
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["2"]
    template = make_carry(-1.0)
    with checkpoints.RunCheckpointer(tmp_path / "ckpt", "hash") as ckpt:
        step, carry, meta = ckpt.restore(template)
    assert step == 2 and meta == {"record": {"scores": [2.0]}}
    assert_carry_equal(carry, make_carry(10.0))
    assert carry.params["w"].sharding == template.params["w"].sharding


def test_nan_metadata_becomes_null(tmp_path):
    with checkpoints.RunCheckpointer(tmp_path, "h") as ckpt:
        ckpt.save(1, make_carry(), {"scores": [1.0, float("nan")]})
        assert ckpt.restore(make_carry())[2] == {"scores": [1.0, None]}


def test_other_settings_are_refused(tmp_path):
    with checkpoints.RunCheckpointer(tmp_path, "hash-a") as ckpt:
        ckpt.save(1, make_carry(), {})
    with checkpoints.RunCheckpointer(tmp_path, "hash-b") as ckpt:
        with pytest.raises(checkpoints.CheckpointError, match="different settings"):
            ckpt.restore(make_carry())


def test_corrupt_metadata_is_reported(tmp_path):
    with checkpoints.RunCheckpointer(tmp_path, "h") as ckpt:
        ckpt.save(4, make_carry(), {"record": {}})
    files = [p for p in (tmp_path / "4" / "meta").rglob("*") if p.is_file()]
    assert files
    for path in files:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # torn write
    with checkpoints.RunCheckpointer(tmp_path, "h") as ckpt:
        with pytest.raises(checkpoints.CheckpointError, match="unreadable metadata") as info:
            ckpt.restore(make_carry())
    assert str(tmp_path / "4") in str(info.value) and "--redo=" in str(info.value)


def test_arrays_not_matching_their_digest_are_reported(tmp_path):
    """Arrays swapped under the metadata (valid orbax data, wrong values) fail the digest check.

    (Garbled array bytes also raise CheckpointError, but orbax then leaves tensorstore callbacks
    that print "Exception ignored" at a random later time, which would make a test flaky.)
    """
    for name, offset in (("a", 0.0), ("b", 10.0)):
        with checkpoints.RunCheckpointer(tmp_path / name, "h") as ckpt:
            ckpt.save(1, make_carry(offset), {})
    shutil.rmtree(tmp_path / "a" / "1" / "arrays")
    shutil.copytree(tmp_path / "b" / "1" / "arrays", tmp_path / "a" / "1" / "arrays")
    with checkpoints.RunCheckpointer(tmp_path / "a", "h") as ckpt:
        with pytest.raises(checkpoints.CheckpointError, match="do not match the digest") as info:
            ckpt.restore(make_carry())
    assert str(tmp_path / "a" / "1") in str(info.value) and "--redo=" in str(info.value)


def test_digest_detects_silent_change():
    arrays = checkpoints.flatten_arrays(make_carry())
    changed = dict(arrays, **{".params['w']": arrays[".params['w']"].at[0, 0].add(1e-6)})
    again = checkpoints.flatten_arrays(make_carry())
    assert checkpoints.digest(arrays) == checkpoints.digest(again)
    assert checkpoints.digest(arrays) != checkpoints.digest(changed)


def test_uncommitted_checkpoint_is_ignored(tmp_path):
    """A save killed half-way leaves only an orbax temp folder, which never counts as a step."""
    with checkpoints.RunCheckpointer(tmp_path, "h") as ckpt:
        ckpt.save(1, make_carry(), {})
    (tmp_path / "2.orbax-checkpoint-tmp-123").mkdir()
    with checkpoints.RunCheckpointer(tmp_path, "h") as ckpt:
        assert ckpt.latest_step() == 1
