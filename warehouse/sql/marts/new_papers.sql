-- Per snapshot after a profile's first: the papers it lists that its previous snapshot did not
-- (change = 'new') and those the previous snapshot listed that it does not (change = 'dropped'), or
-- 'beyond_listing' when the snapshot lists the site's most, 50 entries, of a profile that reports more
-- papers or no count: the paper may have been pushed past the listing's end, not taken off the profile.
-- A snapshot with rejected entries may have listed a missing paper in one of them: it drops none,
-- and the snapshots after it compare with every snapshot since the last one without rejects.
-- @profile_key: profile
-- @dump_id: the snapshot
-- @captured_at: capture time of the snapshot, UTC
-- @previous_dump_id: the profile's previous snapshot
-- @paper_id: paper that appeared or dropped off
-- @title: title of the paper
-- @change: new, dropped, or beyond_listing (possibly still on the profile, past the 50 entries listed)
CREATE OR REPLACE VIEW new_papers AS
WITH snapshots AS (
    SELECT s.*, d.entries_rejected > 0 AS partial,
           d.entries_found >= 50 AND coalesce(p.papers_reported > d.entries_found, true) AS full_listing
    FROM staging.stg_snapshots AS s JOIN dumps AS d USING (dump_id) JOIN main.profile_snapshots AS p USING (dump_id)
), compared AS (
    -- each snapshot after the first, and the first of the snapshots it compares with
    SELECT *, coalesce(max(CASE WHEN NOT partial THEN snapshot_no END) OVER (
        PARTITION BY profile_key ORDER BY snapshot_no ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 1) AS since_no
    FROM snapshots
), seen AS (
    SELECT DISTINCT c.dump_id, l.paper_id
    FROM compared AS c
    JOIN snapshots AS s ON s.profile_key = c.profile_key AND s.snapshot_no >= c.since_no AND s.snapshot_no < c.snapshot_no
    JOIN listings AS l ON l.dump_id = s.dump_id
), changes AS (
    SELECT c.profile_key, c.dump_id, c.captured_at, c.previous_dump_id, l.paper_id, 'new' AS change
    FROM compared AS c JOIN listings AS l ON l.dump_id = c.dump_id
    WHERE c.snapshot_no > 1
      AND NOT EXISTS (SELECT 1 FROM seen WHERE seen.dump_id = c.dump_id AND seen.paper_id = l.paper_id)
    UNION ALL
    SELECT c.profile_key, c.dump_id, c.captured_at, c.previous_dump_id, seen.paper_id,
           CASE WHEN c.full_listing THEN 'beyond_listing' ELSE 'dropped' END
    FROM compared AS c JOIN seen ON seen.dump_id = c.dump_id
    WHERE NOT c.partial
      AND NOT EXISTS (SELECT 1 FROM listings AS l WHERE l.dump_id = c.dump_id AND l.paper_id = seen.paper_id)
)
SELECT c.profile_key, c.dump_id, c.captured_at, c.previous_dump_id, c.paper_id, papers.title, c.change
FROM changes AS c JOIN papers USING (paper_id);
