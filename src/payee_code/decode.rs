//! The strict decoder (OMPP-CODE-001 to OMPP-CODE-016), in the order of OMPP-CODE-014: the
//! characters and length, the CRC, the EMVCo structure, the presence of the OMPP template, then
//! the OMPP structure and values. The signature is checked by [`SignedPayeeCode::verify`].

use ed25519_dalek::Signature;

use super::tlv::{DataObject, Parser};
use super::*;
use crate::limits::PAYEE_CODE_PAYLOAD_LEN;
use crate::validation::Violation;

/// Top-level ids that EMVCo makes mandatory besides a merchant account template
/// (OMPP-CODE-015).
const EMVCO_MANDATORY: [u8; 5] = [TAG_CATEGORY, TAG_CURRENCY, TAG_COUNTRY, TAG_NAME, TAG_CITY];

/// Top-level ids every OMPP code has (OMPP-CODE-004 to OMPP-CODE-010).
const OMPP_MANDATORY: [u8; 9] = [
    TAG_INITIATION,
    TAG_ACCOUNT,
    TAG_CATEGORY,
    TAG_CURRENCY,
    TAG_COUNTRY,
    TAG_NAME,
    TAG_CITY,
    TAG_SECURITY,
    TAG_SIGNATURE,
];

/// Every top-level id an OMPP code may hold.
const OMPP_ALLOWED: [u8; 13] = [
    TAG_FORMAT,
    TAG_INITIATION,
    TAG_ACCOUNT,
    TAG_CATEGORY,
    TAG_CURRENCY,
    TAG_AMOUNT,
    TAG_COUNTRY,
    TAG_NAME,
    TAG_CITY,
    TAG_ADDITIONAL,
    TAG_CRC,
    TAG_SECURITY,
    TAG_SIGNATURE,
];

/// Decodes a payload exactly as scanned (OMPP-CODE-017: no trimming, no re-casing).
///
/// Total: any string gives a [`Decoded`] or the first [`DecodeError`] found, never a panic.
/// [`Decoded::Ompp`] means the payload is a structurally valid OMPP code; its signature, key id
/// and expiry are the caller's to check (OMPP-CODE-014). [`Decoded::Foreign`] is well-formed
/// EMVCo without the OMPP template (`PAYEE_CODE_NOT_OMPP`).
pub fn decode(payload: &str) -> Result<Decoded, DecodeError> {
    check_characters(payload)?;
    check_crc(payload)?;
    let objects = Parser::new(payload, 0, None).collect::<Result<Vec<_>, _>>()?;
    check_emvco(payload, &objects)?;
    let account = objects.iter().find(|o| o.id == TAG_ACCOUNT);
    if !account.is_some_and(has_ompp_gui) {
        let fields = objects.iter().map(|o| (o.id, o.value.to_owned())).collect();
        return Ok(Decoded::Foreign(ForeignCode { fields }));
    }
    decode_ompp(payload, &objects).map(Decoded::Ompp)
}

/// OMPP-CODE-001: 1 to 512 characters, all from U+0020 to U+007E. Checked before the CRC,
/// which is defined over the payload's ASCII bytes.
fn check_characters(payload: &str) -> Result<(), DecodeError> {
    if payload.is_empty() {
        return Err(DecodeError::Empty);
    }
    let length = payload.chars().count();
    if length > PAYEE_CODE_PAYLOAD_LEN.max {
        return Err(DecodeError::TooLong { length });
    }
    match payload.chars().position(|c| !rules::is_ans(c)) {
        Some(position) => Err(DecodeError::BadCharacter { position }),
        None => Ok(()),
    }
}

