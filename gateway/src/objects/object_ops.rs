//! PutObject, GetObject, HeadObject, DeleteObject and CopyObject.

use std::ops::Range;
use std::sync::Arc;

use super::conditions::{ByteRange, Conditions};
use super::descriptor::{BlobFacts, Describer, complete_record};
use super::error::{ObjectError, ObjectResult};
use super::ingest::{ByteStream, IngestSpec, Ingested, IngestedData, ingest};
use super::read::stream_range;
use super::tiers::STORAGE_CLASSES;
use super::{ObjectService, new_version, now_ms};
use crate::meta::{
    ChecksumAlgorithm, ContentHeaders, Layout, MetaError, ObjectRecord, Precondition, VersionRef,
    WriteOp, WriteOutcome,
};

/// Where checksum trailers of a streamed body can be read once the body has ended.
pub trait TrailerSource: Send + Sync {
    /// The value of trailer `name`, if it was sent.
    fn trailer(&self, name: &str) -> Option<String>;
}

/// What the client declared about the additional checksum of a body.
#[derive(Default)]
pub struct ChecksumInput {
    /// The algorithm to compute, from `x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm`
    /// or `x-amz-trailer`.
    pub algorithm: Option<ChecksumAlgorithm>,
    /// The value sent as a header, if any.
    pub value: Option<String>,
    /// Trailers of an aws-chunked body, read after the body ends.
    pub trailers: Option<Box<dyn TrailerSource>>,
}

impl ChecksumInput {
    /// The value the client claims, from a header or a trailer.
    fn claimed(&self) -> Option<String> {
        let algorithm = self.algorithm?;
        self.value.clone().or_else(|| {
            self.trailers
                .as_ref()
                .and_then(|t| t.trailer(algorithm.header()))
        })
    }
}

/// Metadata supplied for a new object.
#[derive(Debug, Clone, Default)]
pub struct NewObjectMeta {
    pub content: ContentHeaders,
    pub user_meta: Vec<(String, String)>,
    pub storage_class: Option<String>,
    pub tags: Vec<(String, String)>,
}

pub struct PutObject {
    pub bucket: String,
    pub key: String,
    pub body: ByteStream,
    pub content_length: Option<u64>,
    /// `Content-MD5` as sent (base64).
    pub content_md5: Option<String>,
    pub checksum: ChecksumInput,
    pub meta: NewObjectMeta,
    pub owner: String,
    pub precondition: Precondition,
}

pub struct GetObject {
    pub bucket: String,
    pub key: String,
    /// `versionId`: that version instead of the current one.
    pub version: Option<VersionRef>,
    pub conditions: Conditions,
    pub range: Option<ByteRange>,
    pub part_number: Option<u32>,
}

pub struct GetOutcome {
    /// The bucket's id, so the caller can ask about its rules without looking it up again.
    pub bucket_id: u64,
    pub record: ObjectRecord,
    /// `x-amz-version-id`, once the bucket has versioning configured.
    pub version_id: Option<String>,
    /// Whether the version read is the key's current one.
    pub current: bool,
    /// The bytes returned, when less than the whole object was asked for.
    pub range: Option<Range<u64>>,
    pub body: ByteStream,
}

/// What HeadObject found.
pub struct HeadOutcome {
    pub bucket_id: u64,
    pub record: ObjectRecord,
    /// `x-amz-version-id`, once the bucket has versioning configured.
    pub version_id: Option<String>,
    /// Whether the version is the key's current one.
    pub current: bool,
    /// The byte range of the part asked for with `partNumber`.
    pub part: Option<Range<u64>>,
}

#[derive(Debug, Clone)]
pub enum MetadataDirective {
    Copy,
    Replace(Box<NewObjectMeta>),
}

/// `x-amz-tagging-directive`: the copy keeps the source's tags, or gets these.
#[derive(Debug, Clone)]
pub enum TaggingDirective {
    Copy,
    Replace(Vec<(String, String)>),
}

