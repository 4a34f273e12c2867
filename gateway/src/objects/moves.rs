//! Moving an object's bytes to another tier.
//!
//! Protocol: copy every blob to the target tier under a new id, read the copy back and
//! check it against the MD5 recorded for it (the ETag of the object or of the part), then
//! swap the layout in one metadata commit that also queues the old blobs for reclamation.
//! A crash before the commit leaves only unreferenced copies (removed by the start-up
//! sweep); after it, only the old blobs, already queued. The object stays readable
//! throughout (readers pin the blobs they read), and a write that replaces the object while
//! it is being copied wins: the commit finds another version or layout and the move is
//! abandoned, its copies deleted.

use std::sync::Arc;

use vmgw_tiering::{DataId, Tier, TierError};

use super::activity::Activity;
use super::descriptor::Describe;
use super::error::{ObjectError, ObjectResult};
use super::in_flight::{InFlight, InFlightGuard};
use super::md5_lanes::Md5Engine;
use super::{ObjectService, hex};
use crate::meta::{BlobRef, ClassChange, Layout, MetaError, PartLayout, WriteOp};

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The bytes are now on the target tier; `bytes` were copied.
    Moved { bytes: u64 },
    /// Everything was on the target tier already.
    AlreadyThere,
    /// The object was replaced or moved by someone else meanwhile; nothing changed.
    Abandoned,
}

/// Copies blob `from` (on `source`) to a new blob on `target` and verifies it. Blocking.
///
/// The source bytes are hashed on the way (MD5 on an engine thread, in parallel with the
/// copy) and must match `expected_md5` (hex), the ETag of the object or part: the bytes moved
/// are the bytes the client wrote. The copy is then read back from the target — what will be
/// served is what is checked — and must have the same length and CRC32C as what was sent.
fn copy_blob(
    source: &dyn Tier,
    from: &BlobRef,
    target: &dyn Tier,
    expected_md5: &str,
    descriptor: Option<Vec<u8>>,
    ctx: &mut CopyContext,
) -> Result<BlobRef, ObjectError> {
    let id = ctx.in_flight.new_id();
    let mut reader = source.open_for_copy(from.id)?;
    let mut writer = target.create(id)?;
    let mut source_md5 = ctx.md5.stream();
    let mut sent = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    let mut offset = 0;
    while offset < from.size {
        let bytes = reader.read_at(offset, ctx.activity.move_step())?;
        sent.update(&bytes);
        writer.write(&bytes)?;
        offset += bytes.len() as u64;
        let len = bytes.len();
        source_md5.update(bytes);
        crate::faults::crash_point("move:partial-copy");
        ctx.activity.pace(len);
    }
    if let Some(descriptor) = descriptor {
        writer.describe(descriptor);
    }
    writer.finish()?;
    let source_md5 = hex(&source_md5.finish());
    let verified = (|| -> Result<(u64, u64), TierError> {
        let mut copy = target.open_for_copy(id)?;
        let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
        let mut offset = 0;
        while offset < copy.len() {
            let bytes = copy.read_at(offset, ctx.activity.move_step())?;
            crc.update(&bytes);
            offset += bytes.len() as u64;
            ctx.activity.pace(bytes.len());
        }
        Ok((copy.len(), crc.finalize()))
    })();
    match verified {
        Ok((len, crc)) if source_md5 == expected_md5 && len == offset && crc == sent.finalize() => {
            Ok(BlobRef {
                id,
                tier: target.name().to_owned(),
                size: from.size,
            })
        }
        outcome => {
            let _ = target.remove(id);
            Err(ObjectError::Internal(format!(
                "copy of blob {} to tier {} failed verification (source MD5 {source_md5}, expected {expected_md5}): {outcome:?}",
                from.id,
                target.name()
            )))
        }
    }
}

/// Runs a move's copy on a thread of its own at low CPU priority, so that a move (which
/// streams, checksums and hashes at full speed) yields the cores to foreground requests.
async fn low_priority<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ObjectError> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("vmgw-move".into())
        .spawn(move || {
            // Linux's nice value is per thread: only this one is lowered.
            let _ = rustix::process::setpriority_process(None, super::MOVE_NICE);
            let _ = done.send(work());
        })
        .map_err(|e| ObjectError::Internal(format!("cannot start a move thread: {e}")))?;
    result
        .await
        .map_err(|_| ObjectError::Internal("move worker failed".into()))
}

