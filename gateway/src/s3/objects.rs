//! Object operations: PUT, GET, HEAD, DELETE (single and batch), COPY.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::convert::{
    self, blob, body_stream, checksum_fields, checksum_input, conditions, content_headers,
    metadata_map, timestamp, user_meta,
};
use super::errors::to_s3;
use super::{Gateway, identity};
use crate::meta::{ObjectRecord, Precondition, VersionRef};
use crate::objects::{self, MetadataDirective, NewObjectMeta};

/// A request's `versionId`: `InvalidArgument` for text that no version id has.
pub(super) fn version_param(value: Option<&str>) -> S3Result<Option<VersionRef>> {
    value
        .map(|v| objects::parse_version_id(v).map_err(to_s3))
        .transpose()
}

fn not_implemented(what: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NotImplemented,
        format!("{what} is not supported yet"),
    )
}

fn put_precondition(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
) -> S3Result<Precondition> {
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "If-Match and If-None-Match cannot be combined on a write",
        )),
        (None, Some(ETagCondition::Any)) => Ok(Precondition::IfAbsent),
        (None, Some(ETagCondition::ETag(_))) => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "If-None-Match on a write only supports *",
        )),
        (Some(ETagCondition::ETag(etag)), None) => {
            Ok(Precondition::IfEtag(etag.value().to_owned()))
        }
        (Some(ETagCondition::Any), None) => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "If-Match on a write needs an entity tag",
        )),
        (None, None) => Ok(Precondition::None),
    }
}

fn storage_class_out(class: Option<&String>) -> Option<StorageClass> {
    // S3 omits the header for STANDARD objects.
    class
        .filter(|c| c.as_str() != "STANDARD")
        .map(|c| StorageClass::from(c.clone()))
}

fn content_length(len: Option<i64>) -> S3Result<Option<u64>> {
    len.map(|n| {
        u64::try_from(n).map_err(|_| {
            S3Error::with_message(S3ErrorCode::InvalidArgument, "negative Content-Length")
        })
    })
    .transpose()
}

fn etag(record: &ObjectRecord) -> ETag {
    ETag::Strong(record.etag.clone())
}

fn content_range(range: &std::ops::Range<u64>, size: u64) -> String {
    format!(
        "bytes {}-{}/{size}",
        range.start,
        range.end.saturating_sub(1)
    )
}

fn expires(record: &ObjectRecord) -> Option<Timestamp> {
    record.content.expires_ms.map(timestamp)
}

