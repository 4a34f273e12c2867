//! Online snapshots of the whole store, and building a fresh store from one.
//!
//! A snapshot is one redb read transaction: MVCC gives it every table exactly as of one
//! commit while writers go on, so a backup is consistent without stopping the gateway and
//! without blocking a single write. Rows are streamed into a [`DumpWriter`] as they are
//! read; nothing is collected in memory.
//!
//! Every table is listed twice below (dump and restore), so a test checks that both lists
//! cover every table the store creates: a table added later and forgotten here would
//! otherwise silently be missing from backups.

use std::io::{Read, Write};
use std::path::Path;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
};

use super::dump::{DumpError, DumpHeader, DumpItem, DumpReader, DumpStats, DumpWriter};
use super::redb_store::tables;
use super::{MetaError, RedbStore};

fn storage(e: impl std::fmt::Display) -> MetaError {
    MetaError::Storage(e.to_string())
}

fn dumped(e: DumpError) -> MetaError {
    MetaError::Storage(format!("metadata dump: {e}"))
}

fn dump_table<K: redb::Key + 'static, V: redb::Value + 'static, W: Write>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
    out: &mut DumpWriter<W>,
) -> Result<(), MetaError> {
    let table = txn.open_table(def).map_err(storage)?;
    out.table(def.name()).map_err(dumped)?;
    for entry in table.iter().map_err(storage)? {
        let (k, v) = entry.map_err(storage)?;
        out.row(
            K::as_bytes(&k.value()).as_ref(),
            V::as_bytes(&v.value()).as_ref(),
        )
        .map_err(dumped)?;
    }
    Ok(())
}

/// Writes every table of `txn` into `out`.
fn dump_all<W: Write>(txn: &ReadTransaction, out: &mut DumpWriter<W>) -> Result<(), MetaError> {
    dump_table(txn, tables::BUCKETS, out)?;
    dump_table(txn, tables::OBJECTS, out)?;
    dump_table(txn, tables::VERSIONS, out)?;
    dump_table(txn, tables::NULL_VERSIONS, out)?;
    dump_table(txn, tables::LAYOUTS, out)?;
    dump_table(txn, tables::UPLOADS, out)?;
    dump_table(txn, tables::UPLOADS_BY_KEY, out)?;
    dump_table(txn, tables::PARTS, out)?;
    dump_table(txn, tables::BLOBS, out)?;
    dump_table(txn, tables::RECLAIM, out)?;
    dump_table(txn, tables::SYS, out)?;
    dump_table(txn, tables::BUCKET_CONFIGS, out)?;
    dump_table(txn, tables::LC_DUE, out)?;
    dump_table(txn, tables::LC_NEXT, out)?;
    dump_table(txn, tables::LC_BACKFILL, out)?;
    dump_table(txn, tables::READS, out)?;
    dump_table(txn, tables::REDESCRIBE, out)?;
    dump_table(txn, tables::TENANTS, out)?;
    dump_table(txn, tables::USAGE, out)?;
    Ok(())
}

/// A table of the store being restored, taking rows as the dump gives them.
trait RawTable {
    fn insert_raw(&mut self, key: &[u8], value: &[u8]) -> Result<(), redb::StorageError>;
}

impl<K: redb::Key + 'static, V: redb::Value + 'static> RawTable for redb::Table<'_, K, V> {
    fn insert_raw(&mut self, key: &[u8], value: &[u8]) -> Result<(), redb::StorageError> {
        self.insert(K::from_bytes(key), V::from_bytes(value))?;
        Ok(())
    }
}

type Opened<'txn> = Vec<(String, Box<dyn RawTable + 'txn>)>;

fn open_table<'txn, K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &'txn redb::WriteTransaction,
    def: TableDefinition<'static, K, V>,
    into: &mut Opened<'txn>,
) -> Result<(), MetaError> {
    into.push((
        def.name().to_owned(),
        Box::new(txn.open_table(def).map_err(storage)?),
    ));
    Ok(())
}

