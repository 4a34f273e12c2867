//! Recovery of versioned buckets: older complete versions found on the remote tier come back
//! as noncurrent versions, and a bucket whose objects had version ids is versioned again.
//!
//! Each remote blob's descriptor carries its version's record, `versioned` flag included
//! (a version with an id of its own exists only where versioning was enabled). So:
//!
//! - a bucket is taken as versioned when the backup says so, or when any of its remote
//!   versions has an id of its own; without a backup it is then set to `Enabled` (a
//!   suspended state is not in the descriptors; `Enabled` keeps more);
//! - in such a bucket, an older complete version goes back among the key's versions where
//!   its number places it. With a backup, only versions newer than the backup are taken:
//!   one that predates it but is not in it had been deleted before it (its remote bytes are
//!   kept in `lost+found` instead);
//! - at most one `null` version per key: an older `null` version below a newer one was
//!   replaced, not kept (the store's restore refuses it and its bytes are kept aside);
//! - in an unversioned bucket an older complete version is the leftover of an overwrite,
//!   kept aside as before.
//!
//! Delete markers have no bytes and so no descriptor: without a backup, a key whose newest
//! version was a delete marker comes back with its newest version holding data current.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::runtime::Handle;
use vmgw_tiering::RemoteTier;

use super::RecoverError;
use super::plan::{self, Candidate, Fragment};
use super::reconcile::{apply, bucket_for, verify_parts};
use super::report::{ObjectName, RecoveryReport};
use crate::config::Settings;
use crate::meta::{BucketRecord, MetaError, MetaStore, RedbStore, Versioning, WriteOp};

/// What restoring older versions needs.
pub(super) struct Context<'a> {
    pub settings: &'a Settings,
    pub handle: &'a Handle,
    pub store: &'a RedbStore,
    pub survivors: &'a HashMap<&'a str, &'a Arc<RemoteTier>>,
    /// Buckets taken as versioned (see [`versioned_buckets`]).
    pub versioned: &'a BTreeSet<String>,
    /// When the backup was taken, if there was one.
    pub backup_ms: Option<i64>,
}

/// The buckets taken as versioned: versioning configured in the store, or a version with
/// an id of its own among the candidates.
pub(super) fn versioned_buckets(
    stored: &[BucketRecord],
    candidates: &[Candidate],
    older: &[Candidate],
) -> BTreeSet<String> {
    stored
        .iter()
        .filter(|b| !b.versioning.is_unversioned())
        .map(|b| b.name.clone())
        .chain(
            candidates
                .iter()
                .chain(older)
                .filter(|c| c.record.versioned)
                .map(|c| c.bucket.clone()),
        )
        .collect()
}

/// When a version was made: its number's high half is the time in ms.
fn made_ms(version: u128) -> i64 {
    i64::try_from(version >> 64).unwrap_or(i64::MAX)
}

/// Restores the older complete versions that belong back (see the module notes); the
/// others' blobs become fragments.
pub(super) fn restore_older(
    cx: &Context<'_>,
    mut older: Vec<Candidate>,
    buckets: &mut HashMap<String, u64>,
    fragments: &mut Vec<Fragment>,
    report: &mut RecoveryReport,
) -> Result<(), RecoverError> {
    // Newest first per key, so a newer `null` version is in place before an older one.
    older.sort_by(|a, b| {
        (&a.bucket, &a.key)
            .cmp(&(&b.bucket, &b.key))
            .then(b.record.version.cmp(&a.record.version))
    });
    for candidate in older {
        if !cx.versioned.contains(&candidate.bucket) {
            fragments.extend(Fragment::all_of(
                &candidate,
                "an older version than another remote copy",
            ));
            continue;
        }
        if cx
            .backup_ms
            .is_some_and(|at| made_ms(candidate.record.version) < at)
        {
            fragments.extend(Fragment::all_of(
                &candidate,
                "a version older than the backup that the backup does not have (deleted before it)",
            ));
            continue;
        }
        let part_md5s = match verify_parts(cx.survivors, &candidate) {
            Ok(md5s) => md5s,
            Err(reason) => {
                fragments.extend(Fragment::all_of(&candidate, &reason));
                continue;
            }
        };
        let bucket_id = bucket_for(
            cx.handle,
            cx.store,
            cx.settings,
            buckets,
            &candidate,
            report,
        )?;
        let op = WriteOp::RestoreObject {
            bucket_id,
            key: candidate.key.clone(),
            record: candidate.record.clone(),
            layout: plan::layout_of(&candidate, &part_md5s),
        };
        match apply(cx.handle, cx.store, op) {
            Ok(_) => report.rebuilt.push(ObjectName {
                bucket: candidate.bucket.clone(),
                key: candidate.key.clone(),
                version_id: Some(crate::objects::version_id(&candidate.record)),
            }),
            Err(MetaError::PreconditionFailed) => fragments.extend(Fragment::all_of(
                &candidate,
                "the object has this version already, or a newer null version that replaced it",
            )),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Sets versioning `Enabled` on buckets taken as versioned that the store has unversioned
/// (rebuilt from descriptors, or versioned after the backup).
pub(super) fn enable_inferred(
    handle: &Handle,
    store: &RedbStore,
    versioned: &BTreeSet<String>,
    report: &mut RecoveryReport,
) -> Result<(), RecoverError> {
    for bucket in store.buckets()? {
        if !bucket.versioning.is_unversioned() || !versioned.contains(&bucket.name) {
            continue;
        }
        apply(
            handle,
            store,
            WriteOp::SetVersioning {
                bucket: bucket.name.clone(),
                bucket_id: bucket.id,
                versioning: Versioning::Enabled,
            },
        )?;
        report.notes.push(format!(
            "bucket {} has versioning enabled: its objects had version ids (whether it was suspended is not known)",
            bucket.name
        ));
    }
    Ok(())
}
