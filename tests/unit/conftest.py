"""Fixtures of the unit tests: none is shared by two modules yet, so each module keeps its own."""
