//! ListObjectsV2 with `metadata=true` (MinIO's extension): every listed object carries its
//! user metadata, with paging, delimiters and URL encoding as in a plain listing; a plain
//! listing is unchanged.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::raw::Request;
use common::{client, ok};
use vmgw_tests::Gateway;

const B: &str = "lsmeta";

/// The `<Contents>` elements of a listing, as (key, user metadata XML).
fn contents(xml: &str) -> Vec<(String, String)> {
    xml.split("<Contents>")
        .skip(1)
        .map(|c| {
            let c = &c[..c.find("</Contents>").expect("closed Contents")];
            let key = common::raw::xml_value(c, "Key").expect("a Key");
            let meta = common::raw::xml_value(c, "UserMetadata").unwrap_or_else(|| {
                assert!(c.contains("<UserMetadata/>"), "no UserMetadata in {c}");
                String::new()
            });
            (key, meta)
        })
        .collect()
}

async fn list(gw: &Gateway, query: &str) -> String {
    let resp = Request::new("GET", &format!("/{B}?list-type=2&metadata=true{query}"))
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.text()
}

#[tokio::test]
async fn listings_carry_user_metadata_when_asked() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    for (key, mode, mtime) in [
        ("dir/a", "33188", "1700000000"),
        ("dir/b c", "33261", "1700000001"),
        ("dir/sub/x", "33188", "1700000002"),
        ("top", "16877", "1700000003"),
    ] {
        ok(
            s3.put_object()
                .bucket(B)
                .key(key)
                .metadata("mode", mode)
                .metadata("mtime", mtime)
                .body(ByteStream::from_static(b"data"))
                .send()
                .await,
            "put",
        );
    }
    ok(
        s3.put_object()
            .bucket(B)
            .key("dir/plain")
            .body(ByteStream::from_static(b""))
            .send()
            .await,
        "put without metadata",
    );

    let xml = list(&gw, "&prefix=dir%2F&delimiter=%2F").await;
    let listed = contents(&xml);
    let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["dir/a", "dir/b c", "dir/plain"]);
    assert!(
        listed[0]
            .1
            .contains("<X-Amz-Meta-Mode>33188</X-Amz-Meta-Mode>")
            && listed[0]
                .1
                .contains("<X-Amz-Meta-Mtime>1700000000</X-Amz-Meta-Mtime>"),
        "{}",
        listed[0].1
    );
    assert!(
        listed[1]
            .1
            .contains("<X-Amz-Meta-Mode>33261</X-Amz-Meta-Mode>")
    );
    assert_eq!(
        listed[2].1, "",
        "an object without metadata lists an empty element"
    );
    assert!(
        xml.contains("<CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes>"),
        "{xml}"
    );

    // Paging: two at a time, every object once, metadata on each page.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let query = match &token {
            Some(t) => format!("&max-keys=2&continuation-token={t}"),
            None => "&max-keys=2".to_owned(),
        };
        let xml = list(&gw, &query).await;
        for (key, meta) in contents(&xml) {
            assert_eq!(meta.is_empty(), key == "dir/plain", "{key}: {meta}");
            seen.push(key);
        }
        token = common::raw::xml_value(&xml, "NextContinuationToken");
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["dir/a", "dir/b c", "dir/plain", "dir/sub/x", "top"]);

    // URL encoding applies to keys as in a plain listing.
    let xml = list(&gw, "&prefix=dir%2Fb&encoding-type=url").await;
    assert_eq!(contents(&xml)[0].0, "dir/b%20c");

    // A plain listing is unchanged and the SDK still parses it.
    let plain = ok(s3.list_objects_v2().bucket(B).send().await, "plain list");
    assert_eq!(plain.key_count(), Some(5));
    let resp = Request::new("GET", &format!("/{B}?list-type=2"))
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    assert!(!resp.text().contains("UserMetadata"));

    // Anonymous requests are refused as everywhere else.
    let anon = Request::new("GET", &format!("/{B}?list-type=2&metadata=true"))
        .send(&gw.addr)
        .await;
    anon.assert_s3_error(403, "AccessDenied", "anonymous metadata listing");
}
