//! `ObjectPath`: the account, container and object names of one object,
//! passed together through the object controller and the middleware that
//! reads and writes objects on a caller's behalf.

use std::fmt;

use crate::backend;
use crate::error::Result;
use crate::rings::{Node, PartNodes, RingKind, Rings};

/// Where an object is (names decoded, as the router gives them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    pub account: String,
    pub container: String,
    pub object: String,
}

impl ObjectPath {
    pub fn new(
        account: impl Into<String>,
        container: impl Into<String>,
        object: impl Into<String>,
    ) -> Self {
        ObjectPath {
            account: account.into(),
            container: container.into(),
            object: object.into(),
        }
    }

    /// `/<container>/<object>` (a manifest's segment, a bulk entry), in
    /// `account`.
    pub fn in_account(account: &str, container_object: &str) -> Self {
        let n = container_object.trim_start_matches('/');
        let (c, o) = n.split_once('/').unwrap_or((n, ""));
        ObjectPath::new(account, c, o)
    }

    /// The partition and nodes of the object in its policy's ring.
    pub fn nodes(&self, rings: &Rings, policy: u32) -> Result<PartNodes> {
        rings.nodes(
            RingKind::Object(policy),
            &self.account,
            Some(&self.container),
            Some(&self.object),
        )
    }

    /// The node-independent backend path: `/<partition>/<a>/<c>/<o>`, quoted.
    pub fn tail(&self, partition: u32) -> String {
        backend::tail(
            partition,
            &self.account,
            Some(&self.container),
            Some(&self.object),
        )
    }

    /// The backend path on `node`.
    pub fn on_node(&self, node: &Node, partition: u32) -> String {
        backend::on_node(node, &self.tail(partition))
    }
}

/// `/<account>/<container>/<object>`, as Swift's logs and errors name it.
impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/{}/{}", self.account, self.container, self.object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = ObjectPath::new("AUTH_a", "c", "o/p");
        assert_eq!(p.to_string(), "/AUTH_a/c/o/p");
        assert_eq!(ObjectPath::in_account("AUTH_a", "/c/o/p"), p);
        assert_eq!(
            ObjectPath::in_account("AUTH_a", "c"),
            ObjectPath::new("AUTH_a", "c", "")
        );
        assert_eq!(p.tail(7), "/7/AUTH_a/c/o/p");
    }
}
