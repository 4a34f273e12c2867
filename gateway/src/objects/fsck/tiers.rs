//! The second step of fsck: one tier against the inventory — orphans, missing blobs and,
//! with `--deep`, every blob in use read back.

use std::collections::HashSet;

use vmgw_tiering::{DataId, Tier, TierError};

use super::inventory::Inventory;
use super::verify::{Verdict, hold, read_through};
use super::{BlobUse, Finding, FindingKind, Fix, Found};
use crate::objects::ObjectService;
use crate::objects::error::ObjectResult;
use crate::objects::sweep::orphans_among;

fn unavailable(tier: &dyn Tier, reason: &str) -> Found {
    Finding::new(
        FindingKind::TierUnavailable,
        format!("not checked (or not completely): {reason}"),
    )
    .tier(tier.name())
    .fix(Fix::Nothing)
}

/// Checks one tier. Returns the findings and the bytes verified. Blocking.
pub(super) fn check(
    service: &ObjectService,
    inventory: &Inventory,
    tier: &dyn Tier,
    deep: bool,
) -> ObjectResult<(Vec<Found>, u64)> {
    let mut found = Vec::new();
    let mut listed = Vec::new();
    match tier.for_each_id(&mut |id| listed.push(id)) {
        Ok(()) => {}
        Err(TierError::Unavailable { reason, .. }) => {
            return Ok((vec![unavailable(tier, &reason)], 0));
        }
        Err(e) => return Err(e.into()),
    }
    let orphans = orphans_among(service, &listed)?;
    // A blob in use that the blob table lacks looks like an orphan to the sweep's rule; it
    // is reported (and mended) as a row problem instead, and never deleted.
    for id in orphans
        .into_iter()
        .filter(|id| !inventory.uses.contains_key(id))
    {
        found.push(
            Finding::new(
                FindingKind::Orphan,
                "on the tier, but no metadata knows it (the remains of an interrupted write)",
            )
            .tier(tier.name())
            .blob(id)
            .fix(Fix::DeleteOrphan {
                tier: tier.name().to_owned(),
                id,
            }),
        );
    }
    let present: HashSet<DataId> = listed.into_iter().collect();

    let mut mine: Vec<(DataId, &BlobUse)> = inventory
        .uses
        .iter()
        .filter(|(_, blob)| &*blob.tier == tier.name())
        .map(|(id, blob)| (*id, blob))
        .collect();
    mine.sort_by_key(|(id, _)| *id);
    let mut verified = 0;
    for (id, blob) in mine {
        if present.contains(&id) && !deep {
            continue;
        }
        // Held from here on: the blob cannot be reclaimed while it is looked at, and a blob
        // whose user changed since the snapshot is no longer this check's business.
        let Some(_held) = hold(service, inventory, id, blob)? else {
            continue;
        };
        let verdict = if present.contains(&id) {
            read_through(
                tier.open_uncached(id),
                blob.size,
                blob.md5.as_ref(),
                Some(&service.activity),
            )
        } else {
            // Listed before the snapshot's user was confirmed: ask once more.
            match tier.stored_size(id) {
                Ok(_) => continue,
                Err(TierError::NotFound(_)) => Verdict::Missing,
                Err(TierError::Unavailable { reason, .. }) => Verdict::Unavailable(reason),
                Err(e) => return Err(e.into()),
            }
        };
        let finding = match verdict {
            Verdict::Intact(bytes) => {
                verified += bytes;
                None
            }
            Verdict::Missing => Some((
                FindingKind::MissingData,
                "in use, but its tier does not hold it".to_owned(),
            )),
            Verdict::Damaged(reason) => Some((FindingKind::ChecksumMismatch, reason)),
            Verdict::KeyMissing(reason) => Some((FindingKind::KeyUnavailable, reason)),
            Verdict::Unavailable(reason) => {
                found.push(unavailable(tier, &reason));
                break;
            }
        };
        if let Some((kind, detail)) = finding {
            let fix = if kind == FindingKind::KeyUnavailable {
                Fix::Nothing
            } else {
                Fix::Data { id }
            };
            found.push(inventory.about(kind, id, detail).fix(fix));
        }
        if deep && let Some(copy) = tier.cached_copy(id) {
            match read_through(copy, blob.size, blob.md5.as_ref(), Some(&service.activity)) {
                Verdict::Intact(_) => {}
                Verdict::Damaged(reason) | Verdict::KeyMissing(reason) => found.push(
                    inventory
                        .about(
                            FindingKind::DamagedCachedCopy,
                            id,
                            format!("the local cached copy: {reason}"),
                        )
                        .fix(Fix::DropCachedCopy {
                            tier: tier.name().to_owned(),
                            id,
                        }),
                ),
                // Evicted meanwhile, or the cache's disk is gone: nothing cached to doubt.
                Verdict::Missing | Verdict::Unavailable(_) => {}
            }
        }
    }
    Ok((found, verified))
}