impl ObjectService {
    /// Moves the bytes of the current version of `key` to tier `tier_name`, optionally
    /// changing its storage class in the same commit (a lifecycle transition).
    pub async fn move_object(
        &self,
        bucket: &str,
        key: &str,
        tier_name: &str,
        storage_class: Option<String>,
    ) -> ObjectResult<MoveOutcome> {
        let class = storage_class.map(|class| ClassChange {
            storage_class: Some(class),
            access_tier: None,
        });
        self.move_object_as(bucket, key, tier_name, class).await
    }

    /// [`Self::move_object`], giving the object the class (and access tier) `class`.
    pub async fn move_object_as(
        &self,
        bucket: &str,
        key: &str,
        tier_name: &str,
        class: Option<ClassChange>,
    ) -> ObjectResult<MoveOutcome> {
        let outcome = self
            .move_once(bucket, key, Which::Current, tier_name, class)
            .await;
        self.move_stats.record(tier_name, &outcome);
        outcome
    }

    /// Moves the bytes of noncurrent version `version` of `key` (its internal number) to
    /// tier `tier_name`, giving it class `storage_class` in the same commit (a lifecycle
    /// transition of a noncurrent version). A version that is gone, or current again,
    /// meanwhile is left alone (`Abandoned`).
    pub async fn move_noncurrent(
        &self,
        bucket: &str,
        key: &str,
        version: u128,
        tier_name: &str,
        storage_class: String,
    ) -> ObjectResult<MoveOutcome> {
        let class = ClassChange {
            storage_class: Some(storage_class),
            access_tier: None,
        };
        let outcome = self
            .move_once(
                bucket,
                key,
                Which::Noncurrent(version),
                tier_name,
                Some(class),
            )
            .await;
        self.move_stats.record(tier_name, &outcome);
        outcome
    }

    async fn move_once(
        &self,
        bucket: &str,
        key: &str,
        which: Which,
        tier_name: &str,
        class: Option<ClassChange>,
    ) -> ObjectResult<MoveOutcome> {
        let target = self.tiers.get(tier_name).ok_or_else(|| {
            ObjectError::InvalidArgument(format!("no tier is named {tier_name:?}"))
        })?;
        let bucket = self.bucket(bucket)?;
        let (record, layout, pins) = match which {
            Which::Current => self.open_current(&bucket, key)?,
            Which::Noncurrent(version) => match self.open_numbered(&bucket, key, version)? {
                Some(opened) => opened,
                None => return Ok(MoveOutcome::Abandoned),
            },
        };
        let class_change = class.filter(|c| {
            c.storage_class != record.storage_class || c.access_tier != record.access_tier
        });
        let in_place = match &layout {
            Layout::Inline { .. } => self.tiers.is_hottest(&target),
            _ => layout.blobs().all(|b| b.tier == target.name()),
        };
        if in_place && class_change.is_none() {
            return Ok(MoveOutcome::AlreadyThere);
        }

        // The copies stay registered as in flight until the swap is committed or abandoned.
        let (new_layout, _in_flight) = {
            let tiers = self.tiers.clone();
            let target = Arc::clone(&target);
            let layout = layout.clone();
            let etag = record.etag.clone();
            // A noncurrent version is never queued for redescription (that queue follows
            // current versions), so its copies describe it with the class it is about to
            // take.
            let mut described = record.clone();
            if let (Which::Noncurrent(_), Some(class)) = (which, &class_change) {
                described.storage_class.clone_from(&class.storage_class);
                described.access_tier = class.access_tier;
            }
            let describe = target.keeps_descriptors().then(|| Describe {
                bucket: bucket.name.clone(),
                key: key.to_owned(),
                record: described,
            });
            let mut ctx = CopyContext {
                in_flight: InFlightIds {
                    set: Arc::clone(&self.in_flight),
                    guards: Vec::new(),
                },
                md5: Arc::clone(&self.background_md5),
                activity: Arc::clone(&self.activity),
            };
            low_priority(move || {
                copy_layout(&tiers, &layout, &target, &etag, describe.as_ref(), &mut ctx)
                    .map(|layout| (layout, ctx.in_flight))
            })
            .await??
        };
        drop(pins);
        crate::faults::crash_point("move:copied");
        let copied: u64 = new_layout
            .blobs()
            .filter(|b| !layout.blobs().any(|old| old.id == b.id))
            .map(|b| b.size)
            .sum();
        let op = WriteOp::SwapLayout {
            bucket_id: bucket.id,
            key: key.to_owned(),
            version: record.version,
            noncurrent: matches!(which, Which::Noncurrent(_)),
            expected: layout.clone(),
            layout: new_layout.clone(),
            class: class_change,
        };
        match self.meta.apply(op).await {
            Ok(_) => {
                crate::faults::crash_point("move:committed");
                Ok(MoveOutcome::Moved { bytes: copied })
            }
            Err(e) => {
                // The copies were never referenced: delete them.
                for blob in new_layout
                    .blobs()
                    .filter(|b| !layout.blobs().any(|old| old.id == b.id))
                {
                    self.discard(&target, blob.id).await;
                }
                match e {
                    MetaError::PreconditionFailed => Ok(MoveOutcome::Abandoned),
                    other => Err(other.into()),
                }
            }
        }
    }
}

