//! `arbitrary::Arbitrary` for the validated domain types (feature `arbitrary`, for the
//! cargo-fuzz targets in `fuzz/`).
//!
//! A validated type can only be built through its checked constructor, so each impl draws a
//! candidate that follows the type's rules as far as is cheap (length within bounds, characters
//! from the right set), passes it to the constructor, and falls back to a fixed valid value if
//! the constructor still refuses it. Every value produced is therefore valid, and no impl panics.
//! The plain-data types (`UnixMillis`, `Role`, `Initiation`, `Money`) derive `Arbitrary` where
//! they are defined.

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Error, Result, Unstructured};

use crate::limits::{
    CHECKOUT_REFERENCE_LEN, DISPLAY_NAME_LEN, ID_LEN, ITEM_DESCRIPTION_LEN, LINK_MESSAGE_ID_LEN,
    LengthBounds, MERCHANT_REFERENCE_LEN, PAGE_TOKEN_LEN, PAYEE_CODE_MAX_AMOUNT_LEN,
    PAYEE_CODE_MAX_IDS_LEN, PAYEE_CODE_PAYLOAD_LEN, PAYEE_CODE_REFERENCE_LEN, PRODUCT_CODE_LEN,
    REMITTANCE_INFO_LEN, SMS_SENDER_LEN, SMS_TEXT_LEN,
};
use crate::money::{Amount, Currency};
use crate::payee_code::{Initiation, PayeeCode};
use crate::types::{
    CheckoutReference, CodeId, CustomerId, DeviceId, DisplayName, HandsetId, IdempotencyKey,
    ItemDescription, LinkMessageId, MerchantId, MerchantReference, PageToken, PartyIdentity,
    PayeeCodePayload, PayeeCodeReference, PaymentId, ProductCode, RemittanceInfo, Role,
    SmsMessageId, SmsSender, SmsText, TransferId,
};
use crate::validation::Violation;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
const DIGITS: &[u8] = b"0123456789";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `min..=max` characters from `alphabet`, the first from `first` (if given).
fn from_alphabet(
    u: &mut Unstructured<'_>,
    min: usize,
    max: usize,
    first: Option<&[u8]>,
    alphabet: &[u8],
) -> Result<String> {
    let len = u.int_in_range(min..=max.max(min))?;
    let mut out = String::with_capacity(len);
    for i in 0..len {
        let set = match first {
            Some(first) if i == 0 => first,
            _ => alphabet,
        };
        out.push(char::from(*u.choose(set)?));
    }
    Ok(out)
}

/// An identifier: 1 to 64 (or the type's bounds) id characters, starting with a letter or digit.
fn id_text(u: &mut Unstructured<'_>, bounds: LengthBounds) -> Result<String> {
    from_alphabet(u, bounds.min, bounds.max, Some(ALPHANUMERIC), ID_CHARS)
}

/// Text of `bounds.min..=bounds.max` characters: mostly printable ASCII (what most rules allow),
/// sometimes any `char`.
fn text(u: &mut Unstructured<'_>, bounds: LengthBounds) -> Result<String> {
    let len = u.int_in_range(bounds.min..=bounds.max.max(bounds.min))?;
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        let byte: u8 = u.arbitrary()?;
        let c = if byte < 0xF0 {
            char::from(0x20 + byte % 0x5F)
        } else {
            u.arbitrary()?
        };
        out.push(c);
    }
    Ok(out)
}

/// Text from U+0020 to U+007E (EMVCo `ans`), `min..=max` characters.
fn ans_text(u: &mut Unstructured<'_>, min: usize, max: usize) -> Result<String> {
    let len = u.int_in_range(min..=max.max(min))?;
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        out.push(char::from(u.int_in_range(0x20u8..=0x7E)?));
    }
    Ok(out)
}

/// `parse(candidate)`, replacing each character the parser reports as bad by `a` (allowed by
/// every text and id rule) and retrying; then `parse(fallback)`.
fn parse_or<T>(
    candidate: String,
    fallback: &str,
    parse: impl Fn(&str) -> std::result::Result<T, Violation>,
) -> Result<T> {
    let mut chars: Vec<char> = candidate.chars().collect();
    for _ in 0..=chars.len() {
        let text: String = chars.iter().collect();
        match parse(&text) {
            Ok(value) => return Ok(value),
            Err(Violation::BadCharacter { position }) => match chars.get_mut(position) {
                Some(c) if *c != 'a' => *c = 'a',
                _ => break,
            },
            Err(_) => break,
        }
    }
    parse(fallback).map_err(|_| Error::IncorrectFormat)
}

macro_rules! arbitrary_id {
    ($($name:ident: $bounds:expr),* $(,)?) => {$(
        impl<'a> Arbitrary<'a> for $name {
            fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
                let candidate = id_text(u, $bounds)?;
                parse_or(candidate, &"0".repeat($bounds.min.max(1)), $name::parse)
            }
        }
    )*};
}

arbitrary_id!(
    MerchantId: ID_LEN,
    CustomerId: ID_LEN,
    DeviceId: ID_LEN,
    PaymentId: ID_LEN,
    TransferId: ID_LEN,
    CodeId: ID_LEN,
    SmsMessageId: ID_LEN,
    HandsetId: ID_LEN,
    IdempotencyKey: ID_LEN,
    LinkMessageId: LINK_MESSAGE_ID_LEN,
);

macro_rules! arbitrary_text {
    ($($name:ident: $bounds:expr),* $(,)?) => {$(
        impl<'a> Arbitrary<'a> for $name {
            fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
                let candidate = text(u, $bounds)?;
                parse_or(candidate, &"a".repeat($bounds.min), $name::parse)
            }
        }
    )*};
}

