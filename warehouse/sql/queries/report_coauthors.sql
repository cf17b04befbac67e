-- `report`: the owner's top co-authors on a profile's papers (the owner by author_id), or the top
-- pairs when the owner is unnamed ($owner_id NULL)
SELECT CASE WHEN author_id_a = $owner_id THEN author_b
            WHEN author_id_b = $owner_id THEN author_a
            ELSE author_a || ' & ' || author_b END AS who,
       shared_papers
FROM profile_coauthors
WHERE profile_key = $profile_key AND ($owner_id IS NULL OR $owner_id IN (author_id_a, author_id_b))
ORDER BY shared_papers DESC, who
LIMIT 8
