"""Algorithm registry.

Every algorithm is one module exporting:

* ``NAME``: its registry name;
* ``Config``: a frozen dataclass of hyperparameters with paper defaults (``batch_size`` included);
* ``AgentState``: a ``flax.struct.PyTreeNode`` with one ``TrainState`` per optimized network, a
  ``key`` and a ``step``;
* ``init(config, key, example_obs, example_action) -> AgentState`` for one seed, with
  ``example_obs`` [obs_dim] and ``example_action`` [action_dim];
* ``update(config, state, batch) -> (state, metrics)``: one gradient step on a batch
  ``Transition`` of shape [batch_size, ...]; pure, jittable, vmappable over seeds;
* ``act(config, state, obs, key) -> action``: evaluation actions, obs [B, obs_dim] ->
  [B, action_dim] in [-1, 1];
* ``get_config()``: an ``ml_collections.ConfigDict`` of the defaults, for the command line.

Optional: ``prepare_dataset(config, dataset) -> dataset``, applied by the runner after loading
(ReBRAC adds the dataset's next actions; the result must stay a pytree of [N, ...] arrays); a
``Config.dataset_transforms(transforms) -> transforms`` method, applied by the runner's loader to
the ``TRANSFORM_TABLE`` entry before loading (``data.load_dataset(config=)``; CQL's
``return_range_rewards``).

Adding an algorithm means adding one module and one entry in ``ALGORITHMS``.
"""

from __future__ import annotations

from types import ModuleType

from jaxrl_offline.algorithms import (aca, bc, cql, idql, iql, misa, rebrac, sac, sac_ml, sfbc,
                                     td3_bc, td3_rkl)

ALGORITHMS: dict[str, ModuleType] = {
    bc.NAME: bc,
    td3_bc.NAME: td3_bc,
    iql.NAME: iql,
    cql.NAME: cql,
    sac.NAME: sac,
    td3_rkl.NAME: td3_rkl,
    misa.NAME: misa,
    rebrac.NAME: rebrac,
    idql.NAME: idql,
    sfbc.NAME: sfbc,
    aca.NAME: aca,
    sac_ml.NAME: sac_ml,
}


def get_algorithm(name: str) -> ModuleType:
    """Returns the algorithm module registered as ``name``, with a helpful error otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(
            f"Unknown algorithm {name!r}. Registered algorithms: {', '.join(sorted(ALGORITHMS))}. "
            "To add one, create jaxrl_offline/algorithms/<name>.py with Config, AgentState, init, "
            "update and act, and register it in jaxrl_offline/algorithms/__init__.py."
        ) from None
