//! Flow C authorization codes and gateway session tokens, sans-IO: the caller passes the clock
//! reading, the NS's secret key and a cryptographically secure random number generator.
//!
//! A code is drawn digit by digit by rejection sampling (OMPP-AUTH-005) and kept only as an
//! HMAC-SHA256 under the NS's key over the code and what it authorizes: the checkout's payment
//! id, its amount and its payee (OMPP-AUTH-006). Checking a typed code recomputes that MAC with
//! the checkout's current values and compares in constant time (OMPP-AUTH-007), so a code is
//! only ever right for the checkout, amount and payee it was issued for (OMPP-AUTH-003).
//!
//! The MAC input is a sequence of fields, each an 8-byte big-endian length followed by its
//! bytes: a domain label, the code's digits, the payment id, the currency's alphabetic code,
//! the minor units as 8 big-endian bytes, and the merchant id. The length prefixes make the
//! encoding unambiguous: no two different bindings produce the same input.

use std::time::Duration;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::limits::{AUTH_CODE_DIGITS, SESSION_TOKEN_LEN};
use crate::money::Amount;
use crate::types::{AuthorizationCodeText, MerchantId, PaymentId, SessionToken, UnixMillis};

/// Labels the MAC input, so that the NS key's MACs over codes cannot be confused with any other
/// use of the key.
const MAC_DOMAIN: &[u8] = b"ompp.v1/authorization-code";

/// Random bytes in a session token (OMPP-GW-003).
const SESSION_TOKEN_BYTES: usize = 32;
/// Characters of a session token: unpadded base64url of [`SESSION_TOKEN_BYTES`] bytes.
const SESSION_TOKEN_CHARS: usize = (SESSION_TOKEN_BYTES * 4).div_ceil(3);

// The tokens and codes this module makes always parse as their types (checked at compile time,
// so that no run-time failure path is needed).
const _: () = assert!(
    SESSION_TOKEN_LEN.min <= SESSION_TOKEN_CHARS && SESSION_TOKEN_CHARS <= SESSION_TOKEN_LEN.max
);
const _: () = assert!(
    AUTH_CODE_DIGITS.min == AuthorizationCodeText::BOUNDS.min
        && AUTH_CODE_DIGITS.max == AuthorizationCodeText::BOUNDS.max
        && AUTH_CODE_DIGITS.min <= AUTH_CODE_DIGITS.max
);

/// Largest byte value accepted when drawing a digit: 250 = 25 x 10 values, so that
/// `byte % 10` is uniform on the bytes below it (OMPP-AUTH-005).
const DIGIT_BYTE_LIMIT: u8 = 250;

/// The unpadded base64url alphabet (RFC 4648, section 5).
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// What a code is bound to (dynamic linking, OMPP-AUTH-006): the checkout, its amount and its
/// payee.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The checkout's payment id.
    pub payment_id: &'a PaymentId,
    /// The checkout's amount (currency and minor units).
    pub amount: Amount,
    /// The payee.
    pub merchant_id: &'a MerchantId,
}

/// A code as stored: its HMAC-SHA256 (OMPP-AUTH-006) and its validity, never the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    mac: [u8; 32],
    issued_at: UnixMillis,
    expires_at: UnixMillis,
}

impl StoredCode {
    /// Rebuilds a stored code from its parts (e.g. read back from a database).
    pub fn restore(mac: [u8; 32], issued_at: UnixMillis, expires_at: UnixMillis) -> Self {
        Self {
            mac,
            issued_at,
            expires_at,
        }
    }

    /// The HMAC-SHA256 of the code and its binding.
    pub fn mac(&self) -> &[u8; 32] {
        &self.mac
    }

    /// When the code was issued.
    pub fn issued_at(&self) -> UnixMillis {
        self.issued_at
    }

    /// From when on the code is no longer accepted (OMPP-AUTH-002, OMPP-AUTH-009).
    pub fn expires_at(&self) -> UnixMillis {
        self.expires_at
    }
}

