//! What hyper does not tell: whether an HTTP/1 request head carried both `Content-Length` and
//! `Transfer-Encoding`.
//!
//! RFC 9112 §6.3 lets a server de-chunk such a message, and hyper does: it drops the
//! `Content-Length` before the request reaches us, so the gateway cannot see the smuggling shape
//! it is meant to refuse. This module watches the bytes a connection reads, below hyper, and
//! follows HTTP/1 message framing with the parser hyper itself uses (httparse, same header
//! limits): every request head is numbered in order, and the first one that carries both
//! lengths is remembered. Requests reach the service in the same order, so the service asks for
//! its own number (`Heads::both_lengths`).
//!
//! Whenever the watcher cannot follow the framing (a head hyper would refuse, a bad chunk, an
//! HTTP/2 preface) it stops watching: hyper refuses such bytes and closes the connection too, so
//! nothing later on it is a request.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Read by the service: which head (counting from 0) carried both lengths, if one did.
#[derive(Default)]
pub struct Heads {
    both_lengths: AtomicU64,
}

impl Heads {
    const NONE: u64 = u64::MAX;

    pub fn new() -> Arc<Heads> {
        Arc::new(Heads {
            both_lengths: AtomicU64::new(Self::NONE),
        })
    }

    /// Whether the connection's request number `index` had both `Content-Length` and
    /// `Transfer-Encoding` in its head.
    pub fn both_lengths(&self, index: u64) -> bool {
        self.both_lengths.load(Ordering::Acquire) == index
    }
}

/// Where the watcher is in the byte stream.
enum State {
    /// In a head: the bytes of it read so far (empty when the head starts in the next read).
    Head(Vec<u8>),
    /// In a body of known length: the bytes still to come.
    Fixed(u64),
    /// In a chunked body.
    Chunked(Chunk),
    /// No longer following (see the module comment).
    Off,
}

/// Where a chunked body is: RFC 9112 §7.1.
enum Chunk {
    /// In a chunk-size line: the size so far; `in_extension` once past the digits.
    Size {
        size: u64,
        digits: bool,
        in_extension: bool,
    },
    /// In chunk data: the bytes still to come, then its CRLF (2 bytes).
    Data(u64),
    /// In the trailer section: whether the current line has any byte yet.
    Trailers { line_started: bool },
}

/// Follows HTTP/1 framing over the bytes read from one connection.
pub struct Framing {
    state: State,
    next_head: u64,
    max_head_bytes: usize,
    max_headers: usize,
    heads: Arc<Heads>,
}

impl Framing {
    pub fn new(heads: Arc<Heads>, max_head_bytes: usize, max_headers: usize) -> Framing {
        Framing {
            state: State::Head(Vec::new()),
            next_head: 0,
            max_head_bytes,
            max_headers,
            heads,
        }
    }

    /// Follows `bytes`, the next ones read from the connection.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            bytes = match &mut self.state {
                State::Off => return,
                State::Head(_) => self.head(bytes),
                State::Fixed(left) => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::Head(Vec::new());
                    }
                    &bytes[n..]
                }
                State::Chunked(chunk) => match chunk.feed(bytes) {
                    Some(Ok(rest)) => {
                        self.state = State::Head(Vec::new());
                        rest
                    }
                    Some(Err(())) => {
                        self.state = State::Off;
                        return;
                    }
                    None => return,
                },
            };
        }
    }

    /// Feeds a head: parses it once an empty line may have ended it, and returns the bytes after it.
    fn head<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        let State::Head(buffered) = &mut self.state else {
            unreachable!("head() is called in a head");
        };
        // Most heads arrive whole in one read: parse them where they lie.
        let from = buffered.len();
        let parsed = if buffered.is_empty() {
            self.parse(bytes)
        } else {
            buffered.extend_from_slice(bytes);
            // An empty line can only end in the new bytes (or just before them).
            let recent = &buffered[from.saturating_sub(3)..];
            if ends_a_line_twice(recent) {
                let buffered = std::mem::take(buffered);
                let parsed = self.parse(&buffered);
                if let State::Head(kept) = &mut self.state
                    && parsed.is_none()
                {
                    *kept = buffered;
                }
                parsed
            } else {
                None
            }
        };
        match parsed {
            // The head ended `consumed - from` bytes into this read (the rest of it was buffered).
            Some(consumed) => &bytes[consumed.saturating_sub(from).min(bytes.len())..],
            None => {
                if let State::Head(buffered) = &mut self.state {
                    if buffered.is_empty() {
                        buffered.extend_from_slice(bytes);
                    }
                    if buffered.len() > self.max_head_bytes {
                        self.state = State::Off;
                    }
                }
                &[]
            }
        }
    }

    /// Parses a head at the start of `bytes`: `Some(its length)` once complete (the state moved
    /// to its body), `None` while partial (or refused: the state is then `Off`).
    fn parse(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut headers = vec![httparse::EMPTY_HEADER; self.max_headers];
        let mut request = httparse::Request::new(&mut headers);
        let head_length = match request.parse(bytes) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return None,
            Err(_) => {
                self.state = State::Off;
                return None;
            }
        };
        let named = |name: &'static str| {
            request
                .headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
        };
        let chunked = named("transfer-encoding").next().is_some();
        let length = named("content-length")
            .next()
            .map(|h| content_length(h.value));
        let index = self.next_head;
        self.next_head += 1;
        self.state = match (chunked, length) {
            (true, Some(_)) => {
                self.heads.both_lengths.store(index, Ordering::Release);
                // hyper closes such a connection after its answer: nothing more to follow.
                State::Off
            }
            (true, None) => State::Chunked(Chunk::Size {
                size: 0,
                digits: false,
                in_extension: false,
            }),
            (false, Some(Some(0))) | (false, None) => State::Head(Vec::new()),
            (false, Some(Some(length))) => State::Fixed(length),
            (false, Some(None)) => State::Off,
        };
        Some(head_length)
    }
}

