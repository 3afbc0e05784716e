//! Before a phase: tempauth v1 login, container creation, and the object count
//! that decides whether `--prepare` has to populate the pool.

use std::time::Duration;

use http::Method;

use super::workload::Naming;
use crate::client::{header, Conn, Endpoint, Payload};
use crate::error::Error;

/// A logged-in session: where the account lives and the token.
#[derive(Clone, Debug)]
pub struct Session {
    /// X-Storage-Url as given by auth.
    pub storage_url: String,
    /// Parsed storage URL (path = account path).
    pub endpoint: Endpoint,
    /// X-Auth-Token.
    pub token: String,
}

/// `GET auth_url` with X-Auth-User/X-Auth-Key -> X-Storage-Url, X-Auth-Token.
pub async fn login(
    auth_url: &str,
    user: &str,
    key: &str,
    timeout: Duration,
) -> Result<Session, Error> {
    let ep = Endpoint::parse(auth_url)?;
    let mut conn = Conn::new(&ep, timeout);
    let path = if ep.path.is_empty() {
        "/"
    } else {
        ep.path.as_str()
    };
    let rep = conn
        .send(
            Method::GET,
            path,
            &[("X-Auth-User", user), ("X-Auth-Key", key)],
            Payload::empty(),
        )
        .await
        .map_err(|e| Error::Auth(auth_url.to_string(), e.to_string()))?;
    if !(200..300).contains(&rep.status) {
        return Err(Error::Auth(
            auth_url.to_string(),
            format!("HTTP {} for user {user:?}", rep.status),
        ));
    }
    let storage_url = header(&rep.headers, "x-storage-url")
        .ok_or_else(|| Error::Auth(auth_url.to_string(), "no X-Storage-Url".into()))?
        .to_string();
    let token = header(&rep.headers, "x-auth-token")
        .ok_or_else(|| Error::Auth(auth_url.to_string(), "no X-Auth-Token".into()))?
        .to_string();
    session(&storage_url, &token)
}

/// A session from a known storage URL and token.
pub fn session(storage_url: &str, token: &str) -> Result<Session, Error> {
    Ok(Session {
        endpoint: Endpoint::parse(storage_url)?,
        storage_url: storage_url.to_string(),
        token: token.to_string(),
    })
}

/// PUTs every container of `naming` (idempotent: 201 or 202).
pub async fn create_containers(
    s: &Session,
    naming: &Naming,
    timeout: Duration,
) -> Result<(), Error> {
    let mut conn = Conn::new(&s.endpoint, timeout);
    for k in 0..naming.containers() {
        let path = format!("{}/{}", s.endpoint.path, naming.container_name(k));
        let rep = conn
            .send(
                Method::PUT,
                &path,
                &[("X-Auth-Token", &s.token)],
                Payload::empty(),
            )
            .await?;
        if !(200..300).contains(&rep.status) {
            return Err(Error::Setup(format!("PUT {path}: HTTP {}", rep.status)));
        }
    }
    Ok(())
}

/// Sum of X-Container-Object-Count over the containers (a missing one counts 0).
pub async fn object_count(s: &Session, naming: &Naming, timeout: Duration) -> Result<u64, Error> {
    let mut conn = Conn::new(&s.endpoint, timeout);
    let mut total = 0;
    for k in 0..naming.containers() {
        let path = format!("{}/{}", s.endpoint.path, naming.container_name(k));
        let rep = conn
            .send(
                Method::HEAD,
                &path,
                &[("X-Auth-Token", &s.token)],
                Payload::empty(),
            )
            .await?;
        match rep.status {
            404 => {}
            st if (200..300).contains(&st) => {
                total += header(&rep.headers, "x-container-object-count")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0);
            }
            st => return Err(Error::Setup(format!("HEAD {path}: HTTP {st}"))),
        }
    }
    Ok(total)
}
