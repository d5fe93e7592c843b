//! Why a payload is not a valid payee code.

use serde::Serialize;

use crate::error::ProtocolError;
use crate::proto::v1::ErrorReason;

/// Why a payload is not a valid payee code, or why a [`super::PayeeCode`] cannot be encoded.
///
/// Every variant but [`DecodeError::BadSignature`] is `PAYEE_CODE_MALFORMED`; positions are
/// 0-based byte offsets into the payload (which is ASCII once [`DecodeError::BadCharacter`] is
/// ruled out), tags and sub-tags are the two-digit ids as numbers.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecodeError {
    /// The payload is empty (OMPP-CODE-001).
    #[error("the payload is empty")]
    Empty,
    /// The payload is longer than 512 characters (OMPP-CODE-001, `PAYEE_CODE_PAYLOAD_LEN`).
    #[error("the payload is {length} characters long, at most 512 are allowed")]
    TooLong {
        /// Length of the payload in characters.
        length: usize,
    },
    /// A character outside the EMVCo `ans` set, U+0020 to U+007E (OMPP-CODE-001).
    #[error("character {position} is outside U+0020 to U+007E")]
    BadCharacter {
        /// 0-based character position of the first offending character.
        position: usize,
    },
    /// The payload does not end with a CRC data object `6304` and four characters
    /// (OMPP-CODE-003).
    #[error("the payload does not end with a CRC data object 6304xxxx")]
    MissingCrc,
    /// The CRC in tag `63` does not match the payload (OMPP-CODE-003).
    #[error("CRC mismatch: the payload's CRC is {expected:04X}, tag 63 says {actual:04X}")]
    BadCrc {
        /// The CRC computed over the payload up to and including `6304`.
        expected: u16,
        /// The CRC the payload carries.
        actual: u16,
    },
    /// A data object id that is not two decimal digits (OMPP-CODE-001).
    #[error("data object id at byte {position} is not two digits{}", in_template(*.template))]
    BadId {
        /// Byte position of the id.
        position: usize,
        /// The template the data object is in, `None` at the top level.
        template: Option<u8>,
    },
    /// A data object length that is not two decimal digits from `01` to `99` (OMPP-CODE-001).
    #[error("data object length at byte {position} is not 01 to 99{}", in_template(*.template))]
    BadLength {
        /// Byte position of the length.
        position: usize,
        /// The template the data object is in, `None` at the top level.
        template: Option<u8>,
    },
    /// A data object runs past the end of the payload or of its template (OMPP-CODE-001).
    #[error("data object at byte {position} is truncated{}", in_template(*.template))]
    Truncated {
        /// Byte position of the data object's id.
        position: usize,
        /// The template the data object is in, `None` at the top level.
        template: Option<u8>,
    },
    /// The first data object is not the payload format indicator `00` (OMPP-CODE-002).
    #[error("the first data object is not the payload format indicator 00")]
    PayloadFormatNotFirst,
    /// The CRC `6304xxxx` at the end of the payload is not the last data object: it is part of
    /// another data object's value (OMPP-CODE-003).
    #[error("the CRC at the end of the payload is not the last data object")]
    CrcNotLast,
    /// A top-level data object id occurs twice (OMPP-CODE-001).
    #[error("data object {tag:02} occurs twice")]
    DuplicateTag {
        /// The repeated id.
        tag: u8,
    },
    /// A mandatory data object is absent (OMPP-CODE-004 to OMPP-CODE-010, OMPP-CODE-015), or
    /// tag `54` is absent from a dynamic code (OMPP-CODE-007).
    #[error("data object {tag:02} is missing")]
    MissingTag {
        /// The missing id.
        tag: u8,
    },
    /// The payload has no merchant account information template, ids `02` to `51`
    /// (OMPP-CODE-015).
    #[error("no merchant account information template (ids 02 to 51)")]
    NoMerchantAccount,
    /// The data objects of an OMPP code are not in ascending order of id (OMPP-CODE-011).
    #[error("data object {tag:02} follows {previous:02}: ids must ascend")]
    TagOrder {
        /// The id out of order.
        tag: u8,
        /// The id of the data object before it.
        previous: u8,
    },
    /// The signature template `81` does not immediately precede the CRC `63` (OMPP-CODE-011).
    #[error("the signature template 81 does not immediately precede the CRC 63")]
    SignatureNotBeforeCrc,
    /// An OMPP code holds a data object that OMPP does not define for it (not 00, 01, 26, 52,
    /// 53, 54, 58, 59, 60, 62, 63, 80, 81).
    #[error("data object {tag:02} has no place in an OMPP code")]
    UnexpectedTag {
        /// The unexpected id.
        tag: u8,
    },
    /// A static code carries an amount (tag `54`) (OMPP-CODE-007).
    #[error("a static code carries an amount (tag 54)")]
    AmountInStaticCode,
    /// The amount of tag `54` as written is longer than 13 characters (OMPP-CODE-007); an issuer
    /// answers it with `AMOUNT_LIMIT_EXCEEDED` (OMPP-FLB-003).
    #[error("the amount is {length} characters long as written, at most 13 fit tag 54")]
    AmountTooLong {
        /// Length of the written amount.
        length: usize,
    },
    /// A template ends before one of its sub-objects (OMPP-CODE-005, -008 to -010).
    #[error("template {tag:02} lacks sub-object {sub_tag:02}")]
    MissingSubTag {
        /// The template's id.
        tag: u8,
        /// The missing sub-id.
        sub_tag: u8,
    },
    /// A template holds a sub-object where OMPP puts another one or none
    /// (OMPP-CODE-005, -008 to -010).
    #[error("template {tag:02} has sub-object {sub_tag:02} at byte {position} out of place")]
    UnexpectedSubTag {
        /// The template's id.
        tag: u8,
        /// The sub-id found.
        sub_tag: u8,
        /// Byte position of the sub-object.
        position: usize,
    },
    /// A value breaks its rule (OMPP-CODE-002 to OMPP-CODE-010, OMPP-CODE-016).
    #[error("data object {tag:02}{}: {reason}", sub_tag.map(|s| format!(" sub-object {s:02}")).unwrap_or_default())]
    BadValue {
        /// The data object's id.
        tag: u8,
        /// The sub-object's id, for a value inside a template.
        sub_tag: Option<u8>,
        /// What the value must be.
        reason: &'static str,
    },
    /// Tag `53` is a well-formed numeric code that is not a currency this crate supports
    /// (OMPP-CODE-016, OMPP-MONEY-002).
    #[error("currency {numeric:03} is not a supported ISO 4217 currency")]
    UnknownCurrency {
        /// The numeric code in tag `53`.
        numeric: u16,
    },
    /// The Ed25519 signature does not verify with the key (OMPP-CODE-012, OMPP-CODE-014).
    #[error("the payee code signature does not verify")]
    BadSignature,
}

fn in_template(template: Option<u8>) -> String {
    template
        .map(|tag| format!(" in template {tag:02}"))
        .unwrap_or_default()
}

impl DecodeError {
    /// The catalogue reason: `PAYEE_CODE_SIGNATURE_INVALID` for [`DecodeError::BadSignature`],
    /// `PAYEE_CODE_MALFORMED` for every other variant (OMPP-CODE-014).
    pub fn reason(&self) -> ErrorReason {
        match self {
            Self::BadSignature => ErrorReason::PayeeCodeSignatureInvalid,
            _ => ErrorReason::PayeeCodeMalformed,
        }
    }
}

impl From<DecodeError> for ProtocolError {
    fn from(error: DecodeError) -> Self {
        ProtocolError::new(error.reason(), error.to_string())
    }
}
