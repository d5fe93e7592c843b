//! Payee codes (flow B): the EMVCo merchant-presented QR payload that the operation center
//! signs for a merchant (spec chapter 05, "Payee code format", OMPP-CODE-001 to OMPP-CODE-017).
//!
//! Sans-IO: [`PayeeCode::sign`] and [`PayeeCode::encode`] build a payload, [`decode`] parses
//! one strictly and [`SignedPayeeCode::verify`] checks its Ed25519 signature over the bytes as
//! received. Nothing here reads a clock: the caller compares [`PayeeCode::expires_at_secs`] with
//! its own time, checks that [`PayeeCode::key_id`] names a known key, and maps
//! [`Decoded::Foreign`] to `PAYEE_CODE_NOT_OMPP` (OMPP-CODE-014).
//!
//! A payload that [`decode`] accepts as an OMPP code is canonical: encoding the decoded
//! [`PayeeCode`] with the decoded signature gives back the same string, byte for byte.

mod base64url;
mod crc;
mod decode;
mod error;
mod tlv;

pub use crate::limits::{
    PAYEE_CODE_MAX_AMOUNT_LEN as MAX_AMOUNT_LEN, PAYEE_CODE_MAX_IDS_LEN as MAX_IDS_LEN,
};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::Serialize;

pub use crc::crc16;
pub use decode::decode;
pub use error::DecodeError;

use crate::money::{Amount, Currency};
use crate::types::{CodeId, MerchantId, PayeeCodeReference, is_id_char};

/// The globally unique identifier of every OMPP template (`26`, `80` and `81` sub `00`).
pub const GUI: &str = "ompp";

/// Domain separation prefix of the signature input, followed by one zero byte (OMPP-CODE-012).
pub const SIGNATURE_DOMAIN: &[u8] = b"OMPP-PAYEE-CODE-v1";

// Top-level ids.
const TAG_FORMAT: u8 = 0;
const TAG_INITIATION: u8 = 1;
const TAG_ACCOUNT: u8 = 26;
const TAG_CATEGORY: u8 = 52;
const TAG_CURRENCY: u8 = 53;
const TAG_AMOUNT: u8 = 54;
const TAG_COUNTRY: u8 = 58;
const TAG_NAME: u8 = 59;
const TAG_CITY: u8 = 60;
const TAG_ADDITIONAL: u8 = 62;
const TAG_CRC: u8 = 63;
const TAG_SECURITY: u8 = 80;
const TAG_SIGNATURE: u8 = 81;

// Sub-ids.
const SUB_GUI: u8 = 0;
const SUB_MERCHANT_ID: u8 = 1;
const SUB_CODE_ID: u8 = 2;
const SUB_REFERENCE: u8 = 5;
const SUB_KEY_ID: u8 = 1;
const SUB_EXPIRY: u8 = 2;
const SUB_NONCE: u8 = 3;
const SUB_SIGNATURE: u8 = 1;

/// Characters of the base64url signature in `81` sub `01`.
const SIGNATURE_TEXT_LEN: usize = 86;

/// Point of initiation method, tag `01` (OMPP-CODE-004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Initiation {
    /// `11`: no amount, payable any number of times until it expires.
    Static,
    /// `12`: with an amount, single use.
    Dynamic,
}

impl Initiation {
    /// The value of tag `01`: `11` or `12`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "11",
            Self::Dynamic => "12",
        }
    }
}

