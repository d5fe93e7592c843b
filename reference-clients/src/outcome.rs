//! Results for people (payments, receipts, OMPP errors) and the decisions a client takes on
//! them: a failed call is decided by its gRPC code, `ErrorInfo` reason and metadata and
//! `BadRequest` field paths only, never by text (OMPP-ERR-003, [`Failure`]); an unknown reason
//! or a status without `ErrorInfo` by its code alone (OMPP-ERR-007); an unknown status value is
//! not final (OMPP-VER-005, [`payment_final`], [`checkout_done`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ompp::error::ProtocolError;
use ompp::error::catalogue::Retry;
use ompp::money::{Currency, Money};
use ompp::proto::v1 as pb;

/// An amount as `12.50 EUR`; a malformed one as its raw fields.
pub fn money(m: Option<&pb::Money>) -> String {
    match m {
        Some(m) => match Currency::from_code(&m.currency) {
            Ok(currency) => Money::new(currency, m.minor_units).to_string(),
            Err(_) => format!("{} {}", m.minor_units, m.currency),
        },
        None => "-".to_owned(),
    }
}

/// A status enum value by name (`SETTLED`).
pub fn status(value: i32) -> &'static str {
    pb::PaymentStatus::try_from(value)
        .map(|s| s.as_str_name().trim_start_matches("PAYMENT_STATUS_"))
        .unwrap_or("UNKNOWN")
}

/// A reason enum value by name (`TRIES_EXCEEDED`).
pub fn reason(value: i32) -> &'static str {
    pb::ErrorReason::try_from(value)
        .map(|r| r.as_str_name().trim_start_matches("ERROR_REASON_"))
        .unwrap_or("UNKNOWN")
}

/// A failed call, for people: `CREDENTIALS_REJECTED (attempts_left=2): ...`.
pub fn describe(status: &tonic::Status) -> String {
    match ProtocolError::from_status(status) {
        Ok(error) => {
            let mut text = ompp::error::catalogue::wire_name(error.reason).to_owned();
            if !error.metadata.is_empty() {
                let meta: Vec<String> = error
                    .metadata
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = write!(text, " ({})", meta.join(", "));
            }
            for violation in &error.field_violations {
                let _ = write!(text, "\n  {}: {}", violation.field, violation.description);
            }
            if error.field_violations.is_empty() && !error.message.is_empty() {
                let _ = write!(text, ": {}", error.message);
            }
            text
        }
        Err(_) => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// What a client does after a failed call (OMPP-ERR-011, OMPP-ERR-012, OMPP-ERR-014).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Only a changed request (other field values, password, code) can succeed.
    Correct,
    /// The same request may succeed later, after a backoff.
    RetryLater,
    /// The request may or may not have been applied: learn the state of the object concerned
    /// (`GetPayment`, `WatchPayment`, `GetCheckoutStatus`, the device's notices) before sending
    /// a request without idempotency key again (OMPP-ERR-011).
    LearnState,
    /// Repeating cannot succeed: stop.
    Stop,
}

/// A failed call as a client may decide on it (OMPP-ERR-003): the gRPC status code, the
/// `ErrorInfo.reason` when this client knows it, the `ErrorInfo.metadata` and the `BadRequest`
/// field paths. The status message and the violations' descriptions are not here, so no
/// decision can depend on them; [`describe`] shows them to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The gRPC status code.
    pub code: tonic::Code,
    /// The reason, when the status is a well-formed OMPP error whose reason this client knows;
    /// `None` for an unknown reason (a later version's, OMPP-VER-005), a status without
    /// `ErrorInfo`, and one whose code is not the catalogue's for its reason: such a failure
    /// is decided by its code alone (OMPP-ERR-007).
    pub reason: Option<pb::ErrorReason>,
    /// `ErrorInfo.metadata` (empty without a known reason).
    pub metadata: BTreeMap<String, String>,
    /// The `BadRequest` field paths.
    pub fields: Vec<String>,
}

