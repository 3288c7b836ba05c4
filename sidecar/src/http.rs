//! What the sidecar's two HTTP/1.1 servers share: the status line's reason and the encoding
//! of a response. There are two servers because their traffic differs: the store API
//! (`server.rs`) takes request bodies and does store I/O, so a fixed pool of workers serves
//! connections from a bounded queue; the auth service (`listener.rs`) answers short checks to
//! a proxy that keeps a few connections alive, so each connection has its own thread, up to a
//! cap.

use std::io::Write;

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Writes one response: the status line, `headers` (one whose name or value holds a line
/// break is dropped: it would split the response), its length, and whether the connection
/// stays open.
pub fn write_response<'a>(
    out: &mut impl Write,
    status: u16,
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    body: &[u8],
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(256 + body.len());
    bytes.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    let breaks = |b: &u8| *b == b'\r' || *b == b'\n';
    for (name, value) in headers {
        if name.bytes().any(|b| breaks(&b)) || value.iter().any(breaks) {
            continue;
        }
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    let connection: &[u8] = if keep_alive {
        b"connection: keep-alive\r\n\r\n"
    } else {
        b"connection: close\r\n\r\n"
    };
    bytes.extend_from_slice(connection);
    bytes.extend_from_slice(body);
    out.write_all(&bytes)?;
    out.flush()
}
