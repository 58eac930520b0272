//! HTTP/2 at the frame level, for the hostile corpus: frames written as the corpus describes them
//! (valid or not, floods included), and what the server answered read back frame by frame.
//!
//! A real client library cannot send a malformed frame, a rapid reset or a CONTINUATION flood,
//! so the frames are built here; header blocks use HPACK's literal form without indexing, which
//! keeps every block independent of the others (a repeated frame stays valid). The server's
//! blocks are decoded with a real HPACK decoder.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a corpus case that cannot be built is a failed test"
)]

use serde::Deserialize;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One frame as the corpus writes it: its type by name (or number), flags, stream, and a payload
/// made of `payload` (hex), then `headers` as an HPACK block, then `text`; sent `repeat` times.
/// Header values and `text` may hold runs (`{{text*N}}`, see `expand_runs`).
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// `DATA`, `HEADERS`, ... or a number in hex (`0x77`) for a type RFC 9113 does not define.
    #[serde(rename = "type")]
    pub kind: String,
    /// The flags byte: END_STREAM 0x1, END_HEADERS 0x4, PADDED 0x8, PRIORITY 0x20.
    #[serde(default)]
    pub flags: u8,
    /// The stream id.
    #[serde(default)]
    pub stream: u32,
    /// The first payload bytes, in hex (settings, error codes, a pad length...).
    #[serde(default)]
    pub payload: String,
    /// Header fields, encoded as one HPACK block after `payload`.
    #[serde(default)]
    pub headers: Vec<[String; 2]>,
    /// Bytes after the block (a body, padding).
    #[serde(default)]
    pub text: String,
    /// How many times the frame is sent in a row.
    #[serde(default = "one")]
    pub repeat: usize,
}

fn one() -> usize {
    1
}

/// The flag that ends a stream's half.
pub const END_STREAM: u8 = 0x1;
/// The flag that ends a header block.
pub const END_HEADERS: u8 = 0x4;

const TYPES: [&str; 10] = [
    "DATA",
    "HEADERS",
    "PRIORITY",
    "RST_STREAM",
    "SETTINGS",
    "PUSH_PROMISE",
    "PING",
    "GOAWAY",
    "WINDOW_UPDATE",
    "CONTINUATION",
];

const ERRORS: [&str; 14] = [
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
];

/// An error code's name (RFC 9113 §7), or its number.
pub fn error_name(code: u32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|i| ERRORS.get(i))
        .map_or_else(|| format!("0x{code:x}"), |name| (*name).to_owned())
}

fn type_code(name: &str) -> u8 {
    TYPES
        .iter()
        .position(|t| t.eq_ignore_ascii_case(name))
        .map(|i| i as u8)
        .or_else(|| u8::from_str_radix(name.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("unknown frame type {name:?}"))
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex {text:?}");
    digits
        .chunks(2)
        .map(|pair| {
            u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16)
                .unwrap_or_else(|_| panic!("bad hex {text:?}"))
        })
        .collect()
}

/// An HPACK block of literal fields without indexing, new names (RFC 7541 §6.2.2).
pub fn header_block(headers: &[[String; 2]]) -> Vec<u8> {
    let mut block = Vec::new();
    for [name, value] in headers {
        block.push(0x00);
        for text in [name, value] {
            let mut length = fluke_hpack::encoder::encode_integer(text.len(), 7);
            length[0] &= 0x7f; // not Huffman-coded
            block.extend_from_slice(&length);
            block.extend_from_slice(text.as_bytes());
        }
    }
    block
}

/// A frame's bytes: the 9-byte header, then the payload.
pub fn frame_bytes(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).expect("payload length");
    let mut bytes = length.to_be_bytes()[1..].to_vec();
    bytes.extend_from_slice(&[kind, flags]);
    bytes.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

impl Frame {
    /// The bytes of this frame, `repeat` times, its stream moved on by `shift` (for rounds).
    pub fn bytes(&self, shift: u32) -> Vec<u8> {
        let mut payload = hex(&self.payload);
        let headers: Vec<[String; 2]> = self
            .headers
            .iter()
            .map(|[name, value]| [name.clone(), crate::expand_runs(value)])
            .collect();
        payload.extend_from_slice(&header_block(&headers));
        payload.extend_from_slice(crate::expand_runs(&self.text).as_bytes());
        let stream = if self.stream == 0 {
            0
        } else {
            self.stream + shift
        };
        frame_bytes(type_code(&self.kind), self.flags, stream, &payload).repeat(self.repeat)
    }
}

