//! Keeps the self-descriptions of remote blobs current. A blob on a remote tier names the
//! object it belongs to (bucket, key, record) so that the remote bucket alone can rebuild
//! the namespace; changes that keep the bytes — a rename, new tags, a class or
//! access-tier change, an append or a metadata-only copy — queue the object in the same
//! commit, and this task rewrites the descriptions from the queue. An entry leaves the
//! queue only once every description is rewritten, so a crash or an unreachable remote
//! delays the rewrite but never loses it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};
use vmgw_tiering::{DataId, Tier};

use super::ObjectService;
use super::descriptor::Describe;
use super::error::{ObjectError, ObjectResult};
use crate::meta::{BlobRef, Layout, Redescribe, WriteOp};

/// Objects taken from the queue per round.
const BATCH: usize = 64;
/// After a round in which some rewrite failed (the remote is down), the next try.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Each blob of a layout with its part number and offset in the object.
fn placed(layout: &Layout) -> Vec<(&BlobRef, Option<u32>, u64)> {
    match layout {
        Layout::Inline { .. } => Vec::new(),
        Layout::Blob(blob) => vec![(blob, None, 0)],
        Layout::Parts(parts) => {
            let mut offset = 0;
            parts
                .iter()
                .map(|p| {
                    let at = offset;
                    offset += p.blob.size;
                    (&p.blob, Some(p.number), at)
                })
                .collect()
        }
    }
}

