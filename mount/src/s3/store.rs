//! [`ObjectStore`]: the seam between the file system and S3. The real implementation is
//! [`ObjectClient`]; tests use an in-memory store with fault injection
//! (`s3::mem::MemStore`), and vmgw's fast paths (see [`Capabilities`]) belong behind this
//! same interface.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::{Capabilities, ListPage, ListRequest, ObjectClient, ObjectInfo, S3Error};

/// The S3 requests the mount makes, one method each.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    fn capabilities(&self) -> Capabilities;
    /// `None` when there is no such object.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, S3Error>;
    /// Bytes `[start, start + len)` (fewer at the object's end).
    async fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Bytes, S3Error>;
    /// The whole object into `file`, in chunks; returns its length.
    async fn get_to_file(&self, key: &str, file: &mut tokio::fs::File) -> Result<u64, S3Error>;
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        metadata: HashMap<String, String>,
    ) -> Result<(), S3Error>;
    /// Appends `body` to an object of `offset` bytes (only where
    /// [`Capabilities::append`]); returns its new size.
    async fn append(&self, key: &str, offset: u64, body: Bytes) -> Result<u64, S3Error>;
    /// One page of a listing (with user metadata where [`Capabilities::list_metadata`]).
    async fn list(&self, query: &ListRequest<'_>) -> Result<ListPage, S3Error>;
    /// Server-side copy; `metadata` replaces the source's when given.
    async fn copy(
        &self,
        from: &str,
        to: &str,
        size: u64,
        metadata: Option<HashMap<String, String>>,
    ) -> Result<(), S3Error>;
    /// Moves one object, replacing `to`.
    async fn rename(&self, from: &str, to: &str, size: u64) -> Result<(), S3Error>;
    /// Deleting a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<(), S3Error>;
    async fn create_multipart(
        &self,
        key: &str,
        metadata: HashMap<String, String>,
    ) -> Result<String, S3Error>;
    /// Returns the part's ETag.
    async fn upload_part(
        &self,
        key: &str,
        upload: &str,
        number: i32,
        body: Bytes,
    ) -> Result<String, S3Error>;
    async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), S3Error>;
    /// Best effort.
    async fn abort_multipart(&self, key: &str, upload: &str);
}

/// How the file system holds its store.
pub type Store = Arc<dyn ObjectStore>;

#[async_trait::async_trait]
impl ObjectStore for ObjectClient {
    fn capabilities(&self) -> Capabilities {
        ObjectClient::capabilities(self)
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, S3Error> {
        ObjectClient::head(self, key).await
    }
    async fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Bytes, S3Error> {
        ObjectClient::get_range(self, key, start, len).await
    }
    async fn get_to_file(&self, key: &str, file: &mut tokio::fs::File) -> Result<u64, S3Error> {
        ObjectClient::get_to_file(self, key, file).await
    }
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        metadata: HashMap<String, String>,
    ) -> Result<(), S3Error> {
        ObjectClient::put(self, key, body, metadata).await
    }
    async fn append(&self, key: &str, offset: u64, body: Bytes) -> Result<u64, S3Error> {
        ObjectClient::append(self, key, offset, body).await
    }
    async fn list(&self, query: &ListRequest<'_>) -> Result<ListPage, S3Error> {
        ObjectClient::list(self, query).await
    }
    async fn copy(
        &self,
        from: &str,
        to: &str,
        size: u64,
        metadata: Option<HashMap<String, String>>,
    ) -> Result<(), S3Error> {
        ObjectClient::copy(self, from, to, size, metadata).await
    }
    async fn rename(&self, from: &str, to: &str, size: u64) -> Result<(), S3Error> {
        ObjectClient::rename(self, from, to, size).await
    }
    async fn delete(&self, key: &str) -> Result<(), S3Error> {
        ObjectClient::delete(self, key).await
    }
    async fn create_multipart(
        &self,
        key: &str,
        metadata: HashMap<String, String>,
    ) -> Result<String, S3Error> {
        ObjectClient::create_multipart(self, key, metadata).await
    }
    async fn upload_part(
        &self,
        key: &str,
        upload: &str,
        number: i32,
        body: Bytes,
    ) -> Result<String, S3Error> {
        ObjectClient::upload_part(self, key, upload, number, body).await
    }
    async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), S3Error> {
        ObjectClient::complete_multipart(self, key, upload, parts).await
    }
    async fn abort_multipart(&self, key: &str, upload: &str) {
        ObjectClient::abort_multipart(self, key, upload).await;
    }
}
