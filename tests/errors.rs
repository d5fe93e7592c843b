//! The error catalogue and the status mapping (OMPP-ERR-001, OMPP-ERR-002, OMPP-MSG-001).

use ompp::error::{CATALOGUE, NotAnOmppStatus, ProtocolError, info};
use ompp::proto::v1::{self as pb, ErrorReason};
use ompp::requests::Request;
use ompp::requests::merchant::CreatePayment;
use tonic_types::{ErrorDetails, StatusExt};

#[test]
fn catalogue_has_every_reason_once_in_enum_order() {
    let mut expected = Vec::new();
    for n in 1.. {
        match ErrorReason::try_from(n) {
            Ok(reason) => expected.push(reason),
            Err(_) => break,
        }
    }
    let listed: Vec<ErrorReason> = CATALOGUE.iter().map(|e| e.reason).collect();
    assert_eq!(listed, expected);
    assert!(!listed.contains(&ErrorReason::Unspecified));
}

#[test]
fn wire_names_are_upper_snake_case_without_prefix() {
    for entry in CATALOGUE {
        let name = entry.wire_name();
        assert!(!name.starts_with("ERROR_REASON_"), "{name}");
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
            "{name}"
        );
    }
    assert_eq!(
        info(ErrorReason::InsufficientFunds).wire_name(),
        "INSUFFICIENT_FUNDS"
    );
}

#[test]
fn design_brief_mappings_hold() {
    let row = |r| {
        let e = info(r);
        (e.code, e.iso8583, e.iso20022)
    };
    use tonic::Code;
    assert_eq!(
        row(ErrorReason::InsufficientFunds),
        (Code::FailedPrecondition, Some("51"), Some("AM04"))
    );
    assert_eq!(
        row(ErrorReason::CredentialsRejected),
        (Code::PermissionDenied, Some("55"), None)
    );
    assert_eq!(
        row(ErrorReason::TriesExceeded),
        (Code::FailedPrecondition, Some("75"), None)
    );
    assert_eq!(
        row(ErrorReason::IdempotencyConflict),
        (Code::AlreadyExists, Some("94"), Some("AM05"))
    );
    assert_eq!(
        row(ErrorReason::UpstreamTimeout),
        (Code::DeadlineExceeded, Some("68"), Some("AB05"))
    );
    assert_eq!(row(ErrorReason::DeclinedByCustomer).2, Some("MS02"));
    // UNSPECIFIED is never sent; asking for it yields INTERNAL.
    assert_eq!(info(ErrorReason::Unspecified).reason, ErrorReason::Internal);
}

#[test]
fn every_reason_round_trips_through_a_status() {
    for entry in CATALOGUE {
        let error =
            ProtocolError::new(entry.reason, "for people").with_metadata("attempts_left", 2);
        let status = error.to_status();
        assert_eq!(status.code(), entry.code);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            (entry.wire_name(), "ompp.v1")
        );
        assert_eq!(ProtocolError::from_status(&status).unwrap(), error);
    }
}

#[test]
fn validation_errors_become_invalid_field_with_bad_request() {
    let mut request = pb::CreatePaymentRequest {
        merchant_id: "M-1".into(),
        customer_id: "C 1".into(),
        amount: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: 0,
        }),
        idempotency_key: "k".into(),
        ..Default::default()
    };
    request.items.push(pb::LineItem::default());
    let status: tonic::Status = CreatePayment::parse(&request).unwrap_err().into();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let error = ProtocolError::from_status(&status).unwrap();
    assert_eq!(error.reason, ErrorReason::InvalidField);
    assert_eq!(
        error.metadata.get("field").map(String::as_str),
        Some("customer_id")
    );
    let fields: Vec<&str> = error
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "customer_id",
            "amount.minor_units",
            "items[0].product_code",
            "items[0].quantity"
        ]
    );
}

#[test]
fn foreign_and_inconsistent_statuses_are_told_apart() {
    let plain = tonic::Status::not_found("no details");
    assert_eq!(
        ProtocolError::from_status(&plain),
        Err(NotAnOmppStatus::NoErrorInfo)
    );

    let mut details = ErrorDetails::new();
    details.set_error_info("NOT_FOUND", "example.com", std::collections::HashMap::new());
    let foreign = tonic::Status::with_error_details(tonic::Code::NotFound, "x", details);
    assert_eq!(
        ProtocolError::from_status(&foreign),
        Err(NotAnOmppStatus::WrongDomain("example.com".into()))
    );

    let mut details = ErrorDetails::new();
    details.set_error_info(
        "NO_SUCH_REASON",
        "ompp.v1",
        std::collections::HashMap::new(),
    );
    let unknown = tonic::Status::with_error_details(tonic::Code::NotFound, "x", details);
    assert_eq!(
        ProtocolError::from_status(&unknown),
        Err(NotAnOmppStatus::UnknownReason("NO_SUCH_REASON".into()))
    );

    // OMPP-ERR-002: the right reason with the wrong code is not conformant.
    let mut details = ErrorDetails::new();
    details.set_error_info(
        "INSUFFICIENT_FUNDS",
        "ompp.v1",
        std::collections::HashMap::new(),
    );
    let wrong_code = tonic::Status::with_error_details(tonic::Code::Internal, "x", details);
    assert_eq!(
        ProtocolError::from_status(&wrong_code),
        Err(NotAnOmppStatus::WrongCode {
            expected: tonic::Code::FailedPrecondition,
            actual: tonic::Code::Internal,
        })
    );
}

/// OMPP-MSG-010: a request over 64 KiB is refused as a whole, with its own reason and code,
/// before any field is looked at.
#[test]
fn oversized_requests_are_message_too_large() {
    let big = pb::CreatePaymentRequest {
        merchant_reference: "r".repeat(ompp::limits::MAX_REQUEST_BYTES),
        ..Default::default()
    };
    let status: tonic::Status = CreatePayment::parse(&big).unwrap_err().into();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let error = ProtocolError::from_status(&status).unwrap();
    assert_eq!(error.reason, ErrorReason::MessageTooLarge);
    assert!(error.field_violations.is_empty());
    // Just under the limit is judged field by field as usual.
    let under = pb::CreatePaymentRequest {
        merchant_reference: "r".repeat(ompp::limits::MAX_REQUEST_BYTES - 16),
        ..Default::default()
    };
    let status: tonic::Status = CreatePayment::parse(&under).unwrap_err().into();
    assert_eq!(
        ProtocolError::from_status(&status).unwrap().reason,
        ErrorReason::InvalidField
    );
}
