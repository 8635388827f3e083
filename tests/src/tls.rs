//! TLS for tests: a throwaway PKI ([`TestPki`]: a CA and certificates made with rcgen, written as
//! PEM files), the config lines that make `redis-server` and `redis-sentinel` serve TLS only
//! ([`ServerTls`]), and the TLS side of the harness' own connections ([`TlsClient`]).
//!
//! Certificates carry both the server and the client purpose, so that one certificate serves a
//! node as server and as replication client, and carry the IP SAN 127.0.0.1, the address
//! Sentinel reports for every process of a group.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::{HarnessError, Result};

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// The certificate's DER bytes, to compare with what a peer presented.
    pub fn der(&self) -> Result<Vec<u8>> {
        let cert = CertificateDer::from_pem_file(&self.cert)
            .map_err(|e| HarnessError::Usage(format!("{}: {e}", self.cert.display())))?;
        Ok(cert.to_vec())
    }
}

/// A CA in a temporary directory that issues certificates as PEM files there. Dropping it
/// removes the files.
pub struct TestPki {
    dir: TempDir,
    name: String,
    issuer: Issuer<'static, KeyPair>,
    ca: PathBuf,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki")
            .field("name", &self.name)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

fn rcgen_error(what: &str, e: rcgen::Error) -> HarnessError {
    HarnessError::Usage(format!("{what}: {e}"))
}

impl TestPki {
    /// Makes a CA named `<name> CA`.
    pub fn new(name: &str) -> Result<TestPki> {
        let dir = tempfile::Builder::new()
            .prefix("ellison-e2e-pki-")
            .tempdir()
            .map_err(|e| HarnessError::io("create pki tempdir", e))?;
        let mut params =
            CertificateParams::new(Vec::new()).map_err(|e| rcgen_error("ca params", e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        let key = KeyPair::generate().map_err(|e| rcgen_error("ca key", e))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| rcgen_error("ca certificate", e))?;
        let ca = dir.path().join(format!("{name}-ca.pem"));
        write(&ca, &cert.pem())?;
        Ok(TestPki {
            dir,
            name: name.to_owned(),
            issuer: Issuer::new(params, key),
            ca,
        })
    }

    /// The CA certificate (PEM).
    pub fn ca_file(&self) -> &Path {
        &self.ca
    }

    /// A new certificate `<file>.pem` / `<file>-key.pem` for `sans` (IP addresses or DNS
    /// names), for servers and clients alike. Issuing again under the same `file` replaces the
    /// files (renamed into place, so a reader sees the old or the new one whole).
    pub fn issue(&self, file: &str, sans: &[&str]) -> Result<CertFiles> {
        let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(sans).map_err(|e| rcgen_error(file, e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{} {file}", self.name));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().map_err(|e| rcgen_error(file, e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| rcgen_error(file, e))?;
        let files = CertFiles {
            cert: self.dir.path().join(format!("{file}.pem")),
            key: self.dir.path().join(format!("{file}-key.pem")),
        };
        replace(&files.cert, &cert.pem())?;
        replace(&files.key, &key.serialize_pem())?;
        Ok(files)
    }

    /// A file in the PKI's directory, for tests that need a broken one.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A harness client that trusts this CA and presents `cert` if given.
    pub fn client(&self, cert: Option<&CertFiles>) -> Result<TlsClient> {
        TlsClient::new(&self.ca, cert)
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
}

fn replace(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    write(&tmp, text)?;
    std::fs::rename(&tmp, path)
        .map_err(|e| HarnessError::io(format!("rename to {}", path.display()), e))
}

/// How `redis-server` and `redis-sentinel` processes serve TLS: the same certificate for all
/// (as server, and as client towards each other), `port 0` and the harness' port as
/// `tls-port`, and `tls-replication yes`.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub files: CertFiles,
    pub ca: PathBuf,
    /// `tls-auth-clients`: clients (Ellison included) must present a certificate.
    pub auth_clients: bool,
}

impl ServerTls {
    /// How the harness connects to such a process: trusting the CA, and presenting the same
    /// certificate as a client.
    pub fn harness_client(&self) -> Result<TlsClient> {
        TlsClient::new(&self.ca, Some(&self.files))
    }

    /// The config lines that replace `port <port>`.
    pub(crate) fn conf_lines(&self, port: u16) -> String {
        format!(
            "port 0\n\
             tls-port {port}\n\
             tls-cert-file \"{cert}\"\n\
             tls-key-file \"{key}\"\n\
             tls-ca-cert-file \"{ca}\"\n\
             tls-auth-clients {auth}\n\
             tls-replication yes\n",
            cert = self.files.cert.display(),
            key = self.files.key.display(),
            ca = self.ca.display(),
            auth = if self.auth_clients { "yes" } else { "no" },
        )
    }
}

/// The TLS configuration of a harness connection: trusts one CA, verifies the IP address it
/// connects to, and presents a client certificate if it has one.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsClient")
    }
}

impl TlsClient {
    /// Trusts the CA certificates of `ca`; presents `cert` if given.
    pub fn new(ca: &Path, cert: Option<&CertFiles>) -> Result<TlsClient> {
        let bad = |what: &Path, e: String| HarnessError::Usage(format!("{}: {e}", what.display()));
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(ca, e.to_string()))? {
            roots
                .add(cert.map_err(|e| bad(ca, e.to_string()))?)
                .map_err(|e| bad(ca, e.to_string()))?;
        }
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| bad(ca, e.to_string()))?
                .with_root_certificates(roots);
        let config = match cert {
            Some(files) => {
                let chain = CertificateDer::pem_file_iter(&files.cert)
                    .and_then(Iterator::collect::<std::result::Result<Vec<_>, _>>)
                    .map_err(|e| bad(&files.cert, e.to_string()))?;
                let key = PrivateKeyDer::from_pem_file(&files.key)
                    .map_err(|e| bad(&files.key, e.to_string()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad(&files.key, e.to_string()))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Runs the handshake on `tcp`, connected to `addr`, whose IP the certificate must name.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
    }
}
