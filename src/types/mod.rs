//! Validated scalar types: identifiers, bounded text, secrets, phone numbers, bank accounts,
//! times. Each has a checked constructor; holding one means the value is valid.

pub mod bank;
pub mod identity;
pub mod ids;
pub mod phone;
pub mod secret;
pub mod text;
pub mod time;

pub use bank::{AccountNumber, BankAccountRef, BankId};
pub use identity::{PartyIdentity, Role};
pub use ids::*;
pub use phone::PhoneNumber;
pub use secret::{AuthorizationCodeText, EnrollmentToken, HandsetToken, Password, SessionToken};
pub use text::*;
pub use time::{UnixMillis, bounded_duration, duration_to_proto};

use crate::limits::LengthBounds;
use crate::validation::Violation;

/// Checks a length (in Unicode scalar values) against bounds; an empty value where one is
/// required is `Missing`, not `TooShort`.
pub(crate) fn check_len(value: &str, bounds: LengthBounds) -> Result<(), Violation> {
    let len = value.chars().count();
    if len == 0 && bounds.min > 0 {
        Err(Violation::Missing)
    } else if len < bounds.min {
        Err(Violation::TooShort {
            min: bounds.min,
            actual: len,
        })
    } else if len > bounds.max {
        Err(Violation::TooLong {
            max: bounds.max,
            actual: len,
        })
    } else {
        Ok(())
    }
}

/// Checks that every character satisfies `allowed`, reporting the first that does not.
pub(crate) fn check_chars(value: &str, allowed: impl Fn(char) -> bool) -> Result<(), Violation> {
    match value.chars().position(|c| !allowed(c)) {
        Some(position) => Err(Violation::BadCharacter { position }),
        None => Ok(()),
    }
}
