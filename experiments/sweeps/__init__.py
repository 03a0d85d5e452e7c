"""Declarative sweep files for ``python -m experiments.run --sweep=experiments/sweeps/NAME.py``."""
