//! swirl-object: the backend object server (being written).