pub struct CopyObject {
    pub tagging: TaggingDirective,
    pub src_bucket: String,
    pub src_key: String,
    /// `?versionId=` of the copy source: that version instead of the current one.
    pub src_version: Option<VersionRef>,
    pub dst_bucket: String,
    pub dst_key: String,
    pub conditions: Conditions,
    pub directive: MetadataDirective,
    /// Storage class for the copy; `None` means STANDARD.
    pub storage_class: Option<String>,
    /// Checksum to compute for the copy; `None` keeps the source's algorithm.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// Condition on the destination (`If-None-Match: *`, `If-Match`).
    pub precondition: Precondition,
    pub owner: String,
}

/// What a copy wrote, and what it read.
pub struct Copied {
    pub record: ObjectRecord,
    /// `x-amz-copy-source-version-id`: the source version's id, once the source bucket has
    /// versioning configured.
    pub source_version_id: Option<String>,
}

/// Decodes `Content-MD5`: base64 of exactly 16 bytes, else `InvalidDigest`.
pub(super) fn parse_content_md5(value: Option<&str>) -> ObjectResult<Option<[u8; 16]>> {
    let Some(value) = value else { return Ok(None) };
    let raw = base64_simd::STANDARD
        .decode_to_vec(value.trim())
        .map_err(|_| ObjectError::InvalidDigest)?;
    raw.try_into()
        .map(Some)
        .map_err(|_| ObjectError::InvalidDigest)
}

/// Checks what was received against what the client declared.
pub(super) fn verify(
    ingested: &Ingested,
    content_md5: Option<[u8; 16]>,
    checksum: &ChecksumInput,
) -> ObjectResult<()> {
    if content_md5.is_some_and(|md5| md5 != ingested.md5) {
        return Err(ObjectError::BadDigest);
    }
    if let (Some(algorithm), Some(claimed)) = (checksum.algorithm, checksum.claimed())
        && ingested.checksum.as_deref() != Some(claimed.trim())
    {
        return Err(ObjectError::ChecksumMismatch {
            algorithm: algorithm.name(),
        });
    }
    Ok(())
}

impl ObjectService {
    pub(super) fn validate_meta(&self, meta: &NewObjectMeta) -> ObjectResult<()> {
        let size: usize = meta.user_meta.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > self.limits.max_user_metadata {
            return Err(ObjectError::MetadataTooLarge);
        }
        super::tagging::validate_tags(&meta.tags)?;
        if let Some(class) = &meta.storage_class {
            validate_storage_class(class)?;
        }
        Ok(())
    }

    pub(super) fn ingest_spec(
        &self,
        expected_len: Option<u64>,
        checksum: Option<ChecksumAlgorithm>,
        inline: bool,
    ) -> IngestSpec {
        IngestSpec {
            expected_len,
            max_len: self.limits.max_put_size,
            checksum,
            inline_limit: if inline {
                self.limits.inline_threshold
            } else {
                0
            },
            describe: None,
            in_flight: Some(Arc::clone(&self.in_flight)),
        }
    }

    /// Throws away the stored bytes of an ingest that will not be committed.
    pub(super) async fn discard_ingested(&self, ingested: &Ingested) {
        if let IngestedData::Blob(blob) = &ingested.data
            && let Some(tier) = self.tiers.get(&blob.tier)
        {
            self.discard(&tier, blob.id).await;
        }
    }

