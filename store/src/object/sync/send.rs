//! The sender's side of a file transfer: open a current file and learn how
//! long it is and where its body ends, from its own metadata trailer.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::object::data_file::read_metadata;

/// A file opened for sending.
#[derive(Debug)]
pub struct Outgoing {
    pub file: File,
    pub file_len: u64,
    pub body_len: u64,
}

/// Opens `path` for sending; None when it is gone (replaced meanwhile) or
/// unreadable as one of ours (the auditor's business, not to be spread).
pub fn open(path: &Path) -> io::Result<Option<Outgoing>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let file_len = file.metadata()?.len();
    let Ok((_, body_len)) = read_metadata(&file) else {
        return Ok(None);
    };
    Ok(Some(Outgoing {
        file,
        file_len,
        body_len,
    }))
}
