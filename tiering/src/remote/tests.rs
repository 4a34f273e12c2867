//! Tests of the remote tier against a real S3 server process that is not vmgw: moto.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::conformance::{self, pattern, read_range};
use crate::{CodecOptions, Keyring};

/// A `moto_server` on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto_server ({e}); run scripts/install-test-deps")
            });
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CHUNK: u32 = 4096;

fn options(endpoint: &str, spool: &std::path::Path) -> RemoteTierOptions {
    RemoteTierOptions {
        endpoint: Some(endpoint.to_owned()),
        path_style: true,
        access_key: "test".into(),
        secret_key: "test".into(),
        prefix: "vmgw/".into(),
        chunk_size: CHUNK,
        part_size: 5 << 20,
        ..RemoteTierOptions::new("tier", spool)
    }
}

fn tier_with(moto: &Moto, spool: &std::path::Path, codec: CodecOptions) -> RemoteTier {
    let tier = RemoteTier::new(
        "remote",
        RemoteTierOptions {
            codec,
            ..options(&moto.endpoint, spool)
        },
    )
    .unwrap();
    let remote = &tier.remote;
    let _ = remote.block_on(
        remote
            .client
            .create_bucket()
            .bucket(&remote.options.bucket)
            .send(),
    );
    tier.probe().unwrap();
    tier
}

