//! Bounded human-readable text (OMPP-MSG-005): lengths in Unicode scalar values, no control
//! characters.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{check_chars, check_len};
use crate::limits::{
    CHECKOUT_REFERENCE_LEN, DISPLAY_NAME_LEN, ITEM_DESCRIPTION_LEN, MERCHANT_REFERENCE_LEN,
    PAGE_TOKEN_LEN, PAYEE_CODE_PAYLOAD_LEN, PAYEE_CODE_REFERENCE_LEN, PRODUCT_CODE_LEN,
    REMITTANCE_INFO_LEN, SMS_SENDER_LEN, SMS_TEXT_LEN,
};
use crate::validation::Violation;

fn printable(c: char) -> bool {
    !c.is_control()
}

fn sms_sender_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ' '
}

macro_rules! text_type {
    ($(#[$meta:meta])* $name:ident, $bounds:expr, $allowed:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schemars(with = "String")]
        pub struct $name(String);

        impl $name {
            /// The text, if its length and characters are allowed.
            pub fn parse(value: &str) -> Result<Self, Violation> {
                check_len(value, $bounds)?;
                check_chars(value, $allowed)?;
                Ok(Self(value.to_owned()))
            }

            /// The text.
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
            fn from(text: $name) -> Self {
                text.0
            }
        }
    };
}

text_type!(
    /// Name of a merchant, customer or device as shown to people.
    DisplayName,
    DISPLAY_NAME_LEN,
    printable
);
text_type!(
    /// The merchant's own reference on a push payment (may be empty).
    MerchantReference,
    MERCHANT_REFERENCE_LEN,
    printable
);
text_type!(
    /// The merchant's reference carried inside a payee code (may be empty): EMVCo `ans`
    /// characters only, U+0020 to U+007E (OMPP-FLB-002).
    PayeeCodeReference,
    PAYEE_CODE_REFERENCE_LEN,
    |c: char| (' '..='~').contains(&c)
);
text_type!(
    /// A checkout's order reference (required).
    CheckoutReference,
    CHECKOUT_REFERENCE_LEN,
    printable
);
text_type!(
    /// A line item's product code.
    ProductCode,
    PRODUCT_CODE_LEN,
    printable
);
text_type!(
    /// A line item's description (may be empty).
    ItemDescription,
    ITEM_DESCRIPTION_LEN,
    printable
);
text_type!(
    /// Remittance information on a bank transfer (may be empty).
    RemittanceInfo,
    REMITTANCE_INFO_LEN,
    printable
);
text_type!(
    /// The text of an SMS.
    SmsText,
    SMS_TEXT_LEN,
    printable
);
text_type!(
    /// The sender shown for an SMS: short code or alphanumeric sender id.
    SmsSender,
    SMS_SENDER_LEN,
    sms_sender_char
);
text_type!(
    /// An opaque paging token from a previous response (may be empty).
    PageToken,
    PAGE_TOKEN_LEN,
    printable
);
text_type!(
    /// A payee code payload exactly as decoded from the QR image; its EMVCo structure is checked
    /// by the payee code decoder, not here.
    PayeeCodePayload,
    PAYEE_CODE_PAYLOAD_LEN,
    |c: char| c.is_ascii() && !c.is_ascii_control()
);
