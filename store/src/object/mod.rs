//! Object files on disk, shared by the object server and (later) the replicator
//! and auditor: the layout, file naming and classification (pure), the metadata
//! format, durable writes, reads with quarantine, suffix hashes, async pendings.

pub mod async_pending;
pub mod block_hash;
pub mod blocks;
pub mod classify;
pub mod data_file;
pub mod device;
pub mod direct_write;
pub mod diskfile;
pub mod durable;
pub mod error;
pub mod filename;
pub mod fs_sync;
pub mod hashes;
pub mod layout;
pub mod metadata;
pub mod quarantine;
pub mod read_buf;
pub mod sync;

pub use data_file::{Checked, Corrupt, DataFile};
pub use diskfile::{ObjectRef, ObjectStore, ObjectWriter, OpenObject, Opened};
pub use error::{Error, Result};
pub use layout::{DeviceLayout, HashSecret};
pub use metadata::Metadata;
