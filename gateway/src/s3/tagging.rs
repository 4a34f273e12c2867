//! Object tagging operations.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::errors::to_s3;
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
        self.objects
            .set_object_tags(&input.bucket, &input.key, tags)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    pub(super) async fn do_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let tags = self
            .objects
            .object_tags(&req.input.bucket, &req.input.key)
            .map_err(to_s3)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: tags
                .into_iter()
                .map(|(key, value)| Tag {
                    key: Some(key),
                    value: Some(value),
                })
                .collect(),
            ..GetObjectTaggingOutput::default()
        }))
    }

    pub(super) async fn do_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.objects
            .set_object_tags(&req.input.bucket, &req.input.key, Vec::new())
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
    }
}