impl Failure {
    /// Reads a failed status; never fails, whatever the status carries.
    pub fn of(status: &tonic::Status) -> Self {
        match ProtocolError::from_status(status) {
            Ok(error) => Self {
                code: status.code(),
                reason: Some(error.reason),
                metadata: error.metadata,
                fields: error
                    .field_violations
                    .into_iter()
                    .map(|v| v.field)
                    .collect(),
            },
            Err(_) => Self {
                code: status.code(),
                reason: None,
                metadata: BTreeMap::new(),
                fields: Vec::new(),
            },
        }
    }

    /// Whether the failure carries the known reason `reason`.
    pub fn is(&self, reason: pb::ErrorReason) -> bool {
        self.reason == Some(reason)
    }

    /// `ErrorInfo.metadata["attempts_left"]` as a number, if present and well formed.
    pub fn attempts_left(&self) -> Option<u32> {
        self.metadata.get("attempts_left")?.parse().ok()
    }

    /// What to do next: by the catalogue's retry class of a known reason, otherwise by the
    /// gRPC code alone (OMPP-ERR-007). A code that can mean "no answer" (`DEADLINE_EXCEEDED`,
    /// `UNAVAILABLE` without a known reason, `CANCELLED`, `UNKNOWN`, `INTERNAL`, ...) leaves the
    /// outcome unknown.
    pub fn next(&self) -> Next {
        match self.reason {
            Some(reason) => match ompp::error::catalogue::info(reason).retry {
                Retry::Never => Next::Stop,
                Retry::AfterCorrection => Next::Correct,
                Retry::AfterDelay => Next::RetryLater,
                Retry::QueryFirst => Next::LearnState,
                // A retry class added later: the safe choice for a request without key.
                _ => Next::LearnState,
            },
            None => next_by_code(self.code),
        }
    }
}

/// [`Failure::next`] for a status decided by its code alone (OMPP-ERR-007).
fn next_by_code(code: tonic::Code) -> Next {
    use tonic::Code;
    match code {
        Code::InvalidArgument | Code::OutOfRange | Code::AlreadyExists | Code::Unauthenticated => {
            Next::Correct
        }
        Code::ResourceExhausted => Next::RetryLater,
        Code::PermissionDenied
        | Code::NotFound
        | Code::FailedPrecondition
        | Code::Unimplemented => Next::Stop,
        // A transport failure also shows as UNAVAILABLE or UNKNOWN: the request may have been
        // applied.
        Code::Ok
        | Code::Cancelled
        | Code::Unknown
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::Internal
        | Code::Unavailable
        | Code::DataLoss => Next::LearnState,
    }
}

/// Whether a `PaymentStatus` received is final; an unknown value (one added in a later
/// version) is not (OMPP-VER-005): the client keeps watching or asks again.
pub fn payment_final(value: i32) -> bool {
    matches!(
        pb::PaymentStatus::try_from(value),
        Ok(pb::PaymentStatus::Settled
            | pb::PaymentStatus::Declined
            | pb::PaymentStatus::Expired
            | pb::PaymentStatus::Cancelled
            | pb::PaymentStatus::Failed)
    )
}

/// Whether a `CheckoutStep` received is final (`DONE`); an unknown value is not
/// (OMPP-VER-005).
pub fn checkout_done(value: i32) -> bool {
    pb::CheckoutStep::try_from(value) == Ok(pb::CheckoutStep::Done)
}

/// A receipt, as a terminal prints it.
pub fn receipt(r: &pb::Receipt) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "---------------- RECEIPT ----------------");
    let _ = writeln!(out, "{}  ({})", r.merchant_name, r.merchant_id);
    let _ = writeln!(out, "receipt   {}", r.receipt_id);
    let _ = writeln!(out, "payment   {}", r.payment_id);
    if !r.merchant_reference.is_empty() {
        let _ = writeln!(out, "reference {}", r.merchant_reference);
    }
    for item in &r.items {
        let _ = writeln!(
            out,
            "  {} x {} {}",
            item.quantity, item.product_code, item.description
        );
    }
    let _ = writeln!(out, "TOTAL     {}", money(r.amount.as_ref()));
    let _ = writeln!(out, "customer  {}", r.customer_id);
    if let Some(t) = &r.settled_at {
        let _ = writeln!(out, "settled   {}", timestamp(t));
    }
    let _ = writeln!(out, "transfer  {}", r.transfer_id);
    let _ = write!(out, "-----------------------------------------");
    out
}