/// OMPP-CODE-003: the payload ends in `6304` and 4 upper-case hex digits equal to the CRC of
/// everything before those digits.
fn check_crc(payload: &str) -> Result<(), DecodeError> {
    let len = payload.len();
    let body_len = len.checked_sub(4).ok_or(DecodeError::MissingCrc)?;
    let header = len
        .checked_sub(8)
        .and_then(|start| payload.get(start..body_len));
    if header != Some("6304") {
        return Err(DecodeError::MissingCrc);
    }
    let (body, crc_text) = (
        payload.get(..body_len).unwrap_or_default(),
        payload.get(body_len..).unwrap_or_default(),
    );
    let upper_hex = |b: u8| b.is_ascii_digit() || (b'A'..=b'F').contains(&b);
    let actual = if crc_text.bytes().all(upper_hex) {
        u16::from_str_radix(crc_text, 16).ok()
    } else {
        None
    };
    let actual = actual.ok_or(DecodeError::BadValue {
        tag: TAG_CRC,
        sub_tag: None,
        reason: "4 upper-case hexadecimal digits",
    })?;
    let expected = crc16(body.as_bytes());
    if expected == actual {
        Ok(())
    } else {
        Err(DecodeError::BadCrc { expected, actual })
    }
}

/// OMPP-CODE-001, OMPP-CODE-002, OMPP-CODE-003 and OMPP-CODE-015 at the top level.
fn check_emvco(payload: &str, objects: &[DataObject<'_>]) -> Result<(), DecodeError> {
    match objects.first() {
        Some(first) if first.id == TAG_FORMAT => {
            if first.value != "01" {
                return Err(DecodeError::BadValue {
                    tag: TAG_FORMAT,
                    sub_tag: None,
                    reason: "01",
                });
            }
        }
        _ => return Err(DecodeError::PayloadFormatNotFirst),
    }
    let crc_last = objects
        .last()
        .is_some_and(|last| last.id == TAG_CRC && last.position + 8 == payload.len());
    if !crc_last {
        return Err(DecodeError::CrcNotLast);
    }
    let mut seen = [false; 100];
    for object in objects {
        let slot = seen
            .get_mut(usize::from(object.id))
            .ok_or(DecodeError::BadId {
                position: object.position,
                template: None,
            })?;
        if *slot {
            return Err(DecodeError::DuplicateTag { tag: object.id });
        }
        *slot = true;
    }
    let has = |tag: u8| seen.get(usize::from(tag)).copied().unwrap_or(false);
    if let Some(&tag) = EMVCO_MANDATORY.iter().find(|&&tag| !has(tag)) {
        return Err(DecodeError::MissingTag { tag });
    }
    if !(2..=51).any(has) {
        return Err(DecodeError::NoMerchantAccount);
    }
    Ok(())
}

/// Whether template `26` has a sub-object `00` with value `ompp` among the sub-objects that
/// parse (OMPP-CODE-015). Its exact layout is checked afterwards.
fn has_ompp_gui(account: &DataObject<'_>) -> bool {
    Parser::new(account.value, account.value_position, Some(account.id))
        .map_while(Result::ok)
        .any(|sub| sub.id == SUB_GUI && sub.value == GUI)
}

fn bad(tag: u8, sub_tag: Option<u8>, reason: &'static str) -> DecodeError {
    DecodeError::BadValue {
        tag,
        sub_tag,
        reason,
    }
}

/// OMPP-CODE-004 to OMPP-CODE-011 and OMPP-CODE-016.
fn decode_ompp(payload: &str, objects: &[DataObject<'_>]) -> Result<SignedPayeeCode, DecodeError> {
    let find = |tag: u8| objects.iter().find(|o| o.id == tag);
    let require = |tag: u8| find(tag).ok_or(DecodeError::MissingTag { tag });
    for tag in OMPP_MANDATORY {
        require(tag)?;
    }
    // Ascending ids, the CRC (last, checked before) aside (OMPP-CODE-011).
    let before_crc = objects
        .get(..objects.len().saturating_sub(1))
        .unwrap_or_default();
    for pair in before_crc.windows(2) {
        if let [previous, next] = pair
            && next.id <= previous.id
        {
            return Err(DecodeError::TagOrder {
                tag: next.id,
                previous: previous.id,
            });
        }
    }
    let signature_object = before_crc
        .last()
        .filter(|o| o.id == TAG_SIGNATURE)
        .ok_or(DecodeError::SignatureNotBeforeCrc)?;
    if let Some(unexpected) = objects.iter().find(|o| !OMPP_ALLOWED.contains(&o.id)) {
        return Err(DecodeError::UnexpectedTag { tag: unexpected.id });
    }

    let initiation = match require(TAG_INITIATION)?.value {
        "11" => Initiation::Static,
        "12" => Initiation::Dynamic,
        _ => {
            return Err(bad(TAG_INITIATION, None, "11 (static) or 12 (dynamic)"));
        }
    };

    let [gui, merchant_id, code_id] = template(
        require(TAG_ACCOUNT)?,
        [SUB_GUI, SUB_MERCHANT_ID, SUB_CODE_ID],
    )?;
    check_gui(TAG_ACCOUNT, gui)?;
    const ID_RULE: &str =
        "1 to 64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit";
    let merchant_id = MerchantId::parse(merchant_id)
        .map_err(|_| bad(TAG_ACCOUNT, Some(SUB_MERCHANT_ID), ID_RULE))?;
    let code_id =
        CodeId::parse(code_id).map_err(|_| bad(TAG_ACCOUNT, Some(SUB_CODE_ID), ID_RULE))?;

    let merchant_category = require(TAG_CATEGORY)?.value;
    rules::merchant_category(merchant_category)?;

    let currency = currency(require(TAG_CURRENCY)?.value)?;

    let amount = match (initiation, find(TAG_AMOUNT)) {
        (Initiation::Static, Some(_)) => return Err(DecodeError::AmountInStaticCode),
        (Initiation::Static, None) => None,
        (Initiation::Dynamic, found) => {
            let found = found.ok_or(DecodeError::MissingTag { tag: TAG_AMOUNT })?;
            Some(amount(currency, found.value)?)
        }
    };

    let country = require(TAG_COUNTRY)?.value;
    rules::country(country)?;
    let merchant_name = require(TAG_NAME)?.value;
    rules::merchant_name(merchant_name)?;
    let merchant_city = require(TAG_CITY)?.value;
    rules::merchant_city(merchant_city)?;

    let reference = match find(TAG_ADDITIONAL) {
        None => "",
        Some(additional) => {
            let [reference] = template(additional, [SUB_REFERENCE])?;
            rules::reference(reference)?;
            reference
        }
    };
    let reference = PayeeCodeReference::parse(reference).map_err(|_| {
        bad(
            TAG_ADDITIONAL,
            Some(SUB_REFERENCE),
            "1 to 25 characters from U+0020 to U+007E",
        )
    })?;

    let [gui, key_id, expiry, nonce] = template(
        require(TAG_SECURITY)?,
        [SUB_GUI, SUB_KEY_ID, SUB_EXPIRY, SUB_NONCE],
    )?;
    check_gui(TAG_SECURITY, gui)?;
    rules::key_id(key_id)?;
    let expires_at_secs = expiry_secs(expiry)?;
    rules::nonce(nonce)?;

    let [gui, signature_text] = template(signature_object, [SUB_GUI, SUB_SIGNATURE])?;
    check_gui(TAG_SIGNATURE, gui)?;
    let signature = signature(signature_text)?;

    let signed_part = payload.get(..signature_object.position).unwrap_or_default();
    Ok(SignedPayeeCode {
        code: PayeeCode {
            initiation,
            merchant_id,
            code_id,
            merchant_category: merchant_category.to_owned(),
            currency,
            amount,
            country: country.to_owned(),
            merchant_name: merchant_name.to_owned(),
            merchant_city: merchant_city.to_owned(),
            reference,
            key_id: key_id.to_owned(),
            expires_at_secs,
            nonce: nonce.to_owned(),
        },
        signature,
        signing_input: signing_input(signed_part),
    })
}

/// The values of a template that must hold exactly the sub-objects `subs`, in that order.
fn template<'a, const N: usize>(
    object: &DataObject<'a>,
    subs: [u8; N],
) -> Result<[&'a str; N], DecodeError> {
    let tag = object.id;
    let parsed = Parser::new(object.value, object.value_position, Some(tag))
        .collect::<Result<Vec<_>, _>>()?;
    let mut values = [""; N];
    let mut found = parsed.iter();
    for (value, &sub_tag) in values.iter_mut().zip(subs.iter()) {
        match found.next() {
            None => return Err(DecodeError::MissingSubTag { tag, sub_tag }),
            Some(sub) if sub.id != sub_tag => {
                return Err(DecodeError::UnexpectedSubTag {
                    tag,
                    sub_tag: sub.id,
                    position: sub.position,
                });
            }
            Some(sub) => *value = sub.value,
        }
    }
    match found.next() {
        Some(extra) => Err(DecodeError::UnexpectedSubTag {
            tag,
            sub_tag: extra.id,
            position: extra.position,
        }),
        None => Ok(values),
    }
}

fn check_gui(tag: u8, value: &str) -> Result<(), DecodeError> {
    if value == GUI {
        Ok(())
    } else {
        Err(bad(tag, Some(SUB_GUI), "the GUI ompp"))
    }
}

/// Tag `53`: three digits naming a supported ISO 4217 currency.
fn currency(value: &str) -> Result<Currency, DecodeError> {
    if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            TAG_CURRENCY,
            None,
            "3-digit ISO 4217 numeric currency code",
        ));
    }
    let numeric: u16 = value
        .parse()
        .map_err(|_| bad(TAG_CURRENCY, None, "3-digit ISO 4217 numeric currency code"))?;
    Currency::from_numeric(numeric).map_err(|_| DecodeError::UnknownCurrency { numeric })
}

