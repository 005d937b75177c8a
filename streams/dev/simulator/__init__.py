"""Synthetic but realistic contact traffic, for `contactstream simulate`, the demo and tests."""
