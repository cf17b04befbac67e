-- Each pair of visible co-authors of a paper, the smaller author_id first.
-- @paper_id: paper both authors appear on
-- @author_id_a: first author of the pair (the smaller author_id)
-- @author_id_b: second author of the pair
CREATE OR REPLACE VIEW staging.stg_coauthor_pairs AS
SELECT a.paper_id, a.author_id AS author_id_a, b.author_id AS author_id_b
FROM main.paper_authors AS a
JOIN main.paper_authors AS b ON a.paper_id = b.paper_id AND a.author_id < b.author_id;
