-- Per profile: pairs of visible co-authors with the number of the profile's listed papers they share (over all papers: coauthors).
-- @profile_key: profile whose listed papers are counted
-- @author_id_a: first author of the pair (the smaller author_id)
-- @author_a: name of the first author
-- @author_id_b: second author of the pair
-- @author_b: name of the second author
-- @shared_papers: papers the profile has listed on which both appear among the visible authors
CREATE OR REPLACE VIEW profile_coauthors AS
SELECT l.profile_key, s.author_id_a, a.name AS author_a, s.author_id_b, b.name AS author_b,
       count(DISTINCT s.paper_id) AS shared_papers
FROM staging.stg_coauthor_pairs AS s
JOIN (SELECT DISTINCT profile_key, paper_id FROM listings) AS l USING (paper_id)
JOIN authors AS a ON a.author_id = s.author_id_a
JOIN authors AS b ON b.author_id = s.author_id_b
GROUP BY ALL;