impl Gateway {
    pub(super) async fn do_put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let owner = identity(&req);
        let input = req.input;
        let tags = tags_from_header(input.tagging.as_deref())?;
        let write_offset = input
            .write_offset_bytes
            .map(|offset| {
                u64::try_from(offset).map_err(|_| {
                    to_s3(objects::ObjectError::InvalidArgument(format!(
                        "x-amz-write-offset-bytes must not be negative, not {offset}"
                    )))
                })
            })
            .transpose()?;
        let checksum = checksum_input(
            input.checksum_algorithm.as_ref(),
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_crc64nvme,
            input.checksum_sha1,
            input.checksum_sha256,
            &req.headers,
            req.trailing_headers,
        )?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let put = objects::PutObject {
            bucket: input.bucket,
            key: input.key,
            body: body_stream(input.body),
            content_length: content_length(input.content_length)?,
            content_md5: input.content_md5,
            checksum,
            meta: NewObjectMeta {
                content: content_headers(
                    input.content_type,
                    input.content_encoding,
                    input.content_disposition,
                    input.content_language,
                    input.cache_control,
                    input.expires,
                    input.website_redirect_location,
                ),
                user_meta: user_meta(input.metadata),
                storage_class: input.storage_class.map(|c| c.as_str().to_owned()),
                tags,
            },
            owner,
            precondition: put_precondition(input.if_match, input.if_none_match)?,
        };
        let record = match write_offset {
            Some(offset) => self.objects.append_object(put, offset).await,
            None => self.objects.put_object(put).await,
        }
        .map_err(to_s3)?;
        let sums = checksum_fields(record.checksum.as_ref());
        let mut response = S3Response::new(PutObjectOutput {
            expiration: self.expiration_header(&bucket, &key, &record),
            version_id: self.objects.version_header_of(&bucket, &record),
            e_tag: Some(etag(&record)),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            checksum_type: sums.kind,
            ..PutObjectOutput::default()
        });
        if write_offset.is_some() {
            // S3 tells an appender the object's new size (the next offset).
            response
                .headers
                .insert("x-amz-object-size", http::HeaderValue::from(record.size));
        }
        Ok(response)
    }

    pub(super) async fn do_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let part_number = convert::part_number(input.part_number)?;
        let key = input.key.clone();
        let get = objects::GetObject {
            bucket: input.bucket,
            key: input.key,
            version,
            conditions: conditions(
                input.if_match,
                input.if_none_match,
                input.if_modified_since,
                input.if_unmodified_since,
            ),
            range: convert::byte_range(input.range),
            part_number,
        };
        let outcome = self.objects.get_object(get).await.map_err(to_s3)?;
        let record = outcome.record;
        let len = outcome
            .range
            .as_ref()
            .map_or(record.size, |r| r.end - r.start);
        let whole = outcome.range.is_none();
        let checksum_enabled = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let sums = if checksum_enabled && whole {
            checksum_fields(record.checksum.as_ref())
        } else {
            convert::ChecksumFields::default()
        };
        let c = record.content.clone();
        let output = GetObjectOutput {
            // Lifecycle expiration concerns current versions only.
            expiration: outcome
                .current
                .then(|| self.expiration_of(outcome.bucket_id, &key, &record))
                .flatten(),
            version_id: outcome.version_id,
            body: Some(blob(outcome.body, len)),
            accept_ranges: Some("bytes".to_owned()),
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            content_range: outcome
                .range
                .as_ref()
                .map(|r| content_range(r, record.size)),
            e_tag: Some(etag(&record)),
            last_modified: Some(timestamp(record.modified_ms)),
            metadata: metadata_map(&record.user_meta),
            content_type: input.response_content_type.or(c.content_type),
            content_encoding: input.response_content_encoding.or(c.content_encoding),
            content_disposition: input.response_content_disposition.or(c.content_disposition),
            content_language: input.response_content_language.or(c.content_language),
            cache_control: input.response_cache_control.or(c.cache_control),
            expires: input.response_expires.or_else(|| expires(&record)),
            website_redirect_location: c.website_redirect_location,
            storage_class: storage_class_out(record.storage_class.as_ref()),
            tag_count: tag_count(&record),
            parts_count: part_number
                .and(record.parts)
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            checksum_type: sums.kind,
            ..GetObjectOutput::default()
        };
        let mut response = S3Response::new(output);
        if outcome.range.is_some() {
            response.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(response)
    }

    pub(super) async fn do_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let part_number = convert::part_number(input.part_number)?;
        let conds = conditions(
            input.if_match,
            input.if_none_match,
            input.if_modified_since,
            input.if_unmodified_since,
        );
        let objects::HeadOutcome {
            bucket_id,
            record,
            version_id,
            current,
            part,
        } = self
            .objects
            .head_object(&input.bucket, &input.key, version, &conds, part_number)
            .map_err(to_s3)?;
        let range = match (part, convert::byte_range(input.range)) {
            (Some(_), Some(_)) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "Cannot specify both Range header and partNumber query parameter",
                ));
            }
            (Some(part), None) => Some(part),
            (None, Some(range)) => Some(range.resolve(record.size).map_err(to_s3)?),
            (None, None) => None,
        };
        let len = range.as_ref().map_or(record.size, |r| r.end - r.start);
        let checksum_enabled = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let sums = if checksum_enabled && range.is_none() {
            checksum_fields(record.checksum.as_ref())
        } else {
            convert::ChecksumFields::default()
        };
        let c = record.content.clone();
        let output = HeadObjectOutput {
            expiration: current
                .then(|| self.expiration_of(bucket_id, &input.key, &record))
                .flatten(),
            version_id,
            accept_ranges: Some("bytes".to_owned()),
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            content_range: range.as_ref().map(|r| content_range(r, record.size)),
            e_tag: Some(etag(&record)),
            last_modified: Some(timestamp(record.modified_ms)),
            metadata: metadata_map(&record.user_meta),
            content_type: input.response_content_type.or(c.content_type),
            content_encoding: input.response_content_encoding.or(c.content_encoding),
            content_disposition: input.response_content_disposition.or(c.content_disposition),
            content_language: input.response_content_language.or(c.content_language),
            cache_control: input.response_cache_control.or(c.cache_control),
            expires: input.response_expires.or_else(|| expires(&record)),
            website_redirect_location: c.website_redirect_location,
            storage_class: storage_class_out(record.storage_class.as_ref()),
            archive_status: record
                .access_tier
                .and_then(|t| t.archive_status())
                .map(ArchiveStatus::from_static),
            parts_count: part_number
                .and(record.parts)
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            checksum_type: sums.kind,
            ..HeadObjectOutput::default()
        };
        let mut response = S3Response::new(output);
        if range.is_some() {
            response.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        // S3 sends the tag count on HEAD too, though the API model lists it for GET only.
        if let Some(count) = tag_count(&record) {
            response
                .headers
                .insert("x-amz-tagging-count", http::HeaderValue::from(count));
        }
        Ok(response)
    }

    pub(super) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let owner = identity(&req);
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        if input.if_match.is_some()
            || input.if_match_last_modified_time.is_some()
            || input.if_match_size.is_some()
        {
            return Err(not_implemented("conditional delete"));
        }
        let outcome = match version {
            Some(version) => {
                self.objects
                    .delete_version(&input.bucket, &input.key, version)
                    .await
            }
            None => {
                self.objects
                    .delete_object(&input.bucket, &input.key, &owner)
                    .await
            }
        }
        .map_err(to_s3)?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: deleted_a_marker(&outcome).then_some(true),
            version_id: outcome.version_id,
            ..DeleteObjectOutput::default()
        }))
    }

    pub(super) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let owner = identity(&req);
        let input = req.input;
        // S3's limit per request.
        if input.delete.objects.len() > 1000 {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "a DeleteObjects request may name at most 1000 keys",
            ));
        }
        self.objects.bucket(&input.bucket).map_err(to_s3)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        let mut to_delete = Vec::new();
        for object in input.delete.objects {
            match version_param(object.version_id.as_deref()) {
                Ok(version) => to_delete.push((object.key, object.version_id, version)),
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(object.key),
                    message: e.message().map(str::to_owned),
                    version_id: object.version_id,
                }),
            }
        }
        // Issued together so that the group committer folds them into a few transactions
        // instead of one fsync per key.
        let bucket = input.bucket.as_str();
        let outcomes = futures::future::join_all(to_delete.iter().map(|(key, _, version)| async {
            match version {
                Some(version) => self.objects.delete_version(bucket, key, *version).await,
                None => self.objects.delete_object(bucket, key, &owner).await,
            }
        }))
        .await;
        for ((key, version_text, version), outcome) in to_delete.into_iter().zip(outcomes) {
            match outcome {
                Ok(_) if quiet => {}
                Ok(outcome) => {
                    let marker = deleted_a_marker(&outcome);
                    deleted.push(DeletedObject {
                        key: Some(key),
                        // A version named in the request is echoed; a new marker is named
                        // by DeleteMarkerVersionId.
                        version_id: version.and(version_text),
                        delete_marker: marker.then_some(true),
                        delete_marker_version_id: if marker { outcome.version_id } else { None },
                    });
                }
                Err(e) => {
                    let e = to_s3(e);
                    errors.push(Error {
                        code: Some(e.code().as_str().to_owned()),
                        key: Some(key),
                        message: e.message().map(str::to_owned),
                        version_id: version_text,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..DeleteObjectsOutput::default()
        }))
    }

    pub(super) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let owner = identity(&req);
        let input = req.input;
        let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
        // s3s does not surface the destination conditions of CopyObject; read the headers.
        let header_condition = |name: http::HeaderName| -> S3Result<Option<ETagCondition>> {
            req.headers
                .get(name)
                .map(|v| {
                    v.to_str()
                        .ok()
                        .and_then(|text| ETagCondition::parse_http_header(text.as_bytes()).ok())
                        .ok_or_else(|| {
                            S3Error::with_message(
                                S3ErrorCode::InvalidArgument,
                                "invalid conditional header",
                            )
                        })
                })
                .transpose()
        };
        let precondition = put_precondition(
            header_condition(http::header::IF_MATCH)?,
            header_condition(http::header::IF_NONE_MATCH)?,
        )?;
        let checksum_algorithm = convert::checksum_algorithm(input.checksum_algorithm.as_ref())?;
        let tagging = match input
            .tagging_directive
            .as_ref()
            .map(TaggingDirective::as_str)
        {
            None | Some(TaggingDirective::COPY) => objects::TaggingDirective::Copy,
            Some(TaggingDirective::REPLACE) => {
                objects::TaggingDirective::Replace(tags_from_header(input.tagging.as_deref())?)
            }
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Unknown tagging directive {other:?}"),
                ));
            }
        };
        let directive = match input
            .metadata_directive
            .as_ref()
            .map(MetadataDirective_::as_str)
        {
            None | Some(MetadataDirective_::COPY) => MetadataDirective::Copy,
            Some(MetadataDirective_::REPLACE) => {
                MetadataDirective::Replace(Box::new(NewObjectMeta {
                    content: content_headers(
                        input.content_type,
                        input.content_encoding,
                        input.content_disposition,
                        input.content_language,
                        input.cache_control,
                        input.expires,
                        input.website_redirect_location,
                    ),
                    user_meta: user_meta(input.metadata),
                    storage_class: None,
                    tags: Vec::new(),
                }))
            }
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Unknown metadata directive {other:?}"),
                ));
            }
        };
        let copy = objects::CopyObject {
            tagging,
            src_bucket,
            src_key,
            src_version,
            dst_bucket: input.bucket,
            dst_key: input.key,
            conditions: conditions(
                input.copy_source_if_match,
                input.copy_source_if_none_match,
                input.copy_source_if_modified_since,
                input.copy_source_if_unmodified_since,
            ),
            directive,
            storage_class: input.storage_class.map(|c| c.as_str().to_owned()),
            checksum_algorithm,
            precondition,
            owner,
        };
        let dst_bucket = copy.dst_bucket.clone();
        let objects::Copied {
            record,
            source_version_id,
        } = self.objects.copy_object(copy).await.map_err(to_s3)?;
        let sums = checksum_fields(record.checksum.as_ref());
        Ok(S3Response::new(CopyObjectOutput {
            copy_source_version_id: source_version_id,
            version_id: self.objects.version_header_of(&dst_bucket, &record),
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&record)),
                last_modified: Some(timestamp(record.modified_ms)),
                checksum_crc32: sums.crc32,
                checksum_crc32c: sums.crc32c,
                checksum_crc64nvme: sums.crc64nvme,
                checksum_sha1: sums.sha1,
                checksum_sha256: sums.sha256,
                checksum_type: sums.kind,
            }),
            ..CopyObjectOutput::default()
        }))
    }
}

