//! One HTTP/1.1 exchange over an open connection, written byte for byte.
//!
//! Receivers behind gateways that pass header names through as sent read
//! `X-GitHub-Event`, not `x-github-event`; hyper's client only writes lower case (or title
//! case, `X-Github-Event`), so the request head is written here, names spelled as built.
//! The response head is parsed by `httparse`; its body is read by its framing (length,
//! chunked, or to the end) and at most `limit` bytes of it are kept.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest response head read; a receiver that sends more is not speaking HTTP to us.
const MAX_HEAD: usize = 64 * 1024;
/// The most response header lines parsed.
const MAX_HEADERS: usize = 128;

/// What went wrong in an exchange.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The connection ended before a complete response head: for a reused connection,
    /// the receiver had closed it while it sat idle.
    #[error("the connection closed before a response")]
    ClosedBeforeResponse,
    #[error("invalid HTTP response: {0}")]
    Invalid(&'static str),
    /// A header name or value that would change the request's framing.
    #[error("invalid request header {0:?}")]
    InvalidHeader(String),
}

/// A response, its body cut at the caller's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Names as the receiver spelled them.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body was read to its end and the receiver lets the connection be used
    /// again.
    pub reusable: bool,
}

/// A connection with what was read past the last response.
pub struct Connection<S> {
    pub stream: S,
    buffer: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            buffer: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// Whether bytes arrived while no request was out: a receiver that talks out of turn
    /// cannot be trusted with the next request.
    pub fn has_unread(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// POSTs `body` to `target` (path and query) on `host` and reads the response.
    ///
    /// # Errors
    /// Connection failures, a header that would break the framing, or a response that is
    /// not HTTP/1.x.
    pub async fn post(
        &mut self,
        host: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
        limit: usize,
    ) -> Result<Response, ExchangeError> {
        let request = request_bytes(host, target, headers, body)?;
        self.stream.write_all(&request).await?;
        self.stream.flush().await?;
        let head = self.read_head().await?;
        let (body, complete) = match head.framing {
            Framing::Length(length) => self.read_length(length, limit).await?,
            Framing::Chunked => self.read_chunked(limit).await?,
            Framing::UntilClose => (self.read_until_close(limit).await?, false),
        };
        let closes = head.headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("connection")
                && value
                    .split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("close"))
        });
        Ok(Response {
            status: head.status,
            headers: head.headers,
            body,
            // An HTTP/1.0 receiver closes unless told otherwise: not worth the guess.
            reusable: complete && !closes && !head.http10 && self.buffer.is_empty(),
        })
    }

    /// Reads until a final (non-1xx) response head.
    async fn read_head(&mut self) -> Result<Head, ExchangeError> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut slots);
            let parsed = match response.parse(&self.buffer) {
                Ok(httparse::Status::Complete(length)) => Some(length),
                Ok(httparse::Status::Partial) => None,
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ExchangeError::Invalid("too many headers"));
                }
                Err(_) => return Err(ExchangeError::Invalid("malformed head")),
            };
            let Some(head_length) = parsed else {
                if self.buffer.len() >= MAX_HEAD {
                    return Err(ExchangeError::Invalid("head too large"));
                }
                if self.fill().await? == 0 {
                    return Err(if self.buffer.is_empty() {
                        ExchangeError::ClosedBeforeResponse
                    } else {
                        ExchangeError::Invalid("truncated head")
                    });
                }
                continue;
            };
            let status = response.code.unwrap_or_default();
            let http10 = response.version == Some(0);
            let headers: Vec<(String, String)> = response
                .headers
                .iter()
                .map(|header| {
                    (
                        header.name.to_owned(),
                        String::from_utf8_lossy(header.value).into_owned(),
                    )
                })
                .collect();
            self.buffer.advance(head_length);
            match status {
                101 => return Err(ExchangeError::Invalid("unexpected protocol switch")),
                100..=199 => continue,
                _ => {}
            }
            let framing = framing(status, &headers, http10)?;
            return Ok(Head {
                status,
                headers,
                framing,
                http10,
            });
        }
    }

    /// Reads more into the buffer; 0 at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        self.buffer.reserve(8 * 1024);
        self.stream.read_buf(&mut self.buffer).await
    }

    /// Takes up to `wanted` buffered bytes into `body`, keeping at most `limit`.
    fn take(&mut self, wanted: usize, body: &mut Vec<u8>, limit: usize) -> usize {
        let taken = wanted.min(self.buffer.len());
        let kept = taken.min(limit.saturating_sub(body.len()));
        body.extend_from_slice(&self.buffer[..kept]);
        self.buffer.advance(taken);
        taken
    }

    /// A body of `length` bytes; complete when all of it was read within `limit`.
    async fn read_length(
        &mut self,
        length: u64,
        limit: usize,
    ) -> Result<(Vec<u8>, bool), ExchangeError> {
        let mut body = Vec::new();
        let complete = self.read_exactly(length, &mut body, limit).await?;
        Ok((body, complete))
    }

    /// Reads `length` more bytes of the body into `body` (keeping at most `limit`); false
    /// when the limit stopped it first.
    async fn read_exactly(
        &mut self,
        length: u64,
        body: &mut Vec<u8>,
        limit: usize,
    ) -> Result<bool, ExchangeError> {
        let mut left = length;
        while left > 0 {
            if body.len() >= limit {
                return Ok(false);
            }
            if self.buffer.is_empty() && self.fill().await? == 0 {
                return Err(ExchangeError::Invalid("truncated body"));
            }
            let wanted = usize::try_from(left).unwrap_or(usize::MAX);
            left -= self.take(wanted, body, limit) as u64;
        }
        Ok(true)
    }

    /// A chunked body; complete when its last chunk and trailers were read within `limit`.
    async fn read_chunked(&mut self, limit: usize) -> Result<(Vec<u8>, bool), ExchangeError> {
        let mut body = Vec::new();
        loop {
            if body.len() >= limit {
                return Ok((body, false));
            }
            let size = loop {
                match httparse::parse_chunk_size(&self.buffer) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.buffer.advance(used);
                        break size;
                    }
                    Ok(httparse::Status::Partial) if self.buffer.len() < MAX_HEAD => {
                        if self.fill().await? == 0 {
                            return Err(ExchangeError::Invalid("truncated body"));
                        }
                    }
                    _ => return Err(ExchangeError::Invalid("malformed chunk")),
                }
            };
            if size == 0 {
                self.skip_trailers().await?;
                return Ok((body, true));
            }
            if !self.read_exactly(size, &mut body, limit).await? {
                return Ok((body, false));
            }
            self.expect_line_end().await?;
        }
    }

    /// The CRLF after a chunk's data.
    async fn expect_line_end(&mut self) -> Result<(), ExchangeError> {
        while self.buffer.len() < 2 {
            if self.fill().await? == 0 {
                return Err(ExchangeError::Invalid("truncated body"));
            }
        }
        if &self.buffer[..2] != b"\r\n" {
            return Err(ExchangeError::Invalid("malformed chunk"));
        }
        self.buffer.advance(2);
        Ok(())
    }

    /// Trailer lines after the last chunk, up to the empty line.
    async fn skip_trailers(&mut self) -> Result<(), ExchangeError> {
        let mut read = 0;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\r\n") {
                self.buffer.advance(end + 2);
                if end == 0 {
                    return Ok(());
                }
                read += end + 2;
                continue;
            }
            if read + self.buffer.len() >= MAX_HEAD {
                return Err(ExchangeError::Invalid("trailers too large"));
            }
            if self.fill().await? == 0 {
                return Err(ExchangeError::Invalid("truncated body"));
            }
        }
    }

    /// A body that ends with the connection; at most `limit` bytes are read.
    async fn read_until_close(&mut self, limit: usize) -> Result<Vec<u8>, ExchangeError> {
        let mut body = Vec::new();
        loop {
            self.take(usize::MAX, &mut body, limit);
            if body.len() >= limit || self.fill().await? == 0 {
                return Ok(body);
            }
        }
    }
}

