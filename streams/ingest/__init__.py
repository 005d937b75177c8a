"""The hot path: raw records read in batches, validated and normalized into rows, stored in
ClickHouse; what cannot be stored goes to the dead letters (streams.deadletters)."""
