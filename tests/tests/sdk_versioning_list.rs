//! ListObjectVersions through aws-sdk-s3: versions and delete markers in S3's order (keys in
//! binary order, each key newest first) with IsLatest, pages of every small size resumed
//! with NextKeyMarker/NextVersionIdMarker (inside a key's versions too), prefixes,
//! delimiters and their CommonPrefixes, `null` versions, markers S3 refuses; and listings of
//! current objects that never show noncurrent versions or delete markers.

mod common;

use std::collections::BTreeSet;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, EncodingType, VersioningConfiguration};
use common::{client, expect_error, ok, url_decode};
use vmgw_tests::Gateway;

const B: &str = "verlist";

/// One entry of a listing: a version, a delete marker or a common prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Version {
        key: String,
        id: String,
        latest: bool,
        marker: bool,
    },
    Prefix(String),
}

async fn set_versioning(s3: &Client, status: BucketVersioningStatus) {
    ok(
        s3.put_bucket_versioning()
            .bucket(B)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await,
        "PutBucketVersioning",
    );
}

async fn put(s3: &Client, key: &str, data: &[u8]) -> String {
    let out = ok(
        s3.put_object()
            .bucket(B)
            .key(key)
            .body(ByteStream::from(data.to_vec()))
            .send()
            .await,
        "put",
    );
    out.version_id().unwrap_or("null").to_owned()
}

async fn delete(s3: &Client, key: &str) -> String {
    let out = ok(s3.delete_object().bucket(B).key(key).send().await, "delete");
    out.version_id().unwrap().to_owned()
}

/// Builds the history every test lists, and returns each key's versions newest first
/// (id, is a delete marker).
async fn history(s3: &Client) -> Vec<(String, Vec<(String, bool)>)> {
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    let mut keys: Vec<(String, Vec<(String, bool)>)> = Vec::new();
    let mut note =
        |key: &str, id: String, marker: bool| match keys.iter_mut().find(|(k, _)| k == key) {
            Some((_, versions)) => versions.insert(0, (id, marker)),
            None => keys.push((key.to_owned(), vec![(id, marker)])),
        };
    // Written before versioning: `null` versions.
    for key in ["a", "dir/x"] {
        note(key, put(s3, key, key.as_bytes()).await, false);
    }
    set_versioning(s3, BucketVersioningStatus::Enabled).await;
    for i in 0..12 {
        note("b", put(s3, "b", format!("b{i}").as_bytes()).await, false);
    }
    for key in ["a", "a/1", "a/2", "dir/x", "dir/y", "é", "z"] {
        note(key, put(s3, key, b"v").await, false);
    }
    for key in ["a/2", "dir/x", "dir/y", "gone"] {
        note(key, delete(s3, key).await, true);
    }
    note("a/2", put(s3, "a/2", b"after the marker").await, false);
    note("z", delete(s3, "z").await, true);
    note("z", delete(s3, "z").await, true);
    keys.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    keys
}

/// What a whole listing must return.
fn expected(
    keys: &[(String, Vec<(String, bool)>)],
    prefix: &str,
    delimiter: Option<&str>,
) -> Vec<Item> {
    let mut out = Vec::new();
    for (key, versions) in keys {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        if let Some(d) = delimiter
            && let Some(pos) = rest.find(d)
        {
            let cp = Item::Prefix(format!("{prefix}{}", &rest[..pos + d.len()]));
            if out.last() != Some(&cp) {
                out.push(cp);
            }
            continue;
        }
        for (i, (id, marker)) in versions.iter().enumerate() {
            out.push(Item::Version {
                key: key.clone(),
                id: id.clone(),
                latest: i == 0,
                marker: *marker,
            });
        }
    }
    out
}

