//! Writes RESP: commands Ellison sends on its own behalf and the error replies it gives clients.

use bytes::{BufMut, BytesMut};

use super::ProtocolError;

/// Appends `args` as a RESP array of bulk strings.
pub fn command(out: &mut BytesMut, args: &[&[u8]]) {
    out.reserve(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    header(out, b'*', args.len());
    for arg in args {
        header(out, b'$', arg.len());
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}

/// Appends an error reply. `message` starts with the error code (`ERR`, `MASTERDOWN`, ...);
/// line breaks, which would end the frame early, become spaces.
pub(crate) fn error(out: &mut BytesMut, message: &str) {
    out.reserve(message.len() + 3);
    out.put_u8(b'-');
    for b in message.bytes() {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
}

/// Appends the reply Redis gives a client's malformed request, byte for byte:
/// `-ERR Protocol error: <error>`, with the offending byte of
/// [`ProtocolError::ExpectedBulk`] written as Redis writes it (the raw byte, a line break as a
/// space), which `Display` cannot do for a byte above ASCII.
pub(crate) fn protocol_error(out: &mut BytesMut, error: &ProtocolError) {
    out.put_slice(b"-ERR Protocol error: ");
    match *error {
        ProtocolError::ExpectedBulk { got } => {
            out.put_slice(b"expected '$', got '");
            out.put_u8(if got == b'\r' || got == b'\n' {
                b' '
            } else {
                got
            });
            out.put_u8(b'\'');
        }
        _ => out.put_slice(error.to_string().as_bytes()),
    }
    out.put_slice(b"\r\n");
}

fn header(out: &mut BytesMut, ty: u8, n: usize) {
    out.put_u8(ty);
    out.put_slice(n.to_string().as_bytes());
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = BytesMut::new();
        command(&mut out, &[b"SELECT", b"2"]);
        assert_eq!(&out[..], b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
    }

    #[test]
    fn protocol_errors_are_redis_replies_byte_for_byte() {
        let reply = |e: ProtocolError| {
            let mut out = BytesMut::new();
            protocol_error(&mut out, &e);
            out.to_vec()
        };
        assert_eq!(
            reply(ProtocolError::BulkLength),
            b"-ERR Protocol error: invalid bulk length\r\n"
        );
        assert_eq!(
            reply(ProtocolError::ExpectedBulk { got: b':' }),
            b"-ERR Protocol error: expected '$', got ':'\r\n"
        );
        assert_eq!(
            reply(ProtocolError::ExpectedBulk { got: 0xff }),
            b"-ERR Protocol error: expected '$', got '\xff'\r\n"
        );
        assert_eq!(
            reply(ProtocolError::ExpectedBulk { got: b'\n' }),
            b"-ERR Protocol error: expected '$', got ' '\r\n"
        );
        // Display agrees wherever it can: every ASCII byte.
        for got in 0..0x80u8 {
            let e = ProtocolError::ExpectedBulk { got };
            assert_eq!(
                reply(e),
                format!("-ERR Protocol error: {e}\r\n").into_bytes(),
                "{got}"
            );
        }
    }

    #[test]
    fn errors_cannot_break_the_frame() {
        let mut out = BytesMut::new();
        error(&mut out, "ERR a\r\nb");
        assert_eq!(&out[..], b"-ERR a  b\r\n");
    }
}
