//! Signature algorithms, as pure functions over already-decoded inputs. Which parameters and
//! headers go in, and what a mismatch means, is the dialect's business.

pub mod acs3;
pub mod rpc_v1;
pub mod sigv4;

use subtle::ConstantTimeEq;

/// Compares a computed signature with the one sent without revealing, through timing, how many
/// leading bytes matched. Only the lengths may differ in time, and those are public.
pub fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len() && bool::from(expected.ct_eq(given))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}
