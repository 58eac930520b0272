//! The `read` phase's body handling: the body read whole within the dialect's limit and
//! `read_timeout`, and a refused body drained in the background so its answer arrives.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::http::request::Parts;
use std::time::Duration;
use taskgate_filter::EdgeFailure;

/// Why a body was not read, and what is left of it to drain (`None`: nothing worth reading,
/// the connection broke or stalled). Either way the connection closes after the answer: its
/// next bytes are not a request.
pub struct Unread {
    pub failure: EdgeFailure,
    pub rest: Option<Incoming>,
}

/// Reads the whole body, at most `limit` bytes (refused as soon as it is longer, or declared
/// longer, before it is all read), within `timeout`.
pub async fn read(
    parts: &Parts,
    mut body: Incoming,
    limit: u32,
    timeout: Duration,
) -> Result<Bytes, Unread> {
    let too_large = EdgeFailure::EntityTooLarge { limit };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::from(limit)) {
        return Err(Unread {
            failure: too_large,
            rest: Some(body),
        });
    }
    match tokio::time::timeout(timeout, read_capped(&mut body, limit as usize)).await {
        Ok(Ok(Some(read))) => Ok(read),
        Ok(Ok(None)) => Err(Unread {
            failure: too_large,
            rest: Some(body),
        }),
        // The client's fault either way: close, answering if it still listens.
        Ok(Err(_)) => Err(Unread {
            failure: EdgeFailure::Malformed {
                detail: "the body could not be read (bad chunked framing, or the connection broke mid-body)"
                    .to_owned(),
            },
            rest: None,
        }),
        Err(_) => Err(Unread {
            failure: EdgeFailure::SlowClient,
            rest: None,
        }),
    }
}

/// Reads the body up to `limit` bytes; `None` as soon as it is longer, without reading the rest.
async fn read_capped(body: &mut Incoming, limit: usize) -> Result<Option<Bytes>, hyper::Error> {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if buffer.len() + data.len() > limit {
                return Ok(None);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(Some(buffer.freeze()))
}

/// Most bytes of a refused body read and thrown away so that its answer arrives; see `linger`.
const LINGER_BYTES: usize = 64 << 20;

/// Reads and discards the rest of a refused body in the background, for at most
/// [`LINGER_BYTES`] and `timeout`, while the answer goes out at once. Closing a connection with
/// unread bytes makes the kernel reset it, and a client still sending its body (Node's HTTP
/// client, for one) then sees the reset instead of the answer. Nothing is kept.
pub fn linger(mut body: Incoming, timeout: Duration) {
    tokio::spawn(async move {
        let drain = async {
            let mut seen = 0;
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |data| data.len());
                if seen > LINGER_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, drain).await;
    });
}
