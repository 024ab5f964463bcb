//! Typed, prefixed, time-ordered identifiers (`job_`, `usr_`, `key_`...).
//!
//! An id is `PREFIX_` followed by 26 Crockford base32 characters: 48 bits of
//! milliseconds since the epoch, then 80 random bits (the ULID layout). Ids of
//! one prefix therefore sort by creation time, which is what list cursors use.

use rand::RngCore;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Generates a new id with the given prefix (without the underscore).
pub fn new_id(prefix: &str, now_ms: i64) -> String {
    let mut rnd = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut rnd);
    let ms = (now_ms.max(0) as u128) & ((1u128 << 48) - 1);
    let mut value: u128 = ms << 80;
    for (i, b) in rnd.iter().enumerate() {
        value |= (*b as u128) << (8 * (9 - i));
    }
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    for i in (0..26).rev() {
        let idx = ((value >> (5 * i)) & 0x1f) as usize;
        out.push(ALPHABET[idx] as char);
    }
    out
}

/// True when `s` looks like an id of this prefix (cheap shape check that lets
/// handlers answer 404 for nonsense without touching storage).
pub fn is_valid(prefix: &str, s: &str) -> bool {
    let Some(rest) = s.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    rest.len() == 26 && rest.bytes().all(|b| ALPHABET.contains(&b))
}

/// Random URL-safe token of `bytes` random bytes, hex encoded.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_valid_and_time_ordered() {
        let a = new_id("job", 1_000);
        let b = new_id("job", 2_000);
        assert!(a.starts_with("job_"));
        assert!(is_valid("job", &a));
        assert!(a < b);
        assert!(!is_valid("usr", &a));
        assert!(!is_valid("job", "job_123"));
        assert!(!is_valid("job", "job_../../etc/passwd"));
    }
}
