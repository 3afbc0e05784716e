//! The cluster's mutual TLS: every swirl node holds a certificate issued by
//! the cluster's own CA, and node-to-node traffic (replication today, backend
//! requests later) is served and sent only over TLS where both sides present
//! such a certificate. A peer with no certificate, or one from another CA, is
//! refused in the handshake, before any request is read.
//!
//! Files are PEM, one directory per node (`swirl cluster-ca` writes them):
//! `ca.pem` (the cluster CA's certificate, the only trust root), `node.pem`
//! (this node's certificate) and `node.key` (its private key, mode 0600).
//! Issuing lives in [`issue`]; this module loads files and builds rustls
//! configs.

pub mod issue;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why TLS material could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key} {path}: {message}")]
    File {
        key: &'static str,
        path: String,
        message: String,
    },
    #[error("tls: {0}")]
    Rustls(String),
    #[error("issuing certificate: {0}")]
    Issue(String),
}

fn file_err(key: &'static str, path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        key,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// `[cluster_tls]` of a node's config: where its cluster TLS files are.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterTlsConfig {
    /// The cluster CA's certificate (PEM): the only root a peer's certificate may chain to.
    pub ca_file: PathBuf,
    /// This node's certificate (PEM), issued by the cluster CA.
    pub cert_file: PathBuf,
    /// This node's private key (PEM).
    pub key_file: PathBuf,
}

impl ClusterTlsConfig {
    /// The standard file names inside one directory (what `swirl cluster-ca issue` writes).
    pub fn in_dir(dir: &Path) -> Self {
        ClusterTlsConfig {
            ca_file: dir.join(issue::CA_CERT),
            cert_file: dir.join(issue::NODE_CERT),
            key_file: dir.join(issue::NODE_KEY),
        }
    }

    /// Loads the three files.
    pub fn load(&self) -> Result<ClusterTls, TlsError> {
        ClusterTls::load(&self.ca_file, &self.cert_file, &self.key_file)
    }
}

/// A node's loaded cluster TLS identity.
#[derive(Debug)]
pub struct ClusterTls {
    roots: Arc<rustls::RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate of a PEM file (at least one).
pub fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(key, path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(key, path, e))?;
    if certs.is_empty() {
        return Err(file_err(key, path, "no certificate in file"));
    }
    Ok(certs)
}

/// Reads a PEM private key.
pub fn load_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err(key, path, e))
}

impl ClusterTls {
    /// Loads the CA certificate, this node's certificate chain and key.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for c in load_certs("ca_file", ca)? {
            roots.add(c).map_err(|e| file_err("ca_file", ca, e))?;
        }
        Ok(ClusterTls {
            roots: Arc::new(roots),
            chain: load_certs("cert_file", cert)?,
            key: load_key("key_file", key)?,
        })
    }

    /// A server config that demands a client certificate chaining to the
    /// cluster CA: anything else fails the handshake.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            self.roots.clone(),
            provider(),
        )
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// A client config that presents this node's certificate and trusts only
    /// the cluster CA (the server's certificate must name the address dialled).
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// The acceptor for a node's cluster listener.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        Ok(TlsAcceptor::from(self.server_config()?))
    }

    /// The connector for dialling other nodes.
    pub fn connector(&self) -> Result<TlsConnector, TlsError> {
        Ok(TlsConnector::from(self.client_config()?))
    }
}

/// The name a peer's certificate must carry when it is dialled at `host`
/// (an IP address, as rings hold, or a DNS name).
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(h.to_string()).map_err(|e| TlsError::Rustls(format!("{host}: {e}")))
}

/// A server config presenting one certificate with no client authentication
/// (a public listener such as the proxy's `cert_file`/`key_file`).
pub fn public_server_config(
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = load_certs("cert_file", cert)?;
    let key = load_key("key_file", key)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn node(dir: &Path, ca: &Path, name: &str) -> ClusterTls {
        let out = dir.join(name);
        issue::issue_node(ca, &out, name, &["127.0.0.1".parse().unwrap()], &[]).unwrap();
        ClusterTlsConfig::in_dir(&out).load().unwrap()
    }

    /// Runs one handshake + echo between a server and a client config.
    async fn exchange(
        server: Arc<rustls::ServerConfig>,
        client: Arc<rustls::ClientConfig>,
    ) -> (Result<(), String>, Result<(), String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let srv = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let mut t = tokio_rustls::TlsAcceptor::from(server)
                .accept(s)
                .await
                .map_err(|e| e.to_string())?;
            let mut b = [0u8; 4];
            t.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            t.write_all(&b).await.map_err(|e| e.to_string())?;
            t.flush().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(())
        });
        let cli = async {
            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut t = tokio_rustls::TlsConnector::from(client)
                .connect(server_name("127.0.0.1").unwrap(), s)
                .await
                .map_err(|e| e.to_string())?;
            t.write_all(b"ping").await.map_err(|e| e.to_string())?;
            t.flush().await.map_err(|e| e.to_string())?;
            let mut b = [0u8; 4];
            t.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(())
        }
        .await;
        (srv.await.unwrap(), cli)
    }

    #[tokio::test]
    async fn members_talk_strangers_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let ca = d.path().join("ca");
        let other_ca = d.path().join("other-ca");
        issue::create_ca(&ca, "test cluster").unwrap();
        issue::create_ca(&other_ca, "another cluster").unwrap();
        let a = node(d.path(), &ca, "a");
        let b = node(d.path(), &ca, "b");
        let rogue = node(d.path(), &other_ca, "rogue");

        let (s, c) = exchange(a.server_config().unwrap(), b.client_config().unwrap()).await;
        assert!(s.is_ok() && c.is_ok(), "{s:?} {c:?}");

        // A client from another CA: the server refuses it in the handshake.
        let (s, _) = exchange(a.server_config().unwrap(), rogue.client_config().unwrap()).await;
        assert!(s.is_err(), "a certificate of another CA was accepted");

        // A client without any certificate.
        let roots = a.roots.clone();
        let anon = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let (s, _) = exchange(a.server_config().unwrap(), anon).await;
        let e = s.unwrap_err();
        assert!(e.to_lowercase().contains("certificate"), "{e}");

        // A server from another CA: the member client refuses it.
        let (_, c) = exchange(rogue.server_config().unwrap(), a.client_config().unwrap()).await;
        assert!(c.is_err());
    }
}
