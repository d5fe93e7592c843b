//! Pieces shared by several requests: line items, currency lists, enums, optional text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits::{MAX_CURRENCIES, MAX_ITEM_QUANTITY, MAX_LINE_ITEMS};
use crate::money::Currency;
use crate::proto::v1 as pb;
use crate::types::{ItemDescription, ProductCode};
use crate::validation::{FieldPath, Validator, Violation};

/// One line of goods or services (OMPP-MSG-006).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    /// The merchant's product code.
    pub product_code: ProductCode,
    /// Description shown to the customer (may be empty).
    pub description: ItemDescription,
    /// Number of units, 1 to [`MAX_ITEM_QUANTITY`].
    pub quantity: u32,
}

impl LineItem {
    /// Converts to the wire type.
    pub fn to_proto(&self) -> pb::LineItem {
        pb::LineItem {
            product_code: self.product_code.as_str().to_owned(),
            description: self.description.as_str().to_owned(),
            quantity: self.quantity,
        }
    }
}

/// Reads a repeated line item field (OMPP-MSG-006).
pub fn line_items(
    v: &mut Validator,
    path: &FieldPath,
    items: &[pb::LineItem],
) -> Option<Vec<LineItem>> {
    if items.len() > MAX_LINE_ITEMS {
        v.report(
            path.clone(),
            Violation::TooManyElements {
                max: MAX_LINE_ITEMS,
                actual: items.len(),
            },
        );
        return None;
    }
    let mut parsed = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = path.index(i);
        let product_code = v.check(
            at.child("product_code"),
            ProductCode::parse(&item.product_code),
        );
        let description = v.check(
            at.child("description"),
            ItemDescription::parse(&item.description),
        );
        let quantity = v.check(at.child("quantity"), quantity(item.quantity));
        match (product_code, description, quantity) {
            (Some(product_code), Some(description), Some(quantity)) => parsed.push(LineItem {
                product_code,
                description,
                quantity,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(parsed)
}

fn quantity(q: u32) -> Result<u32, Violation> {
    if q == 0 {
        Err(Violation::Missing)
    } else if q > MAX_ITEM_QUANTITY {
        Err(Violation::OutOfRange {
            min: 1,
            max: MAX_ITEM_QUANTITY.into(),
            actual: q.into(),
        })
    } else {
        Ok(q)
    }
}

/// Reads a repeated currency field: each a usable ISO 4217 code, no duplicates, at most
/// [`MAX_CURRENCIES`] (OMPP-MSG-009); `min` is the fewest allowed.
pub fn currencies(
    v: &mut Validator,
    path: &FieldPath,
    codes: &[String],
    min: usize,
) -> Option<Vec<Currency>> {
    if codes.len() > MAX_CURRENCIES {
        v.report(
            path.clone(),
            Violation::TooManyElements {
                max: MAX_CURRENCIES,
                actual: codes.len(),
            },
        );
        return None;
    }
    if codes.len() < min {
        v.report(path.clone(), Violation::Missing);
        return None;
    }
    unique_list(v, path, codes, Currency::from_code)
}

/// Reads a required enum field: neither `*_UNSPECIFIED` (0) nor a number this version does not
/// know (OMPP-MSG-004).
pub fn required_enum<E>(value: i32) -> Result<E, Violation>
where
    E: TryFrom<i32>,
{
    if value == 0 {
        return Err(Violation::Unspecified);
    }
    E::try_from(value).map_err(|_| Violation::UnknownEnumValue { value })
}

/// Reads an optional enum field: 0 is `None`; an unknown number is still an error.
pub fn optional_enum<E>(value: i32) -> Result<Option<E>, Violation>
where
    E: TryFrom<i32>,
{
    if value == 0 {
        return Ok(None);
    }
    E::try_from(value)
        .map(Some)
        .map_err(|_| Violation::UnknownEnumValue { value })
}

/// Reads an optional id-like string field: empty is `None`, otherwise `parse` decides.
pub fn optional<T>(
    value: &str,
    parse: impl Fn(&str) -> Result<T, Violation>,
) -> Result<Option<T>, Violation> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
}

/// Reads a repeated id field: each valid, no duplicates, between `min` and `max` elements.
pub fn id_list<T: PartialEq>(
    v: &mut Validator,
    path: &FieldPath,
    values: &[String],
    min: usize,
    max: usize,
    parse: impl Fn(&str) -> Result<T, Violation>,
) -> Option<Vec<T>> {
    if values.len() > max {
        v.report(
            path.clone(),
            Violation::TooManyElements {
                max,
                actual: values.len(),
            },
        );
        return None;
    }
    if values.len() < min {
        v.report(path.clone(), Violation::Missing);
        return None;
    }
    unique_list(v, path, values, parse)
}

/// Parses each element; a value equal to an earlier valid one is a `Duplicate` naming the
/// earlier element's index in the original list.
fn unique_list<T: PartialEq>(
    v: &mut Validator,
    path: &FieldPath,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, Violation>,
) -> Option<Vec<T>> {
    let mut parsed: Vec<(usize, T)> = Vec::with_capacity(values.len());
    let mut ok = true;
    for (i, value) in values.iter().enumerate() {
        match v.check(path.index(i), parse(value)) {
            Some(item) => match parsed.iter().find(|(_, p)| *p == item) {
                Some((first, _)) => {
                    v.report(path.index(i), Violation::Duplicate { first: *first });
                    ok = false;
                }
                None => parsed.push((i, item)),
            },
            None => ok = false,
        }
    }
    ok.then(|| parsed.into_iter().map(|(_, item)| item).collect())
}

/// Reads a DER certificate signing request: present, at most `MAX_CSR_BYTES`, and an ASN.1
/// SEQUENCE on the outside (the server's X.509 parser checks the rest) (OMPP-REG-001).
pub fn csr_der(bytes: &[u8]) -> Result<Vec<u8>, Violation> {
    use crate::limits::MAX_CSR_BYTES;
    if bytes.is_empty() {
        return Err(Violation::Missing);
    }
    if bytes.len() > MAX_CSR_BYTES {
        return Err(Violation::TooLong {
            max: MAX_CSR_BYTES,
            actual: bytes.len(),
        });
    }
    if bytes[0] != 0x30 {
        return Err(Violation::BadFormat {
            expected: "DER-encoded PKCS#10 CertificationRequest",
        });
    }
    Ok(bytes.to_vec())
}