/// Tag `54`: the amount written exactly per OMPP-MONEY-006, greater than zero, at most 13
/// characters (OMPP-CODE-007).
fn amount(currency: Currency, value: &str) -> Result<Amount, DecodeError> {
    const FORMAT: &str = "integer part without leading zeros, then exactly the currency's exponent digits after a point";
    if value.len() > MAX_AMOUNT_LEN {
        return Err(DecodeError::AmountTooLong {
            length: value.len(),
        });
    }
    let amount = Amount::parse_decimal(currency, value).map_err(|violation| match violation {
        Violation::NotPositive => bad(TAG_AMOUNT, None, "greater than zero"),
        _ => bad(TAG_AMOUNT, None, FORMAT),
    })?;
    if amount.money().to_decimal_string() == value {
        Ok(amount)
    } else {
        Err(bad(TAG_AMOUNT, None, FORMAT))
    }
}

/// Template `80` sub `02`: decimal Unix seconds without leading zeros (OMPP-CODE-009).
fn expiry_secs(value: &str) -> Result<i64, DecodeError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = value.len() > 1 && value.starts_with('0');
    if !digits || leading_zero {
        return Err(rules::bad_expiry());
    }
    value.parse().map_err(|_| rules::bad_expiry())
}

/// Template `81` sub `01`: 86 characters of canonical base64url for 64 bytes (OMPP-CODE-010).
fn signature(text: &str) -> Result<Signature, DecodeError> {
    let bytes = (text.len() == SIGNATURE_TEXT_LEN)
        .then(|| base64url::decode(text))
        .flatten()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes.as_slice()).ok())
        .ok_or(bad(
            TAG_SIGNATURE,
            Some(SUB_SIGNATURE),
            "64-byte signature in base64url without padding, 86 characters",
        ))?;
    Ok(Signature::from_bytes(&bytes))
}
