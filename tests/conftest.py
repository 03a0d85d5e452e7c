"""Shared pytest fixtures."""

import pytest


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
    from jaxrl_offline.synthetic import make_inverted_pendulum_dataset

    dataset_id = "test/invpend/medium-v0"
    make_inverted_pendulum_dataset(dataset_id, kind="medium", num_transitions=2000, seed=0,
                                   num_envs=4)
    return dataset_id
