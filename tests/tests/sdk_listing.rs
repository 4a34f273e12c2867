//! Conformance (aws-sdk-s3): ListObjects (v1) and ListObjectsV2 — prefix, delimiter,
//! CommonPrefixes, max-keys, marker / continuation-token / start-after, encoding-type=url,
//! fetch-owner, and pagination of a few hundred keys over small pages.

mod common;

use std::collections::BTreeSet;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::EncodingType;
use common::{client, create_bucket, expect_error, ok, put, url_decode};
use vmgw_tests::Gateway;

const B: &str = "listing";

const TREE: &[&str] = &["a/1", "a/2", "a/b/3", "b/4", "c", "d e/ü f", "x+y", "z/"];

async fn put_all(s3: &Client, keys: &[String]) {
    for chunk in keys.chunks(32) {
        let mut tasks = tokio::task::JoinSet::new();
        for key in chunk {
            let s3 = s3.clone();
            let key = key.clone();
            tasks.spawn(async move { put(&s3, B, &key, key.as_bytes()).await });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("PUT task");
        }
    }
}

/// (keys, common prefixes) of one V2 page.
fn v2_page(
    out: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
) -> (Vec<String>, Vec<String>) {
    (
        out.contents()
            .iter()
            .filter_map(|o| o.key())
            .map(str::to_owned)
            .collect(),
        out.common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .map(str::to_owned)
            .collect(),
    )
}

fn v1_page(
    out: &aws_sdk_s3::operation::list_objects::ListObjectsOutput,
) -> (Vec<String>, Vec<String>) {
    (
        out.contents()
            .iter()
            .filter_map(|o| o.key())
            .map(str::to_owned)
            .collect(),
        out.common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .map(str::to_owned)
            .collect(),
    )
}

