//! Listing at scale: 100,000 keys under 100 prefixes, walked with and without a delimiter.
//! Listings come from the ordered metadata index, so a walk with a delimiter must report
//! every common prefix exactly once however many keys hide under each.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use vmgw_tests::Gateway;

const BUCKET: &str = "scale";
const PREFIXES: usize = 100;
const PER_PREFIX: usize = 1000;

fn key(p: usize, f: usize) -> String {
    format!("d{p:02}/f{f:04}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_keys_list_with_correct_common_prefixes() {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::with_capacity(PREFIXES * PER_PREFIX);
    for p in 0..PREFIXES {
        for f in 0..PER_PREFIX {
            let permit = Arc::clone(&slots).acquire_owned().await.unwrap();
            let s3 = s3.clone();
            tasks.push(tokio::spawn(async move {
                s3.put_object()
                    .bucket(BUCKET)
                    .key(key(p, f))
                    .body(Vec::new().into())
                    .send()
                    .await
                    .unwrap();
                drop(permit);
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    eprintln!(
        "put {} keys in {:.1?}",
        PREFIXES * PER_PREFIX,
        started.elapsed()
    );

    // Top level with a delimiter: exactly the 100 prefixes, no keys, in one page.
    let top = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = top
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    let expected: Vec<String> = (0..PREFIXES).map(|p| format!("d{p:02}/")).collect();
    assert_eq!(prefixes, expected);
    assert!(top.contents().is_empty());
    assert_eq!(top.key_count(), Some(100));
    assert_eq!(top.is_truncated(), Some(false));

    // Paging through the prefixes seven at a time gives each exactly once.
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .delimiter("/")
            .max_keys(7)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        paged.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(paged, expected);
    assert_eq!(pages, PREFIXES.div_ceil(7));

    // Inside one prefix: its 1000 keys and nothing else.
    let inside = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("d42/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = inside.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), PER_PREFIX);
    assert_eq!(keys.first(), Some(&"d42/f0000"));
    assert_eq!(keys.last(), Some(&"d42/f0999"));
    assert!(inside.common_prefixes().is_empty());

    // A flat walk returns every key once, in order.
    let walk = Instant::now();
    let mut count = 0usize;
    let mut last: Option<String> = None;
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        for object in page.contents() {
            let k = object.key().unwrap().to_owned();
            if let Some(prev) = &last {
                assert!(*prev < k, "keys out of order: {prev} then {k}");
            }
            last = Some(k);
            count += 1;
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    let elapsed = walk.elapsed();
    assert_eq!(count, PREFIXES * PER_PREFIX);
    assert_eq!(last.as_deref(), Some("d99/f0999"));
    eprintln!(
        "listed {count} keys in {elapsed:.2?} ({:.0} keys/s)",
        count as f64 / elapsed.as_secs_f64()
    );
}