/// The OMPP content of a payee code: everything but the signature and the CRC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayeeCode {
    /// Static or dynamic, tag `01`.
    pub initiation: Initiation,
    /// Template `26` sub `01`.
    pub merchant_id: MerchantId,
    /// Template `26` sub `02`; with the merchant id at most 83 characters.
    pub code_id: CodeId,
    /// Tag `52`: 4 digits (ISO 18245), `0000` when the merchant has none.
    pub merchant_category: String,
    /// Tag `53`, written as the 3-digit ISO 4217 numeric code.
    pub currency: Currency,
    /// Tag `54`: present iff dynamic, in `currency`, at most 13 characters as written
    /// (OMPP-MONEY-006).
    pub amount: Option<Amount>,
    /// Tag `58`: two upper-case letters (ISO 3166-1 alpha-2; the list itself is not checked).
    pub country: String,
    /// Tag `59`: 1 to 25 characters from U+0020 to U+007E.
    pub merchant_name: String,
    /// Tag `60`: 1 to 15 characters from U+0020 to U+007E.
    pub merchant_city: String,
    /// Template `62` sub `05`: 0 to 25 characters from U+0020 to U+007E; tag `62` is omitted
    /// when empty.
    pub reference: PayeeCodeReference,
    /// Template `80` sub `01`: the signing key's id, 1 to 8 characters from `A-Z a-z 0-9 . _ -`.
    pub key_id: String,
    /// Template `80` sub `02`: expiry in Unix seconds, not negative.
    pub expires_at_secs: i64,
    /// Template `80` sub `03`: 16 lower-case hexadecimal digits, fresh for each code.
    pub nonce: String,
}

impl PayeeCode {
    /// Checks the field rules that the decoder also enforces (lengths, character sets, amount
    /// iff dynamic and in the code's currency...) and returns the first problem, in tag order.
    /// [`PayeeCode::encode`] and [`PayeeCode::sign`] call it.
    pub fn validate(&self) -> Result<(), DecodeError> {
        let ids_len = self.merchant_id.as_str().len() + self.code_id.as_str().len();
        if ids_len > MAX_IDS_LEN {
            return Err(DecodeError::BadValue {
                tag: TAG_ACCOUNT,
                sub_tag: None,
                reason: "merchant id and code id together longer than 83 characters",
            });
        }
        rules::merchant_category(&self.merchant_category)?;
        match (self.initiation, self.amount) {
            (Initiation::Static, Some(_)) => return Err(DecodeError::AmountInStaticCode),
            (Initiation::Dynamic, None) => {
                return Err(DecodeError::MissingTag { tag: TAG_AMOUNT });
            }
            (Initiation::Dynamic, Some(amount)) => {
                if amount.currency() != self.currency {
                    return Err(DecodeError::BadValue {
                        tag: TAG_AMOUNT,
                        sub_tag: None,
                        reason: "the amount is not in the code's currency (tag 53)",
                    });
                }
                let length = amount.money().to_decimal_string().len();
                if length > MAX_AMOUNT_LEN {
                    return Err(DecodeError::AmountTooLong { length });
                }
            }
            (Initiation::Static, None) => {}
        }
        rules::country(&self.country)?;
        rules::merchant_name(&self.merchant_name)?;
        rules::merchant_city(&self.merchant_city)?;
        rules::reference(self.reference.as_str())?;
        rules::key_id(&self.key_id)?;
        if self.expires_at_secs < 0 {
            return Err(rules::bad_expiry());
        }
        rules::nonce(&self.nonce)
    }

