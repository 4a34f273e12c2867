//! Put/Get/DeleteBucketPolicy. Who may call them is the access hook's business (the owner
//! always may); the document is validated by `auth::policy` when it is put.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::errors::to_s3;

impl Gateway {
    pub(super) async fn do_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        self.policies
            .put(&input.bucket, &input.policy)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    pub(super) async fn do_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let policy = self.policies.text(&req.input.bucket).map_err(to_s3)?;
        Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(policy),
        }))
    }

    pub(super) async fn do_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.policies
            .delete(&req.input.bucket)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }
}
