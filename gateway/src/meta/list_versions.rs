//! ListObjectVersions: a merge of two ordered ranges.
//!
//! A key's current version is its row in `objects`; its other versions and delete markers
//! are its rows in `versions`, newest first (see [`super::versions`]). Both tables are in
//! key order, so one cursor on each, advanced by whichever key is smaller, yields S3's order
//! (keys in binary order, each key's versions newest first) without ever holding more than
//! one row of each. A common prefix is reported once and both cursors then seek past it, so
//! a listing costs O(returned entries × log n) however many versions hide under a prefix.
//!
//! `IsLatest`: a key's current version is latest; without one, its newest row in `versions`
//! (necessarily a delete marker) is.

use std::ops::Bound;

use redb::ReadOnlyTable;

use super::keys;
use super::list::{common_prefix, resume_point};
use super::records::{self, ListedVersion};
use super::{MetaError, VersionEntry, VersionMarker, VersionPage, VersionQuery, VersionRef};

type Table = ReadOnlyTable<&'static [u8], &'static [u8]>;

fn storage(e: impl std::fmt::Display) -> MetaError {
    MetaError::Storage(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> MetaError {
    MetaError::Corrupt(e.to_string())
}

fn decode(raw: &[u8]) -> Result<ListedVersion, MetaError> {
    records::decode(raw).map_err(corrupt)
}

/// The page being filled: stops (truncated) when one more entry would exceed `max`.
struct Filler<'q> {
    page: VersionPage,
    max: usize,
    count: usize,
    query: &'q VersionQuery,
}

impl Filler<'_> {
    /// Whether there is room for one more entry; if not, the page is truncated (the entry
    /// that did not fit proves there is more).
    fn room(&mut self) -> bool {
        if self.count == self.max {
            self.page.truncated = true;
            return false;
        }
        self.count += 1;
        true
    }

    fn entry(&mut self, key: &str, version: ListedVersion, is_latest: bool) -> bool {
        if !self.room() {
            return false;
        }
        self.page.last = Some(VersionMarker {
            key: key.to_owned(),
            version: Some(if version.versioned {
                VersionRef::Id(version.version)
            } else {
                VersionRef::Null
            }),
        });
        self.page.entries.push(VersionEntry {
            key: key.to_owned(),
            version,
            is_latest,
        });
        true
    }

    fn prefix(&mut self, prefix: String) -> bool {
        if !self.room() {
            return false;
        }
        self.page.last = Some(VersionMarker {
            key: prefix.clone(),
            version: None,
        });
        self.page.common_prefixes.push(prefix);
        true
    }

    fn delimiter(&self) -> Option<&[u8]> {
        self.query
            .delimiter
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(str::as_bytes)
    }
}

/// The internal version a `version-id-marker` names for `key`: versions strictly older
/// than it are listed. `None` when it names nothing (`null` and the key has no `null`
/// version): the listing goes on with the next key.
fn marker_version(
    objects: &Table,
    null_versions: &ReadOnlyTable<&'static [u8], u128>,
    bucket_id: u64,
    key: &str,
    marker: VersionRef,
) -> Result<Option<u128>, MetaError> {
    match marker {
        VersionRef::Id(id) => Ok(Some(id)),
        VersionRef::Null => {
            let okey = keys::object(bucket_id, key);
            if let Some(raw) = objects.get(okey.as_slice()).map_err(storage)? {
                let current = decode(raw.value())?;
                if !current.versioned {
                    return Ok(Some(current.version));
                }
            }
            Ok(null_versions
                .get(okey.as_slice())
                .map_err(storage)?
                .map(|v| v.value()))
        }
    }
}

