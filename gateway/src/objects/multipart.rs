//! Multipart uploads: create, upload (and copy) parts, list, complete, abort.
//!
//! Parts are blobs of their own. Completion writes no data: the object's layout is the
//! list of chosen parts, and one metadata commit turns the upload into the current version
//! while queueing unused parts for reclamation.

use std::collections::HashMap;

use md5::{Digest, Md5};

use super::checksum::combine_parts;
use super::conditions::{ByteRange, Conditions};
use super::descriptor::Describer;
use super::error::{ObjectError, ObjectResult};
use super::ingest::{ByteStream, IngestedData, ingest};
use super::object_ops::{ChecksumInput, NewObjectMeta, parse_content_md5, verify};
use super::read::stream_range;
use super::{ObjectService, hex, new_version, now_ms};
use crate::meta::{
    BucketRecord, ChecksumAlgorithm, ChecksumKind, Layout, MetaError, ObjectRecord, PartLayout,
    PartRecord, Precondition, UploadId, UploadRecord, VersionRef, WriteOp, WriteOutcome,
};

/// S3 numbers parts 1 to 10,000.
const MAX_PART_NUMBER: u32 = 10_000;

pub struct CreateUpload {
    pub bucket: String,
    pub key: String,
    pub meta: NewObjectMeta,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_kind: Option<ChecksumKind>,
    pub owner: String,
}

pub struct UploadPart {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_number: i32,
    pub body: ByteStream,
    pub content_length: Option<u64>,
    pub content_md5: Option<String>,
    pub checksum: ChecksumInput,
}

pub struct UploadPartCopy {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_number: i32,
    pub src_bucket: String,
    pub src_key: String,
    /// `?versionId=` of the copy source.
    pub src_version: Option<VersionRef>,
    pub src_range: Option<ByteRange>,
    pub conditions: Conditions,
}

#[derive(Debug, Clone)]
pub struct CompletePart {
    pub number: i32,
    pub etag: Option<String>,
    /// A checksum the client sent for the part, to be checked against the stored one.
    pub checksum: Option<String>,
}

pub struct CompleteUpload {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub parts: Vec<CompletePart>,
    pub precondition: Precondition,
}

pub struct PartsPage {
    pub upload: UploadRecord,
    pub parts: Vec<(u32, PartRecord)>,
    pub truncated: bool,
}

/// Upload ids travel as 32 lowercase hex digits.
pub fn parse_upload_id(text: &str) -> ObjectResult<UploadId> {
    let mut out = [0u8; 16];
    if text.len() != 32 {
        return Err(ObjectError::NoSuchUpload);
    }
    hex_simd::decode(text.as_bytes(), hex_simd::Out::from_slice(&mut out))
        .map_err(|_| ObjectError::NoSuchUpload)?;
    Ok(out)
}

fn new_upload_id() -> UploadId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&now_ms().to_be_bytes());
    id[8..].copy_from_slice(&rand::random::<u64>().to_be_bytes());
    id
}

fn part_number(number: i32) -> ObjectResult<u32> {
    u32::try_from(number)
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            ObjectError::InvalidArgument(format!(
                "part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            ))
        })
}

