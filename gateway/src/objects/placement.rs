//! Where objects and bytes are: what the operator's `tier ls` and `object where` show.

use serde::{Deserialize, Serialize};

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};
use crate::meta::Layout;

/// One tier's contents and capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierStatus {
    pub name: String,
    /// Blobs referenced by objects or uploads (a multipart object has one per part).
    pub blobs: u64,
    /// Bytes the tier's files take, framing included.
    pub stored_bytes: u64,
    pub total_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub used_percent: Option<f64>,
}

/// One blob of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobPlacement {
    pub tier: String,
    pub id: String,
    pub size: u64,
    pub stored_bytes: u64,
}

/// Where the bytes of an object are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectPlacement {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub storage_class: String,
    /// Stored inside the metadata store rather than in a blob.
    pub inline: bool,
    pub blobs: Vec<BlobPlacement>,
    pub stored_bytes: u64,
    /// Logical size over at-rest size.
    pub compression_ratio: f64,
}

impl ObjectService {
    /// Contents and capacity of every tier. Walks the tiers' files: an operator's command,
    /// not a request path.
    pub fn tier_status(&self) -> ObjectResult<Vec<TierStatus>> {
        let census = self.meta.blob_census()?;
        let mut out = Vec::new();
        for tier in self.tiers.iter() {
            let space = tier.space()?;
            out.push(TierStatus {
                name: tier.name().to_owned(),
                blobs: census.get(tier.name()).copied().unwrap_or(0),
                stored_bytes: tier.used_bytes()?,
                total_bytes: space.map(|s| s.total),
                free_bytes: space.map(|s| s.free),
                #[allow(clippy::cast_precision_loss)]
                used_percent: space
                    .filter(|s| s.total > 0)
                    .map(|s| (s.total - s.free) as f64 * 100.0 / s.total as f64),
            });
        }
        Ok(out)
    }

    pub fn placement(&self, bucket: &str, key: &str) -> ObjectResult<ObjectPlacement> {
        let bucket_record = self.bucket(bucket)?;
        let (record, layout) = self
            .meta
            .object_with_layout(bucket_record.id, key)?
            .ok_or(ObjectError::NoSuchKey)?;
        let mut blobs = Vec::new();
        for blob in layout.blobs() {
            let tier = self.tiers.get(&blob.tier).ok_or_else(|| {
                ObjectError::Internal(format!("blob on unknown tier {}", blob.tier))
            })?;
            blobs.push(BlobPlacement {
                tier: blob.tier.clone(),
                id: blob.id.to_string(),
                size: blob.size,
                stored_bytes: tier.stored_size(blob.id)?,
            });
        }
        let inline = matches!(layout, Layout::Inline { .. });
        let stored_bytes = if inline {
            record.size
        } else {
            blobs.iter().map(|b| b.stored_bytes).sum()
        };
        #[allow(clippy::cast_precision_loss)]
        let compression_ratio = if stored_bytes == 0 {
            1.0
        } else {
            record.size as f64 / stored_bytes as f64
        };
        Ok(ObjectPlacement {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: record.size,
            etag: record.etag,
            storage_class: record
                .storage_class
                .unwrap_or_else(|| super::tiers::DEFAULT_CLASS.to_owned()),
            inline,
            blobs,
            stored_bytes,
            compression_ratio,
        })
    }
}
