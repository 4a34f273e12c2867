//! Byte encodings of table keys. All are order-preserving, so ranges over the ordered
//! store give S3's listing order (UTF-8 binary order of keys) directly.

/// `objects` key: bucket id (big-endian, so one bucket's keys are contiguous) + key bytes.
#[must_use]
pub fn object(bucket_id: u64, key: &str) -> Vec<u8> {
    object_raw(bucket_id, key.as_bytes())
}

/// [`object`] for a name given as bytes (a key prefix cut at a delimiter, a resume point).
#[must_use]
pub fn object_raw(bucket_id: u64, name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + name.len());
    out.extend_from_slice(&bucket_id.to_be_bytes());
    out.extend_from_slice(name);
    out
}

/// The bucket id and object key of an [`object`] key.
#[must_use]
pub fn split_object(raw: &[u8]) -> Option<(u64, String)> {
    let (id, name) = raw.split_at_checked(8)?;
    let id = u64::from_be_bytes(id.try_into().ok()?);
    Some((id, String::from_utf8(name.to_vec()).ok()?))
}

/// The smallest `objects` key after every key of `bucket_id`.
#[must_use]
pub fn bucket_end(bucket_id: u64) -> Vec<u8> {
    (bucket_id + 1).to_be_bytes().to_vec()
}

