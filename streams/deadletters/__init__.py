"""Dead letters: the writer of the ingestion path, reading and redriving them, and the watch on
letters nobody handled (docs/dead-letters.md)."""