arbitrary_text!(
    DisplayName: DISPLAY_NAME_LEN,
    MerchantReference: MERCHANT_REFERENCE_LEN,
    PayeeCodeReference: PAYEE_CODE_REFERENCE_LEN,
    CheckoutReference: CHECKOUT_REFERENCE_LEN,
    ProductCode: PRODUCT_CODE_LEN,
    ItemDescription: ITEM_DESCRIPTION_LEN,
    RemittanceInfo: REMITTANCE_INFO_LEN,
    SmsText: SMS_TEXT_LEN,
    SmsSender: SMS_SENDER_LEN,
    PageToken: PAGE_TOKEN_LEN,
    PayeeCodePayload: PAYEE_CODE_PAYLOAD_LEN,
);

impl<'a> Arbitrary<'a> for PartyIdentity {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let role: Role = u.arbitrary()?;
        let candidate = id_text(u, ID_LEN)?;
        parse_or(candidate, "0", |id| PartyIdentity::new(role, id))
    }
}

/// Every currency [`Currency::from_code`] accepts, in alphabetic order. (Listed by alphabetic
/// code rather than numeric, so that a numeric code shared by two currencies would show up in
/// round trips through the numeric code, as in payee codes.)
fn currencies() -> &'static [Currency] {
    static ALL: OnceLock<Vec<Currency>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        for a in UPPER {
            for b in UPPER {
                for c in UPPER {
                    let code = [*a, *b, *c];
                    let code = std::str::from_utf8(&code).unwrap_or_default();
                    all.extend(Currency::from_code(code).ok());
                }
            }
        }
        all
    })
}

impl<'a> Arbitrary<'a> for Currency {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        u.choose(currencies()).copied()
    }
}

impl<'a> Arbitrary<'a> for Amount {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let currency: Currency = u.arbitrary()?;
        let minor_units = u.int_in_range(1..=i64::MAX)?;
        Amount::from_minor_units(currency, minor_units).map_err(|_| Error::IncorrectFormat)
    }
}

/// A code following the field rules of [`PayeeCode::validate`] (so nearly always valid; the
/// amount may still be too long for tag `54` when the currency has many minor digits).
impl<'a> Arbitrary<'a> for PayeeCode {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let initiation: Initiation = u.arbitrary()?;
        let merchant_id: MerchantId = u.arbitrary()?;
        // Template `26` holds both ids: at most 83 characters together.
        let code_id_max = PAYEE_CODE_MAX_IDS_LEN
            .saturating_sub(merchant_id.as_str().len())
            .clamp(1, ID_LEN.max);
        let code_id = parse_or(
            from_alphabet(u, 1, code_id_max, Some(ALPHANUMERIC), ID_CHARS)?,
            "0",
            CodeId::parse,
        )?;
        let merchant_category = from_alphabet(u, 4, 4, None, DIGITS)?;
        let currency: Currency = u.arbitrary()?;
        let amount = match initiation {
            Initiation::Static => None,
            Initiation::Dynamic => {
                // Up to 12 digits of minor units: the decimal text fits 13 characters unless
                // the exponent is large.
                let digits = u.int_in_range(1..=PAYEE_CODE_MAX_AMOUNT_LEN - 1)?;
                let max = 10i64
                    .checked_pow(u32::try_from(digits).unwrap_or(1))
                    .map_or(i64::MAX, |p| p - 1);
                let minor_units = u.int_in_range(1..=max)?;
                Some(
                    Amount::from_minor_units(currency, minor_units)
                        .map_err(|_| Error::IncorrectFormat)?,
                )
            }
        };
        let country = from_alphabet(u, 2, 2, None, UPPER)?;
        let merchant_name = ans_text(u, 1, 25)?;
        let merchant_city = ans_text(u, 1, 15)?;
        let reference = parse_or(ans_text(u, 0, 25)?, "", PayeeCodeReference::parse)?;
        let key_id = from_alphabet(u, 1, 8, None, ID_CHARS)?;
        let expires_at_secs = u.int_in_range(0..=i64::MAX)?;
        let nonce = format!("{:016x}", u.arbitrary::<u64>()?);
        Ok(PayeeCode {
            initiation,
            merchant_id,
            code_id,
            merchant_category,
            currency,
            amount,
            country,
            merchant_name,
            merchant_city,
            reference,
            key_id,
            expires_at_secs,
            nonce,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_currency_round_trips_through_its_numeric_code() {
        assert!(currencies().len() > 100);
        for &currency in currencies() {
            assert_eq!(Currency::from_numeric(currency.numeric()), Ok(currency));
        }
    }

    /// Every impl gives a valid value for any input, including none at all.
    #[test]
    fn values_are_valid_for_any_input() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut bytes = Vec::new();
        for round in 0..200 {
            bytes.clear();
            for _ in 0..(round * 7) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                bytes.push((seed >> 56) as u8);
            }
            let mut u = Unstructured::new(&bytes);
            let id: LinkMessageId = u.arbitrary().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(LinkMessageId::parse(id.as_str()), Ok(id.clone()));
            let name: SmsSender = u.arbitrary().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(SmsSender::parse(name.as_str()), Ok(name.clone()));
            let peer: PartyIdentity = u.arbitrary().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(PartyIdentity::parse(&peer.to_string()), Ok(peer.clone()));
            let amount: Amount = u.arbitrary().unwrap_or_else(|e| panic!("{e}"));
            assert!(amount.minor_units() > 0);
            let code: PayeeCode = u.arbitrary().unwrap_or_else(|e| panic!("{e}"));
            if let Err(e) = code.validate() {
                // Only the amount may be out of bounds (a currency with many minor digits).
                assert!(
                    matches!(e, crate::payee_code::DecodeError::AmountTooLong { .. }),
                    "{e:?} for {code:?}"
                );
            }
        }
    }
}