/// Runs until `shutdown`: rounds back to back while the queue has entries, else every
/// `interval`.
pub async fn run_redescriber(
    service: Arc<ObjectService>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let pause = match redescribe_round(&service).await {
            Ok(Round { done, failed: 0 }) if done > 0 => continue,
            Ok(Round { failed: 0, .. }) => interval,
            Ok(_) => RETRY_AFTER,
            Err(e) => {
                warn!(error = %e, "rewriting remote descriptions failed; will retry");
                RETRY_AFTER
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub done: usize,
    pub failed: usize,
}

/// Rewrites the descriptions of up to [`BATCH`] queued objects.
pub async fn redescribe_round(service: &ObjectService) -> ObjectResult<Round> {
    let queue = service.meta.redescribe_queue(BATCH)?;
    if queue.is_empty() {
        return Ok(Round::default());
    }
    let buckets: HashMap<u64, _> = service.buckets()?.into_iter().map(|b| (b.id, b)).collect();
    let mut round = Round::default();
    for entry in queue {
        match redescribe_one(service, &buckets, &entry).await {
            Ok(()) => {
                service
                    .meta
                    .apply(WriteOp::Redescribed {
                        bucket_id: entry.bucket_id,
                        key: entry.key.clone(),
                        seq: entry.seq,
                    })
                    .await?;
                round.done += 1;
            }
            Err(e) => {
                warn!(key = %entry.key, error = %e, "cannot rewrite a remote description yet");
                round.failed += 1;
            }
        }
    }
    debug!(?round, "remote descriptions rewritten");
    Ok(round)
}

async fn redescribe_one(
    service: &ObjectService,
    buckets: &HashMap<u64, crate::meta::BucketRecord>,
    entry: &Redescribe,
) -> ObjectResult<()> {
    let Some(bucket) = buckets.get(&entry.bucket_id) else {
        return Ok(());
    };
    // Pinned, so that no blob is reclaimed (and its description orphaned) meanwhile.
    let (record, layout, pins) = match service.open_current(bucket, &entry.key) {
        Ok(current) => current,
        Err(ObjectError::NoSuchKey) => return Ok(()),
        Err(e) => return Err(e),
    };
    let describe = Describe {
        bucket: bucket.name.clone(),
        key: entry.key.clone(),
        record,
    };
    let work: Vec<(Arc<dyn Tier>, DataId, Vec<u8>)> = placed(&layout)
        .into_iter()
        .filter_map(|(blob, part, offset)| {
            let tier = service.tiers.get(&blob.tier)?;
            tier.keeps_descriptors()
                .then(|| (tier, blob.id, describe.blob(part, offset)))
        })
        .collect();
    if work.is_empty() {
        return Ok(());
    }
    tokio::task::spawn_blocking(move || {
        for (tier, id, description) in work {
            tier.redescribe(id, &description)?;
        }
        Ok::<(), vmgw_tiering::TierError>(())
    })
    .await
    .map_err(|e| ObjectError::Internal(format!("redescribe task: {e}")))??;
    drop(pins);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use vmgw_tiering::{DataReader, DataWriter, LocalTier, LocalTierOptions, Space, TierError};

    use super::*;
    use crate::objects::RenameObject;
    use crate::objects::descriptor::BlobDescriptor;
    use crate::objects::test_support::{put, service_with};

    /// A local tier that claims to keep descriptions and records every rewrite.
    struct Recording {
        inner: LocalTier,
        rewrites: Arc<Mutex<Vec<(DataId, BlobDescriptor)>>>,
    }

    impl Tier for Recording {
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn create(&self, id: DataId) -> Result<Box<dyn DataWriter>, TierError> {
            self.inner.create(id)
        }
        fn open(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
            self.inner.open(id)
        }
        fn remove(&self, id: DataId) -> Result<(), TierError> {
            self.inner.remove(id)
        }
        fn for_each_id(&self, visit: &mut dyn FnMut(DataId)) -> Result<(), TierError> {
            self.inner.for_each_id(visit)
        }
        fn used_bytes(&self) -> Result<u64, TierError> {
            self.inner.used_bytes()
        }
        fn stored_size(&self, id: DataId) -> Result<u64, TierError> {
            self.inner.stored_size(id)
        }
        fn space(&self) -> Result<Option<Space>, TierError> {
            self.inner.space()
        }
        fn keeps_descriptors(&self) -> bool {
            true
        }
        fn redescribe(&self, id: DataId, descriptor: &[u8]) -> Result<(), TierError> {
            self.rewrites
                .lock()
                .unwrap()
                .push((id, BlobDescriptor::decode(descriptor).unwrap()));
            Ok(())
        }
    }

    #[tokio::test]
    async fn changes_that_keep_the_bytes_are_described_again_once() {
        let dir = tempfile::tempdir().unwrap();
        let rewrites = Arc::new(Mutex::new(Vec::new()));
        let tiers: Vec<Arc<dyn Tier>> = ["ssd", "hdd"]
            .into_iter()
            .map(|name| {
                Arc::new(Recording {
                    inner: LocalTier::open(
                        name,
                        dir.path().join(name),
                        LocalTierOptions::default(),
                    )
                    .unwrap(),
                    rewrites: Arc::clone(&rewrites),
                }) as Arc<dyn Tier>
            })
            .collect();
        let t = service_with(Some(tiers)).await;
        let s = &t.service;
        put(s, "a", &vec![5u8; 300_000], None).await;
        assert_eq!(
            redescribe_round(s).await.unwrap(),
            Round::default(),
            "a fresh write describes itself"
        );

        s.set_object_tags("b", "a", None, vec![("k".into(), "v".into())])
            .await
            .unwrap();
        s.rename_object(RenameObject {
            bucket: "b".into(),
            key: "z".into(),
            source_key: "a".into(),
            ..RenameObject::default()
        })
        .await
        .unwrap();
        // Two changes, one entry: the object is described as it is now, once.
        assert_eq!(
            redescribe_round(s).await.unwrap(),
            Round { done: 1, failed: 0 }
        );
        let got = std::mem::take(&mut *rewrites.lock().unwrap());
        assert_eq!(got.len(), 1, "{got:?}");
        let (_, description) = &got[0];
        assert_eq!(description.key, "z");
        let record = description.object.as_ref().unwrap();
        assert_eq!(record.tags, vec![("k".to_owned(), "v".to_owned())]);
        assert_eq!(
            redescribe_round(s).await.unwrap(),
            Round::default(),
            "the queue is empty"
        );

        // Deleted before its turn: nothing to describe, and the entry goes with the object.
        s.set_object_tags("b", "z", None, vec![]).await.unwrap();
        s.delete_object("b", "z", "me").await.unwrap();
        assert_eq!(redescribe_round(s).await.unwrap(), Round::default());
        assert!(rewrites.lock().unwrap().is_empty());
    }
}
