//! Making the cluster CA and node certificates (rcgen), as PEM files.
//!
//! A CA directory holds `ca.pem` and `ca.key` (keep that key off the storage
//! nodes once they have their certificates). A node directory holds `ca.pem`
//! (a copy), `node.pem` and `node.key`. Keys are ECDSA P-256 and written with
//! mode 0600; node certificates carry the node's IP addresses and DNS names
//! as subject alternative names (a peer checks the address it dialled) and
//! may serve and dial (server and client authentication).

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use super::TlsError;

/// The CA certificate's file name (in CA and node directories alike).
pub const CA_CERT: &str = "ca.pem";
/// The CA key's file name (CA directory only).
pub const CA_KEY: &str = "ca.key";
/// A node's certificate.
pub const NODE_CERT: &str = "node.pem";
/// A node's key.
pub const NODE_KEY: &str = "node.key";
/// The cluster's backend key (CA and node directories alike).
pub use crate::backend_auth::key::KEY_FILE as BACKEND_KEY;

/// How long a CA is valid.
const CA_YEARS: u64 = 20;
/// How long a node certificate is valid (reissue before then).
const NODE_YEARS: u64 = 10;
const YEAR: u64 = 365 * 24 * 3600;

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError::Issue(e.to_string())
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Issue(format!("{}: {e}", path.display()))
}

/// Validity from a day ago (clocks of a cluster differ a little) for `years`.
fn validity(p: &mut CertificateParams, years: u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    p.not_before = epoch + Duration::from_secs(now.saturating_sub(86_400));
    p.not_after = epoch + Duration::from_secs(now + years * YEAR);
}

/// Writes `text` to `path` (created new or replaced), private files 0600.
fn write(path: &Path, text: &str, private: bool) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(|e| io_err(&tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// Creates the cluster's backend key in a CA directory unless it has one
/// ([`crate::backend_auth`]); [`issue_node`] hands it to each node.
pub fn create_backend_key(ca_dir: &Path) -> Result<(), TlsError> {
    crate::backend_auth::BackendKey::create(&ca_dir.join(BACKEND_KEY))
        .map(|_| ())
        .map_err(err)
}

/// Creates a new cluster CA in `dir` (`ca.pem`, `ca.key`, and the backend
/// key `backend.key`). Refuses to replace an existing one: every node
/// certificate depends on it.
pub fn create_ca(dir: &Path, name: &str) -> Result<(), TlsError> {
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if cert_path.exists() || key_path.exists() {
        return Err(io_err(&cert_path, "a CA already exists here"));
    }
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "swirl");
    dn.push(DnType::CommonName, format!("swirl cluster CA {name}"));
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut p, CA_YEARS);
    let key = KeyPair::generate().map_err(err)?;
    let cert = p.self_signed(&key).map_err(err)?;
    write(&key_path, &key.serialize_pem(), true)?;
    write(&cert_path, &cert.pem(), false)?;
    create_backend_key(dir)
}

/// Issues a node certificate from the CA in `ca_dir` into `out_dir`
/// (`ca.pem`, `node.pem`, `node.key`, and a copy of the CA directory's
/// `backend.key` when it has one), for the node's `ips` and `dns` names.
pub fn issue_node(
    ca_dir: &Path,
    out_dir: &Path,
    name: &str,
    ips: &[IpAddr],
    dns: &[String],
) -> Result<(), TlsError> {
    if ips.is_empty() && dns.is_empty() {
        return Err(err(
            "a node certificate needs at least one IP address or DNS name",
        ));
    }
    let ca_pem = std::fs::read_to_string(ca_dir.join(CA_CERT))
        .map_err(|e| io_err(&ca_dir.join(CA_CERT), e))?;
    let ca_key_pem = std::fs::read_to_string(ca_dir.join(CA_KEY))
        .map_err(|e| io_err(&ca_dir.join(CA_KEY), e))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(err)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(err)?;
    let mut p = CertificateParams::new(dns.to_vec()).map_err(err)?;
    for ip in ips {
        p.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "swirl");
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    validity(&mut p, NODE_YEARS);
    let key = KeyPair::generate().map_err(err)?;
    let cert = p.signed_by(&key, &issuer).map_err(err)?;
    std::fs::create_dir_all(out_dir).map_err(|e| io_err(out_dir, e))?;
    write(&out_dir.join(NODE_KEY), &key.serialize_pem(), true)?;
    write(&out_dir.join(NODE_CERT), &cert.pem(), false)?;
    write(&out_dir.join(CA_CERT), &ca_pem, false)?;
    let backend_key = ca_dir.join(BACKEND_KEY);
    if backend_key.exists() {
        let text = std::fs::read_to_string(&backend_key).map_err(|e| io_err(&backend_key, e))?;
        write(&out_dir.join(BACKEND_KEY), &text, true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_not_replaced_and_keys_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        create_ca(d.path(), "t").unwrap();
        assert!(create_ca(d.path(), "t").is_err());
        let mode = std::fs::metadata(d.path().join(CA_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let out = d.path().join("n1");
        assert!(issue_node(d.path(), &out, "n1", &[], &[]).is_err());
        issue_node(
            d.path(),
            &out,
            "n1",
            &["192.0.2.1".parse().unwrap()],
            &["n1.example".into()],
        )
        .unwrap();
        for f in [CA_CERT, NODE_CERT, NODE_KEY, BACKEND_KEY] {
            assert!(out.join(f).is_file(), "{f}");
        }
        assert_eq!(
            std::fs::read(out.join(BACKEND_KEY)).unwrap(),
            std::fs::read(d.path().join(BACKEND_KEY)).unwrap()
        );
        let mode = std::fs::metadata(out.join(BACKEND_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!out.join(CA_KEY).exists());
    }
}
