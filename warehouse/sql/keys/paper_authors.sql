ALTER TABLE paper_authors ADD PRIMARY KEY (paper_id, position);
