"""Benchmarks: scripts that print tables. Never tests, never asserting a time."""
