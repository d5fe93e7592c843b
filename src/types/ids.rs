//! Identifiers (OMPP-MSG-002): 1 to 64 characters from `A-Z a-z 0-9 . _ -`, starting with a
//! letter or a digit. One newtype per kind of id, so that a customer id can never be passed
//! where a merchant id is expected.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{check_chars, check_len};
use crate::limits::{ID_LEN, LINK_MESSAGE_ID_LEN, LengthBounds};
use crate::validation::Violation;

/// Whether `c` may appear in an identifier.
pub fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn check_id(value: &str, bounds: LengthBounds) -> Result<(), Violation> {
    check_len(value, bounds)?;
    check_chars(value, is_id_char)?;
    if value.starts_with(|c: char| !c.is_ascii_alphanumeric()) {
        return Err(Violation::BadCharacter { position: 0 });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $bounds:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schemars(with = "String")]
        pub struct $name(String);

        impl $name {
            /// The id, if `value` follows the identifier grammar.
            pub fn parse(value: &str) -> Result<Self, Violation> {
                check_id(value, $bounds)?;
                Ok(Self(value.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Violation;
            fn try_from(value: String) -> Result<Self, Violation> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_type!(
    /// A merchant, as registered with the operation center (`ompp://merchant/<id>`).
    MerchantId,
    ID_LEN
);
id_type!(
    /// A registered customer.
    CustomerId,
    ID_LEN
);
id_type!(
    /// A paired customer device (`ompp://device/<id>`).
    DeviceId,
    ID_LEN
);
id_type!(
    /// A payment in any flow (also the id of a flow C checkout).
    PaymentId,
    ID_LEN
);
id_type!(
    /// A ledger or bank transfer.
    TransferId,
    ID_LEN
);
id_type!(
    /// A payee code issued by the operation center.
    CodeId,
    ID_LEN
);
id_type!(
    /// A message submitted to the SMS center.
    SmsMessageId,
    ID_LEN
);
id_type!(
    /// A handset registered at the SMS center.
    HandsetId,
    ID_LEN
);
id_type!(
    /// A caller-chosen key that makes a request safe to retry (OMPP-IDEM-001).
    IdempotencyKey,
    ID_LEN
);
id_type!(
    /// A secure-link envelope message id: 16 to 64 id characters, unique per sender
    /// (OMPP-LINK-002).
    LinkMessageId,
    LINK_MESSAGE_ID_LEN
);
