//! S3 versioning in the object service: a bucket's state, deletes with and without a
//! version id, reading a version by id, and ListObjectVersions.
//!
//! How a write versions its key is decided in its commit, from the bucket's state as the
//! commit sees it (see `meta::versions`); this layer names versions, opens them for
//! reading and turns what the commit did into what S3 answers.

use super::error::{ObjectError, ObjectResult};
use super::pins::PinGuard;
use super::version_id::version_id;
use super::{ObjectService, new_version, now_ms};
use crate::meta::{
    BucketRecord, Layout, NewMarker, ObjectRecord, VersionPage, VersionQuery, VersionRef,
    Versioning, WriteOp, WriteOutcome,
};

/// What a DELETE did.
#[derive(Debug, Clone, Default)]
pub struct DeleteOutcome {
    /// The delete marker it wrote (a delete without a version id on a versioned bucket).
    pub marker: Option<ObjectRecord>,
    /// The version it removed for good (a delete with a version id), if there was one.
    pub removed: Option<ObjectRecord>,
    /// The id of the version the answer names (`x-amz-version-id`), if any.
    pub version_id: Option<String>,
}

/// A version opened for reading, its blobs pinned.
pub struct Opened {
    pub record: ObjectRecord,
    pub layout: Layout,
    pub pins: PinGuard,
    /// Whether it is the key's current version.
    pub current: bool,
}

impl ObjectService {
    pub fn bucket_versioning(&self, bucket: &str) -> ObjectResult<Versioning> {
        Ok(self.bucket(bucket)?.versioning)
    }

    /// Enables or suspends versioning. A bucket is never made unversioned again.
    pub async fn set_bucket_versioning(
        &self,
        bucket: &str,
        versioning: Versioning,
    ) -> ObjectResult<()> {
        let record = self.bucket(bucket)?;
        if versioning.is_unversioned() {
            return Err(ObjectError::MalformedXmlDetail(
                "the versioning status must be Enabled or Suspended".into(),
            ));
        }
        self.meta
            .apply(WriteOp::SetVersioning {
                bucket: bucket.to_owned(),
                bucket_id: record.id,
                versioning,
            })
            .await?;
        tracing::info!(bucket, ?versioning, "bucket versioning changed");
        Ok(())
    }

    /// `x-amz-version-id` for `record` of `bucket`: its id once the bucket has versioning
    /// configured (`null` for a `null` version), nothing for a bucket never versioned.
    #[must_use]
    pub fn version_header(bucket: &BucketRecord, record: &ObjectRecord) -> Option<String> {
        (record.versioned || !bucket.versioning.is_unversioned()).then(|| version_id(record))
    }

    /// [`Self::version_header`] for a bucket known by name (after a write).
    pub fn version_header_of(&self, bucket: &str, record: &ObjectRecord) -> Option<String> {
        if record.versioned {
            return Some(version_id(record));
        }
        let bucket = self.bucket(bucket).ok()?;
        Self::version_header(&bucket, record)
    }

    /// Why `key` is not there: absent, or hidden by a delete marker (S3 names the marker).
    pub(super) fn missing(&self, bucket_id: u64, key: &str) -> ObjectResult<ObjectError> {
        Ok(match self.meta.latest_delete_marker(bucket_id, key)? {
            Some(marker) => ObjectError::DeletedKey {
                version_id: version_id(&marker),
            },
            None => ObjectError::NoSuchKey,
        })
    }

    /// The record of a version without its bytes (HEAD, tagging): the current one when
    /// `version` is `None`. Returns it and whether it is current.
    pub(super) fn version_record(
        &self,
        bucket: &BucketRecord,
        key: &str,
        version: Option<VersionRef>,
    ) -> ObjectResult<(ObjectRecord, bool)> {
        let Some(version) = version else {
            return match self.meta.object(bucket.id, key)? {
                Some(record) => Ok((record, true)),
                None => Err(self.missing(bucket.id, key)?),
            };
        };
        let found = self
            .meta
            .version(bucket.id, key, version)?
            .ok_or(ObjectError::NoSuchVersion)?;
        if found.record.delete_marker {
            return Err(ObjectError::DeleteMarkerVersion {
                version_id: version_id(&found.record),
                modified_ms: found.record.modified_ms,
            });
        }
        Ok((found.record, found.current))
    }

