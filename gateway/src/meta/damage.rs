//! Test-only: damage to the store's bookkeeping that no write op would make, for the tests
//! of `vmgw fsck` to find and mend.

use redb::ReadableTable;
use vmgw_tiering::DataId;

use super::records::{self, Layout, ObjectRecord};
use super::redb_store::tables;
use super::{RedbStore, keys};

fn write(store: &RedbStore, change: impl FnOnce(&redb::WriteTransaction)) {
    let txn = store.db().begin_write().unwrap();
    change(&txn);
    txn.commit().unwrap();
}

pub fn set_usage(store: &RedbStore, bucket_id: u64, bytes: u64, objects: u64) {
    write(store, |txn| {
        txn.open_table(tables::USAGE)
            .unwrap()
            .insert(bucket_id, (bytes, objects))
            .unwrap();
    });
}

pub fn queue_reclaim(store: &RedbStore, id: DataId, tier: &str) {
    write(store, |txn| {
        txn.open_table(tables::RECLAIM)
            .unwrap()
            .insert(id.to_bytes().as_slice(), tier)
            .unwrap();
    });
}

pub fn set_blob_row(store: &RedbStore, id: DataId, tier: Option<&str>) {
    write(store, |txn| {
        let mut blobs = txn.open_table(tables::BLOBS).unwrap();
        match tier {
            Some(tier) => {
                blobs.insert(id.to_bytes().as_slice(), tier).unwrap();
            }
            None => {
                blobs.remove(id.to_bytes().as_slice()).unwrap();
            }
        }
    });
}

pub fn put_layout(store: &RedbStore, version: u128, layout: &Layout) {
    write(store, |txn| {
        txn.open_table(tables::LAYOUTS)
            .unwrap()
            .insert(version, records::encode(layout).as_slice())
            .unwrap();
    });
}

/// Flips a byte of an inline object's data, keeping its stored CRC.
pub fn flip_inline_byte(store: &RedbStore, bucket_id: u64, key: &str) {
    write(store, |txn| {
        let objects = txn.open_table(tables::OBJECTS).unwrap();
        let raw = objects
            .get(keys::object(bucket_id, key).as_slice())
            .unwrap()
            .unwrap();
        let record: ObjectRecord = records::decode(raw.value()).unwrap();
        let mut layouts = txn.open_table(tables::LAYOUTS).unwrap();
        let mut layout: Layout =
            records::decode(layouts.get(record.version).unwrap().unwrap().value()).unwrap();
        let Layout::Inline { data, .. } = &mut layout else {
            panic!("not inline")
        };
        data[0] ^= 1;
        layouts
            .insert(record.version, records::encode(&layout).as_slice())
            .unwrap();
    });
}