fn raw_object(tier: &RemoteTier, key: &str) -> Vec<u8> {
    let remote = &tier.remote;
    remote.block_on(async {
        let object = remote
            .client
            .get_object()
            .bucket(&remote.options.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        object.body.collect().await.unwrap().into_bytes().to_vec()
    })
}

fn sealed_codec() -> CodecOptions {
    CodecOptions {
        zstd_level: Some(3),
        keyring: Some(Arc::new(Keyring::new(1, [(1, vec![9u8; 32])]).unwrap())),
    }
}

#[test]
fn conformance_plain_and_sealed() {
    let moto = Moto::start();
    let spool = tempfile::tempdir().unwrap();
    conformance::run_all(
        &tier_with(&moto, spool.path(), CodecOptions::default()),
        CHUNK as usize,
    );
    let sealed = RemoteTier::new(
        "remote",
        RemoteTierOptions {
            prefix: "sealed/".into(),
            codec: sealed_codec(),
            ..options(&moto.endpoint, spool.path())
        },
    )
    .unwrap();
    conformance::run_all(&sealed, CHUNK as usize);
}

#[test]
fn large_blobs_go_in_parts_and_read_back_in_windows() {
    let moto = Moto::start();
    let spool = tempfile::tempdir().unwrap();
    let tier = tier_with(&moto, spool.path(), sealed_codec());
    let data = pattern(13 << 20, 5);
    let id = DataId::random();
    let mut writer = tier.create(id).unwrap();
    for piece in data.chunks(300_000) {
        writer.write(piece).unwrap();
    }
    writer.describe(b"{\"key\":\"big\"}".to_vec());
    assert_eq!(writer.finish().unwrap(), data.len() as u64);
    assert_eq!(read_range(&tier, id, 0, data.len()).unwrap(), data);
    for (offset, len) in [(0, 1), (4095, 2), (7 << 20, 100_000), (13 << 20, 1)] {
        let len = len.min(data.len() - offset);
        assert_eq!(
            read_range(&tier, id, offset as u64, len).unwrap(),
            &data[offset..offset + len]
        );
    }
    assert_eq!(tier.descriptor(id).unwrap().unwrap(), b"{\"key\":\"big\"}");
    // Nothing is left staged once the upload is done.
    assert_eq!(fs_entries(spool.path()), 0);
}

fn fs_entries(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn sealed_objects_show_no_plaintext_and_descriptors_are_sealed() {
    let moto = Moto::start();
    let spool = tempfile::tempdir().unwrap();
    let tier = tier_with(&moto, spool.path(), sealed_codec());
    let marker = b"VMGW-KNOWN-PLAINTEXT-MARKER ";
    let data: Vec<u8> = marker.iter().copied().cycle().take(200_000).collect();
    let id = DataId::random();
    let mut writer = tier.create(id).unwrap();
    writer.write(&data).unwrap();
    writer.describe(b"bucket=secret-bucket-name".to_vec());
    writer.finish().unwrap();
    let stored = raw_object(&tier, &tier.key_of(id));
    assert!(!stored.windows(marker.len()).any(|w| w == marker));
    assert!(stored.len() < data.len() / 4, "compressed before sealing");
    let remote = &tier.remote;
    let head = remote
        .block_on(
            remote
                .client
                .head_object()
                .bucket(&remote.options.bucket)
                .key(tier.key_of(id))
                .send(),
        )
        .unwrap();
    let text = head.metadata().unwrap()[descriptor::METADATA_KEY].clone();
    let raw = base64_simd::STANDARD.decode_to_vec(&text).unwrap();
    assert!(!raw.windows(6).any(|w| w == b"secret"));
    assert_eq!(
        tier.descriptor(id).unwrap().unwrap(),
        b"bucket=secret-bucket-name"
    );
    assert_eq!(read_range(&tier, id, 0, data.len()).unwrap(), data);
}

#[test]
fn redescribing_replaces_the_description_sealed_and_goes_with_the_blob() {
    let moto = Moto::start();
    let spool = tempfile::tempdir().unwrap();
    let tier = tier_with(&moto, spool.path(), sealed_codec());
    let id = DataId::random();
    let mut writer = tier.create(id).unwrap();
    writer.write(&pattern(300_000, 4)).unwrap();
    writer.describe(b"key=old-name".to_vec());
    writer.finish().unwrap();
    tier.redescribe(id, b"key=new-name").unwrap();
    assert_eq!(tier.descriptor(id).unwrap().unwrap(), b"key=new-name");
    let sidecar = raw_object(&tier, &format!("{}.descriptor", tier.key_of(id)));
    assert!(
        !sidecar.windows(8).any(|w| w == b"new-name"),
        "the new description is sealed too"
    );
    tier.redescribe(id, b"key=newer").unwrap();
    assert_eq!(tier.descriptor(id).unwrap().unwrap(), b"key=newer");
    assert_eq!(
        read_range(&tier, id, 0, 300_000).unwrap(),
        pattern(300_000, 4),
        "the bytes are untouched"
    );
    tier.remove(id).unwrap();
    let mut keys = Vec::new();
    let remote = &tier.remote;
    remote
        .block_on(remote.list(&mut |key, _| keys.push(key.to_owned())))
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[test]
fn large_descriptors_go_to_a_sidecar_removed_with_the_blob() {
    let moto = Moto::start();
    let spool = tempfile::tempdir().unwrap();
    let tier = tier_with(&moto, spool.path(), CodecOptions::default());
    let descriptor = pattern(5000, 1);
    let id = DataId::random();
    let mut writer = tier.create(id).unwrap();
    writer.write(b"x").unwrap();
    writer.describe(descriptor.clone());
    writer.finish().unwrap();
    assert_eq!(tier.descriptor(id).unwrap().unwrap(), descriptor);
    let mut keys = Vec::new();
    let remote = &tier.remote;
    remote
        .block_on(remote.list(&mut |key, _| keys.push(key.to_owned())))
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let mut ids = Vec::new();
    tier.for_each_id(&mut |id| ids.push(id)).unwrap();
    assert_eq!(ids, vec![id], "sidecars are not blobs");
    tier.remove(id).unwrap();
    keys.clear();
    remote
        .block_on(remote.list(&mut |key, _| keys.push(key.to_owned())))
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[test]
fn tampered_remote_objects_are_detected() {
    let moto = Moto::start();
    let spool = tempfile::tempdir().unwrap();
    let tier = tier_with(&moto, spool.path(), sealed_codec());
    let data = pattern(50_000, 2);
    let id = DataId::random();
    let mut writer = tier.create(id).unwrap();
    writer.write(&data).unwrap();
    writer.finish().unwrap();
    let key = tier.key_of(id);
    let mut stored = raw_object(&tier, &key);
    let middle = stored.len() / 2;
    stored[middle] ^= 0x40;
    let remote = &tier.remote;
    remote
        .block_on(
            remote
                .client
                .put_object()
                .bucket(&remote.options.bucket)
                .key(&key)
                .body(stored.into())
                .send(),
        )
        .unwrap();
    let err = read_range(&tier, id, 0, data.len()).unwrap_err();
    assert!(matches!(err, TierError::Corrupt { .. }), "{err}");
}

#[test]
fn unreachable_server_fails_fast_as_unavailable() {
    let spool = tempfile::tempdir().unwrap();
    // A port nobody listens on: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tier = RemoteTier::new(
        "remote",
        options(&format!("http://127.0.0.1:{port}"), spool.path()),
    )
    .unwrap();
    let started = Instant::now();
    let err = tier.open(DataId::random()).err().expect("open must fail");
    assert!(matches!(err, TierError::Unavailable { .. }), "{err}");
    let mut writer = tier.create(DataId::random()).unwrap();
    writer.write(b"data").unwrap();
    let err = writer.finish().unwrap_err();
    assert!(matches!(err, TierError::Unavailable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn missing_blobs_are_not_found_and_unfinished_uploads_are_aborted() {
    let moto = Moto::start();
    let spool = tempfile::tempdir().unwrap();
    let tier = tier_with(&moto, spool.path(), CodecOptions::default());
    let id = DataId::random();
    assert!(matches!(tier.open(id), Err(TierError::NotFound(x)) if x == id));
    assert!(matches!(tier.stored_size(id), Err(TierError::NotFound(x)) if x == id));
    let remote = &tier.remote;
    remote
        .block_on(
            remote
                .client
                .create_multipart_upload()
                .bucket(&remote.options.bucket)
                .key(tier.key_of(id))
                .send(),
        )
        .unwrap();
    assert_eq!(tier.abort_incomplete_uploads().unwrap(), 1);
    assert_eq!(tier.abort_incomplete_uploads().unwrap(), 0);
}

#[test]
fn backups_and_quarantined_blobs_live_apart_from_the_blobs() {
    let moto = Moto::start();
    let spool = tempfile::tempdir().unwrap();
    let tier = tier_with(&moto, spool.path(), sealed_codec());
    let id = DataId::random();
    let mut writer = tier.create(id).unwrap();
    writer.write(&pattern(20_000, 3)).unwrap();
    writer.describe(b"key=quarantined".to_vec());
    writer.finish().unwrap();

    // Backups: sealed like blobs, compressed, listed oldest first, readable, removable.
    let dump: Vec<u8> = b"VMGW-BACKUP-MARKER "
        .iter()
        .copied()
        .cycle()
        .take(300_000)
        .collect();
    let names = [BackupName::new(1_000), BackupName::new(2_000)];
    for name in names.iter().rev() {
        let mut writer = tier.create_backup(name).unwrap();
        writer.write(&dump).unwrap();
        writer.finish().unwrap();
    }
    let listed = tier.list_backups().unwrap();
    assert_eq!(
        listed.iter().map(|b| b.name).collect::<Vec<_>>(),
        names.to_vec()
    );
    assert!(listed[0].stored_bytes < 100_000, "compressed: {listed:?}");
    let raw = raw_object(&tier, &format!("vmgw/{BACKUP_AREA}{}", names[0]));
    assert!(!raw.windows(18).any(|w| w == b"VMGW-BACKUP-MARKER"));
    let mut reader = tier.open_backup(&names[0]).unwrap();
    let mut read = Vec::new();
    while (read.len() as u64) < reader.len() {
        read.extend_from_slice(&reader.read_at(read.len() as u64, 1 << 20).unwrap());
    }
    assert_eq!(read, dump);

    // Quarantine keeps a copy (with its descriptor) in lost+found; the blob stays.
    assert!(tier.quarantine(id, b"note").unwrap());
    assert!(!tier.quarantine(DataId::random(), b"note").unwrap());
    assert_eq!(
        raw_object(&tier, &format!("vmgw/{QUARANTINE_AREA}{id}.note")),
        b"note"
    );
    let kept = raw_object(&tier, &format!("vmgw/{QUARANTINE_AREA}{id}"));
    assert_eq!(kept, raw_object(&tier, &tier.key_of(id)));

    // Neither area is a blob, nor counts as the tier's usage.
    let mut ids = Vec::new();
    tier.for_each_id(&mut |id| ids.push(id)).unwrap();
    assert_eq!(ids, vec![id]);
    assert_eq!(tier.used_bytes().unwrap(), tier.stored_size(id).unwrap());

    tier.remove_backup(&names[0]).unwrap();
    tier.remove_backup(&names[0]).unwrap();
    assert_eq!(tier.list_backups().unwrap().len(), 1);
}

#[test]
fn keys_sort_into_areas() {
    assert_eq!(area_of("p/", "p/0a/abc"), Area::Blob("abc"));
    assert_eq!(area_of("p/", "p/vmgw-backups/x"), Area::Reserved);
    assert_eq!(area_of("p/", "p/lost+found/x"), Area::Reserved);
    assert_eq!(area_of("p/", "p/zz/abc"), Area::Foreign);
    assert_eq!(area_of("p/", "q/0a/abc"), Area::Foreign);
    assert_eq!(
        area_of("", "0a/abc.descriptor"),
        Area::Blob("abc.descriptor")
    );
    assert_eq!(
        copy_source("b", "p/lost+found/x y"),
        "b/p/lost%2Bfound/x%20y"
    );
}
