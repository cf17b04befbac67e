-- Per snapshot after a profile's first: the papers it lists that its previous snapshot did not
-- (change = 'new') and those the previous snapshot listed that it does not (change = 'dropped').
-- @profile_key: profile
-- @dump_id: the snapshot
-- @captured_at: capture time of the snapshot, UTC
-- @previous_dump_id: the profile's previous snapshot
-- @paper_id: paper that appeared or dropped off
-- @title: title of the paper
-- @change: new or dropped
CREATE OR REPLACE VIEW new_papers AS
WITH pairs AS (
    SELECT profile_key, dump_id, captured_at, previous_dump_id FROM staging.stg_snapshots WHERE previous_dump_id IS NOT NULL
), changes AS (
    SELECT p.*, cur.paper_id, 'new' AS change
    FROM pairs AS p JOIN listings AS cur ON cur.dump_id = p.dump_id
    WHERE cur.paper_id NOT IN (SELECT paper_id FROM listings WHERE dump_id = p.previous_dump_id)
    UNION ALL
    SELECT p.*, prev.paper_id, 'dropped'
    FROM pairs AS p JOIN listings AS prev ON prev.dump_id = p.previous_dump_id
    WHERE prev.paper_id NOT IN (SELECT paper_id FROM listings WHERE dump_id = p.dump_id)
)
SELECT c.profile_key, c.dump_id, c.captured_at, c.previous_dump_id, c.paper_id, papers.title, c.change
FROM changes AS c JOIN papers USING (paper_id);
