//! A bucket's lifecycle configuration: validated as S3 validates it, stored with the bucket.

use vmgw_lifecycle::{DAY_MS, ErrorKind, LifecycleError, Rule, validate};

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};
use crate::meta::{ConfigKind, WriteOp};

impl From<LifecycleError> for ObjectError {
    fn from(e: LifecycleError) -> Self {
        let message = e.to_string();
        match e.kind() {
            ErrorKind::MalformedXml => Self::MalformedXmlDetail(message),
            ErrorKind::InvalidArgument => Self::InvalidArgument(message),
            ErrorKind::InvalidRequest => Self::InvalidRequest(message),
        }
    }
}

impl ObjectService {
    /// Replaces the bucket's lifecycle configuration.
    pub async fn put_lifecycle(&self, bucket: &str, rules: Vec<Rule>) -> ObjectResult<()> {
        // Dates are calendar dates: midnight is checked against real days even when
        // `day_seconds` shortens the days that rules count.
        validate(&rules, DAY_MS)?;
        let record = self.bucket(bucket)?;
        let value = rmp_serde::to_vec_named(&rules)
            .map_err(|e| ObjectError::Internal(format!("encoding lifecycle rules: {e}")))?;
        self.meta
            .apply(WriteOp::SetBucketConfig {
                bucket: record.name,
                bucket_id: record.id,
                kind: ConfigKind::Lifecycle,
                value: Some(value),
            })
            .await?;
        Ok(())
    }

    /// The bucket's lifecycle rules; `NoSuchLifecycleConfiguration` when it has none.
    pub fn lifecycle(&self, bucket: &str) -> ObjectResult<Vec<Rule>> {
        let record = self.bucket(bucket)?;
        let raw = self
            .meta
            .bucket_config(record.id, ConfigKind::Lifecycle)?
            .ok_or(ObjectError::NoSuchLifecycleConfiguration)?;
        rmp_serde::from_slice(&raw)
            .map_err(|e| ObjectError::Internal(format!("stored lifecycle rules: {e}")))
    }

    pub async fn delete_lifecycle(&self, bucket: &str) -> ObjectResult<()> {
        let record = self.bucket(bucket)?;
        self.meta
            .apply(WriteOp::SetBucketConfig {
                bucket: record.name,
                bucket_id: record.id,
                kind: ConfigKind::Lifecycle,
                value: None,
            })
            .await?;
        Ok(())
    }
}
