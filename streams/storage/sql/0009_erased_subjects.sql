-- Subjects erased recently, by subject_key (the salted hash of their phone number or email
-- address): a dead letter of theirs that is redriven later is stored without its personal
-- fields (docs/dead-letters.md). Kept 30 days, longer than any dead letter (the DLQ's time
-- retention), then removed by the TTL.
CREATE TABLE IF NOT EXISTS erased_subjects
(
    subject_key String,
    erased_at   DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY subject_key
TTL toDateTime(erased_at) + INTERVAL 30 DAY;
