"""Benchmarks: `python -m bench.run [--quick]` measures the service as its users run it,
beside raw PostgreSQL doing the same work."""
