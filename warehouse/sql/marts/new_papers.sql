-- Per snapshot after a profile's first: the papers it lists that its previous snapshot did not
-- (change = 'new') and those the previous snapshot listed that it does not (change = 'dropped').
-- A snapshot with rejected entries (status partial) may have listed a missing paper in one of them:
-- it drops none, and the snapshot after it counts as new only papers no earlier snapshot listed.
-- @profile_key: profile
-- @dump_id: the snapshot
-- @captured_at: capture time of the snapshot, UTC
-- @previous_dump_id: the profile's previous snapshot
-- @paper_id: paper that appeared or dropped off
-- @title: title of the paper
-- @change: new or dropped
CREATE OR REPLACE VIEW new_papers AS
WITH snapshots AS (
    SELECT s.*, d.entries_rejected > 0 AS partial
    FROM staging.stg_snapshots AS s JOIN dumps AS d USING (dump_id)
), pairs AS (
    SELECT cur.profile_key, cur.dump_id, cur.captured_at, cur.previous_dump_id, cur.partial,
           prev.partial AS previous_partial, prev.snapshot_no AS previous_no
    FROM snapshots AS cur JOIN snapshots AS prev ON prev.dump_id = cur.previous_dump_id
), changes AS (
    SELECT p.profile_key, p.dump_id, p.captured_at, p.previous_dump_id, cur.paper_id, 'new' AS change
    FROM pairs AS p JOIN listings AS cur ON cur.dump_id = p.dump_id
    WHERE cur.paper_id NOT IN (SELECT paper_id FROM listings WHERE dump_id = p.previous_dump_id)
      AND NOT (p.previous_partial AND cur.paper_id IN (
          SELECT l.paper_id FROM listings AS l JOIN snapshots AS s USING (dump_id)
          WHERE s.profile_key = p.profile_key AND s.snapshot_no < p.previous_no))
    UNION ALL
    SELECT p.profile_key, p.dump_id, p.captured_at, p.previous_dump_id, prev.paper_id, 'dropped'
    FROM pairs AS p JOIN listings AS prev ON prev.dump_id = p.previous_dump_id
    WHERE NOT p.partial
      AND prev.paper_id NOT IN (SELECT paper_id FROM listings WHERE dump_id = p.dump_id)
)
SELECT c.profile_key, c.dump_id, c.captured_at, c.previous_dump_id, c.paper_id, papers.title, c.change
FROM changes AS c JOIN papers USING (paper_id);