/// Whether `bytes` hold an empty line's end: LF CRLF or LF LF.
fn ends_a_line_twice(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\n\n") || bytes.windows(3).any(|w| w == b"\n\r\n")
}

/// A `Content-Length` value as hyper reads it: digits only.
fn content_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

impl Chunk {
    /// Follows `bytes` of the body: `Some(Ok(rest))` when the body ended (with the bytes after
    /// it), `Some(Err)` when they are not a chunked body, `None` when all were consumed.
    fn feed<'a>(&mut self, mut bytes: &'a [u8]) -> Option<Result<&'a [u8], ()>> {
        while let Some((&byte, rest)) = bytes.split_first() {
            match self {
                Chunk::Size { .. } => {
                    bytes = rest;
                    if self.size_byte(byte).is_err() {
                        return Some(Err(()));
                    }
                }
                Chunk::Data(left) => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    *left -= n as u64;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        *self = Chunk::Size {
                            size: 0,
                            digits: false,
                            in_extension: false,
                        };
                    }
                }
                Chunk::Trailers { line_started } => {
                    bytes = rest;
                    match byte {
                        b'\n' if !*line_started => return Some(Ok(bytes)),
                        b'\n' => *line_started = false,
                        b'\r' => {}
                        _ => *line_started = true,
                    }
                }
            }
        }
        None
    }

    /// Follows one byte of a chunk-size line (`size [; extension] CRLF`).
    fn size_byte(&mut self, byte: u8) -> Result<(), ()> {
        let Chunk::Size {
            size,
            digits,
            in_extension,
        } = self
        else {
            unreachable!("size_byte() is called in a size line");
        };
        match byte {
            b'\n' if !*digits => return Err(()),
            b'\n' if *size == 0 => {
                *self = Chunk::Trailers {
                    line_started: false,
                }
            }
            // The chunk's data, then its CRLF.
            b'\n' => *self = Chunk::Data(*size + 2),
            _ if *in_extension => {}
            b'\r' | b';' | b' ' | b'\t' => *in_extension = true,
            _ => {
                let digit = (byte as char).to_digit(16).ok_or(())?;
                *size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(u64::from(digit)))
                    .ok_or(())?;
                *digits = true;
            }
        }
        Ok(())
    }
}

/// Put in a request's extensions when its head carried both lengths.
#[derive(Clone, Copy)]
pub struct BothLengths;

/// A connection whose reads are followed by a `Framing`.
pub struct Watched<I> {
    io: I,
    framing: Framing,
}

impl<I> Watched<I> {
    pub fn new(io: I, framing: Framing) -> Watched<I> {
        Watched { io, framing }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.framing.feed(&buf.filled()[before..]);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `step` bytes; which heads had both lengths.
    fn flagged(stream: &[u8], step: usize) -> Option<u64> {
        let heads = Heads::new();
        let mut framing = Framing::new(Arc::clone(&heads), 8192, 100);
        for piece in stream.chunks(step) {
            framing.feed(piece);
        }
        (0..10).find(|&i| heads.both_lengths(i))
    }

    const PLAIN: &[u8] = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    const CHUNKED: &[u8] =
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n";
    const BOTH: &[u8] = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n";

    #[test]
    fn finds_both_lengths_after_any_framing_and_any_split() {
        for step in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(flagged(BOTH, step), Some(0), "step {step}");
            assert_eq!(
                flagged(&[PLAIN, BOTH].concat(), step),
                Some(1),
                "step {step}"
            );
            assert_eq!(
                flagged(&[CHUNKED, PLAIN, CHUNKED, BOTH].concat(), step),
                Some(3),
                "step {step}"
            );
            assert_eq!(
                flagged(&[CHUNKED, PLAIN, b"\r\n", PLAIN].concat(), step),
                None
            );
        }
    }

    #[test]
    fn a_length_in_a_body_is_not_a_header() {
        let body = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1c\r\n\r\nContent-Length: 3\r\n\r\nxxxxx\r\n0\r\n\r\n";
        assert_eq!(flagged(body, 5), None);
    }

    #[test]
    fn stops_where_hyper_would_refuse() {
        // An HTTP/2 preface, a bad chunk size, a bad length: nothing after them is followed.
        let preface = [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".as_slice(), BOTH].concat();
        assert_eq!(flagged(&preface, 9), None);
        let bad_chunk = [
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".as_slice(),
            BOTH,
        ]
        .concat();
        assert_eq!(flagged(&bad_chunk, 9), None);
        let too_long = [vec![b'x'; 9000].as_slice(), BOTH].concat();
        assert_eq!(flagged(&too_long, 100), None);
    }
}
