"""Sinks: where validated rows go (ClickHouse)."""
