//! Request ids: the caller's own when given, else the host's, else one derived from the request.
//! Deriving keeps the filter deterministic (no randomness in the guest) while still giving every
//! distinct request a distinct id in the vendor's format (an upper-case UUID).

use crate::types::Request;

/// The host's id if it gave one, else a UUID-shaped digest of the request.
pub fn fallback(request: &Request) -> String {
    if let Some(id) = request.request_id.as_deref().filter(|id| !id.is_empty()) {
        return id.to_owned();
    }
    let mut input = Vec::with_capacity(512 + request.body.len());
    input.extend_from_slice(request.method.as_bytes());
    input.push(0);
    input.extend_from_slice(request.path_with_query.as_bytes());
    input.push(0);
    for (name, value) in &request.headers {
        input.extend_from_slice(name.as_bytes());
        input.push(0);
        input.extend_from_slice(value.as_bytes());
        input.push(0);
    }
    input.extend_from_slice(&request.body);
    input.extend_from_slice(&request.received_at.to_be_bytes());
    let digest = crate::digest::sha256(&input);
    // 8-4-4-4-12 upper-case hex digits of the first 16 bytes.
    let hex = crate::sign::hex(&digest[..16]).to_ascii_uppercase();
    let mut id = String::with_capacity(36);
    for (i, c) in hex.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        id.push(c);
    }
    id
}
