//! The request format of the `check` and `differential` targets: close to HTTP/1.1 text, so that
//! seeds can be written from the case corpus, mutations stay meaningful, and a crashing input
//! can be read by eye.
//!
//! ```text
//! <received_at> [resign] [reject|authenticate|forward]
//! <method> <path and query>
//! <name>: <value>
//! ...
//!
//! <body: every remaining byte>
//! ```
//!
//! A header line splits at its first `:`, and one space after it is dropped when present
//! (so `a:b` and `a: b` are the same field; `a:  b` has the value ` b`). Lines end at `\n`
//! alone: a `\r` belongs to the text. Text that is not UTF-8 is read lossily; anything
//! missing is empty. `resign` asks for the request to be signed again after mutation
//! (`resign.rs`); the last word picks `[serve] other_calls` (default `authenticate`).

use taskgate_filter::{Choice as _, OtherCalls, Request};

/// A fuzz input read as a request, with what to do with it.
#[derive(Debug, Clone)]
pub struct FuzzRequest {
    /// The request.
    pub request: Request,
    /// Sign it again with the configured secret before checking it.
    pub resign: bool,
    /// The `other_calls` mode to check it under.
    pub other_calls: OtherCalls,
}

/// Reads fuzz bytes as a request. Never fails: every input is some request.
pub fn read(data: &[u8]) -> FuzzRequest {
    let mut rest = data;
    let control = text(line(&mut rest));
    let mut words = control.split(' ').filter(|w| !w.is_empty());
    let received_at = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let (mut resign, mut other_calls) = (false, OtherCalls::Authenticate);
    for word in words {
        match word {
            "resign" => resign = true,
            _ => {
                if let Some(mode) = OtherCalls::named(word) {
                    other_calls = mode;
                }
            }
        }
    }
    let request_line = text(line(&mut rest));
    let (method, path_with_query) = request_line
        .split_once(' ')
        .unwrap_or((request_line.as_str(), ""));
    let (method, path_with_query) = (method.to_owned(), path_with_query.to_owned());
    let mut headers = Vec::new();
    while !rest.is_empty() {
        let field = line(&mut rest);
        if field.is_empty() {
            break;
        }
        let field = text(field);
        let (name, value) = field.split_once(':').unwrap_or((field.as_str(), ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        headers.push((name.to_owned(), value.to_owned()));
    }
    FuzzRequest {
        request: Request {
            method,
            path_with_query,
            headers,
            body: rest.to_vec(),
            received_at,
            request_id: None,
        },
        resign,
        other_calls,
    }
}

/// Writes a request in this format; `None` when a part cannot be written so that it reads back
/// the same (a newline in the method, target or a header, a `:` in a header name, a space in
/// the method, an empty header name, or a host request id, which the format has no place for).
pub fn write(fuzz: &FuzzRequest) -> Option<Vec<u8>> {
    let request = &fuzz.request;
    let plain = |text: &str| !text.contains('\n');
    let writable = plain(&request.method)
        && !request.method.contains(' ')
        && plain(&request.path_with_query)
        && request.request_id.is_none()
        && request
            .headers
            .iter()
            .all(|(n, v)| !n.is_empty() && plain(n) && !n.contains(':') && plain(v));
    if !writable {
        return None;
    }
    let mut out = request.received_at.to_string();
    if fuzz.resign {
        out.push_str(" resign");
    }
    out.push(' ');
    out.push_str(fuzz.other_calls.name());
    out.push('\n');
    out.push_str(&request.method);
    out.push(' ');
    out.push_str(&request.path_with_query);
    out.push('\n');
    for (name, value) in &request.headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&request.body);
    Some(bytes)
}

/// Takes one line off the front of `rest`, without its `\n`.
fn line<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    match rest.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let taken = &rest[..end];
            *rest = &rest[end + 1..];
            taken
        }
        None => std::mem::take(rest),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every field of two requests is the same.
pub fn same(a: &Request, b: &Request) -> bool {
    (
        &a.method,
        &a.path_with_query,
        &a.headers,
        &a.body,
        a.received_at,
        &a.request_id,
    ) == (
        &b.method,
        &b.path_with_query,
        &b.headers,
        &b.body,
        b.received_at,
        &b.request_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_request_reads_back_the_same() {
        let fuzz = FuzzRequest {
            request: Request {
                method: "POST".to_owned(),
                path_with_query: "/?a=1 b".to_owned(),
                headers: vec![
                    ("Host".to_owned(), "x".to_owned()),
                    ("Empty".to_owned(), String::new()),
                    ("Spaced".to_owned(), " v: w\r".to_owned()),
                ],
                body: b"\n\nbody\n".to_vec(),
                received_at: 1_795_334_400,
                request_id: None,
            },
            resign: true,
            other_calls: OtherCalls::Forward,
        };
        let bytes = write(&fuzz).unwrap_or_default();
        let back = read(&bytes);
        assert!(same(&back.request, &fuzz.request), "{back:?}");
        assert!(back.resign);
        assert_eq!(back.other_calls, OtherCalls::Forward);
    }

    #[test]
    fn any_bytes_are_some_request() {
        let got = read(b"x\xff\nGET\nno-colon\n");
        assert_eq!(got.request.received_at, 0);
        assert_eq!(got.request.method, "GET");
        assert_eq!(
            got.request.headers,
            [("no-colon".to_owned(), String::new())]
        );
        assert_eq!(got.other_calls, OtherCalls::Authenticate);
    }
}
