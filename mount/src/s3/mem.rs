//! An in-memory [`ObjectStore`] for tests of the file system without FUSE or a server, with
//! fault injection: while `failing` is set every write request fails as a dead link would.
//! It offers vmgw's appends and listings with metadata when built
//! [`with_capabilities`](MemStore::with_capabilities) announcing them, and behaves as
//! vmgw does: an append at any offset but the size is `InvalidWriteOffset`, one beyond the
//! part limit an `InvalidRequest`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::{
    Capabilities, ListPage, ListRequest, ListedObject, MAX_PARTS, ObjectInfo, ObjectStore, S3Error,
};

#[derive(Debug, Clone)]
struct Object {
    body: Bytes,
    metadata: HashMap<String, String>,
    /// Parts it is made of (a PUT makes one, each append one more).
    parts: u64,
}

/// An open multipart upload: the object's metadata and the parts so far.
type Upload = (HashMap<String, String>, BTreeMap<i32, Bytes>);

#[derive(Debug, Default)]
pub struct MemStore {
    objects: Mutex<BTreeMap<String, Object>>,
    uploads: Mutex<HashMap<String, Upload>>,
    next_upload: AtomicU64,
    /// While set, writes (PUT, parts, copies, deletes) fail.
    pub failing: AtomicBool,
    /// Requests served, by kind (for tests that count round trips).
    pub requests: Mutex<HashMap<&'static str, u64>>,
    capabilities: Capabilities,
    /// Most parts an appended object may have; 0 means S3's 10,000.
    pub part_limit: AtomicU64,
    /// The next append lands but answers `InvalidWriteOffset`, as a retried request whose
    /// first attempt got through does.
    pub lose_append_reply: AtomicBool,
    /// Bytes received in append bodies.
    pub appended_bytes: AtomicU64,
}

/// Keys per listing page, as S3.
const PAGE: usize = 1000;

fn invalid_write_offset(offset: u64, size: u64) -> S3Error {
    S3Error::Service {
        status: 400,
        code: "InvalidWriteOffset".into(),
        message: format!("offset {offset}, size {size}"),
    }
}

impl MemStore {
    /// A store offering what `capabilities` names.
    #[must_use]
    pub fn with_capabilities(capabilities: Capabilities) -> Self {
        Self {
            capabilities,
            ..Self::default()
        }
    }

    /// The user metadata of `key`, if it exists.
    #[must_use]
    pub fn metadata(&self, key: &str) -> Option<HashMap<String, String>> {
        self.objects
            .lock()
            .unwrap()
            .get(key)
            .map(|o| o.metadata.clone())
    }

    fn count(&self, kind: &'static str) {
        *self.requests.lock().unwrap().entry(kind).or_default() += 1;
    }

    fn check_write(&self) -> Result<(), S3Error> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(S3Error::Transport("injected failure".into()));
        }
        Ok(())
    }

    /// The body of `key`, if it exists.
    #[must_use]
    pub fn body(&self, key: &str) -> Option<Bytes> {
        self.objects
            .lock()
            .unwrap()
            .get(key)
            .map(|o| o.body.clone())
    }

    /// Every key, in order.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }
}

#[async_trait::async_trait]
impl ObjectStore for MemStore {
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, S3Error> {
        self.count("head");
        Ok(self.objects.lock().unwrap().get(key).map(|o| ObjectInfo {
            size: o.body.len() as u64,
            last_modified: 1_700_000_000,
            metadata: o.metadata.clone().into_iter().collect(),
        }))
    }

    async fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Bytes, S3Error> {
        self.count("get");
        let body = self.body(key).ok_or(S3Error::NotFound)?;
        let start = (start as usize).min(body.len());
        let end = start.saturating_add(len as usize).min(body.len());
        Ok(body.slice(start..end))
    }

    async fn get_to_file(&self, key: &str, file: &mut tokio::fs::File) -> Result<u64, S3Error> {
        self.count("get");
        let body = self.body(key).ok_or(S3Error::NotFound)?;
        file.write_all(&body).await?;
        file.flush().await?;
        Ok(body.len() as u64)
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        metadata: HashMap<String, String>,
    ) -> Result<(), S3Error> {
        self.count("put");
        self.check_write()?;
        self.objects.lock().unwrap().insert(
            key.to_owned(),
            Object {
                body,
                metadata,
                parts: 1,
            },
        );
        Ok(())
    }

    async fn append(&self, key: &str, offset: u64, body: Bytes) -> Result<u64, S3Error> {
        self.count("append");
        self.check_write()?;
        if !self.capabilities.append {
            return Err(S3Error::Unsupported("write-offset appends"));
        }
        self.appended_bytes
            .fetch_add(body.len() as u64, Ordering::SeqCst);
        let limit = match self.part_limit.load(Ordering::SeqCst) {
            0 => MAX_PARTS,
            n => n,
        };
        let mut objects = self.objects.lock().unwrap();
        let size = match objects.get_mut(key) {
            None if offset == 0 => {
                let size = body.len() as u64;
                let object = Object {
                    body,
                    metadata: HashMap::new(),
                    parts: 1,
                };
                objects.insert(key.to_owned(), object);
                size
            }
            None => return Err(invalid_write_offset(offset, 0)),
            Some(o) if o.body.len() as u64 != offset => {
                return Err(invalid_write_offset(offset, o.body.len() as u64));
            }
            Some(o) if o.parts >= limit => {
                return Err(S3Error::Service {
                    status: 400,
                    code: "InvalidRequest".into(),
                    message: "too many parts".into(),
                });
            }
            Some(o) => {
                let mut joined = BytesMut::from(&o.body[..]);
                joined.extend_from_slice(&body);
                o.body = joined.freeze();
                o.parts += 1;
                o.body.len() as u64
            }
        };
        if self.lose_append_reply.swap(false, Ordering::SeqCst) {
            return Err(invalid_write_offset(offset, size));
        }
        Ok(size)
    }

