//! Conformance (aws-sdk-s3): additional checksums — CRC32, CRC32C, CRC64NVME, SHA1 and
//! SHA256 on PutObject (SDK-computed trailers and precomputed headers), returned by GET and
//! HEAD with checksum mode; wrong values (BadDigest); multipart uploads with COMPOSITE and
//! FULL_OBJECT checksums; checksums on copies. Expected values are computed here.

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
};
use common::raw::{Payload, Request};
use common::{
    b64, body, client, crc32, crc32c, crc64nvme, create_bucket, expect_error, ok, sha1, sha256,
};
use vmgw_tests::{Gateway, pattern};

const B: &str = "checksums";
const MIB: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

const ALL: [Alg; 5] = [
    Alg::Crc32,
    Alg::Crc32c,
    Alg::Crc64Nvme,
    Alg::Sha1,
    Alg::Sha256,
];

impl Alg {
    fn sdk(self) -> ChecksumAlgorithm {
        match self {
            Self::Crc32 => ChecksumAlgorithm::Crc32,
            Self::Crc32c => ChecksumAlgorithm::Crc32C,
            Self::Crc64Nvme => ChecksumAlgorithm::Crc64Nvme,
            Self::Sha1 => ChecksumAlgorithm::Sha1,
            Self::Sha256 => ChecksumAlgorithm::Sha256,
        }
    }

    fn raw(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Crc32 => crc32(data),
            Self::Crc32c => crc32c(data),
            Self::Crc64Nvme => crc64nvme(data),
            Self::Sha1 => sha1(data),
            Self::Sha256 => sha256(data),
        }
    }

    fn b64(self, data: &[u8]) -> String {
        b64(&self.raw(data))
    }

    fn index(self) -> usize {
        ALL.iter().position(|a| *a == self).unwrap()
    }

    fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }
}

/// The five checksum fields of an output, in `ALL` order.
macro_rules! sums {
    ($out:expr) => {
        [
            $out.checksum_crc32().map(str::to_owned),
            $out.checksum_crc32_c().map(str::to_owned),
            $out.checksum_crc64_nvme().map(str::to_owned),
            $out.checksum_sha1().map(str::to_owned),
            $out.checksum_sha256().map(str::to_owned),
        ]
    };
}

/// Exactly `value` in the field of `alg`, nothing in the others.
fn expect_sums(got: &[Option<String>; 5], alg: Alg, value: &str, what: &str) {
    let mut want: [Option<String>; 5] = Default::default();
    want[alg.index()] = Some(value.to_owned());
    assert_eq!(
        got, &want,
        "{what}: checksum fields (CRC32, CRC32C, CRC64NVME, SHA1, SHA256)"
    );
}

