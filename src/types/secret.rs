//! Secrets: passwords, tokens, authorization codes as typed by a person.
//!
//! These types have no `Display`, no `Serialize`, and a `Debug` that prints only the length, so
//! that a secret cannot reach a log by accident (OMPP-SEC-001).

use super::{check_chars, check_len};
use crate::limits::{
    AUTH_CODE_DIGITS, ENROLLMENT_TOKEN_LEN, HANDSET_TOKEN_LEN, LengthBounds, PASSWORD_LEN,
    SESSION_TOKEN_LEN,
};
use crate::validation::Violation;

/// Characters of a token: the URL-safe base64 alphabet.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}

fn printable(c: char) -> bool {
    !c.is_control()
}

fn digit(c: char) -> bool {
    c.is_ascii_digit()
}

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident, $bounds:expr, $allowed:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The secret, if its length and characters are allowed.
            pub fn parse(value: &str) -> Result<Self, Violation> {
                check_len(value, $bounds)?;
                check_chars(value, $allowed)?;
                Ok(Self(value.to_owned()))
            }

            /// The secret itself; callers hash or compare it and never log it.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// The bounds this secret's length must lie in.
            pub const BOUNDS: LengthBounds = $bounds;
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(<redacted, {} chars>)", stringify!($name), self.0.chars().count())
            }
        }
    };
}

secret_type!(
    /// A customer's payment password (OMPP-PWD-001): 8 to 128 characters, no control characters.
    Password,
    PASSWORD_LEN,
    printable
);
secret_type!(
    /// A merchant enrollment token (OMPP-REG-001).
    EnrollmentToken,
    ENROLLMENT_TOKEN_LEN,
    token_char
);
secret_type!(
    /// The gateway session token binding the code step to the password step.
    SessionToken,
    SESSION_TOKEN_LEN,
    token_char
);
secret_type!(
    /// A handset's credential at the SMS center.
    HandsetToken,
    HANDSET_TOKEN_LEN,
    token_char
);
secret_type!(
    /// An authorization code as the customer typed it (OMPP-AUTH-001): 6 to 8 decimal digits.
    AuthorizationCodeText,
    AUTH_CODE_DIGITS,
    digit
);
