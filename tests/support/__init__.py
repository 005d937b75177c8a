"""What the tests share: data sets, builders, harnesses and child-process scripts (no tests)."""