#[tokio::test]
async fn put_object_checksums_round_trip() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    for alg in ALL {
        for (len, seed) in [(0usize, 0u64), (1000, 1), (MIB + 17, 2)] {
            let data = pattern(len, seed);
            let key = format!("{alg:?}-{len}");
            let want = alg.b64(&data);
            // The SDK computes the checksum and sends it as a trailer of an aws-chunked body.
            let out = ok(
                s3.put_object()
                    .bucket(B)
                    .key(&key)
                    .checksum_algorithm(alg.sdk())
                    .body(ByteStream::from(data.clone()))
                    .send()
                    .await,
                &format!("PUT {key} with {alg:?}"),
            );
            expect_sums(&sums!(out), alg, &want, &format!("PutObject {key}"));

            let got = ok(
                s3.get_object()
                    .bucket(B)
                    .key(&key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await,
                &format!("GET {key}"),
            );
            expect_sums(&sums!(got), alg, &want, &format!("GetObject {key}"));
            assert_eq!(
                got.checksum_type(),
                Some(&ChecksumType::FullObject),
                "GET {key}: checksum type"
            );
            assert!(body(got.body).await == data);

            let head = ok(
                s3.head_object()
                    .bucket(B)
                    .key(&key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await,
                &format!("HEAD {key}"),
            );
            expect_sums(&sums!(head), alg, &want, &format!("HeadObject {key}"));
            assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
        }
    }
}

#[tokio::test]
async fn precomputed_checksum_headers_are_verified() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let data = pattern(200_000, 4);
    for alg in ALL {
        let good = alg.b64(&data);
        let bad = alg.b64(b"some other bytes");
        let with = |value: &str, key: &str| {
            let req = s3
                .put_object()
                .bucket(B)
                .key(key)
                .body(ByteStream::from(data.clone()));
            match alg {
                Alg::Crc32 => req.checksum_crc32(value),
                Alg::Crc32c => req.checksum_crc32_c(value),
                Alg::Crc64Nvme => req.checksum_crc64_nvme(value),
                Alg::Sha1 => req.checksum_sha1(value),
                Alg::Sha256 => req.checksum_sha256(value),
            }
            .send()
        };
        let out = ok(
            with(&good, &format!("good-{alg:?}")).await,
            &format!("PUT with the right {} header", alg.header()),
        );
        expect_sums(&sums!(out), alg, &good, &format!("PUT good {alg:?}"));
        let head = ok(
            s3.head_object()
                .bucket(B)
                .key(format!("good-{alg:?}"))
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await,
            "HEAD",
        );
        expect_sums(&sums!(head), alg, &good, &format!("HEAD good {alg:?}"));

        expect_error(
            with(&bad, &format!("bad-{alg:?}")).await,
            400,
            "BadDigest",
            &format!("PUT with a wrong {} header", alg.header()),
        );
        expect_error(
            s3.get_object()
                .bucket(B)
                .key(format!("bad-{alg:?}"))
                .send()
                .await,
            404,
            "NoSuchKey",
            "an object with a wrong checksum is not stored",
        );

        // The same through a raw, fully signed request (no aws-chunked encoding).
        let resp = Request::new("PUT", &format!("/{B}/raw-bad-{alg:?}"))
            .header(alg.header(), &bad)
            .body(data.clone())
            .signed(
                &gw.addr,
                vmgw_tests::ACCESS_KEY,
                vmgw_tests::SECRET_KEY,
                Payload::Body,
            )
            .send(&gw.addr)
            .await;
        resp.assert_code(
            400,
            "BadDigest",
            &format!("raw PUT with a wrong {}", alg.header()),
        );
        let resp = Request::new("PUT", &format!("/{B}/raw-good-{alg:?}"))
            .header(alg.header(), &good)
            .body(data.clone())
            .signed_ok(&gw.addr)
            .send(&gw.addr)
            .await;
        assert_eq!(
            resp.status,
            200,
            "raw PUT with the right {}: {}",
            alg.header(),
            resp.text()
        );
        assert_eq!(resp.header(alg.header()), Some(good.as_str()));
    }
    // Two different checksum headers at once are refused.
    let resp = Request::new("PUT", &format!("/{B}/two-sums"))
        .header("x-amz-checksum-crc32", &Alg::Crc32.b64(&data))
        .header("x-amz-checksum-sha256", &Alg::Sha256.b64(&data))
        .body(data.clone())
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    resp.assert_code(400, "InvalidRequest", "PUT with two checksum headers");
}

struct Upload {
    key: String,
    id: String,
    parts: Vec<Vec<u8>>,
    completed: Vec<CompletedPart>,
}

async fn upload_with(
    s3: &Client,
    key: &str,
    alg: Alg,
    kind: Option<ChecksumType>,
    sizes: &[usize],
) -> Upload {
    let created = ok(
        s3.create_multipart_upload()
            .bucket(B)
            .key(key)
            .checksum_algorithm(alg.sdk())
            .set_checksum_type(kind.clone())
            .send()
            .await,
        &format!("CreateMultipartUpload {key}"),
    );
    assert_eq!(created.checksum_algorithm(), Some(&alg.sdk()));
    let id = created.upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    let mut completed = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let n = i as i32 + 1;
        let data = pattern(size, n as u64 + 100);
        let out = ok(
            s3.upload_part()
                .bucket(B)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .checksum_algorithm(alg.sdk())
                .body(ByteStream::from(data.clone()))
                .send()
                .await,
            &format!("UploadPart {key} #{n}"),
        );
        let want = alg.b64(&data);
        expect_sums(&sums!(out), alg, &want, &format!("UploadPart {key} #{n}"));
        let part = CompletedPart::builder()
            .part_number(n)
            .e_tag(out.e_tag().unwrap());
        let part = match alg {
            Alg::Crc32 => part.checksum_crc32(&want),
            Alg::Crc32c => part.checksum_crc32_c(&want),
            Alg::Crc64Nvme => part.checksum_crc64_nvme(&want),
            Alg::Sha1 => part.checksum_sha1(&want),
            Alg::Sha256 => part.checksum_sha256(&want),
        };
        completed.push(part.build());
        parts.push(data);
    }
    Upload {
        key: key.to_owned(),
        id,
        parts,
        completed,
    }
}

