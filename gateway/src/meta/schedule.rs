//! The lifecycle schedule: every key a lifecycle rule will act on is indexed under the
//! moment the first action on any of its versions becomes due, so the worker takes due keys
//! from the front of the index instead of scanning buckets. Entries are rewritten in the
//! same commit as any change that can move the moment (a write, a tag or class change, a
//! delete, a version removed), and a rule change queues a resumable backfill of the bucket.
//!
//! One entry per key, not per version: when a noncurrent version is acted on depends on
//! the key's other versions (its successor's age, how many newer noncurrent versions there
//! are), so the key is the unit that is evaluated. A key whose newest version is a delete
//! marker has no row in `objects` but is indexed all the same, under the same key.

use std::collections::BTreeSet;
use std::sync::Arc;

use redb::ReadableTable;
use vmgw_lifecycle::{
    AccessFacts, INTELLIGENT_TIERING, KeyVersions, ObjectFacts, Rule, TieringConfig, VersionFacts,
    acts_on_versions, next_access_step, next_due, versions_next_due,
};

use super::apply::{ApplyError, Tables};
use super::records::{self, ObjectRecord};
use super::{ConfigKind, MetaError, WriteOutcome, keys};

/// Key of the due index: the moment (big-endian, so the index is in time order), then the
/// object's key in the `objects` table.
#[must_use]
pub fn due_key(at_ms: i64, object_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + object_key.len());
    out.extend_from_slice(&u64::try_from(at_ms.max(0)).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(object_key);
    out
}

/// Splits a due-index key into its moment and object key.
#[must_use]
pub fn split_due_key(raw: &[u8]) -> Option<(i64, &[u8])> {
    let (at, object) = raw.split_at_checked(8)?;
    let at = i64::try_from(u64::from_be_bytes(at.try_into().ok()?)).ok()?;
    Some((at, object))
}

/// A version other than the current one, as the lifecycle evaluator sees it.
#[must_use]
pub fn version_facts(record: &ObjectRecord) -> VersionFacts {
    VersionFacts {
        size: record.size,
        created_ms: record.modified_ms,
        tags: record.tags.clone(),
        storage_class: record
            .storage_class
            .clone()
            .unwrap_or_else(|| "STANDARD".to_owned()),
        delete_marker: record.delete_marker,
    }
}

fn facts(key: &str, record: &ObjectRecord) -> ObjectFacts {
    ObjectFacts {
        key: key.to_owned(),
        size: record.size,
        created_ms: record.modified_ms,
        tags: record.tags.clone(),
        storage_class: record
            .storage_class
            .clone()
            .unwrap_or_else(|| "STANDARD".to_owned()),
    }
}

