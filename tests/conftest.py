"""Shared pytest fixtures and JAX settings for the whole test suite."""

import os

# XLA:CPU compilation dominates the run time of these tests (tiny networks, few steps), and
# LLVM's optimisation passes are most of it: these flags make compiles ~3x faster. They must be
# in the environment before JAX creates its CPU backend; subprocesses started by tests inherit them.
_FAST_COMPILE_FLAGS = (
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
)
_xla_flags = os.environ.get("XLA_FLAGS", "").split()
_xla_flags += [
    flag for flag in _FAST_COMPILE_FLAGS
    if not any(existing.startswith(flag.split("=")[0]) for existing in _xla_flags)
]
os.environ["XLA_FLAGS"] = " ".join(_xla_flags)

import jax  # noqa: E402
import pytest  # noqa: E402
from absl import flags  # noqa: E402

# Style §28: silent broadcasting between arrays of different rank is an error in tests, and so is
# using a PRNG key twice (typed keys from ``jax.random.key`` are tracked).
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_debug_key_reuse", True)


@pytest.fixture(autouse=True)
def _unparsed_absl_flags():
    """Every test starts from the runner's default flags: a test that parses flags without
    unparsing them (``cli.parse_args``) would otherwise leak its values (e.g. ``--algos``) into
    whichever test runs next in the same worker."""
    yield
    if flags.FLAGS.is_parsed():
        flags.FLAGS.unparse_flags()


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    """An empty Minari datasets root for this test (``MINARI_DATASETS_PATH`` points at it)."""
    root = tmp_path / "minari_datasets"
    root.mkdir()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


@pytest.fixture
def tiny_invpend_dataset(minari_root):
    """Id of a 2,000-step InvertedPendulum-v5 'medium' Minari dataset created in ``minari_root``."""
    from jaxrl_offline.local_suite.synthetic import make_inverted_pendulum_dataset

    dataset_id = "test/invpend/medium-v0"
    make_inverted_pendulum_dataset(dataset_id, kind="medium", num_transitions=2000, seed=0,
                                   num_envs=4)
    return dataset_id
