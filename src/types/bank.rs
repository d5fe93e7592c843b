//! Bank account references (OMPP-MSG-008).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{check_chars, check_len};
use crate::limits::{ACCOUNT_NUMBER_LEN, BANK_ID_LEN};
use crate::proto::v1 as pb;
use crate::validation::{FieldPath, Validator, Violation};

fn upper_alnum(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// A bank's identifier: BIC or national bank code, 1 to 11 characters of `A-Z 0-9`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct BankId(String);

/// An account number at a bank: IBAN or national number, 1 to 34 characters of `A-Z 0-9`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct AccountNumber(String);

macro_rules! upper_alnum_impl {
    ($name:ident, $bounds:expr) => {
        impl $name {
            /// The value, if its length and characters are allowed.
            pub fn parse(value: &str) -> Result<Self, Violation> {
                check_len(value, $bounds)?;
                check_chars(value, upper_alnum)?;
                Ok(Self(value.to_owned()))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Violation;
            fn try_from(value: String) -> Result<Self, Violation> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

upper_alnum_impl!(BankId, BANK_ID_LEN);
upper_alnum_impl!(AccountNumber, ACCOUNT_NUMBER_LEN);

/// An account at a bank processor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct BankAccountRef {
    /// The bank.
    pub bank_id: BankId,
    /// The account at that bank.
    pub account_number: AccountNumber,
}

impl BankAccountRef {
    /// Reads a required bank account field.
    pub fn from_proto(
        v: &mut Validator,
        path: &FieldPath,
        account: Option<&pb::BankAccountRef>,
    ) -> Option<Self> {
        let Some(account) = account else {
            v.report(path.clone(), Violation::Missing);
            return None;
        };
        let bank_id = v.check(path.child("bank_id"), BankId::parse(&account.bank_id));
        let account_number = v.check(
            path.child("account_number"),
            AccountNumber::parse(&account.account_number),
        );
        Some(Self {
            bank_id: bank_id?,
            account_number: account_number?,
        })
    }

    /// Reads an optional bank account field: absent is `None`, present must be valid.
    pub fn from_optional_proto(
        v: &mut Validator,
        path: &FieldPath,
        account: Option<&pb::BankAccountRef>,
    ) -> Option<Option<Self>> {
        match account {
            None => Some(None),
            Some(account) => Self::from_proto(v, path, Some(account)).map(Some),
        }
    }

    /// Converts to the wire type.
    pub fn to_proto(&self) -> pb::BankAccountRef {
        pb::BankAccountRef {
            bank_id: self.bank_id.0.clone(),
            account_number: self.account_number.0.clone(),
        }
    }
}
