"""The `contactstream` command line: the root group (root.py) and one module per command group."""
