-- Snapshots of each profile in capture order, each with its predecessor.
-- @snapshot_no: 1-based position of the snapshot among its profile's snapshots, by capture time
-- @previous_dump_id: dump of the profile's previous snapshot; null for the first
CREATE OR REPLACE VIEW stg_snapshots AS
SELECT
    s.*,
    row_number() OVER w AS snapshot_no,
    lag(s.dump_id) OVER w AS previous_dump_id
FROM profile_snapshots AS s
WINDOW w AS (PARTITION BY s.profile_key ORDER BY s.captured_at, s.dump_id);