    pub async fn put_object(&self, put: PutObject) -> ObjectResult<ObjectRecord> {
        self.activity.touch();
        self.validate_meta(&put.meta)?;
        let content_md5 = parse_content_md5(put.content_md5.as_deref())?;
        let bucket = self.bucket(&put.bucket)?;
        if put.precondition == Precondition::IfAbsent
            && self.meta.object(bucket.id, &put.key)?.is_some()
        {
            // Checked again atomically at commit; failing here saves receiving the body.
            // Answered at once (sdk_auth asserts it): a client may never send the body.
            return Err(ObjectError::PreconditionFailed);
        }
        // Refused before the body, which the connection's lingering close reads and drops.
        self.precheck_quota(&bucket, &put.key, put.content_length)?;
        let class = put.meta.storage_class.as_deref();
        // Small objects live in the metadata store, next to the hottest tier; colder
        // classes always get a blob on their own tier.
        let inline = self.tiers.is_hottest(self.tiers.for_class(class));
        let draft = ObjectRecord {
            version: new_version(),
            size: 0,
            etag: String::new(),
            modified_ms: now_ms(),
            content: put.meta.content,
            user_meta: put.meta.user_meta,
            storage_class: put.meta.storage_class,
            checksum: None,
            parts: None,
            owner: put.owner,
            tags: put.meta.tags,
            access_tier: None,
            // As the blob describes itself; the commit decides (and redescribes if needed).
            versioned: bucket.versioning.ids_versions(),
            delete_marker: false,
        };
        let algorithm = put.checksum.algorithm;
        let class = draft.storage_class.as_deref();
        let targets = self.tiers.write_targets(class, put.content_length);
        let mut spec = self.ingest_spec(put.content_length, algorithm, inline);
        if targets.iter().any(|t| t.keeps_descriptors()) {
            spec.describe = Some(Describer::for_object(
                &put.bucket,
                &put.key,
                draft.clone(),
                algorithm,
            ));
        }
        let ingested = ingest(&targets, put.body, &spec, &self.md5).await?;
        if let Err(e) = verify(&ingested, content_md5, &put.checksum) {
            self.discard_ingested(&ingested).await;
            return Err(e);
        }
        let record = complete_record(
            draft,
            &BlobFacts {
                size: ingested.size,
                md5: ingested.md5,
                checksum: ingested.checksum.clone(),
            },
            algorithm,
        );
        self.commit_single(
            &put.bucket,
            bucket.id,
            &put.key,
            record,
            ingested,
            put.precondition,
        )
        .await
    }

    /// Commits a freshly ingested single-blob (or inline) object.
    async fn commit_single(
        &self,
        bucket: &str,
        bucket_id: u64,
        key: &str,
        record: ObjectRecord,
        ingested: Ingested,
        precondition: Precondition,
    ) -> ObjectResult<ObjectRecord> {
        let layout = match &ingested.data {
            IngestedData::Inline(data) => Layout::Inline {
                crc32c: crc_fast::crc32_iscsi(data),
                data: data.clone(),
            },
            IngestedData::Blob(blob) => Layout::Blob(blob.clone()),
        };
        let op = WriteOp::PutObject {
            bucket: bucket.to_owned(),
            bucket_id,
            key: key.to_owned(),
            record: record.clone(),
            layout,
            precondition,
        };
        match self.meta.apply(op).await {
            Ok(WriteOutcome::ObjectPut { record, .. }) => Ok(*record),
            Ok(other) => Err(ObjectError::Internal(format!(
                "unexpected outcome {other:?}"
            ))),
            Err(e) => {
                self.discard_ingested(&ingested).await;
                Err(e.into())
            }
        }
    }

