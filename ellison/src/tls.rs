//! TLS on Ellison's three legs (clients to Ellison, Ellison to Redis, Ellison to Sentinels),
//! with rustls and its `ring` provider: certificates and keys loaded from PEM files into a
//! [`ServerTls`] (Ellison as the server, for clients) or a [`ClientTls`] (Ellison as the
//! client, for Redis and Sentinels), and [`Stream`], the connection type of every leg.
//!
//! Files are read when the configuration is validated, at start and on every reload, so a
//! file that is missing or does not parse is a configuration error and a reload with one keeps
//! the material in force. A [`ServerTls`] or [`ClientTls`] is immutable: a reload builds new
//! ones, which new connections use, while established connections keep theirs.
//!
//! [`Stream::Plain`] costs nothing over a bare `TcpStream` beyond the enum dispatch:
//! [`Stream::wants_flush`] is `false` without a syscall, and no buffer is added.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Which setting of a leg an error is about, so that configuration errors name the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsField {
    /// The certificate chain Ellison presents.
    Cert,
    /// Its private key.
    Key,
    /// The CA certificates that verify the peer.
    Ca,
    /// The name the server's certificate must carry.
    ServerName,
}

/// A TLS setting that cannot be used. The message names the file and says why; it never
/// quotes the content of a key file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct TlsError {
    /// The setting at fault.
    pub(crate) field: TlsField,
    /// What is wrong, with the file's path.
    pub(crate) message: String,
}

impl TlsError {
    fn new(field: TlsField, message: impl Into<String>) -> TlsError {
        TlsError {
            field,
            message: message.into(),
        }
    }
}

/// The `ring` provider: every TLS configuration of Ellison uses it, never a process default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(crypto::ring::default_provider())
}

/// What was read from the files of one setting, hashed: a reload compares it to see whether
/// the material changed although the paths did not.
#[derive(Debug, Default)]
struct Fingerprint(std::hash::DefaultHasher);

impl Fingerprint {
    fn add(&mut self, bytes: &[u8]) {
        bytes.hash(&mut self.0);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

fn read(path: &Path, file: TlsField, seen: &mut Fingerprint) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path)
        .map_err(|e| TlsError::new(file, format!("cannot read {}: {e}", path.display())))?;
    seen.add(&bytes);
    Ok(bytes)
}

/// Every certificate of a PEM file, in order; at least one.
fn certificates(
    path: &Path,
    file: TlsField,
    seen: &mut Fingerprint,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path, file, seen)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsError::new(
                file,
                format!("{}: not a PEM certificate file: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(TlsError::new(
            file,
            format!("{}: no certificate in it (expected PEM)", path.display()),
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1). Errors never quote the file.
fn private_key(path: &Path, seen: &mut Fingerprint) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path, TlsField::Key, seen)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        TlsError::new(
            TlsField::Key,
            format!(
                "{}: no private key in it (expected a PEM PKCS#8, PKCS#1 or SEC1 key)",
                path.display()
            ),
        )
    })
}

fn roots(path: &Path, seen: &mut Fingerprint) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates(path, TlsField::Ca, seen)? {
        store.add(cert).map_err(|e| {
            TlsError::new(
                TlsField::Ca,
                format!("{}: not a usable CA certificate: {e}", path.display()),
            )
        })?;
    }
    Ok(Arc::new(store))
}

/// The files of the client leg: what Ellison presents to clients, and which clients it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerFiles {
    /// Certificate chain (PEM), leaf first.
    pub(crate) cert: PathBuf,
    /// Its private key (PEM).
    pub(crate) key: PathBuf,
    /// When set, clients must present a certificate signed by one of these CAs (PEM).
    pub(crate) client_ca: Option<PathBuf>,
}

/// TLS towards clients: Ellison's certificate and key, and whether clients need certificates.
/// Cheap to clone.
#[derive(Clone)]
pub(crate) struct ServerTls {
    acceptor: TlsAcceptor,
    files: ServerFiles,
    fingerprint: u64,
}

impl ServerTls {
    /// Reads the files and builds the server configuration (TLS 1.2 and 1.3).
    pub(crate) fn load(files: &ServerFiles) -> Result<ServerTls, TlsError> {
        let mut seen = Fingerprint::default();
        let chain = certificates(&files.cert, TlsField::Cert, &mut seen)?;
        let key = private_key(&files.key, &mut seen)?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(TlsField::Cert, e.to_string()))?;
        let builder = match &files.client_ca {
            Some(ca) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots(ca, &mut seen)?, provider())
                        .build()
                        .map_err(|e| {
                            TlsError::new(TlsField::Ca, format!("{}: {e}", ca.display()))
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| {
            TlsError::new(
                TlsField::Key,
                format!(
                    "{} does not go with {}: {e}",
                    files.key.display(),
                    files.cert.display()
                ),
            )
        })?;
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            files: files.clone(),
            fingerprint: seen.finish(),
        })
    }

    /// The files it was loaded from.
    pub(crate) fn files(&self) -> &ServerFiles {
        &self.files
    }

    /// Runs the server side of the handshake on an accepted connection, within `timeout`.
    pub(crate) async fn accept(&self, tcp: TcpStream, timeout: Duration) -> io::Result<Stream> {
        match tokio::time::timeout(timeout, self.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Ok(Stream::Server(Box::new(tls))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no TLS handshake within {timeout:?}"),
            )),
        }
    }
}

impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files && self.fingerprint == other.fingerprint
    }
}

impl Eq for ServerTls {}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// The settings of a leg where Ellison is the TLS client (Redis or Sentinels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientSettings {
    /// CA certificates (PEM) that verify the server; required while `verify` is on.
    pub(crate) ca: Option<PathBuf>,
    /// Certificate chain (PEM) Ellison presents, for servers that require client certificates.
    pub(crate) cert: Option<PathBuf>,
    /// Its private key (PEM); given exactly when `cert` is.
    pub(crate) key: Option<PathBuf>,
    /// The name the server's certificate must carry; by default the host Ellison connects to
    /// (an IP address for what Sentinel reports, so such certificates need an IP SAN).
    pub(crate) server_name: Option<String>,
    /// Verify the server's certificate (chain to `ca`, name, validity). Off only for tests.
    pub(crate) verify: bool,
}

/// TLS towards Redis or Sentinels. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ClientTls {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
    settings: ClientSettings,
    fingerprint: u64,
}

impl ClientTls {
    /// Reads the files and builds the client configuration (TLS 1.2 and 1.3).
    pub(crate) fn load(settings: &ClientSettings) -> Result<ClientTls, TlsError> {
        let mut seen = Fingerprint::default();
        let server_name = match &settings.server_name {
            Some(name) => {
                Some(parse_server_name(name).map_err(|e| TlsError::new(TlsField::ServerName, e))?)
            }
            None => None,
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(TlsField::Ca, e.to_string()))?;
        let builder = match (&settings.ca, settings.verify) {
            (Some(ca), true) => builder.with_root_certificates(roots(ca, &mut seen)?),
            (ca, _) => {
                if let Some(ca) = ca {
                    // Still read and checked, so that turning verification on later works.
                    roots(ca, &mut seen)?;
                }
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            }
        };
        let config = match (&settings.cert, &settings.key) {
            (Some(cert), Some(key)) => {
                let chain = certificates(cert, TlsField::Cert, &mut seen)?;
                let key_der = private_key(key, &mut seen)?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    TlsError::new(
                        TlsField::Key,
                        format!("{} does not go with {}: {e}", key.display(), cert.display()),
                    )
                })?
            }
            (Some(_), None) => {
                return Err(TlsError::new(
                    TlsField::Key,
                    "is required with a client certificate",
                ))
            }
            (None, Some(_)) => {
                return Err(TlsError::new(
                    TlsField::Cert,
                    "is required with a client key",
                ))
            }
            (None, None) => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
            settings: settings.clone(),
            fingerprint: seen.finish(),
        })
    }

    /// The settings it was loaded from.
    pub(crate) fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// Runs the client side of the handshake on a connection to `host` (the name or IP
    /// address Ellison connected to, which the certificate must match unless a server name is
    /// configured), within `timeout`.
    pub(crate) async fn connect(
        &self,
        tcp: TcpStream,
        host: &str,
        timeout: Duration,
    ) -> io::Result<Stream> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => parse_server_name(host)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        };
        match tokio::time::timeout(timeout, self.connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => Ok(Stream::Client(Box::new(tls))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no TLS handshake within {timeout:?}"),
            )),
        }
    }
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings && self.fingerprint == other.fingerprint
    }
}

impl Eq for ClientTls {}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A DNS name or an IP address, as a certificate may name its server.
pub(crate) fn parse_server_name(text: &str) -> Result<ServerName<'static>, String> {
    // `[::1]` as written in an endpoint is the address `::1`.
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    ServerName::try_from(bare.to_owned())
        .map_err(|_| format!("{text:?} is neither a DNS name nor an IP address"))
}

