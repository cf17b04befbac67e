-- `report`: a profile's papers per publication year with the Code badge and a code link, with one
-- of them, with neither
SELECT year,
       count(*) FILTER (has_code_badge AND has_code_link) AS both,
       count(*) FILTER (has_code_badge <> has_code_link) AS one,
       count(*) FILTER (NOT has_code_badge AND NOT has_code_link) AS neither
FROM (SELECT year, coalesce(has_code_badge, false) AS has_code_badge, has_code_link
      FROM staging.stg_profile_papers WHERE profile_key = $profile_key AND year IS NOT NULL)
GROUP BY year
ORDER BY year
