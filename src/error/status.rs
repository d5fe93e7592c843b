//! Protocol errors <-> gRPC statuses.
//!
//! A [`ProtocolError`] is what an OMPP service answers instead of a response: a catalogue
//! reason, a human-readable message (never to be parsed, OMPP-ERR-003), structured metadata and,
//! for invalid fields, the field violations. On the wire it is a `tonic::Status` whose code is
//! the reason's catalogue code (OMPP-ERR-002) and whose details hold `google.rpc.ErrorInfo` in
//! domain `ompp.v1` (OMPP-ERR-001) and, if there are field violations, `google.rpc.BadRequest`
//! (OMPP-MSG-001).

use std::collections::{BTreeMap, HashMap};

use tonic_types::{ErrorDetails, StatusExt};

use super::ERROR_DOMAIN;
use super::catalogue::{from_wire_name, info, wire_name};
use crate::proto::v1::ErrorReason;
use crate::validation::{ValidationError, Violation};

/// One invalid field as carried by `google.rpc.BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field path, e.g. `amount.currency`.
    pub field: String,
    /// Why it is invalid, for people.
    pub description: String,
}

/// An OMPP error, as a service sends it and as a client reads it back.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", wire_name(*.reason), info(*.reason).code.description())]
pub struct ProtocolError {
    /// The catalogue reason.
    pub reason: ErrorReason,
    /// Text for people; clients never branch on it (OMPP-ERR-003).
    pub message: String,
    /// `ErrorInfo.metadata`, e.g. `attempts_left`.
    pub metadata: BTreeMap<String, String>,
    /// The invalid fields, for `INVALID_FIELD`.
    pub field_violations: Vec<FieldViolation>,
}

/// A status that is not a well-formed OMPP error: no `ErrorInfo`, another domain, an unknown
/// reason, or a code that differs from the catalogue's. The conformance suite reports it as such.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnOmppStatus {
    /// The status carries no decodable `google.rpc.ErrorInfo`.
    #[error("no google.rpc.ErrorInfo in the status details")]
    NoErrorInfo,
    /// `ErrorInfo.domain` is not `ompp.v1`.
    #[error("ErrorInfo.domain is {0:?}, expected \"ompp.v1\"")]
    WrongDomain(String),
    /// `ErrorInfo.reason` is not in the catalogue.
    #[error("ErrorInfo.reason {0:?} is not in the catalogue")]
    UnknownReason(String),
    /// The status code is not the one the catalogue assigns to the reason.
    #[error("status code {actual:?} does not match the catalogue's {expected:?} for the reason")]
    WrongCode {
        /// The catalogue's code.
        expected: tonic::Code,
        /// The code received.
        actual: tonic::Code,
    },
}

impl ProtocolError {
    /// An error with `reason` and a message for people.
    pub fn new(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            metadata: BTreeMap::new(),
            field_violations: Vec::new(),
        }
    }

    /// Adds an `ErrorInfo.metadata` entry.
    pub fn with_metadata(mut self, key: &str, value: impl ToString) -> Self {
        self.metadata.insert(key.to_owned(), value.to_string());
        self
    }

    /// The gRPC code for this error, from the catalogue.
    pub fn code(&self) -> tonic::Code {
        info(self.reason).code
    }

    /// The error as a gRPC status.
    pub fn to_status(&self) -> tonic::Status {
        let mut details = ErrorDetails::new();
        let metadata: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        details.set_error_info(wire_name(self.reason), ERROR_DOMAIN, metadata);
        for violation in &self.field_violations {
            details.add_bad_request_violation(&violation.field, &violation.description);
        }
        tonic::Status::with_error_details(self.code(), &self.message, details)
    }

    /// Reads an OMPP error back from a status, checking domain, reason and code.
    pub fn from_status(status: &tonic::Status) -> Result<Self, NotAnOmppStatus> {
        let error_info = status
            .get_details_error_info()
            .ok_or(NotAnOmppStatus::NoErrorInfo)?;
        if error_info.domain != ERROR_DOMAIN {
            return Err(NotAnOmppStatus::WrongDomain(error_info.domain));
        }
        let reason = from_wire_name(&error_info.reason)
            .ok_or_else(|| NotAnOmppStatus::UnknownReason(error_info.reason.clone()))?;
        let expected = info(reason).code;
        if status.code() != expected {
            return Err(NotAnOmppStatus::WrongCode {
                expected,
                actual: status.code(),
            });
        }
        let field_violations = status
            .get_details_bad_request()
            .map(|bad| {
                bad.field_violations
                    .into_iter()
                    .map(|v| FieldViolation {
                        field: v.field,
                        description: v.description,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            reason,
            message: status.message().to_owned(),
            metadata: error_info.metadata.into_iter().collect(),
            field_violations,
        })
    }
}

impl From<ValidationError> for ProtocolError {
    fn from(error: ValidationError) -> Self {
        let message = error.to_string();
        let field_violations = error
            .errors
            .iter()
            .map(|e| FieldViolation {
                field: e.field.to_string(),
                description: e.violation.to_string(),
            })
            .collect();
        let first_field = error
            .errors
            .first()
            .map(|e| e.field.to_string())
            .unwrap_or_default();
        // OMPP-MSG-010: an oversized message has its own reason, not a field's.
        if let Some(too_large) = error
            .errors
            .iter()
            .find(|e| matches!(e.violation, Violation::MessageTooLarge { .. }))
        {
            return Self::new(
                ErrorReason::MessageTooLarge,
                too_large.violation.to_string(),
            );
        }
        Self {
            reason: ErrorReason::InvalidField,
            message,
            metadata: BTreeMap::from([("field".to_owned(), first_field)]),
            field_violations,
        }
    }
}

impl From<ProtocolError> for tonic::Status {
    fn from(error: ProtocolError) -> Self {
        error.to_status()
    }
}

impl From<ValidationError> for tonic::Status {
    fn from(error: ValidationError) -> Self {
        ProtocolError::from(error).to_status()
    }
}
