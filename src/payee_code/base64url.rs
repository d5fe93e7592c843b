//! Base64url without padding (RFC 4648 section 5), the encoding of the signature in tag `81`.
//!
//! Decoding is strict: only the 64 URL-safe characters, no padding, and the unused low bits of
//! the last character must be zero, so that every byte string has exactly one encoding.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes `bytes` without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let group = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        // A chunk of n bytes gives n + 1 characters.
        for i in 0..=chunk.len() {
            let index = (group >> (18 - 6 * i)) & 0x3F;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

fn sextet(c: u8) -> Option<u32> {
    let value = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes canonical unpadded base64url text, or `None`.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 2);
    for chunk in bytes.chunks(4) {
        let mut group: u32 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            group |= sextet(c)? << (18 - 6 * i);
        }
        // A chunk of n characters carries n - 1 bytes; the remaining bits must be zero.
        let produced = chunk.len() - 1;
        let unused_bits = 24 - 8 * produced;
        if group & ((1u32 << unused_bits) - 1) != 0 {
            return None;
        }
        for i in 0..produced {
            out.push(((group >> (16 - 8 * i)) & 0xFF) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn rfc_4648_vectors_without_padding() {
        let vectors: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (bytes, text) in vectors {
            assert_eq!(encode(bytes), text);
            assert_eq!(decode(text).as_deref(), Some(bytes));
        }
        assert_eq!(encode(&[0xFB, 0xFF]), "-_8");
    }

    #[test]
    fn rejects_padding_foreign_characters_and_non_canonical_bits() {
        assert_eq!(decode("Zg=="), None);
        assert_eq!(decode("Z+8"), None);
        assert_eq!(decode("Z/8"), None);
        assert_eq!(decode("Zh"), None);
        assert_eq!(decode("Zm9"), None);
        assert_eq!(decode("Zm9vY"), None);
    }
}
