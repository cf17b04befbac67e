"""Files and storage: reading dumps, raw/ copies, scratch files, locks, settings, fault points."""
