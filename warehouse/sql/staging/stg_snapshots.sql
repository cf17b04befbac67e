-- Snapshots of each profile in capture order, each with its predecessor.
-- @dump_id: dump of the snapshot
-- @profile_key: profile of the snapshot
-- @captured_at: capture time of the snapshot, UTC
-- @snapshot_no: 1-based position of the snapshot among its profile's snapshots, by capture time
-- @previous_dump_id: dump of the profile's previous snapshot; null for the first
CREATE OR REPLACE VIEW staging.stg_snapshots AS
SELECT
    dump_id,
    profile_key,
    captured_at,
    row_number() OVER w AS snapshot_no,
    lag(dump_id) OVER w AS previous_dump_id
FROM main.profile_snapshots
WINDOW w AS (PARTITION BY profile_key ORDER BY captured_at, dump_id);
