//! A small request/reply RESP connection for Sentinel queries, subscriptions and `ROLE` checks:
//! every connect, TLS handshake and reply is bounded by a timeout, and hostnames are resolved
//! anew on every connect.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{Credentials, Endpoint};
use crate::resp::{encode, scan_reply, value, Limits, ProtocolError, Value};
use crate::tls::{ClientTls, Stream};

/// Why a Sentinel or `ROLE` connection failed. Messages never include credentials.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("cannot resolve {endpoint}: {source}")]
    Resolve {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{endpoint} resolves to no address")]
    NoAddress { endpoint: String },
    #[error("connect to {addr} timed out after {timeout:?}")]
    ConnectTimeout { addr: SocketAddr, timeout: Duration },
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no reply within {0:?}")]
    ReadTimeout(Duration),
    #[error("connection closed by peer")]
    Closed,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("authentication refused: {0}")]
    Auth(String),
    #[error("unexpected reply to {command}: {detail}")]
    Unexpected {
        command: &'static str,
        detail: String,
    },
}

/// Replies from Sentinel and `ROLE` are small; anything near this is not a Sentinel.
const LIMITS: Limits = Limits {
    max_bulk_len: 1024 * 1024,
    max_array_len: 64 * 1024,
};

/// Resolves `endpoint` (a hostname is looked up anew on every call), giving up after
/// `timeout`: a resolver that does not answer must not leave its caller waiting.
pub(crate) async fn resolve(
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, ConnError> {
    let lookup = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port));
    let addrs = tokio::time::timeout(timeout, lookup)
        .await
        .map_err(|_| ConnError::Resolve {
            endpoint: endpoint.to_string(),
            source: std::io::ErrorKind::TimedOut.into(),
        })?
        .map_err(|source| ConnError::Resolve {
            endpoint: endpoint.to_string(),
            source,
        })?;
    Ok(addrs.collect())
}

/// One connection with its read buffer.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Stream,
    buf: BytesMut,
    out: BytesMut,
    read_timeout: Duration,
}

impl Conn {
    /// Resolves `endpoint` and connects to the first address that answers. With `tls`, the
    /// certificate must name the endpoint's host (unless a server name is configured).
    pub(crate) async fn connect_endpoint(
        endpoint: &Endpoint,
        connect_timeout: Duration,
        read_timeout: Duration,
        auth: Option<&Credentials>,
        tls: Option<&ClientTls>,
    ) -> Result<Conn, ConnError> {
        let addrs = resolve(endpoint, connect_timeout).await?;
        let mut last = ConnError::NoAddress {
            endpoint: endpoint.to_string(),
        };
        let tls = tls.map(|tls| (tls, endpoint.host.as_str()));
        for addr in addrs {
            match Conn::connect_to(addr, connect_timeout, read_timeout, auth, tls).await {
                Ok(conn) => return Ok(conn),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects to `addr` and authenticates if credentials are given. With `tls`, the
    /// certificate must name the IP address (unless a server name is configured).
    pub(crate) async fn connect(
        addr: SocketAddr,
        connect_timeout: Duration,
        read_timeout: Duration,
        auth: Option<&Credentials>,
        tls: Option<&ClientTls>,
    ) -> Result<Conn, ConnError> {
        let host = addr.ip().to_string();
        let tls = tls.map(|tls| (tls, host.as_str()));
        Conn::connect_to(addr, connect_timeout, read_timeout, auth, tls).await
    }

    /// Connects to `addr`, with TLS for `host` if given, and authenticates.
    async fn connect_to(
        addr: SocketAddr,
        connect_timeout: Duration,
        read_timeout: Duration,
        auth: Option<&Credentials>,
        tls: Option<(&ClientTls, &str)>,
    ) -> Result<Conn, ConnError> {
        let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnError::ConnectTimeout {
                addr,
                timeout: connect_timeout,
            })?
            .map_err(|source| ConnError::Connect { addr, source })?;
        stream.set_nodelay(true)?;
        let stream = match tls {
            None => Stream::Plain(stream),
            Some((tls, host)) => tls
                .connect(stream, host, connect_timeout)
                .await
                .map_err(|source| ConnError::Tls { addr, source })?,
        };
        let mut conn = Conn::from_stream(stream, read_timeout);
        if let Some(auth) = auth {
            conn.authenticate(auth).await?;
        }
        Ok(conn)
    }

    /// Wraps a connection that is already open (and set up as its user needs).
    pub(crate) fn from_stream(stream: Stream, read_timeout: Duration) -> Conn {
        Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            out: BytesMut::new(),
            read_timeout,
        }
    }

    /// Sends `AUTH` with these credentials; an error reply is [`ConnError::Auth`].
    pub(crate) async fn authenticate(&mut self, auth: &Credentials) -> Result<(), ConnError> {
        let password = auth.password.expose().as_bytes();
        let reply = match &auth.username {
            Some(user) => self.call(&[b"AUTH", user.as_bytes(), password]).await?,
            None => self.call(&[b"AUTH", password]).await?,
        };
        match reply {
            // The server's message (`WRONGPASS ...`) names no secret.
            Value::Error(e) => Err(ConnError::Auth(e)),
            _ => Ok(()),
        }
    }

    /// The TCP socket under the connection, for socket options.
    pub(crate) fn tcp(&self) -> &TcpStream {
        self.stream.tcp()
    }

    /// The connection itself, for a caller that takes it over once it is set up (the
    /// multiplexer's upstream connections). Bytes read ahead of a reply are not kept: call it
    /// only after every reply was read.
    pub(crate) fn into_stream(self) -> Stream {
        self.stream
    }

    /// Sends one command and reads its reply. Error replies are values, not errors.
    pub(crate) async fn call(&mut self, args: &[&[u8]]) -> Result<Value, ConnError> {
        self.send(args).await?;
        self.read(Some(self.read_timeout)).await
    }

    /// Sends one command without reading its reply (for pipelines and subscriptions).
    pub(crate) async fn send(&mut self, args: &[&[u8]]) -> Result<(), ConnError> {
        self.out.clear();
        encode::command(&mut self.out, args);
        let stream = &mut self.stream;
        let out = &self.out;
        // A TLS stream may hold the records after `write_all`: flush them.
        let write = async move {
            stream.write_all(out).await?;
            stream.flush().await
        };
        tokio::time::timeout(self.read_timeout, write)
            .await
            .map_err(|_| ConnError::ReadTimeout(self.read_timeout))??;
        Ok(())
    }

    /// Reads the next reply, waiting at most `timeout` (forever with `None`, for subscriptions).
    pub(crate) async fn read(&mut self, timeout: Option<Duration>) -> Result<Value, ConnError> {
        loop {
            if let Some(frame) = scan_reply(&self.buf, &LIMITS)? {
                let frame = self.buf.split_to(frame.len).freeze();
                if let Some((value, _)) = value::parse(&frame, &LIMITS)? {
                    return Ok(value);
                }
            }
            let read = self.stream.read_buf(&mut self.buf);
            let n = match timeout {
                Some(t) => tokio::time::timeout(t, read)
                    .await
                    .map_err(|_| ConnError::ReadTimeout(t))??,
                None => read.await?,
            };
            if n == 0 {
                return Err(ConnError::Closed);
            }
        }
    }
}
