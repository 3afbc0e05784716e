//! swirl-proxy: the public Swift v1 API (being written).
