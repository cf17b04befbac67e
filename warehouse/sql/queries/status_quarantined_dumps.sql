-- `status`: quarantined dumps with their reasons, the latest ingested first
SELECT source_path, reason FROM dumps WHERE status = 'quarantined' ORDER BY ingested_at DESC
