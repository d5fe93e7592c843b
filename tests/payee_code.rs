//! Payee codes (flow B, spec chapter 05 "Payee code format", OMPP-CODE-001 to OMPP-CODE-017):
//! the CRC, the worked example byte for byte, round trips, one case per decode error, and
//! property tests of the decoder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use ompp::error::ProtocolError;
use ompp::money::{Amount, Currency};
use ompp::payee_code::{
    DecodeError, Decoded, ForeignCode, GUI, Initiation, PayeeCode, SIGNATURE_DOMAIN,
    SignedPayeeCode, crc16, decode,
};
use ompp::proto::v1::ErrorReason;
use ompp::types::{CodeId, MerchantId, PayeeCodeReference};
use proptest::prelude::*;

/// RFC 8032 section 7.1, TEST 1.
const TEST1_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const TEST1_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// RFC 8032 section 7.1, TEST 2: a valid key that did not sign the example.
const TEST2_PUBLIC: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

/// The complete payload of the worked example of chapter 05.
const EXAMPLE: &str = "00020101021226310004ompp0106M-10420209PC-8J3K5Q520458125303978540512.505802DE5910Cafe Lumen6006Berlin62110507T7-004280480004ompp0102k10210176722590003169f86d081884c7d6581980004ompp0186riT_hVKpdVTdYgpOEATRfsiZA4X-mVvL3KrcG1U8FjWGOs0PWsn9oiRAa2quQBQS1bEdGTc5VleVXBy7lHfXAg6304200B";
const EXAMPLE_SIGNATURE: &str =
    "riT_hVKpdVTdYgpOEATRfsiZA4X-mVvL3KrcG1U8FjWGOs0PWsn9oiRAa2quQBQS1bEdGTc5VleVXBy7lHfXAg";
const PIX_BODY: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***6304";

