//! What database replicas tell each other (swift/common/db_replicator.py):
//! a database's replication info, the `sync` call's arguments built from it
//! and parsed back, and the row field Swift sends as an integer. Pure: the
//! sending replicator and the receiving server share these forms.

use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;

use super::metadata::{self, Metadata};

/// What a replicator compares and sends for one database (the common part
/// of Swift's `get_replication_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationInfo {
    pub id: String,
    /// The rows' running hash: equal hashes, equal rows.
    pub hash: String,
    /// The largest ROWID given out, or -1.
    pub max_row: i64,
    /// Live rows (containers of an account, objects of a container).
    pub count: i64,
    pub created_at: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub status_changed_at: String,
    pub metadata: Metadata,
}

impl ReplicationInfo {
    /// The arguments of a `sync` call about this database.
    pub fn sync_args(&self) -> SyncArgs {
        SyncArgs {
            max_row: self.max_row,
            hash: self.hash.clone(),
            id: self.id.clone(),
            created_at: self.created_at.clone(),
            put_timestamp: self.put_timestamp.clone(),
            delete_timestamp: self.delete_timestamp.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

/// The sender's side of a `sync` call: `[max_row, hash, id, created_at,
/// put_timestamp, delete_timestamp, metadata_json]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncArgs {
    pub max_row: i64,
    pub hash: String,
    pub id: String,
    pub created_at: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub metadata: Metadata,
}

fn as_str(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl SyncArgs {
    /// Parses the call's arguments (after the op name). Further arguments
    /// (a container's policy) are left to the caller.
    pub fn parse(args: &[Value]) -> Result<SyncArgs, String> {
        if args.len() < 7 {
            return Err("sync needs 7 arguments".into());
        }
        let max_row = args[0].as_i64().ok_or("sync: bad max_row")?;
        // Swift logs and ignores undecodable remote metadata.
        let metadata = metadata::parse(&as_str(args.get(6))).unwrap_or_default();
        Ok(SyncArgs {
            max_row,
            hash: as_str(args.get(1)),
            id: as_str(args.get(2)),
            created_at: as_str(args.get(3)),
            put_timestamp: as_str(args.get(4)),
            delete_timestamp: as_str(args.get(5)),
            metadata,
        })
    }

    /// The call's arguments, as [`SyncArgs::parse`] reads them.
    pub fn to_args(&self) -> Vec<Value> {
        vec![
            self.max_row.into(),
            self.hash.clone().into(),
            self.id.clone().into(),
            self.created_at.clone().into(),
            self.put_timestamp.clone().into(),
            self.delete_timestamp.clone().into(),
            metadata::to_json(&self.metadata).into(),
        ]
    }
}

/// A row's `deleted` flag as Swift sends it: 0 or 1 (true/false read too).
pub mod int_bool {
    use super::*;

    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(i64::from(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum IntOrBool {
            Int(i64),
            Bool(bool),
        }
        Ok(match IntOrBool::deserialize(d)? {
            IntOrBool::Int(i) => i != 0,
            IntOrBool::Bool(b) => b,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_args_round_trip() {
        let args: Vec<Value> = serde_json::from_str(
            r#"[5, "abc", "id-1", "1.0", "2.0", "0", "{\"X-Container-Meta-A\": [\"v\", \"3.0\"]}"]"#,
        )
        .unwrap();
        let a = SyncArgs::parse(&args).unwrap();
        assert_eq!((a.max_row, a.id.as_str()), (5, "id-1"));
        assert_eq!(a.metadata["X-Container-Meta-A"].0, "v");
        assert_eq!(SyncArgs::parse(&a.to_args()).unwrap(), a);
        assert!(SyncArgs::parse(&args[..3]).is_err());
        // Undecodable metadata is ignored, as Swift does.
        let mut bad = args.clone();
        bad[6] = "{".into();
        assert!(SyncArgs::parse(&bad).unwrap().metadata.is_empty());
    }
}
