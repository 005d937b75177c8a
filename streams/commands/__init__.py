"""Command groups of the CLI that talk to a running pipeline (retention, subject requests)."""
