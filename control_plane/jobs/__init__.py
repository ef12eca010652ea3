"""Background jobs: a huey queue (SQLite embedded, Redis at scale) whose state lives in our DB."""
