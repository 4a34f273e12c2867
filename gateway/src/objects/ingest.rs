//! Turning a request body into stored bytes: hashed once while it streams, written to a
//! tier (or kept inline when small), durable before the caller commits metadata.
//!
//! The async side only moves buffers: it hands body frames, in batches of a few hundred KiB,
//! over a small bounded channel to a blocking worker that computes MD5 (the ETag) and the
//! requested additional checksum of each frame and writes that frame to the tier at once.
//! Frames are never copied into bigger buffers: each is hashed and written while it is still
//! in the CPU cache, which halves memory traffic compared with assembling chunks first.
//! Receiving the next batch from the network overlaps hashing and writing the previous one,
//! the reactor never runs a hash over megabytes, and at most a few batches per upload are
//! in memory.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use tokio::sync::mpsc;
use vmgw_tiering::{DataId, DataWriter, Tier, TierError};

use super::checksum::Hasher;
use super::descriptor::{BlobFacts, Describer};
use super::error::{BodyError, ObjectError, ObjectResult};
use super::in_flight::{InFlight, InFlightGuard};
use super::md5_lanes::{Md5Engine, Md5Stream};
use crate::meta::{BlobRef, ChecksumAlgorithm};

/// A request or response body.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send + Sync>>;

/// Bytes of frames handed to the worker at a time: large enough that channel hand-offs are
/// rare, small enough that a batch is still in cache when the worker reaches it.
const BATCH: usize = 256 * 1024;

/// What to compute and enforce while ingesting.
#[derive(Debug, Clone)]
pub struct IngestSpec {
    /// The declared length (Content-Length, or the decoded length of aws-chunked bodies).
    pub expected_len: Option<u64>,
    /// Largest body accepted (5 GiB for objects and parts).
    pub max_len: u64,
    pub checksum: Option<ChecksumAlgorithm>,
    /// Bodies up to this size are kept in memory and stored inline in metadata.
    pub inline_limit: usize,
    /// Builds the blob's self-description, for tiers that keep one.
    pub describe: Option<Describer>,
    /// Where the blob is registered while uncommitted.
    pub in_flight: Option<Arc<InFlight>>,
}

#[derive(Debug)]
pub enum IngestedData {
    Inline(Vec<u8>),
    Blob(BlobRef),
}

#[derive(Debug)]
pub struct Ingested {
    pub data: IngestedData,
    pub size: u64,
    pub md5: [u8; 16],
    /// Base64 digest of `IngestSpec::checksum`, when one was requested.
    pub checksum: Option<String>,
    /// Keeps the blob safe from the orphan sweep until this is dropped, after the commit.
    pub _in_flight: Option<InFlightGuard>,
}

enum Msg {
    Data(Vec<Bytes>),
    End,
}

/// Reads `body` to its end and stores it inline or on the first of `tiers` that accepts
/// it: a tier that reports itself full when the blob is created is passed over for the
/// next (no byte of the body has been consumed yet then).
pub async fn ingest(
    tiers: &[Arc<dyn Tier>],
    mut body: ByteStream,
    spec: &IngestSpec,
    md5: &Md5Engine,
) -> ObjectResult<Ingested> {
    if spec.expected_len.is_some_and(|n| n > spec.max_len) {
        return Err(ObjectError::EntityTooLarge);
    }
    match spec.expected_len {
        Some(len) if len <= spec.inline_limit as u64 => ingest_inline(&mut body, spec).await,
        _ if tiers.is_empty() => Err(ObjectError::StorageFull),
        _ => ingest_blob(tiers, body, spec, md5.stream()).await,
    }
}

