//! Validation tables for `SmsCenterService` and `HandsetService` requests.

mod support;

use std::time::Duration;

use ompp::proto::v1 as pb;
use ompp::requests::Request;
use ompp::requests::sms::*;
use support::{Case, run};

/// A handset token as the SMS center issues it: 43 characters of URL-safe base64.
const HANDSET_TOKEN: &str = "Hs_8kP2-qW4eR6tY8uI0oP1aS3dF5gH7jK9lZxCvBnM";

fn secs(seconds: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos: 0 })
}

/// Parses a message that must be accepted (a macro, so that the panic is in the test).
macro_rules! accepts {
    ($request:ty, $message:expr) => {
        <$request>::parse($message).unwrap_or_else(|e| panic!("valid message rejected: {e:?}"))
    };
}

/// The field paths reported for `message`; none if it is accepted.
fn fields<R: Request>(message: &R::Proto) -> Vec<String> {
    match R::parse(message) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.iter().map(|e| e.field.to_string()).collect(),
    }
}

fn submit_message() -> pb::SubmitMessageRequest {
    pb::SubmitMessageRequest {
        message_id: "sms-20260101-0001".into(),
        recipient: "+4915112345678".into(),
        sender: "OMPP Pay".into(),
        text: "OMPP code 048213: pay 12.50 EUR to Café Aurora. Valid 5 min.".into(),
        validity: secs(600),
    }
}

#[test]
fn submit_message_table() {
    let cases: &[Case<pb::SubmitMessageRequest>] = &[
        ("message_id", "message id missing", |p| p.message_id.clear()),
        ("message_id", "message id with a space", |p| {
            p.message_id = "sms 1".into()
        }),
        ("message_id", "message id of 65 characters", |p| {
            p.message_id = "s".repeat(65)
        }),
        ("recipient", "recipient missing", |p| p.recipient.clear()),
        ("recipient", "recipient without '+'", |p| {
            p.recipient = "4915112345678".into()
        }),
        ("recipient", "recipient with first digit 0", |p| {
            p.recipient = "+015112345678".into()
        }),
        ("recipient", "recipient of 7 digits", |p| {
            p.recipient = "+4915112".into()
        }),
        ("recipient", "recipient of 16 digits", |p| {
            p.recipient = "+4915112345678901".into()
        }),
        ("recipient", "recipient with brackets", |p| {
            p.recipient = "+49(151)12345678".into()
        }),
        ("sender", "sender missing", |p| p.sender.clear()),
        ("sender", "sender of 12 characters", |p| {
            p.sender = "OMPPPayments".into()
        }),
        ("sender", "sender with a dash", |p| {
            p.sender = "OMPP-Pay".into()
        }),
        ("sender", "sender with a '+' (phone number form)", |p| {
            p.sender = "+4930123".into()
        }),
        ("sender", "sender with a non-ASCII letter", |p| {
            p.sender = "Café".into()
        }),
        ("sender", "sender with a tab", |p| {
            p.sender = "OMPP\tPay".into()
        }),
        ("text", "text missing", |p| p.text.clear()),
        ("text", "text of 460 characters", |p| {
            p.text = "t".repeat(460)
        }),
        ("text", "text with a NUL", |p| {
            p.text = "code\u{0}048213".into()
        }),
        ("text", "text with an escape character", |p| {
            p.text = "\u{1b}[31mcode".into()
        }),
        ("validity.seconds", "validity zero", |p| {
            p.validity = secs(0)
        }),
        ("validity.seconds", "validity negative", |p| {
            p.validity = secs(-300)
        }),
        ("validity.seconds", "validity of 3 days + 1 s", |p| {
            p.validity = secs(3 * 86_400 + 1)
        }),
        ("validity.seconds", "validity i64::MAX", |p| {
            p.validity = secs(i64::MAX)
        }),
        ("validity.seconds", "validity of half a second", |p| {
            p.validity = Some(prost_types::Duration {
                seconds: 0,
                nanos: 500_000_000,
            })
        }),
        ("validity.nanos", "validity with negative nanos", |p| {
            p.validity = Some(prost_types::Duration {
                seconds: 300,
                nanos: -1,
            })
        }),
        ("validity.nanos", "validity with nanos of one second", |p| {
            p.validity = Some(prost_types::Duration {
                seconds: 300,
                nanos: 1_000_000_000,
            })
        }),
    ];
    insta::assert_yaml_snapshot!(run::<SubmitMessage>(&submit_message(), cases));
}

#[test]
fn submit_message_defaults_validity_and_accepts_boundaries() {
    // OMPP-SMS-001: an absent validity means 300 s, sent back explicitly.
    let absent = pb::SubmitMessageRequest {
        validity: None,
        ..submit_message()
    };
    let parsed = accepts!(SubmitMessage, &absent);
    assert_eq!(parsed.validity, Duration::from_secs(300));
    assert_eq!(
        parsed.validity.as_secs(),
        ompp::limits::SMS_VALIDITY.default_secs
    );
    assert_eq!(parsed.to_proto().validity, secs(300));

    for (sender, text, validity) in [
        ("1", "t".to_owned(), 1),
        ("OMPP Pay 24", "€".repeat(459), 3 * 86_400),
        ("12345", "line one, line two".to_owned(), 300),
    ] {
        let message = pb::SubmitMessageRequest {
            sender: sender.into(),
            text,
            validity: secs(validity),
            ..submit_message()
        };
        assert_eq!(accepts!(SubmitMessage, &message).to_proto(), message);
    }
}

