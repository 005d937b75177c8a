"""Faust agents: each module wires one concern onto the app around pure functions."""
