//! Writing a remote blob: bytes are staged locally (in memory up to one part, then in an
//! unnamed temporary file) and uploaded when the blob finishes, with its descriptor in the
//! object's metadata. Staging is what makes the object self-describing (S3 fixes metadata
//! when an upload starts, and the descriptor holds the ETag, known only at the end) and what
//! lets a failed part be retried without asking the client to resend anything.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures::{StreamExt, TryStreamExt};

use super::Remote;
use super::client::{classify, is_unparsed_success};
use super::descriptor;
use crate::blob::BlobSink;
use crate::{DataId, TierError};

pub(super) struct SpoolSink {
    remote: Arc<Remote>,
    id: DataId,
    /// Where the object goes: the blob's key, or a backup's in the reserved area.
    key: String,
    memory: Vec<u8>,
    file: Option<File>,
    written: u64,
    descriptor: Option<Vec<u8>>,
}

impl SpoolSink {
    pub(super) fn new(remote: Arc<Remote>, id: DataId, key: String) -> Self {
        Self {
            remote,
            id,
            key,
            memory: Vec::new(),
            file: None,
            written: 0,
            descriptor: None,
        }
    }

    fn spool_error(&self, e: std::io::Error) -> TierError {
        TierError::io(self.remote.options.spool_dir.display(), e)
    }

    /// Moves what is in memory to a spool file, once the blob outgrows one part.
    fn spill(&mut self) -> Result<&mut File, TierError> {
        if self.file.is_none() {
            let mut file = tempfile::tempfile_in(&self.remote.options.spool_dir)
                .map_err(|e| self.spool_error(e))?;
            file.write_all(&self.memory)
                .map_err(|e| self.spool_error(e))?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("just created"))
    }

    fn metadata(&self) -> Result<(HashMap<String, String>, Option<String>), TierError> {
        let mut metadata = HashMap::new();
        let mut sidecar = None;
        if let Some(descriptor) = &self.descriptor {
            let text = descriptor::encode(
                self.id,
                descriptor,
                self.remote.options.codec.keyring.as_deref(),
            )?;
            if text.len() <= descriptor::INLINE_LIMIT {
                metadata.insert(descriptor::METADATA_KEY.to_owned(), text);
            } else {
                metadata.insert(
                    descriptor::METADATA_KEY.to_owned(),
                    descriptor::IN_SIDECAR.to_owned(),
                );
                sidecar = Some(text);
            }
        }
        Ok((metadata, sidecar))
    }

    async fn put_whole(
        &self,
        key: &str,
        body: Vec<u8>,
        metadata: HashMap<String, String>,
    ) -> Result<(), TierError> {
        let remote = &self.remote;
        remote
            .client
            .put_object()
            .bucket(&remote.options.bucket)
            .key(key)
            .set_metadata(Some(metadata))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(&remote.name, None, &e))?;
        Ok(())
    }

    async fn put_multipart(
        &self,
        key: &str,
        file: &File,
        metadata: HashMap<String, String>,
    ) -> Result<(), TierError> {
        let remote = &self.remote;
        let bucket = &remote.options.bucket;
        let created = remote
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .set_metadata(Some(metadata))
            .send()
            .await
            .map_err(|e| classify(&remote.name, None, &e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let part_size = remote.options.part_size as u64;
        let parts = self.written.div_ceil(part_size);
        let uploaded = futures::stream::iter(0..parts)
            .map(|index| {
                let upload_id = &upload_id;
                async move {
                    let start = index * part_size;
                    let len = part_size.min(self.written - start);
                    let mut bytes = vec![0u8; usize::try_from(len).expect("part fits in memory")];
                    file.read_exact_at(&mut bytes, start)
                        .map_err(|e| self.spool_error(e))?;
                    let number = i32::try_from(index + 1).expect("at most 10,000 parts");
                    let part = remote
                        .client
                        .upload_part()
                        .bucket(bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(number)
                        .body(ByteStream::from(bytes))
                        .send()
                        .await
                        .map_err(|e| classify(&remote.name, None, &e))?;
                    Ok::<_, TierError>(
                        CompletedPart::builder()
                            .part_number(number)
                            .set_e_tag(part.e_tag().map(str::to_owned))
                            .build(),
                    )
                }
            })
            .buffer_unordered(remote.options.upload_concurrency.max(1))
            .try_collect::<Vec<_>>()
            .await;
        let mut parts = match uploaded {
            Ok(parts) => parts,
            Err(e) => {
                // Best effort: a leftover upload is aborted by the start-up sweep otherwise.
                let _ = remote
                    .client
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                return Err(e);
            }
        };
        parts.sort_by_key(|p| p.part_number());
        let completed = remote
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        match completed {
            Ok(_) => Ok(()),
            // The server said yes in a dialect the SDK does not read: believe it only if the
            // object is there with every byte.
            Err(e) if is_unparsed_success(&e) => self.confirm_length(key).await,
            Err(e) => Err(classify(&remote.name, None, &e)),
        }
    }

    async fn confirm_length(&self, key: &str) -> Result<(), TierError> {
        let remote = &self.remote;
        let head = remote
            .client
            .head_object()
            .bucket(&remote.options.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&remote.name, None, &e))?;
        let stored = head.content_length().and_then(|n| u64::try_from(n).ok());
        if stored == Some(self.written) {
            Ok(())
        } else {
            Err(remote.unavailable(format!(
                "completed upload of {key} holds {stored:?} bytes, not {}",
                self.written
            )))
        }
    }
}

impl BlobSink for SpoolSink {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TierError> {
        if self.file.is_none() && self.memory.len() + bytes.len() <= self.remote.options.part_size {
            self.memory.extend_from_slice(bytes);
        } else {
            let file = self.spill()?;
            file.write_all(bytes)
                .map_err(|e| TierError::io("remote tier spool file", e))?;
        }
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn describe(&mut self, descriptor: Vec<u8>) {
        self.descriptor = Some(descriptor);
    }

    fn finish(mut self) -> Result<(), TierError> {
        let key = std::mem::take(&mut self.key);
        let (metadata, sidecar) = self.metadata()?;
        let remote = Arc::clone(&self.remote);
        remote.block_on(async {
            if let Some(text) = sidecar {
                // Written first: a blob that names a sidecar always has one.
                self.put_whole(&Remote::sidecar_of(&key), text.into_bytes(), HashMap::new())
                    .await?;
            }
            match self.file.take() {
                None => {
                    let body = std::mem::take(&mut self.memory);
                    self.put_whole(&key, body, metadata).await
                }
                Some(file) => self.put_multipart(&key, &file, metadata).await,
            }
        })
    }
}
