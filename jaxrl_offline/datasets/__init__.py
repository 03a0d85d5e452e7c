"""Data.

Data: loading datasets (Minari ids, D4RL hdf5 files, mixtures) into a ``Transition`` and a
``DatasetInfo``, the two file formats (reading, and writing D4RL), the Minari writer (atomic
dataset creation), the raw-array checks and the declarative transforms. Imports only the core
modules. Modules: :mod:`~jaxrl_offline.datasets.d4rl_format`, :mod:`~jaxrl_offline.datasets.data`,
:mod:`~jaxrl_offline.datasets.dataset_spec`, :mod:`~jaxrl_offline.datasets.minari_format`,
:mod:`~jaxrl_offline.datasets.minari_writer`, :mod:`~jaxrl_offline.datasets.raw_data`,
:mod:`~jaxrl_offline.datasets.transforms`.
"""
