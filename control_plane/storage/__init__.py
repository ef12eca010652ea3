"""Object storage: one small interface, a local folder by default and S3/R2 at scale."""
