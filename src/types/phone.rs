//! Phone numbers in E.164 form (OMPP-MSG-003): `+`, then 8 to 15 digits, the first not 0.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validation::Violation;

/// A phone number in E.164 form, e.g. `+4915112345678`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// The number, if `value` is in E.164 form.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        const EXPECTED: &str = "E.164 phone number: + then 8 to 15 digits, the first not 0";
        if value.is_empty() {
            return Err(Violation::Missing);
        }
        let Some(digits) = value.strip_prefix('+') else {
            return Err(Violation::BadFormat { expected: EXPECTED });
        };
        let well_formed = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if well_formed {
            Ok(Self(value.to_owned()))
        } else {
            Err(Violation::BadFormat { expected: EXPECTED })
        }
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but the country-code-sized prefix and the last two digits hidden,
    /// e.g. `+49*********78`: what a payment page may show.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let shown_head = 2.min(digits.len());
        let shown_tail = 2.min(digits.len() - shown_head);
        let hidden = digits.len() - shown_head - shown_tail;
        format!(
            "+{}{}{}",
            &digits[..shown_head],
            "*".repeat(hidden),
            &digits[digits.len() - shown_tail..]
        )
    }
}

impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = Violation;
    fn try_from(value: String) -> Result<Self, Violation> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(number: PhoneNumber) -> Self {
        number.0
    }
}
