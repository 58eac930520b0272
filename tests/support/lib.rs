//! Test support: build signed ReportTaskFailed requests in every layout the official SDKs use,
//! and write them as raw HTTP/1.1. Shared by the integration tests and the benchmarks.
//!
//! Alibaba signatures are made with the filter's own signing functions; those are pinned
//! independently by the vendors' published vectors and by requests captured from the real SDKs.
//! AWS requests ([`AwsCall`]) are signed by this crate's own SigV4 implementation ([`sigv4`]),
//! which shares no code with the filter's and is pinned by AWS's published vectors.

mod aws;
pub mod aws_rules;
mod fnf;
pub mod gateway;
pub mod h2_frames;
pub mod tls;

pub use aws::*;
pub use fnf::*;

use taskgate_filter::sign::{acs3, rpc_v1};
use taskgate_filter::{Request, parse_timestamp};

/// Form-encodes pairs; `plus` writes spaces as `+` (Python's encoder) instead of `%20`.
pub fn form(pairs: &[(String, String)], plus: bool) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for &b in s.as_bytes() {
            match b {
                b' ' if plus => out.push('+'),
                b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') => {
                    out.push(b as char)
                }
                b => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A raw HTTP/1.1 response: status, lower-cased headers, body (cut at its Content-Length).
pub struct Answer {
    /// The status (0 when the status line does not parse).
    pub status: u16,
    /// Header fields, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// Parses a raw HTTP/1.1 response.
    pub fn parse(raw: &[u8]) -> Answer {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut answer = Answer {
            status,
            headers,
            body: raw.get(end + 4..).unwrap_or_default().to_vec(),
        };
        // Bytes past the Content-Length belong to the next message on the connection.
        if let Some(length) = answer.header("content-length").and_then(|v| v.parse().ok()) {
            answer.body.truncate(length);
        }
        answer
    }

    /// The first field of this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The vendor code of an error body: Alibaba's `Code` or AWS's `__type`.
    pub fn code(&self) -> String {
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        body["Code"]
            .as_str()
            .or(body["__type"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

/// Reads one HTTP/1.1 message whose body has a Content-Length (what hyper sends) from a stream
/// that may carry more after it; `None` when the stream ends or fails before the message does.
pub fn read_message(stream: &mut impl std::io::Read) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some(data);
            }
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
}

/// The request as a raw HTTP/1.1 message with a Content-Length (added unless the request has
/// one already, as an [`AwsCall`] in the JS SDK's layout does), as `taskgate check` reads it.
pub fn to_http(request: &Request) -> Vec<u8> {
    let mut out = format!(
        "{} {} HTTP/1.1\r\n",
        request.method, request.path_with_query
    )
    .into_bytes();
    for (k, v) in &request.headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    if request.header("content-length").is_none() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", request.body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&request.body);
    out
}

/// The wall clock in Unix seconds, for requests a live gateway judges by its own clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Expands the hostile corpus's runs: `{{text*N}}` stands for `text` written `N` times, so a
/// 20 KiB header stays one readable line.
pub fn expand_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let run = after.find("}}").and_then(|end| {
            let (unit, times) = after[..end].rsplit_once('*')?;
            Some((unit, times.parse::<usize>().ok()?, end))
        });
        match run {
            Some((unit, times, end)) => {
                out.push_str(&unit.repeat(times));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
