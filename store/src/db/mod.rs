//! SQLite account and container brokers (being written).