/// (prefix, delimiter, expected keys, expected common prefixes)
type ListCase = (
    Option<&'static str>,
    Option<&'static str>,
    &'static [&'static str],
    &'static [&'static str],
);

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn prefix_delimiter_and_common_prefixes() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let empty = ok(
        s3.list_objects_v2().bucket(B).send().await,
        "list empty bucket",
    );
    assert_eq!(empty.key_count(), Some(0));
    assert_eq!(empty.is_truncated(), Some(false));
    assert!(empty.contents().is_empty() && empty.common_prefixes().is_empty());

    put_all(&s3, &strings(TREE)).await;

    // (prefix, delimiter) -> (keys, common prefixes), for V2 and V1 alike.
    let cases: &[ListCase] = &[
        (None, None, TREE, &[]),
        (None, Some("/"), &["c", "x+y"], &["a/", "b/", "d e/", "z/"]),
        (Some("a/"), Some("/"), &["a/1", "a/2"], &["a/b/"]),
        (Some("a"), None, &["a/1", "a/2", "a/b/3"], &[]),
        (Some("a/"), Some("b"), &["a/1", "a/2"], &["a/b"]),
        (Some("d e/"), Some("/"), &["d e/ü f"], &[]),
        (Some("z/"), Some("/"), &["z/"], &[]),
        (Some("zz"), Some("/"), &[], &[]),
        (Some("x+"), None, &["x+y"], &[]),
    ];
    for (prefix, delimiter, keys, prefixes) in cases {
        let what = format!("prefix {prefix:?} delimiter {delimiter:?}");
        let out = ok(
            s3.list_objects_v2()
                .bucket(B)
                .set_prefix(prefix.map(str::to_owned))
                .set_delimiter(delimiter.map(str::to_owned))
                .send()
                .await,
            &format!("ListObjectsV2 {what}"),
        );
        assert_eq!(
            v2_page(&out),
            (strings(keys), strings(prefixes)),
            "ListObjectsV2 {what}"
        );
        assert_eq!(
            out.key_count(),
            Some((keys.len() + prefixes.len()) as i32),
            "KeyCount counts keys and common prefixes ({what})"
        );
        assert_eq!(out.is_truncated(), Some(false));
        assert_eq!(out.name(), Some(B));
        assert_eq!(out.prefix().unwrap_or(""), prefix.unwrap_or(""));
        assert_eq!(out.delimiter(), *delimiter);
        assert_eq!(out.max_keys(), Some(1000));

        let out = ok(
            s3.list_objects()
                .bucket(B)
                .set_prefix(prefix.map(str::to_owned))
                .set_delimiter(delimiter.map(str::to_owned))
                .send()
                .await,
            &format!("ListObjects {what}"),
        );
        assert_eq!(
            v1_page(&out),
            (strings(keys), strings(prefixes)),
            "ListObjects {what}"
        );
        assert_eq!(out.is_truncated(), Some(false));
    }

    // Object details.
    let out = ok(
        s3.list_objects_v2().bucket(B).prefix("a/1").send().await,
        "list a/1",
    );
    let obj = &out.contents()[0];
    assert_eq!(obj.size(), Some(3));
    assert_eq!(obj.e_tag(), Some(common::quoted_md5(b"a/1").as_str()));
    assert!(obj.last_modified().is_some());
    assert_eq!(obj.storage_class().map(|c| c.as_str()), Some("STANDARD"));

    // max-keys counts keys and common prefixes together.
    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .delimiter("/")
            .max_keys(2)
            .send()
            .await,
        "V2 delimiter / max-keys 2",
    );
    assert_eq!(v2_page(&out), (vec![], strings(&["a/", "b/"])));
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.key_count(), Some(2));
    assert_eq!(out.max_keys(), Some(2));
    let token = out
        .next_continuation_token()
        .expect("NextContinuationToken");
    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .delimiter("/")
            .max_keys(2)
            .continuation_token(token)
            .send()
            .await,
        "V2 page 2",
    );
    assert_eq!(v2_page(&out), (strings(&["c"]), strings(&["d e/"])));
    assert_eq!(
        out.continuation_token(),
        Some(token),
        "ContinuationToken is echoed"
    );
    let token = out
        .next_continuation_token()
        .expect("NextContinuationToken");
    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .delimiter("/")
            .max_keys(2)
            .continuation_token(token)
            .send()
            .await,
        "V2 page 3",
    );
    assert_eq!(v2_page(&out), (strings(&["x+y"]), strings(&["z/"])));
    assert_eq!(out.is_truncated(), Some(false));
    assert!(out.next_continuation_token().is_none());

    // start-after.
    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .start_after("b/4")
            .send()
            .await,
        "V2 start-after b/4",
    );
    assert_eq!(v2_page(&out).0, strings(&["c", "d e/ü f", "x+y", "z/"]));
    assert_eq!(out.start_after(), Some("b/4"), "StartAfter is echoed");
    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .start_after("a/10")
            .send()
            .await,
        "V2 start-after between keys",
    );
    assert_eq!(v2_page(&out).0[0], "a/2");
    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .start_after("zzz")
            .send()
            .await,
        "V2 start-after past the end",
    );
    assert_eq!(out.key_count(), Some(0));

    // V1 marker; NextMarker is given when a delimiter is used.
    let out = ok(
        s3.list_objects().bucket(B).marker("a/b/3").send().await,
        "V1 marker",
    );
    assert_eq!(
        v1_page(&out).0,
        strings(&["b/4", "c", "d e/ü f", "x+y", "z/"])
    );
    assert_eq!(out.marker(), Some("a/b/3"));
    let out = ok(
        s3.list_objects()
            .bucket(B)
            .delimiter("/")
            .max_keys(3)
            .send()
            .await,
        "V1 delimiter / max-keys 3",
    );
    assert_eq!(v1_page(&out), (strings(&["c"]), strings(&["a/", "b/"])));
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(
        out.next_marker(),
        Some("c"),
        "NextMarker is the last key or prefix"
    );
    let out = ok(
        s3.list_objects()
            .bucket(B)
            .delimiter("/")
            .max_keys(3)
            .marker("c")
            .send()
            .await,
        "V1 delimiter page 2",
    );
    assert_eq!(v1_page(&out), (strings(&["x+y"]), strings(&["d e/", "z/"])));
    assert_eq!(out.is_truncated(), Some(false));

    // Bad parameters.
    expect_error(
        s3.list_objects_v2()
            .bucket(B)
            .continuation_token("not a token!")
            .send()
            .await,
        400,
        "InvalidArgument",
        "ListObjectsV2 with a garbage continuation token",
    );
    expect_error(
        s3.list_objects_v2().bucket(B).max_keys(-1).send().await,
        400,
        "InvalidArgument",
        "ListObjectsV2 max-keys -1",
    );
}

