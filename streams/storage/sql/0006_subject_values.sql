-- Personal values a subject request needs in a statement (the identifier looked up, a corrected
-- phone or email and its subject key) pass through this in-memory table, never through SQL
-- text: ClickHouse keeps a mutation's text in system.mutations and mutation_N.txt, and a server
-- writes a query's substituted parameters to query_log. Rows are inserted as data under a
-- one-off key, read with joinGet and deleted at once; persistent = 0 keeps them off the disk.
CREATE TABLE IF NOT EXISTS subject_values
(
    key         String,
    value       String,
    subject_key String
)
ENGINE = Join(ANY, LEFT, key)
SETTINGS persistent = 0;