fn hex32(text: &str) -> [u8; 32] {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

fn test1_signing_key() -> SigningKey {
    SigningKey::from_bytes(&hex32(TEST1_SECRET))
}

fn test1_public_key() -> VerifyingKey {
    VerifyingKey::from_bytes(&hex32(TEST1_PUBLIC)).unwrap()
}

fn currency(code: &str) -> Currency {
    Currency::from_code(code).unwrap()
}

/// One data object, as the spec's Python `tlv` helper writes it.
fn tlv(id: u8, value: &str) -> String {
    assert!(value.len() <= 99, "{value}");
    format!("{id:02}{:02}{value}", value.len())
}

/// `body` + `6304` + its CRC.
fn with_crc(body: &str) -> String {
    let body = format!("{body}6304");
    let crc = crc16(body.as_bytes());
    format!("{body}{crc:04X}")
}

/// Top-level data objects, joined and closed with a correct CRC.
fn assemble(objects: &[(u8, String)]) -> String {
    let body: String = objects.iter().map(|(id, value)| tlv(*id, value)).collect();
    with_crc(&body)
}

/// The worked example's data objects without the CRC, for building variants of it.
fn example_objects() -> Vec<(u8, String)> {
    vec![
        (0, "01".into()),
        (1, "12".into()),
        (
            26,
            tlv(0, "ompp") + &tlv(1, "M-1042") + &tlv(2, "PC-8J3K5Q"),
        ),
        (52, "5812".into()),
        (53, "978".into()),
        (54, "12.50".into()),
        (58, "DE".into()),
        (59, "Cafe Lumen".into()),
        (60, "Berlin".into()),
        (62, tlv(5, "T7-0042")),
        (
            80,
            tlv(0, "ompp") + &tlv(1, "k1") + &tlv(2, "1767225900") + &tlv(3, "9f86d081884c7d65"),
        ),
        (81, tlv(0, "ompp") + &tlv(1, EXAMPLE_SIGNATURE)),
    ]
}

/// The example with data object `id` given `value` (added in order if absent), CRC recomputed.
fn example_with(id: u8, value: &str) -> String {
    let mut objects = example_objects();
    match objects.iter_mut().find(|(i, _)| *i == id) {
        Some(object) => object.1 = value.to_owned(),
        None => {
            let at = objects.iter().position(|(i, _)| *i > id);
            objects.insert(at.unwrap_or(objects.len()), (id, value.to_owned()));
        }
    }
    assemble(&objects)
}

/// The example without data object `id`, CRC recomputed.
fn example_without(id: u8) -> String {
    let objects: Vec<_> = example_objects()
        .into_iter()
        .filter(|(i, _)| *i != id)
        .collect();
    assemble(&objects)
}

fn example_code() -> PayeeCode {
    PayeeCode {
        initiation: Initiation::Dynamic,
        merchant_id: MerchantId::parse("M-1042").unwrap(),
        code_id: CodeId::parse("PC-8J3K5Q").unwrap(),
        merchant_category: "5812".into(),
        currency: currency("EUR"),
        amount: Some(Amount::from_minor_units(currency("EUR"), 1250).unwrap()),
        country: "DE".into(),
        merchant_name: "Cafe Lumen".into(),
        merchant_city: "Berlin".into(),
        reference: PayeeCodeReference::parse("T7-0042").unwrap(),
        key_id: "k1".into(),
        expires_at_secs: 1_767_225_900,
        nonce: "9f86d081884c7d65".into(),
    }
}

fn decode_ompp(payload: &str) -> SignedPayeeCode {
    match decode(payload) {
        Ok(Decoded::Ompp(signed)) => signed,
        other => panic!("expected an OMPP code, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// CRC (OMPP-CODE-003)

#[test]
fn crc16_has_the_catalogued_check_value() {
    assert_eq!(crc16(b"123456789"), 0x29B1);
    assert_eq!(crc16(b""), 0xFFFF);
}

#[test]
fn pix_example_has_crc_1d3d_and_decodes_as_foreign() {
    assert_eq!(crc16(PIX_BODY.as_bytes()), 0x1D3D);
    let payload = format!("{PIX_BODY}1D3D");
    assert_eq!(with_crc(PIX_BODY.trim_end_matches("6304")), payload);
    let expected = ForeignCode {
        fields: vec![
            (0, "01".into()),
            (
                26,
                "0014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000".into(),
            ),
            (52, "0000".into()),
            (53, "986".into()),
            (58, "BR".into()),
            (59, "Fulano de Tal".into()),
            (60, "BRASILIA".into()),
            (62, "0503***".into()),
            (63, "1D3D".into()),
        ],
    };
    assert_eq!(decode(&payload), Ok(Decoded::Foreign(expected)));
    // The same payload with a wrong CRC is malformed, not foreign.
    let wrong = format!("{PIX_BODY}1D3E");
    assert_eq!(
        decode(&wrong),
        Err(DecodeError::BadCrc {
            expected: 0x1D3D,
            actual: 0x1D3E
        })
    );
}

// ---------------------------------------------------------------------------------------------
// The worked example of chapter 05

#[test]
fn worked_example_decodes_field_by_field() {
    assert_eq!(EXAMPLE.len(), 278);
    let signed = decode_ompp(EXAMPLE);
    let code = &signed.code;
    assert_eq!(code.initiation, Initiation::Dynamic);
    assert_eq!(code.merchant_id.as_str(), "M-1042");
    assert_eq!(code.code_id.as_str(), "PC-8J3K5Q");
    assert_eq!(code.merchant_category, "5812");
    assert_eq!(code.currency.code(), "EUR");
    let amount = code.amount.unwrap();
    assert_eq!(
        (amount.currency().code(), amount.minor_units()),
        ("EUR", 1250)
    );
    assert_eq!(code.country, "DE");
    assert_eq!(code.merchant_name, "Cafe Lumen");
    assert_eq!(code.merchant_city, "Berlin");
    assert_eq!(code.reference.as_str(), "T7-0042");
    assert_eq!(code.key_id, "k1");
    assert_eq!(code.expires_at_secs, 1_767_225_900);
    assert_eq!(code.nonce, "9f86d081884c7d65");
    assert_eq!(code, &example_code());
    assert_eq!(
        signed.signature.to_bytes().to_vec(),
        base64url_decode(EXAMPLE_SIGNATURE)
    );
}

#[test]
fn worked_example_signature_verifies_with_rfc_8032_test_1() {
    let signed = decode_ompp(EXAMPLE);
    // 18 bytes of domain, a zero byte and the 168 characters before `81`: 187 bytes.
    let mut expected_input = b"OMPP-PAYEE-CODE-v1\0".to_vec();
    expected_input.extend_from_slice(&EXAMPLE.as_bytes()[..168]);
    assert_eq!(signed.signing_input(), expected_input.as_slice());
    assert_eq!(signed.signing_input().len(), 187);
    assert_eq!(SIGNATURE_DOMAIN, b"OMPP-PAYEE-CODE-v1");
    assert_eq!(signed.verify(&test1_public_key()), Ok(()));
    assert_eq!(
        test1_signing_key().verifying_key(),
        test1_public_key(),
        "TEST 1 secret and public keys belong together"
    );
    let other = VerifyingKey::from_bytes(&hex32(TEST2_PUBLIC)).unwrap();
    assert_eq!(signed.verify(&other), Err(DecodeError::BadSignature));
}

#[test]
fn worked_example_re_encodes_and_re_signs_byte_for_byte() {
    let signed = decode_ompp(EXAMPLE);
    let code = example_code();
    assert_eq!(code.signed_part().unwrap(), &EXAMPLE[..168]);
    assert_eq!(code.signing_input().unwrap(), signed.signing_input());
    assert_eq!(code.encode(&signed.signature).unwrap(), EXAMPLE);
    // Ed25519 is deterministic: signing again gives the same signature, so the same payload.
    assert_eq!(code.sign(&test1_signing_key()).unwrap(), EXAMPLE);
}

#[test]
fn static_variant_of_the_example_differs_as_the_spec_says() {
    let code = PayeeCode {
        initiation: Initiation::Static,
        amount: None,
        expires_at_secs: 1_767_225_600 + 30 * 86_400,
        ..example_code()
    };
    let payload = code.sign(&test1_signing_key()).unwrap();
    assert!(payload.starts_with("000201010211"));
    assert!(!payload.contains("540512.50"));
    assert!(payload.contains("0210176981760003"));
    let signed = decode_ompp(&payload);
    assert_eq!(signed.code, code);
    assert_eq!(signed.verify(&test1_public_key()), Ok(()));
}

fn base64url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.chars() {
        bits = (bits << 6) | u32::try_from(ALPHABET.find(c).unwrap()).unwrap();
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xFF).unwrap());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Round trips

fn round_trip(code: &PayeeCode) -> String {
    let key = SigningKey::from_bytes(&[7; 32]);
    let payload = code.sign(&key).unwrap();
    assert!(payload.len() <= 512);
    let signed = decode_ompp(&payload);
    assert_eq!(&signed.code, code);
    assert_eq!(signed.verify(&key.verifying_key()), Ok(()));
    assert_eq!(signed.code.encode(&signed.signature).unwrap(), payload);
    assert_eq!(
        signed.verify(&test1_public_key()),
        Err(DecodeError::BadSignature)
    );
    payload
}

#[test]
fn round_trips_in_eur_jpy_and_kwd() {
    let cases = [
        ("EUR", "978", 1250, "540512.50"),
        ("EUR", "978", 5, "54040.05"),
        ("JPY", "392", 500, "5403500"),
        ("KWD", "414", 1500, "54051.500"),
        ("KWD", "414", 1, "54050.001"),
    ];
    for (code, numeric, minor_units, amount_object) in cases {
        let currency = currency(code);
        let dynamic = PayeeCode {
            currency,
            amount: Some(Amount::from_minor_units(currency, minor_units).unwrap()),
            ..example_code()
        };
        let payload = round_trip(&dynamic);
        assert!(payload.starts_with("000201010212"), "{payload}");
        assert!(
            payload.contains(&format!("5303{numeric}{amount_object}")),
            "{payload}"
        );

        let static_code = PayeeCode {
            initiation: Initiation::Static,
            currency,
            amount: None,
            reference: PayeeCodeReference::parse("").unwrap(),
            ..example_code()
        };
        let payload = round_trip(&static_code);
        assert!(payload.starts_with("000201010211"), "{payload}");
        assert!(payload.contains(&format!("5303{numeric}5802")), "{payload}");
        assert!(!payload.contains("0507T7"), "tag 62 omitted: {payload}");
    }
}

#[test]
fn boundary_values_round_trip() {
    // 83 characters of ids: the value of 26 is exactly 99 characters.
    let largest = PayeeCode {
        merchant_id: MerchantId::parse(&"M".repeat(64)).unwrap(),
        code_id: CodeId::parse(&"C".repeat(19)).unwrap(),
        amount: Some(Amount::from_minor_units(currency("EUR"), 999_999_999_999).unwrap()),
        merchant_name: "N".repeat(25),
        merchant_city: "C".repeat(15),
        reference: PayeeCodeReference::parse(&"R".repeat(25)).unwrap(),
        key_id: "key.v_1-".into(),
        expires_at_secs: 9_999_999_999,
        ..example_code()
    };
    let payload = round_trip(&largest);
    assert!(payload.contains("2699"));
    assert!(payload.contains("54139999999999.99"));
    // The spec's largest code: 402 characters with a 10-digit expiry.
    assert_eq!(payload.len(), 402);
    let furthest = PayeeCode {
        expires_at_secs: i64::MAX,
        ..largest
    };
    assert_eq!(round_trip(&furthest).len(), 411);
    let earliest = PayeeCode {
        expires_at_secs: 0,
        currency: Currency::from_numeric(8).unwrap(),
        amount: Some(Amount::from_minor_units(Currency::from_numeric(8).unwrap(), 1).unwrap()),
        ..example_code()
    };
    let payload = round_trip(&earliest);
    assert!(
        payload.contains("5303008"),
        "numeric codes keep 3 digits: {payload}"
    );
    assert!(payload.contains("02010"), "{payload}");
}

#[test]
fn validate_rejects_what_the_decoder_rejects() {
    // A non-ASCII reference cannot even be built: the type admits EMVCo `ans` only.
    assert!(PayeeCodeReference::parse("Réf 1").is_err());
    let eur = currency("EUR");
    let cases: Vec<(PayeeCode, DecodeError)> = vec![
        (
            PayeeCode {
                merchant_id: MerchantId::parse(&"M".repeat(64)).unwrap(),
                code_id: CodeId::parse(&"C".repeat(20)).unwrap(),
                ..example_code()
            },
            bad(26, None),
        ),
        (
            PayeeCode {
                merchant_category: "581".into(),
                ..example_code()
            },
            bad(52, None),
        ),
        (
            PayeeCode {
                initiation: Initiation::Static,
                ..example_code()
            },
            DecodeError::AmountInStaticCode,
        ),
        (
            PayeeCode {
                amount: None,
                ..example_code()
            },
            DecodeError::MissingTag { tag: 54 },
        ),
        (
            PayeeCode {
                currency: currency("JPY"),
                ..example_code()
            },
            bad(54, None),
        ),
        (
            PayeeCode {
                amount: Some(Amount::from_minor_units(eur, 1_000_000_000_000).unwrap()),
                ..example_code()
            },
            DecodeError::AmountTooLong { length: 14 },
        ),
        (
            PayeeCode {
                country: "De".into(),
                ..example_code()
            },
            bad(58, None),
        ),
        (
            PayeeCode {
                merchant_name: String::new(),
                ..example_code()
            },
            bad(59, None),
        ),
        (
            PayeeCode {
                merchant_name: "N".repeat(26),
                ..example_code()
            },
            bad(59, None),
        ),
        (
            PayeeCode {
                merchant_name: "Café Lumen".into(),
                ..example_code()
            },
            bad(59, None),
        ),
        (
            PayeeCode {
                merchant_city: "C".repeat(16),
                ..example_code()
            },
            bad(60, None),
        ),
        (
            PayeeCode {
                key_id: String::new(),
                ..example_code()
            },
            bad(80, Some(1)),
        ),
        (
            PayeeCode {
                key_id: "key-12345".into(),
                ..example_code()
            },
            bad(80, Some(1)),
        ),
        (
            PayeeCode {
                key_id: "k 1".into(),
                ..example_code()
            },
            bad(80, Some(1)),
        ),
        (
            PayeeCode {
                expires_at_secs: -1,
                ..example_code()
            },
            bad(80, Some(2)),
        ),
        (
            PayeeCode {
                nonce: "9F86D081884C7D65".into(),
                ..example_code()
            },
            bad(80, Some(3)),
        ),
        (
            PayeeCode {
                nonce: "9f86d081884c7d6".into(),
                ..example_code()
            },
            bad(80, Some(3)),
        ),
    ];
    let signature = Signature::from_bytes(&[0; 64]);
    for (code, expected) in cases {
        assert_same_error(code.validate(), &expected, &format!("{code:?}"));
        assert_same_error(code.signed_part().map(drop), &expected, "signed_part");
        assert_same_error(code.signing_input().map(drop), &expected, "signing_input");
        assert_same_error(code.encode(&signature).map(drop), &expected, "encode");
        assert_same_error(code.sign(&test1_signing_key()).map(drop), &expected, "sign");
    }
    assert_eq!(example_code().validate(), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// One case per decode error

/// A `BadValue` with any reason.
fn bad(tag: u8, sub_tag: Option<u8>) -> DecodeError {
    DecodeError::BadValue {
        tag,
        sub_tag,
        reason: "",
    }
}

/// Compares errors, ignoring the reason text of `BadValue`.
fn assert_same_error<T: std::fmt::Debug>(
    actual: Result<T, DecodeError>,
    expected: &DecodeError,
    context: &str,
) {
    match (&actual, expected) {
        (
            Err(DecodeError::BadValue { tag, sub_tag, .. }),
            DecodeError::BadValue {
                tag: expected_tag,
                sub_tag: expected_sub,
                ..
            },
        ) => assert_eq!((tag, sub_tag), (expected_tag, expected_sub), "{context}"),
        (Err(error), _) => assert_eq!(error, expected, "{context}"),
        (Ok(value), _) => panic!("{context}: expected {expected:?}, got Ok({value:?})"),
    }
}

#[test]
fn each_malformed_payload_gives_its_error() {
    let example_sub = |tag: u8, value: String| example_with(tag, &value);
    let security = |key: &str, expiry: &str, nonce: &str| {
        tlv(0, "ompp") + &tlv(1, key) + &tlv(2, expiry) + &tlv(3, nonce)
    };
    let signature_template = |gui: &str, signature: &str| tlv(0, gui) + &tlv(1, signature);
    let mut tampered_crc = EXAMPLE.to_owned();
    tampered_crc.replace_range(100..101, "X");
    let tampered_expected = crc16(&tampered_crc.as_bytes()[..274]);
    let cases: Vec<(&str, String, DecodeError)> = vec![
        ("empty", String::new(), DecodeError::Empty),
        (
            "513 characters",
            "0".repeat(513),
            DecodeError::TooLong { length: 513 },
        ),
        (
            "a trailing newline (no trimming, OMPP-CODE-017)",
            format!("{EXAMPLE}\n"),
            DecodeError::BadCharacter { position: 278 },
        ),
        (
            "a non-ASCII character",
            EXAMPLE.replace("Cafe", "Café"),
            DecodeError::BadCharacter { position: 84 },
        ),
        (
            "no CRC object",
            EXAMPLE[..270].to_owned(),
            DecodeError::MissingCrc,
        ),
        (
            "too short for a CRC",
            "0002".into(),
            DecodeError::MissingCrc,
        ),
        (
            "lower-case CRC",
            EXAMPLE.replace("6304200B", "6304200b"),
            bad(63, None),
        ),
        (
            "one character changed, CRC not recomputed",
            tampered_crc,
            DecodeError::BadCrc {
                expected: tampered_expected,
                actual: 0x200B,
            },
        ),
        (
            "id with a letter",
            with_crc("000201A10212"),
            DecodeError::BadId {
                position: 6,
                template: None,
            },
        ),
        (
            "length 00",
            with_crc("0002010100"),
            DecodeError::BadLength {
                position: 8,
                template: None,
            },
        ),
        (
            "length with a letter",
            with_crc("00020101X2"),
            DecodeError::BadLength {
                position: 8,
                template: None,
            },
        ),
        (
            "value past the end",
            with_crc("00020101"),
            DecodeError::Truncated {
                position: 6,
                template: None,
            },
        ),
        (
            "sub-object id with a letter in 26",
            example_sub(26, "0004ompp0106M-1042X209PC-8J3K5Q".into()),
            DecodeError::BadId {
                position: 34,
                template: Some(26),
            },
        ),
        (
            "sub-object length 00 in 80",
            example_sub(80, tlv(0, "ompp") + "0100"),
            DecodeError::BadLength {
                position: 130,
                template: Some(80),
            },
        ),
        (
            "sub-object past the end of 62",
            example_sub(62, "0512T7-0042".into()),
            DecodeError::Truncated {
                position: 105,
                template: Some(62),
            },
        ),
        (
            "payload format indicator not first",
            with_crc("010212000201"),
            DecodeError::PayloadFormatNotFirst,
        ),
        (
            "payload format indicator 02",
            example_with(0, "02"),
            bad(0, None),
        ),
        (
            "the final 6304xxxx inside a value",
            with_crc("0002015912abcd"),
            DecodeError::CrcNotLast,
        ),
        (
            "a second 58",
            with_crc(&format!("{}5802FR", &EXAMPLE[..270])),
            DecodeError::DuplicateTag { tag: 58 },
        ),
        (
            "EMVCo: no 52",
            example_without(52),
            DecodeError::MissingTag { tag: 52 },
        ),
        (
            "EMVCo: no merchant account information",
            with_crc("0002015204000053039785802DE5901X6001Y"),
            DecodeError::NoMerchantAccount,
        ),
        (
            "OMPP: no 01",
            example_without(1),
            DecodeError::MissingTag { tag: 1 },
        ),
        (
            "OMPP: no 80",
            example_without(80),
            DecodeError::MissingTag { tag: 80 },
        ),
        (
            "OMPP: no 81",
            example_without(81),
            DecodeError::MissingTag { tag: 81 },
        ),
        (
            "dynamic code without 54",
            example_without(54),
            DecodeError::MissingTag { tag: 54 },
        ),
        (
            "58 after 59",
            {
                let mut objects = example_objects();
                objects.swap(6, 7);
                assemble(&objects)
            },
            DecodeError::TagOrder {
                tag: 58,
                previous: 59,
            },
        ),
        (
            "82 between 81 and 63",
            example_with(82, "x"),
            DecodeError::SignatureNotBeforeCrc,
        ),
        (
            "another merchant account template",
            example_with(27, "0004ompp"),
            DecodeError::UnexpectedTag { tag: 27 },
        ),
        (
            "static code with an amount",
            example_with(1, "11"),
            DecodeError::AmountInStaticCode,
        ),
        ("initiation 13", example_with(1, "13"), bad(1, None)),
        (
            "26 without code id",
            example_sub(26, tlv(0, "ompp") + &tlv(1, "M-1042")),
            DecodeError::MissingSubTag {
                tag: 26,
                sub_tag: 2,
            },
        ),
        (
            "26 with ids swapped",
            example_sub(
                26,
                tlv(0, "ompp") + &tlv(2, "PC-8J3K5Q") + &tlv(1, "M-1042"),
            ),
            DecodeError::UnexpectedSubTag {
                tag: 26,
                sub_tag: 2,
                position: 24,
            },
        ),
        (
            "62 with a terminal label",
            example_sub(62, tlv(5, "T7-0042") + &tlv(7, "T7")),
            DecodeError::UnexpectedSubTag {
                tag: 62,
                sub_tag: 7,
                position: 116,
            },
        ),
        (
            "signature of 83 characters",
            example_sub(81, tlv(0, "ompp") + &tlv(1, &EXAMPLE_SIGNATURE[..83])),
            bad(81, Some(1)),
        ),
        (
            "80 without nonce",
            example_sub(80, tlv(0, "ompp") + &tlv(1, "k1") + &tlv(2, "1767225900")),
            DecodeError::MissingSubTag {
                tag: 80,
                sub_tag: 3,
            },
        ),
        (
            "merchant id starting with a dash",
            example_sub(
                26,
                tlv(0, "ompp") + &tlv(1, "-M1042") + &tlv(2, "PC-8J3K5Q"),
            ),
            bad(26, Some(1)),
        ),
        (
            "code id with a space",
            example_sub(
                26,
                tlv(0, "ompp") + &tlv(1, "M-1042") + &tlv(2, "PC 8J3K5Q"),
            ),
            bad(26, Some(2)),
        ),
        ("category 581", example_with(52, "581"), bad(52, None)),
        ("category 58a2", example_with(52, "58a2"), bad(52, None)),
        ("currency 97", example_with(53, "97"), bad(53, None)),
        ("currency EUR", example_with(53, "EUR"), bad(53, None)),
        (
            "currency 999 (XXX, no currency)",
            example_with(53, "999"),
            DecodeError::UnknownCurrency { numeric: 999 },
        ),
        (
            "currency 000",
            example_with(53, "000"),
            DecodeError::UnknownCurrency { numeric: 0 },
        ),
        ("amount 12.5", example_with(54, "12.5"), bad(54, None)),
        ("amount 012.50", example_with(54, "012.50"), bad(54, None)),
        ("amount 12,50", example_with(54, "12,50"), bad(54, None)),
        ("amount 12.500", example_with(54, "12.500"), bad(54, None)),
        ("amount 0.00", example_with(54, "0.00"), bad(54, None)),
        ("amount -1.00", example_with(54, "-1.00"), bad(54, None)),
        ("amount +1.00", example_with(54, "+1.00"), bad(54, None)),
        (
            "amount of 14 characters",
            example_with(54, "10000000000.00"),
            DecodeError::AmountTooLong { length: 14 },
        ),
        ("country de", example_with(58, "de"), bad(58, None)),
        ("country DEU", example_with(58, "DEU"), bad(58, None)),
        (
            "name of 26",
            example_with(59, &"N".repeat(26)),
            bad(59, None),
        ),
        (
            "city of 16",
            example_with(60, &"C".repeat(16)),
            bad(60, None),
        ),
        (
            "reference of 26",
            example_sub(62, tlv(5, &"R".repeat(26))),
            bad(62, Some(5)),
        ),
        (
            "GUI OMPP in 26",
            example_sub(26, tlv(0, "OMPP") + &tlv(0, "ompp")),
            DecodeError::UnexpectedSubTag {
                tag: 26,
                sub_tag: 0,
                position: 24,
            },
        ),
        (
            "GUI in 80",
            example_sub(
                80,
                tlv(0, "omp") + &tlv(1, "k1") + &tlv(2, "1767225900") + &tlv(3, "9f86d081884c7d65"),
            ),
            bad(80, Some(0)),
        ),
        (
            "key id of 9",
            example_sub(80, security("k12345678", "1767225900", "9f86d081884c7d65")),
            bad(80, Some(1)),
        ),
        (
            "key id with a slash",
            example_sub(80, security("k/1", "1767225900", "9f86d081884c7d65")),
            bad(80, Some(1)),
        ),
        (
            "expiry with a leading zero",
            example_sub(80, security("k1", "01767225900", "9f86d081884c7d65")),
            bad(80, Some(2)),
        ),
        (
            "negative expiry",
            example_sub(80, security("k1", "-1767225900", "9f86d081884c7d65")),
            bad(80, Some(2)),
        ),
        (
            "expiry past i64",
            example_sub(
                80,
                security("k1", "9223372036854775808", "9f86d081884c7d65"),
            ),
            bad(80, Some(2)),
        ),
        (
            "upper-case nonce",
            example_sub(80, security("k1", "1767225900", "9F86D081884C7D65")),
            bad(80, Some(3)),
        ),
        (
            "nonce of 15",
            example_sub(80, security("k1", "1767225900", "9f86d081884c7d6")),
            bad(80, Some(3)),
        ),
        (
            "GUI in 81",
            example_sub(81, signature_template("ompq", EXAMPLE_SIGNATURE)),
            bad(81, Some(0)),
        ),
        (
            "signature with padding",
            example_sub(
                81,
                signature_template("ompp", &format!("{}==", &EXAMPLE_SIGNATURE[..84])),
            ),
            bad(81, Some(1)),
        ),
        (
            "signature in standard base64",
            example_sub(
                81,
                signature_template("ompp", &EXAMPLE_SIGNATURE.replace('_', "/")),
            ),
            bad(81, Some(1)),
        ),
        (
            "signature with non-zero trailing bits",
            example_sub(
                81,
                signature_template("ompp", &EXAMPLE_SIGNATURE.replace("XAg", "XAh")),
            ),
            bad(81, Some(1)),
        ),
    ];
    let mut kinds = std::collections::BTreeSet::from(["bad_signature".to_owned()]);
    for (name, payload, expected) in cases {
        assert_same_error(decode(&payload), &expected, name);
        let kind = serde_json::to_value(&expected).unwrap()["kind"].clone();
        kinds.insert(kind.as_str().unwrap().to_owned());
    }
    // Every variant has at least one case here (BadSignature in the signature tests).
    let all = [
        "empty",
        "too_long",
        "bad_character",
        "missing_crc",
        "bad_crc",
        "bad_id",
        "bad_length",
        "truncated",
        "payload_format_not_first",
        "crc_not_last",
        "duplicate_tag",
        "missing_tag",
        "no_merchant_account",
        "tag_order",
        "signature_not_before_crc",
        "unexpected_tag",
        "amount_in_static_code",
        "amount_too_long",
        "missing_sub_tag",
        "unexpected_sub_tag",
        "bad_value",
        "unknown_currency",
        "bad_signature",
    ];
    assert_eq!(kinds, all.iter().map(|k| (*k).to_owned()).collect());
}

#[test]
fn every_error_maps_to_its_catalogue_reason() {
    let malformed = [
        DecodeError::Empty,
        DecodeError::BadCrc {
            expected: 1,
            actual: 2,
        },
        DecodeError::MissingTag { tag: 26 },
        bad(54, None),
    ];
    for error in malformed {
        assert_eq!(error.reason(), ErrorReason::PayeeCodeMalformed);
        let protocol = ProtocolError::from(error.clone());
        assert_eq!(protocol.reason, ErrorReason::PayeeCodeMalformed);
        assert_eq!(protocol.message, error.to_string());
    }
    assert_eq!(
        DecodeError::BadSignature.reason(),
        ErrorReason::PayeeCodeSignatureInvalid
    );
    assert_eq!(
        ProtocolError::from(DecodeError::BadSignature).reason,
        ErrorReason::PayeeCodeSignatureInvalid
    );
    assert_eq!(
        DecodeError::BadCrc {
            expected: 0x1D3D,
            actual: 0x200B
        }
        .to_string(),
        "CRC mismatch: the payload's CRC is 1D3D, tag 63 says 200B"
    );
    assert_eq!(
        serde_json::to_value(DecodeError::BadValue {
            tag: 80,
            sub_tag: Some(3),
            reason: "16 lower-case hexadecimal digits"
        })
        .unwrap(),
        serde_json::json!({"kind": "bad_value", "tag": 80, "sub_tag": 3,
            "reason": "16 lower-case hexadecimal digits"})
    );
    assert_eq!(
        serde_json::to_value(example_code()).unwrap()["initiation"],
        "dynamic"
    );
}

#[test]
fn any_single_character_change_fails_the_crc() {
    let crc_start = EXAMPLE.len() - 8;
    for position in 0..crc_start {
        for replacement in ' '..='~' {
            let mut payload = EXAMPLE.to_owned();
            if payload[position..].starts_with(replacement) {
                continue;
            }
            payload.replace_range(position..=position, &replacement.to_string());
            assert!(
                matches!(decode(&payload), Err(DecodeError::BadCrc { .. })),
                "{position} {replacement:?}"
            );
        }
    }
}

#[test]
fn a_tampered_field_with_a_recomputed_crc_fails_the_signature() {
    let tampered = [
        example_with(54, "1.25"),
        example_with(59, "Evil Lumen"),
        example_with(
            80,
            &(tlv(0, "ompp") + &tlv(1, "k1") + &tlv(2, "1767229500") + &tlv(3, "9f86d081884c7d65")),
        ),
        example_with(62, &tlv(5, "T7-0043")),
        example_without(62),
        example_with(
            81,
            &(tlv(0, "ompp") + &tlv(1, &EXAMPLE_SIGNATURE.replace("riT", "riS"))),
        ),
    ];
    for payload in tampered {
        let signed = decode_ompp(&payload);
        let error = signed.verify(&test1_public_key()).unwrap_err();
        assert_eq!(error, DecodeError::BadSignature, "{payload}");
        assert_eq!(error.reason(), ErrorReason::PayeeCodeSignatureInvalid);
    }
    let signed = decode_ompp(&example_with(54, "1.25"));
    assert_eq!(signed.code.amount.unwrap().minor_units(), 125);
}

#[test]
fn gui_constant_is_ompp() {
    assert_eq!(GUI, "ompp");
    assert!(EXAMPLE.contains("0004ompp"));
}

// ---------------------------------------------------------------------------------------------
// Properties

fn currencies() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec![978u16, 392, 414, 840, 986, 8, 48, 990])
        .prop_filter_map("usable currency", |n| Currency::from_numeric(n).ok())
}

prop_compose! {
    fn payee_codes()(
        dynamic in any::<bool>(),
        currency in currencies(),
        minor_units in 1i64..=999_999_999_999,
        merchant_id in "[A-Za-z0-9][A-Za-z0-9._-]{0,40}",
        code_id in "[A-Za-z0-9][A-Za-z0-9._-]{0,40}",
        merchant_category in "[0-9]{4}",
        country in "[A-Z]{2}",
        merchant_name in "[ -~]{1,25}",
        merchant_city in "[ -~]{1,15}",
        reference in "[ -~]{0,25}",
        key_id in "[A-Za-z0-9._-]{1,8}",
        expires_at_secs in 0i64..=i64::MAX,
        nonce in "[0-9a-f]{16}",
    ) -> PayeeCode {
        PayeeCode {
            initiation: if dynamic { Initiation::Dynamic } else { Initiation::Static },
            merchant_id: MerchantId::parse(&merchant_id).unwrap(),
            code_id: CodeId::parse(&code_id).unwrap(),
            merchant_category,
            currency,
            amount: dynamic.then(|| Amount::from_minor_units(currency, minor_units).unwrap()),
            country,
            merchant_name,
            merchant_city,
            reference: PayeeCodeReference::parse(&reference).unwrap(),
            key_id,
            expires_at_secs,
            nonce,
        }
    }
}

/// A mutation of a payload: replace, insert or delete one character.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Insert(usize, char),
    Delete(usize),
}

fn edits() -> impl Strategy<Value = Edit> {
    let c = prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => any::<char>(),
    ];
    prop_oneof![
        (any::<usize>(), c.clone()).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), c).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

fn apply(payload: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = payload.chars().collect();
    for edit in edits {
        let len = chars.len();
        match *edit {
            Edit::Replace(i, c) if len > 0 => chars[i % len] = c,
            Edit::Insert(i, c) => chars.insert(i % (len + 1), c),
            Edit::Delete(i) if len > 0 => {
                chars.remove(i % len);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// What decoding any string must satisfy: no panic, and an accepted OMPP code is canonical.
fn check_decode(payload: &str) -> Option<SignedPayeeCode> {
    match decode(payload) {
        Ok(Decoded::Ompp(signed)) => {
            assert_eq!(
                signed.code.encode(&signed.signature).as_deref(),
                Ok(payload),
                "an accepted code re-encodes identically"
            );
            Some(signed)
        }
        Ok(Decoded::Foreign(foreign)) => {
            let rebuilt: String = foreign
                .fields
                .iter()
                .map(|(id, value)| tlv(*id, value))
                .collect();
            assert_eq!(rebuilt, payload, "a foreign code is its fields");
            None
        }
        Err(_) => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics_on_arbitrary_strings(text in any::<String>()) {
        check_decode(&text);
    }

    #[test]
    fn decode_never_panics_on_tlv_like_text(body in "[0-9a-zA-Z .-]{0,300}") {
        check_decode(&body);
        check_decode(&with_crc(&body));
    }

    #[test]
    fn decode_never_panics_on_mutated_codes(
        edits in prop::collection::vec(edits(), 1..4),
        recompute_crc in any::<bool>(),
    ) {
        let body = &EXAMPLE[..EXAMPLE.len() - 8];
        let payload = if recompute_crc {
            with_crc(&apply(body, &edits))
        } else {
            apply(EXAMPLE, &edits)
        };
        if let Some(signed) = check_decode(&payload)
            && payload != EXAMPLE
        {
            prop_assert_eq!(signed.verify(&test1_public_key()), Err(DecodeError::BadSignature));
        }
    }

    #[test]
    fn signed_codes_decode_to_themselves_and_verify(
        code in payee_codes(),
        secret in any::<[u8; 32]>(),
    ) {
        let key = SigningKey::from_bytes(&secret);
        prop_assert_eq!(code.validate(), Ok(()));
        let payload = code.sign(&key).unwrap();
        prop_assert!(payload.len() <= 411);
        let signed = check_decode(&payload).unwrap();
        prop_assert_eq!(&signed.code, &code);
        prop_assert_eq!(signed.verify(&key.verifying_key()), Ok(()));
        let input = code.signing_input().unwrap();
        prop_assert_eq!(signed.signing_input(), input.as_slice());
    }
}
