//! The bucket lifecycle configuration API: the S3 documentation's example configurations
//! round-trip through aws-cli, and a table of invalid configurations each gets S3's error
//! code.

mod common;

use std::process::Command;

use common::raw::Request;
use serde_json::{Value, json};
use vmgw_tests::{Gateway, run};

/// Debian's aws-cli v2.
fn aws(gw: &Gateway, args: &[&str]) -> Command {
    common::aws_v2(gw, args)
}

fn put_via_cli(gw: &Gateway, bucket: &str, config: &Value) {
    run(&mut aws(
        gw,
        &[
            "s3api",
            "put-bucket-lifecycle-configuration",
            "--bucket",
            bucket,
            "--lifecycle-configuration",
            &config.to_string(),
        ],
    ));
}

fn get_via_cli(gw: &Gateway, bucket: &str) -> Value {
    let out = run(&mut aws(
        gw,
        &[
            "s3api",
            "get-bucket-lifecycle-configuration",
            "--bucket",
            bucket,
        ],
    ));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// aws-cli's get-bucket-lifecycle-configuration fails with S3's NoSuchLifecycleConfiguration.
fn assert_no_configuration(gw: &Gateway, bucket: &str) {
    let out = aws(
        gw,
        &[
            "s3api",
            "get-bucket-lifecycle-configuration",
            "--bucket",
            bucket,
        ],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NoSuchLifecycleConfiguration"), "{stderr}");
}

/// The examples of the S3 user guide ("Examples of S3 Lifecycle configurations").
fn documented_examples() -> Vec<Value> {
    vec![
        // Transition to STANDARD_IA then GLACIER, then expire.
        json!({"Rules": [{
            "ID": "archive-then-expire",
            "Filter": {"Prefix": "logs/"},
            "Status": "Enabled",
            "Transitions": [
                {"Days": 30, "StorageClass": "STANDARD_IA"},
                {"Days": 90, "StorageClass": "GLACIER"}
            ],
            "Expiration": {"Days": 365}
        }]}),
        // Tag filter, and a rule for every object.
        json!({"Rules": [
            {
                "ID": "tagged",
                "Filter": {"Tag": {"Key": "class", "Value": "scratch"}},
                "Status": "Enabled",
                "Expiration": {"Days": 7}
            },
            {
                "ID": "everything",
                "Filter": {},
                "Status": "Disabled",
                "Transitions": [{"Days": 60, "StorageClass": "GLACIER_IR"}]
            }
        ]}),
        // And of prefix, tags and size bounds; a dated rule.
        json!({"Rules": [
            {
                "ID": "sized",
                "Filter": {"And": {
                    "Prefix": "media/",
                    "Tags": [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}],
                    "ObjectSizeGreaterThan": 1024,
                    "ObjectSizeLessThan": 1048576
                }},
                "Status": "Enabled",
                "Transitions": [{"Days": 1, "StorageClass": "DEEP_ARCHIVE"}]
            },
            {
                "ID": "dated",
                "Filter": {"ObjectSizeGreaterThan": 500},
                "Status": "Enabled",
                "Expiration": {"Date": "2031-01-01T00:00:00+00:00"}
            }
        ]}),
        // Abort stale multipart uploads; noncurrent versions; expired delete markers.
        json!({"Rules": [
            {
                "ID": "abort-mpu",
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}
            },
            {
                "ID": "versions",
                "Filter": {"Prefix": "docs/"},
                "Status": "Enabled",
                "NoncurrentVersionTransitions": [
                    {"NoncurrentDays": 30, "StorageClass": "STANDARD_IA"}
                ],
                "NoncurrentVersionExpiration": {"NoncurrentDays": 90, "NewerNoncurrentVersions": 2}
            },
            {
                "ID": "markers",
                "Filter": {"Prefix": "tmp/"},
                "Status": "Enabled",
                "Expiration": {"ExpiredObjectDeleteMarker": true}
            }
        ]}),
    ]
}

#[test]
fn documented_examples_round_trip_through_aws_cli() {
    let gw = Gateway::start();
    run(&mut aws(
        &gw,
        &["s3api", "create-bucket", "--bucket", "rules"],
    ));
    // No configuration yet: S3's error.
    assert_no_configuration(&gw, "rules");
    for example in documented_examples() {
        put_via_cli(&gw, "rules", &example);
        let mut got = get_via_cli(&gw, "rules");
        // aws-cli prints dates in its own format; compare them as instants.
        for rule in got["Rules"].as_array_mut().unwrap() {
            if let Some(date) = rule.pointer_mut("/Expiration/Date") {
                let text = date.as_str().unwrap().replace('Z', "+00:00");
                *date = Value::String(text);
            }
        }
        assert_eq!(got["Rules"], example["Rules"], "round trip");
    }
    run(&mut aws(
        &gw,
        &["s3api", "delete-bucket-lifecycle", "--bucket", "rules"],
    ));
    assert_no_configuration(&gw, "rules");
    // A bucket deleted and created again starts without rules.
    put_via_cli(&gw, "rules", &documented_examples()[0]);
    run(&mut aws(
        &gw,
        &["s3api", "delete-bucket", "--bucket", "rules"],
    ));
    run(&mut aws(
        &gw,
        &["s3api", "create-bucket", "--bucket", "rules"],
    ));
    assert_no_configuration(&gw, "rules");
}

