//! Bucket lifecycle configuration operations.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::errors::to_s3;
use super::lifecycle_xml::{rules_from_dto, rules_to_dto};
use crate::objects::ObjectError;

impl Gateway {
    pub(super) async fn do_put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let input = req.input;
        let config = input
            .lifecycle_configuration
            .ok_or_else(|| to_s3(ObjectError::MalformedXml))?;
        let rules = rules_from_dto(&config).map_err(|e| to_s3(e.into()))?;
        self.objects
            .put_lifecycle(&input.bucket, rules)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(
            PutBucketLifecycleConfigurationOutput::default(),
        ))
    }

    pub(super) async fn do_get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let rules = self.objects.lifecycle(&req.input.bucket).map_err(to_s3)?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(rules_to_dto(&rules)),
            ..GetBucketLifecycleConfigurationOutput::default()
        }))
    }

    pub(super) async fn do_delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.objects
            .delete_lifecycle(&req.input.bucket)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
    }
}