/// Lists versions of `key` strictly older than `below` (a page resumed inside a key).
/// Returns false when the page is full.
fn rest_of_key(
    objects: &Table,
    versions: &Table,
    fill: &mut Filler<'_>,
    key: &str,
    below: u128,
) -> Result<bool, MetaError> {
    let bucket_id = fill.query.bucket_id;
    let current = match objects
        .get(keys::object(bucket_id, key).as_slice())
        .map_err(storage)?
    {
        Some(raw) => Some(decode(raw.value())?),
        None => None,
    };
    let key_start = keys::escaped_key(bucket_id, key);
    let key_end = keys::prefix_successor(&key_start).expect("an escaped key ends in 0x00");
    // Without a current version, the newest row is the latest, wherever the page resumes.
    let newest_row = match &current {
        Some(_) => None,
        None => match versions
            .range(key_start.as_slice()..key_end.as_slice())
            .map_err(storage)?
            .next()
        {
            Some(entry) => Some(decode(entry.map_err(storage)?.1.value())?.version),
            None => None,
        },
    };
    if let Some(current) = current
        && current.version < below
        && !fill.entry(key, current, true)
    {
        return Ok(false);
    }
    let from = keys::version(bucket_id, key, below);
    for entry in versions
        .range::<&[u8]>((
            Bound::Excluded(from.as_slice()),
            Bound::Excluded(key_end.as_slice()),
        ))
        .map_err(storage)?
    {
        let (_, raw) = entry.map_err(storage)?;
        let row = decode(raw.value())?;
        let latest = newest_row == Some(row.version);
        if !fill.entry(key, row, latest) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One cursor of the merge: the rows of a table from a position, decoded one at a time.
struct Cursor<'t> {
    rows: redb::Range<'t, &'static [u8], &'static [u8]>,
    /// The next row: its key and version record.
    head: Option<(String, ListedVersion)>,
    escaped: bool,
}

impl<'t> Cursor<'t> {
    fn open(table: &'t Table, from: &[u8], end: &[u8], escaped: bool) -> Result<Self, MetaError> {
        // An empty range when the start is past the end (a marker after the prefix).
        let from = from.min(end);
        let mut cursor = Self {
            rows: table.range(from..end).map_err(storage)?,
            head: None,
            escaped,
        };
        cursor.advance()?;
        Ok(cursor)
    }

    fn advance(&mut self) -> Result<(), MetaError> {
        self.head = match self.rows.next() {
            Some(entry) => {
                let (k, v) = entry.map_err(storage)?;
                let key = if self.escaped {
                    keys::split_version(k.value())
                        .ok_or_else(|| corrupt("a versions key does not decode"))?
                        .0
                } else {
                    String::from_utf8(keys::object_name(k.value()).to_vec())
                        .map_err(|e| corrupt(format!("non UTF-8 key: {e}")))?
                };
                Some((key, decode(v.value())?))
            }
            None => None,
        };
        Ok(())
    }

    fn key(&self) -> Option<&str> {
        self.head.as_ref().map(|(k, _)| k.as_str())
    }
}

pub(super) fn list_versions(
    objects: &Table,
    versions: &Table,
    null_versions: &ReadOnlyTable<&'static [u8], u128>,
    q: &VersionQuery,
) -> Result<VersionPage, MetaError> {
    let mut fill = Filler {
        page: VersionPage::default(),
        max: q.max_keys,
        count: 0,
        query: q,
    };
    if q.max_keys == 0 {
        return Ok(fill.page);
    }
    let prefix = q.prefix.as_bytes();
    let delimiter = fill.delimiter().map(<[u8]>::to_vec);
    let delimiter = delimiter.as_deref();

    // Where the merge starts (a name, inclusive), after the resumed key if any.
    let mut from: Vec<u8> = prefix.to_vec();
    if let Some(marker) = &q.key_marker {
        let rolled_up = common_prefix(marker.as_bytes(), prefix, delimiter).is_some();
        if let (Some(version), false) = (q.version_marker, rolled_up)
            && marker.as_bytes().starts_with(prefix)
            && let Some(below) =
                marker_version(objects, null_versions, q.bucket_id, marker, version)?
            && !rest_of_key(objects, versions, &mut fill, marker, below)?
        {
            return Ok(fill.page);
        }
        match resume_point(marker.as_bytes(), prefix, delimiter) {
            Some(resume) => from = from.max(resume),
            None => return Ok(fill.page),
        }
    }

    let objects_end = keys::prefix_successor(&keys::object(q.bucket_id, &q.prefix))
        .unwrap_or_else(|| keys::bucket_end(q.bucket_id));
    let versions_end = keys::prefix_successor(&keys::escaped_raw(q.bucket_id, prefix))
        .unwrap_or_else(|| keys::bucket_end(q.bucket_id));
    'seek: loop {
        let mut current = Cursor::open(
            objects,
            &keys::object_raw(q.bucket_id, &from),
            &objects_end,
            false,
        )?;
        let mut older = Cursor::open(
            versions,
            &keys::escaped_raw(q.bucket_id, &from),
            &versions_end,
            true,
        )?;
        loop {
            let key = match (current.key(), older.key()) {
                (None, None) => return Ok(fill.page),
                (Some(a), None) => a.to_owned(),
                (None, Some(b)) => b.to_owned(),
                (Some(a), Some(b)) => a.min(b).to_owned(),
            };
            if let Some(cp) = common_prefix(key.as_bytes(), prefix, delimiter) {
                let text = String::from_utf8(cp.to_vec()).map_err(corrupt)?;
                if !fill.prefix(text) {
                    return Ok(fill.page);
                }
                match keys::prefix_successor(cp) {
                    Some(next) => {
                        from = next;
                        continue 'seek;
                    }
                    None => return Ok(fill.page),
                }
            }
            let has_current = current.key() == Some(key.as_str());
            if has_current {
                let (_, record) = current.head.take().expect("a head was peeked");
                if !fill.entry(&key, record, true) {
                    return Ok(fill.page);
                }
                current.advance()?;
            }
            let mut first = true;
            while older.key() == Some(key.as_str()) {
                let (_, record) = older.head.take().expect("a head was peeked");
                if !fill.entry(&key, record, first && !has_current) {
                    return Ok(fill.page);
                }
                first = false;
                older.advance()?;
            }
        }
    }
}
