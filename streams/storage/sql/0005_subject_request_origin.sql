-- Which message of the subject-requests topic a request came from (its offset; the topic has one
-- partition). The same message delivered again (a worker restarted before it committed) gets its
-- recorded answer again; another message with an executed request's id is a replay: refused.
ALTER TABLE subject_request_log ADD COLUMN IF NOT EXISTS source_offset Int64 DEFAULT -1;
