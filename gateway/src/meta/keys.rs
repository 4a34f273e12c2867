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

/// `uploads_by_key` key: bucket id + escaped object key + upload id. The key is escaped
/// (0x00 → 0x00 0xFF, then a 0x00 0x00 terminator) so that a key that is a prefix of another
/// still sorts first, whatever bytes follow.
#[must_use]
pub fn upload_index(bucket_id: u64, key: &str, upload_id: &[u8; 16]) -> Vec<u8> {
    let mut out = upload_index_key_prefix(bucket_id, key);
    out.extend_from_slice(upload_id);
    out
}

/// The part of an `uploads_by_key` key shared by all uploads of one object key.
#[must_use]
pub fn upload_index_key_prefix(bucket_id: u64, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len() + 2 + 16);
    out.extend_from_slice(&bucket_id.to_be_bytes());
    for &b in key.as_bytes() {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// Splits an `uploads_by_key` key into object key and upload id.
#[must_use]
pub fn split_upload_index(raw: &[u8]) -> Option<(String, [u8; 16])> {
    let body = raw.get(8..)?;
    let (escaped, id) = body.split_at(body.len().checked_sub(16)?);
    let escaped = escaped.strip_suffix(&[0, 0])?;
    let mut key = Vec::with_capacity(escaped.len());
    let mut iter = escaped.iter();
    while let Some(&b) = iter.next() {
        key.push(b);
        if b == 0 {
            iter.next();
        }
    }
    Some((String::from_utf8(key).ok()?, id.try_into().ok()?))
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
