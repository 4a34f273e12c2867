//! Appends (`x-amz-write-offset-bytes` on PutObject, as S3 defines it): the bytes sent are
//! stored as one more part of the object, so an append costs what it sends, not a rewrite
//! of everything before it — what `>>` on a mounted bucket needs.

use md5::{Digest, Md5};

use super::descriptor::Describer;
use super::error::{ObjectError, ObjectResult};
use super::ingest::{Ingested, IngestedData, ingest};
use super::object_ops::{GetObject, PutObject, parse_content_md5, verify};
use super::{ObjectService, hex, new_version, now_ms};
use crate::meta::{
    Layout, MetaError, ObjectRecord, PartLayout, Precondition, WriteOp, WriteOutcome,
};

/// S3 allows at most this many appends to an object; vmgw counts parts, the same bound as
/// multipart uploads.
pub const MAX_PARTS: usize = 10_000;

fn is_md5_hex(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

impl ObjectService {
    /// Appends `put`'s body to the object, whose size must be `offset` (0 and no object
    /// creates it). The object keeps its metadata, tags and class; its ETag becomes that of
    /// a multipart object of its parts.
    pub async fn append_object(&self, put: PutObject, offset: u64) -> ObjectResult<ObjectRecord> {
        self.activity.touch();
        let bucket = self.bucket(&put.bucket)?;
        if !bucket.versioning.is_unversioned() {
            // An append rewrites the current version in place; S3 has appends only where
            // there is no versioning (directory buckets), and so does vmgw.
            return Err(ObjectError::InvalidRequest(
                "appends (x-amz-write-offset-bytes) are not available on a bucket with versioning enabled or suspended"
                    .into(),
            ));
        }
        let Some((record, layout)) = self.meta.object_with_layout(bucket.id, &put.key)? else {
            if offset == 0 {
                return self.put_object(put).await;
            }
            return Err(ObjectError::InvalidWriteOffset { offset, size: 0 });
        };
        if offset != record.size {
            return Err(ObjectError::InvalidWriteOffset {
                offset,
                size: record.size,
            });
        }
        match &put.precondition {
            Precondition::IfAbsent => return Err(ObjectError::PreconditionFailed),
            Precondition::IfEtag(etag) if *etag != record.etag => {
                return Err(ObjectError::PreconditionFailed);
            }
            _ => {}
        }
        // Blobs written for this append, thrown away if it does not commit.
        let mut fresh = Vec::new();
        let mut parts = match layout {
            Layout::Parts(parts) => parts,
            Layout::Blob(blob) if is_md5_hex(&record.etag) => vec![PartLayout {
                number: 1,
                blob,
                etag: record.etag.clone(),
                checksum: None,
            }],
            _ => {
                let (part, ingested) = self.first_part(&put.bucket, &put.key, &record).await?;
                fresh.push(ingested);
                vec![part]
            }
        };
        if parts.len() >= MAX_PARTS {
            self.discard_all(&fresh).await;
            return Err(ObjectError::InvalidRequest(format!(
                "an object can be appended to until it has {MAX_PARTS} parts; rewrite it instead"
            )));
        }
        let number = u32::try_from(parts.len() + 1).expect("at most 10,000 parts");
        let content_md5 = parse_content_md5(put.content_md5.as_deref())?;
        let targets = self
            .tiers
            .write_targets(record.storage_class.as_deref(), put.content_length);
        let mut spec = self.ingest_spec(put.content_length, put.checksum.algorithm, false);
        if targets.iter().any(|t| t.keeps_descriptors()) {
            spec.describe = Some(Describer::for_appended(
                &put.bucket,
                &put.key,
                number,
                offset,
            ));
        }
        let ingested = match ingest(&targets, put.body, &spec, &self.md5).await {
            Ok(ingested) => ingested,
            Err(e) => {
                self.discard_all(&fresh).await;
                return Err(e);
            }
        };
        fresh.push(ingested);
        let ingested = fresh.last().expect("just pushed");
        if let Err(e) = verify(ingested, content_md5, &put.checksum) {
            self.discard_all(&fresh).await;
            return Err(e);
        }
        let IngestedData::Blob(blob) = &ingested.data else {
            self.discard_all(&fresh).await;
            return Err(ObjectError::Internal("appends are stored as blobs".into()));
        };
        parts.push(PartLayout {
            number,
            blob: blob.clone(),
            etag: hex(&ingested.md5),
            checksum: None,
        });
        let mut md5_of_md5s = Md5::default();
        for part in &parts {
            match hex_simd::decode_to_vec(part.etag.as_bytes()) {
                Ok(raw) => md5_of_md5s.update(&raw),
                Err(_) => {
                    self.discard_all(&fresh).await;
                    return Err(ObjectError::Internal("stored part ETag is not hex".into()));
                }
            }
        }
        let appended = ObjectRecord {
            version: new_version(),
            size: record.size + ingested.size,
            etag: format!("{}-{}", hex(&md5_of_md5s.finalize()), parts.len()),
            modified_ms: now_ms(),
            // A whole-object checksum of the old bytes does not cover the new ones.
            checksum: None,
            parts: Some(number),
            ..record.clone()
        };
        let op = WriteOp::PutObject {
            bucket: put.bucket.clone(),
            bucket_id: bucket.id,
            key: put.key.clone(),
            record: appended.clone(),
            layout: Layout::Parts(parts),
            precondition: Precondition::IfVersion(record.version),
        };
        match self.meta.apply(op).await {
            Ok(WriteOutcome::ObjectPut { record, .. }) => Ok(*record),
            Ok(other) => Err(ObjectError::Internal(format!(
                "unexpected outcome {other:?}"
            ))),
            Err(e) => {
                self.discard_all(&fresh).await;
                match e {
                    // Another write got there first: the size the client knew is gone.
                    MetaError::PreconditionFailed => Err(ObjectError::InvalidWriteOffset {
                        offset,
                        size: self.meta.object(bucket.id, &put.key)?.map_or(0, |r| r.size),
                    }),
                    other => Err(other.into()),
                }
            }
        }
    }

    async fn discard_all(&self, fresh: &[Ingested]) {
        for ingested in fresh {
            self.discard_ingested(ingested).await;
        }
    }

    /// The object's bytes as a blob with a known MD5, to be the first part: for objects
    /// kept inline, or (rare) a blob whose ETag is not its MD5. A copy, so the object must
    /// still be the one read.
    async fn first_part(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
    ) -> ObjectResult<(PartLayout, Ingested)> {
        let current = self
            .get_object(GetObject {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version: None,
                conditions: super::Conditions::default(),
                range: None,
                part_number: None,
            })
            .await?;
        if current.record.version != record.version {
            return Err(ObjectError::InvalidWriteOffset {
                offset: record.size,
                size: current.record.size,
            });
        }
        let targets = self
            .tiers
            .write_targets(record.storage_class.as_deref(), Some(record.size));
        let mut spec = self.ingest_spec(Some(record.size), None, false);
        if targets.iter().any(|t| t.keeps_descriptors()) {
            spec.describe = Some(Describer::for_appended(bucket, key, 1, 0));
        }
        let ingested = ingest(&targets, current.body, &spec, &self.md5).await?;
        let IngestedData::Blob(blob) = &ingested.data else {
            return Err(ObjectError::Internal("appends are stored as blobs".into()));
        };
        let part = PartLayout {
            number: 1,
            blob: blob.clone(),
            etag: hex(&ingested.md5),
            checksum: None,
        };
        Ok((part, ingested))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::test_support::{body, get, put, service_with};
    use crate::objects::{ChecksumInput, MoveOutcome, NewObjectMeta};

    fn append(key: &str, data: &[u8]) -> PutObject {
        PutObject {
            bucket: "b".into(),
            key: key.into(),
            body: body(data),
            content_length: Some(data.len() as u64),
            content_md5: None,
            checksum: ChecksumInput::default(),
            meta: NewObjectMeta::default(),
            owner: "me".into(),
            precondition: Precondition::None,
        }
    }

    #[tokio::test]
    async fn appends_add_parts_and_keep_the_bytes_before() {
        let t = service_with(None).await;
        let s = &t.service;
        let first = vec![1u8; 300_000];
        put(s, "log", &first, None).await;
        let r = s
            .append_object(append("log", b"tail"), 300_000)
            .await
            .unwrap();
        assert_eq!(r.size, 300_004);
        assert!(r.etag.ends_with("-2"), "{}", r.etag);
        let mut want = first.clone();
        want.extend_from_slice(b"tail");
        assert_eq!(get(s, "log").await, want);

        let wrong = s.append_object(append("log", b"x"), 300_000).await;
        assert!(matches!(
            wrong,
            Err(ObjectError::InvalidWriteOffset {
                offset: 300_000,
                size: 300_004
            })
        ));
        assert_eq!(
            get(s, "log").await,
            want,
            "a refused append changes nothing"
        );

        // Every part's ETag is its real MD5: a move verifies each against its copy.
        assert!(matches!(
            s.move_object("b", "log", "hdd", None).await.unwrap(),
            MoveOutcome::Moved { .. }
        ));
        assert_eq!(get(s, "log").await, want);
    }

    #[tokio::test]
    async fn small_objects_and_missing_ones() {
        let t = service_with(None).await;
        let s = &t.service;
        // Offset 0 on a missing object creates it; any other offset is refused.
        assert!(matches!(
            s.append_object(append("new", b"x"), 5).await,
            Err(ObjectError::InvalidWriteOffset { offset: 5, size: 0 })
        ));
        s.append_object(append("new", b"abc"), 0).await.unwrap();
        // An inline object becomes a first part, then gets the appended one.
        let r = s.append_object(append("new", b"def"), 3).await.unwrap();
        assert_eq!(r.parts, Some(2));
        assert_eq!(get(s, "new").await, b"abcdef");
        let r = s.append_object(append("new", b"g"), 6).await.unwrap();
        assert!(r.etag.ends_with("-3"));
        assert_eq!(get(s, "new").await, b"abcdefg");
    }
}