async fn complete(
    s3: &Client,
    up: &Upload,
) -> aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput {
    ok(
        s3.complete_multipart_upload()
            .bucket(B)
            .key(&up.key)
            .upload_id(&up.id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(up.completed.clone()))
                    .build(),
            )
            .send()
            .await,
        &format!("CompleteMultipartUpload {}", up.key),
    )
}

#[tokio::test]
async fn multipart_composite_checksums() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    for alg in [Alg::Crc32, Alg::Crc32c, Alg::Sha1, Alg::Sha256] {
        let key = format!("composite-{alg:?}");
        let up = upload_with(
            &s3,
            &key,
            alg,
            Some(ChecksumType::Composite),
            &[5 * MIB, 3000],
        )
        .await;
        // Part checksums are listed.
        let listed = ok(
            s3.list_parts()
                .bucket(B)
                .key(&key)
                .upload_id(&up.id)
                .send()
                .await,
            "ListParts",
        );
        assert_eq!(listed.checksum_algorithm(), Some(&alg.sdk()));
        for (p, data) in listed.parts().iter().zip(&up.parts) {
            expect_sums(&sums!(p), alg, &alg.b64(data), &format!("ListParts {key}"));
        }

        let done = complete(&s3, &up).await;
        let mut concat = Vec::new();
        for data in &up.parts {
            concat.extend(alg.raw(data));
        }
        let want = format!("{}-{}", b64(&alg.raw(&concat)), up.parts.len());
        expect_sums(&sums!(done), alg, &want, &format!("Complete {key}"));
        assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));

        let head = ok(
            s3.head_object()
                .bucket(B)
                .key(&key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await,
            "HEAD",
        );
        expect_sums(&sums!(head), alg, &want, &format!("HEAD {key}"));
        assert_eq!(head.checksum_type(), Some(&ChecksumType::Composite));
        let got = ok(
            s3.get_object()
                .bucket(B)
                .key(&key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await,
            "GET",
        );
        expect_sums(&sums!(got), alg, &want, &format!("GET {key}"));
        assert!(body(got.body).await == up.parts.concat());
    }
    // Without a checksum type, SHA256 defaults to COMPOSITE.
    let up = upload_with(&s3, "default-sha256", Alg::Sha256, None, &[5 * MIB, 10]).await;
    let done = complete(&s3, &up).await;
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
}

#[tokio::test]
async fn multipart_full_object_checksums() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    for (alg, kind) in [
        (Alg::Crc32, Some(ChecksumType::FullObject)),
        (Alg::Crc32c, Some(ChecksumType::FullObject)),
        (Alg::Crc64Nvme, Some(ChecksumType::FullObject)),
        // CRC64NVME is always a full-object checksum.
        (Alg::Crc64Nvme, None),
    ] {
        let key = format!("full-{alg:?}-{}", kind.is_some());
        let up = upload_with(&s3, &key, alg, kind, &[5 * MIB, 5 * MIB + 1, 4321]).await;
        let done = complete(&s3, &up).await;
        let whole = up.parts.concat();
        let want = alg.b64(&whole);
        expect_sums(&sums!(done), alg, &want, &format!("Complete {key}"));
        assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
        let got = ok(
            s3.get_object()
                .bucket(B)
                .key(&key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await,
            "GET",
        );
        expect_sums(&sums!(got), alg, &want, &format!("GET {key}"));
        assert_eq!(got.checksum_type(), Some(&ChecksumType::FullObject));
        assert!(body(got.body).await == whole);
    }
}

