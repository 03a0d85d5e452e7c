"""Reporting.

Reporting: run records (schema, digests, statistics over seeds, provenance), aggregate statistics
across datasets, learning-curve plots and number formatting. Reads records, never runs anything;
the runner writes records through it. Modules: :mod:`~jaxrl_offline.reporting.aggregate`,
:mod:`~jaxrl_offline.reporting.formatting`, :mod:`~jaxrl_offline.reporting.plots`,
:mod:`~jaxrl_offline.reporting.provenance`,
:mod:`~jaxrl_offline.reporting.results`.
"""