    /// The record of an object (its current version, or `version`), after its conditions;
    /// what HEAD answers.
    pub fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionRef>,
        conditions: &Conditions,
        part_number: Option<u32>,
    ) -> ObjectResult<HeadOutcome> {
        self.activity.touch();
        let bucket = self.bucket(bucket)?;
        let Some(part_number) = part_number else {
            let (record, current) = self.version_record(&bucket, key, version)?;
            conditions.check(&record, false)?;
            return Ok(HeadOutcome {
                bucket_id: bucket.id,
                version_id: Self::version_header(&bucket, &record),
                record,
                current,
                part: None,
            });
        };
        let opened = self.open_version(&bucket, key, version)?;
        conditions.check(&opened.record, false)?;
        let range = part_range(&opened.layout, opened.record.size, part_number)?;
        Ok(HeadOutcome {
            bucket_id: bucket.id,
            version_id: Self::version_header(&bucket, &opened.record),
            record: opened.record,
            current: opened.current,
            part: Some(range),
        })
    }

    pub async fn get_object(&self, get: GetObject) -> ObjectResult<GetOutcome> {
        self.activity.touch();
        let bucket = self.bucket(&get.bucket)?;
        let super::Opened {
            record,
            layout,
            pins,
            current,
        } = self.open_version(&bucket, &get.key, get.version)?;
        get.conditions.check(&record, false)?;
        let range = match (get.part_number, get.range) {
            (Some(_), Some(_)) => {
                return Err(ObjectError::InvalidRequest(
                    "cannot specify both Range header and partNumber query parameter".into(),
                ));
            }
            (Some(number), None) => Some(part_range(&layout, record.size, number)?),
            (None, Some(range)) => Some(range.resolve(record.size)?),
            (None, None) => None,
        };
        let body = stream_range(
            &self.tiers,
            layout,
            range.clone().unwrap_or(0..record.size),
            pins,
        )
        .await?;
        if current {
            // Reads of the current version decide its tiering; old versions are not it.
            self.access.record(bucket.id, &get.key);
        }
        Ok(GetOutcome {
            bucket_id: bucket.id,
            version_id: Self::version_header(&bucket, &record),
            record,
            current,
            range,
            body,
        })
    }

    pub async fn copy_object(&self, copy: CopyObject) -> ObjectResult<Copied> {
        if let MetadataDirective::Replace(meta) = &copy.directive {
            self.validate_meta(meta)?;
        }
        if let TaggingDirective::Replace(tags) = &copy.tagging {
            super::tagging::validate_tags(tags)?;
        }
        if let Some(class) = &copy.storage_class {
            validate_storage_class(class)?;
        }
        let src_bucket = self.bucket(&copy.src_bucket)?;
        let dst_bucket = self.bucket(&copy.dst_bucket)?;
        let same_key = src_bucket.id == dst_bucket.id && copy.src_key == copy.dst_key;
        // Bytes may be handed from the replaced version to the new one, unless the commit
        // finds the replaced version must stay (versioning was turned on meanwhile).
        let mut may_hand_over = true;
        // A metadata-only copy onto itself can lose a race with a concurrent writer; then
        // it starts over on the new version, as a fresh request would.
        for _ in 0..8 {
            let super::Opened {
                record: src,
                layout,
                pins,
                current: src_current,
            } = match self.open_version(&src_bucket, &copy.src_key, copy.src_version) {
                Ok(opened) => opened,
                Err(ObjectError::DeleteMarkerVersion { .. }) => {
                    return Err(ObjectError::InvalidRequest(
                        "The source of a copy request may not specifically refer to a delete marker by version id."
                            .into(),
                    ));
                }
                // S3 answers a source hidden by a delete marker as absent.
                Err(ObjectError::DeletedKey { .. }) => return Err(ObjectError::NoSuchKey),
                Err(e) => return Err(e),
            };
            let source_version_id = Self::version_header(&src_bucket, &src);
            // Copying an older version onto its own key restores it: not a copy onto itself.
            let same_object = same_key && src_current;
            if same_object
                && matches!(copy.directive, MetadataDirective::Copy)
                && copy.storage_class.is_none()
            {
                return Err(ObjectError::InvalidCopyToSelf);
            }
            copy.conditions.check(&src, true)?;
            let src_algorithm = src.checksum.as_ref().map(|c| c.algorithm);
            let algorithm = copy.checksum_algorithm.or(src_algorithm);
            let meta = match &copy.directive {
                MetadataDirective::Copy => NewObjectMeta {
                    content: src.content.clone(),
                    user_meta: src.user_meta.clone(),
                    storage_class: src.storage_class.clone(),
                    tags: Vec::new(),
                },
                MetadataDirective::Replace(meta) => (**meta).clone(),
            };
            // As in S3, a copy is STANDARD unless the request names a class.
            let storage_class = copy.storage_class.clone();
            let record = ObjectRecord {
                version: new_version(),
                size: src.size,
                etag: src.etag.clone(),
                modified_ms: now_ms(),
                content: meta.content,
                user_meta: meta.user_meta,
                storage_class,
                checksum: src.checksum.clone(),
                parts: src.parts,
                owner: copy.owner.clone(),
                tags: match &copy.tagging {
                    TaggingDirective::Copy => src.tags.clone(),
                    TaggingDirective::Replace(tags) => tags.clone(),
                },
                access_tier: None,
                versioned: dst_bucket.versioning.ids_versions(),
                delete_marker: false,
            };
            if same_object {
                // The destination is the source, so its conditions are decided already.
                let destination_ok = match &copy.precondition {
                    Precondition::None | Precondition::IfVersion(_) => true,
                    Precondition::IfAbsent => false,
                    Precondition::IfEtag(etag) => *etag == src.etag,
                };
                if !destination_ok {
                    return Err(ObjectError::PreconditionFailed);
                }
            }
            let target = self.tiers.for_class(record.storage_class.as_deref());
            let bytes_in_place = match &layout {
                Layout::Inline { .. } => self.tiers.is_hottest(target),
                _ => layout.blobs().all(|b| b.tier == target.name()),
            };
            // On a versioned bucket the replaced version stays, with its own bytes: the copy
            // writes its own.
            let hand_over = may_hand_over && dst_bucket.versioning.is_unversioned();
            if same_object && algorithm == src_algorithm && bytes_in_place && hand_over {
                // The bytes stay where they are; the new version takes over the old blobs.
                let op = WriteOp::PutObject {
                    bucket: copy.dst_bucket.clone(),
                    bucket_id: dst_bucket.id,
                    key: copy.dst_key.clone(),
                    record: record.clone(),
                    layout,
                    precondition: Precondition::IfVersion(src.version),
                };
                drop(pins);
                match self.meta.apply(op).await {
                    Ok(WriteOutcome::ObjectPut { record, .. }) => {
                        return Ok(Copied {
                            record: *record,
                            source_version_id,
                        });
                    }
                    Ok(other) => {
                        return Err(ObjectError::Internal(format!(
                            "unexpected outcome {other:?}"
                        )));
                    }
                    Err(MetaError::PreconditionFailed) => continue,
                    Err(MetaError::SharedBlobs) => {
                        may_hand_over = false;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let precondition = if same_object {
                Precondition::IfVersion(src.version)
            } else {
                copy.precondition.clone()
            };
            let body = stream_range(&self.tiers, layout, 0..src.size, pins).await?;
            if src_current {
                self.access.record(src_bucket.id, &copy.src_key);
            }
            let class = record.storage_class.as_deref();
            let inline = self.tiers.is_hottest(self.tiers.for_class(class));
            let targets = self.tiers.write_targets(class, Some(src.size));
            let mut spec = self.ingest_spec(Some(src.size), algorithm, inline);
            if targets.iter().any(|t| t.keeps_descriptors()) {
                spec.describe = Some(Describer::for_object(
                    &copy.dst_bucket,
                    &copy.dst_key,
                    record.clone(),
                    algorithm,
                ));
            }
            let ingested = ingest(&targets, body, &spec, &self.md5).await?;
            // The copy is a single-part object: its ETag and checksum describe its bytes.
            let record = complete_record(
                record,
                &BlobFacts {
                    size: ingested.size,
                    md5: ingested.md5,
                    checksum: ingested.checksum.clone(),
                },
                algorithm,
            );
            let record = self
                .commit_single(
                    &copy.dst_bucket,
                    dst_bucket.id,
                    &copy.dst_key,
                    record,
                    ingested,
                    precondition,
                )
                .await?;
            return Ok(Copied {
                record,
                source_version_id,
            });
        }
        Err(ObjectError::Internal(
            "source object kept changing during the copy".into(),
        ))
    }
}

/// The byte range of part `number` of an object (S3's `partNumber`).
pub(super) fn part_range(layout: &Layout, size: u64, number: u32) -> ObjectResult<Range<u64>> {
    match layout {
        Layout::Parts(parts) => {
            let mut start = 0;
            for part in parts {
                if part.number == number {
                    return Ok(start..start + part.blob.size);
                }
                start += part.blob.size;
            }
            Err(ObjectError::InvalidPartNumber)
        }
        _ if number == 1 => Ok(0..size),
        _ => Err(ObjectError::InvalidPartNumber),
    }
}

/// `InvalidStorageClass` for a class S3 does not define.
pub(super) fn validate_storage_class(class: &str) -> ObjectResult<()> {
    if STORAGE_CLASSES.contains(&class) {
        Ok(())
    } else {
        Err(ObjectError::InvalidStorageClass)
    }
}
