//! Object tagging operations.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::errors::to_s3;
use super::objects::version_param;
use crate::objects::ObjectError;

impl Gateway {
    pub(super) async fn do_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags = input
            .tagging
            .tag_set
            .iter()
            .map(|t| match &t.key {
                Some(key) => Ok((key.clone(), t.value.clone().unwrap_or_default())),
                None => Err(to_s3(ObjectError::InvalidTag(
                    "The TagKey you have provided is invalid: a Tag needs a Key".into(),
                ))),
            })
            .collect::<S3Result<Vec<_>>>()?;
        let version = version_param(input.version_id.as_deref())?;
        let version_id = self
            .objects
            .set_object_tags(&input.bucket, &input.key, version, tags)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
    }

    pub(super) async fn do_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let version = version_param(req.input.version_id.as_deref())?;
        let (tags, version_id) = self
            .objects
            .object_tags(&req.input.bucket, &req.input.key, version)
            .map_err(to_s3)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            version_id,
            tag_set: tags
                .into_iter()
                .map(|(key, value)| Tag {
                    key: Some(key),
                    value: Some(value),
                })
                .collect(),
        }))
    }

    pub(super) async fn do_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let version = version_param(req.input.version_id.as_deref())?;
        let version_id = self
            .objects
            .set_object_tags(&req.input.bucket, &req.input.key, version, Vec::new())
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id }))
    }
}
