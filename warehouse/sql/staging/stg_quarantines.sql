-- Quarantined dumps, each with the reading that has replaced it since, if one has: a dump loaded
-- (or partial) in a later run from the same file, or with the same profile and capture time (the
-- file fixed as its reason says, say).
-- @dump_id: the quarantined dump
-- @source_path: its file
-- @reason: why it was quarantined, and what to do
-- @ingested_at: when it was read, UTC
-- @replaced_by: the later dump that replaced it (the first, by ingestion); null while none has
-- @replaced_by_path: that dump's file
CREATE OR REPLACE VIEW staging.stg_quarantines AS
SELECT
    q.dump_id,
    q.source_path,
    q.reason,
    q.ingested_at,
    r.dump_id AS replaced_by,
    r.source_path AS replaced_by_path
FROM main.dumps AS q
LEFT JOIN LATERAL (
    SELECT d.dump_id, d.source_path
    FROM main.dumps AS d
    WHERE d.status <> 'quarantined'
      AND d.ingested_at > q.ingested_at
      AND (d.source_path = q.source_path OR (d.profile_key = q.profile_key AND d.captured_at = q.captured_at))
    ORDER BY d.ingested_at, d.dump_id
    LIMIT 1
) AS r ON true
WHERE q.status = 'quarantined';
