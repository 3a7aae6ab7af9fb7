"""Benchmarks: each prints a table and a last line with its key ratio."""