    /// A version (the current one when `version` is `None`) with its layout, pinned.
    pub(super) fn open_version(
        &self,
        bucket: &BucketRecord,
        key: &str,
        version: Option<VersionRef>,
    ) -> ObjectResult<Opened> {
        let Some(version) = version else {
            return match self.open_current(bucket, key) {
                Ok((record, layout, pins)) => Ok(Opened {
                    record,
                    layout,
                    pins,
                    current: true,
                }),
                Err(ObjectError::NoSuchKey) => Err(self.missing(bucket.id, key)?),
                Err(e) => Err(e),
            };
        };
        let found = self
            .meta
            .version(bucket.id, key, version)?
            .ok_or(ObjectError::NoSuchVersion)?;
        if found.record.delete_marker {
            return Err(ObjectError::DeleteMarkerVersion {
                version_id: version_id(&found.record),
                modified_ms: found.record.modified_ms,
            });
        }
        let current = found.current;
        match self.open_numbered(bucket, key, found.record.version)? {
            Some((record, layout, pins)) => Ok(Opened {
                record,
                layout,
                pins,
                current,
            }),
            // Deleted between the two looks.
            None => Err(ObjectError::NoSuchVersion),
        }
    }

    /// DELETE without a version id: the current version goes (unversioned bucket) or a
    /// delete marker is added (versioned); deleting an absent key succeeds, as in S3.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        owner: &str,
    ) -> ObjectResult<DeleteOutcome> {
        self.activity.touch();
        let record = self.bucket(bucket)?;
        let outcome = self
            .meta
            .apply(WriteOp::DeleteObject {
                bucket: bucket.to_owned(),
                bucket_id: record.id,
                key: key.to_owned(),
                marker: NewMarker {
                    version: new_version(),
                    modified_ms: now_ms(),
                    owner: owner.to_owned(),
                },
            })
            .await?;
        let marker = match outcome {
            WriteOutcome::ObjectDeleted { marker, .. } => marker.map(|m| *m),
            other => {
                return Err(ObjectError::Internal(format!(
                    "unexpected outcome {other:?}"
                )));
            }
        };
        Ok(DeleteOutcome {
            version_id: marker.as_ref().map(version_id),
            marker,
            removed: None,
        })
    }

    /// DELETE with a version id: that version goes for good (a well-formed id of no
    /// version deletes nothing and succeeds, as in S3); when it was the newest, the next
    /// newest becomes current.
    pub async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
    ) -> ObjectResult<DeleteOutcome> {
        self.activity.touch();
        let record = self.bucket(bucket)?;
        let outcome = self
            .meta
            .apply(WriteOp::DeleteVersion {
                bucket_id: record.id,
                key: key.to_owned(),
                version,
            })
            .await?;
        let removed = match outcome {
            WriteOutcome::VersionDeleted { removed } => removed.map(|r| *r),
            other => {
                return Err(ObjectError::Internal(format!(
                    "unexpected outcome {other:?}"
                )));
            }
        };
        let version_id = match (&removed, version) {
            (Some(removed), _) => version_id(removed),
            (None, VersionRef::Null) => "null".to_owned(),
            (None, VersionRef::Id(id)) => format!("{:032x}", !id),
        };
        Ok(DeleteOutcome {
            marker: None,
            removed,
            version_id: Some(version_id),
        })
    }

    /// ListObjectVersions.
    pub fn list_versions(
        &self,
        bucket: &str,
        mut query: VersionQuery,
    ) -> ObjectResult<VersionPage> {
        query.bucket_id = self.bucket(bucket)?.id;
        Ok(self.meta.list_versions(&query)?)
    }

    /// Deletes every version and delete marker of a bucket for good (a tenant's purge);
    /// returns how many versions holding data went.
    pub async fn purge_versions(&self, bucket: &str) -> ObjectResult<u64> {
        let mut removed = 0;
        loop {
            let page = match self.list_versions(
                bucket,
                VersionQuery {
                    max_keys: 1000,
                    ..VersionQuery::default()
                },
            ) {
                Ok(page) => page,
                Err(ObjectError::NoSuchBucket) => return Ok(removed),
                Err(e) => return Err(e),
            };
            if page.entries.is_empty() {
                return Ok(removed);
            }
            // Issued together so that the group committer folds them into few commits.
            let deletes = page.entries.iter().map(|entry| {
                let version = if entry.version.versioned {
                    VersionRef::Id(entry.version.version)
                } else {
                    VersionRef::Null
                };
                self.delete_version(bucket, &entry.key, version)
            });
            for outcome in futures::future::join_all(deletes).await {
                match outcome {
                    Ok(DeleteOutcome {
                        removed: Some(r), ..
                    }) if !r.delete_marker => removed += 1,
                    Ok(_) | Err(ObjectError::NoSuchBucket) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}
