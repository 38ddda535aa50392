"""`s3sync sync`: filled in by the sync engine."""
