//! Intelligent-Tiering: a bucket's configurations (S3's opt-in archive access tiers), and
//! the step the lifecycle worker takes for an object of the INTELLIGENT_TIERING class when
//! it falls due — colder after days unread, back to the frequent tier after a read.

use std::sync::Arc;

use vmgw_lifecycle::{
    AccessFacts, AccessTier, INTELLIGENT_TIERING, MAX_TIERING_CONFIGS, TieringConfig, TieringError,
    access_tier_at, validate_tiering,
};

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};
use crate::meta::{ClassChange, ConfigKind, ObjectRecord, WriteOp};

impl From<TieringError> for ObjectError {
    fn from(e: TieringError) -> Self {
        if e.is_malformed() {
            Self::MalformedXmlDetail(e.to_string())
        } else {
            Self::InvalidArgument(e.to_string())
        }
    }
}

fn decode(raw: &[u8]) -> ObjectResult<Vec<TieringConfig>> {
    rmp_serde::from_slice(raw).map_err(|e| {
        ObjectError::Internal(format!("stored Intelligent-Tiering configurations: {e}"))
    })
}

impl ObjectService {
    /// Every Intelligent-Tiering configuration of the bucket, in Id order.
    pub fn tiering_configs(&self, bucket: &str) -> ObjectResult<Vec<TieringConfig>> {
        let record = self.bucket(bucket)?;
        match self
            .meta
            .bucket_config(record.id, ConfigKind::IntelligentTiering)?
        {
            Some(raw) => decode(&raw),
            None => Ok(Vec::new()),
        }
    }

    /// The configuration `id`; `NoSuchConfiguration` when the bucket has none by that Id.
    pub fn tiering_config(&self, bucket: &str, id: &str) -> ObjectResult<TieringConfig> {
        self.tiering_configs(bucket)?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| ObjectError::NoSuchTieringConfiguration(id.to_owned()))
    }

    /// Adds configuration `id`, or replaces the one with that Id.
    pub async fn put_tiering_config(
        &self,
        bucket: &str,
        id: &str,
        config: TieringConfig,
    ) -> ObjectResult<()> {
        if config.id != id {
            return Err(TieringError::IdMismatch(id.to_owned(), config.id).into());
        }
        validate_tiering(&config)?;
        let _edit = self.tiering_edits.lock().await;
        let mut configs = self.tiering_configs(bucket)?;
        match configs.iter().position(|c| c.id == id) {
            Some(at) => configs[at] = config,
            None if configs.len() >= MAX_TIERING_CONFIGS => {
                return Err(TieringError::TooMany.into());
            }
            None => configs.push(config),
        }
        configs.sort_by(|a, b| a.id.cmp(&b.id));
        self.store_tiering_configs(bucket, &configs).await
    }

    pub async fn delete_tiering_config(&self, bucket: &str, id: &str) -> ObjectResult<()> {
        let _edit = self.tiering_edits.lock().await;
        let mut configs = self.tiering_configs(bucket)?;
        let before = configs.len();
        configs.retain(|c| c.id != id);
        if configs.len() == before {
            return Err(ObjectError::NoSuchTieringConfiguration(id.to_owned()));
        }
        self.store_tiering_configs(bucket, &configs).await
    }

    async fn store_tiering_configs(
        &self,
        bucket: &str,
        configs: &[TieringConfig],
    ) -> ObjectResult<()> {
        let record = self.bucket(bucket)?;
        let value = (!configs.is_empty())
            .then(|| rmp_serde::to_vec_named(configs))
            .transpose()
            .map_err(|e| ObjectError::Internal(format!("encoding tiering configurations: {e}")))?;
        self.meta
            .apply(WriteOp::SetBucketConfig {
                bucket: record.name,
                bucket_id: record.id,
                kind: ConfigKind::IntelligentTiering,
                value,
            })
            .await?;
        self.tierings
            .lock()
            .expect("tiering cache lock")
            .remove(&record.id);
        Ok(())
    }

    fn cached_tiering_configs(&self, bucket_id: u64) -> ObjectResult<Arc<Vec<TieringConfig>>> {
        if let Some(configs) = self
            .tierings
            .lock()
            .expect("tiering cache lock")
            .get(&bucket_id)
        {
            return Ok(configs.clone());
        }
        let configs = Arc::new(
            match self
                .meta
                .bucket_config(bucket_id, ConfigKind::IntelligentTiering)?
            {
                Some(raw) => decode(&raw)?,
                None => Vec::new(),
            },
        );
        self.tierings
            .lock()
            .expect("tiering cache lock")
            .insert(bucket_id, configs.clone());
        Ok(configs)
    }

    /// The access tier an object of the class belongs in now, when that is not where it
    /// is: the step the worker has to take. Reads not yet flushed count too, so an object
    /// read a moment ago is never sent colder.
    pub(super) fn access_step(
        &self,
        bucket_id: u64,
        key: &str,
        record: &ObjectRecord,
        now_ms: i64,
    ) -> ObjectResult<Option<AccessTier>> {
        if record.storage_class.as_deref() != Some(INTELLIGENT_TIERING) {
            return Ok(None);
        }
        let last_access_ms = [
            Some(record.modified_ms),
            self.meta.last_read(bucket_id, key)?,
            self.access.pending(bucket_id, key),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(record.modified_ms);
        let facts = AccessFacts {
            key,
            size: record.size,
            tags: &record.tags,
            last_access_ms,
        };
        let configs = self.cached_tiering_configs(bucket_id)?;
        let target = access_tier_at(
            &configs,
            self.limits.auto_tiering,
            &facts,
            now_ms,
            self.limits.lifecycle_day_ms,
        );
        Ok((target != record.access_tier.unwrap_or_default()).then_some(target))
    }

    /// Moves an object of the class to the tier of access tier `step`, recording the step.
    pub(super) async fn take_access_step(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        step: AccessTier,
    ) -> ObjectResult<super::moves::MoveOutcome> {
        let tier = self
            .tiers
            .for_class(Some(step.placement_class()))
            .name()
            .to_owned();
        let class = ClassChange {
            storage_class: record.storage_class.clone(),
            access_tier: (step != AccessTier::Frequent).then_some(step),
        };
        self.move_object_as(bucket, key, &tier, Some(class)).await
    }
}
