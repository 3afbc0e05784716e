//! Object files on disk (being written).