/// Walks a listing `max` entries a page. Each page must be exactly the next `max` entries
/// of `want` (a page gives versions, markers and prefixes in separate lists, so a page is
/// compared as a set; with `max` 1 the order is checked entry by entry), and a truncated
/// page must name its last entry as where to resume.
async fn walk(s3: &Client, prefix: &str, delimiter: Option<&str>, max: i32, want: &[Item]) {
    let what = format!("prefix {prefix:?} delimiter {delimiter:?} max-keys {max}");
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    let mut at = 0;
    for _ in 0..1000 {
        let page = ok(
            s3.list_object_versions()
                .bucket(B)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned))
                .max_keys(max)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await,
            &what,
        );
        assert_eq!(page.max_keys(), Some(max), "{what}");
        assert_eq!(page.key_marker(), Some(key_marker.as_deref().unwrap_or("")));
        let got: BTreeSet<Item> = page
            .versions()
            .iter()
            .map(|v| Item::Version {
                key: v.key().unwrap().to_owned(),
                id: v.version_id().unwrap().to_owned(),
                latest: v.is_latest().unwrap(),
                marker: false,
            })
            .chain(page.delete_markers().iter().map(|m| Item::Version {
                key: m.key().unwrap().to_owned(),
                id: m.version_id().unwrap().to_owned(),
                latest: m.is_latest().unwrap(),
                marker: true,
            }))
            .chain(
                page.common_prefixes()
                    .iter()
                    .map(|p| Item::Prefix(p.prefix().unwrap().to_owned())),
            )
            .collect();
        let end = (at + usize::try_from(max).unwrap()).min(want.len());
        let chunk: BTreeSet<Item> = want[at..end].iter().cloned().collect();
        assert_eq!(got, chunk, "{what}: entries {at}..{end}");
        at = end;
        let truncated = page.is_truncated().unwrap();
        assert_eq!(truncated, at < want.len(), "{what}: truncated after {at}");
        if !truncated {
            assert_eq!(page.next_key_marker(), None);
            return;
        }
        let (next_key, next_version) = match &want[at - 1] {
            Item::Version { key, id, .. } => (key.clone(), Some(id.clone())),
            Item::Prefix(p) => (p.clone(), None),
        };
        assert_eq!(page.next_key_marker(), Some(next_key.as_str()), "{what}");
        assert_eq!(
            page.next_version_id_marker().map(str::to_owned),
            next_version,
            "{what}"
        );
        key_marker = Some(next_key);
        version_marker = next_version;
    }
    panic!("{what}: the listing does not end");
}

