//! Multipart upload operations.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::convert::{
    body_stream, checksum_algorithm, checksum_algorithm_dto, checksum_fields, checksum_input,
    checksum_kind_dto, conditions, content_headers, copy_source_range, owner, timestamp,
    url_encode, user_meta,
};
use super::errors::to_s3;
use super::objects::copy_source;
use super::{Gateway, identity};
use crate::meta::{ChecksumKind, Precondition, UploadQuery};
use crate::objects::{self, CompletePart, NewObjectMeta, parse_upload_id};

fn part_checksum(part: &CompletedPart) -> Option<String> {
    part.checksum_crc32
        .clone()
        .or_else(|| part.checksum_crc32c.clone())
        .or_else(|| part.checksum_crc64nvme.clone())
        .or_else(|| part.checksum_sha1.clone())
        .or_else(|| part.checksum_sha256.clone())
}

impl Gateway {
    pub(super) async fn do_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let owner = identity(&req);
        let input = req.input;
        let tags = super::objects::tags_from_header(input.tagging.as_deref())?;
        let checksum_algorithm = checksum_algorithm(input.checksum_algorithm.as_ref())?;
        let checksum_kind = match input.checksum_type.as_ref().map(ChecksumType::as_str) {
            None => None,
            Some(ChecksumType::FULL_OBJECT) => Some(ChecksumKind::FullObject),
            Some(ChecksumType::COMPOSITE) => Some(ChecksumKind::Composite),
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    format!("Unknown checksum type {other:?}"),
                ));
            }
        };
        let create = objects::CreateUpload {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
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
            checksum_algorithm,
            checksum_kind,
            owner,
        };
        let upload_id = self.objects.create_upload(create).await.map_err(to_s3)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: input.checksum_type,
            ..CreateMultipartUploadOutput::default()
        }))
    }

    pub(super) async fn do_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
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
        let algorithm = checksum.algorithm;
        let part = objects::UploadPart {
            bucket: input.bucket,
            key: input.key,
            upload_id: input.upload_id,
            part_number: input.part_number,
            body: body_stream(input.body),
            content_length: input
                .content_length
                .map(|n| {
                    u64::try_from(n).map_err(|_| {
                        S3Error::with_message(
                            S3ErrorCode::InvalidArgument,
                            "negative Content-Length",
                        )
                    })
                })
                .transpose()?,
            content_md5: input.content_md5,
            checksum,
        };
        let record = self.objects.upload_part(part).await.map_err(to_s3)?;
        let stored = record
            .checksum
            .clone()
            .zip(algorithm)
            .map(|(value, algorithm)| crate::meta::StoredChecksum {
                algorithm,
                kind: ChecksumKind::FullObject,
                value,
            });
        let sums = checksum_fields(stored.as_ref());
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(record.etag)),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            ..UploadPartOutput::default()
        }))
    }

    pub(super) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
        let copy = objects::UploadPartCopy {
            bucket: input.bucket,
            key: input.key,
            upload_id: input.upload_id,
            part_number: input.part_number,
            src_bucket,
            src_key,
            src_version,
            src_range: copy_source_range(input.copy_source_range.as_deref())?,
            conditions: conditions(
                input.copy_source_if_match,
                input.copy_source_if_none_match,
                input.copy_source_if_modified_since,
                input.copy_source_if_unmodified_since,
            ),
        };
        let (record, source_version_id) =
            self.objects.upload_part_copy(copy).await.map_err(to_s3)?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_source_version_id: source_version_id,
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(record.etag)),
                last_modified: Some(timestamp(record.modified_ms)),
                ..CopyPartResult::default()
            }),
            ..UploadPartCopyOutput::default()
        }))
    }

    pub(super) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let parts = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let number = p.part_number.ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::MalformedXML,
                        "every part needs a PartNumber",
                    )
                })?;
                Ok(CompletePart {
                    number,
                    checksum: part_checksum(&p),
                    etag: p.e_tag.map(|e| e.value().to_owned()),
                })
            })
            .collect::<S3Result<Vec<_>>>()?;
        let precondition = match (input.if_match, input.if_none_match) {
            (None, Some(ETagCondition::Any)) => Precondition::IfAbsent,
            (Some(ETagCondition::ETag(e)), None) => Precondition::IfEtag(e.value().to_owned()),
            (None, None) => Precondition::None,
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::NotImplemented,
                    "unsupported conditional completion",
                ));
            }
        };
        let complete = objects::CompleteUpload {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            upload_id: input.upload_id,
            parts,
            precondition,
        };
        let record = self
            .objects
            .complete_upload(complete)
            .await
            .map_err(to_s3)?;
        let sums = checksum_fields(record.checksum.as_ref());
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            expiration: self.expiration_header(&input.bucket, &input.key, &record),
            version_id: self.objects.version_header_of(&input.bucket, &record),
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, url_encode(&input.key))),
            e_tag: Some(ETag::Strong(record.etag)),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            checksum_type: sums.kind,
            ..CompleteMultipartUploadOutput::default()
        }))
    }

    pub(super) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.objects
            .abort_upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn do_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let max = match input.max_parts {
            Some(n) if n < 0 => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "max-parts must be a non-negative integer",
                ));
            }
            Some(n) => usize::try_from(n.min(1000)).unwrap_or(1000),
            None => 1000,
        };
        let after = u32::try_from(input.part_number_marker.unwrap_or(0).max(0)).unwrap_or(0);
        let page = self
            .objects
            .list_parts(&input.bucket, &input.key, &input.upload_id, after, max)
            .map_err(to_s3)?;
        let next_marker = page
            .parts
            .last()
            .map(|(n, _)| i32::try_from(*n).unwrap_or(i32::MAX));
        let algorithm = page.upload.checksum_algorithm;
        let parts = page
            .parts
            .into_iter()
            .map(|(number, part)| {
                let stored = part
                    .checksum
                    .clone()
                    .zip(algorithm)
                    .map(|(value, algorithm)| crate::meta::StoredChecksum {
                        algorithm,
                        kind: ChecksumKind::FullObject,
                        value,
                    });
                let sums = checksum_fields(stored.as_ref());
                Part {
                    part_number: Some(i32::try_from(number).unwrap_or(i32::MAX)),
                    e_tag: Some(ETag::Strong(part.etag)),
                    last_modified: Some(timestamp(part.modified_ms)),
                    size: Some(i64::try_from(part.blob.size).unwrap_or(i64::MAX)),
                    checksum_crc32: sums.crc32,
                    checksum_crc32c: sums.crc32c,
                    checksum_crc64nvme: sums.crc64nvme,
                    checksum_sha1: sums.sha1,
                    checksum_sha256: sums.sha256,
                }
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next_marker,
            is_truncated: Some(page.truncated),
            parts: Some(parts),
            initiator: Some(Initiator {
                display_name: Some(page.upload.owner.clone()),
                id: Some(page.upload.owner.clone()),
            }),
            owner: Some(owner(&page.upload.owner)),
            storage_class: Some(StorageClass::from(
                page.upload
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| "STANDARD".to_owned()),
            )),
            checksum_algorithm: checksum_algorithm_dto(algorithm),
            checksum_type: checksum_kind_dto(page.upload.checksum_kind),
            ..ListPartsOutput::default()
        }))
    }

    pub(super) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let max = match input.max_uploads {
            Some(n) if n < 0 => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "max-uploads must be a non-negative integer",
                ));
            }
            Some(n) => usize::try_from(n.min(1000)).unwrap_or(1000),
            None => 1000,
        };
        let encode = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let upload_id_marker = match input.upload_id_marker.as_deref().filter(|m| !m.is_empty()) {
            Some(marker) => Some(parse_upload_id(marker).map_err(|_| {
                S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid uploadId marker")
            })?),
            None => None,
        };
        let query = UploadQuery {
            bucket_id: 0,
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            key_marker: input.key_marker.clone().filter(|m| !m.is_empty()),
            upload_id_marker,
            max_uploads: max,
        };
        let page = self
            .objects
            .list_uploads(&input.bucket, query)
            .map_err(to_s3)?;
        let hex = |id: &[u8; 16]| hex_simd::encode_to_string(id, hex_simd::AsciiCase::Lower);
        let enc = |s: String| if encode { url_encode(&s) } else { s };
        let (next_key_marker, next_upload_id_marker) = match page.uploads.last() {
            Some((key, id, _)) if page.truncated => (Some(enc(key.clone())), Some(hex(id))),
            _ => (None, None),
        };
        let uploads = page
            .uploads
            .iter()
            .map(|(key, id, record)| MultipartUpload {
                key: Some(enc(key.clone())),
                upload_id: Some(hex(id)),
                initiated: Some(timestamp(record.initiated_ms)),
                initiator: Some(Initiator {
                    display_name: Some(record.owner.clone()),
                    id: Some(record.owner.clone()),
                }),
                owner: Some(owner(&record.owner)),
                storage_class: Some(StorageClass::from(
                    record
                        .storage_class
                        .clone()
                        .unwrap_or_else(|| "STANDARD".to_owned()),
                )),
                checksum_algorithm: checksum_algorithm_dto(record.checksum_algorithm),
                checksum_type: checksum_kind_dto(record.checksum_kind),
            })
            .collect();
        let common_prefixes = page
            .common_prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p.clone())),
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix.map(enc),
            delimiter: input.delimiter.map(enc),
            key_marker: input.key_marker.map(enc),
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            next_key_marker,
            next_upload_id_marker,
            uploads: Some(uploads),
            common_prefixes: Some(common_prefixes),
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }
}
