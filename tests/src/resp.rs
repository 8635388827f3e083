//! A small RESP2/RESP3 client with a deadline on every round trip, for talking to Redis and Sentinel from tests.
//!
//! The harness deliberately does not use a full client library: tests need to
//! see replies exactly as sent (including error replies and RESP3 types), and
//! every call must be bounded in time because nodes get frozen with SIGSTOP.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use crate::error::{HarnessError, Result};
use crate::tls::TlsClient;

/// A plain or TLS connection.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

/// One decoded RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR ...` (the text without the leading `-`).
    Error(String),
    /// `:42`
    Int(i64),
    /// `$3\r\nfoo` or RESP3 verbatim `=`.
    Bulk(Vec<u8>),
    /// `*N` or RESP3 set `~N` / push `>N`.
    Array(Vec<Value>),
    /// RESP3 map `%N`, as key/value pairs in wire order.
    Map(Vec<(Value, Value)>),
    /// `$-1`, `*-1` or RESP3 `_`.
    Nil,
    /// RESP3 `#t` / `#f`.
    Bool(bool),
    /// RESP3 double `,` or big number `(`, kept as text.
    Number(String),
}

impl Value {
    /// The value as text, for simple strings, bulk strings, integers and numbers.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Simple(s) | Value::Number(s) => Some(s.clone()),
            Value::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// The elements of an array (or set/push).
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// A flat `[k1, v1, k2, v2, ...]` array (as `SENTINEL MASTER` returns in
    /// RESP2) or a RESP3 map, as a map of texts. Non-text entries are skipped.
    pub fn as_text_map(&self) -> Option<HashMap<String, String>> {
        let pairs: Vec<(&Value, &Value)> = match self {
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|c| match c {
                    [k, v] => Some((k, v)),
                    _ => None,
                })
                .collect(),
            Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
            _ => return None,
        };
        Some(
            pairs
                .into_iter()
                .filter_map(|(k, v)| Some((k.as_text()?, v.as_text()?)))
                .collect(),
        )
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Simple(s) => write!(f, "+{s}"),
            Value::Error(s) => write!(f, "-{s}"),
            Value::Int(i) => write!(f, ":{i}"),
            Value::Bulk(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Value::Nil => f.write_str("(nil)"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => f.write_str(n),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Tries to decode one value from the start of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole value, and
/// `Ok(Some((value, consumed)))` otherwise.
pub fn parse_value(buf: &[u8]) -> std::result::Result<Option<(Value, usize)>, String> {
    let Some(line_end) = find_crlf(buf) else {
        return Ok(None);
    };
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[1..line_end]).map_err(|e| e.to_string())?;
    let after = line_end + 2;
    let int = || -> std::result::Result<i64, String> {
        line.parse::<i64>()
            .map_err(|_| format!("bad length/integer {line:?}"))
    };
    let value = match kind {
        b'+' => (Value::Simple(line.to_owned()), after),
        b'-' => (Value::Error(line.to_owned()), after),
        b':' => (Value::Int(int()?), after),
        b',' | b'(' => (Value::Number(line.to_owned()), after),
        b'_' => (Value::Nil, after),
        b'#' => (Value::Bool(line == "t"), after),
        b'$' | b'=' | b'!' => {
            let len = int()?;
            if len < 0 {
                return Ok(Some((Value::Nil, after)));
            }
            let len = usize::try_from(len).map_err(|e| e.to_string())?;
            if buf.len() < after + len + 2 {
                return Ok(None);
            }
            let body = &buf[after..after + len];
            let value = if kind == b'!' {
                Value::Error(String::from_utf8_lossy(body).into_owned())
            } else {
                Value::Bulk(body.to_vec())
            };
            (value, after + len + 2)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let len = int()?;
            if len < 0 {
                return Ok(Some((Value::Nil, after)));
            }
            let elems = usize::try_from(len).map_err(|e| e.to_string())?;
            let count = if matches!(kind, b'%' | b'|') {
                elems * 2
            } else {
                elems
            };
            let mut items = Vec::with_capacity(count.min(1024));
            let mut pos = after;
            for _ in 0..count {
                match parse_value(&buf[pos..])? {
                    Some((v, used)) => {
                        items.push(v);
                        pos += used;
                    }
                    None => return Ok(None),
                }
            }
            if kind == b'|' {
                // An attribute describes the value that follows it; tests do
                // not need it, so return that value instead.
                return Ok(parse_value(&buf[pos..])?.map(|(v, used)| (v, pos + used)));
            }
            let value = if kind == b'%' {
                let mut pairs = Vec::with_capacity(elems);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Value::Map(pairs)
            } else {
                Value::Array(items)
            };
            (value, pos)
        }
        other => return Err(format!("unknown RESP type byte {:?}", other as char)),
    };
    Ok(Some(value))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Optional credentials sent with `AUTH` right after connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// ACL user name; `None` sends the one-argument `AUTH <password>`.
    pub user: Option<String>,
    /// The password.
    pub password: String,
}

impl Auth {
    /// `AUTH <password>` (the `default` user or `requirepass`).
    pub fn password(password: impl Into<String>) -> Self {
        Self {
            user: None,
            password: password.into(),
        }
    }

    /// `AUTH <user> <password>` (an ACL user).
    pub fn user(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: Some(user.into()),
            password: password.into(),
        }
    }
}

/// One connection to a Redis or Sentinel, every round trip bounded by `timeout`.
#[derive(Debug)]
pub struct RespClient {
    addr: SocketAddr,
    stream: Box<dyn Io>,
    /// With TLS: the certificate the server presented (DER).
    peer_certificate: Option<Vec<u8>>,
    buf: Vec<u8>,
    timeout: Duration,
}

impl RespClient {
    /// Connects within `timeout`; later round trips use the same bound.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Self> {
        Self::connect_tls(addr, None, timeout).await
    }

