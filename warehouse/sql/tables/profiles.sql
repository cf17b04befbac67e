CREATE TABLE IF NOT EXISTS profiles (
    profile_key VARCHAR NOT NULL,
    owner_name VARCHAR,
    snapshots BIGINT NOT NULL,
    first_captured_at TIMESTAMPTZ NOT NULL,
    last_captured_at TIMESTAMPTZ NOT NULL,
    latest_dump_id VARCHAR NOT NULL,
    h_index BIGINT,
    papers_reported BIGINT,
    citations BIGINT,
    novelty_pct BIGINT,
    ai_score BIGINT,
    papers_listed BIGINT NOT NULL,
    owner_share DOUBLE
);
