//! An arbitrary payee code that follows the field rules, signed with a key from the input:
//! `decode(sign(code))` is that code, its signature verifies with the key's public half, and
//! the payload is at most 411 characters. A code that `validate()` rejects does not sign.
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use ompp::payee_code::{Decoded, PayeeCode, decode};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    code: PayeeCode,
    key: [u8; 32],
    other_key: [u8; 32],
}

fuzz_target!(|input: Input| {
    let Input {
        code,
        key,
        other_key,
    } = input;
    let key = SigningKey::from_bytes(&key);
    if code.validate().is_err() {
        assert!(code.sign(&key).is_err(), "an invalid code was signed");
        return;
    }
    let payload = code.sign(&key).expect("a valid code signs");
    assert!(
        payload.len() <= 411,
        "payload of {} characters",
        payload.len()
    );
    let signed = match decode(&payload) {
        Ok(Decoded::Ompp(signed)) => signed,
        other => panic!("signed code {payload:?} decodes as {other:?}"),
    };
    assert_eq!(signed.code, code);
    signed
        .verify(&key.verifying_key())
        .expect("the signature verifies");
    assert_eq!(
        signed.signing_input(),
        code.signing_input().expect("valid").as_slice()
    );
    let other = SigningKey::from_bytes(&other_key);
    if other.verifying_key() != key.verifying_key() {
        assert!(signed.verify(&other.verifying_key()).is_err());
    }
});
