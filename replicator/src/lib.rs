//! swirl-replicator
