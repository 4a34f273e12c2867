//! A tier in a bucket of a remote S3-compatible server (AWS S3, MinIO, Ceph RGW, ...).
//!
//! Blobs are stored in exactly the local at-rest format (checksummed chunks, optionally
//! compressed and sealed), one object per blob at `<prefix><shard>/<id>`, so the remote
//! server never sees plaintext of a sealed tier and every read is verified the same way.
//! Each object carries its descriptor (bucket, key, metadata of the object it belongs to) in
//! its own metadata, see [`descriptor`].
//!
//! The [`Tier`] trait is blocking; this tier runs its requests on a small runtime of its own
//! and blocks the calling (blocking-pool) thread on them.

mod backups;
mod client;
mod descriptor;
mod fetch;
mod observe;
mod options;
mod spool;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use tracing::{info, warn};

use crate::{DataId, DataReader, DataWriter, Space, Tier, TierError, blob};
pub use backups::{BackupName, StoredBackup};
pub use observe::RequestObserver;
pub use options::RemoteTierOptions;

const SIDECAR_SUFFIX: &str = ".descriptor";

/// Reserved areas under the tier's prefix, beside the 256 shard "directories" of blobs:
/// metadata backups and quarantined blobs. Neither name can be a shard (two hex digits),
/// so nothing that lists blobs — the orphan sweep above all — ever reaches into them.
pub const BACKUP_AREA: &str = "vmgw-backups/";
pub const QUARANTINE_AREA: &str = "lost+found/";

/// What a key under the tier's prefix is.
#[derive(Debug, PartialEq, Eq)]
enum Area<'a> {
    /// In a shard: a blob (or its sidecar); the name after the shard.
    Blob(&'a str),
    /// In a reserved area.
    Reserved,
    /// Anything else: somebody else's object, left alone.
    Foreign,
}

fn area_of<'a>(prefix: &str, key: &'a str) -> Area<'a> {
    let Some(rest) = key.strip_prefix(prefix) else {
        return Area::Foreign;
    };
    if rest.starts_with(BACKUP_AREA) || rest.starts_with(QUARANTINE_AREA) {
        return Area::Reserved;
    }
    match rest.split_once('/') {
        Some((shard, name))
            if shard.len() == 2
                && shard
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Area::Blob(name)
        }
        _ => Area::Foreign,
    }
}

/// A key as an `x-amz-copy-source` value (`bucket/key`, percent-encoded but for `/`).
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the writers and readers of a remote tier share.
struct Remote {
    name: String,
    client: aws_sdk_s3::Client,
    options: RemoteTierOptions,
    handle: tokio::runtime::Handle,
}

impl Remote {
    fn key_of(&self, id: DataId) -> String {
        format!("{}{:02x}/{id}", self.options.prefix, id.shard())
    }

    fn sidecar_of(key: &str) -> String {
        format!("{key}{SIDECAR_SUFFIX}")
    }

    /// The text of a blob's sidecar descriptor, if it has one.
    async fn sidecar(&self, id: DataId, key: &str) -> Result<Option<String>, TierError> {
        let sidecar = match self
            .client
            .get_object()
            .bucket(&self.options.bucket)
            .key(Self::sidecar_of(key))
            .send()
            .await
        {
            Ok(sidecar) => sidecar,
            Err(e) if client::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(client::classify(&self.name, Some(id), &e)),
        };
        let body = sidecar
            .body
            .collect()
            .await
            .map_err(|e| self.unavailable(e.to_string()))?
            .into_bytes();
        Ok(Some(String::from_utf8_lossy(&body).into_owned()))
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    fn unavailable(&self, reason: impl Into<String>) -> TierError {
        TierError::Unavailable {
            tier: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// Calls `visit` with every object under the tier's prefix: key and size.
    async fn list(&self, visit: &mut dyn FnMut(&str, u64)) -> Result<(), TierError> {
        self.list_under(&self.options.prefix, visit).await
    }

    /// Calls `visit` with every object whose key starts with `prefix`: key and size.
    async fn list_under(
        &self,
        prefix: &str,
        visit: &mut dyn FnMut(&str, u64),
    ) -> Result<(), TierError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.options.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| client::classify(&self.name, None, &e))?;
            for object in page.contents() {
                let size = object
                    .size()
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0);
                visit(object.key().unwrap_or_default(), size);
            }
        }
        Ok(())
    }
}

pub struct RemoteTier {
    remote: Arc<Remote>,
    /// Owned here so it lives as long as the tier; shut down without waiting on drop.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for RemoteTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTier")
            .field("name", &self.remote.name)
            .field("endpoint", &self.remote.options.endpoint)
            .field("bucket", &self.remote.options.bucket)
            .field("prefix", &self.remote.options.prefix)
            .finish_non_exhaustive()
    }
}

