//! Where the content of one file lives while it is open or unsaved, and open handles.

use tokio::sync::Mutex;

use crate::append::Appending;
use crate::readahead::Reader;
use crate::staging::Staging;
use crate::upload::StreamUpload;

/// The content of a file, one state machine per inode:
/// - `Remote`: the object on the server is the content (reads are ranged GETs);
/// - `Stream`: a new content written front to back, streaming into an upload;
/// - `Append`: the object on the server plus bytes written at its end, sent as appends
///   (only where the server announced write-offset appends);
/// - `Staged`: the whole content in a local file (after a random write, an overwrite, an
///   append the server cannot take, or a truncation), uploaded on flush.
///
/// A stream that receives a write anywhere but at its end becomes staged (from its buffer
/// when nothing was sent yet, else by completing the upload and downloading it back); so
/// does an appending file (the object downloaded, the bytes not sent yet written after it).
#[derive(Debug, Default)]
pub enum Content {
    #[default]
    Remote,
    Stream(StreamUpload),
    Append(Appending),
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
