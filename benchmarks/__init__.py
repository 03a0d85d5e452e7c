"""Benchmarks: speed, the papers' tables as data, and the README's generated results section."""
