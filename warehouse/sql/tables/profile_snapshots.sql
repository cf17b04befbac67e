CREATE TABLE IF NOT EXISTS profile_snapshots (
    dump_id VARCHAR NOT NULL,
    profile_key VARCHAR NOT NULL,
    captured_at TIMESTAMPTZ NOT NULL,
    h_index BIGINT,
    papers_reported BIGINT,
    papers_heading BIGINT,
    citations BIGINT,
    novelty_pct BIGINT,
    ai_score BIGINT,
    papers_listed BIGINT NOT NULL,
    owner_name VARCHAR,
    owner_share DOUBLE
);