/// The object key part of an `objects` key.
#[must_use]
pub fn object_name(raw: &[u8]) -> &[u8] {
    &raw[8..]
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None`
/// when no such string exists (an all-0xFF prefix).
#[must_use]
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// Bucket id + `name` escaped (0x00 → 0x00 0xFF), without a terminator: the bound of every
/// escaped key that starts with `name` (a prefix) or is not less than it (a resume point).
#[must_use]
pub fn escaped_raw(bucket_id: u64, name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + name.len() + 2 + 16);
    out.extend_from_slice(&bucket_id.to_be_bytes());
    for &b in name {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out
}

/// Bucket id + escaped object key + a 0x00 0x00 terminator: the part shared by every entry
/// of one object key in a table keyed by key and then something else. Escaping makes a key
/// that is a prefix of another still sort first, whatever bytes follow, so the entries of a
/// key stay together and keys stay in binary order.
#[must_use]
pub fn escaped_key(bucket_id: u64, key: &str) -> Vec<u8> {
    let mut out = escaped_raw(bucket_id, key.as_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// Splits `raw` (bucket id + escaped key + terminator + `tail` bytes) into key and tail.
fn split_escaped(raw: &[u8], tail: usize) -> Option<(String, &[u8])> {
    let body = raw.get(8..)?;
    let (escaped, rest) = body.split_at(body.len().checked_sub(tail)?);
    let escaped = escaped.strip_suffix(&[0, 0])?;
    let mut key = Vec::with_capacity(escaped.len());
    let mut iter = escaped.iter();
    while let Some(&b) = iter.next() {
        key.push(b);
        if b == 0 && iter.next() != Some(&0xFF) {
            return None;
        }
    }
    Some((String::from_utf8(key).ok()?, rest))
}

/// `uploads_by_key` key: [`escaped_key`] + upload id.
#[must_use]
pub fn upload_index(bucket_id: u64, key: &str, upload_id: &[u8; 16]) -> Vec<u8> {
    let mut out = escaped_key(bucket_id, key);
    out.extend_from_slice(upload_id);
    out
}

/// Splits an `uploads_by_key` key into object key and upload id.
#[must_use]
pub fn split_upload_index(raw: &[u8]) -> Option<(String, [u8; 16])> {
    let (key, id) = split_escaped(raw, 16)?;
    Some((key, id.try_into().ok()?))
}

/// `versions` key: [`escaped_key`] + the bitwise complement of the version, big-endian. One
/// ordered range therefore gives ListObjectVersions' order: keys in binary order, each key's
/// versions newest first (versions increase per key in commit order).
#[must_use]
pub fn version(bucket_id: u64, key: &str, version: u128) -> Vec<u8> {
    let mut out = escaped_key(bucket_id, key);
    out.extend_from_slice(&(!version).to_be_bytes());
    out
}

/// Splits a `versions` key into object key and version.
#[must_use]
pub fn split_version(raw: &[u8]) -> Option<(String, u128)> {
    let (key, tail) = split_escaped(raw, 16)?;
    Some((key, !u128::from_be_bytes(tail.try_into().ok()?)))
}

/// `parts` key: upload id + big-endian part number.
#[must_use]
pub fn part(upload_id: &[u8; 16], number: u32) -> [u8; 20] {
    let mut out = [0u8; 20];
    out[..16].copy_from_slice(upload_id);
    out[16..].copy_from_slice(&number.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_sort_by_bucket_then_key() {
        let mut keys = vec![
            object(2, "a"),
            object(1, "b"),
            object(1, "a/"),
            object(1, "a"),
            object(1, ""),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                object(1, ""),
                object(1, "a"),
                object(1, "a/"),
                object(1, "b"),
                object(2, "a")
            ]
        );
        assert!(object(1, "\u{10FFFF}") < bucket_end(1));
        assert_eq!(object_name(&object(5, "x/y")), b"x/y");
    }

    #[test]
    fn successor_bounds_the_prefix() {
        assert_eq!(prefix_successor(b"dir/").unwrap(), b"dir0");
        assert_eq!(prefix_successor(b"a\xff").unwrap(), b"b");
        assert_eq!(prefix_successor(b"\xff\xff"), None);
    }

    #[test]
    fn versions_order_by_key_then_newest_first_and_round_trip() {
        let keys = ["", "a", "a\u{0}", "a\u{0}b", "a\u{1}", "ab", "b", "é"];
        let mut rows = Vec::new();
        for key in keys {
            for v in [1u128, 7, u128::MAX >> 1, u128::MAX] {
                rows.push((key, v));
            }
        }
        let mut encoded: Vec<Vec<u8>> = rows.iter().map(|(k, v)| version(3, k, *v)).collect();
        encoded.push(version(4, "", 1));
        encoded.push(version(2, "zzz", 1));
        encoded.sort();
        let decoded: Vec<(String, u128)> = encoded
            .iter()
            .map(|raw| split_version(raw).unwrap())
            .collect();
        let mut expected: Vec<(String, u128)> =
            rows.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        // Keys in binary order, then newest (largest) version first.
        expected.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(b.1.cmp(&a.1)));
        expected.insert(0, ("zzz".to_owned(), 1));
        expected.push((String::new(), 1));
        assert_eq!(decoded, expected);
        // A bucket's rows lie between its two bucket bounds.
        assert!(object(3, "") <= version(3, "", u128::MAX));
        assert!(version(3, "\u{10FFFF}", 0) < bucket_end(3));
        // Every row of a key at or after a name lies at or after that name's bound; every
        // row of a key before it lies before.
        for (key, v) in &rows {
            for name in keys {
                let row = version(3, key, *v);
                let bound = escaped_raw(3, name.as_bytes());
                assert_eq!(
                    row >= bound,
                    key.as_bytes() >= name.as_bytes(),
                    "{key:?} vs {name:?}"
                );
            }
        }
        // A 0x00 not followed by 0xFF is no escaped key.
        let mut bad = 3u64.to_be_bytes().to_vec();
        bad.extend_from_slice(&[b'a', 0, 1, 0, 0]);
        bad.extend_from_slice(&[0; 16]);
        assert_eq!(split_version(&bad), None);
    }

    #[test]
    fn upload_index_orders_by_key_and_round_trips() {
        let id_hi = [9u8; 16];
        let id_lo = [1u8; 16];
        let mut keys = [
            upload_index(1, "ab", &id_lo),
            upload_index(1, "a\u{0}b", &id_lo),
            upload_index(1, "a", &id_hi),
            upload_index(1, "a", &id_lo),
        ];
        keys.sort();
        let names: Vec<(String, [u8; 16])> = keys
            .iter()
            .map(|k| split_upload_index(k).unwrap())
            .collect();
        assert_eq!(
            names,
            vec![
                ("a".to_owned(), id_lo),
                ("a".to_owned(), id_hi),
                ("a\u{0}b".to_owned(), id_lo),
                ("ab".to_owned(), id_lo)
            ]
        );
    }
}
