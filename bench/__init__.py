"""Benchmarks: `python -m bench.run` prints our figures beside a raw-PostgreSQL baseline."""
