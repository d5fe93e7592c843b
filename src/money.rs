//! Money: ISO 4217 currencies and integer minor units, with checked arithmetic.
//!
//! There is no floating point anywhere (OMPP-MONEY-001). A [`Money`] is a signed balance or
//! delta; an [`Amount`] is money that is greater than zero, what every payment and transfer
//! carries (OMPP-MONEY-003). Arithmetic never wraps (OMPP-MONEY-004) and never mixes currencies
//! (OMPP-MONEY-005).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::proto::v1 as pb;
use crate::validation::{FieldPath, Validator, Violation};

/// An ISO 4217 currency usable for payments: active, with a defined number of minor units
/// (so not a fund, precious metal or testing code) (OMPP-MONEY-002).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(
    with = "String",
    description = "ISO 4217 alphabetic code of an active currency with minor units, e.g. EUR"
)]
pub struct Currency {
    iso: iso_currency::Currency,
}

impl Currency {
    /// The currency with alphabetic code `code` (three upper-case letters), if it is an active
    /// ISO 4217 currency with minor units.
    pub fn from_code(code: &str) -> Result<Self, Violation> {
        if code.is_empty() {
            return Err(Violation::Missing);
        }
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Violation::BadFormat {
                expected: "three upper-case letters (ISO 4217 alphabetic code)",
            });
        }
        let iso = iso_currency::Currency::from_code(code).ok_or(Violation::UnknownCurrency)?;
        Self::from_iso(iso)
    }

    /// The currency with ISO 4217 numeric code `numeric` (e.g. 978 for EUR), under the same rule.
    pub fn from_numeric(numeric: u16) -> Result<Self, Violation> {
        let iso =
            iso_currency::Currency::from_numeric(numeric).ok_or(Violation::UnknownCurrency)?;
        Self::from_iso(iso)
    }

    fn from_iso(iso: iso_currency::Currency) -> Result<Self, Violation> {
        let usable = iso.exponent().is_some()
            && !iso.is_fund()
            && !iso.is_special()
            && iso.is_superseded().is_none();
        if usable {
            Ok(Self { iso })
        } else {
            Err(Violation::UnknownCurrency)
        }
    }

    /// The alphabetic code, e.g. `EUR`.
    pub fn code(self) -> &'static str {
        self.iso.code()
    }

    /// The numeric code, e.g. 978.
    pub fn numeric(self) -> u16 {
        self.iso.numeric()
    }

    /// Number of decimal digits of the minor unit: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn exponent(self) -> u32 {
        // `from_iso` admits only currencies with an exponent.
        u32::from(self.iso.exponent().unwrap_or(0))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for Currency {
    type Error = Violation;
    fn try_from(code: String) -> Result<Self, Violation> {
        Self::from_code(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.code().to_owned()
    }
}

/// Why a money operation failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The operands are in different currencies (OMPP-MONEY-005).
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// Currency of the left operand.
        left: Currency,
        /// Currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in 64 bits of minor units (OMPP-MONEY-004).
    #[error("arithmetic overflow")]
    Overflow,
}

/// A signed quantity of money: a balance or a change to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Money {
    /// The currency.
    pub currency: Currency,
    /// Signed count of the currency's minor units.
    pub minor_units: i64,
}

impl Money {
    /// `minor_units` of `currency`.
    pub fn new(currency: Currency, minor_units: i64) -> Self {
        Self {
            currency,
            minor_units,
        }
    }