impl Tables<'_> {
    /// The bucket's rules, decoded once per batch.
    pub(super) fn rules(&mut self, bucket_id: u64) -> Result<Option<Arc<Vec<Rule>>>, ApplyError> {
        if let Some(rules) = self.rules_cache.get(&bucket_id) {
            return Ok(rules.clone());
        }
        let rules = match self
            .bucket_configs
            .get((bucket_id, ConfigKind::Lifecycle.name()))?
        {
            Some(raw) => Some(Arc::new(
                rmp_serde::from_slice::<Vec<Rule>>(raw.value())
                    .map_err(|e| ApplyError::Fatal(MetaError::Corrupt(e.to_string())))?,
            )),
            None => None,
        };
        self.rules_cache.insert(bucket_id, rules.clone());
        Ok(rules)
    }

    /// The bucket's Intelligent-Tiering configurations, decoded once per batch.
    fn tiering_configs(&mut self, bucket_id: u64) -> Result<Arc<Vec<TieringConfig>>, ApplyError> {
        if let Some(configs) = self.tiering_cache.get(&bucket_id) {
            return Ok(configs.clone());
        }
        let configs = match self
            .bucket_configs
            .get((bucket_id, ConfigKind::IntelligentTiering.name()))?
        {
            Some(raw) => Arc::new(
                rmp_serde::from_slice::<Vec<TieringConfig>>(raw.value())
                    .map_err(|e| ApplyError::Fatal(MetaError::Corrupt(e.to_string())))?,
            ),
            None => Arc::new(Vec::new()),
        };
        self.tiering_cache.insert(bucket_id, configs.clone());
        Ok(configs)
    }

    /// When an object of the INTELLIGENT_TIERING class next moves colder if unread.
    fn next_access_step(
        &mut self,
        bucket_id: u64,
        okey: &[u8],
        key: &str,
        record: &ObjectRecord,
    ) -> Result<Option<i64>, ApplyError> {
        if record.storage_class.as_deref() != Some(INTELLIGENT_TIERING)
            || record.size < vmgw_lifecycle::MIN_AUTO_TIERING_SIZE
        {
            return Ok(None);
        }
        let read = self.reads.get(okey)?.map(|v| v.value());
        let facts = AccessFacts {
            key,
            size: record.size,
            tags: &record.tags,
            last_access_ms: read.map_or(record.modified_ms, |r| r.max(record.modified_ms)),
        };
        let configs = self.tiering_configs(bucket_id)?;
        Ok(next_access_step(
            &configs,
            self.auto_tiering,
            &facts,
            record.access_tier.unwrap_or_default(),
            self.day_ms,
        ))
    }

    /// Re-indexes an object (`record` `None`: it is gone) under its next due moment: the
    /// first lifecycle action, or its next Intelligent-Tiering step, whichever is sooner.
    pub(super) fn reschedule(
        &mut self,
        bucket_id: u64,
        key: &str,
        record: Option<&ObjectRecord>,
    ) -> Result<(), ApplyError> {
        let okey = keys::object(bucket_id, key);
        if let Some(old) = self.lc_next.remove(okey.as_slice())? {
            let old = old.value();
            self.lc_due.remove(due_key(old, &okey).as_slice())?;
        }
        let rules = self.rules(bucket_id)?;
        let by_rules = match (&rules, record) {
            (Some(rules), Some(record)) => next_due(rules, &facts(key, record), self.day_ms),
            _ => None,
        };
        let by_access = match record {
            Some(record) => self.next_access_step(bucket_id, &okey, key, record)?,
            None => None,
        };
        let by_versions = match &rules {
            Some(rules) if acts_on_versions(rules) => {
                self.versions_next_due(rules, bucket_id, key, record)?
            }
            _ => None,
        };
        if let Some(at) = by_rules
            .into_iter()
            .chain(by_access)
            .chain(by_versions)
            .min()
        {
            self.lc_next.insert(okey.as_slice(), at)?;
            self.lc_due.insert(due_key(at, &okey).as_slice(), ())?;
        }
        Ok(())
    }

    /// When the rules next act on one of the key's versions other than `current`.
    fn versions_next_due(
        &self,
        rules: &[Rule],
        bucket_id: u64,
        key: &str,
        current: Option<&ObjectRecord>,
    ) -> Result<Option<i64>, ApplyError> {
        let others = self.other_versions(bucket_id, key)?;
        if others.is_empty() {
            return Ok(None);
        }
        let facts: Vec<VersionFacts> = others.iter().map(version_facts).collect();
        let versions = KeyVersions {
            key,
            current_created_ms: current.map(|c| c.modified_ms),
            others: &facts,
        };
        Ok(versions_next_due(rules, &versions, self.day_ms))
    }

    /// Re-indexes a key as it stands in this commit: after a change to its versions.
    pub(super) fn reschedule_key(&mut self, bucket_id: u64, key: &str) -> Result<(), ApplyError> {
        let current = self.current(&keys::object(bucket_id, key))?;
        self.reschedule(bucket_id, key, current.as_ref())
    }

    /// A read of an object of the INTELLIGENT_TIERING class that has moved out of the
    /// frequent tier makes it due at once, so the worker brings it back.
    pub(super) fn note_read(&mut self, okey: &[u8], at_ms: i64) -> Result<(), ApplyError> {
        let Some(raw) = self.objects.get(okey)? else {
            return Ok(());
        };
        let record: ObjectRecord = records::decode(raw.value())
            .map_err(|e| ApplyError::Fatal(MetaError::Corrupt(e.to_string())))?;
        drop(raw);
        let known = self.reads.get(okey)?.map(|v| v.value());
        if known.is_none_or(|t| t < at_ms) {
            self.reads.insert(okey, at_ms)?;
        }
        let moved_out = record
            .access_tier
            .is_some_and(|tier| tier != vmgw_lifecycle::AccessTier::Frequent);
        if moved_out && record.storage_class.as_deref() == Some(INTELLIGENT_TIERING) {
            self.postpone(okey, at_ms)?;
        }
        Ok(())
    }

    /// Puts an indexed object's entry at `at_ms` instead (a retry later).
    pub(super) fn postpone(&mut self, okey: &[u8], at_ms: i64) -> Result<(), ApplyError> {
        if let Some(old) = self.lc_next.remove(okey)? {
            let old = old.value();
            self.lc_due.remove(due_key(old, okey).as_slice())?;
        }
        self.lc_next.insert(okey, at_ms)?;
        self.lc_due.insert(due_key(at_ms, okey).as_slice(), ())?;
        Ok(())
    }

    /// Marks a bucket's objects for re-indexing after its rules changed.
    pub(super) fn queue_backfill(&mut self, bucket_id: u64) -> Result<(), ApplyError> {
        self.rules_cache.remove(&bucket_id);
        self.tiering_cache.remove(&bucket_id);
        self.lc_backfill.insert(bucket_id, [].as_slice())?;
        Ok(())
    }

    /// Re-indexes up to `limit` keys of a bucket (a few more when both tables contribute)
    /// from where the backfill stands; the position commits with them, so a crash resumes
    /// where it stopped. Keys with a current version are found in `objects`; keys whose
    /// newest version is a delete marker only in `versions`: both tables are walked in key
    /// order and merged.
    pub(super) fn backfill(
        &mut self,
        bucket_id: u64,
        limit: usize,
    ) -> Result<WriteOutcome, ApplyError> {
        let Some(after) = self.lc_backfill.get(bucket_id)?.map(|v| v.value().to_vec()) else {
            return Ok(WriteOutcome::Backfilled {
                done: true,
                count: 0,
            });
        };
        let after = (!after.is_empty()).then(|| keys::object_name(&after).to_vec());
        let (current, current_cut) = self.backfill_current(bucket_id, after.as_deref(), limit)?;
        let (versioned, versions_cut) =
            self.backfill_versioned(bucket_id, after.as_deref(), limit)?;
        // A walk that stopped early may not have reached keys the other one returned: take
        // keys up to the earlier stop only, the rest comes in the next step.
        let cut = [
            current_cut.then(|| current.last().cloned()).flatten(),
            versions_cut.then(|| versioned.last().cloned()).flatten(),
        ]
        .into_iter()
        .flatten()
        .min();
        let names: BTreeSet<Vec<u8>> = current
            .into_iter()
            .chain(versioned)
            .filter(|name| cut.as_ref().is_none_or(|cut| name <= cut))
            .collect();
        for name in &names {
            let key = String::from_utf8_lossy(name).into_owned();
            self.reschedule_key(bucket_id, &key)?;
        }
        let count = names.len();
        let done = cut.is_none();
        match cut {
            Some(cut) => {
                self.lc_backfill
                    .insert(bucket_id, keys::object_raw(bucket_id, &cut).as_slice())?;
            }
            None => {
                self.lc_backfill.remove(bucket_id)?;
            }
        }
        Ok(WriteOutcome::Backfilled { done, count })
    }

    /// Up to `limit` keys with a current version after `after`, and whether the walk
    /// stopped at the limit.
    fn backfill_current(
        &self,
        bucket_id: u64,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(Vec<Vec<u8>>, bool), ApplyError> {
        let start = keys::object_raw(bucket_id, after.unwrap_or_default());
        let end = keys::bucket_end(bucket_id);
        let mut out = Vec::new();
        for entry in self.objects.range(start.as_slice()..end.as_slice())? {
            let (k, _) = entry?;
            let name = keys::object_name(k.value());
            if Some(name) == after {
                continue;
            }
            out.push(name.to_vec());
            if out.len() == limit {
                return Ok((out, true));
            }
        }
        Ok((out, false))
    }

    /// The keys of up to `limit` rows of `versions` after every row of key `after`, and
    /// whether the walk stopped at the limit (its last key may have more rows).
    fn backfill_versioned(
        &self,
        bucket_id: u64,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(Vec<Vec<u8>>, bool), ApplyError> {
        let start = match after {
            Some(name) => {
                let mut escaped = keys::escaped_raw(bucket_id, name);
                escaped.extend_from_slice(&[0, 0]);
                keys::prefix_successor(&escaped).expect("an escaped key ends in 0x00")
            }
            None => keys::object(bucket_id, ""),
        };
        let end = keys::bucket_end(bucket_id);
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut rows = 0;
        for entry in self.versions.range(start.as_slice()..end.as_slice())? {
            let (k, _) = entry?;
            let Some((key, _)) = keys::split_version(k.value()) else {
                return Err(ApplyError::Fatal(MetaError::Corrupt(
                    "a version row with an ill-formed key".into(),
                )));
            };
            if out
                .last()
                .is_none_or(|last| last.as_slice() != key.as_bytes())
            {
                out.push(key.into_bytes());
            }
            rows += 1;
            if rows == limit {
                return Ok((out, true));
            }
        }
        Ok((out, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_sort_by_time_and_split_back() {
        let a = due_key(1_000, b"zzz");
        let b = due_key(2_000, b"aaa");
        assert!(a < b);
        assert_eq!(split_due_key(&b), Some((2_000, b"aaa".as_slice())));
        assert_eq!(split_due_key(b"short"), None);
    }
}
