//! The gateway starts with default settings and serves a round trip through the SDK.

use vmgw_tests::{Gateway, md5_hex, pattern};

#[tokio::test]
async fn put_get_round_trip_through_sdk() {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    s3.create_bucket().bucket("smoke").send().await.unwrap();
    for (i, len) in [0usize, 1, 65_536, 65_537, 3_000_000]
        .into_iter()
        .enumerate()
    {
        let data = pattern(len, i as u64);
        let key = format!("obj-{len}");
        let put = s3
            .put_object()
            .bucket("smoke")
            .key(&key)
            .body(data.clone().into())
            .send()
            .await
            .unwrap();
        assert_eq!(put.e_tag().unwrap(), format!("\"{}\"", md5_hex(&data)));
        let got = s3
            .get_object()
            .bucket("smoke")
            .key(&key)
            .send()
            .await
            .unwrap();
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(body.len(), len);
        assert!(body.as_ref() == data.as_slice(), "content of {key}");
    }
}