#[tokio::test]
async fn url_encoding_and_fetch_owner() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let keys = ["d e/ü f", "plain", "x+y", "日本/語 ?&=#%.txt", "tab\there"];
    put_all(&s3, &keys.map(str::to_owned)).await;
    let want: BTreeSet<String> = keys.iter().map(|k| (*k).to_owned()).collect();

    let check_encoded = |raw: &str, what: &str| {
        assert!(
            raw.is_ascii() && !raw.contains(' ') && !raw.contains('\t'),
            "{what}: {raw:?} is not URL-encoded"
        );
    };

    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .encoding_type(EncodingType::Url)
            .send()
            .await,
        "V2 encoding-type=url",
    );
    assert_eq!(out.encoding_type(), Some(&EncodingType::Url));
    let mut got = BTreeSet::new();
    for o in out.contents() {
        let raw = o.key().unwrap();
        check_encoded(raw, "V2 Key");
        got.insert(url_decode(raw));
    }
    assert_eq!(got, want, "V2 keys decode to what was put");
    assert!(
        out.contents().iter().any(|o| o.key() == Some("x%2By")),
        "a literal + is encoded as %2B: {:?}",
        out.contents().iter().map(|o| o.key()).collect::<Vec<_>>()
    );

    // Prefix, delimiter and common prefixes are encoded too.
    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .prefix("d e/")
            .encoding_type(EncodingType::Url)
            .send()
            .await,
        "V2 encoded prefix",
    );
    let prefix = out.prefix().unwrap();
    check_encoded(prefix, "V2 Prefix");
    assert_eq!(url_decode(prefix), "d e/");
    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .delimiter("/")
            .encoding_type(EncodingType::Url)
            .send()
            .await,
        "V2 encoded common prefixes",
    );
    let prefixes: BTreeSet<String> = out
        .common_prefixes()
        .iter()
        .map(|p| {
            let raw = p.prefix().unwrap();
            check_encoded(raw, "V2 CommonPrefix");
            url_decode(raw)
        })
        .collect();
    assert_eq!(
        prefixes,
        ["d e/", "日本/"].map(str::to_owned).into_iter().collect()
    );

    // V1 as well, including Marker.
    let out = ok(
        s3.list_objects()
            .bucket(B)
            .marker("d e/ü f")
            .encoding_type(EncodingType::Url)
            .send()
            .await,
        "V1 encoding-type=url",
    );
    let marker = out.marker().unwrap_or_default();
    check_encoded(marker, "V1 Marker");
    assert_eq!(url_decode(marker), "d e/ü f");
    let got: Vec<String> = out
        .contents()
        .iter()
        .map(|o| {
            let raw = o.key().unwrap();
            check_encoded(raw, "V1 Key");
            url_decode(raw)
        })
        .collect();
    assert_eq!(
        got,
        strings(&["plain", "tab\there", "x+y", "日本/語 ?&=#%.txt"])
    );

    // Without encoding-type the keys come back as they are.
    let out = ok(s3.list_objects_v2().bucket(B).send().await, "V2 plain");
    let got: BTreeSet<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(str::to_owned)
        .collect();
    assert_eq!(got, want);

    // fetch-owner: V2 omits the owner unless asked; V1 always includes it.
    assert!(
        out.contents().iter().all(|o| o.owner().is_none()),
        "V2 without fetch-owner has no Owner"
    );
    let out = ok(
        s3.list_objects_v2()
            .bucket(B)
            .fetch_owner(true)
            .send()
            .await,
        "V2 fetch-owner",
    );
    for o in out.contents() {
        let id = o.owner().and_then(|w| w.id());
        assert!(
            id.is_some_and(|id| !id.is_empty()),
            "V2 fetch-owner=true gives each object an Owner ID: {:?}",
            o.key()
        );
    }
    let out = ok(s3.list_objects().bucket(B).send().await, "V1");
    assert!(
        out.contents()
            .iter()
            .all(|o| o.owner().and_then(|w| w.id()).is_some()),
        "V1 includes the Owner"
    );
}