#[tokio::test]
async fn multipart_checksum_errors() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    // FULL_OBJECT needs a CRC.
    for alg in [Alg::Sha1, Alg::Sha256] {
        expect_error(
            s3.create_multipart_upload()
                .bucket(B)
                .key("x")
                .checksum_algorithm(alg.sdk())
                .checksum_type(ChecksumType::FullObject)
                .send()
                .await,
            400,
            "InvalidRequest",
            &format!("FULL_OBJECT with {alg:?}"),
        );
    }
    // A part carrying another algorithm than the upload's.
    let up = upload_with(&s3, "mismatch", Alg::Crc32, None, &[1000]).await;
    expect_error(
        s3.upload_part()
            .bucket(B)
            .key("mismatch")
            .upload_id(&up.id)
            .part_number(2)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from_static(b"part two"))
            .send()
            .await,
        400,
        "InvalidRequest",
        "UploadPart with SHA256 into a CRC32 upload",
    );
    // A part whose checksum header is wrong.
    expect_error(
        s3.upload_part()
            .bucket(B)
            .key("mismatch")
            .upload_id(&up.id)
            .part_number(2)
            .checksum_crc32(Alg::Crc32.b64(b"not the body"))
            .body(ByteStream::from_static(b"part two"))
            .send()
            .await,
        400,
        "BadDigest",
        "UploadPart with a wrong x-amz-checksum-crc32",
    );
    // Completion naming a wrong part checksum.
    let wrong = CompletedPart::builder()
        .part_number(1)
        .e_tag(up.completed[0].e_tag().unwrap())
        .checksum_crc32(Alg::Crc32.b64(b"wrong"))
        .build();
    expect_error(
        s3.complete_multipart_upload()
            .bucket(B)
            .key("mismatch")
            .upload_id(&up.id)
            .multipart_upload(CompletedMultipartUpload::builder().parts(wrong).build())
            .send()
            .await,
        400,
        "InvalidPart",
        "Complete with a wrong part checksum",
    );
    let done = complete(&s3, &up).await;
    let want = format!("{}-1", b64(&crc32(&crc32(&up.parts[0]))));
    expect_sums(&sums!(done), Alg::Crc32, &want, "Complete after the errors");
}

#[tokio::test]
async fn copies_keep_or_recompute_checksums() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let data = pattern(300_000, 8);
    ok(
        s3.put_object()
            .bucket(B)
            .key("src")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(data.clone()))
            .send()
            .await,
        "PUT src with SHA256",
    );
    // A copy carries the source's algorithm.
    let out = ok(
        s3.copy_object()
            .bucket(B)
            .key("copy")
            .copy_source(format!("{B}/src"))
            .send()
            .await,
        "CopyObject",
    );
    let result = out.copy_object_result().unwrap();
    expect_sums(
        &sums!(result),
        Alg::Sha256,
        &Alg::Sha256.b64(&data),
        "CopyObjectResult",
    );
    let head = ok(
        s3.head_object()
            .bucket(B)
            .key("copy")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await,
        "HEAD copy",
    );
    expect_sums(
        &sums!(head),
        Alg::Sha256,
        &Alg::Sha256.b64(&data),
        "HEAD copy",
    );
    // x-amz-checksum-algorithm on a copy asks for another algorithm.
    let out = ok(
        s3.copy_object()
            .bucket(B)
            .key("copy-crc32c")
            .copy_source(format!("{B}/src"))
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .send()
            .await,
        "CopyObject with CRC32C",
    );
    let result = out.copy_object_result().unwrap();
    expect_sums(
        &sums!(result),
        Alg::Crc32c,
        &Alg::Crc32c.b64(&data),
        "CopyObjectResult with x-amz-checksum-algorithm CRC32C",
    );
    let head = ok(
        s3.head_object()
            .bucket(B)
            .key("copy-crc32c")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await,
        "HEAD copy-crc32c",
    );
    expect_sums(
        &sums!(head),
        Alg::Crc32c,
        &Alg::Crc32c.b64(&data),
        "HEAD of a copy made with x-amz-checksum-algorithm CRC32C",
    );
}
