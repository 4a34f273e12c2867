//! Step 2 and 3 of recovery, on the restored (or empty) store: the plan applied through the
//! store's own writes, unused remote bytes kept aside, uploads, tenants and usage mended.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use md5::Digest;
use tokio::runtime::Handle;
use vmgw_tiering::{DataId, RemoteTier, Tier, TierError};

use super::RecoverError;
use super::plan::{self, Candidate, Decision, Described, Fate, Fragment};
use super::report::{KeptBlob, ObjectName, RecoveryReport};
use super::versions;
use crate::auth::sealer::SecretSealer;
use crate::config::Settings;
use crate::meta::{
    BucketRecord, Layout, MetaError, MetaStore, NewMarker, RedbStore, WriteOp, WriteOutcome,
};
use crate::objects::BlobDescriptor;

fn note_of(bucket: Option<&str>, key: Option<&str>, reason: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "bucket": bucket,
        "key": key,
        "reason": reason,
        "kept_by": "vmgw recover",
        "kept_ms": crate::objects::now_ms(),
    }))
    .unwrap_or_default()
}

/// An object version of the backup that is not kept as it is.
pub(super) struct Doubtful {
    pub bucket_id: u64,
    pub key: String,
    pub version: u128,
    /// Its version id as S3 shows it (reports name versions of versioned buckets by id).
    pub shown_id: String,
    pub owner: String,
    pub layout: Option<Layout>,
    pub fate: Fate,
}

pub(super) fn apply(
    handle: &Handle,
    store: &RedbStore,
    op: WriteOp,
) -> Result<WriteOutcome, MetaError> {
    handle.block_on(store.apply(op))
}

