CREATE TABLE IF NOT EXISTS listings (
    dump_id VARCHAR NOT NULL,
    rank BIGINT NOT NULL,
    profile_key VARCHAR NOT NULL,
    paper_id VARCHAR NOT NULL,
    captured_at TIMESTAMPTZ NOT NULL
);
