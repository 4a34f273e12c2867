//! Bucket Intelligent-Tiering configuration operations.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::errors::to_s3;
use super::tiering_xml::{config_from_dto, config_to_dto};

/// Configurations per ListBucketIntelligentTieringConfigurations page, as S3 pages them.
const PAGE: usize = 100;

impl Gateway {
    pub(super) async fn do_put_bucket_intelligent_tiering_configuration(
        &self,
        req: S3Request<PutBucketIntelligentTieringConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketIntelligentTieringConfigurationOutput>> {
        let input = req.input;
        let config = config_from_dto(&input.intelligent_tiering_configuration)
            .map_err(|e| to_s3(e.into()))?;
        self.objects
            .put_tiering_config(&input.bucket, &input.id, config)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(
            PutBucketIntelligentTieringConfigurationOutput::default(),
        ))
    }

    pub(super) async fn do_get_bucket_intelligent_tiering_configuration(
        &self,
        req: S3Request<GetBucketIntelligentTieringConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketIntelligentTieringConfigurationOutput>> {
        let config = self
            .objects
            .tiering_config(&req.input.bucket, &req.input.id)
            .map_err(to_s3)?;
        Ok(S3Response::new(
            GetBucketIntelligentTieringConfigurationOutput {
                intelligent_tiering_configuration: Some(config_to_dto(&config)),
            },
        ))
    }

    pub(super) async fn do_delete_bucket_intelligent_tiering_configuration(
        &self,
        req: S3Request<DeleteBucketIntelligentTieringConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketIntelligentTieringConfigurationOutput>> {
        self.objects
            .delete_tiering_config(&req.input.bucket, &req.input.id)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(
            DeleteBucketIntelligentTieringConfigurationOutput::default(),
        ))
    }

    pub(super) async fn do_list_bucket_intelligent_tiering_configurations(
        &self,
        req: S3Request<ListBucketIntelligentTieringConfigurationsInput>,
    ) -> S3Result<S3Response<ListBucketIntelligentTieringConfigurationsOutput>> {
        let input = req.input;
        let configs = self.objects.tiering_configs(&input.bucket).map_err(to_s3)?;
        // The token is the last Id of the previous page; configurations are kept in Id order.
        let after = input.continuation_token.clone().unwrap_or_default();
        let rest: Vec<_> = configs
            .iter()
            .filter(|c| after.is_empty() || c.id.as_str() > after.as_str())
            .collect();
        let truncated = rest.len() > PAGE;
        let page: Vec<_> = rest.into_iter().take(PAGE).collect();
        Ok(S3Response::new(
            ListBucketIntelligentTieringConfigurationsOutput {
                continuation_token: input.continuation_token,
                is_truncated: Some(truncated),
                next_continuation_token: truncated
                    .then(|| page.last().map(|c| c.id.clone()))
                    .flatten(),
                intelligent_tiering_configuration_list: (!page.is_empty())
                    .then(|| page.into_iter().map(config_to_dto).collect()),
            },
        ))
    }
}
