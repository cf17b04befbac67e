-- `status`: the rows of the main tables
SELECT (SELECT count(*) FROM profiles) AS profiles, (SELECT count(*) FROM profile_snapshots) AS snapshots,
       (SELECT count(*) FROM papers) AS papers, (SELECT count(*) FROM authors) AS authors,
       (SELECT count(*) FROM listings) AS listings, (SELECT count(*) FROM rejects) AS rejects