#[tokio::test]
async fn every_page_size_walks_every_version_in_order() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    let keys = history(&s3).await;
    let total: usize = keys.iter().map(|(_, v)| v.len()).sum();
    assert_eq!(total, 28, "{keys:?}");
    for (prefix, delimiter) in [
        ("", None),
        ("", Some("/")),
        ("a", Some("/")),
        ("dir/", None),
        ("dir/", Some("/")),
        ("b", None),
        ("nothing", None),
    ] {
        let want = expected(&keys, prefix, delimiter);
        for max in [1, 2, 3, 1000] {
            walk(&s3, prefix, delimiter, max, &want).await;
        }
    }
    // The whole listing at once, in the SDK's two lists: each in order.
    let all = ok(s3.list_object_versions().bucket(B).send().await, "list all");
    let want = expected(&keys, "", None);
    let versions: Vec<(&str, &str)> = all
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap()))
        .collect();
    let want_versions: Vec<(&str, &str)> = want
        .iter()
        .filter_map(|item| match item {
            Item::Version {
                key,
                id,
                marker: false,
                ..
            } => Some((key.as_str(), id.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(versions, want_versions);
    assert_eq!(all.delete_markers().len(), 6);
    assert_eq!(all.is_truncated(), Some(false));
    // Sizes, ETags and classes of versions are their own.
    let b_oldest = all
        .versions()
        .iter()
        .rfind(|v| v.key() == Some("b"))
        .unwrap();
    assert_eq!(b_oldest.size(), Some(2));
    assert_eq!(
        b_oldest.e_tag(),
        Some(format!("\"{}\"", vmgw_tests::md5_hex(b"b0")).as_str())
    );
    assert_eq!(
        b_oldest.storage_class().map(|c| c.as_str()),
        Some("STANDARD")
    );
}

#[tokio::test]
async fn markers_resume_where_s3_says_and_bad_ones_are_refused() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    let keys = history(&s3).await;
    let b = &keys.iter().find(|(k, _)| k == "b").unwrap().1;
    let list = |key_marker: Option<&str>, version_marker: Option<&str>| {
        s3.list_object_versions()
            .bucket(B)
            .set_key_marker(key_marker.map(str::to_owned))
            .set_version_id_marker(version_marker.map(str::to_owned))
            .max_keys(3)
            .send()
    };
    // A key marker alone skips all of that key's versions.
    let page = ok(list(Some("b"), None).await, "after b");
    assert_eq!(page.versions()[0].key(), Some("dir/x"));
    // With a version marker, the listing resumes inside the key, after that version.
    let page = ok(list(Some("b"), Some(&b[4].0)).await, "inside b");
    let ids: Vec<&str> = page
        .versions()
        .iter()
        .map(|v| v.version_id().unwrap())
        .collect();
    assert_eq!(ids, [b[5].0.as_str(), b[6].0.as_str(), b[7].0.as_str()]);
    assert!(page.versions().iter().all(|v| v.is_latest() == Some(false)));
    // `null` names the key's null version.
    let page = ok(
        list(Some("a"), Some("null")).await,
        "after a's null version",
    );
    assert_eq!(page.versions()[0].key(), Some("a/1"));
    let page = ok(
        list(Some("dir/x"), Some("null")).await,
        "after dir/x's null version",
    );
    assert_eq!(page.delete_markers()[0].key(), Some("dir/y"));
    // What S3 refuses.
    expect_error(
        list(None, Some(&b[0].0)).await,
        400,
        "InvalidArgument",
        "a version marker without a key marker",
    );
    expect_error(
        list(Some("b"), Some("bogus")).await,
        400,
        "InvalidArgument",
        "an ill-formed version marker",
    );
    expect_error(
        s3.list_object_versions()
            .bucket(B)
            .max_keys(-1)
            .send()
            .await,
        400,
        "InvalidArgument",
        "negative max-keys",
    );
    expect_error(
        s3.list_object_versions().bucket("nope").send().await,
        404,
        "NoSuchBucket",
        "unknown bucket",
    );
    // max-keys 0: nothing, and nothing more promised.
    let empty = ok(
        s3.list_object_versions().bucket(B).max_keys(0).send().await,
        "max-keys 0",
    );
    assert!(empty.versions().is_empty() && empty.delete_markers().is_empty());
    assert_eq!(empty.is_truncated(), Some(false));
    // encoding-type=url encodes keys.
    let encoded = ok(
        s3.list_object_versions()
            .bucket(B)
            .prefix("é")
            .encoding_type(EncodingType::Url)
            .send()
            .await,
        "url encoding",
    );
    let key = encoded.versions()[0].key().unwrap();
    assert_ne!(key, "é");
    assert_eq!(url_decode(key), "é");
}

#[tokio::test]
async fn object_listings_show_current_versions_only() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    let keys = history(&s3).await;
    let current: Vec<&str> = keys
        .iter()
        .filter(|(_, v)| !v[0].1)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(current, ["a", "a/1", "a/2", "b", "é"]);
    let v2 = ok(s3.list_objects_v2().bucket(B).send().await, "list v2");
    let listed: Vec<&str> = v2.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(listed, current);
    assert_eq!(v2.key_count(), Some(5));
    let b = v2.contents().iter().find(|o| o.key() == Some("b")).unwrap();
    assert_eq!(b.size(), Some(3), "the current version of b is b11");
    let v1 = ok(s3.list_objects().bucket(B).send().await, "list v1");
    let listed: Vec<&str> = v1.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(listed, current);
    // A directory whose keys are all deleted is no common prefix of current objects.
    let tree = ok(
        s3.list_objects_v2().bucket(B).delimiter("/").send().await,
        "list with delimiter",
    );
    let prefixes: Vec<&str> = tree
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(prefixes, ["a/"]);
    // Pages of one key each still skip what is not current.
    let mut token = None;
    let mut paged = Vec::new();
    loop {
        let page = ok(
            s3.list_objects_v2()
                .bucket(B)
                .max_keys(1)
                .set_continuation_token(token.take())
                .send()
                .await,
            "list page",
        );
        paged.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        match page.next_continuation_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, current);
}

/// A listing longer than S3's 1000-entry page: 400 keys under five prefixes with one to
/// five versions each and a delete marker on every seventh key (1,258 entries), walked to
/// the end at S3's default page size, at 1000 and at 7 a page, by prefix and with a
/// delimiter, with exact counts and each key's versions newest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_longer_than_a_page_walk_to_the_end_with_exact_counts() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    // Eight writers, each writing whole keys (a key's versions in order).
    let mut tasks = Vec::new();
    for writer in 0..8usize {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            let mut keys = Vec::new();
            for i in (writer..400).step_by(8) {
                let key = format!("p{}/k{i:04}", i % 5);
                let mut versions = Vec::new();
                for v in 0..=(i % 5) {
                    let id = put(&s3, &key, format!("{key} v{v}").as_bytes()).await;
                    versions.insert(0, (id, false));
                }
                if i % 7 == 0 {
                    versions.insert(0, (delete(&s3, &key).await, true));
                }
                keys.push((key, versions));
            }
            keys
        }));
    }
    let mut keys = Vec::new();
    for task in tasks {
        keys.extend(task.await.unwrap());
    }
    keys.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let total: usize = keys.iter().map(|(_, v)| v.len()).sum();
    assert_eq!(total, 1200 + 58);

    // S3's default page: the first 1000 entries, then the rest.
    let first = ok(
        s3.list_object_versions().bucket(B).send().await,
        "default page",
    );
    assert_eq!(first.max_keys(), Some(1000));
    assert_eq!(first.versions().len() + first.delete_markers().len(), 1000);
    assert_eq!(first.is_truncated(), Some(true));
    let rest = ok(
        s3.list_object_versions()
            .bucket(B)
            .key_marker(first.next_key_marker().unwrap())
            .version_id_marker(first.next_version_id_marker().unwrap())
            .send()
            .await,
        "second default page",
    );
    assert_eq!(rest.versions().len() + rest.delete_markers().len(), 258);
    assert_eq!(rest.is_truncated(), Some(false));
    let latest = first
        .versions()
        .iter()
        .chain(rest.versions())
        .filter(|v| v.is_latest() == Some(true))
        .count()
        + first
            .delete_markers()
            .iter()
            .chain(rest.delete_markers())
            .filter(|m| m.is_latest() == Some(true))
            .count();
    assert_eq!(latest, 400, "exactly one latest entry per key");

    for (prefix, delimiter, max) in [
        ("", None, 1000),
        ("", None, 7),
        ("", Some("/"), 1000),
        ("", Some("/"), 2),
        ("p3/", None, 1000),
        ("p3/", None, 33),
        ("p0/k01", Some("/"), 5),
    ] {
        walk(
            &s3,
            prefix,
            delimiter,
            max,
            &expected(&keys, prefix, delimiter),
        )
        .await;
    }
    // Current objects: every key but the 58 under a marker.
    let mut token = None;
    let mut current = 0;
    loop {
        let page = ok(
            s3.list_objects_v2()
                .bucket(B)
                .set_continuation_token(token.take())
                .send()
                .await,
            "list v2",
        );
        current += page.contents().len();
        match page.next_continuation_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(current, 400 - 58);
}
