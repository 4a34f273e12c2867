//! Listings as ordered range scans, with S3's prefix / delimiter / marker semantics.
//!
//! A common prefix is emitted once and then skipped in one seek to the successor of the
//! prefix, so a listing costs O(returned entries × log n) however many keys hide under
//! each common prefix.

use redb::ReadOnlyTable;

use super::keys;
use super::records::{self, ListedObject, UploadRecord};
use super::{ListPage, ListQuery, MetaError, UploadPage, UploadQuery};

fn storage(e: impl std::fmt::Display) -> MetaError {
    MetaError::Storage(e.to_string())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [] => None,
        [byte] => haystack.iter().position(|b| b == byte),
        _ => haystack.windows(needle.len()).position(|w| w == needle),
    }
}

/// The common prefix `name` rolls up into, if any.
pub(super) fn common_prefix<'a>(
    name: &'a [u8],
    prefix: &[u8],
    delimiter: Option<&[u8]>,
) -> Option<&'a [u8]> {
    let delimiter = delimiter?;
    let rest = name.strip_prefix(prefix)?;
    let pos = find(rest, delimiter)?;
    Some(&name[..prefix.len() + pos + delimiter.len()])
}

fn utf8(bytes: &[u8]) -> Result<String, MetaError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| MetaError::Corrupt(format!("non UTF-8 key: {e}")))
}

/// The first object-name position at which a listing that resumes after `after` starts.
/// After a common prefix (or a key inside one) the whole prefix has been reported, so
/// the listing resumes after all of it.
pub(super) fn resume_point(
    after: &[u8],
    prefix: &[u8],
    delimiter: Option<&[u8]>,
) -> Option<Vec<u8>> {
    match common_prefix(after, prefix, delimiter) {
        Some(cp) => keys::prefix_successor(cp),
        None => {
            let mut next = after.to_vec();
            next.push(0);
            Some(next)
        }
    }
}

pub(super) fn list_objects(
    table: &ReadOnlyTable<&'static [u8], &'static [u8]>,
    q: &ListQuery,
) -> Result<ListPage, MetaError> {
    let mut page = ListPage::default();
    if q.max_keys == 0 {
        return Ok(page);
    }
    let prefix = q.prefix.as_bytes();
    let delimiter = q
        .delimiter
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(str::as_bytes);
    let end = keys::prefix_successor(&keys::object(q.bucket_id, &q.prefix))
        .unwrap_or_else(|| keys::bucket_end(q.bucket_id));

    let mut from = keys::object(q.bucket_id, &q.prefix);
    if let Some(after) = &q.start_after {
        match resume_point(after.as_bytes(), prefix, delimiter) {
            Some(resume) => {
                from = from.max(keys::object_raw(q.bucket_id, &resume));
            }
            None => return Ok(page),
        }
    }

    let mut count = 0usize;
    'scan: while from < end {
        let mut next_from = None;
        for entry in table
            .range(from.as_slice()..end.as_slice())
            .map_err(storage)?
        {
            let (raw_key, raw_value) = entry.map_err(storage)?;
            let name = keys::object_name(raw_key.value());
            if count == q.max_keys {
                page.truncated = true;
                break 'scan;
            }
            count += 1;
            if let Some(cp) = common_prefix(name, prefix, delimiter) {
                let cp_text = utf8(cp)?;
                page.last = Some(cp_text.clone());
                page.common_prefixes.push(cp_text);
                match keys::prefix_successor(&keys::object_raw(q.bucket_id, cp)) {
                    Some(successor) => next_from = Some(successor),
                    None => break 'scan,
                }
                break;
            }
            let listed: ListedObject = records::decode(raw_value.value())
                .map_err(|e| MetaError::Corrupt(e.to_string()))?;
            let key = utf8(name)?;
            page.last = Some(key.clone());
            page.objects.push((key, listed));
        }
        match next_from {
            Some(successor) => from = successor,
            None => break,
        }
    }
    Ok(page)
}

pub(super) fn list_uploads(
    index: &ReadOnlyTable<&'static [u8], ()>,
    uploads: &ReadOnlyTable<&'static [u8], &'static [u8]>,
    q: &UploadQuery,
) -> Result<UploadPage, MetaError> {
    let mut page = UploadPage::default();
    if q.max_uploads == 0 {
        return Ok(page);
    }
    let prefix = q.prefix.as_bytes();
    let delimiter = q
        .delimiter
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(str::as_bytes);
    let start = keys::object(q.bucket_id, "");
    let end = keys::bucket_end(q.bucket_id);
    let mut count = 0usize;
    let mut last_prefix: Option<Vec<u8>> = None;
    for entry in index
        .range(start.as_slice()..end.as_slice())
        .map_err(storage)?
    {
        let (raw, _) = entry.map_err(storage)?;
        let Some((key, upload_id)) = keys::split_upload_index(raw.value()) else {
            continue;
        };
        if !key.as_bytes().starts_with(prefix) {
            continue;
        }
        if let Some(marker) = &q.key_marker {
            let after_marker = match (key.as_str().cmp(marker.as_str()), &q.upload_id_marker) {
                (std::cmp::Ordering::Greater, _) => true,
                (std::cmp::Ordering::Equal, Some(id_marker)) => upload_id > *id_marker,
                _ => false,
            };
            if !after_marker {
                continue;
            }
        }
        if let Some(cp) = common_prefix(key.as_bytes(), prefix, delimiter) {
            if last_prefix.as_deref() == Some(cp) {
                continue;
            }
            if count == q.max_uploads {
                page.truncated = true;
                break;
            }
            count += 1;
            last_prefix = Some(cp.to_vec());
            page.common_prefixes.push(utf8(cp)?);
            continue;
        }
        if count == q.max_uploads {
            page.truncated = true;
            break;
        }
        count += 1;
        let Some(raw_upload) = uploads.get(upload_id.as_slice()).map_err(storage)? else {
            continue;
        };
        let record: UploadRecord =
            records::decode(raw_upload.value()).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        page.uploads.push((key, upload_id, record));
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_rolls_up_at_first_delimiter_after_prefix() {
        assert_eq!(common_prefix(b"a/b/c", b"", Some(b"/")), Some(&b"a/"[..]));
        assert_eq!(
            common_prefix(b"a/b/c", b"a/", Some(b"/")),
            Some(&b"a/b/"[..])
        );
        assert_eq!(common_prefix(b"a/b", b"a/b", Some(b"/")), None);
        assert_eq!(
            common_prefix(b"x--y--z", b"", Some(b"--")),
            Some(&b"x--"[..])
        );
        assert_eq!(common_prefix(b"a/b", b"", None), None);
    }

    #[test]
    fn resume_skips_whole_common_prefix() {
        assert_eq!(resume_point(b"dir/", b"", Some(b"/")).unwrap(), b"dir0");
        assert_eq!(resume_point(b"dir/x", b"", Some(b"/")).unwrap(), b"dir0");
        assert_eq!(resume_point(b"file", b"", Some(b"/")).unwrap(), b"file\0");
        assert_eq!(resume_point(b"dir/x", b"", None).unwrap(), b"dir/x\0");
    }
}