/// Which version of a key a move is for.
#[derive(Debug, Clone, Copy)]
enum Which {
    Current,
    /// A noncurrent version, by its internal number.
    Noncurrent(u128),
}

/// What the copies of one move share.
struct CopyContext {
    in_flight: InFlightIds,
    /// Hashes the source bytes, on a low-priority engine thread.
    md5: Arc<Md5Engine>,
    /// Paces the copy while clients are being served.
    activity: Arc<Activity>,
}

/// Fresh blob ids for the copies, registered as in flight while the move is uncommitted.
struct InFlightIds {
    set: Arc<InFlight>,
    guards: Vec<InFlightGuard>,
}

impl InFlightIds {
    fn new_id(&mut self) -> DataId {
        let id = DataId::random();
        self.guards.push(self.set.register(id));
        id
    }
}

/// The layout with every blob not yet on `target` copied there. Blocking.
fn copy_layout(
    tiers: &super::Tiers,
    layout: &Layout,
    target: &Arc<dyn Tier>,
    etag: &str,
    describe: Option<&Describe>,
    ctx: &mut CopyContext,
) -> ObjectResult<Layout> {
    let source_of = |blob: &BlobRef| {
        tiers
            .get(&blob.tier)
            .ok_or_else(|| ObjectError::Internal(format!("blob on unknown tier {}", blob.tier)))
    };
    match layout {
        Layout::Inline { data, crc32c } => {
            if tiers.is_hottest(target) {
                return Ok(layout.clone());
            }
            if crc_fast::crc32_iscsi(data) != *crc32c {
                return Err(ObjectError::Internal(
                    "inline object data failed its checksum".into(),
                ));
            }
            let id = ctx.in_flight.new_id();
            let mut writer = target.create(id)?;
            writer.write(data)?;
            if let Some(describe) = describe {
                writer.describe(describe.blob(None, 0));
            }
            writer.finish()?;
            Ok(Layout::Blob(BlobRef {
                id,
                tier: target.name().to_owned(),
                size: data.len() as u64,
            }))
        }
        Layout::Blob(blob) if blob.tier == target.name() => Ok(layout.clone()),
        Layout::Blob(blob) => Ok(Layout::Blob(copy_blob(
            source_of(blob)?.as_ref(),
            blob,
            target.as_ref(),
            etag,
            describe.map(|d| d.blob(None, 0)),
            ctx,
        )?)),
        Layout::Parts(parts) => {
            let mut moved = Vec::with_capacity(parts.len());
            let mut offset = 0;
            for part in parts {
                let blob = if part.blob.tier == target.name() {
                    part.blob.clone()
                } else {
                    copy_blob(
                        source_of(&part.blob)?.as_ref(),
                        &part.blob,
                        target.as_ref(),
                        &part.etag,
                        describe.map(|d| d.blob(Some(part.number), offset)),
                        ctx,
                    )?
                };
                offset += part.blob.size;
                moved.push(PartLayout {
                    blob,
                    ..part.clone()
                });
            }
            Ok(Layout::Parts(moved))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Condvar, Mutex};

    use vmgw_tiering::{DataId, DataReader, DataWriter, MemTier, Tier, TierError};

    use super::MoveOutcome;
    use crate::meta::Layout;
    use crate::objects::test_support::{get, put, service_with};

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    fn tiers_of(service: &crate::objects::ObjectService, key: &str) -> Vec<String> {
        let bucket = service.bucket("b").unwrap();
        let (_, layout) = service
            .meta()
            .object_with_layout(bucket.id, key)
            .unwrap()
            .unwrap();
        match layout {
            Layout::Inline { .. } => vec!["inline".into()],
            other => other.blobs().map(|b| b.tier.clone()).collect(),
        }
    }

    #[tokio::test]
    async fn moves_keep_bytes_etag_and_metadata_and_free_the_source() {
        let t = service_with(None).await;
        let s = &t.service;
        let data = pattern(3_000_000, 1);
        let record = put(s, "k", &data, None).await;
        assert_eq!(tiers_of(s, "k"), ["ssd"]);
        for (tier, expected) in [("hdd", "hdd"), ("ssd", "ssd"), ("hdd", "hdd")] {
            let outcome = s.move_object("b", "k", tier, None).await.unwrap();
            assert_eq!(
                outcome,
                MoveOutcome::Moved {
                    bytes: data.len() as u64
                }
            );
            assert_eq!(tiers_of(s, "k"), [expected]);
            assert_eq!(get(s, "k").await, data);
            let now = s
                .meta()
                .object(s.bucket("b").unwrap().id, "k")
                .unwrap()
                .unwrap();
            assert_eq!(
                (now.version, &now.etag, now.modified_ms),
                (record.version, &record.etag, record.modified_ms)
            );
        }
        assert_eq!(
            s.move_object("b", "k", "hdd", None).await.unwrap(),
            MoveOutcome::AlreadyThere
        );
        // Reclamation leaves exactly one blob on the tiers.
        while crate::objects::reclaim::reclaim_round(s).await.unwrap() > 0 {}
        let mut files = 0;
        for tier in s.tiers().iter() {
            tier.for_each_id(&mut |_| files += 1).unwrap();
        }
        assert_eq!(files, 1);
    }

    #[tokio::test]
    async fn inline_objects_materialise_on_colder_tiers_and_classes_change() {
        let t = service_with(None).await;
        let s = &t.service;
        put(s, "small", b"tiny", None).await;
        assert_eq!(tiers_of(s, "small"), ["inline"]);
        let outcome = s
            .move_object("b", "small", "hdd", Some("STANDARD_IA".into()))
            .await
            .unwrap();
        assert_eq!(outcome, MoveOutcome::Moved { bytes: 4 });
        assert_eq!(tiers_of(s, "small"), ["hdd"]);
        assert_eq!(get(s, "small").await, b"tiny");
        let record = s
            .meta()
            .object(s.bucket("b").unwrap().id, "small")
            .unwrap()
            .unwrap();
        assert_eq!(record.storage_class.as_deref(), Some("STANDARD_IA"));
        assert!(s.move_object("b", "small", "tape", None).await.is_err());
    }

    /// A tier whose `create` waits until the test opens the gate.
    struct GatedTier {
        inner: MemTier,
        gate: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Tier for GatedTier {
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn create(&self, id: DataId) -> Result<Box<dyn DataWriter>, TierError> {
            let (open, cv) = &*self.gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
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
        fn space(&self) -> Result<Option<vmgw_tiering::Space>, TierError> {
            self.inner.space()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_overwrite_during_a_move_wins_and_the_move_leaves_nothing() {
        let ssd = MemTier::new("ssd");
        let hdd = MemTier::new("hdd");
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let gated = GatedTier {
            inner: hdd.clone(),
            gate: Arc::clone(&gate),
        };
        let t = service_with(Some(vec![Arc::new(ssd.clone()), Arc::new(gated)])).await;
        let s = Arc::clone(&t.service);
        put(&s, "k", &pattern(500_000, 1), None).await;

        let mover = {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.move_object("b", "k", "hdd", None).await })
        };
        // The move is now blocked creating its copy; replace the object meanwhile.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let newer = pattern(400_000, 2);
        put(&s, "k", &newer, None).await;
        {
            let (open, cv) = &*gate;
            *open.lock().unwrap() = true;
            cv.notify_all();
        }
        assert_eq!(mover.await.unwrap().unwrap(), MoveOutcome::Abandoned);
        assert_eq!(get(&s, "k").await, newer);
        assert_eq!(tiers_of(&s, "k"), ["ssd"]);
        assert!(hdd.is_empty(), "the abandoned copy was not deleted");
    }
}
