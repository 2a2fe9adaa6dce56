"""Benchmarks: ``python -m bench.feed`` seeds PostgreSQL and load-tests the home feed."""