fn open_all(txn: &redb::WriteTransaction) -> Result<Opened<'_>, MetaError> {
    let mut all = Vec::new();
    open_table(txn, tables::BUCKETS, &mut all)?;
    open_table(txn, tables::OBJECTS, &mut all)?;
    open_table(txn, tables::VERSIONS, &mut all)?;
    open_table(txn, tables::NULL_VERSIONS, &mut all)?;
    open_table(txn, tables::LAYOUTS, &mut all)?;
    open_table(txn, tables::UPLOADS, &mut all)?;
    open_table(txn, tables::UPLOADS_BY_KEY, &mut all)?;
    open_table(txn, tables::PARTS, &mut all)?;
    open_table(txn, tables::BLOBS, &mut all)?;
    open_table(txn, tables::RECLAIM, &mut all)?;
    open_table(txn, tables::SYS, &mut all)?;
    open_table(txn, tables::BUCKET_CONFIGS, &mut all)?;
    open_table(txn, tables::LC_DUE, &mut all)?;
    open_table(txn, tables::LC_NEXT, &mut all)?;
    open_table(txn, tables::LC_BACKFILL, &mut all)?;
    open_table(txn, tables::READS, &mut all)?;
    open_table(txn, tables::REDESCRIBE, &mut all)?;
    open_table(txn, tables::TENANTS, &mut all)?;
    open_table(txn, tables::USAGE, &mut all)?;
    Ok(all)
}

impl RedbStore {
    /// Streams a consistent snapshot of every table into `out`, which starts with
    /// `header`. Blocking; writers are not held up.
    pub fn dump_into(&self, out: impl Write, header: &DumpHeader) -> Result<DumpStats, MetaError> {
        let txn = self.db().begin_read().map_err(storage)?;
        let mut writer = DumpWriter::new(out, header).map_err(dumped)?;
        dump_all(&txn, &mut writer)?;
        let (_, stats) = writer.finish().map_err(dumped)?;
        Ok(stats)
    }
}

/// Where table `name` is among the opened ones.
fn index_of(opened: &Opened<'_>, name: &str) -> Result<usize, MetaError> {
    opened.iter().position(|(n, _)| n == name).ok_or_else(|| {
        MetaError::Corrupt(format!(
            "the backup holds a table {name:?} this vmgw does not know (taken by a newer version?)"
        ))
    })
}

/// Rows restored per write transaction.
const RESTORE_BATCH: usize = 50_000;

/// Builds a store file at `path` (which must not exist) from a dump; returns the dump's
/// header and what it held. The file is written under a temporary name and renamed into place only once the
/// whole dump has been read and committed, so a failed restore leaves no store behind.
pub fn restore(path: &Path, input: impl Read) -> Result<(DumpHeader, DumpStats), MetaError> {
    restore_in_batches(path, input, RESTORE_BATCH)
}