/// A timestamp as RFC 3339 UTC, e.g. `2026-11-24T21:34:06Z`.
pub fn timestamp(t: &prost_types::Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .and_then(|dt| {
            dt.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{} (unix seconds)", t.seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ompp::proto::v1::ErrorReason as R;
    use prost::Message as _;
    use tonic::Code;
    use tonic_types::{ErrorDetails, StatusExt as _};

    /// A status with an `ErrorInfo` of domain `ompp.v1` carrying `reason` as its wire name,
    /// whatever it is, and `BadRequest` violations.
    fn status(
        code: Code,
        reason: &str,
        metadata: &[(&str, &str)],
        violations: &[(&str, &str)],
        message: &str,
    ) -> tonic::Status {
        let mut details = ErrorDetails::new();
        details.set_error_info(
            reason,
            "ompp.v1",
            metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
        for (field, description) in violations {
            details.add_bad_request_violation(*field, *description);
        }
        tonic::Status::with_error_details(code, message, details)
    }

    /// OMPP-ERR-003: two statuses that differ only in their message text and in their
    /// violations' descriptions lead to the same decision: the [`Failure`] a client decides on
    /// is the same, and the text cannot steer it.
    #[test]
    fn decisions_never_depend_on_message_text_or_violation_descriptions() {
        let plain = status(
            Code::InvalidArgument,
            "INVALID_FIELD",
            &[],
            &[("amount.currency", "not an ISO 4217 code")],
            "request rejected",
        );
        let misleading = status(
            Code::InvalidArgument,
            "INVALID_FIELD",
            &[],
            &[(
                "amount.currency",
                "CREDENTIALS_REJECTED: retry with another password",
            )],
            "INTERNAL error, outcome unknown: TRIES_EXCEEDED, attempts_left=0",
        );
        assert_eq!(Failure::of(&plain), Failure::of(&misleading));
        let failure = Failure::of(&misleading);
        assert_eq!(failure.reason, Some(R::InvalidField));
        assert_eq!(failure.fields, vec!["amount.currency".to_owned()]);
        assert_eq!(failure.next(), Next::Correct);

        // A status without ErrorInfo whose text names a reason is still decided by its code.
        let text_only = tonic::Status::new(
            Code::PermissionDenied,
            "CREDENTIALS_REJECTED (attempts_left=2): wrong password",
        );
        let failure = Failure::of(&text_only);
        assert_eq!(failure.reason, None);
        assert!(!failure.is(R::CredentialsRejected));
        assert_eq!(failure.attempts_left(), None);
        assert_eq!(failure.next(), Next::Stop);

        // Reason and metadata do steer it.
        let rejected = ProtocolError::new(R::CredentialsRejected, "INTERNAL")
            .with_metadata("attempts_left", 2)
            .to_status();
        let failure = Failure::of(&rejected);
        assert!(failure.is(R::CredentialsRejected));
        assert_eq!(failure.attempts_left(), Some(2));
        assert_eq!(failure.next(), Next::Correct);
    }

    /// OMPP-ERR-007: an unknown `ErrorInfo.reason`, a status without `ErrorInfo`, one of
    /// another domain and one whose code is not its reason's are decided by the code alone,
    /// the same way for every code; a known reason by the catalogue.
    #[test]
    fn unknown_reasons_and_statuses_without_error_info_are_decided_by_code_alone() {
        let table = [
            (Code::InvalidArgument, Next::Correct),
            (Code::AlreadyExists, Next::Correct),
            (Code::Unauthenticated, Next::Correct),
            (Code::ResourceExhausted, Next::RetryLater),
            (Code::PermissionDenied, Next::Stop),
            (Code::NotFound, Next::Stop),
            (Code::FailedPrecondition, Next::Stop),
            (Code::Unimplemented, Next::Stop),
            (Code::Internal, Next::LearnState),
            (Code::DeadlineExceeded, Next::LearnState),
            (Code::Unavailable, Next::LearnState),
            (Code::Unknown, Next::LearnState),
            (Code::Cancelled, Next::LearnState),
        ];
        for (code, next) in table {
            let variants = [
                (
                    "unknown reason",
                    status(code, "REASON_OF_REVISION_9", &[], &[], ""),
                ),
                ("no ErrorInfo", tonic::Status::new(code, "")),
                ("other domain", {
                    let mut details = ErrorDetails::new();
                    details.set_error_info(
                        "INSUFFICIENT_FUNDS",
                        "example.com",
                        std::collections::HashMap::new(),
                    );
                    tonic::Status::with_error_details(code, "", details)
                }),
                (
                    "empty reason",
                    status(code, "", &[("attempts_left", "3")], &[], ""),
                ),
            ];
            for (what, status) in variants {
                let failure = Failure::of(&status);
                assert_eq!(failure.reason, None, "{what}, {code:?}");
                assert_eq!(failure.attempts_left(), None, "{what}, {code:?}");
                assert_eq!(failure.next(), next, "{what}, {code:?}");
            }
        }
        // A known reason with the wrong code is not trusted either: INTERNAL decides.
        let wrong_code = status(Code::Internal, "CREDENTIALS_REJECTED", &[], &[], "");
        let failure = Failure::of(&wrong_code);
        assert_eq!(failure.reason, None);
        assert_eq!(failure.next(), Next::LearnState);
        // Known reasons follow the catalogue's retry class.
        for (reason, next) in [
            (R::CredentialsRejected, Next::Correct),
            (R::AuthorizationCodeIncorrect, Next::Correct),
            (R::TriesExceeded, Next::Stop),
            (R::ServiceUnavailable, Next::RetryLater),
            (R::RateLimited, Next::RetryLater),
            (R::Internal, Next::LearnState),
            (R::UpstreamTimeout, Next::LearnState),
        ] {
            let failure = Failure::of(&ProtocolError::new(reason, "").to_status());
            assert_eq!(failure.reason, Some(reason));
            assert_eq!(failure.next(), next, "{reason:?}");
        }
    }

    /// OMPP-VER-005 (client half): a response carrying an enum value this client does not know
    /// decodes (the call does not fail), the unknown `PaymentStatus` and `CheckoutStep` are not
    /// final, and an unknown reason in a response field is shown, not fatal. The sender half
    /// holds by construction: the reference clients put only values of their own generated
    /// enums into requests, so never one added after the revision they were built from.
    #[test]
    fn unknown_enum_values_in_responses_decode_and_are_not_final() {
        let response = pb::ConfirmPaymentResponse {
            status: 99,
            receipt: None,
        };
        let decoded = pb::ConfirmPaymentResponse::decode(response.encode_to_vec().as_slice()).ok();
        assert_eq!(decoded.as_ref().map(|r| r.status), Some(99));
        assert!(!payment_final(99));
        assert_eq!(super::status(99), "UNKNOWN");

        let view = pb::CheckoutView {
            step: 42,
            status: 77,
            failure_reason: 1234,
            ..Default::default()
        };
        let decoded = pb::CheckoutView::decode(view.encode_to_vec().as_slice()).ok();
        assert_eq!(decoded.as_ref().map(|v| (v.step, v.status)), Some((42, 77)));
        assert!(!checkout_done(42));
        assert_eq!(reason(1234), "UNKNOWN");

        // The known final values are final, the others not.
        for value in 0..=8 {
            let known_final = (4..=8).contains(&value);
            assert_eq!(payment_final(value), known_final, "{value}");
        }
        assert!(checkout_done(pb::CheckoutStep::Done as i32));
        assert!(!checkout_done(pb::CheckoutStep::Processing as i32));
    }
}