fn strip_quotes(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

impl ObjectService {
    pub async fn create_upload(&self, create: CreateUpload) -> ObjectResult<String> {
        self.validate_meta(&create.meta)?;
        let bucket = self.bucket(&create.bucket)?;
        let checksum_kind = match (create.checksum_algorithm, create.checksum_kind) {
            (Some(a), Some(ChecksumKind::FullObject)) if !a.is_crc() => {
                return Err(ObjectError::InvalidRequest(format!(
                    "the FULL_OBJECT checksum type cannot be used with {}",
                    a.name()
                )));
            }
            (Some(ChecksumAlgorithm::Crc64Nvme), Some(ChecksumKind::Composite)) => {
                return Err(ObjectError::InvalidRequest(
                    "the COMPOSITE checksum type cannot be used with CRC64NVME".into(),
                ));
            }
            // S3's defaults: CRC64NVME only exists as a full-object checksum, others are composite.
            (Some(ChecksumAlgorithm::Crc64Nvme), None) => Some(ChecksumKind::FullObject),
            (Some(_), None) => Some(ChecksumKind::Composite),
            (None, Some(_)) => {
                return Err(ObjectError::InvalidRequest(
                    "a checksum type needs a checksum algorithm".into(),
                ));
            }
            (_, kind) => kind,
        };
        let upload_id = new_upload_id();
        let record = UploadRecord {
            bucket_id: bucket.id,
            key: create.key,
            initiated_ms: now_ms(),
            content: create.meta.content,
            user_meta: create.meta.user_meta,
            storage_class: create.meta.storage_class,
            checksum_algorithm: create.checksum_algorithm,
            checksum_kind,
            owner: create.owner,
            tags: create.meta.tags,
        };
        self.meta
            .apply(WriteOp::CreateUpload {
                bucket: create.bucket,
                upload_id,
                record,
            })
            .await?;
        Ok(hex(&upload_id))
    }

    /// The upload, checked to belong to this bucket and key.
    fn upload_of(
        &self,
        bucket: &BucketRecord,
        key: &str,
        upload_id: &str,
    ) -> ObjectResult<(UploadId, UploadRecord)> {
        let id = parse_upload_id(upload_id)?;
        let record = self.meta.upload(&id)?.ok_or(ObjectError::NoSuchUpload)?;
        if record.bucket_id != bucket.id || record.key != key {
            return Err(ObjectError::NoSuchUpload);
        }
        Ok((id, record))
    }

    pub async fn upload_part(&self, part: UploadPart) -> ObjectResult<PartRecord> {
        let number = part_number(part.part_number)?;
        let content_md5 = parse_content_md5(part.content_md5.as_deref())?;
        let bucket = self.bucket(&part.bucket)?;
        let (upload_id, upload) = self.upload_of(&bucket, &part.key, &part.upload_id)?;
        if let (Some(expected), Some(sent)) = (upload.checksum_algorithm, part.checksum.algorithm)
            && expected != sent
        {
            return Err(ObjectError::InvalidRequest(format!(
                "checksum type mismatch: the upload uses {}, the part carries {}",
                expected.name(),
                sent.name()
            )));
        }
        // The part's checksum in the upload's algorithm is needed at completion, whether or
        // not the client sent one.
        let algorithm = part.checksum.algorithm.or(upload.checksum_algorithm);
        let targets = self
            .tiers
            .write_targets(upload.storage_class.as_deref(), part.content_length);
        let mut spec = self.ingest_spec(part.content_length, algorithm, false);
        if targets.iter().any(|t| t.keeps_descriptors()) {
            spec.describe = Some(Describer::for_part(
                &part.bucket,
                &part.key,
                &part.upload_id,
                number,
            ));
        }
        let ingested = ingest(&targets, part.body, &spec, &self.md5).await?;
        if let Err(e) = verify(&ingested, content_md5, &part.checksum) {
            self.discard_ingested(&ingested).await;
            return Err(e);
        }
        self.commit_part(upload_id, number, ingested, &upload).await
    }

    async fn commit_part(
        &self,
        upload_id: UploadId,
        number: u32,
        ingested: super::ingest::Ingested,
        upload: &UploadRecord,
    ) -> ObjectResult<PartRecord> {
        let IngestedData::Blob(blob) = &ingested.data else {
            return Err(ObjectError::Internal(
                "parts are always stored as blobs".into(),
            ));
        };
        let record = PartRecord {
            blob: blob.clone(),
            etag: hex(&ingested.md5),
            modified_ms: now_ms(),
            checksum: upload.checksum_algorithm.and(ingested.checksum.clone()),
        };
        let op = WriteOp::PutPart {
            upload_id,
            number,
            part: record.clone(),
        };
        if let Err(e) = self.meta.apply(op).await {
            self.discard_ingested(&ingested).await;
            return Err(e.into());
        }
        Ok(record)
    }

    /// Copies (a range of) a source object into a part; returns the part and the source's
    /// `x-amz-copy-source-version-id`.
    pub async fn upload_part_copy(
        &self,
        copy: UploadPartCopy,
    ) -> ObjectResult<(PartRecord, Option<String>)> {
        let number = part_number(copy.part_number)?;
        let bucket = self.bucket(&copy.bucket)?;
        let (upload_id, upload) = self.upload_of(&bucket, &copy.key, &copy.upload_id)?;
        let src_bucket = self.bucket(&copy.src_bucket)?;
        let super::Opened {
            record: src,
            layout,
            pins,
            current,
        } = match self.open_version(&src_bucket, &copy.src_key, copy.src_version) {
            Ok(opened) => opened,
            Err(ObjectError::DeleteMarkerVersion { .. }) => {
                return Err(ObjectError::InvalidRequest(
                    "The source of a copy request may not specifically refer to a delete marker by version id."
                        .into(),
                ));
            }
            Err(ObjectError::DeletedKey { .. }) => return Err(ObjectError::NoSuchKey),
            Err(e) => return Err(e),
        };
        let source_version_id = Self::version_header(&src_bucket, &src);
        copy.conditions.check(&src, true)?;
        let range = match copy.src_range {
            // S3 rejects copy ranges that do not fit the source instead of clipping them.
            Some(ByteRange::From {
                first,
                last: Some(last),
            }) if first <= last && last < src.size => first..last + 1,
            Some(_) => {
                return Err(ObjectError::InvalidArgument(format!(
                    "the x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy, within the source object of {} bytes",
                    src.size
                )));
            }
            None => 0..src.size,
        };
        let len = range.end - range.start;
        let body = stream_range(&self.tiers, layout, range, pins).await?;
        if current {
            self.access.record(src_bucket.id, &copy.src_key);
        }
        let targets = self
            .tiers
            .write_targets(upload.storage_class.as_deref(), Some(len));
        let mut spec = self.ingest_spec(Some(len), upload.checksum_algorithm, false);
        if targets.iter().any(|t| t.keeps_descriptors()) {
            spec.describe = Some(Describer::for_part(
                &copy.bucket,
                &copy.key,
                &copy.upload_id,
                number,
            ));
        }
        let ingested = ingest(&targets, body, &spec, &self.md5).await?;
        let part = self
            .commit_part(upload_id, number, ingested, &upload)
            .await?;
        Ok((part, source_version_id))
    }

    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: u32,
        max: usize,
    ) -> ObjectResult<PartsPage> {
        let bucket = self.bucket(bucket)?;
        let (id, upload) = self.upload_of(&bucket, key, upload_id)?;
        let mut parts = self.meta.parts(&id, after, max.saturating_add(1))?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        Ok(PartsPage {
            upload,
            parts,
            truncated,
        })
    }

    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> ObjectResult<()> {
        let bucket = self.bucket(bucket)?;
        let (upload_id, _) = self.upload_of(&bucket, key, upload_id)?;
        self.meta.apply(WriteOp::AbortUpload { upload_id }).await?;
        Ok(())
    }

    pub async fn complete_upload(&self, complete: CompleteUpload) -> ObjectResult<ObjectRecord> {
        if complete.parts.is_empty() {
            return Err(ObjectError::MalformedXml);
        }
        let mut previous = 0u32;
        let mut numbers = Vec::with_capacity(complete.parts.len());
        for part in &complete.parts {
            let number = part_number(part.number)?;
            if number <= previous {
                return Err(ObjectError::InvalidPartOrder);
            }
            previous = number;
            numbers.push(number);
        }
        let bucket = self.bucket(&complete.bucket)?;
        // A part re-uploaded while we assemble makes the commit fail; assemble again then.
        for _ in 0..8 {
            let (upload_id, upload) =
                self.upload_of(&bucket, &complete.key, &complete.upload_id)?;
            let stored: HashMap<u32, PartRecord> = self
                .meta
                .parts(&upload_id, 0, MAX_PART_NUMBER as usize)?
                .into_iter()
                .collect();
            let (mut record, layout, chosen) =
                self.assemble(&complete, &numbers, &upload, &stored)?;
            // As the commit will most likely decide; it has the last word.
            record.versioned = bucket.versioning.ids_versions();
            let redescribe = layout.blobs().any(|b| {
                self.tiers
                    .get(&b.tier)
                    .is_some_and(|t| t.keeps_descriptors())
            });
            let op = WriteOp::CompleteUpload {
                bucket: complete.bucket.clone(),
                upload_id,
                parts: chosen,
                record: record.clone(),
                redescribe,
                layout,
                precondition: complete.precondition.clone(),
            };
            match self.meta.apply(op).await {
                Ok(WriteOutcome::ObjectPut { record, .. }) => return Ok(*record),
                Ok(other) => {
                    return Err(ObjectError::Internal(format!(
                        "unexpected outcome {other:?}"
                    )));
                }
                Err(MetaError::PartsChanged) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ObjectError::Internal(
            "parts kept changing during completion".into(),
        ))
    }

    /// Validates the requested parts and builds the object record and layout.
    #[allow(clippy::type_complexity)]
    fn assemble(
        &self,
        complete: &CompleteUpload,
        numbers: &[u32],
        upload: &UploadRecord,
        stored: &HashMap<u32, PartRecord>,
    ) -> ObjectResult<(ObjectRecord, Layout, Vec<(u32, vmgw_tiering::DataId)>)> {
        let mut md5_of_md5s = Md5::new();
        let mut parts = Vec::with_capacity(numbers.len());
        let mut checksums = Vec::with_capacity(numbers.len());
        let mut size = 0u64;
        for (i, (requested, &number)) in complete.parts.iter().zip(numbers).enumerate() {
            let part = stored.get(&number).ok_or_else(|| {
                ObjectError::InvalidPart(format!("part {number} was not uploaded"))
            })?;
            if let Some(etag) = &requested.etag
                && strip_quotes(etag) != part.etag
            {
                return Err(ObjectError::InvalidPart(format!(
                    "part {number} has ETag \"{}\", not {etag}",
                    part.etag
                )));
            }
            if let Some(claimed) = &requested.checksum
                && part.checksum.as_deref() != Some(claimed.trim())
            {
                return Err(ObjectError::InvalidPart(format!(
                    "the checksum of part {number} does not match"
                )));
            }
            let is_last = i + 1 == numbers.len();
            if !is_last && part.blob.size < self.limits.min_part_size {
                return Err(ObjectError::EntityTooSmall);
            }
            let raw_md5 = hex_simd::decode_to_vec(part.etag.as_bytes())
                .map_err(|_| ObjectError::Internal("stored part ETag is not hex".into()))?;
            md5_of_md5s.update(&raw_md5);
            if let Some(checksum) = &part.checksum {
                checksums.push((checksum.clone(), part.blob.size));
            }
            size += part.blob.size;
            parts.push(PartLayout {
                number,
                blob: part.blob.clone(),
                etag: part.etag.clone(),
                checksum: part.checksum.clone(),
            });
        }
        if size > self.limits.max_put_size * u64::from(MAX_PART_NUMBER) {
            return Err(ObjectError::EntityTooLarge);
        }
        let checksum = match (upload.checksum_algorithm, upload.checksum_kind) {
            (Some(algorithm), Some(kind)) if checksums.len() == parts.len() => {
                Some(combine_parts(algorithm, kind, &checksums)?)
            }
            _ => None,
        };
        let chosen = parts.iter().map(|p| (p.number, p.blob.id)).collect();
        let record = ObjectRecord {
            version: new_version(),
            size,
            etag: format!("{}-{}", hex(&md5_of_md5s.finalize()), parts.len()),
            modified_ms: now_ms(),
            content: upload.content.clone(),
            user_meta: upload.user_meta.clone(),
            storage_class: upload.storage_class.clone(),
            checksum,
            parts: Some(u32::try_from(parts.len()).unwrap_or(u32::MAX)),
            owner: upload.owner.clone(),
            tags: upload.tags.clone(),
            access_tier: None,
            // Decided by the commit.
            versioned: false,
            delete_marker: false,
        };
        Ok((record, Layout::Parts(parts), chosen))
    }
}