    /// Zero of `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self::new(currency, 0)
    }

    fn same_currency(self, other: Self) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// `self + other`, in the same currency, without overflow.
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .minor_units
            .checked_add(other.minor_units)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::new(self.currency, sum))
    }

    /// `self - other`, in the same currency, without overflow.
    pub fn checked_sub(self, other: Self) -> Result<Self, MoneyError> {
        self.same_currency(other)?;
        let difference = self
            .minor_units
            .checked_sub(other.minor_units)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::new(self.currency, difference))
    }

    /// `-self`, without overflow.
    pub fn checked_neg(self) -> Result<Self, MoneyError> {
        let negated = self.minor_units.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Self::new(self.currency, negated))
    }

    /// Compares two amounts of the same currency.
    pub fn checked_cmp(self, other: Self) -> Result<std::cmp::Ordering, MoneyError> {
        self.same_currency(other)?;
        Ok(self.minor_units.cmp(&other.minor_units))
    }

    /// The amount in major units with exactly the currency's exponent digits, e.g. `12.50`,
    /// `500` (JPY), `-1.500` (KWD). The format of CLI output and of EMVCo tag 54.
    pub fn to_decimal_string(self) -> String {
        let exponent = self.currency.exponent();
        let sign = if self.minor_units < 0 { "-" } else { "" };
        let magnitude = self.minor_units.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{magnitude}");
        }
        let scale = 10u64.pow(exponent);
        let width = usize::try_from(exponent).unwrap_or(0);
        format!(
            "{sign}{}.{:0width$}",
            magnitude / scale,
            magnitude % scale,
            width = width
        )
    }

    /// Converts a domain value to the wire type.
    pub fn to_proto(self) -> pb::Money {
        pb::Money {
            currency: self.currency.code().to_owned(),
            minor_units: self.minor_units,
        }
    }

    /// Reads a required money field (balances and deltas may have any sign).
    pub fn from_proto(
        v: &mut Validator,
        path: &FieldPath,
        money: Option<&pb::Money>,
    ) -> Option<Self> {
        let Some(money) = money else {
            v.report(path.clone(), Violation::Missing);
            return None;
        };
        let currency = v.check(path.child("currency"), Currency::from_code(&money.currency))?;
        Some(Self::new(currency, money.minor_units))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

/// Money that is greater than zero: what a payment, code or transfer moves (OMPP-MONEY-003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "Money", into = "Money")]
pub struct Amount(Money);

impl Amount {
    /// `money`, if it is greater than zero.
    pub fn new(money: Money) -> Result<Self, Violation> {
        if money.minor_units > 0 {
            Ok(Self(money))
        } else {
            Err(Violation::NotPositive)
        }
    }

    /// `minor_units` of `currency`, if greater than zero.
    pub fn from_minor_units(currency: Currency, minor_units: i64) -> Result<Self, Violation> {
        Self::new(Money::new(currency, minor_units))
    }

    /// Parses a decimal amount in major units, as a person types it: `12.5` and `12.50` are both
    /// 1250 cents of EUR; more fraction digits than the currency has, a sign, an exponent or any
    /// other character is rejected; so is zero.
    pub fn parse_decimal(currency: Currency, text: &str) -> Result<Self, Violation> {
        const EXPECTED: &str = "decimal amount in major units, e.g. 12.50";
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        let exponent = currency.exponent();
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let fraction_ok = fraction.len() <= usize::try_from(exponent).unwrap_or(0)
            && (fraction.is_empty() || text.contains('.'))
            && all_digits(fraction);
        if whole.is_empty() || !all_digits(whole) || !fraction_ok || text.ends_with('.') {
            return Err(Violation::BadFormat { expected: EXPECTED });
        }
        let overflow = Violation::OutOfRange {
            min: 1,
            max: i128::from(i64::MAX),
            actual: i128::MAX,
        };
        let whole: i64 = whole.parse().map_err(|_| overflow.clone())?;
        let mut fraction_units: i64 = 0;
        let mut digits = 0;
        for b in fraction.bytes() {
            fraction_units = fraction_units * 10 + i64::from(b - b'0');
            digits += 1;
        }
        for _ in digits..exponent {
            fraction_units *= 10;
        }
        let minor = 10i64
            .checked_pow(exponent)
            .and_then(|scale| whole.checked_mul(scale))
            .and_then(|w| w.checked_add(fraction_units))
            .ok_or(overflow)?;
        Self::from_minor_units(currency, minor)
    }

    /// The amount as money.
    pub fn money(self) -> Money {
        self.0
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.0.currency
    }

    /// The count of minor units, always greater than zero.
    pub fn minor_units(self) -> i64 {
        self.0.minor_units
    }

    /// Converts to the wire type.
    pub fn to_proto(self) -> pb::Money {
        self.0.to_proto()
    }

    /// Reads a required amount field: present, known currency, greater than zero.
    pub fn from_proto(
        v: &mut Validator,
        path: &FieldPath,
        money: Option<&pb::Money>,
    ) -> Option<Self> {
        let money = Money::from_proto(v, path, money)?;
        v.check(path.child("minor_units"), Self::new(money))
    }

    /// Reads an optional amount field: absent is `None`, present must be valid.
    pub fn from_optional_proto(
        v: &mut Validator,
        path: &FieldPath,
        money: Option<&pb::Money>,
    ) -> Option<Option<Self>> {
        match money {
            None => Some(None),
            Some(money) => Self::from_proto(v, path, Some(money)).map(Some),
        }
    }
}

impl TryFrom<Money> for Amount {
    type Error = Violation;
    fn try_from(money: Money) -> Result<Self, Violation> {
        Self::new(money)
    }
}

impl From<Amount> for Money {
    fn from(amount: Amount) -> Self {
        amount.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
