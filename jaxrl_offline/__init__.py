"""jaxrl_offline: offline reinforcement learning in JAX.

Each algorithm is one module in :mod:`jaxrl_offline.algorithms` exporting ``Config``,
``AgentState``, ``init``, ``update`` and ``act``. Training runs are vmapped over seeds and scanned
in chunks (:mod:`jaxrl_offline.runner.training`); datasets are loaded by
:func:`jaxrl_offline.datasets.data.load_dataset`; policies are evaluated in batched Gymnasium
vector envs (:mod:`jaxrl_offline.runner.evaluation`).
"""

__version__ = "0.1.0"
