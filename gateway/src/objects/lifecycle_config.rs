//! A bucket's lifecycle configuration: validated as S3 validates it, stored with the bucket.

use std::sync::Arc;

use vmgw_lifecycle::{Action, DAY_MS, ErrorKind, LifecycleError, ObjectFacts, Rule, due, validate};

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};
use crate::meta::{ConfigKind, ObjectRecord, WriteOp};

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
        self.forget_cached_rules(record.id);
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
        self.forget_cached_rules(record.id);
        Ok(())
    }

    fn forget_cached_rules(&self, bucket_id: u64) {
        self.lifecycles
            .lock()
            .expect("lifecycle cache lock")
            .remove(&bucket_id);
    }

    /// The rules of bucket `bucket_id`, from the cache when possible.
    pub(super) fn cached_rules(&self, bucket_id: u64) -> ObjectResult<Option<Arc<Vec<Rule>>>> {
        if let Some(rules) = self
            .lifecycles
            .lock()
            .expect("lifecycle cache lock")
            .get(&bucket_id)
        {
            return Ok(rules.clone());
        }
        let rules = match self.meta.bucket_config(bucket_id, ConfigKind::Lifecycle)? {
            Some(raw) => Some(Arc::new(rmp_serde::from_slice::<Vec<Rule>>(&raw).map_err(
                |e| ObjectError::Internal(format!("stored lifecycle rules: {e}")),
            )?)),
            None => None,
        };
        self.lifecycles
            .lock()
            .expect("lifecycle cache lock")
            .insert(bucket_id, rules.clone());
        Ok(rules)
    }

    /// When an expiration rule will delete the object, and which: what S3 reports in
    /// `x-amz-expiration` on PUT, GET and HEAD.
    pub fn expiration(
        &self,
        bucket_id: u64,
        key: &str,
        record: &ObjectRecord,
    ) -> ObjectResult<Option<(i64, String)>> {
        let Some(rules) = self.cached_rules(bucket_id)? else {
            return Ok(None);
        };
        let facts = ObjectFacts {
            key: key.to_owned(),
            size: record.size,
            created_ms: record.modified_ms,
            tags: record.tags.clone(),
            storage_class: record
                .storage_class
                .clone()
                .unwrap_or_else(|| super::tiers::DEFAULT_CLASS.to_owned()),
        };
        Ok(due(&rules, &facts, self.limits.lifecycle_day_ms)
            .into_iter()
            .filter_map(|(at, action)| match action {
                Action::Expire { rule_id } => Some((at, rule_id)),
                Action::Transition { .. } => None,
            })
            .min_by_key(|(at, _)| *at))
    }
}
