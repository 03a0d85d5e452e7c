"""Command-line experiments: the runner, per-dataset overrides, sweeps, tables and plots."""
