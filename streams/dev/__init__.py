"""Local use only: the simulator of upstream traffic, the demo and its report."""
