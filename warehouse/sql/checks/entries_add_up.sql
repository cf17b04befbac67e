-- Every dump accounts for each entry found: loaded or rejected.
SELECT dump_id, entries_found, entries_loaded, entries_rejected
FROM checked_dumps
WHERE entries_found <> entries_loaded + entries_rejected;
