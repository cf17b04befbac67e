ALTER TABLE profiles ADD PRIMARY KEY (profile_key);