/// A fresh authorization code of `digits` digits (clamped to [`AUTH_CODE_DIGITS`],
/// OMPP-AUTH-001), each digit drawn uniformly from `rng` by rejection sampling (OMPP-AUTH-005).
///
/// The code is valid from `now` for `validity` (the operator's setting, which
/// [`crate::limits::AUTH_CODE_VALIDITY`] bounds), but never past `checkout_expires_at`
/// (OMPP-AUTH-002). The stored form is the HMAC-SHA256 under `key` of the code and `binding`
/// (OMPP-AUTH-006, see the module docs). The code itself goes into the SMS and nowhere else
/// (OMPP-AUTH-012).
pub fn issue<R: RngCore + CryptoRng>(
    rng: &mut R,
    key: &[u8; 32],
    binding: &Binding<'_>,
    digits: usize,
    now: UnixMillis,
    validity: Duration,
    checkout_expires_at: UnixMillis,
) -> (AuthorizationCodeText, StoredCode) {
    // OMPP-AUTH-001: 6 to 8 digits whatever the caller asks for.
    let digits = digits.clamp(AUTH_CODE_DIGITS.min, AUTH_CODE_DIGITS.max);
    let code = loop {
        let text: String = (0..digits).map(|_| random_digit(rng)).collect();
        // Always Ok: `digits` is within the type's bounds (asserted above) and every character
        // is an ASCII digit. The loop only exists so that there is no panic path.
        if let Ok(code) = AuthorizationCodeText::parse(&text) {
            break code;
        }
    };
    let stored = StoredCode {
        mac: code_mac(key, binding, &code),
        issued_at: now,
        // OMPP-AUTH-002: issue time plus validity, or the checkout's expiry if earlier.
        expires_at: now.saturating_add(validity).min(checkout_expires_at),
    };
    (code, stored)
}

/// Whether `typed` is the code `stored` holds for `binding` under `key`: the MAC is recomputed
/// with the checkout's current values and compared in constant time (OMPP-AUTH-007). Validity
/// is not checked here (see [`StoredCode::expires_at`]).
pub fn matches(
    stored: &StoredCode,
    key: &[u8; 32],
    binding: &Binding<'_>,
    typed: &AuthorizationCodeText,
) -> bool {
    let mac = code_mac(key, binding, typed);
    // OMPP-AUTH-007: constant-time comparison of the MACs.
    mac[..].ct_eq(&stored.mac[..]).into()
}

/// A random gateway session token (OMPP-GW-003): the unpadded base64url encoding (43
/// characters) of 32 bytes from `rng`.
pub fn session_token<R: RngCore + CryptoRng>(rng: &mut R) -> SessionToken {
    loop {
        let mut bytes = [0u8; SESSION_TOKEN_BYTES];
        rng.fill_bytes(&mut bytes);
        // Always Ok: 43 base64url characters are within SESSION_TOKEN_LEN (asserted above).
        if let Ok(token) = SessionToken::parse(&base64url(&bytes)) {
            return token;
        }
    }
}

/// The SHA-256 of a session token: what the server stores instead of the token. Compare
/// digests with [`subtle::ConstantTimeEq`].
pub fn token_digest(token: &SessionToken) -> [u8; 32] {
    Sha256::digest(token.expose().as_bytes()).into()
}

/// One decimal digit, uniform: bytes from 250 up are rejected and redrawn (OMPP-AUTH-005).
fn random_digit<R: RngCore + CryptoRng>(rng: &mut R) -> char {
    loop {
        let mut byte = [0u8; 1];
        rng.fill_bytes(&mut byte);
        if byte[0] < DIGIT_BYTE_LIMIT {
            return char::from(b'0' + byte[0] % 10);
        }
    }
}

