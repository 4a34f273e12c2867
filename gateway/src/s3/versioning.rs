//! Put/GetBucketVersioning and ListObjectVersions.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::Gateway;
use super::convert::{owner, timestamp, url_encode};
use super::errors::to_s3;
use super::objects::version_param;
use crate::meta::{VersionQuery, VersionRef, Versioning};

/// S3 returns at most 1000 entries per page.
const MAX_KEYS: i32 = 1000;

/// The id a listing shows for a version.
fn listed_id(versioned: bool, version: u128) -> String {
    crate::objects::shown_version_id(version, versioned)
}

fn marker_text(version: VersionRef) -> String {
    match version {
        VersionRef::Null => "null".to_owned(),
        VersionRef::Id(id) => listed_id(true, id),
    }
}

impl Gateway {
    pub(super) async fn do_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let config = input.versioning_configuration;
        match config.mfa_delete.as_ref().map(MFADelete::as_str) {
            None | Some(MFADelete::DISABLED) => {}
            Some(MFADelete::ENABLED) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::NotImplemented,
                    "MFA delete is not supported",
                ));
            }
            // Well-formed XML naming an MFA delete state that does not exist: the
            // configuration itself is what is wrong.
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::IllegalVersioningConfigurationException,
                    format!(
                        "MfaDelete must be Enabled or Disabled, not {other:?}: the versioning configuration specified in the request is invalid"
                    ),
                ));
            }
        }
        let versioning = match config.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            // S3 answers a configuration without a valid status as not matching its schema.
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema",
                ));
            }
        };
        self.objects
            .set_bucket_versioning(&input.bucket, versioning)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    pub(super) async fn do_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let versioning = self
            .objects
            .bucket_versioning(&req.input.bucket)
            .map_err(to_s3)?;
        // A bucket never versioned has no status at all.
        let status = match versioning {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some(BucketVersioningStatus::from_static(
                BucketVersioningStatus::ENABLED,
            )),
            Versioning::Suspended => Some(BucketVersioningStatus::from_static(
                BucketVersioningStatus::SUSPENDED,
            )),
        };
        Ok(S3Response::new(GetBucketVersioningOutput {
            mfa_delete: None,
            status,
        }))
    }

    pub(super) async fn do_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let encode = match input.encoding_type.as_ref().map(EncodingType::as_str) {
            None => false,
            Some(EncodingType::URL) => true,
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Invalid Encoding Method specified in Request: {other:?}"),
                ));
            }
        };
        let enc = |value: String| if encode { url_encode(&value) } else { value };
        let max = match input.max_keys {
            Some(n) if n < 0 => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "max-keys must be a non-negative integer",
                ));
            }
            Some(n) => n.min(MAX_KEYS),
            None => MAX_KEYS,
        };
        let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
        let version_marker =
            version_param(input.version_id_marker.as_deref().filter(|m| !m.is_empty()))?;
        if version_marker.is_some() && key_marker.is_none() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "A version-id marker cannot be specified without a key marker.",
            ));
        }
        let page = self
            .objects
            .list_versions(
                &input.bucket,
                VersionQuery {
                    bucket_id: 0,
                    prefix: input.prefix.clone().unwrap_or_default(),
                    delimiter: input.delimiter.clone(),
                    key_marker,
                    version_marker,
                    max_keys: usize::try_from(max).unwrap_or(0),
                },
            )
            .map_err(to_s3)?;
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        for entry in page.entries {
            let v = entry.version;
            let id = listed_id(v.versioned, v.version);
            if v.delete_marker {
                markers.push(DeleteMarkerEntry {
                    is_latest: Some(entry.is_latest),
                    key: Some(enc(entry.key)),
                    last_modified: Some(timestamp(v.modified_ms)),
                    owner: Some(owner(&v.owner)),
                    version_id: Some(id),
                });
            } else {
                versions.push(ObjectVersion {
                    e_tag: Some(ETag::Strong(v.etag)),
                    is_latest: Some(entry.is_latest),
                    key: Some(enc(entry.key)),
                    last_modified: Some(timestamp(v.modified_ms)),
                    owner: Some(owner(&v.owner)),
                    size: Some(i64::try_from(v.size).unwrap_or(i64::MAX)),
                    storage_class: Some(ObjectVersionStorageClass::from(
                        v.storage_class.unwrap_or_else(|| "STANDARD".to_owned()),
                    )),
                    version_id: Some(id),
                    ..ObjectVersion::default()
                });
            }
        }
        let (next_key_marker, next_version_id_marker) = match (page.truncated, page.last) {
            (true, Some(last)) => (Some(enc(last.key)), last.version.map(marker_text)),
            _ => (None, None),
        };
        Ok(S3Response::new(ListObjectVersionsOutput {
            common_prefixes: Some(
                page.common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            delete_markers: Some(markers),
            delimiter: input.delimiter.map(enc),
            encoding_type: input.encoding_type,
            is_truncated: Some(page.truncated),
            key_marker: Some(enc(input.key_marker.unwrap_or_default())),
            max_keys: Some(max),
            name: Some(input.bucket),
            next_key_marker,
            next_version_id_marker,
            prefix: Some(enc(input.prefix.unwrap_or_default())),
            request_charged: None,
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            versions: Some(versions),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::ObjectRecord;
    use crate::objects::version_id;

    #[test]
    fn listed_ids_match_the_ids_requests_use() {
        let record = ObjectRecord::delete_marker(77 << 64 | 3, true, 0, "me".into());
        assert_eq!(listed_id(true, record.version), version_id(&record));
        assert_eq!(
            marker_text(VersionRef::Id(record.version)),
            version_id(&record)
        );
        assert_eq!(marker_text(VersionRef::Null), "null");
        assert_eq!(listed_id(false, 5), "null");
    }
}
