-- Every accepted lifecycle event, one row each. Personal columns are Nullable so that redaction
-- can set them to NULL in place. ORDER BY contact_id first: redaction (WHERE contact_id IN ...)
-- and per-contact reads touch few granules. ReplacingMergeTree collapses an event delivered twice
-- (upstream duplicate, or a batch re-read after a crash with different batch boundaries);
-- insert_deduplication_token catches the exact retry of a batch before it is stored at all.
-- Column TTL on personal columns is only a backstop for the retention agent (mechanism: tombstones).
CREATE TABLE IF NOT EXISTS contact_events
(
    event_id            String,
    contact_id          String,
    channel             LowCardinality(String),
    event_type          LowCardinality(String),
    occurred_at         DateTime64(3, 'UTC'),
    schema_version      UInt16,
    source              LowCardinality(String),
    advisor_id          Nullable(String),
    queue               Nullable(String),
    reason              Nullable(String),
    arrived_at          Nullable(DateTime64(3, 'UTC')),
    handling_started_at Nullable(DateTime64(3, 'UTC')),
    handled_at          Nullable(DateTime64(3, 'UTC')),
    phone               Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    email               Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    subject             Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    content             Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    form_fields         Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    recording_ref       Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    subject_key         Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    kafka_offset        UInt64,
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_phone phone TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_email lower(email) TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_subject_key subject_key TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (contact_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000, old_parts_lifetime = 60;