/// HMAC-SHA256 under `key` of the length-prefixed fields of the module docs (OMPP-AUTH-006).
fn code_mac(key: &[u8; 32], binding: &Binding<'_>, code: &AuthorizationCodeText) -> [u8; 32] {
    let mut mac = keyed_mac(key);
    for field in [
        MAC_DOMAIN,
        code.expose().as_bytes(),
        binding.payment_id.as_str().as_bytes(),
        binding.amount.currency().code().as_bytes(),
        &binding.amount.minor_units().to_be_bytes(),
        binding.merchant_id.as_str().as_bytes(),
    ] {
        let len = u64::try_from(field.len()).unwrap_or(u64::MAX);
        mac.update(&len.to_be_bytes());
        mac.update(field);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 keyed with a 32-byte key. RFC 2104 pads a key shorter than the hash's 64-byte
/// block with zeros, so padding it here gives the same MAC as keying with the 32 bytes, without
/// the fallible variable-length constructor.
fn keyed_mac(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

/// Unpadded base64url (RFC 4648, section 5).
fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity((bytes.len() * 4).div_ceil(3));
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let group = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // 2, 3 or 4 characters for 1, 2 or 3 bytes.
        for i in 0..=chunk.len() {
            let index = (group >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(BASE64URL[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::money::Currency;

    /// A deterministic generator for tests: SHA-256 of a seed and a counter, block after block.
    /// Marked `CryptoRng` only so that the API accepts it; it is for tests only.
    struct TestRng {
        seed: u64,
        counter: u64,
        block: [u8; 32],
        used: usize,
    }

    impl TestRng {
        fn new(seed: u64) -> Self {
            Self {
                seed,
                counter: 0,
                block: [0; 32],
                used: 32,
            }
        }
    }

    impl RngCore for TestRng {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }

        fn next_u64(&mut self) -> u64 {
            let mut b = [0; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }

        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for byte in dst {
                if self.used == self.block.len() {
                    let mut h = Sha256::new();
                    h.update(self.seed.to_be_bytes());
                    h.update(self.counter.to_be_bytes());
                    self.block = h.finalize().into();
                    self.counter += 1;
                    self.used = 0;
                }
                *byte = self.block[self.used];
                self.used += 1;
            }
        }
    }

    impl CryptoRng for TestRng {}

    /// Hands out a fixed script of bytes, then fails the test if asked for more.
    struct ScriptedRng(VecDeque<u8>);

    impl RngCore for ScriptedRng {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }

        fn next_u64(&mut self) -> u64 {
            let mut b = [0; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }

        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for byte in dst {
                *byte = self.0.pop_front().expect("the script ran out of bytes");
            }
        }
    }

    impl CryptoRng for ScriptedRng {}

    const KEY: [u8; 32] = [7; 32];
    const T0: UnixMillis = UnixMillis(1_700_000_000_000);
    const VALIDITY: Duration = Duration::from_secs(300);
    const FAR: UnixMillis = UnixMillis(T0.0 + 3_600_000);

    fn eur(minor: i64) -> Amount {
        Amount::from_minor_units(Currency::from_code("EUR").unwrap(), minor).unwrap()
    }

    struct Ids {
        payment: PaymentId,
        merchant: MerchantId,
    }

    fn ids(payment: &str, merchant: &str) -> Ids {
        Ids {
            payment: PaymentId::parse(payment).unwrap(),
            merchant: MerchantId::parse(merchant).unwrap(),
        }
    }

    fn binding(ids: &Ids, amount: Amount) -> Binding<'_> {
        Binding {
            payment_id: &ids.payment,
            amount,
            merchant_id: &ids.merchant,
        }
    }

    fn issue_at(
        rng: &mut TestRng,
        b: &Binding<'_>,
        digits: usize,
    ) -> (AuthorizationCodeText, StoredCode) {
        issue(rng, &KEY, b, digits, T0, VALIDITY, FAR)
    }

    #[test]
    fn codes_have_the_requested_digits_clamped() {
        let ids = ids("P-1", "M-1");
        let b = binding(&ids, eur(5990));
        let mut rng = TestRng::new(1);
        for (asked, got) in [
            (6, 6),
            (7, 7),
            (8, 8),
            (5, 6),
            (9, 8),
            (0, 6),
            (usize::MAX, 8),
        ] {
            for _ in 0..20 {
                let (code, _) = issue_at(&mut rng, &b, asked);
                assert_eq!(code.expose().len(), got, "asked for {asked}");
                assert!(code.expose().bytes().all(|c| c.is_ascii_digit()));
            }
        }
    }

    #[test]
    fn digits_are_roughly_uniform() {
        let ids = ids("P-1", "M-1");
        let b = binding(&ids, eur(5990));
        let mut rng = TestRng::new(42);
        let mut histogram = [0u32; 10];
        let codes = 20_000;
        for _ in 0..codes {
            let (code, _) = issue_at(&mut rng, &b, 6);
            for c in code.expose().bytes() {
                histogram[usize::from(c - b'0')] += 1;
            }
        }
        let mean = f64::from(codes * 6) / 10.0;
        for (digit, &count) in histogram.iter().enumerate() {
            let deviation = (f64::from(count) - mean).abs() / mean;
            assert!(
                deviation < 0.10,
                "digit {digit}: {count} times, mean {mean}: {histogram:?}"
            );
        }
    }

    #[test]
    fn bytes_from_250_up_are_rejected() {
        let ids = ids("P-1", "M-1");
        let b = binding(&ids, eur(5990));
        let script = [255, 250, 251, 3, 255, 249, 7, 8, 252, 9, 10, 11, 99];
        let mut rng = ScriptedRng(script.into_iter().collect());
        let (code, stored) = issue(&mut rng, &KEY, &b, 6, T0, VALIDITY, FAR);
        // 255, 250, 251, 255 and 252 are skipped; 249 -> 9 and 10 -> 0 (no bias mod 10).
        assert_eq!(code.expose(), "397890");
        // Exactly the bytes needed were drawn.
        assert_eq!(rng.0, [11, 99]);
        assert!(matches(&stored, &KEY, &b, &code));
    }

    #[test]
    fn matches_only_the_right_code_and_binding() {
        let ids_right = ids("P-1", "M-1");
        let amount = eur(5990);
        let right = binding(&ids_right, amount);
        let mut rng = TestRng::new(3);
        let (code, stored) = issue_at(&mut rng, &right, 6);
        assert!(matches(&stored, &KEY, &right, &code));

        let other_payment = ids("P-2", "M-1");
        let other_merchant = ids("P-1", "M-2");
        let usd = Amount::from_minor_units(Currency::from_code("USD").unwrap(), 5990).unwrap();
        let wrong_bindings = [
            binding(&other_payment, amount),
            binding(&ids_right, eur(5991)),
            binding(&ids_right, usd),
            binding(&other_merchant, amount),
        ];
        for wrong in &wrong_bindings {
            assert!(!matches(&stored, &KEY, wrong, &code), "{wrong:?}");
        }
        // Another key.
        assert!(!matches(&stored, &[8; 32], &right, &code));
        // Every other code of the same length, and the code with a digit appended.
        let mut wrong_codes = 0;
        for n in (0..1_000_000).step_by(997) {
            let typed = AuthorizationCodeText::parse(&format!("{n:06}")).unwrap();
            if typed != code {
                wrong_codes += 1;
                assert!(!matches(&stored, &KEY, &right, &typed));
            }
        }
        assert!(wrong_codes > 1_000);
        let longer = AuthorizationCodeText::parse(&format!("{}0", code.expose())).unwrap();
        assert!(!matches(&stored, &KEY, &right, &longer));
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        // Code and payment id are adjacent: "123456" + "7P-1" and "1234567" + "P-1" have the same
        // concatenation, which the length prefixes tell apart.
        let six = AuthorizationCodeText::parse("123456").unwrap();
        let seven = AuthorizationCodeText::parse("1234567").unwrap();
        let a = ids("7P-1", "M-1");
        let b = ids("P-1", "M-1");
        assert_ne!(
            code_mac(&KEY, &binding(&a, eur(5990)), &six),
            code_mac(&KEY, &binding(&b, eur(5990)), &seven)
        );
    }

    #[test]
    fn padded_key_is_rfc_2104_hmac() {
        let key: [u8; 32] = core::array::from_fn(|i| u8::try_from(i * 7 % 256).unwrap());
        let mut ours = keyed_mac(&key);
        let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        ours.update(b"message");
        reference.update(b"message");
        assert_eq!(
            ours.finalize().into_bytes(),
            reference.finalize().into_bytes()
        );
    }

    #[test]
    fn code_expiry_is_capped_by_the_checkout() {
        let ids = ids("P-1", "M-1");
        let b = binding(&ids, eur(5990));
        let mut rng = TestRng::new(4);
        let (_, stored) = issue(&mut rng, &KEY, &b, 6, T0, VALIDITY, FAR);
        assert_eq!(stored.issued_at(), T0);
        assert_eq!(stored.expires_at(), UnixMillis(T0.0 + 300_000));
        let checkout_end = UnixMillis(T0.0 + 120_000);
        let (_, stored) = issue(&mut rng, &KEY, &b, 6, T0, VALIDITY, checkout_end);
        assert_eq!(stored.expires_at(), checkout_end);
    }

    #[test]
    fn stored_code_restores() {
        let ids = ids("P-1", "M-1");
        let b = binding(&ids, eur(5990));
        let mut rng = TestRng::new(5);
        let (code, stored) = issue_at(&mut rng, &b, 8);
        let restored = StoredCode::restore(*stored.mac(), stored.issued_at(), stored.expires_at());
        assert_eq!(restored, stored);
        assert!(matches(&restored, &KEY, &b, &code));
        // The stored form is not the code.
        assert_ne!(
            &stored.mac()[..code.expose().len()],
            code.expose().as_bytes()
        );
    }

    #[test]
    fn session_tokens_are_43_random_base64url_chars() {
        let mut rng = TestRng::new(6);
        let first = session_token(&mut rng);
        let second = session_token(&mut rng);
        assert_ne!(first, second);
        for token in [&first, &second] {
            assert_eq!(token.expose().len(), 43);
            assert!(
                token
                    .expose()
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            );
        }
        let mut zeros = ScriptedRng(std::iter::repeat_n(0, 32).collect());
        assert_eq!(session_token(&mut zeros).expose(), "A".repeat(43));
        let mut ones = ScriptedRng(std::iter::repeat_n(0xff, 32).collect());
        assert_eq!(
            session_token(&mut ones).expose(),
            format!("{}8", "_".repeat(42))
        );
    }

    #[test]
    fn base64url_matches_rfc_4648() {
        for (input, output) in [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff], "-_8"),
        ] {
            assert_eq!(base64url(input), output);
        }
    }

    #[test]
    fn token_digest_is_sha256() {
        let token = SessionToken::parse(&"a".repeat(43)).unwrap();
        let digest = token_digest(&token);
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest("a".repeat(43))));
        let other = SessionToken::parse(&"b".repeat(43)).unwrap();
        assert_ne!(token_digest(&other), digest);
    }
}
