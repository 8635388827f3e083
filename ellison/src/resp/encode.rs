//! Writes RESP: commands Ellison sends on its own behalf and the error replies it gives clients.

use bytes::{BufMut, BytesMut};

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
pub fn error(out: &mut BytesMut, message: &str) {
    out.reserve(message.len() + 3);
    out.put_u8(b'-');
    for b in message.bytes() {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
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
    fn errors_cannot_break_the_frame() {
        let mut out = BytesMut::new();
        error(&mut out, "ERR a\r\nb");
        assert_eq!(&out[..], b"-ERR a  b\r\n");
    }
}
