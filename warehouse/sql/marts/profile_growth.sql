-- Per profile and snapshot: the header metrics and their change since the previous snapshot.
-- @profile_key: profile
-- @snapshot_no: 1-based snapshot number in capture order
-- @dump_id: dump of the snapshot
-- @captured_at: capture time, UTC
-- @h_index: h-index at capture
-- @citations: citations at capture
-- @papers_reported: papers the page reported
-- @papers_listed: entries of the page loaded into listings (a rejected entry is not)
-- @h_index_change: h-index minus that of the previous snapshot; null for the first
-- @citations_change: citations minus those of the previous snapshot; null for the first
-- @papers_reported_change: papers reported minus those of the previous snapshot; null for the first
-- @days_since_previous: whole days (24 hours each) from the previous capture to this one, whatever the reader's time zone; null for the first
CREATE OR REPLACE VIEW profile_growth AS
SELECT
    o.profile_key, o.snapshot_no, o.dump_id, o.captured_at,
    cur.h_index, cur.citations, cur.papers_reported, cur.papers_listed,
    cur.h_index - prev.h_index AS h_index_change,
    cur.citations - prev.citations AS citations_change,
    cur.papers_reported - prev.papers_reported AS papers_reported_change,
    (epoch_us(cur.captured_at) - epoch_us(prev.captured_at)) // 86400000000 AS days_since_previous
FROM staging.stg_snapshots AS o
JOIN profile_snapshots AS cur ON cur.dump_id = o.dump_id
LEFT JOIN profile_snapshots AS prev ON prev.dump_id = o.previous_dump_id;