#[tokio::test]
async fn pagination_over_hundreds_of_keys() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let mut keys: Vec<String> = (0..250).map(|i| format!("page/{i:04}")).collect();
    for d in 0..10 {
        for k in 0..4 {
            keys.push(format!("page/dir{d}/x{k}"));
        }
    }
    keys.extend(
        ["page/Z", "page/é", "page/~", "page/ü/1", "other/1", "zz"]
            .iter()
            .map(|k| (*k).to_owned()),
    );
    put_all(&s3, &keys).await;
    let mut sorted = keys.clone();
    sorted.sort(); // byte order, as S3 lists
    let check_union = |got: &[String], want: &[String], what: &str| {
        let unique: BTreeSet<&String> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "{what}: duplicates in the listing");
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "{what}: keys are not in ascending order"
        );
        assert_eq!(got, want, "{what}: union of pages");
    };

    // V2, no delimiter, pages of 7.
    let mut got = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = ok(
            s3.list_objects_v2()
                .bucket(B)
                .max_keys(7)
                .set_continuation_token(token.clone())
                .send()
                .await,
            "V2 page",
        );
        pages += 1;
        let (k, p) = v2_page(&out);
        assert!(p.is_empty());
        assert!(k.len() <= 7, "page of {} keys with max-keys 7", k.len());
        assert_eq!(out.key_count(), Some(k.len() as i32));
        got.extend(k);
        if out.is_truncated() == Some(true) {
            token = Some(
                out.next_continuation_token()
                    .expect("a truncated page has NextContinuationToken")
                    .to_owned(),
            );
        } else {
            assert!(out.next_continuation_token().is_none());
            break;
        }
        assert!(pages < 1000, "pagination does not end");
    }
    check_union(&got, &sorted, "V2 max-keys 7");
    assert_eq!(pages, sorted.len().div_ceil(7), "number of V2 pages");

    // V2 with start-after in the middle, pages of 50.
    let mid = &sorted[100];
    let mut got = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ok(
            s3.list_objects_v2()
                .bucket(B)
                .max_keys(50)
                .start_after(mid)
                .set_continuation_token(token.clone())
                .send()
                .await,
            "V2 start-after page",
        );
        got.extend(v2_page(&out).0);
        token = out.next_continuation_token().map(str::to_owned);
        if out.is_truncated() != Some(true) {
            break;
        }
    }
    check_union(&got, &sorted[101..], "V2 start-after");

    // V1 with marker = last key of the previous page (no delimiter: no NextMarker needed).
    let mut got: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = ok(
            s3.list_objects()
                .bucket(B)
                .max_keys(11)
                .set_marker(marker.clone())
                .send()
                .await,
            "V1 page",
        );
        let (k, _) = v1_page(&out);
        assert!(k.len() <= 11);
        got.extend(k);
        if out.is_truncated() != Some(true) {
            break;
        }
        marker = Some(out.next_marker().map_or_else(
            || got.last().expect("a truncated page has keys").clone(),
            str::to_owned,
        ));
    }
    check_union(&got, &sorted, "V1 max-keys 11");

    // V2 with prefix and delimiter: keys and common prefixes interleave in order.
    let mut entries: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ok(
            s3.list_objects_v2()
                .bucket(B)
                .prefix("page/")
                .delimiter("/")
                .max_keys(9)
                .set_continuation_token(token.clone())
                .send()
                .await,
            "V2 delimiter page",
        );
        let (k, p) = v2_page(&out);
        assert!(k.len() + p.len() <= 9);
        assert_eq!(out.key_count(), Some((k.len() + p.len()) as i32));
        let mut page: Vec<String> = k.into_iter().chain(p).collect();
        page.sort();
        entries.extend(page);
        token = out.next_continuation_token().map(str::to_owned);
        if out.is_truncated() != Some(true) {
            break;
        }
    }
    let mut want: Vec<String> = sorted
        .iter()
        .filter_map(|k| k.strip_prefix("page/"))
        .map(|rest| match rest.find('/') {
            Some(i) => format!("page/{}", &rest[..=i]),
            None => format!("page/{rest}"),
        })
        .collect();
    want.dedup();
    check_union(&entries, &want, "V2 prefix page/ delimiter /");

    // V1 with delimiter, paginated by NextMarker.
    let mut entries: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = ok(
            s3.list_objects()
                .bucket(B)
                .prefix("page/")
                .delimiter("/")
                .max_keys(9)
                .set_marker(marker.clone())
                .send()
                .await,
            "V1 delimiter page",
        );
        let (k, p) = v1_page(&out);
        let mut page: Vec<String> = k.into_iter().chain(p).collect();
        page.sort();
        entries.extend(page);
        if out.is_truncated() != Some(true) {
            break;
        }
        marker = Some(
            out.next_marker()
                .expect("a truncated V1 listing with a delimiter has NextMarker")
                .to_owned(),
        );
    }
    check_union(&entries, &want, "V1 prefix page/ delimiter /");
}
