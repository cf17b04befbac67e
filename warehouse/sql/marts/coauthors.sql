-- Pairs of visible co-authors with the number of papers they share, per profile and overall.
-- @profile_key: profile whose listed papers are counted; null for all papers of the warehouse
-- @author_id_a: first author of the pair (the smaller author_id)
-- @author_a: name of the first author
-- @author_id_b: second author of the pair
-- @author_b: name of the second author
-- @shared_papers: papers on which both appear among the visible authors
CREATE OR REPLACE VIEW coauthors AS
WITH pairs AS (
    SELECT a.paper_id, a.author_id AS author_id_a, b.author_id AS author_id_b
    FROM paper_authors AS a
    JOIN paper_authors AS b ON a.paper_id = b.paper_id AND a.author_id < b.author_id
), scoped AS (
    SELECT DISTINCT l.profile_key, pairs.* FROM pairs JOIN listings AS l USING (paper_id)
    UNION ALL
    SELECT NULL, pairs.* FROM pairs
)
SELECT s.profile_key, s.author_id_a, a.name AS author_a, s.author_id_b, b.name AS author_b,
       count(DISTINCT s.paper_id) AS shared_papers
FROM scoped AS s
JOIN authors AS a ON a.author_id = s.author_id_a
JOIN authors AS b ON b.author_id = s.author_id_b
GROUP BY ALL;
