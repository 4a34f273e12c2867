//! Where objects and bytes are: what the operator's `tier ls` and `object where` show.

use serde::{Deserialize, Serialize};

use vmgw_tiering::Tier;

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};
use super::watermarks;
use crate::meta::Layout;

/// One tier's contents and capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierStatus {
    pub name: String,
    /// Blobs referenced by objects or uploads (a multipart object has one per part).
    pub blobs: u64,
    /// Bytes the tier's files take, framing included.
    pub stored_bytes: u64,
    /// The configured capacity, else the size of the filesystem under the tier.
    pub total_bytes: Option<u64>,
    /// Room left under the configured capacity, else on the filesystem.
    pub free_bytes: Option<u64>,
    /// `stored_bytes` of the configured capacity, else how full the filesystem is.
    pub used_percent: Option<f64>,
    /// Whether `total_bytes` is a configured capacity rather than the filesystem's size.
    #[serde(default)]
    pub capacity_configured: bool,
    /// Watermarks in percent of `total_bytes` (see the README's Tiers section).
    #[serde(default)]
    pub high_watermark: u8,
    #[serde(default)]
    pub low_watermark: u8,
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
    /// Contents and capacity of every tier. Counts the blobs in the metadata store: an
    /// operator's command, not a request path.
    pub fn tier_status(&self) -> ObjectResult<Vec<TierStatus>> {
        let census = self.meta.blob_census()?;
        let mut out = Vec::new();
        for tier in self.tiers.meters() {
            let used = tier.used();
            let marks = tier.watermarks();
            let (total, free, used_percent) = match marks.capacity {
                Some(capacity) => (
                    Some(capacity),
                    Some(capacity.saturating_sub(used)),
                    watermarks::percent(used, capacity),
                ),
                None => {
                    let space = tier.space()?;
                    (
                        space.map(|s| s.total),
                        space.map(|s| s.free),
                        space.and_then(|s| watermarks::percent(s.total - s.free, s.total)),
                    )
                }
            };
            out.push(TierStatus {
                name: tier.name().to_owned(),
                blobs: census.get(tier.name()).copied().unwrap_or(0),
                stored_bytes: used,
                total_bytes: total,
                free_bytes: free,
                used_percent,
                capacity_configured: marks.capacity.is_some(),
                high_watermark: marks.high_percent,
                low_watermark: marks.low_percent,
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