    /// The payload prefix the signature covers: data objects `00` to `80` in ascending order,
    /// ending just before the id `81` of the signature template (OMPP-CODE-012).
    pub fn signed_part(&self) -> Result<String, DecodeError> {
        self.validate()?;
        let mut out = String::with_capacity(320);
        tlv::push(&mut out, TAG_FORMAT, "01");
        tlv::push(&mut out, TAG_INITIATION, self.initiation.as_str());
        let account = [
            tlv::object(SUB_GUI, GUI),
            tlv::object(SUB_MERCHANT_ID, self.merchant_id.as_str()),
            tlv::object(SUB_CODE_ID, self.code_id.as_str()),
        ]
        .concat();
        tlv::push(&mut out, TAG_ACCOUNT, &account);
        tlv::push(&mut out, TAG_CATEGORY, &self.merchant_category);
        tlv::push(
            &mut out,
            TAG_CURRENCY,
            &format!("{:03}", self.currency.numeric()),
        );
        if let Some(amount) = self.amount {
            tlv::push(&mut out, TAG_AMOUNT, &amount.money().to_decimal_string());
        }
        tlv::push(&mut out, TAG_COUNTRY, &self.country);
        tlv::push(&mut out, TAG_NAME, &self.merchant_name);
        tlv::push(&mut out, TAG_CITY, &self.merchant_city);
        if !self.reference.as_str().is_empty() {
            let additional = tlv::object(SUB_REFERENCE, self.reference.as_str());
            tlv::push(&mut out, TAG_ADDITIONAL, &additional);
        }
        let security = [
            tlv::object(SUB_GUI, GUI),
            tlv::object(SUB_KEY_ID, &self.key_id),
            tlv::object(SUB_EXPIRY, &self.expires_at_secs.to_string()),
            tlv::object(SUB_NONCE, &self.nonce),
        ]
        .concat();
        tlv::push(&mut out, TAG_SECURITY, &security);
        Ok(out)
    }

    /// The bytes the signature is made over: [`SIGNATURE_DOMAIN`], one zero byte, and the bytes
    /// of [`PayeeCode::signed_part`] (OMPP-CODE-012).
    pub fn signing_input(&self) -> Result<Vec<u8>, DecodeError> {
        Ok(signing_input(&self.signed_part()?))
    }

    /// The complete payload: the signed part, template `81` (sub `00` [`GUI`], sub `01` the
    /// signature in base64url without padding, 86 characters), then `6304` and the CRC as 4
    /// upper-case hexadecimal digits (OMPP-CODE-003, OMPP-CODE-010, OMPP-CODE-011). At most 411
    /// characters.
    pub fn encode(&self, signature: &Signature) -> Result<String, DecodeError> {
        let mut out = self.signed_part()?;
        let signature_template = [
            tlv::object(SUB_GUI, GUI),
            tlv::object(SUB_SIGNATURE, &base64url::encode(&signature.to_bytes())),
        ]
        .concat();
        tlv::push(&mut out, TAG_SIGNATURE, &signature_template);
        out.push_str("6304");
        let crc = crc16(out.as_bytes());
        out.push_str(&format!("{crc:04X}"));
        Ok(out)
    }

    /// Signs the code with `key` (pure Ed25519, deterministic) and encodes it:
    /// `encode(sign(signing_input))`.
    pub fn sign(&self, key: &SigningKey) -> Result<String, DecodeError> {
        let signature = key.sign(&self.signing_input()?);
        self.encode(&signature)
    }
}

fn signing_input(signed_part: &str) -> Vec<u8> {
    let mut input = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 1 + signed_part.len());
    input.extend_from_slice(SIGNATURE_DOMAIN);
    input.push(0);
    input.extend_from_slice(signed_part.as_bytes());
    input
}

/// A decoded OMPP code: its content, its signature, and the exact signed bytes as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPayeeCode {
    /// The content.
    pub code: PayeeCode,
    /// The signature from template `81` sub `01`.
    pub signature: Signature,
    /// [`SIGNATURE_DOMAIN`], 0x00 and the payload up to template `81`, as received.
    signing_input: Vec<u8>,
}

impl SignedPayeeCode {
    /// Verifies the signature over the bytes as received (OMPP-CODE-012, OMPP-CODE-017) with
    /// `key`, the payee code key the caller looked up by [`PayeeCode::key_id`]. Uses strict
    /// Ed25519 verification (canonical `S` and `R`, no small-order key).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), DecodeError> {
        key.verify_strict(&self.signing_input, &self.signature)
            .map_err(|_| DecodeError::BadSignature)
    }

    /// The bytes the signature covers, as received: [`SIGNATURE_DOMAIN`], 0x00 and the payload
    /// up to but excluding the id `81`.
    pub fn signing_input(&self) -> &[u8] {
        &self.signing_input
    }
}