async fn ingest_inline(body: &mut ByteStream, spec: &IngestSpec) -> ObjectResult<Ingested> {
    let expected = spec.expected_len.unwrap_or(0);
    let mut data = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    while let Some(frame) = body.next().await {
        let frame = frame?;
        if (data.len() + frame.len()) as u64 > expected {
            return Err(ObjectError::IncompleteBody);
        }
        data.extend_from_slice(&frame);
    }
    if data.len() as u64 != expected {
        return Err(ObjectError::IncompleteBody);
    }
    // Small enough (at most the inline limit) to hash right here.
    let md5: [u8; 16] = Md5::digest(&data).into();
    let checksum = spec.checksum.map(|algorithm| {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(&data);
        hasher.finish()
    });
    Ok(Ingested {
        size: data.len() as u64,
        data: IngestedData::Inline(data),
        md5,
        checksum,
        _in_flight: None,
    })
}

struct WorkerOutput {
    tier: Arc<dyn Tier>,
    size: u64,
    md5: [u8; 16],
    checksum: Option<String>,
}

#[derive(Debug)]
enum WorkerError {
    Tier(TierError),
    /// The body ended without `Msg::End`: the upload failed and the blob was discarded.
    Abandoned,
}

/// Creates blob `id` on the first of `tiers` that is not full; returns that tier's index.
fn create_on_first(
    tiers: &[Arc<dyn Tier>],
    id: DataId,
) -> Result<(usize, Box<dyn DataWriter>), TierError> {
    for (index, tier) in tiers.iter().enumerate() {
        match tier.create(id) {
            Ok(writer) => return Ok((index, writer)),
            Err(TierError::Full) => {
                tracing::info!(
                    tier = tier.name(),
                    "tier is full; trying the next colder one"
                );
            }
            Err(e) => return Err(e),
        }
    }
    Err(TierError::Full)
}

fn run_worker(
    tiers: &[Arc<dyn Tier>],
    id: DataId,
    algorithm: Option<ChecksumAlgorithm>,
    describe: Option<Describer>,
    mut md5: Md5Stream,
    rx: &mut mpsc::Receiver<Msg>,
) -> Result<WorkerOutput, WorkerError> {
    let (index, mut writer) = create_on_first(tiers, id).map_err(WorkerError::Tier)?;
    let tier = Arc::clone(&tiers[index]);
    let mut checksum = algorithm.map(Hasher::new);
    let mut size = 0u64;
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Data(frames) => {
                for frame in &frames {
                    md5.update(frame.clone());
                    if let Some(hasher) = &mut checksum {
                        hasher.update(frame);
                    }
                    writer.write(frame).map_err(WorkerError::Tier)?;
                    size += frame.len() as u64;
                }
            }
            Msg::End => {
                let facts = BlobFacts {
                    size,
                    md5: md5.finish(),
                    checksum: checksum.map(Hasher::finish),
                };
                if let Some(describe) = &describe
                    && tier.keeps_descriptors()
                {
                    writer.describe(describe.describe(&facts));
                }
                let size = writer.finish().map_err(WorkerError::Tier)?;
                return Ok(WorkerOutput {
                    tier,
                    size,
                    md5: facts.md5,
                    checksum: facts.checksum,
                });
            }
        }
    }
    // Dropping the unfinished writer discards the partial blob.
    Err(WorkerError::Abandoned)
}