    async fn list(&self, query: &ListRequest<'_>) -> Result<ListPage, S3Error> {
        self.count("list");
        let (prefix, delimited, token) = (query.prefix, query.delimited, &query.token);
        let max = query
            .max_keys
            .map_or(PAGE, |m| usize::try_from(m).unwrap_or(PAGE).min(PAGE));
        let objects = self.objects.lock().unwrap();
        let mut page = ListPage::default();
        let mut last = None;
        for (key, o) in objects.range(prefix.to_owned()..) {
            if !key.starts_with(prefix) {
                break;
            }
            if query.start_after.as_ref().is_some_and(|after| key <= after) {
                continue;
            }
            // Resume after the token: past that key, or past every key of that prefix.
            if let Some(t) = token
                && (key <= t || (t.ends_with('/') && key.starts_with(t.as_str())))
            {
                continue;
            }
            let rest = &key[prefix.len()..];
            let entry = match rest.find('/') {
                Some(i) if delimited => {
                    let common = format!("{prefix}{}", &rest[..=i]);
                    if page.prefixes.last() == Some(&common) {
                        continue;
                    }
                    common
                }
                _ => key.clone(),
            };
            if page.objects.len() + page.prefixes.len() == max {
                page.next_token = last;
                return Ok(page);
            }
            if entry.ends_with('/') && entry != *key {
                page.prefixes.push(entry.clone());
            } else {
                page.objects.push(ListedObject {
                    key: key.clone(),
                    size: o.body.len() as u64,
                    last_modified: 1_700_000_000,
                    metadata: self
                        .capabilities
                        .list_metadata
                        .then(|| o.metadata.clone().into_iter().collect()),
                });
            }
            last = Some(entry);
        }
        Ok(page)
    }

    async fn copy(
        &self,
        from: &str,
        to: &str,
        _size: u64,
        metadata: Option<HashMap<String, String>>,
    ) -> Result<(), S3Error> {
        self.count("copy");
        self.check_write()?;
        let mut objects = self.objects.lock().unwrap();
        let mut object = objects.get(from).cloned().ok_or(S3Error::NotFound)?;
        if let Some(metadata) = metadata {
            object.metadata = metadata;
        }
        objects.insert(to.to_owned(), object);
        Ok(())
    }

    async fn rename(&self, from: &str, to: &str, size: u64) -> Result<(), S3Error> {
        self.copy(from, to, size, None).await?;
        self.delete(from).await
    }

    async fn delete(&self, key: &str) -> Result<(), S3Error> {
        self.count("delete");
        self.check_write()?;
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }

    async fn create_multipart(
        &self,
        key: &str,
        metadata: HashMap<String, String>,
    ) -> Result<String, S3Error> {
        self.count("create_multipart");
        self.check_write()?;
        let id = format!("{key}#{}", self.next_upload.fetch_add(1, Ordering::Relaxed));
        self.uploads
            .lock()
            .unwrap()
            .insert(id.clone(), (metadata, BTreeMap::new()));
        Ok(id)
    }

    async fn upload_part(
        &self,
        _key: &str,
        upload: &str,
        number: i32,
        body: Bytes,
    ) -> Result<String, S3Error> {
        self.count("upload_part");
        self.check_write()?;
        let mut uploads = self.uploads.lock().unwrap();
        let (_, parts) = uploads.get_mut(upload).ok_or(S3Error::NotFound)?;
        parts.insert(number, body);
        Ok(format!("etag-{number}"))
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), S3Error> {
        self.count("complete_multipart");
        self.check_write()?;
        let (metadata, stored) = self
            .uploads
            .lock()
            .unwrap()
            .remove(upload)
            .ok_or(S3Error::NotFound)?;
        let mut body = BytesMut::new();
        for (i, (number, _)) in parts.iter().enumerate() {
            let part = stored.get(number).ok_or(S3Error::NotFound)?;
            // As S3: every part but the last is at least 5 MiB.
            if i + 1 < parts.len() && (part.len() as u64) < super::MIN_PART {
                return Err(S3Error::Service {
                    status: 400,
                    code: "EntityTooSmall".into(),
                    message: format!("part {number}"),
                });
            }
            body.extend_from_slice(part);
        }
        self.objects.lock().unwrap().insert(
            key.to_owned(),
            Object {
                body: body.freeze(),
                metadata,
                parts: parts.len() as u64,
            },
        );
        Ok(())
    }

    async fn abort_multipart(&self, _key: &str, upload: &str) {
        self.count("abort_multipart");
        self.uploads.lock().unwrap().remove(upload);
    }
}