fn rule(body: &str) -> String {
    format!("<Rule>{body}</Rule>")
}

fn config(rules: &[String]) -> String {
    format!(
        "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{}</LifecycleConfiguration>",
        rules.concat()
    )
}

const OK_EXPIRY: &str = "<Expiration><Days>30</Days></Expiration>";

#[tokio::test]
async fn invalid_configurations_get_s3_error_codes() {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    s3.create_bucket().bucket("rules").send().await.unwrap();
    let valid = rule(&format!(
        "<ID>a</ID><Filter><Prefix>x/</Prefix></Filter><Status>Enabled</Status>{OK_EXPIRY}"
    ));
    let with = |id: &str, body: &str| rule(&format!("<ID>{id}</ID><Status>Enabled</Status>{body}"));
    let too_many: Vec<String> = (0..1001)
        .map(|i| with(&format!("r{i}"), &format!("<Filter></Filter>{OK_EXPIRY}")))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "not XML",
            "<LifecycleConfiguration><Rule>".into(),
            "MalformedXML",
        ),
        ("no rules", config(&[]), "MalformedXML"),
        (
            "unknown status",
            config(&[rule(&format!(
                "<ID>s</ID><Filter></Filter><Status>Maybe</Status>{OK_EXPIRY}"
            ))]),
            "MalformedXML",
        ),
        (
            "both Days and Date",
            config(&[with(
                "d",
                "<Filter></Filter><Expiration><Days>3</Days><Date>2031-01-01T00:00:00Z</Date></Expiration>",
            )]),
            "MalformedXML",
        ),
        (
            "transition without class",
            config(&[with(
                "t",
                "<Filter></Filter><Transition><Days>3</Days></Transition>",
            )]),
            "MalformedXML",
        ),
        (
            "filter with two conditions",
            config(&[with(
                "f",
                &format!(
                    "<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>{OK_EXPIRY}"
                ),
            )]),
            "MalformedXML",
        ),
        (
            "rule prefix and filter",
            config(&[with(
                "p",
                &format!("<Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter>{OK_EXPIRY}"),
            )]),
            "MalformedXML",
        ),
        (
            "marker with days",
            config(&[with(
                "m",
                "<Filter></Filter><Expiration><Days>3</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
            )]),
            "MalformedXML",
        ),
        (
            "duplicate ids",
            config(&[valid.clone(), valid.clone()]),
            "InvalidArgument",
        ),
        (
            "id longer than 255",
            config(&[with(
                &"i".repeat(256),
                &format!("<Filter></Filter>{OK_EXPIRY}"),
            )]),
            "InvalidArgument",
        ),
        ("more than 1000 rules", config(&too_many), "InvalidArgument"),
        (
            "zero days",
            config(&[with(
                "z",
                "<Filter></Filter><Expiration><Days>0</Days></Expiration>",
            )]),
            "InvalidArgument",
        ),
        (
            "negative days",
            config(&[with(
                "n",
                "<Filter></Filter><Expiration><Days>-3</Days></Expiration>",
            )]),
            "InvalidArgument",
        ),
        (
            "date not at midnight",
            config(&[with(
                "noon",
                "<Filter></Filter><Expiration><Date>2031-01-01T12:00:00Z</Date></Expiration>",
            )]),
            "InvalidArgument",
        ),
        (
            "transition to an unknown class",
            config(&[with(
                "u",
                "<Filter></Filter><Transition><Days>3</Days><StorageClass>COLD_STORAGE</StorageClass></Transition>",
            )]),
            "InvalidArgument",
        ),
        (
            "transition to STANDARD",
            config(&[with(
                "std",
                "<Filter></Filter><Transition><Days>3</Days><StorageClass>STANDARD</StorageClass></Transition>",
            )]),
            "InvalidArgument",
        ),
        (
            "expiration before the last transition",
            config(&[with(
                "e",
                "<Filter></Filter><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Expiration><Days>10</Days></Expiration>",
            )]),
            "InvalidArgument",
        ),
        (
            "noncurrent days zero",
            config(&[with(
                "nc",
                "<Filter></Filter><NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>",
            )]),
            "InvalidArgument",
        ),
        (
            "newer noncurrent versions over 100",
            config(&[with(
                "nn",
                "<Filter></Filter><NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
            )]),
            "InvalidArgument",
        ),
        (
            "no action",
            config(&[with("none", "<Filter></Filter>")]),
            "InvalidRequest",
        ),
        (
            "transitions out of order",
            config(&[with(
                "o",
                "<Filter></Filter><Transition><Days>90</Days><StorageClass>GLACIER</StorageClass></Transition><Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition>",
            )]),
            "InvalidRequest",
        ),
        (
            "same class twice",
            config(&[with(
                "c",
                "<Filter></Filter><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Transition><Days>60</Days><StorageClass>GLACIER</StorageClass></Transition>",
            )]),
            "InvalidRequest",
        ),
        (
            "tag filter with abort-multipart",
            config(&[with(
                "tm",
                "<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><AbortIncompleteMultipartUpload><DaysAfterInitiation>3</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
            )]),
            "InvalidRequest",
        ),
        (
            "duplicate tag keys",
            config(&[with(
                "dk",
                &format!(
                    "<Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And></Filter>{OK_EXPIRY}"
                ),
            )]),
            "InvalidRequest",
        ),
        (
            "empty size range",
            config(&[with(
                "sz",
                &format!(
                    "<Filter><And><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan><ObjectSizeLessThan>100</ObjectSizeLessThan></And></Filter>{OK_EXPIRY}"
                ),
            )]),
            "InvalidRequest",
        ),
    ];
    assert!(cases.len() >= 20);
    for (what, body, code) in &cases {
        let resp = Request::new("PUT", "/rules?lifecycle")
            .header("content-type", "application/xml")
            .header("content-md5", &common::md5_b64(body.as_bytes()))
            .body(body.clone())
            .signed_ok(&gw.addr)
            .send(&gw.addr)
            .await;
        resp.assert_code(400, code, what);
    }
    // Nothing invalid was stored; a valid configuration still is.
    let err = s3
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchLifecycleConfiguration")
    );
    let body = config(&[valid]);
    let resp = Request::new("PUT", "/rules?lifecycle")
        .header("content-md5", &common::md5_b64(body.as_bytes()))
        .body(body)
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let got = s3
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .unwrap();
    assert_eq!(got.rules().len(), 1);
    assert_eq!(got.rules()[0].id(), Some("a"));
}

