"""Benchmark scripts, one per paper: `python -m reproduce.bench.<paper>` prints a table and its command."""
