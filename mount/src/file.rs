//! Where the content of one file lives while it is open or unsaved, and open handles.

use tokio::sync::Mutex;

use crate::readahead::Reader;
use crate::staging::Staging;
use crate::upload::StreamUpload;

/// The content of a file, one state machine per inode:
/// - `Remote`: the object on the server is the content (reads are ranged GETs);
/// - `Stream`: a new content written front to back, streaming into an upload;
/// - `Staged`: the whole content in a local file (after a random write, an overwrite, an
///   append or a truncation), uploaded on flush.
///
/// A stream that receives a write anywhere but at its end becomes staged (from its buffer
/// when nothing was sent yet, else by completing the upload and downloading it back).
#[derive(Debug, Default)]
pub enum Content {
    #[default]
    Remote,
    Stream(StreamUpload),
    Staged(Staging),
}

pub type FileCell = Mutex<Content>;

/// One open file handle.
#[derive(Debug)]
pub struct Handle {
    pub ino: u64,
    pub writable: bool,
    pub reader: Mutex<Reader>,
}
