//! `--tempurl-key`: reads go out as Swift temporary URLs instead of carrying
//! the token. Each request is signed as a client would sign it (HMAC-SHA256 of
//! `GET\n<expires>\n<path>`, hex), so the server checks a fresh signature
//! every time; a HEAD uses the GET signature, which tempurl allows.

use std::time::Duration;

use http::Method;

use super::setup::Session;
use crate::client::{Conn, Payload};
use crate::error::Error;

/// Signs object paths with the account's temp URL key.
pub struct Signer {
    key: ring::hmac::Key,
    expires: u64,
}

impl Signer {
    /// Signatures valid until `expires` (Unix seconds).
    pub fn new(key: &str, expires: u64) -> Signer {
        Signer {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes()),
            expires,
        }
    }

    /// Valid for an hour from now (longer than any phase).
    pub fn for_an_hour(key: &str) -> Signer {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Signer::new(key, now + 3600)
    }

    /// `path?temp_url_sig=..&temp_url_expires=..` for a GET (or HEAD) of `path`
    /// (`/v1/<account>/<container>/<object>`).
    pub fn url(&self, path: &str) -> String {
        let msg = format!("GET\n{}\n{path}", self.expires);
        let tag = ring::hmac::sign(&self.key, msg.as_bytes());
        let mut sig = String::with_capacity(64);
        for b in tag.as_ref() {
            sig.push_str(&format!("{b:02x}"));
        }
        format!(
            "{path}?temp_url_sig={sig}&temp_url_expires={}",
            self.expires
        )
    }
}

/// Sets the account's `X-Account-Meta-Temp-URL-Key` (with the session's token).
pub async fn set_account_key(s: &Session, key: &str, timeout: Duration) -> Result<(), Error> {
    let mut conn = Conn::new(&s.endpoint, timeout);
    let rep = conn
        .send(
            Method::POST,
            &s.endpoint.path,
            &[
                ("X-Auth-Token", s.token.as_str()),
                ("X-Account-Meta-Temp-URL-Key", key),
            ],
            Payload::empty(),
        )
        .await?;
    if !(200..300).contains(&rep.status) {
        return Err(Error::Setup(format!(
            "POST {} (temp URL key): HTTP {}",
            s.endpoint.path, rep.status
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_pythons_hmac() {
        // hmac.new(b'k', b'GET\n1700000000\n/v1/AUTH_a/c/o', 'sha256').hexdigest()
        let s = Signer::new("k", 1_700_000_000);
        assert_eq!(
            s.url("/v1/AUTH_a/c/o"),
            "/v1/AUTH_a/c/o?temp_url_sig=\
             dcf9b6bdb511ee7112f2e394fd85d88436cd9b32d5d746e0726885db83421f38&temp_url_expires=1700000000"
        );
    }
}
