-- `report`: the profiles with the most citations, each with its last named owner, its latest
-- snapshot's listed papers and the change of its metrics since the capture before
SELECT p.*, coalesce(n.name, p.owner_name) AS name, g.citations_change, g.h_index_change, s.papers_listed
FROM profiles AS p
LEFT JOIN (SELECT profile_key, arg_max(owner_name, captured_at) AS name FROM profile_snapshots
           WHERE owner_name IS NOT NULL GROUP BY 1) AS n USING (profile_key)
LEFT JOIN profile_growth AS g ON g.profile_key = p.profile_key AND g.dump_id = p.latest_dump_id
LEFT JOIN profile_snapshots AS s ON s.dump_id = p.latest_dump_id
ORDER BY p.citations DESC NULLS LAST, p.profile_key
LIMIT $limit
