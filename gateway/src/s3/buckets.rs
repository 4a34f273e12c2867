//! Bucket operations.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::convert::{owner, timestamp};
use super::errors::to_s3;
use super::{Gateway, principal};

/// Whether `name` is a bucket name S3 accepts for a new bucket.
#[must_use]
pub fn valid_bucket_name(name: &str) -> bool {
    s3s::path::check_bucket_name(name) && !reserved_bucket_name(name)
}

/// Names S3 reserves beyond the syntax rules s3s already enforces on every path.
fn reserved_bucket_name(name: &str) -> bool {
    name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
        || name.ends_with(".mrap")
        || name.ends_with("--x-s3")
}

impl Gateway {
    pub(super) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let owner = principal(&req).owner_tag();
        let input = req.input;
        if reserved_bucket_name(&input.bucket) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidBucketName,
                "The specified bucket name is reserved",
            ));
        }
        // Clients configured for any region create buckets here; the constraint they send is
        // remembered and reported back by GetBucketLocation.
        let region = input
            .create_bucket_configuration
            .and_then(|c| c.location_constraint)
            .map(|c| c.as_str().to_owned())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| self.region.clone());
        self.objects
            .create_bucket(&input.bucket, &region, &owner)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }))
    }

    pub(super) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let bucket = self.objects.bucket(&req.input.bucket).map_err(to_s3)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(bucket.region),
            ..HeadBucketOutput::default()
        }))
    }

    pub(super) async fn do_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let me = principal(&req);
        let input = req.input;
        let max = match input.max_buckets {
            Some(n) if !(1..=10_000).contains(&n) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "max-buckets must be between 1 and 10000",
                ));
            }
            Some(n) => usize::try_from(n).unwrap_or(10_000),
            None => usize::MAX,
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input.continuation_token.clone().unwrap_or_default();
        let mut listed: Vec<_> = self
            .objects
            .buckets()
            .map_err(to_s3)?
            .into_iter()
            .filter(|b| me.may_use(&b.owner) && b.name.starts_with(&prefix) && b.name > after)
            .collect();
        let truncated = listed.len() > max;
        listed.truncate(max);
        let continuation_token = if truncated {
            listed.last().map(|b| b.name.clone())
        } else {
            None
        };
        let buckets = listed
            .into_iter()
            .map(|b| Bucket {
                bucket_region: Some(b.region),
                creation_date: Some(timestamp(b.created_ms)),
                name: Some(b.name),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            continuation_token,
            owner: Some(owner(&me.display_name())),
            prefix: input.prefix,
        }))
    }

    pub(super) async fn do_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let bucket = self.objects.bucket(&req.input.bucket).map_err(to_s3)?;
        // S3 reports us-east-1 as an empty constraint.
        let location_constraint =
            (bucket.region != "us-east-1").then(|| BucketLocationConstraint::from(bucket.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    pub(super) async fn do_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.objects
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }
}