/// `redis_tls_verify = false`: any certificate is accepted, but the handshake's signatures
/// are still checked, so the peer holds the key of the certificate it showed.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A connection on any leg: plain TCP, or TLS with Ellison as the client or the server.
/// TLS streams are boxed so that a plain one stays small.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    /// Ellison is the TLS client (to Redis or a Sentinel).
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Ellison is the TLS server (to a client).
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP connection underneath, for socket options (`TCP_NODELAY`, keepalive,
    /// `SO_LINGER`). Never read or write it directly.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Client(tls) => tls.get_ref().0,
            Stream::Server(tls) => tls.get_ref().0,
        }
    }

    /// True when TLS records are waiting to be written: a TLS write can accept plaintext
    /// before the socket takes the records, so whoever writes must also flush while this
    /// holds. Always false for plain TCP, at no cost.
    pub(crate) fn wants_flush(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Client(tls) => tls.get_ref().1.wants_write(),
            Stream::Server(tls) => tls.get_ref().1.wants_write(),
        }
    }

    /// Ends the sending direction and keeps reading: a TCP half-close, or for TLS a
    /// `close_notify` alert (queued: the next flush sends it).
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => socket2::SockRef::from(&*tcp).shutdown(std::net::Shutdown::Write),
            Stream::Client(tls) => {
                tls.get_mut().1.send_close_notify();
                Ok(())
            }
            Stream::Server(tls) => {
                tls.get_mut().1.send_close_notify();
                Ok(())
            }
        }
    }

    /// Before dropping a TLS stream: sends what is still buffered and a `close_notify`,
    /// within `timeout`. Plain TCP has nothing buffered, and this does nothing.
    pub(crate) async fn close(&mut self, timeout: Duration) {
        if let Stream::Plain(_) = self {
            return;
        }
        let _ = tokio::time::timeout(timeout, tokio::io::AsyncWriteExt::shutdown(self)).await;
    }

    /// True for a TLS stream.
    pub(crate) fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Client(s) => s.is_write_vectored(),
            Stream::Server(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// A CA in a directory, issuing certificates as PEM files there.
    pub(crate) struct Pki {
        dir: tempfile::TempDir,
        issuer: Issuer<'static, KeyPair>,
        pub(crate) ca: PathBuf,
    }

    impl Pki {
        pub(crate) fn new(name: &str) -> Pki {
            let dir = tempfile::tempdir().unwrap();
            let mut params = CertificateParams::new(Vec::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(DnType::CommonName, format!("{name} CA"));
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            let ca = dir.path().join(format!("{name}-ca.pem"));
            std::fs::write(&ca, cert.pem()).unwrap();
            Pki {
                dir,
                issuer: Issuer::new(params, key),
                ca,
            }
        }

        /// A certificate for `sans`, usable by servers and clients: (cert, key) paths.
        pub(crate) fn issue(&self, name: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
            let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            let (cert_path, key_path) = (
                self.path(&format!("{name}.pem")),
                self.path(&format!("{name}-key.pem")),
            );
            std::fs::write(&cert_path, cert.pem()).unwrap();
            std::fs::write(&key_path, key.serialize_pem()).unwrap();
            (cert_path, key_path)
        }

        pub(crate) fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
    }

    fn client(pki: &Pki, cert: Option<&(PathBuf, PathBuf)>) -> ClientSettings {
        ClientSettings {
            ca: Some(pki.ca.clone()),
            cert: cert.map(|c| c.0.clone()),
            key: cert.map(|c| c.1.clone()),
            server_name: None,
            verify: true,
        }
    }

    /// Accepts one connection with `server`, echoes one line back, and returns how the
    /// server side went; connects with `client` to `host` and returns what it read back.
    async fn exchange(
        server: &ServerTls,
        client: &ClientTls,
        host: &str,
    ) -> (io::Result<()>, io::Result<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = server.clone();
        let serving = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let mut stream = server.accept(tcp, TIMEOUT).await?;
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await?;
            stream.write_all(&buf).await?;
            stream.close(TIMEOUT).await;
            Ok(())
        });
        let talked = async {
            let tcp = TcpStream::connect(addr).await?;
            let mut stream = client.connect(tcp, host, TIMEOUT).await?;
            stream.write_all(b"ping\n").await?;
            stream.flush().await?;
            let mut out = Vec::new();
            stream.read_to_end(&mut out).await?;
            Ok(out)
        }
        .await;
        (serving.await.unwrap(), talked)
    }

    #[tokio::test]
    async fn mutual_tls_over_loopback() {
        let pki = Pki::new("test");
        let server_cert = pki.issue("server", &["127.0.0.1", "redis.test"]);
        let client_cert = pki.issue("ellison", &[]);
        let server = ServerTls::load(&ServerFiles {
            cert: server_cert.0.clone(),
            key: server_cert.1.clone(),
            client_ca: Some(pki.ca.clone()),
        })
        .unwrap();
        let with_cert = ClientTls::load(&client(&pki, Some(&client_cert))).unwrap();
        let (served, read) = exchange(&server, &with_cert, "127.0.0.1").await;
        served.unwrap();
        assert_eq!(read.unwrap(), b"ping\n");

        // The certificate names the DNS name too; not some other name.
        let (served, read) = exchange(&server, &with_cert, "redis.test").await;
        served.unwrap();
        assert_eq!(read.unwrap(), b"ping\n");
        let (_, read) = exchange(&server, &with_cert, "other.test").await;
        let err = read.unwrap_err().to_string();
        assert!(err.contains("not valid for name \"other.test\""), "{err}");

        // A client without a certificate is refused by the server.
        let without = ClientTls::load(&client(&pki, None)).unwrap();
        let (served, read) = exchange(&server, &without, "127.0.0.1").await;
        let err = served.unwrap_err().to_string();
        assert!(err.contains("certificate"), "{err}");
        assert!(read.is_err());
    }

    #[tokio::test]
    async fn a_certificate_from_another_ca_is_refused_unless_verification_is_off() {
        let pki = Pki::new("right");
        let other = Pki::new("other");
        let cert = other.issue("server", &["127.0.0.1"]);
        let server = ServerTls::load(&ServerFiles {
            cert: cert.0,
            key: cert.1,
            client_ca: None,
        })
        .unwrap();
        let verifying = ClientTls::load(&client(&pki, None)).unwrap();
        let (_, read) = exchange(&server, &verifying, "127.0.0.1").await;
        let err = read.unwrap_err().to_string();
        assert!(err.contains("UnknownIssuer"), "{err}");

        let trusting = ClientTls::load(&ClientSettings {
            verify: false,
            ..client(&pki, None)
        })
        .unwrap();
        let (served, read) = exchange(&server, &trusting, "127.0.0.1").await;
        served.unwrap();
        assert_eq!(read.unwrap(), b"ping\n");

        // A configured server name replaces the host.
        let pinned = ClientTls::load(&ClientSettings {
            server_name: Some("127.0.0.1".into()),
            ..client(&other, None)
        })
        .unwrap();
        let (served, read) = exchange(&server, &pinned, "localhost").await;
        served.unwrap();
        assert_eq!(read.unwrap(), b"ping\n");
    }

    #[test]
    fn bad_files_name_their_field_and_never_their_content() {
        let pki = Pki::new("test");
        let (cert, key) = pki.issue("server", &["127.0.0.1"]);
        let load = |cert: &Path, key: &Path, ca: Option<&Path>| {
            ServerTls::load(&ServerFiles {
                cert: cert.to_owned(),
                key: key.to_owned(),
                client_ca: ca.map(Path::to_owned),
            })
            .unwrap_err()
        };
        let missing = pki.path("missing.pem");
        let e = load(&missing, &key, None);
        assert_eq!(e.field, TlsField::Cert);
        assert!(e.message.contains("missing.pem"), "{}", e.message);

        let garbage = pki.path("garbage.pem");
        std::fs::write(&garbage, "SECRET-MATERIAL not a pem file\n").unwrap();
        let e = load(&cert, &garbage, None);
        assert_eq!(e.field, TlsField::Key);
        assert!(!e.message.contains("SECRET-MATERIAL"), "{}", e.message);
        let e = load(&garbage, &key, None);
        assert_eq!(e.field, TlsField::Cert);
        let e = load(&cert, &key, Some(&garbage));
        assert_eq!(e.field, TlsField::Ca);

        // A key that is not the certificate's.
        let (_, other_key) = pki.issue("other", &["127.0.0.1"]);
        let e = load(&cert, &other_key, None);
        assert_eq!(e.field, TlsField::Key);

        let e = ClientTls::load(&ClientSettings {
            server_name: Some("not a name".into()),
            ..client(&pki, None)
        })
        .unwrap_err();
        assert_eq!(e.field, TlsField::ServerName);
    }

    #[test]
    fn a_rewritten_file_is_a_change() {
        let pki = Pki::new("test");
        let (cert, key) = pki.issue("server", &["127.0.0.1"]);
        let files = ServerFiles {
            cert: cert.clone(),
            key,
            client_ca: None,
        };
        let first = ServerTls::load(&files).unwrap();
        assert_eq!(first, ServerTls::load(&files).unwrap());
        // Same paths, new certificate and key.
        let (new_cert, new_key) = pki.issue("server2", &["127.0.0.1"]);
        std::fs::rename(new_cert, &cert).unwrap();
        std::fs::rename(new_key, &files.key).unwrap();
        assert_ne!(first, ServerTls::load(&files).unwrap());
        assert!(!format!("{first:?}").contains("PRIVATE KEY"));
    }

    #[tokio::test]
    async fn a_plain_stream_never_wants_a_flush() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let stream = Stream::Plain(tcp);
        assert!(!stream.wants_flush());
        assert!(!stream.is_tls());
        assert_eq!(
            stream.tcp().peer_addr().unwrap(),
            listener.local_addr().unwrap()
        );
    }
}
