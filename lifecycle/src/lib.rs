//! S3 lifecycle rules.
