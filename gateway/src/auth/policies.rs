//! Bucket policies as stored: the owner's JSON document in the bucket's configuration, and
//! a cache of parsed documents by bucket id (a bucket created again under the same name gets
//! a new id, so the cache never serves an old bucket's policy).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::policy::Policy;
use crate::meta::{BucketRecord, ConfigKind, MetaStore, WriteOp};
use crate::objects::{ObjectError, ObjectResult};

pub struct Policies {
    meta: Arc<dyn MetaStore>,
    cache: Mutex<HashMap<u64, Option<Arc<Policy>>>>,
}

impl Policies {
    #[must_use]
    pub fn new(meta: Arc<dyn MetaStore>) -> Self {
        Self {
            meta,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn bucket(&self, name: &str) -> ObjectResult<BucketRecord> {
        self.meta.bucket(name)?.ok_or(ObjectError::NoSuchBucket)
    }

    /// The parsed policy of a bucket, if it has one.
    pub fn of(&self, bucket: &BucketRecord) -> ObjectResult<Option<Arc<Policy>>> {
        if let Some(hit) = self.cache.lock().expect("policy cache").get(&bucket.id) {
            return Ok(hit.clone());
        }
        let parsed = match self.meta.bucket_config(bucket.id, ConfigKind::Policy)? {
            None => None,
            Some(raw) => {
                let text = String::from_utf8(raw).map_err(|_| {
                    ObjectError::Internal("stored bucket policy is not UTF-8".into())
                })?;
                // It was valid when it was put; failing now means the store is damaged, and
                // refusing every request beats ignoring a Deny.
                Some(Arc::new(Policy::parse(&text, &bucket.name).map_err(
                    |e| {
                        ObjectError::Internal(format!("stored bucket policy no longer parses: {e}"))
                    },
                )?))
            }
        };
        self.cache
            .lock()
            .expect("policy cache")
            .insert(bucket.id, parsed.clone());
        Ok(parsed)
    }

    /// The document as the owner put it; `NoSuchBucketPolicy` when there is none.
    pub fn text(&self, bucket: &str) -> ObjectResult<String> {
        let record = self.bucket(bucket)?;
        let raw = self
            .meta
            .bucket_config(record.id, ConfigKind::Policy)?
            .ok_or(ObjectError::NoSuchBucketPolicy)?;
        String::from_utf8(raw)
            .map_err(|_| ObjectError::Internal("stored policy is not UTF-8".into()))
    }

    pub async fn put(&self, bucket: &str, text: &str) -> ObjectResult<()> {
        let record = self.bucket(bucket)?;
        Policy::parse(text, bucket).map_err(|e| ObjectError::MalformedPolicy(e.0))?;
        self.set(record, Some(text.as_bytes().to_vec())).await
    }

    pub async fn delete(&self, bucket: &str) -> ObjectResult<()> {
        let record = self.bucket(bucket)?;
        self.set(record, None).await
    }

    async fn set(&self, record: BucketRecord, value: Option<Vec<u8>>) -> ObjectResult<()> {
        let id = record.id;
        let result = self
            .meta
            .apply(WriteOp::SetBucketConfig {
                bucket: record.name,
                bucket_id: id,
                kind: ConfigKind::Policy,
                value,
            })
            .await;
        // Dropped whatever the outcome: the next request reads what the store holds.
        self.cache.lock().expect("policy cache").remove(&id);
        result?;
        Ok(())
    }
}
