//! What the API and the NBD server share: the config, the store, the token
//! checker, and the address attachments send clients to.

use std::sync::Arc;

use crate::api::auth::Auth;
use crate::config::Config;
use crate::store::lifecycle::Store;

pub struct Gateway {
    pub cfg: Config,
    pub store: Arc<Store>,
    pub auth: Auth,
    /// Host and port put into connection_info.
    pub nbd_host: String,
    pub nbd_port: u16,
    /// The NBD Unix socket for clients on this host, if there is one.
    pub nbd_socket: Option<String>,
}

impl Gateway {
    /// The NBD export name of an attachment.
    pub fn export_name(account: &str, volume: &str, attachment: &str) -> String {
        format!("{account}/{volume}/{attachment}")
    }
}

/// Shared handle.
pub type GatewayRef = Arc<Gateway>;