/// Step 2 and 3, on the restored (or empty) store.
pub(super) fn reconcile(
    settings: &Settings,
    handle: &Handle,
    store: &RedbStore,
    remotes: &[(String, Arc<RemoteTier>)],
    secrets_key: Option<&str>,
    report: &mut RecoveryReport,
) -> Result<(), RecoverError> {
    // What survives: the remote tiers, and the blobs they hold.
    let survivors: HashMap<&str, &Arc<RemoteTier>> =
        remotes.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut present: HashMap<DataId, String> = HashMap::new();
    for (name, tier) in remotes {
        tier.for_each_id(&mut |id| {
            present.insert(id, name.clone());
        })?;
    }
    let present_ids: HashSet<DataId> = present.keys().copied().collect();
    let survives = |tier: &str| survivors.contains_key(tier);

    let mut doubtful = Vec::new();
    let mut doubtful_versions = Vec::new();
    let census = store.census(&mut |entry| {
        let fate = plan::fate_of(entry.layout.as_ref(), &survives, &present_ids);
        if fate == Fate::Keep {
            report.restored += 1;
            return;
        }
        let doubt = Doubtful {
            bucket_id: entry.bucket_id,
            shown_id: crate::objects::version_id(&entry.record),
            key: entry.key,
            version: entry.record.version,
            owner: entry.record.owner,
            layout: entry.layout,
            fate,
        };
        if entry.current {
            doubtful.push(doubt);
        } else {
            doubtful_versions.push(doubt);
        }
    })?;
    report.tenants = store.tenants()?.len() as u64;

    // Remote blobs the backup does not know describe themselves.
    let mut unknown: Vec<(DataId, String)> = present
        .iter()
        .filter(|(id, _)| !census.blob_rows.contains_key(id))
        .map(|(id, tier)| (*id, tier.clone()))
        .collect();
    unknown.sort();
    let mut described = Vec::with_capacity(unknown.len());
    for (id, tier) in unknown {
        let descriptor = match survivors[tier.as_str()].descriptor(id) {
            Ok(Some(bytes)) => BlobDescriptor::decode(&bytes).ok(),
            Ok(None) | Err(TierError::Corrupt { .. } | TierError::KeyUnavailable { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        described.push(Described {
            id,
            tier,
            descriptor,
        });
    }
    let plan::Assembled {
        candidates,
        mut older,
        mut fragments,
    } = plan::assemble(described);
    let stored_buckets = store.buckets()?;
    let versioned = versions::versioned_buckets(&stored_buckets, &candidates, &older);

    let mut buckets: HashMap<String, u64> =
        stored_buckets.into_iter().map(|b| (b.name, b.id)).collect();
    let bucket_names: HashMap<u64, String> =
        buckets.iter().map(|(n, id)| (*id, n.clone())).collect();
    let name_of = |bucket_id: u64| {
        bucket_names
            .get(&bucket_id)
            .cloned()
            .unwrap_or_else(|| format!("(bucket id {bucket_id})"))
    };
    let mut doubtful_by_key: HashMap<(u64, String), Doubtful> = doubtful
        .into_iter()
        .map(|d| ((d.bucket_id, d.key.clone()), d))
        .collect();

    // Per key with a candidate: the newest recoverable version wins.
    let mut restores = Vec::new();
    for candidate in candidates {
        let bucket_id = buckets.get(&candidate.bucket).copied();
        let doubt = bucket_id.and_then(|id| doubtful_by_key.remove(&(id, candidate.key.clone())));
        let backup = match (&doubt, bucket_id) {
            (Some(d), _) => Some((d.version, d.fate)),
            (None, Some(id)) => store
                .object(id, &candidate.key)?
                .map(|r| (r.version, Fate::Keep)),
            (None, None) => None,
        };
        match plan::decide(backup, candidate.record.version) {
            Decision::Restore => restores.push((candidate, doubt)),
            Decision::KeepBackup => {
                for b in &candidate.blobs {
                    fragments.push(Fragment {
                        id: b.id,
                        tier: b.tier.clone(),
                        bucket: Some(candidate.bucket.clone()),
                        key: Some(candidate.key.clone()),
                        reason: "not newer than the backup's version of the object".into(),
                    });
                }
            }
            Decision::DropBackup(_) => {
                let doubt = doubt.expect("only a doubtful object is dropped");
                doubtful_by_key.insert((doubt.bucket_id, doubt.key.clone()), doubt);
                if versioned.contains(&candidate.bucket) {
                    // An older version of a versioned bucket: it goes back as a noncurrent
                    // version under the delete marker the lost one leaves.
                    older.push(candidate);
                } else {
                    fragments.extend(Fragment::all_of(
                        &candidate,
                        "older than the object's lost version",
                    ));
                }
            }
        }
    }

    // Objects of the backup that cannot be kept: their surviving remote bytes are kept
    // aside, then they are dropped and named.
    let mut dropped: Vec<Doubtful> = doubtful_by_key.into_values().collect();
    dropped.sort_by(|a, b| (a.bucket_id, &a.key).cmp(&(b.bucket_id, &b.key)));
    // Noncurrent versions too; a current one disappears as if deleted (see DropObject), so
    // no older version silently takes its place.
    dropped.extend(doubtful_versions);
    for doubt in dropped {
        let bucket = name_of(doubt.bucket_id);
        // Versions of a versioned bucket are named by their ids (noncurrent versions exist
        // only there).
        let version_id = versioned.contains(&bucket).then(|| doubt.shown_id.clone());
        let name = ObjectName {
            bucket,
            key: doubt.key.clone(),
            version_id,
        };
        discard(
            handle,
            store,
            (&survivors, &present_ids),
            &doubt,
            name,
            report,
        )?;
    }

    // Candidates become objects (replacing a doubtful backup object of the same key).
    for (candidate, doubt) in restores {
        let part_md5s = match verify_parts(&survivors, &candidate) {
            Ok(md5s) => md5s,
            Err(reason) => {
                for b in &candidate.blobs {
                    fragments.push(Fragment {
                        id: b.id,
                        tier: b.tier.clone(),
                        bucket: Some(candidate.bucket.clone()),
                        key: Some(candidate.key.clone()),
                        reason: reason.clone(),
                    });
                }
                if let Some(doubt) = doubt {
                    let name = ObjectName {
                        bucket: name_of(doubt.bucket_id),
                        key: doubt.key.clone(),
                        version_id: None,
                    };
                    discard(
                        handle,
                        store,
                        (&survivors, &present_ids),
                        &doubt,
                        name,
                        report,
                    )?;
                }
                continue;
            }
        };
        if let Some(doubt) = &doubt {
            // The backup's version is lost or gone, but a copy at least as new is here.
            let name = ObjectName {
                bucket: name_of(doubt.bucket_id),
                key: doubt.key.clone(),
                version_id: None,
            };
            keep_survivors(&survivors, &present_ids, doubt, &name, report)?;
            drop_doubtful(handle, store, doubt, false)?;
            // In a versioned bucket a newer version does not make up for an older one: it
            // would have stayed, noncurrent. (The same version moved to the remote tier
            // after the backup is not lost.)
            if versioned.contains(&name.bucket) && candidate.record.version != doubt.version {
                let name = ObjectName {
                    version_id: Some(doubt.shown_id.clone()),
                    ..name
                };
                match doubt.fate {
                    Fate::Lost => report.lost.push(name),
                    _ => report.gone.push(name),
                }
            }
        }
        let bucket_id = bucket_for(handle, store, settings, &mut buckets, &candidate, report)?;
        let layout = plan::layout_of(&candidate, &part_md5s);
        match apply(
            handle,
            store,
            WriteOp::RestoreObject {
                bucket_id,
                key: candidate.key.clone(),
                record: candidate.record.clone(),
                layout,
            },
        ) {
            Ok(_) => report.rebuilt.push(ObjectName {
                bucket: candidate.bucket.clone(),
                key: candidate.key.clone(),
                version_id: None,
            }),
            // The store has this version, or a newer `null` one, already.
            Err(MetaError::PreconditionFailed) => fragments.extend(Fragment::all_of(
                &candidate,
                "the object has this version already, or a newer null version",
            )),
            Err(e) => return Err(e.into()),
        }
    }

    // Older complete versions, as noncurrent versions of versioned buckets.
    versions::restore_older(
        &versions::Context {
            settings,
            handle,
            store,
            survivors: &survivors,
            versioned: &versioned,
            backup_ms: report.backup.as_ref().map(|b| b.created_ms),
        },
        older,
        &mut buckets,
        &mut fragments,
        report,
    )?;
    versions::enable_inferred(handle, store, &versioned, report)?;

    // Unused remote blobs: kept aside, never deleted by recovery.
    for fragment in fragments {
        let tier = survivors[fragment.tier.as_str()];
        let note = note_of(
            fragment.bucket.as_deref(),
            fragment.key.as_deref(),
            &fragment.reason,
        );
        if tier.quarantine(fragment.id, &note)? {
            report.quarantined.push(KeptBlob {
                tier: fragment.tier,
                blob: fragment.id.to_string(),
                bucket: fragment.bucket,
                key: fragment.key,
                reason: fragment.reason,
            });
        }
    }

    // Uploads in progress that lost a part cannot complete.
    for upload in &census.uploads {
        let whole = upload
            .parts
            .iter()
            .all(|(_, part)| survives(&part.blob.tier) && present_ids.contains(&part.blob.id));
        if !whole {
            match apply(
                handle,
                store,
                WriteOp::AbortUpload {
                    upload_id: upload.upload_id,
                },
            ) {
                Ok(_) | Err(MetaError::NoSuchUpload) => {}
                Err(e) => return Err(e.into()),
            }
            report.uploads_aborted.push(ObjectName {
                bucket: name_of(upload.record.bucket_id),
                key: upload.record.key.clone(),
                version_id: None,
            });
        }
    }

    mend_tenants(handle, store, secrets_key, report)?;

    // Usage, counted from what is there now.
    let ids: BTreeSet<u64> = buckets
        .values()
        .copied()
        .chain(census.usage.keys().copied())
        .collect();
    for bucket_id in ids {
        apply(handle, store, WriteOp::RecountUsage { bucket_id })?;
    }
    report.lost.sort();
    report.gone.sort();
    report.rebuilt.sort();
    report.buckets_rebuilt.sort();
    Ok(())
}

/// The id of the candidate's bucket, creating it from the descriptor if the store lacks it.
pub(super) fn bucket_for(
    handle: &Handle,
    store: &RedbStore,
    settings: &Settings,
    buckets: &mut HashMap<String, u64>,
    candidate: &Candidate,
    report: &mut RecoveryReport,
) -> Result<u64, RecoverError> {
    if let Some(id) = buckets.get(&candidate.bucket) {
        return Ok(*id);
    }
    let record = BucketRecord {
        id: 0,
        name: candidate.bucket.clone(),
        created_ms: candidate.record.modified_ms,
        region: settings.region.clone(),
        owner: candidate.record.owner.clone(),
        // Set afterwards if its objects had version ids (see `versions::enable_inferred`).
        versioning: crate::meta::Versioning::Unversioned,
    };
    let WriteOutcome::BucketCreated(created) =
        apply(handle, store, WriteOp::RestoreBucket { record })?
    else {
        return Err(MetaError::Storage("bucket restore answered oddly".into()).into());
    };
    buckets.insert(created.name.clone(), created.id);
    report.buckets_rebuilt.push(created.name);
    Ok(created.id)
}

/// A backup object that cannot be kept: its surviving remote bytes are kept aside, it is
/// dropped, and the report names it as lost (its bytes were on the lost host) or gone.
fn discard(
    handle: &Handle,
    store: &RedbStore,
    (survivors, present): (&HashMap<&str, &Arc<RemoteTier>>, &HashSet<DataId>),
    doubt: &Doubtful,
    name: ObjectName,
    report: &mut RecoveryReport,
) -> Result<(), RecoverError> {
    keep_survivors(survivors, present, doubt, &name, report)?;
    drop_doubtful(handle, store, doubt, true)?;
    match doubt.fate {
        Fate::Lost => report.lost.push(name),
        _ => report.gone.push(name),
    }
    Ok(())
}

/// Drops a version of the backup whose bytes are not all there. `as_deleted`: a current
/// version of a versioned bucket leaves a delete marker (no newer copy replaces it).
fn drop_doubtful(
    handle: &Handle,
    store: &RedbStore,
    doubt: &Doubtful,
    as_deleted: bool,
) -> Result<(), RecoverError> {
    let marker = as_deleted.then(|| NewMarker {
        version: crate::objects::new_version(),
        modified_ms: crate::objects::now_ms(),
        owner: doubt.owner.clone(),
    });
    match apply(
        handle,
        store,
        WriteOp::DropObject {
            bucket_id: doubt.bucket_id,
            key: doubt.key.clone(),
            version: doubt.version,
            layout: doubt.layout.clone(),
            marker,
        },
    ) {
        Ok(_) | Err(MetaError::PreconditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Keeps the remote blobs of an object being dropped in the quarantine area.
fn keep_survivors(
    survivors: &HashMap<&str, &Arc<RemoteTier>>,
    present: &HashSet<DataId>,
    doubt: &Doubtful,
    name: &ObjectName,
    report: &mut RecoveryReport,
) -> Result<(), RecoverError> {
    let Some(layout) = &doubt.layout else {
        return Ok(());
    };
    let reason = match doubt.fate {
        Fate::Lost => "a surviving part of an object whose other parts were lost",
        _ => "a surviving part of an object whose other parts are gone",
    };
    for blob in layout.blobs() {
        let Some(tier) = survivors.get(blob.tier.as_str()) else {
            continue;
        };
        if !present.contains(&blob.id) {
            continue;
        }
        let note = note_of(Some(&name.bucket), Some(&name.key), reason);
        if tier.quarantine(blob.id, &note)? {
            report.quarantined.push(KeptBlob {
                tier: blob.tier.clone(),
                blob: blob.id.to_string(),
                bucket: Some(name.bucket.clone()),
                key: Some(name.key.clone()),
                reason: reason.into(),
            });
        }
    }
    Ok(())
}

/// For a multipart candidate: reads every part through its tier's verified reader, and
/// returns their MD5s (the parts' ETags, which the descriptor does not carry), checked
/// against the object's ETag (the MD5 of the parts' MD5s). Single-blob candidates are not
/// read: every later read verifies them.
pub(super) fn verify_parts(
    survivors: &HashMap<&str, &Arc<RemoteTier>>,
    candidate: &Candidate,
) -> Result<Vec<String>, String> {
    if candidate.record.parts.is_none() {
        return Ok(Vec::new());
    }
    let mut md5s = Vec::with_capacity(candidate.blobs.len());
    let mut of_md5s = md5::Md5::new();
    for blob in &candidate.blobs {
        let tier = survivors[blob.tier.as_str()];
        let mut reader = tier
            .open(blob.id)
            .map_err(|e| format!("its part does not open: {e}"))?;
        if reader.len() != blob.size {
            return Err(format!(
                "a part holds {} bytes, its descriptors say {}",
                reader.len(),
                blob.size
            ));
        }
        let mut digest = md5::Md5::new();
        let mut offset = 0;
        while offset < blob.size {
            let bytes = reader
                .read_at(offset, 1 << 20)
                .map_err(|e| format!("a part does not verify: {e}"))?;
            digest.update(&bytes);
            offset += bytes.len() as u64;
        }
        let md5 = digest.finalize();
        of_md5s.update(md5);
        md5s.push(crate::objects::hex(&md5));
    }
    let expected = format!(
        "{}-{}",
        crate::objects::hex(&of_md5s.finalize()),
        candidate.blobs.len()
    );
    if candidate.record.etag != expected {
        return Err(format!(
            "its parts add up to ETag {expected}, the record says {}",
            candidate.record.etag
        ));
    }
    Ok(md5s)
}

/// Tenants whose sealed secrets do not open with the key at hand lose their keys: the
/// gateway refuses to start with secrets it cannot open, and a tenant without a key gets
/// one from `vmgw key rotate`.
fn mend_tenants(
    handle: &Handle,
    store: &RedbStore,
    secrets_key: Option<&str>,
    report: &mut RecoveryReport,
) -> Result<(), RecoverError> {
    let sealer = secrets_key.and_then(|text| {
        let mut key = [0u8; 32];
        hex_simd::decode(text.trim().as_bytes(), hex_simd::Out::from_slice(&mut key)).ok()?;
        Some(SecretSealer::from_key(&key))
    });
    for mut tenant in store.tenants()? {
        let opens = tenant.keys.iter().all(|key| {
            sealer
                .as_ref()
                .is_some_and(|s| s.open(&key.access_key, &key.sealed_secret).is_ok())
        });
        if opens {
            continue;
        }
        tenant.keys.clear();
        report.tenant_keys_dropped.push(tenant.name.clone());
        apply(
            handle,
            store,
            WriteOp::PutTenant {
                record: tenant,
                create: false,
            },
        )?;
    }
    Ok(())
}
