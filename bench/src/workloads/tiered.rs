//! A vmgw of a tier workload's own: started from a TOML config (the tiers it needs) in a fresh
//! data directory, with the bench bucket created, a [`Ctx`] measuring it and a client of its
//! admin API. Each tier workload gets a fresh one so that no workload inherits another's
//! blobs, reclamation backlog or page-cache state.

use std::time::Instant;

use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::StorageClass;

use crate::admin::{Admin, Placement};
use crate::body::{Corpus, CorpusStream};
use crate::cli::Plan;
use crate::client::S3;
use crate::error::{BenchError, Result};
use crate::server::{Launch, Server};

use super::{BUCKET, Ctx};

/// Key of the sealed tiers, in the hex form `VMGW_ENCRYPTION_KEY` takes. A fixed throwaway
/// key (`vmgw-bench-throwaway-key-32bytes`): the data it seals is deleted after the run.
pub const BENCH_KEY_HEX: &str = "766d67772d62656e63682d7468726f77617761792d6b65792d33326279746573";

/// A `[[tiers]]` entry.
#[must_use]
pub fn tier_toml(name: &str, compression: Option<i32>, encrypt: bool) -> String {
    let mut out = format!("[[tiers]]\nname = \"{name}\"\npath = \"tiers/{name}\"\n");
    if let Some(level) = compression {
        out += &format!("compression = {level}\n");
    }
    if encrypt {
        out += "encrypt = true\n";
    }
    out
}

pub struct TierServer {
    pub server: Server,
    pub ctx: Ctx,
    pub admin: Admin,
}

impl TierServer {
    /// Starts vmgw with `config` and `env` (on top of `--server-env`) and creates the bucket.
    pub async fn start(
        launch: &Launch,
        plan: &Plan,
        config: &str,
        env: &[(String, String)],
    ) -> Result<Self> {
        let server = launch.start_configured(config, env)?;
        eprintln!(
            "[{}]   own server at {} (pid {}, log {})",
            launch.kind,
            server.endpoint,
            server.pid(),
            server.log_path.display()
        );
        let ctx = Ctx::new(&server, plan.client);
        let admin = Admin::new(&server.data_dir);
        let tiered = Self { server, ctx, admin };
        let created = tiered.ctx.clients(1)[0].create_bucket().await;
        match created {
            Ok(()) => Ok(tiered),
            Err(e) => tiered.finish(Err(e)),
        }
    }

    /// Stops the server; a failure gets the end of the server's log attached.
    pub fn finish<T>(self, result: Result<T>) -> Result<T> {
        let Self { server, ctx, .. } = self;
        let result = result.map_err(|source| BenchError::WithLog {
            source: Box::new(source),
            what: format!("vmgw (pid {}, {})", server.pid(), server.log_path.display()),
            log: server.log_tail(40),
        });
        drop(ctx);
        server.stop();
        result
    }

    /// Uploads `size` bytes of `corpus` as `key`, streamed from the generator (the client
    /// never holds more than a chunk), with `class` choosing the tier. Not measured: returns
    /// the seconds it took, for progress output.
    pub async fn put_generated(
        &self,
        s3: &S3,
        key: &str,
        corpus: Corpus,
        seed: u64,
        size: u64,
        class: Option<StorageClass>,
    ) -> Result<f64> {
        let t0 = Instant::now();
        let body = CorpusStream::new(corpus, seed, size);
        s3.client
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .content_length(size as i64)
            .set_storage_class(class)
            .body(ByteStream::new(SdkBody::from_body_1_x(body)))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| BenchError::s3("PutObject", e))?;
        Ok(t0.elapsed().as_secs_f64())
    }
}

/// Fails unless the gateway reports every key as `size` bytes held entirely on `tier`;
/// returns what it reports.
pub async fn check_placement(
    admin: &Admin,
    keys: &[String],
    tier: &str,
    size: u64,
) -> Result<Vec<Placement>> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let placement = admin.placement(BUCKET, key).await?;
        if !placement.all_on(tier) || placement.size != size {
            return Err(BenchError::Check(format!(
                "{key}: expected {size} bytes on tier {tier}, the gateway reports {placement:?}"
            )));
        }
        out.push(placement);
    }
    Ok(out)
}