/// What the server said on the connection, until it closed it (or `patience` ran out).
#[derive(Debug, Default)]
pub struct Heard {
    /// The `:status` of the first response, 0 if none came.
    pub status: u16,
    /// That response's body.
    pub body: Vec<u8>,
    /// The error code of the first GOAWAY.
    pub goaway: Option<String>,
    /// The error code of the first RST_STREAM.
    pub reset: Option<String>,
}

/// Connects, sends the preface, an empty SETTINGS and `frames` (the whole list `rounds` times,
/// each round on streams 2 higher), and listens until the server closes the connection.
pub fn round_trip(addr: SocketAddr, frames: &[Frame], rounds: u32, patience: Duration) -> Heard {
    let mut sent = PREFACE.to_vec();
    sent.extend(frame_bytes(4, 0, 0, &[]));
    for round in 0..rounds {
        for frame in frames {
            sent.extend(frame.bytes(2 * round));
        }
    }
    let stream = TcpStream::connect(addr).expect("connect");
    // Written from another thread: a server that stops reading must not stop us listening.
    let mut writer = stream.try_clone().expect("clone");
    let writing = std::thread::spawn(move || {
        let _ = writer.write_all(&sent);
    });
    let heard = listen(stream, patience);
    let _ = writing.join();
    heard
}

fn listen(mut stream: TcpStream, patience: Duration) -> Heard {
    let started = Instant::now();
    let mut heard = Heard::default();
    let mut decoder = fluke_hpack::Decoder::new();
    let mut buffer = Vec::new();
    let mut block: Vec<u8> = Vec::new();
    let mut answered_stream = None;
    let mut chunk = [0u8; 16384];
    loop {
        let left = patience.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        while buffer.len() >= 9 {
            let length = u32::from_be_bytes([0, buffer[0], buffer[1], buffer[2]]) as usize;
            if buffer.len() < 9 + length {
                break;
            }
            let frame: Vec<u8> = buffer.drain(..9 + length).collect();
            let (kind, flags) = (frame[3], frame[4]);
            let id = u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]) & 0x7fff_ffff;
            let payload = &frame[9..];
            match kind {
                // HEADERS, CONTINUATION: one header block, decoded (the table must follow all).
                1 | 9 => {
                    block.extend_from_slice(header_payload(kind, flags, payload));
                    if flags & END_HEADERS != 0 {
                        let fields = decoder.decode(&block).unwrap_or_default();
                        block.clear();
                        let status = fields
                            .iter()
                            .find(|(n, _)| n == b":status")
                            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok());
                        if let (0, Some(status)) = (heard.status, status) {
                            heard.status = status;
                            answered_stream = Some(id);
                        }
                    }
                }
                0 if answered_stream == Some(id) => heard.body.extend_from_slice(payload),
                3 if heard.reset.is_none() && payload.len() == 4 => {
                    heard.reset = Some(error_name(u32::from_be_bytes(
                        payload.try_into().expect("4 bytes"),
                    )));
                }
                7 if heard.goaway.is_none() && payload.len() >= 8 => {
                    heard.goaway = Some(error_name(u32::from_be_bytes(
                        payload[4..8].try_into().expect("4 bytes"),
                    )));
                }
                _ => {}
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    heard
}

/// The header block fragment of a HEADERS frame (without padding and priority) or CONTINUATION.
fn header_payload(kind: u8, flags: u8, payload: &[u8]) -> &[u8] {
    if kind == 9 {
        return payload;
    }
    let (mut start, mut end) = (0, payload.len());
    if flags & 0x8 != 0 && !payload.is_empty() {
        start = 1;
        end = end.saturating_sub(usize::from(payload[0]));
    }
    if flags & 0x20 != 0 {
        start += 5;
    }
    payload.get(start..end.max(start)).unwrap_or_default()
}
