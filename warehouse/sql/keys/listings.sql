ALTER TABLE listings ADD PRIMARY KEY (dump_id, rank);
