//! Raw HTTP/1.1 request files (what `taskgate check` reads): request line, headers, body with
//! `Content-Length` or chunked framing. Hand-written files may use bare `\n` line ends and may
//! omit `Content-Length`, in which case the rest of the file is the body.

use anyhow::{Context as _, anyhow, bail};
use taskgate_filter::Request;

/// Most header fields a request file may have.
const MAX_HEADERS: usize = 128;

/// Parses one request. `received_at` and `request_id` are the host's to choose.
pub fn parse(bytes: &[u8], received_at: u64) -> anyhow::Result<Request> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(bytes).context("not an HTTP/1.1 request")? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => {
            bail!("not an HTTP/1.1 request: the header section never ends")
        }
    };
    let method = parsed
        .method
        .ok_or_else(|| anyhow!("no method"))?
        .to_owned();
    let path_with_query = parsed
        .path
        .ok_or_else(|| anyhow!("no request target"))?
        .to_owned();
    let mut fields = Vec::with_capacity(parsed.headers.len());
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .with_context(|| format!("the value of header {} is not UTF-8", header.name))?;
        fields.push((header.name.to_owned(), value.to_owned()));
    }
    let rest = &bytes[head_len..];
    let header = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let body = if header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().context("Content-Length is not a number")?;
        rest.get(..length)
            .with_context(|| {
                format!(
                    "the body is shorter ({} bytes) than its Content-Length ({length})",
                    rest.len()
                )
            })?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Request {
        method,
        path_with_query,
        headers: fields,
        body,
        received_at,
        request_id: None,
    })
}

/// Removes chunked framing (RFC 9112 §7.1); trailers are ignored.
fn dechunk(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find_line_end(rest).context("a chunk size line never ends")?;
        let line = std::str::from_utf8(&rest[..line_end]).context("a chunk size is not text")?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        rest = skip_line_end(&rest[line_end..]);
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest
            .get(..size)
            .context("a chunk is shorter than its size")?;
        body.extend_from_slice(chunk);
        rest = skip_line_end(&rest[size..]);
    }
}

fn find_line_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n').map(|i| {
        if i > 0 && bytes[i - 1] == b'\r' {
            i - 1
        } else {
            i
        }
    })
}

fn skip_line_end(bytes: &[u8]) -> &[u8] {
    bytes
        .strip_prefix(b"\r\n")
        .or_else(|| bytes.strip_prefix(b"\n"))
        .unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_bodies_are_taken_exactly() {
        let req = parse(
            b"POST /?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcdef",
            5,
        )
        .unwrap();
        assert_eq!(
            (req.method.as_str(), req.path_with_query.as_str()),
            ("POST", "/?a=1")
        );
        assert_eq!(req.body, b"abc");
        assert_eq!(req.received_at, 5);
    }

    #[test]
    fn chunked_bodies_are_dechunked() {
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(raw, 0).unwrap().body, b"abcde");
    }

    #[test]
    fn bare_newlines_and_no_length_are_accepted_for_hand_written_files() {
        let req = parse(b"POST / HTTP/1.1\nHost: x\n\nError=E", 0).unwrap();
        assert_eq!(req.body, b"Error=E");
    }

    #[test]
    fn truncated_and_garbage_inputs_are_errors() {
        assert!(parse(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc", 0).is_err());
        assert!(parse(b"\x00\x01garbage", 0).is_err());
        assert!(parse(b"POST / HTTP/1.1\r\nHost: x\r\n", 0).is_err());
        assert!(
            parse(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                0
            )
            .is_err()
        );
    }
}