fn restore_in_batches(
    path: &Path,
    input: impl Read,
    batch: usize,
) -> Result<(DumpHeader, DumpStats), MetaError> {
    if path.exists() {
        return Err(MetaError::Storage(format!(
            "{} exists already; a restore needs a fresh data directory",
            path.display()
        )));
    }
    let partial = path.with_extension("restoring");
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let mut reader = DumpReader::new(input).map_err(dumped)?;
        let db = Database::create(&partial).map_err(storage)?;
        // Committed in batches: one transaction for a whole store would keep every page it
        // dirtied until the end. The file is not the store until it is renamed, so a
        // partial commit is never seen.
        let mut table: Option<String> = None;
        let mut finished = false;
        while !finished {
            let txn = db.begin_write().map_err(storage)?;
            {
                let mut opened = open_all(&txn)?;
                let mut current = table.as_deref().map(|n| index_of(&opened, n)).transpose()?;
                let mut rows = 0;
                while rows < batch {
                    match reader.next_item().map_err(dumped)? {
                        None => {
                            finished = true;
                            break;
                        }
                        Some(DumpItem::Table(name)) => {
                            current = Some(index_of(&opened, &name)?);
                            table = Some(name);
                        }
                        Some(DumpItem::Row { key, value }) => {
                            let index = current.expect("the reader refuses rows before a table");
                            opened[index].1.insert_raw(&key, &value).map_err(storage)?;
                            rows += 1;
                        }
                    }
                }
            }
            txn.commit().map_err(storage)?;
        }
        drop(db);
        Ok((reader.header().clone(), reader.stats()))
    })();
    match result {
        Ok(header) => {
            std::fs::rename(&partial, path).map_err(storage)?;
            Ok(header)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::dump::DUMP_FORMAT;
    use crate::meta::{MetaStore, RedbOptions};
    use crate::objects::test_support::{put, service_on};

    fn header() -> DumpHeader {
        DumpHeader {
            format: DUMP_FORMAT,
            created_ms: 1,
            vmgw_version: "test".into(),
            host_secrets: None,
        }
    }

    /// Names of every table of `db`.
    fn table_names(db: &Database) -> Vec<String> {
        let txn = db.begin_read().unwrap();
        let mut names: Vec<String> = txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Every row of every table, as bytes.
    fn contents(db: &Database) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        let txn = db.begin_read().unwrap();
        let mut out = Vec::new();
        let mut writer = DumpWriter::new(Vec::new(), &header()).unwrap();
        dump_all(&txn, &mut writer).unwrap();
        let (bytes, _) = writer.finish().unwrap();
        let mut reader = DumpReader::new(bytes.as_slice()).unwrap();
        let mut table = String::new();
        while let Some(item) = reader.next_item().unwrap() {
            match item {
                DumpItem::Table(name) => table = name,
                DumpItem::Row { key, value } => out.push((table.clone(), key, value)),
            }
        }
        out
    }

    #[tokio::test]
    async fn a_dump_restores_into_an_identical_store_covering_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let t = service_on(dir.path()).await;
        let s = &t.service;
        put(s, "small", b"inline bytes", None).await;
        put(s, "big", &vec![7u8; 300_000], Some("STANDARD_IA")).await;
        s.set_object_tags("b", "big", None, vec![("k".into(), "v".into())])
            .await
            .unwrap();
        // Noncurrent versions, a `null` one among them, and a delete marker.
        s.set_bucket_versioning("b", crate::meta::Versioning::Enabled)
            .await
            .unwrap();
        put(s, "small", b"version two", None).await;
        s.delete_object("b", "small", "me").await.unwrap();

        let mut bytes = Vec::new();
        let stats = t.store.dump_into(&mut bytes, &header()).unwrap();
        assert!(stats.rows > 5, "{stats:?}");
        let restored = dir.path().join("restored.redb");
        assert_eq!(
            restore(&restored, bytes.as_slice()).unwrap(),
            (header(), stats)
        );
        assert!(!restored.with_extension("restoring").exists());
        // Committed a few rows at a time (batches end inside tables and between them), the
        // same store comes out.
        let batched = dir.path().join("batched.redb");
        restore_in_batches(&batched, bytes.as_slice(), 3).unwrap();
        let batched = Database::open(&batched).unwrap();
        assert_eq!(contents(&batched), contents(t.store.db()));
        drop(batched);

        let original = t.store.db();
        let copy = Database::open(&restored).unwrap();
        assert_eq!(table_names(&copy), table_names(original));
        assert_eq!(
            stats.tables as usize,
            table_names(original).len(),
            "the dump covers every table the store has"
        );
        assert_eq!(contents(&copy), contents(original));
        drop(copy);

        // The restored file opens as a store and serves the same objects.
        let store = crate::meta::RedbStore::open(&restored, &RedbOptions::default()).unwrap();
        let bucket = store.bucket("b").unwrap().unwrap();
        let (record, _) = store.object_with_layout(bucket.id, "big").unwrap().unwrap();
        assert_eq!(record.tags, vec![("k".to_owned(), "v".to_owned())]);
        let null = store
            .version(bucket.id, "small", crate::meta::VersionRef::Null)
            .unwrap()
            .unwrap();
        assert_eq!(
            null.layout,
            Some(crate::meta::Layout::Inline {
                data: b"inline bytes".to_vec(),
                crc32c: crc_fast::crc32_iscsi(b"inline bytes"),
            })
        );
        assert!(
            store
                .latest_delete_marker(bucket.id, "small")
                .unwrap()
                .is_some()
        );
        store.close().await;

        // A restore never overwrites, and a damaged dump leaves no file behind.
        assert!(restore(&restored, bytes.as_slice()).is_err());
        let target = dir.path().join("damaged.redb");
        assert!(restore(&target, &bytes[..bytes.len() - 3]).is_err());
        assert!(!target.exists() && !target.with_extension("restoring").exists());
    }
}