impl Drop for RemoteTier {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl RemoteTier {
    /// Prepares the client; no request is made, so a gateway starts while its remote tier
    /// is down and serves what is local.
    pub fn new(name: impl Into<String>, options: RemoteTierOptions) -> Result<Self, TierError> {
        let name = name.into();
        std::fs::create_dir_all(&options.spool_dir)
            .map_err(|e| TierError::io(options.spool_dir.display(), e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("vmgw-tier-{name}"))
            .enable_all()
            .build()
            .map_err(|e| TierError::io("remote tier runtime", e))?;
        let client = {
            // The SDK's HTTP client binds to the runtime it is built in.
            let _entered = runtime.enter();
            client::build(&options)
        };
        Ok(Self {
            remote: Arc::new(Remote {
                name,
                client,
                options,
                handle: runtime.handle().clone(),
            }),
            runtime: Some(runtime),
        })
    }

    /// The object key blob `id` is stored under.
    #[must_use]
    pub fn key_of(&self, id: DataId) -> String {
        self.remote.key_of(id)
    }

    /// Checks that the bucket answers (for start-up logs and readiness).
    pub fn probe(&self) -> Result<(), TierError> {
        let remote = &self.remote;
        remote.block_on(async {
            remote
                .client
                .head_bucket()
                .bucket(&remote.options.bucket)
                .send()
                .await
                .map_err(|e| client::classify(&remote.name, None, &e))
                .map(|_| ())
        })
    }
}

impl Tier for RemoteTier {
    fn name(&self) -> &str {
        &self.remote.name
    }

    fn create(&self, id: DataId) -> Result<Box<dyn DataWriter>, TierError> {
        let sink = spool::SpoolSink::new(Arc::clone(&self.remote), id, self.remote.key_of(id));
        blob::create(
            id,
            sink,
            self.remote.options.chunk_size,
            &self.remote.options.codec,
        )
    }

    fn open(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        let source =
            fetch::RangeSource::open(Arc::clone(&self.remote), id, self.remote.key_of(id))?;
        blob::open(id, source, self.remote.options.codec.keyring.as_ref())
    }

    fn remove(&self, id: DataId) -> Result<(), TierError> {
        let remote = &self.remote;
        let key = remote.key_of(id);
        remote.block_on(async {
            // Deleting an absent key succeeds in S3, so this is retryable as the trait asks;
            // the sidecar goes too whether or not the blob had one.
            for key in [Remote::sidecar_of(&key), key] {
                remote
                    .client
                    .delete_object()
                    .bucket(&remote.options.bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| client::classify(&remote.name, None, &e))?;
            }
            Ok(())
        })
    }

    fn for_each_id(&self, visit: &mut dyn FnMut(DataId)) -> Result<(), TierError> {
        let remote = &self.remote;
        remote.block_on(remote.list(&mut |key, _| {
            match area_of(&remote.options.prefix, key) {
                Area::Blob(name) => {
                    if let Ok(id) = name.parse::<DataId>() {
                        visit(id);
                    } else if !name.ends_with(SIDECAR_SUFFIX) {
                        warn!(tier = %remote.name, key, "foreign object in a shard of the tier left alone");
                    }
                }
                Area::Reserved => {}
                Area::Foreign => {
                    warn!(tier = %remote.name, key, "foreign object under the tier's prefix left alone");
                }
            }
        }))
    }

    fn used_bytes(&self) -> Result<u64, TierError> {
        // The blobs and their sidecars; backups and quarantined blobs are not the tier's
        // data and must not make it look full.
        let mut total = 0;
        let prefix = &self.remote.options.prefix;
        self.remote.block_on(self.remote.list(&mut |key, size| {
            if matches!(area_of(prefix, key), Area::Blob(_)) {
                total += size;
            }
        }))?;
        Ok(total)
    }

    fn stored_size(&self, id: DataId) -> Result<u64, TierError> {
        let remote = &self.remote;
        remote.block_on(async {
            match remote
                .client
                .head_object()
                .bucket(&remote.options.bucket)
                .key(remote.key_of(id))
                .send()
                .await
            {
                Ok(head) => Ok(head
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0)),
                Err(e) if client::is_not_found(&e) => Err(TierError::NotFound(id)),
                Err(e) => Err(client::classify(&remote.name, Some(id), &e)),
            }
        })
    }

