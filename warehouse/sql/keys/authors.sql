ALTER TABLE authors ADD PRIMARY KEY (author_id);