async fn ingest_blob(
    tiers: &[Arc<dyn Tier>],
    mut body: ByteStream,
    spec: &IngestSpec,
    md5: Md5Stream,
) -> ObjectResult<Ingested> {
    let id = DataId::random();
    let in_flight = spec.in_flight.as_ref().map(|set| set.register(id));
    let (tx, mut rx) = mpsc::channel::<Msg>(2);
    let worker = {
        let tiers = tiers.to_vec();
        let algorithm = spec.checksum;
        let describe = spec.describe.clone();
        tokio::task::spawn_blocking(move || {
            run_worker(&tiers, id, algorithm, describe, md5, &mut rx)
        })
    };

    let feed = async {
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batch_len = 0usize;
        let mut total = 0u64;
        while let Some(frame) = body.next().await {
            let frame = frame?;
            total += frame.len() as u64;
            if total > spec.max_len {
                return Err(ObjectError::EntityTooLarge);
            }
            if spec.expected_len.is_some_and(|n| total > n) {
                return Err(ObjectError::IncompleteBody);
            }
            batch_len += frame.len();
            batch.push(frame);
            if batch_len >= BATCH {
                batch_len = 0;
                send(&tx, std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.is_empty() {
            send(&tx, batch).await?;
        }
        if spec.expected_len.is_some_and(|n| n != total) {
            return Err(ObjectError::IncompleteBody);
        }
        tx.send(Msg::End).await.map_err(|_| worker_gone())?;
        Ok(())
    }
    .await;
    drop(tx);

    let worker_result = worker
        .await
        .map_err(|e| ObjectError::Internal(format!("ingest worker failed: {e}")))?;
    // A tier error (a full disk) is why the worker stopped taking the body; otherwise a
    // body error explains an abandoned worker better than the worker can.
    if let Err(WorkerError::Tier(e)) = worker_result {
        return Err(e.into());
    }
    feed?;
    let output = match worker_result {
        Ok(output) => output,
        Err(WorkerError::Tier(e)) => return Err(e.into()),
        Err(WorkerError::Abandoned) => return Err(worker_gone()),
    };
    Ok(Ingested {
        data: IngestedData::Blob(BlobRef {
            id,
            tier: output.tier.name().to_owned(),
            size: output.size,
        }),
        size: output.size,
        md5: output.md5,
        checksum: output.checksum,
        _in_flight: in_flight,
    })
}

async fn send(tx: &mpsc::Sender<Msg>, frames: Vec<Bytes>) -> ObjectResult<()> {
    tx.send(Msg::Data(frames)).await.map_err(|_| worker_gone())
}

fn worker_gone() -> ObjectError {
    // The worker only stops early on a tier error, which the caller reports instead.
    ObjectError::Internal("ingest worker stopped".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmgw_tiering::MemTier;

    fn stream(pieces: Vec<Result<Bytes, BodyError>>) -> ByteStream {
        Box::pin(futures::stream::iter(pieces))
    }

    fn spec(len: u64, inline_limit: usize) -> IngestSpec {
        IngestSpec {
            expected_len: Some(len),
            max_len: 1 << 30,
            checksum: Some(ChecksumAlgorithm::Crc32),
            inline_limit,
            describe: None,
            in_flight: None,
        }
    }

    #[tokio::test]
    async fn blob_ingest_hashes_and_stores() {
        let mem = MemTier::new("ssd");
        let tier: Arc<dyn Tier> = Arc::new(mem.clone());
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let pieces = data
            .chunks(70_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let out = ingest(
            std::slice::from_ref(&tier),
            stream(pieces),
            &spec(data.len() as u64, 0),
            &Md5Engine::new(1),
        )
        .await
        .unwrap();
        assert_eq!(out.size, data.len() as u64);
        assert_eq!(out.md5, <[u8; 16]>::from(Md5::digest(&data)));
        let IngestedData::Blob(blob) = out.data else {
            panic!("expected a blob")
        };
        let stored =
            vmgw_tiering::conformance::read_range(tier.as_ref(), blob.id, 0, data.len()).unwrap();
        assert_eq!(stored, data);
        let mut crc = Hasher::new(ChecksumAlgorithm::Crc32);
        crc.update(&data);
        assert_eq!(out.checksum.unwrap(), crc.finish());
    }

    #[tokio::test]
    async fn small_bodies_stay_inline() {
        let tier: Arc<dyn Tier> = Arc::new(MemTier::new("ssd"));
        let out = ingest(
            std::slice::from_ref(&tier),
            stream(vec![Ok(Bytes::from_static(b"hello"))]),
            &spec(5, 1024),
            &Md5Engine::new(1),
        )
        .await
        .unwrap();
        assert!(matches!(out.data, IngestedData::Inline(ref d) if d == b"hello"));
    }

    #[tokio::test]
    async fn failed_or_short_bodies_leave_nothing() {
        let mem = MemTier::new("ssd");
        let tier: Arc<dyn Tier> = Arc::new(mem.clone());
        let err = ingest(
            std::slice::from_ref(&tier),
            stream(vec![
                Ok(Bytes::from(vec![1u8; 2_000_000])),
                Err(BodyError::Sha256Mismatch),
            ]),
            &spec(4_000_000, 0),
            &Md5Engine::new(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ObjectError::ContentSha256Mismatch), "{err}");
        let err = ingest(
            std::slice::from_ref(&tier),
            stream(vec![Ok(Bytes::from(vec![1u8; 10]))]),
            &spec(20, 0),
            &Md5Engine::new(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ObjectError::IncompleteBody), "{err}");
        let err = ingest(
            std::slice::from_ref(&tier),
            stream(vec![Ok(Bytes::from(vec![1u8; 30]))]),
            &spec(20, 0),
            &Md5Engine::new(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ObjectError::IncompleteBody), "{err}");
        assert!(mem.is_empty(), "a failed upload left a blob");
    }

    /// A tier that refuses every new blob as if its disk were full.
    struct FullTier(MemTier);

    impl Tier for FullTier {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn create(&self, _: DataId) -> Result<Box<dyn vmgw_tiering::DataWriter>, TierError> {
            Err(TierError::Full)
        }
        fn open(&self, id: DataId) -> Result<Box<dyn vmgw_tiering::DataReader>, TierError> {
            self.0.open(id)
        }
        fn remove(&self, id: DataId) -> Result<(), TierError> {
            self.0.remove(id)
        }
        fn for_each_id(&self, visit: &mut dyn FnMut(DataId)) -> Result<(), TierError> {
            self.0.for_each_id(visit)
        }
        fn used_bytes(&self) -> Result<u64, TierError> {
            self.0.used_bytes()
        }
        fn stored_size(&self, id: DataId) -> Result<u64, TierError> {
            self.0.stored_size(id)
        }
        fn space(&self) -> Result<Option<vmgw_tiering::Space>, TierError> {
            self.0.space()
        }
    }

    #[tokio::test]
    async fn a_full_tier_passes_the_blob_to_the_next() {
        let hdd = MemTier::new("hdd");
        let tiers: Vec<Arc<dyn Tier>> = vec![
            Arc::new(FullTier(MemTier::new("ssd"))),
            Arc::new(hdd.clone()),
        ];
        let data = vec![5u8; 700_000];
        let out = ingest(
            &tiers,
            stream(vec![Ok(Bytes::from(data.clone()))]),
            &spec(data.len() as u64, 0),
            &Md5Engine::new(1),
        )
        .await
        .unwrap();
        let IngestedData::Blob(blob) = out.data else {
            panic!("expected a blob")
        };
        assert_eq!(blob.tier, "hdd");
        assert_eq!(hdd.len(), 1);

        let err = ingest(
            &tiers[..1],
            stream(vec![Ok(Bytes::from(data.clone()))]),
            &spec(data.len() as u64, 0),
            &Md5Engine::new(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ObjectError::StorageFull), "{err}");
        let err = ingest(
            &[],
            stream(vec![Ok(Bytes::from(data.clone()))]),
            &spec(data.len() as u64, 0),
            &Md5Engine::new(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ObjectError::StorageFull), "{err}");
        // Small bodies are kept inline, whatever the tiers say.
        let out = ingest(
            &[],
            stream(vec![Ok(Bytes::from_static(b"tiny"))]),
            &spec(4, 1024),
            &Md5Engine::new(1),
        )
        .await
        .unwrap();
        assert!(matches!(out.data, IngestedData::Inline(_)));
    }
}