use s3s::dto::MetadataDirective as MetadataDirective_;

/// The source bucket, key and version (`?versionId=`) of a copy.
pub(super) fn copy_source(source: &CopySource) -> S3Result<(String, String, Option<VersionRef>)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((
            bucket.to_string(),
            key.to_string(),
            version_param(version_id.as_deref())?,
        )),
        _ => Err(not_implemented("access point and outpost copy sources")),
    }
}

/// Whether a DELETE answers `x-amz-delete-marker: true`: it wrote a delete marker, or
/// removed one by its version id.
fn deleted_a_marker(outcome: &objects::DeleteOutcome) -> bool {
    outcome.marker.is_some() || outcome.removed.as_ref().is_some_and(|r| r.delete_marker)
}

/// `x-amz-tagging` as sent on PUT, CreateMultipartUpload and CopyObject.
pub(super) fn tags_from_header(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
    header.map_or(Ok(Vec::new()), |h| {
        objects::parse_tagging_header(h).map_err(to_s3)
    })
}

/// `x-amz-tagging-count`, sent only when the object has tags.
fn tag_count(record: &crate::meta::ObjectRecord) -> Option<i32> {
    (!record.tags.is_empty()).then(|| i32::try_from(record.tags.len()).unwrap_or(i32::MAX))
}

impl Gateway {
    /// `x-amz-expiration` for an object of a bucket known by name (PUT, Complete).
    pub(super) fn expiration_header(
        &self,
        bucket: &str,
        key: &str,
        record: &crate::meta::ObjectRecord,
    ) -> Option<String> {
        let id = self.objects.bucket(bucket).ok()?.id;
        self.expiration_of(id, key, record)
    }

    /// `x-amz-expiration` for an object an expiration rule covers: when and which rule.
    pub(super) fn expiration_of(
        &self,
        bucket_id: u64,
        key: &str,
        record: &crate::meta::ObjectRecord,
    ) -> Option<String> {
        match self.objects.expiration(bucket_id, key, record) {
            Ok(found) => found.map(|(at, rule)| {
                format!(
                    "expiry-date=\"{}\", rule-id=\"{}\"",
                    convert::http_date(at),
                    rule.replace('\\', "\\\\").replace('"', "\\\"")
                )
            }),
            Err(e) => {
                tracing::warn!(bucket_id, key, error = %e, "cannot evaluate expiration rules");
                None
            }
        }
    }
}
