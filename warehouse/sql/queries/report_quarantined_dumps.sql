-- `report`: quarantined dumps with their reasons, by file
SELECT source_path, reason FROM dumps WHERE status = 'quarantined' ORDER BY source_path