/// A final response head.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    framing: Framing,
    http10: bool,
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// RFC 9112 §6.3, for the answer to a POST.
fn framing(
    status: u16,
    headers: &[(String, String)],
    http10: bool,
) -> Result<Framing, ExchangeError> {
    if matches!(status, 204 | 304) {
        return Ok(Framing::Length(0));
    }
    fn values<'h>(
        headers: &'h [(String, String)],
        wanted: &'static str,
    ) -> impl Iterator<Item = &'h str> {
        headers
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.as_str())
    }
    if let Some(encoding) = values(headers, "transfer-encoding").last() {
        let last = encoding.rsplit(',').next().unwrap_or_default().trim();
        return Ok(if last.eq_ignore_ascii_case("chunked") && !http10 {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    let mut lengths = values(headers, "content-length").flat_map(|value| value.split(','));
    let Some(first) = lengths.next() else {
        return Ok(Framing::UntilClose);
    };
    let length: u64 = first
        .trim()
        .parse()
        .map_err(|_| ExchangeError::Invalid("bad content-length"))?;
    if lengths.any(|other| other.trim().parse() != Ok(length)) {
        return Err(ExchangeError::Invalid("conflicting content-length"));
    }
    Ok(Framing::Length(length))
}

/// The request head and body in one buffer, so small deliveries leave in one packet.
fn request_bytes(
    host: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<u8>, ExchangeError> {
    let mut request = Vec::with_capacity(256 + body.len() + headers.len() * 48);
    request.extend_from_slice(b"POST ");
    request.extend_from_slice(target.as_bytes());
    request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    request.extend_from_slice(host.as_bytes());
    request.extend_from_slice(b"\r\n");
    let mut has_accept = false;
    for (name, value) in headers {
        if name.is_empty()
            || !name.bytes().all(is_token_byte)
            || value.bytes().any(|byte| matches!(byte, b'\r' | b'\n' | 0))
        {
            return Err(ExchangeError::InvalidHeader(name.clone()));
        }
        has_accept |= name.eq_ignore_ascii_case("accept");
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    if !has_accept {
        request.extend_from_slice(b"Accept: */*\r\n");
    }
    request.extend_from_slice(b"Content-Length: ");
    request.extend_from_slice(body.len().to_string().as_bytes());
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(body);
    Ok(request)
}

/// RFC 9110 `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs one exchange against `answer`, returning what was sent and the response.
    async fn exchange(
        answer: &'static [u8],
        limit: usize,
    ) -> (Vec<u8>, Result<Response, ExchangeError>) {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let responder = tokio::spawn(async move {
            let mut sent = vec![0u8; 4096];
            let read = server.read(&mut sent).await.unwrap();
            sent.truncate(read);
            server.write_all(answer).await.unwrap();
            drop(server);
            sent
        });
        let mut connection = Connection::new(client);
        let headers = vec![
            ("X-GitHub-Event".to_owned(), "push".to_owned()),
            ("X-My-Header".to_owned(), "a b".to_owned()),
        ];
        let response = connection
            .post("example.com:8080", "/hook?x=1", &headers, b"{}", limit)
            .await;
        (responder.await.unwrap(), response)
    }

    #[tokio::test]
    async fn the_head_is_written_as_spelled() {
        let (sent, response) =
            exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 64).await;
        assert_eq!(
            String::from_utf8(sent).unwrap(),
            "POST /hook?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-GitHub-Event: push\r\n\
             X-My-Header: a b\r\nAccept: */*\r\nContent-Length: 2\r\n\r\n{}"
        );
        let response = response.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"ok");
        assert_eq!(
            response.headers,
            vec![("Content-Length".to_owned(), "2".to_owned())]
        );
        assert!(response.reusable);
    }

    #[tokio::test]
    async fn bodies_are_read_by_their_framing_and_cut_at_the_limit() {
        let chunked = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n\
                        3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n";
        let (_, response) = exchange(chunked, 64).await;
        let response = response.unwrap();
        assert_eq!(
            (response.status, &response.body[..]),
            (500, &b"abcdefg"[..])
        );
        assert!(response.reusable);

        let (_, response) = exchange(chunked, 5).await;
        let response = response.unwrap();
        assert_eq!(response.body, b"abcde");
        assert!(
            !response.reusable,
            "an unread rest leaves the connection unusable"
        );

        let (_, response) = exchange(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 64).await;
        let response = response.unwrap();
        assert_eq!(response.body, b"until the end");
        assert!(!response.reusable);

        let (_, response) = exchange(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
            64,
        )
        .await;
        let response = response.unwrap();
        assert_eq!((response.status, response.body.len()), (204, 0));
        assert!(!response.reusable, "the receiver said close");
    }

    #[tokio::test]
    async fn an_endless_head_is_cut_at_64_kib() {
        let endless: &'static [u8] = Box::leak(
            [&b"HTTP/1.1 200 OK\r\n"[..], &[b'x'; 70_000][..]]
                .concat()
                .into_boxed_slice(),
        );
        let (_, response) = exchange(endless, 64).await;
        assert_eq!(
            response.unwrap_err().to_string(),
            "invalid HTTP response: head too large"
        );
    }

    #[tokio::test]
    async fn broken_answers_are_errors() {
        for (answer, expected) in [
            (&b""[..], "the connection closed before a response"),
            (b"HTTP/1.1 200", "invalid HTTP response: truncated head"),
            (
                b"SSH-2.0-OpenSSH\r\n\r\n",
                "invalid HTTP response: malformed head",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
                "invalid HTTP response: truncated body",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                "invalid HTTP response: conflicting content-length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "invalid HTTP response: malformed chunk",
            ),
        ] {
            let (_, response) = exchange(answer, 64).await;
            assert_eq!(response.unwrap_err().to_string(), expected);
        }
    }

    #[test]
    fn headers_that_would_break_the_framing_are_refused() {
        for (name, value) in [
            ("X-A", "a\r\nHost: evil"),
            ("X A", "b"),
            ("", "c"),
            ("X-B", "\n"),
        ] {
            let headers = vec![(name.to_owned(), value.to_owned())];
            assert!(matches!(
                request_bytes("h", "/", &headers, b""),
                Err(ExchangeError::InvalidHeader(_))
            ));
        }
    }
}
