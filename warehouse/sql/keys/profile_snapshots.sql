ALTER TABLE profile_snapshots ADD PRIMARY KEY (dump_id);
