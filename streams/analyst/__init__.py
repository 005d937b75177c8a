"""What analysts read: the analyst store and its refresh, the Parquet snapshots and their
rounds, and the sandbox that answers `contactstream analyst query`."""
