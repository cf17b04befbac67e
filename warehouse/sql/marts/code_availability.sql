-- Per publication year and category: how many papers carry the Code badge and how many name a code link.
-- @year: publication year
-- @category: category code
-- @papers: distinct papers
-- @with_badge: papers with the Code badge
-- @with_link: papers whose abstract names a code link
-- @badge_share: with_badge / papers
-- @link_share: with_link / papers
CREATE OR REPLACE VIEW code_availability AS
SELECT
    year(published_on) AS year,
    category,
    count(*) AS papers,
    count(*) FILTER (has_code_badge) AS with_badge,
    count(code_url) AS with_link,
    count(*) FILTER (has_code_badge) / count(*) AS badge_share,
    count(code_url) / count(*) AS link_share
FROM papers
GROUP BY ALL;
