//! Reading a local blob file by position.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::TierError;
use crate::blob::BlobSource;

pub(super) struct FileSource {
    pub(super) file: File,
    pub(super) len: u64,
    pub(super) path: PathBuf,
}

impl BlobSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> Result<(), TierError> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| TierError::io(self.path.display(), e))
    }
}
