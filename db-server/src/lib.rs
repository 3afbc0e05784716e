//! swirl-db: the backend account and container servers (being written).