/// `x-amz-expiration` on PUT, GET, HEAD and CompleteMultipartUpload names the expiration
/// rule that covers the object and the midnight it acts at.
#[tokio::test]
async fn responses_say_when_an_expiration_rule_will_delete_the_object() {
    use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};

    let gw = Gateway::start();
    let s3 = gw.sdk();
    s3.create_bucket().bucket("rules").send().await.unwrap();
    let body = config(&[
        rule(
            "<ID>expire-logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration>",
        ),
        rule(
            "<ID>scratch</ID><Filter><Tag><Key>t</Key><Value>1</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>",
        ),
        rule(
            "<ID>off</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Disabled</Status><Expiration><Days>1</Days></Expiration>",
        ),
    ]);
    let resp = Request::new("PUT", "/rules?lifecycle")
        .header("content-md5", &common::md5_b64(body.as_bytes()))
        .body(body)
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    // Midnight UTC `days` + 1 days after the day of `modified` (S3: add, round up).
    let expected = |modified: &DateTime, days: i64, rule: &str| {
        let midnight = (modified.secs().div_euclid(86_400) + days + 1) * 86_400;
        format!(
            "expiry-date=\"{}\", rule-id=\"{rule}\"",
            DateTime::from_secs(midnight)
                .fmt(DateTimeFormat::HttpDate)
                .unwrap()
        )
    };
    let put = s3
        .put_object()
        .bucket("rules")
        .key("logs/a")
        .body(ByteStream::from_static(b"log"))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("rules")
        .key("logs/a")
        .send()
        .await
        .unwrap();
    let want = expected(head.last_modified().unwrap(), 3, "expire-logs");
    assert_eq!(put.expiration(), Some(want.as_str()), "PUT");
    assert_eq!(head.expiration(), Some(want.as_str()), "HEAD");
    let get = s3
        .get_object()
        .bucket("rules")
        .key("logs/a")
        .send()
        .await
        .unwrap();
    assert_eq!(get.expiration(), Some(want.as_str()), "GET");

    // Two rules cover a tagged log: the earlier expiration is reported.
    s3.put_object()
        .bucket("rules")
        .key("logs/tagged")
        .tagging("t=1")
        .body(ByteStream::from_static(b"log"))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("rules")
        .key("logs/tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.expiration(),
        Some(expected(head.last_modified().unwrap(), 1, "scratch").as_str())
    );

    // No rule covers this one.
    let put = s3
        .put_object()
        .bucket("rules")
        .key("data/b")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.expiration(), None);

    // Rules apply at once to objects already there, and go away with the configuration.
    s3.delete_bucket_lifecycle()
        .bucket("rules")
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("rules")
        .key("logs/a")
        .send()
        .await
        .unwrap();
    assert_eq!(head.expiration(), None);
}