    /// Connects within `timeout`, with TLS (handshake included in the bound) if `tls` is
    /// given; later round trips use the same bound.
    pub async fn connect_tls(
        addr: SocketAddr,
        tls: Option<&TlsClient>,
        timeout: Duration,
    ) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        let stream = match timeout_at(deadline, crate::netns::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(HarnessError::io(format!("connect to {addr}"), e)),
            Err(_) => {
                return Err(HarnessError::ReplyTimeout {
                    addr,
                    command: "connect".into(),
                    waited: timeout,
                })
            }
        };
        // Best effort: small commands should not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let (stream, peer_certificate): (Box<dyn Io>, _) = match tls {
            None => (Box::new(stream), None),
            Some(tls) => match timeout_at(deadline, tls.handshake(stream, addr)).await {
                Ok(Ok(stream)) => {
                    let cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|c| c.to_vec());
                    (Box::new(stream), cert)
                }
                Ok(Err(e)) => {
                    return Err(HarnessError::io(format!("TLS handshake with {addr}"), e))
                }
                Err(_) => {
                    return Err(HarnessError::ReplyTimeout {
                        addr,
                        command: "TLS handshake".into(),
                        waited: timeout,
                    })
                }
            },
        };
        Ok(Self {
            addr,
            stream,
            peer_certificate,
            buf: Vec::new(),
            timeout,
        })
    }

    /// Connects and authenticates if `auth` is given.
    pub async fn connect_auth(
        addr: SocketAddr,
        auth: Option<&Auth>,
        timeout: Duration,
    ) -> Result<Self> {
        Self::connect_with(addr, auth, None, timeout).await
    }

    /// Connects (with TLS if `tls` is given) and authenticates if `auth` is given.
    pub async fn connect_with(
        addr: SocketAddr,
        auth: Option<&Auth>,
        tls: Option<&TlsClient>,
        timeout: Duration,
    ) -> Result<Self> {
        let mut client = Self::connect_tls(addr, tls, timeout).await?;
        if let Some(auth) = auth {
            let mut args = vec!["AUTH"];
            if let Some(user) = &auth.user {
                args.push(user);
            }
            args.push(&auth.password);
            client.cmd(&args).await?;
        }
        Ok(client)
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// With TLS, the certificate the server presented (DER).
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_certificate.as_deref()
    }

    /// Sends one command and returns its reply; an error reply becomes
    /// [`HarnessError::ErrorReply`].
    pub async fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value> {
        match self.cmd_raw_reply(args).await? {
            Value::Error(message) => Err(HarnessError::ErrorReply {
                addr: self.addr,
                command: describe(args),
                message,
            }),
            v => Ok(v),
        }
    }

    /// Sends one command and returns its reply as is, error replies included.
    pub async fn cmd_raw_reply<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value> {
        let what = describe(args);
        self.send_bytes(&encode_command(args), &what).await?;
        self.read_value(&what).await
    }

    /// Writes raw bytes (e.g. a pipeline or a malformed frame).
    pub async fn send_bytes(&mut self, bytes: &[u8], what: &str) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        let stream = &mut self.stream;
        // A TLS stream may keep records after `write_all` until flushed.
        let write = async move {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match timeout_at(deadline, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(HarnessError::io(format!("send {what} to {}", self.addr), e)),
            Err(_) => Err(self.timed_out(what)),
        }
    }

    /// Reads the next whole reply, within the client's timeout.
    pub async fn read_value(&mut self, what: &str) -> Result<Value> {
        let (value, used) = self.read_frame(what).await?;
        self.buf.drain(..used);
        Ok(value)
    }

    /// Reads the next whole reply and returns its exact bytes.
    pub async fn read_raw_frame(&mut self, what: &str) -> Result<Vec<u8>> {
        let (_, used) = self.read_frame(what).await?;
        Ok(self.buf.drain(..used).collect())
    }

    /// Waits for the peer to close the connection (FIN or reset) without sending anything
    /// more; an error if bytes arrive or nothing happens within the timeout.
    pub async fn expect_closed(&mut self, what: &str) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        let mut chunk = [0u8; 4096];
        let n = match timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Ok(Err(e)) => return Err(HarnessError::io(format!("{what} on {}", self.addr), e)),
            Err(_) => return Err(self.timed_out(what)),
        };
        if n > 0 || !self.buf.is_empty() {
            self.buf.extend_from_slice(&chunk[..n]);
            return Err(HarnessError::Protocol {
                addr: self.addr,
                command: what.to_owned(),
                detail: format!(
                    "expected a close, got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            });
        }
        Ok(())
    }

    /// Reads whatever arrives until the peer closes the connection (FIN or reset), and returns
    /// it; an error if it is still open after the timeout.
    pub async fn read_until_closed(&mut self, what: &str) -> Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        let mut got = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) => return Ok(got),
                Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(got),
                Ok(Err(e)) => return Err(HarnessError::io(format!("{what} on {}", self.addr), e)),
                Err(_) => return Err(self.timed_out(what)),
            }
        }
    }

    async fn read_frame(&mut self, what: &str) -> Result<(Value, usize)> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match parse_value(&self.buf) {
                Ok(Some(done)) => return Ok(done),
                Ok(None) => {}
                Err(detail) => {
                    return Err(HarnessError::Protocol {
                        addr: self.addr,
                        command: what.to_owned(),
                        detail,
                    })
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = match timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    return Err(HarnessError::io(
                        format!("read reply to {what} from {}", self.addr),
                        e,
                    ))
                }
                Err(_) => return Err(self.timed_out(what)),
            };
            if n == 0 {
                return Err(HarnessError::io(
                    format!("read reply to {what} from {}", self.addr),
                    std::io::ErrorKind::UnexpectedEof.into(),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn timed_out(&self, what: &str) -> HarnessError {
        HarnessError::ReplyTimeout {
            addr: self.addr,
            command: what.to_owned(),
            waited: self.timeout,
        }
    }
}

/// Connects, sends one command, returns its reply (error replies become errors).
pub async fn command<A: AsRef<[u8]>>(
    addr: SocketAddr,
    auth: Option<&Auth>,
    args: &[A],
    timeout: Duration,
) -> Result<Value> {
    command_with(addr, auth, None, args, timeout).await
}

/// [`command`], with TLS if `tls` is given.
pub async fn command_with<A: AsRef<[u8]>>(
    addr: SocketAddr,
    auth: Option<&Auth>,
    tls: Option<&TlsClient>,
    args: &[A],
    timeout: Duration,
) -> Result<Value> {
    RespClient::connect_with(addr, auth, tls, timeout)
        .await?
        .cmd(args)
        .await
}

/// Sends `bytes` as they are on a fresh connection and returns the exact bytes
/// of the next `replies` whole RESP replies, all within `timeout`.
pub async fn raw_roundtrip(
    addr: SocketAddr,
    bytes: &[u8],
    replies: usize,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let mut client = RespClient::connect(addr, timeout).await?;
    client.send_bytes(bytes, "raw bytes").await?;
    let mut out = Vec::new();
    for i in 0..replies {
        out.extend(
            client
                .read_raw_frame(&format!("raw bytes (reply {i})"))
                .await?,
        );
    }
    Ok(out)
}

/// A short human-readable form of a command for error messages.
fn describe<A: AsRef<[u8]>>(args: &[A]) -> String {
    let words: Vec<String> = args
        .iter()
        .take(3)
        .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
        .collect();
    let mut s = words.join(" ");
    if args.len() > 3 {
        s.push_str(" ...");
    }
    // Never echo a password into a test log.
    if s.to_ascii_uppercase().starts_with("AUTH") {
        s = "AUTH".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expected: Value) {
        let (v, used) = parse_value(input).unwrap().unwrap();
        assert_eq!(v, expected);
        assert_eq!(used, input.len());
        for cut in 0..input.len() {
            assert_eq!(parse_value(&input[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn parses_resp2_and_resp3() {
        check(b"+OK\r\n", Value::Simple("OK".into()));
        check(b"-ERR x\r\n", Value::Error("ERR x".into()));
        check(b":-3\r\n", Value::Int(-3));
        check(b"$3\r\na\r\n\r\n", Value::Bulk(b"a\r\n".to_vec()));
        check(b"$-1\r\n", Value::Nil);
        check(
            b"*2\r\n$1\r\na\r\n:1\r\n",
            Value::Array(vec![Value::Bulk(b"a".to_vec()), Value::Int(1)]),
        );
        check(
            b"%1\r\n+k\r\n#t\r\n",
            Value::Map(vec![(Value::Simple("k".into()), Value::Bool(true))]),
        );
        check(b"|1\r\n+a\r\n+b\r\n:7\r\n", Value::Int(7));
    }

    #[test]
    fn text_map_from_flat_array() {
        let v = Value::Array(vec![
            Value::Bulk(b"name".to_vec()),
            Value::Bulk(b"mymaster".to_vec()),
            Value::Bulk(b"odd".to_vec()),
        ]);
        let m = v.as_text_map().unwrap();
        assert_eq!(m.get("name").map(String::as_str), Some("mymaster"));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn encodes_commands() {
        assert_eq!(
            encode_command(&["GET", "k"]),
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
    }
}