/// A well-formed EMVCo payload without the OMPP template (e.g. a Pix BR Code): its top-level
/// data objects in payload order, the CRC included. A verifier answers it with
/// `PAYEE_CODE_NOT_OMPP` (OMPP-CODE-015).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignCode {
    /// `(id, value)` of each top-level data object; values of templates are not parsed.
    pub fields: Vec<(u8, String)>,
}

/// What [`decode`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "decoded once per request and matched at once; unboxed keeps `Decoded::Ompp(code)` patterns simple"
)]
pub enum Decoded {
    /// An OMPP code, structurally valid; its signature is not verified yet.
    Ompp(SignedPayeeCode),
    /// Well-formed EMVCo without the OMPP template.
    Foreign(ForeignCode),
}

/// Value rules shared by [`PayeeCode::validate`] and the decoder, so both accept the same set.
mod rules {
    use super::*;

    fn bad(tag: u8, sub_tag: Option<u8>, reason: &'static str) -> DecodeError {
        DecodeError::BadValue {
            tag,
            sub_tag,
            reason,
        }
    }

    pub(super) fn is_ans(c: char) -> bool {
        (' '..='~').contains(&c)
    }

    fn ans_text(text: &str, max: usize) -> bool {
        (1..=max).contains(&text.chars().count()) && text.chars().all(is_ans)
    }

    pub(super) fn merchant_category(value: &str) -> Result<(), DecodeError> {
        if value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(bad(TAG_CATEGORY, None, "4 digits (ISO 18245)"))
        }
    }

    pub(super) fn country(value: &str) -> Result<(), DecodeError> {
        if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(())
        } else {
            Err(bad(
                TAG_COUNTRY,
                None,
                "2 upper-case letters (ISO 3166-1 alpha-2)",
            ))
        }
    }

    pub(super) fn merchant_name(value: &str) -> Result<(), DecodeError> {
        if ans_text(value, 25) {
            Ok(())
        } else {
            Err(bad(
                TAG_NAME,
                None,
                "1 to 25 characters from U+0020 to U+007E",
            ))
        }
    }

    pub(super) fn merchant_city(value: &str) -> Result<(), DecodeError> {
        if ans_text(value, 15) {
            Ok(())
        } else {
            Err(bad(
                TAG_CITY,
                None,
                "1 to 15 characters from U+0020 to U+007E",
            ))
        }
    }

    /// An empty reference is valid: tag `62` is then omitted.
    pub(super) fn reference(value: &str) -> Result<(), DecodeError> {
        if value.is_empty() || ans_text(value, 25) {
            Ok(())
        } else {
            Err(bad(
                TAG_ADDITIONAL,
                Some(SUB_REFERENCE),
                "1 to 25 characters from U+0020 to U+007E",
            ))
        }
    }

    pub(super) fn key_id(value: &str) -> Result<(), DecodeError> {
        if (1..=8).contains(&value.len()) && value.chars().all(is_id_char) {
            Ok(())
        } else {
            Err(bad(
                TAG_SECURITY,
                Some(SUB_KEY_ID),
                "1 to 8 characters from A-Z a-z 0-9 . _ -",
            ))
        }
    }

    pub(super) fn bad_expiry() -> DecodeError {
        bad(
            TAG_SECURITY,
            Some(SUB_EXPIRY),
            "Unix seconds in decimal without leading zeros, at most 9223372036854775807",
        )
    }

    pub(super) fn nonce(value: &str) -> Result<(), DecodeError> {
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if value.len() == 16 && value.bytes().all(lower_hex) {
            Ok(())
        } else {
            Err(bad(
                TAG_SECURITY,
                Some(SUB_NONCE),
                "16 lower-case hexadecimal digits",
            ))
        }
    }
}
