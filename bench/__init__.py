"""Benchmarks of the service against a bare Flask app on the same stack (`bench/run`)."""
