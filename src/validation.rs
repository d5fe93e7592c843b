//! Typed validation errors: which field, and why.
//!
//! Every checked conversion from a proto message to a domain value reports failures as a
//! [`ValidationError`]: a non-empty list of [`FieldError`]s, each a [`FieldPath`] in proto field
//! names (`amount.currency`, `items[2].quantity`) and a [`Violation`] that says what is wrong as
//! data, not as prose. [`crate::error`] turns it into a gRPC status (OMPP-MSG-001).

use std::fmt;

use serde::Serialize;

/// Path of a field inside a request, spelled with proto field names: `amount.currency`,
/// `items[2].quantity`, `request.password`. It is what `google.rpc.BadRequest` reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct FieldPath(String);

impl FieldPath {
    /// The path of a top-level field.
    pub fn root(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The path of field `name` inside this one.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self::root(name)
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// The path of element `index` of this repeated field.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for FieldPath {
    fn from(name: &str) -> Self {
        Self::root(name)
    }
}

/// What is wrong with one field. Values, not sentences: a caller can match on it and a test can
/// compare it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// A required field is absent or empty.
    #[error("required field is missing")]
    Missing,
    /// A text field is shorter than allowed (length in Unicode scalar values).
    #[error("too short: {actual} characters, at least {min} required")]
    TooShort {
        /// Smallest accepted length.
        min: usize,
        /// Length received.
        actual: usize,
    },
    /// A text or bytes field is longer than allowed.
    #[error("too long: {actual}, at most {max} allowed")]
    TooLong {
        /// Largest accepted length.
        max: usize,
        /// Length received.
        actual: usize,
    },
    /// A character outside the field's alphabet, at this 0-based character position.
    #[error("character at position {position} is not allowed in this field")]
    BadCharacter {
        /// Position of the first offending character.
        position: usize,
    },
    /// The value does not have the field's format.
    #[error("does not match the expected format: {expected}")]
    BadFormat {
        /// The format the field requires, e.g. "E.164 phone number".
        expected: &'static str,
    },
    /// A number outside its allowed range.
    #[error("out of range: {actual}, allowed {min} to {max}")]
    OutOfRange {
        /// Smallest accepted value.
        min: i128,
        /// Largest accepted value.
        max: i128,
        /// Value received.
        actual: i128,
    },
    /// An amount that must be greater than zero is zero or negative (OMPP-MONEY-003).
    #[error("must be greater than zero")]
    NotPositive,
    /// Not an ISO 4217 currency usable for payments (OMPP-MONEY-002).
    #[error("not an ISO 4217 currency with minor units")]
    UnknownCurrency,
    /// Two amounts that must share a currency do not (OMPP-MONEY-005).
    #[error("currency {actual} does not match {expected}")]
    CurrencyMismatch {
        /// The currency required by context.
        expected: String,
        /// The currency received.
        actual: String,
    },
    /// An enum field left at its `*_UNSPECIFIED` zero value (OMPP-MSG-004).
    #[error("enum value is unspecified")]
    Unspecified,
    /// An enum number this version does not know (OMPP-MSG-004).
    #[error("unknown enum value {value}")]
    UnknownEnumValue {
        /// The number received.
        value: i32,
    },
    /// A repeated field with more elements than allowed.
    #[error("too many elements: {actual}, at most {max}")]
    TooManyElements {
        /// Largest accepted count.
        max: usize,
        /// Count received.
        actual: usize,
    },
    /// A repeated field that must not repeat a value does.
    #[error("duplicate of element {first}")]
    Duplicate {
        /// Index of the first occurrence.
        first: usize,
    },
    /// A field that must be absent in this context is present.
    #[error("must not be set here")]
    NotAllowed,
    /// The bytes are not a valid encoding of the message (OMPP-MSG-018), reported at the
    /// path of the field the decoder was in (the empty path for the message itself).
    #[error("not a valid protobuf encoding: {reason}")]
    Undecodable {
        /// What the decoder found, e.g. `buffer underflow` or `invalid string value: data is
        /// not UTF-8 encoded`.
        reason: String,
    },
    /// The whole message is larger than allowed (reported at the empty path, OMPP-MSG-010).
    #[error("message too large: {actual} bytes, at most {max}")]
    MessageTooLarge {
        /// Largest accepted encoded size.
        max: usize,
        /// Encoded size received.
        actual: usize,
    },
}

/// One invalid field: where, and what is wrong.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {violation}")]
pub struct FieldError {
    /// The offending field.
    pub field: FieldPath,
    /// What is wrong with it.
    pub violation: Violation,
}

impl FieldError {
    /// A field error for `field`.
    pub fn new(field: FieldPath, violation: Violation) -> Self {
        Self { field, violation }
    }
}

/// Every invalid field of one message; never empty.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("invalid request: {} invalid field(s), first {}", .errors.len(), .errors[0])]
pub struct ValidationError {
    /// The invalid fields, in the order the message declares them.
    pub errors: Vec<FieldError>,
}

impl ValidationError {
    /// A validation error with a single invalid field.
    pub fn single(field: FieldPath, violation: Violation) -> Self {
        Self {
            errors: vec![FieldError::new(field, violation)],
        }
    }
}

/// Collects field errors while a message is converted, so that one answer names every invalid
/// field rather than only the first.
///
/// Each `check` returns `Some(value)` for a valid field and records the error otherwise; after
/// the last field, the conversion either has every value or calls [`Validator::into_error`].
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `result` for `field`: the value if it is valid, `None` (and the error) if not.
    pub fn check<T>(&mut self, field: FieldPath, result: Result<T, Violation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.errors.push(FieldError::new(field, violation));
                None
            }
        }
    }

    /// Records an error found by a rule that spans fields.
    pub fn report(&mut self, field: FieldPath, violation: Violation) {
        self.errors.push(FieldError::new(field, violation));
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The collected errors. Called when some field came back `None`, so at least one error is
    /// recorded; should a caller get that wrong, the error still names no field rather than
    /// claiming success.
    pub fn into_error(self) -> ValidationError {
        let mut errors = self.errors;
        if errors.is_empty() {
            errors.push(FieldError::new(
                FieldPath::root(""),
                Violation::BadFormat {
                    expected: "a valid message",
                },
            ));
        }
        ValidationError { errors }
    }

    /// `Ok(value)` if nothing was recorded, else the collected errors.
    pub fn finish<T>(self, value: T) -> Result<T, ValidationError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.into_error())
        }
    }
}
