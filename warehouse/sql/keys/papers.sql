ALTER TABLE papers ADD PRIMARY KEY (paper_id);