#[test]
fn get_delivery_report_table() {
    let valid = pb::GetDeliveryReportRequest {
        message_id: "sms-20260101-0001".into(),
    };
    let cases: &[Case<pb::GetDeliveryReportRequest>] = &[
        ("message_id", "message id missing", |p| p.message_id.clear()),
        ("message_id", "message id starting with a dash", |p| {
            p.message_id = "-sms".into()
        }),
        ("message_id", "message id of 65 characters", |p| {
            p.message_id = "s".repeat(65)
        }),
    ];
    insta::assert_yaml_snapshot!(run::<GetDeliveryReport>(&valid, cases));
}

#[test]
fn register_handset_table() {
    let valid = pb::RegisterHandsetRequest {
        phone_number: "+4915112345678".into(),
    };
    let cases: &[Case<pb::RegisterHandsetRequest>] = &[
        ("phone_number", "phone number missing", |p| {
            p.phone_number.clear()
        }),
        ("phone_number", "phone number without '+'", |p| {
            p.phone_number = "4915112345678".into()
        }),
        ("phone_number", "phone number with first digit 0", |p| {
            p.phone_number = "+04915112345".into()
        }),
        ("phone_number", "phone number of 7 digits", |p| {
            p.phone_number = "+4915112".into()
        }),
        ("phone_number", "phone number of 16 digits", |p| {
            p.phone_number = "+4915112345678901".into()
        }),
        ("phone_number", "phone number with a space", |p| {
            p.phone_number = "+49 15112345678".into()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<RegisterHandset>(&valid, cases));
}

fn receive_messages() -> pb::ReceiveMessagesRequest {
    pb::ReceiveMessagesRequest {
        handset_id: "hs-1".into(),
        handset_token: HANDSET_TOKEN.into(),
    }
}

#[test]
fn receive_messages_table() {
    let cases: &[Case<pb::ReceiveMessagesRequest>] = &[
        ("handset_id", "handset id missing", |p| p.handset_id.clear()),
        ("handset_id", "handset id with a slash", |p| {
            p.handset_id = "hs/1".into()
        }),
        ("handset_id", "handset id of 65 characters", |p| {
            p.handset_id = "h".repeat(65)
        }),
        ("handset_token", "handset token missing", |p| {
            p.handset_token.clear()
        }),
        ("handset_token", "handset token of 31 characters", |p| {
            p.handset_token = "t".repeat(31)
        }),
        ("handset_token", "handset token of 129 characters", |p| {
            p.handset_token = "t".repeat(129)
        }),
        (
            "handset_token",
            "handset token with standard base64 '+'",
            |p| p.handset_token = format!("{HANDSET_TOKEN}+"),
        ),
        ("handset_token", "handset token with '=' padding", |p| {
            p.handset_token = format!("{HANDSET_TOKEN}=")
        }),
        ("handset_token", "handset token with a dot", |p| {
            p.handset_token = format!("{HANDSET_TOKEN}.sig")
        }),
    ];
    insta::assert_yaml_snapshot!(run::<ReceiveMessages>(&receive_messages(), cases));

    for handset_token in ["T".repeat(32), "-_".repeat(64)] {
        let message = pb::ReceiveMessagesRequest {
            handset_token,
            ..receive_messages()
        };
        assert_eq!(accepts!(ReceiveMessages, &message).to_proto(), message);
    }
}

#[test]
fn acknowledge_message_table() {
    let valid = pb::AcknowledgeMessageRequest {
        handset_id: "hs-1".into(),
        handset_token: HANDSET_TOKEN.into(),
        message_id: "sms-20260101-0001".into(),
    };
    let cases: &[Case<pb::AcknowledgeMessageRequest>] = &[
        ("handset_id", "handset id missing", |p| p.handset_id.clear()),
        ("handset_id", "handset id non-ASCII", |p| {
            p.handset_id = "hś-1".into()
        }),
        ("handset_token", "handset token missing", |p| {
            p.handset_token.clear()
        }),
        ("handset_token", "handset token of 31 characters", |p| {
            p.handset_token = "t".repeat(31)
        }),
        ("handset_token", "handset token of 129 characters", |p| {
            p.handset_token = "t".repeat(129)
        }),
        ("handset_token", "handset token with '/'", |p| {
            p.handset_token = format!("{HANDSET_TOKEN}/")
        }),
        ("message_id", "message id missing", |p| p.message_id.clear()),
        ("message_id", "message id with a space", |p| {
            p.message_id = "sms 1".into()
        }),
        ("message_id", "message id of 65 characters", |p| {
            p.message_id = "s".repeat(65)
        }),
    ];
    insta::assert_yaml_snapshot!(run::<AcknowledgeMessage>(&valid, cases));
}

#[test]
fn empty_messages_report_every_required_field() {
    // Validity is optional (default 300 s), so it is not reported.
    assert_eq!(
        fields::<SubmitMessage>(&pb::SubmitMessageRequest::default()),
        ["message_id", "recipient", "sender", "text"]
    );
    assert_eq!(
        fields::<GetDeliveryReport>(&pb::GetDeliveryReportRequest::default()),
        ["message_id"]
    );
    assert_eq!(
        fields::<RegisterHandset>(&pb::RegisterHandsetRequest::default()),
        ["phone_number"]
    );
    assert_eq!(
        fields::<ReceiveMessages>(&pb::ReceiveMessagesRequest::default()),
        ["handset_id", "handset_token"]
    );
    assert_eq!(
        fields::<AcknowledgeMessage>(&pb::AcknowledgeMessageRequest::default()),
        ["handset_id", "handset_token", "message_id"]
    );
}