    fn space(&self) -> Result<Option<Space>, TierError> {
        Ok(None)
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn probe(&self) -> Result<(), TierError> {
        let remote = &self.remote;
        // Probes must answer fast (kubelet waits a second by default): a remote that is
        // slower than this counts as down.
        let answered = remote.block_on(tokio::time::timeout(
            std::time::Duration::from_secs(2),
            remote
                .client
                .head_bucket()
                .bucket(&remote.options.bucket)
                .send(),
        ));
        match answered {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(client::classify(&remote.name, None, &e)),
            Err(_) => Err(remote.unavailable("no answer to HeadBucket within 2 s")),
        }
    }

    fn keeps_descriptors(&self) -> bool {
        true
    }

    fn descriptor(&self, id: DataId) -> Result<Option<Vec<u8>>, TierError> {
        let remote = &self.remote;
        let key = remote.key_of(id);
        let text = remote.block_on(async {
            // A sidecar, when there is one, is the newer description: a large one written
            // with the blob, or one that replaced the blob's own (see `redescribe`).
            if let Some(text) = remote.sidecar(id, &key).await? {
                return Ok(Some(text));
            }
            let head = match remote
                .client
                .head_object()
                .bucket(&remote.options.bucket)
                .key(&key)
                .send()
                .await
            {
                Ok(head) => head,
                Err(e) if client::is_not_found(&e) => return Err(TierError::NotFound(id)),
                Err(e) => return Err(client::classify(&remote.name, Some(id), &e)),
            };
            match head
                .metadata()
                .and_then(|m| m.get(descriptor::METADATA_KEY))
                .cloned()
            {
                Some(text) if text == descriptor::IN_SIDECAR => Err(TierError::corrupt(
                    id,
                    "the blob's descriptor is in a sidecar that is missing",
                )),
                other => Ok(other),
            }
        })?;
        text.map(|t| descriptor::decode(id, &t, remote.options.codec.keyring.as_deref()))
            .transpose()
    }

    fn redescribe(&self, id: DataId, new: &[u8]) -> Result<(), TierError> {
        let remote = &self.remote;
        let text = descriptor::encode(id, new, remote.options.codec.keyring.as_deref())?;
        let key = remote.key_of(id);
        remote.block_on(async {
            // Rewriting the blob's own metadata would copy its bytes; a sidecar is one small
            // PUT whatever the blob's size, and a PUT replaces atomically.
            remote
                .client
                .put_object()
                .bucket(&remote.options.bucket)
                .key(Remote::sidecar_of(&key))
                .body(aws_sdk_s3::primitives::ByteStream::from(text.into_bytes()))
                .send()
                .await
                .map_err(|e| client::classify(&remote.name, Some(id), &e))?;
            Ok(())
        })
    }

    fn quarantine(&self, id: DataId, note: &[u8]) -> Result<bool, TierError> {
        let remote = &self.remote;
        let key = remote.key_of(id);
        let kept = format!("{}{QUARANTINE_AREA}{id}", remote.options.prefix);
        remote.block_on(async {
            // A server-side copy: the bytes never travel, and the blob's own metadata (its
            // descriptor) comes along, so the quarantined copy still names its object.
            let copy = |from: String, to: String| {
                remote
                    .client
                    .copy_object()
                    .bucket(&remote.options.bucket)
                    .copy_source(copy_source(&remote.options.bucket, &from))
                    .key(to)
                    .send()
            };
            match copy(key.clone(), kept.clone()).await {
                Ok(_) => {}
                Err(e) if client::is_not_found(&e) => return Ok(false),
                Err(e) => return Err(client::classify(&remote.name, None, &e)),
            }
            match copy(Remote::sidecar_of(&key), Remote::sidecar_of(&kept)).await {
                Ok(_) => {}
                Err(e) if client::is_not_found(&e) => {}
                Err(e) => return Err(client::classify(&remote.name, None, &e)),
            }
            remote
                .client
                .put_object()
                .bucket(&remote.options.bucket)
                .key(format!("{kept}.note"))
                .body(aws_sdk_s3::primitives::ByteStream::from(note.to_vec()))
                .send()
                .await
                .map_err(|e| client::classify(&remote.name, None, &e))?;
            Ok(true)
        })
    }

    fn abort_incomplete_uploads(&self) -> Result<u64, TierError> {
        let remote = &self.remote;
        remote.block_on(async {
            let listed = remote
                .client
                .list_multipart_uploads()
                .bucket(&remote.options.bucket)
                .prefix(&remote.options.prefix)
                .send()
                .await
                .map_err(|e| client::classify(&remote.name, None, &e))?;
            let mut aborted = 0;
            for upload in listed.uploads() {
                let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                remote
                    .client
                    .abort_multipart_upload()
                    .bucket(&remote.options.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await
                    .map_err(|e| client::classify(&remote.name, None, &e))?;
                aborted += 1;
            }
            if aborted > 0 {
                info!(tier = %remote.name, aborted, "aborted unfinished uploads left by an earlier run");
            }
            Ok(aborted)
        })
    }
}
