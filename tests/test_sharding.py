"""Seeds sharded over 4 XLA CPU devices train exactly like seeds on one device.

The device count is fixed when JAX starts (``--xla_force_host_platform_device_count``), so the
4-device runs happen in a subprocess that runs this file as a script and writes its final
parameters to an ``.npz``; the test compares them with the same runs in the test process (one
device) or, when the test process itself has several devices, in a 1-device subprocess.
"""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_offline.local_suite import synthetic
from jaxrl_offline.runner import training
from jaxrl_offline.algorithms import bc, td3_bc

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CHUNK, NUM_CHUNKS = 5, 2
# (run name, algorithm, seeds): 4 seeds split evenly over 4 devices; 6 seeds are padded to 8
# (two per device) and TD3+BC also exercises its noise key and delayed actor under sharding.
RUNS = (("bc_4_seeds", bc, (0, 1, 2, 3)), ("td3_bc_6_seeds", td3_bc, (10, 11, 12, 13, 14, 15)))


def make_dataset():
    data = synthetic.bandit_probe(64, seed=0)
    return jax.tree.map(jnp.asarray, data._replace(terminal=np.tile(np.float32([0.0, 1.0]), 32)))


def device_counts(tree):
    """Sorted set of the number of devices each leaf's sharding spans."""
    return sorted({len(leaf.sharding.device_set) for leaf in jax.tree.leaves(tree)})


def run_all():
    """Trains every run of RUNS; returns ({name/leaf: array}, facts about the layouts)."""
    dataset = make_dataset()
    arrays, facts = {}, {"device_count": jax.device_count(), "layouts": {}}
    for seeds in ((0, 1, 2), (0, 1, 2, 3), (0, 1, 2, 3, 4), tuple(range(9))):
        layout = training.make_seed_layout(seeds)
        facts["layouts"][str(len(seeds))] = [len(layout.padded_seeds), layout.mesh.devices.size]
    for name, algo, seeds in RUNS:
        sizes = {f.name: (16, 16) for f in dataclasses.fields(algo.Config)
                 if f.name.endswith("hidden_dims")}
        config = dataclasses.replace(algo.Config(), **sizes, batch_size=8)
        layout = training.make_seed_layout(seeds)
        states, data_keys = training.init_seed_states(algo, config, layout, dataset)
        placed = training.place_dataset(dataset, layout)
        run_chunk = training.make_multi_seed_chunk(algo, config, CHUNK, layout)
        active = training.initial_active(layout)
        facts[name] = {
            "padded_seeds": list(layout.padded_seeds),
            "init_devices": device_counts(states),
            "dataset_replicated": all(leaf.sharding.is_fully_replicated for leaf in placed),
            "seeds_per_shard": sorted(
                {shard.data.shape[0] for leaf in jax.tree.leaves(states.step) for shard in
                 leaf.addressable_shards}
            ),
        }
        for chunk_index in range(NUM_CHUNKS):
            states, metrics, active = run_chunk(states, data_keys, active, chunk_index, placed)
        facts[name]["trained_devices"] = device_counts((states, metrics, active))
        facts[name]["active"] = np.asarray(layout.unpad(active)).tolist()
        # Updates done by the padding seeds (inactive from the start: lax.map skips them).
        facts[name]["padding_steps"] = np.asarray(states.step)[len(seeds):].tolist()
        # Every numeric leaf of the trained states (keys as raw bits) and of the chunk metrics.
        trained = jax.tree.map(
            lambda leaf: jax.random.key_data(leaf)
            if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf,
            layout.unpad((states, metrics)),
        )
        leaves = jax.tree.leaves(trained)
        arrays.update({f"{name}/{index}": np.asarray(leaf) for index, leaf in enumerate(leaves)})
    return arrays, facts


def run_in_subprocess(num_devices, out_dir):
    """``run_all`` in a fresh Python with ``num_devices`` CPU devices; returns its results."""
    flags = [flag for flag in os.environ.get("XLA_FLAGS", "").split()
             if not flag.startswith("--xla_force_host_platform_device_count")]
    flags.append(f"--xla_force_host_platform_device_count={num_devices}")
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(flags),
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    out = pathlib.Path(out_dir) / f"devices_{num_devices}"
    result = subprocess.run([sys.executable, __file__, str(out)], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-5000:]
    with np.load(f"{out}.npz") as saved:
        arrays = dict(saved)
    return arrays, json.loads(pathlib.Path(f"{out}.json").read_text())


def reference_run(tmp_path):
    """The runs on one device: in this process when it has a single device."""
    if jax.device_count() == 1:
        return run_all()
    return run_in_subprocess(1, tmp_path)


def test_sharded_training_equals_single_device(tmp_path):
    # One test, so that pytest-xdist never runs the subprocess twice.
    sharded, sharded_facts = run_in_subprocess(4, tmp_path)
    reference, reference_facts = reference_run(tmp_path)
    check_states_are_sharded_over_four_devices(sharded_facts)
    assert reference_facts["device_count"] == 1
    assert reference_facts["td3_bc_6_seeds"]["padded_seeds"] == list(range(10, 16))
    assert sorted(sharded) == sorted(reference)
    for name in sorted(reference):
        assert sharded[name].shape == reference[name].shape, name
        np.testing.assert_allclose(sharded[name], reference[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def check_states_are_sharded_over_four_devices(facts):
    assert facts["device_count"] == 4
    bc_run, td3_run = facts["bc_4_seeds"], facts["td3_bc_6_seeds"]
    assert bc_run["padded_seeds"] == [0, 1, 2, 3] and bc_run["seeds_per_shard"] == [1]
    # 6 seeds do not divide 4 devices: 2 padding seeds (after the largest seed), 2 per device.
    assert td3_run["padded_seeds"] == [10, 11, 12, 13, 14, 15, 16, 17]
    assert td3_run["seeds_per_shard"] == [2]
    # On CPU devices (seeds in turn) the padding seeds skip every chunk: 6 seeds cost 6, not 8.
    assert td3_run["padding_steps"] == [0, 0]
    for run in (bc_run, td3_run):
        assert run["init_devices"] == [4] and run["trained_devices"] == [4]
        assert run["dataset_replicated"]
        assert all(run["active"])
    # Seed counts -> (padded count, devices used): fewer seeds than devices use fewer devices.
    assert facts["layouts"] == {"3": [3, 3], "4": [4, 4], "5": [8, 4], "9": [12, 4]}


if __name__ == "__main__":  # Run by run_in_subprocess: python test_sharding.py OUT_PREFIX
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_debug_key_reuse", True)
    results, layout_facts = run_all()
    np.savez(f"{sys.argv[1]}.npz", **results)
    pathlib.Path(f"{sys.argv[1]}.json").write_text(json.dumps(layout_facts))
