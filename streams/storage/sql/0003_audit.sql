-- Audit trails for the DPO (privacy rule P7). No personal data: contact ids, reasons, times.
CREATE TABLE IF NOT EXISTS redaction_log
(
    contact_id   String,
    channel      LowCardinality(String),
    reason       LowCardinality(String),
    request_id   Nullable(String),
    due_at       Nullable(DateTime64(3, 'UTC')),
    redacted_at  DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (contact_id, redacted_at);

CREATE TABLE IF NOT EXISTS subject_request_log
(
    request_id   String,
    kind         LowCardinality(String),
    status       LowCardinality(String),
    contacts     UInt32,
    verified_by  String,
    requested_at DateTime64(3, 'UTC'),
    completed_at DateTime64(3, 'UTC'),
    detail       String
)
ENGINE = MergeTree
ORDER BY (requested_at, request_id);

CREATE TABLE IF NOT EXISTS retention_runs
(
    run_at           DateTime64(3, 'UTC'),
    retention_months UInt16,
    due_found        UInt32,
    tombstones       UInt32,
    duration_ms      UInt32
)
ENGINE = MergeTree
ORDER BY run_at;
