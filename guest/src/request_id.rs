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
    uuid_shaped(&digest[..16])
}

/// A random (version 4) UUID in capitals, from 16 random bytes: the form of the request ids
/// hosts give (the vendors' own form).
pub fn random(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid_shaped(&bytes)
}

/// 8-4-4-4-12 upper-case hex digits of 16 bytes.
fn uuid_shaped(bytes: &[u8]) -> String {
    let hex = crate::sign::hex(bytes).to_ascii_uppercase();
    let mut id = String::with_capacity(36);
    for (i, c) in hex.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        id.push(c);
    }
    id
}
