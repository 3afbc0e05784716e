//! Who may manage a project's volumes: whoever holds a token the cluster's
//! proxy accepts for the project's account. The gateway asks the proxy (a
//! HEAD of the account with the caller's token), so tempauth tokens work
//! today and Keystone tokens work wherever the proxy accepts them. Answers
//! are remembered for `token_cache_time`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::swift::client::SwiftClient;

/// Most remembered (token, account) pairs.
const CACHE_MAX: usize = 10_000;
/// Longest token taken seriously (Fernet tokens are ~200 bytes; PKI ones
/// were a few KiB).
const TOKEN_MAX: usize = 8192;

pub struct Auth {
    swift: Arc<SwiftClient>,
    ttl: Duration,
    prefix: String,
    cache: Mutex<HashMap<(String, String), Instant>>,
}

impl Auth {
    pub fn new(swift: Arc<SwiftClient>, ttl: Duration, reseller_prefix: &str) -> Self {
        Auth {
            swift,
            ttl,
            prefix: reseller_prefix.to_string(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The account of a project: `AUTH_<project>` (Keystone project ids),
    /// or the project itself when it already is an account (tempauth's
    /// `AUTH_test` as the project in the URL).
    pub fn account_of(&self, project: &str) -> String {
        if project.starts_with(&self.prefix) {
            project.to_string()
        } else {
            format!("{}{project}", self.prefix)
        }
    }

    /// Checks that `token` may act on `account`.
    pub async fn check(&self, token: Option<&str>, account: &str) -> Result<()> {
        let unauthorized =
            || Error::Unauthorized("The request you have made requires authentication.".into());
        let token = token
            .filter(|t| !t.is_empty() && t.len() <= TOKEN_MAX)
            .ok_or_else(unauthorized)?;
        let key = (token.to_string(), account.to_string());
        let now = Instant::now();
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.get(&key).is_some_and(|&until| until > now) {
                return Ok(());
            }
        }
        let status = self.swift.head_account_as(account, token).await?;
        match status.as_u16() {
            // 404: the token is good for the account, which has no data yet.
            200..=299 | 404 => {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_MAX {
                    cache.retain(|_, until| *until > now);
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                }
                cache.insert(key, now + self.ttl);
                Ok(())
            }
            401 | 403 => Err(unauthorized()),
            s => Err(Error::Cluster(format!(
                "the proxy answered {s} when checking a token"
            ))),
        }
    }
}
