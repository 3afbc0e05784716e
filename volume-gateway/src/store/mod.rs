//! Volumes as objects: the layout of chunk objects and records, the chunk
//! map with its copy-on-write rule, the write-back cache of an attached
//! volume, and the operations (snapshot, clone, delete, image import) that
//! share or free chunks.

pub mod catalog;
pub mod chunkmap;
pub mod frames;
pub mod image;
pub mod layout;
pub mod lifecycle;
pub mod ranges;
pub mod records;
pub mod registry;
pub mod slot;
pub mod volume;
