//! SHA-256, the filter's one hash (content hashes, canonical requests, memory keys, derived
//! request ids). In the component the host computes it (the WIT `digest` import): the sandbox
//! cannot use the CPU's SHA instructions, and hashing was a fifth of a warm check's time. Linked
//! into another component (feature `embedded`: the `wasi:http` build) it is done in the guest. Both
//! give the same bytes, so every verdict is the same wherever the hash is computed.

/// The most bytes handed to the host in one `digest` call. Larger inputs (only bodies over the
/// vendors' own limits, which a host may allow) are hashed in the guest: hosts that lift a list
/// element by element (wasmtime-py) refuse a call that carries more than a few MiB.
#[cfg(all(target_arch = "wasm32", not(feature = "embedded")))]
const HOST_DIGEST_MAX: usize = 1 << 20;

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    #[cfg(all(target_arch = "wasm32", not(feature = "embedded")))]
    if bytes.len() <= HOST_DIGEST_MAX {
        return crate::component::host_sha256(bytes);
    }
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}
